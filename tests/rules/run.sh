#!/bin/sh
# Rule unit tests: every tests/rules/*.yaml through `zhilictl test` (one
# PASS or FAIL line per test), then the runner's own failure modes on
# tests/rules/bad/.  pending-*.yaml hold tests of known engine bugs and
# are skipped until the bug is fixed.
#   sh tests/rules/run.sh BUILD_DIR      (build or build/asan)
#
# A case of bad/ is NAME.yaml with NAME.want: the first line of NAME.want
# is "exit N", the status zhilictl test must end with; every other line is
# text that its output (stdout and stderr) must contain, or, after "! ",
# must not contain.  Paths in the output are as seen from the checkout.
set -u
v=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
case $v in
/*)	zhilictl=$v/zhilictl ;;
*)	zhilictl=$root/$v/zhilictl ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The corpus: zhilictl's own PASS and FAIL lines, with their diffs.
for f in tests/rules/*.yaml; do
	case $(basename "$f") in
	pending-*)
		echo "SKIP $f (pending: a known engine bug)"
		continue ;;
	esac
	"$zhilictl" test "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	grep -v '^[0-9]* passed, [0-9]* failed$' "$tmp/out"
	if [ $rc -eq 1 ] && grep -q '^FAIL ' "$tmp/out"; then
		continue
	fi
	if [ $rc -ne 0 ] || [ -s "$tmp/err" ]; then
		echo "FAIL $f: zhilictl test exited $rc"
		sed 's/^/    /' "$tmp/err"
	fi
done

# check NAME RC OUTPUT-FILE WANT-LINES...: the verdict of one runner case.
check() {
	name=$1 want_rc=$2 rc=$3 out=$4
	shift 4
	why=
	[ "$rc" -eq "$want_rc" ] || why="exit $rc, want $want_rc"
	for w in "$@"; do
		case $w in
		'! '*)
			if grep -qF -- "${w#! }" "$out"; then
				why="${why:+$why; }unexpected: ${w#! }"
			fi ;;
		*)
			if ! grep -qF -- "$w" "$out"; then
				why="${why:+$why; }missing: $w"
			fi ;;
		esac
	done
	if [ -z "$why" ]; then
		echo "PASS rules-runner.$name"
	else
		echo "FAIL rules-runner.$name: $why"
		sed 's/^/    | /' "$out"
	fi
}

# The cases of bad/, each with its .want.
for f in tests/rules/bad/*.yaml; do
	name=$(basename "$f" .yaml)
	want=tests/rules/bad/$name.want
	if [ ! -f "$want" ]; then
		echo "FAIL rules-runner.$name: no $want"
		continue
	fi
	"$zhilictl" test "$f" >"$tmp/out" 2>&1
	rc=$?
	want_rc=$(sed -n '1s/^exit //p' "$want")
	set --
	while IFS= read -r line; do
		set -- "$@" "$line"
	done <<WANT
$(sed 1d "$want")
WANT
	# whatever the case, what the runner prints is text
	if ! iconv -f UTF-8 -t UTF-8 "$tmp/out" >/dev/null 2>&1; then
		echo "FAIL rules-runner.$name: output is not valid UTF-8"
		continue
	fi
	check "$name" "${want_rc:-255}" "$rc" "$tmp/out" "$@"
done

# Arguments and files that are not there.
"$zhilictl" test >"$tmp/out" 2>&1
check no-arguments 2 $? "$tmp/out" "usage: zhilictl test FILE..."
"$zhilictl" test --frobnicate tests/rules/four_color.yaml >"$tmp/out" 2>&1
check unknown-option 2 $? "$tmp/out" "unknown option '--frobnicate'"
"$zhilictl" test tests/rules/bad/no-such-file.yaml >"$tmp/out" 2>&1
check no-such-file 2 $? "$tmp/out" \
    "tests/rules/bad/no-such-file.yaml:1:1: error: cannot open: No such file or directory"
# A broken file among good ones: the good ones still run, the status is 2.
"$zhilictl" test tests/rules/work_order_utc.yaml \
    tests/rules/bad/malformed.yaml >"$tmp/out" 2>&1
check good-and-broken 2 $? "$tmp/out" \
    "PASS tests/rules/work_order_utc.yaml: created at 23:59 UTC" \
    "tests/rules/bad/malformed.yaml:" "2 passed, 0 failed"
# Two good files: every test of both, status 0.
"$zhilictl" test tests/rules/work_order_utc.yaml \
    tests/rules/work_order_utc.yaml >"$tmp/out" 2>&1
check two-files 0 $? "$tmp/out" "4 passed, 0 failed"
