#!/bin/sh
# Broken rule files and configs, each checked through `zhilid -t` for its
# exact error lines (tmux conf-syntax.sh, Falco's rule-loader tests).
#   NAME.yaml + NAME.err   a rule file and the errors it must give
#   NAME.conf + NAME.err   a config file (may name rule files beside it)
# Paths in the output are shown relative to the case folder.
set -u
zhilid=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here"/*.yaml "$here"/*.conf "$tmp"/ 2>/dev/null
for err in "$here"/*.err; do
	name=$(basename "$err" .err)
	if [ -f "$here/$name.conf" ]; then
		conf=$tmp/$name.conf
	else
		conf=$tmp/$name.test.conf
		printf 'rules: [%s.yaml]\ntimezone: Asia/Shanghai\n' "$name" > "$conf"
	fi
	out=$("$zhilid" -t -c "$conf" 2>&1)
	rc=$?
	got=$(printf '%s\n' "$out" | sed "s|$tmp/||g")
	want=$(cat "$err")
	if [ $rc -ne 1 ]; then
		echo "FAIL rules-bad.$name: exit $rc, want 1: $got"
	elif [ "$got" != "$want" ]; then
		echo "FAIL rules-bad.$name: got:"
		printf '%s\n' "$got" | sed 's/^/    /'
		echo "    want:"
		printf '%s\n' "$want" | sed 's/^/    /'
	else
		echo "PASS rules-bad.$name"
	fi
done
