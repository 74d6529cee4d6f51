#!/bin/sh
# The in-process comparison counted in instructions, not seconds: callgrind
# gives the same counts run after run, where a shared virtual machine's
# clock does not.  Prints instructions per event for the engine (decode and
# evaluate) and for the cJSON reference, over the same generated lines.
#   sh tests/bench/instr.sh [N]      N lines (default 20000)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=$root/tests/bench
n=${1:-20000}
command -v valgrind >/dev/null 2>&1 ||
	{ echo "instr: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
for p in gen inproc; do
	[ -x "$bench/$p" ] || { echo "instr: $bench/$p not built: make bench" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bench/gen" "$n" > "$tmp/events"
(cd "$bench" && valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
	./inproc "$tmp/events" > /dev/null 2> "$tmp/log")
# inproc makes three passes of each over the n lines
callgrind_annotate --inclusive=yes "$tmp/cg" 2>/dev/null | awk -v n="$n" '
	/decode\.c:decode_line \[/ { gsub(",", "", $1); eng += $1 }
	/engine\.c:engine_apply \[/ { gsub(",", "", $1); eng += $1 }
	/engine\.c:engine_submit \[/ { gsub(",", "", $1); eng += $1 }
	/ref\.c:ref_run_counts \[/ { gsub(",", "", $1); ref = $1 }
	END {
		printf "instr_engine_per_event %.0f\n", eng / (3 * n)
		printf "instr_reference_per_event %.0f\n", ref / (3 * n)
		if (eng > 0) printf "instr_reference_over_engine %.2f\n", ref / eng
	}'
