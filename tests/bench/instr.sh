#!/bin/sh
# The benchmarks counted in instructions, not seconds: callgrind
# gives the same counts run after run, where a shared virtual machine's
# clock does not.  Prints instructions per event for the engine (decode and
# evaluate) and for the cJSON reference, over the same generated lines;
# then the same lines through the daemon's socket, per thread (below).
#   sh tests/bench/instr.sh [N]      N lines (default 20000)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20000}
command -v valgrind >/dev/null 2>&1 ||
	{ echo "instr: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
. "$root/tests/bench/lib.sh"
bench_need gen inproc load
"$bench/gen" "$n" > "$tmp/events"
(cd "$bench" && valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
	./inproc "$tmp/events" > /dev/null 2> "$tmp/log")
# inproc makes five passes of each over the n lines (PASSES in inproc.c)
callgrind_annotate --inclusive=yes "$tmp/cg" 2>/dev/null | awk -v n="$n" '
	/decode\.c:decode_line \[/ { gsub(",", "", $1); eng += $1 }
	/engine\.c:engine_apply \[/ { gsub(",", "", $1); eng += $1 }
	/engine\.c:engine_submit \[/ { gsub(",", "", $1); eng += $1 }
	/ref\.c:ref_run_counts \[/ { gsub(",", "", $1); ref = $1 }
	END {
		printf "instr_engine_per_event %.0f\n", eng / (5 * n)
		printf "instr_reference_per_event %.0f\n", ref / (5 * n)
		if (eng > 0) printf "instr_reference_over_engine %.2f\n", ref / eng
	}'

# The daemon itself, through its socket: N events pushed over 4
# connections into build/zhilid under callgrind (durability full), and the
# instructions per event of the loop thread (decode, evaluate, answer)
# and of the writer thread (SQLite).  The checkpointer and the syncer
# spend their time in the kernel, which callgrind does not count.
events=$tmp/events
bench_conf wall Asia/Shanghai "$root/rules/four_color.yaml" 1048576
bench_start valgrind --tool=callgrind --callgrind-out-file="$tmp/cgd"
"$bench/load" -s "$tmp/zhilid.sock" -c 4 -w 1000 "$events" >/dev/null
bench_stop
callgrind_annotate --inclusive=yes "$tmp/cgd" 2>/dev/null | awk -v n="$n" '
	/PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
	/\?\?\?:ev_run \[/ { gsub(",", "", $1); loop = $1 }
	/store\.c:writer_main \[/ { gsub(",", "", $1); writer = $1 }
	END {
		printf "instr_daemon_per_event %.0f\n", total / n
		printf "instr_daemon_loop_per_event %.0f\n", loop / n
		printf "instr_daemon_writer_per_event %.0f\n", writer / n
	}'
