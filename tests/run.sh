#!/bin/sh
# The whole test suite, as `make check` runs it. Every layer prints one line
# per test, "PASS name" or "FAIL name: why"; this script runs each layer on
# the release build and on the ASan+UBSan build, then counts the lines.
# It ends with "N passed, M failed" and exits non-zero if anything failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log=$(mktemp)
rec=$(mktemp -d)	# what the e2e tests send, for the schema checks
trap 'rm -rf "$log" "$rec"' EXIT

run_layer() {
	# $1: variant dir (build or build/asan)
	v=$1
	tag=$(basename "$v")
	for t in "$v"/test-*; do
		[ -x "$t" ] || continue
		"$t" 2>&1 | sed "s/^\(PASS\|FAIL\) /\1 [$tag] $(basename "$t")./"
	done
	[ -f tests/rules-bad/run.sh ] &&
		sh tests/rules-bad/run.sh "$v/zhilid" 2>&1 | sed "s/^\(PASS\|FAIL\) /\1 [$tag] /"
	[ -f tests/rules/run.sh ] &&
		sh tests/rules/run.sh "$v" 2>&1 | sed "s/^\(PASS\|FAIL\) /\1 [$tag] /"
	for s in tests/contrib/*.sh; do
		[ -f "$s" ] || continue
		sh "$s" "$v" 2>&1 | sed "s/^\(PASS\|FAIL\) /\1 [$tag] /"
	done
	[ -f tests/e2e/run.py ] &&
		env ${2:+ZHILID_RECORD_LINES=$2} \
		python3 tests/e2e/run.py --zhilid "$v/zhilid" --zhilictl "$v/zhilictl" 2>&1 |
		sed "s/^\(PASS\|FAIL\) /\1 [$tag] /"
	# the files marked BOTH_STORES again, on a throwaway PostgreSQL cluster
	[ -f tests/e2e/run.py ] &&
		python3 tests/e2e/run.py --store postgresql --zhilid "$v/zhilid" \
		    --zhilictl "$v/zhilictl" 2>&1 |
		sed "s/^\(PASS\|FAIL\) /\1 [$tag pg] /"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
{
	run_layer build "$rec/e2e"
	# every line the e2e tests got accepted, against schema/*.json
	[ -f tests/schema/run.py ] &&
		python3 tests/schema/run.py --zhilid build/zhilid --zhilictl build/zhilictl \
		    --records "$rec" 2>&1 |
		sed "s/^\(PASS\|FAIL\) /\1 [build] /"
	run_layer build/asan
	# each fuzz target for 30 s under ASan, after its regression inputs
	MAKEFLAGS= make -s fuzz-check
} 2>&1 | tee "$log"

passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
echo
grep '^FAIL ' "$log" | sed 's/^/  /'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
