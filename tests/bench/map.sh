#!/bin/sh
# The map benchmark (`make bench-map`):
#   1. awk writes BENCH_MAP_N household.upsert events (default 1,000,000)
#      over BENCH_MAP_COMMUNITIES communities (default 1,000) of 3 grids,
#      every tenth household of each colour but none, and 5,000 more of one
#      community, CBIG, in 12 grids;
#   2. build/zhilid starts on a scratch config (event clock, durability
#      full, the shipped four_color.yaml, grid.yaml and community.yaml,
#      the default max_output_bytes of 1 MiB);
#   3. load pushes them (events/s);
#   4. each timed end to end as a process, best of BENCH_MAP_RUNS (3):
#      `zhilictl ping` (the baseline: a process, a connection, one
#      answer), `zhilictl map` (the overview of every community) and
#      `zhilictl map --community CBIG` (5,000 households), with the pages'
#      sizes; then `zhilictl map --dir` (every page of the district).
# Environment: BENCH_MAP_N, BENCH_MAP_COMMUNITIES, BENCH_MAP_RUNS,
# BENCH_CONNS, BENCH_WINDOW, and those of lib.sh (BENCH_ZHILID,
# BENCH_TMPDIR, BENCH_KEEP); BENCH_ZHILICTL names the client.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_MAP_N:-1000000}
nc=${BENCH_MAP_COMMUNITIES:-1000}
runs=${BENCH_MAP_RUNS:-3}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
ctl=${BENCH_ZHILICTL:-$root/build/zhilictl}
bench_need load

events=$tmp/events.ndjson
echo "bench: generating $n households in $nc communities and 5,000 of CBIG" >&2
awk -v n="$n" -v nc="$nc" 'BEGIN {
	split("{\"key_person\":true} {\"dispute_open\":true} {\"age\":85,\"lives_alone\":true} {\"age\":72}", a, " ")
	for (i = 0; i < n + 5000; i++) {
		if (i < n) {
			c = sprintf("C%04d", i % nc)
			g = sprintf("G%04d-%d", i % nc, int(i / nc) % 3)
		} else {
			c = "CBIG"
			g = sprintf("GB%02d", (i - n) % 12)
		}
		k = i % 10
		printf "{\"type\":\"household.upsert\",\"id\":\"e%d\",\"ts\":%d,\"household\":\"H%07d\",\"community\":\"%s\",\"grid\":\"%s\",\"attrs\":%s}\n", i, 1767196800 + i, i, c, g, k < 4 ? a[k + 1] : "{\"age\":40}"
	}
}' >"$events"

r=$root/rules
bench_conf event Asia/Shanghai "$r/four_color.yaml, $r/grid.yaml, $r/community.yaml" 1048576
bench_start
bench_load

# best PROG...: the least wall time of $runs runs, in seconds
best() {
	b=
	i=0
	while [ $i -lt "$runs" ]; do
		t0=$(date +%s.%N)
		"$@" >/dev/null || bench_fail "$*"
		t1=$(date +%s.%N)
		t=$(echo "$t1 - $t0" | bc)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
		i=$((i + 1))
	done
	printf '%.3f' "$b"
}

sock="--socket $tmp/zhilid.sock"
ping=$(best "$ctl" $sock ping)
overview=$(best "$ctl" $sock map -o "$tmp/index.html")
community=$(best "$ctl" $sock map --community CBIG -o "$tmp/big.html")
t0=$(date +%s.%N)
"$ctl" $sock map --dir "$tmp/map" >/dev/null || bench_fail "map --dir"
t1=$(date +%s.%N)
hwm=$(bench_mem VmHWM)
bench_stop

l=$tmp/load.out
echo "map: $(kv "$l" events) household.upsert events in $nc communities and CBIG, durability $durability, event clock"
printf 'map_load_events_per_sec %s\n' "$(kv "$l" events_per_sec)"
printf 'map_ping_seconds %s\n' "$ping"
printf 'map_overview_seconds %s\n' "$overview"
printf 'map_overview_bytes %s\n' "$(wc -c <"$tmp/index.html")"
printf 'map_community_5000_seconds %s\n' "$community"
printf 'map_community_5000_bytes %s\n' "$(wc -c <"$tmp/big.html")"
printf 'map_dir_pages %s\n' "$(ls "$tmp/map" | wc -l)"
printf 'map_dir_seconds %s\n' "$(echo "$t1 - $t0" | bc)"
printf 'zhilid_peak_rss_mib %s\n' "$hwm"
