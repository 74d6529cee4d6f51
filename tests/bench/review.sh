#!/bin/sh
# The grid review benchmark (`make bench-review`):
#   1. gen writes BENCH_REVIEW_N household.upsert events (default
#      1,000,000: 500 communities of 12 grids, ~167 households each), and
#      20,000 more of one community, CBIG, in 50 grids of 400; then 2,000
#      branch.level events of one scope, JBIG, for 2026H1;
#   2. build/zhilid starts on a scratch config (clock event, durability
#      full, the shipped four_color.yaml, grid.yaml, community.yaml and
#      branch.yaml,
#      max_output_bytes 64 MiB for the one large answer);
#   3. load pushes them (events/s);
#   4. probe times, each on a connection of its own from the write to the
#      last byte of the answer: one household.upsert (the baseline: one
#      event through the same path), grid.review of CBIG, grid.review of
#      every grid, one branch.level (the branches' baseline) and
#      branch.review of JBIG's 2,000 levels;
#   5. the daemon restarts on the same database: the time until its
#      socket answers, and the counts' rebuild as its log reports it.
# Environment: BENCH_REVIEW_N, BENCH_SEED, BENCH_CONNS, BENCH_WINDOW, and
# those of lib.sh (BENCH_ZHILID, BENCH_TMPDIR, BENCH_KEEP).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_REVIEW_N:-1000000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load probe

events=$tmp/events.ndjson
echo "bench: generating $n households and 20,000 of CBIG (seed $seed)" >&2
"$bench/gen" "$n" "$seed" >"$events"
# after gen's ts (BASE_TS + i), one second apart
awk -v n="$n" 'BEGIN {
	for (i = 0; i < 20000; i++)
		printf "{\"type\":\"household.upsert\",\"id\":\"big-%d\",\"ts\":%d,\"household\":\"HB%05d\",\"community\":\"CBIG\",\"grid\":\"GB%02d\",\"attrs\":{\"age\":40}}\n", i, 1767196800 + n + 1 + i, i, i % 50
}' >>"$events"
# 2,000 levels of one scope, a quarter of them model, basic, advanced
awk -v t="$((1767196800 + n + 20001))" 'BEGIN {
	split("model basic advanced advanced", lv, " ")
	for (i = 0; i < 2000; i++)
		printf "{\"type\":\"branch.level\",\"id\":\"bl-%d\",\"ts\":%d,\"branch\":\"BR%04d\",\"community\":\"C%03d\",\"scope\":\"JBIG\",\"period\":\"2026H1\",\"level\":\"%s\"}\n", i, t + 1 + i, i, i % 500, lv[i % 4 + 1]
}' >>"$events"
last=$((1767196800 + n + 22001))

r=$root/rules
bench_conf event Asia/Shanghai "$r/four_color.yaml, $r/grid.yaml, $r/community.yaml, $r/branch.yaml" 67108864
bench_start
bench_load

probe() {	# probe NAME LINE
	bench_step "$1" "$tmp/$1.out" "$bench/probe" -s "$tmp/zhilid.sock" \
	    close "$2"
}
probe baseline "{\"type\":\"household.upsert\",\"id\":\"one\",\"ts\":$((last + 1)),\"household\":\"HX\",\"community\":\"CBIG\",\"grid\":\"GB00\",\"attrs\":{}}"
probe community "{\"type\":\"grid.review\",\"id\":\"rev-1\",\"ts\":$((last + 2)),\"community\":\"CBIG\"}"
probe all "{\"type\":\"grid.review\",\"id\":\"rev-2\",\"ts\":$((last + 3))}"
probe branch_baseline "{\"type\":\"branch.level\",\"id\":\"bl-one\",\"ts\":$((last + 4)),\"branch\":\"BRX\",\"community\":\"C000\",\"scope\":\"JONE\",\"period\":\"2026H1\",\"level\":\"model\"}"
probe branch "{\"type\":\"branch.review\",\"id\":\"rev-3\",\"ts\":$((last + 5)),\"scope\":\"JBIG\",\"period\":\"2026H1\"}"
hwm=$(bench_mem VmHWM)
bench_stop

t0=$(date +%s.%N)
bench_start
t1=$(date +%s.%N)
bench_stop
rebuild=$(sed -n 's/.*count grid.households: .* counted in \([0-9.]*\) s.*/\1/p' "$tmp/zhilid.log")

l=$tmp/load.out
echo "review: $(kv "$l" events) household.upsert and branch.level events, durability $durability, event clock"
printf 'review_load_events_per_sec %s\n' "$(kv "$l" events_per_sec)"
for p in baseline community all branch_baseline branch; do
	printf 'review_%s_seconds %s\n' "$p" "$(kv "$tmp/$p.out" seconds)"
	printf 'review_%s_alerts %s\n' "$p" "$(kv "$tmp/$p.out" alerts)"
	printf 'review_%s_answer_bytes %s\n' "$p" "$(kv "$tmp/$p.out" bytes)"
done
printf 'review_restart_seconds %s\n' "$(echo "$t1 - $t0" | bc)"
printf 'review_rebuild_grid_counts_seconds %s\n' "$rebuild"
printf 'zhilid_peak_rss_mib %s\n' "$hwm"
