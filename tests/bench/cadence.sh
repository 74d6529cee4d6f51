#!/bin/sh
# The cadence benchmark (`make bench-cadence`): how fast one month's end
# judges many leaders (rules/leader.yaml, a cadence rule, whose one timer
# per rule judges every assigned leader when it fires), beside a baseline
# from the same run: as many per-entity deadline timers
# (rules/work_order.yaml) firing in one tick.
#   1. BENCH_CAD_N leader.assign events (default 100,000 leaders, each in
#      a community of its own), all at 2026-04-20T00:00:00+08:00;
#   2. build/zhilid starts on a scratch config (clock event, durability
#      full, Asia/Shanghai, rules/leader.yaml, max_output_bytes 256 MiB for
#      the tick's answer); load pushes the events (4 connections, window
#      1000): events/s;
#   3. probe sends {"type":"clock.tick","ts":"2026-06-01T00:00:01+08:00"}
#      on a connection of its own and reads its answer: April is not
#      judged (they were assigned mid-April), May is, and each leader gets
#      leader.no_visit; the time from the write to the answer's last byte,
#      which includes the commit (durability full), gives alerts/s;
#   4. the baseline: a daemon on rules/work_order.yaml gets N
#      work_order.created events (gen -k order) at 2026-01-01T08:00:00+08:00
#      and then a clock.tick at 11:00:01, past every 3-hour claim deadline
#      (and before the end of the day): N work_order.unclaimed in one
#      answer, from N timers;
#   5. the alerts are read back and counted.
# Environment: BENCH_CAD_N, BENCH_SEED, BENCH_CONNS, BENCH_WINDOW, and those
# of lib.sh (BENCH_ZHILID, BENCH_TMPDIR, BENCH_KEEP, BENCH_DURABILITY).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_CAD_N:-100000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load probe

# run_tick NAME RULES TICK: a daemon on RULES, $events pushed, then the
# tick measured; its outputs in $tmp/NAME.*.
run_tick() {
	rm -f "$tmp/zhilid.db" "$tmp/zhilid.db-wal" "$tmp/zhilid.db-shm"
	bench_conf event Asia/Shanghai "$2" 268435456
	bench_start
	bench_load
	mv "$tmp/load.out" "$tmp/$1.load"
	echo "bench: $1: the tick" >&2
	bench_step "$1 tick" "$tmp/$1.tick" "$bench/probe" \
	    -s "$tmp/zhilid.sock" close "$3"
	bench_step "$1 alerts" "$tmp/$1.alerts" \
	    "$bench/probe" -s "$tmp/zhilid.sock" alerts
	bench_stop
}

events=$tmp/leaders.ndjson
echo "bench: generating $n leader.assign events" >&2
awk -v n="$n" 'BEGIN {
	for (i = 1; i <= n; i++)
		printf "{\"type\":\"leader.assign\",\"id\":\"la-%d\",\"ts\":\"2026-04-20T00:00:00+08:00\",\"leader\":\"L%06d\",\"community\":\"C%06d\"}\n", i, i, i
}' >"$events"
run_tick cadence "$root/rules/leader.yaml" \
    '{"type":"clock.tick","ts":"2026-06-01T00:00:01+08:00"}'

events=$tmp/orders.ndjson
echo "bench: generating $n work_order.created events" >&2
"$bench/gen" -k order -t 1767225600 "$n" "$seed" >"$events"
run_tick deadline "$root/rules/work_order.yaml" \
    '{"type":"clock.tick","ts":"2026-01-01T11:00:01+08:00"}'

rate() { awk -v a="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? a / s : 0) }'; }
c=$tmp/cadence d=$tmp/deadline
ca=$(kv "$c.tick" alerts) cs=$(kv "$c.tick" seconds)
da=$(kv "$d.tick" alerts) ds=$(kv "$d.tick" seconds)
nv=$(sed -n 's/^rule leader.no_visit //p' "$c.alerts")
uc=$(sed -n 's/^rule work_order.unclaimed //p' "$d.alerts")
echo "cadence: $n leaders, one month end in one clock.tick, durability $durability, event clock"
printf 'cadence_push_per_sec %s\n' "$(kv "$c.load" events_per_sec)"
printf 'cadence_tick_seconds %s\n' "$cs"
printf 'cadence_tick_alerts %s\n' "$ca"
printf 'cadence_tick_bytes %s\n' "$(kv "$c.tick" bytes)"
printf 'cadence_alerts_per_sec %s\n' "$(rate "$ca" "$cs")"
printf 'cadence_alerts_stored %s\n' "${nv:-0}"
echo "baseline: $n work orders, their claim deadlines in one clock.tick"
printf 'deadline_push_per_sec %s\n' "$(kv "$d.load" events_per_sec)"
printf 'deadline_tick_seconds %s\n' "$ds"
printf 'deadline_tick_alerts %s\n' "$da"
printf 'deadline_alerts_per_sec %s\n' "$(rate "$da" "$ds")"
printf 'deadline_alerts_stored %s\n' "${uc:-0}"
if [ "$ca" != "$n" ] || [ "${nv:-0}" != "$n" ] || [ "$da" != "$n" ] ||
    [ "${uc:-0}" != "$n" ]; then
	echo "bench: expected $n alerts in each tick and stored" >&2
	exit 1
fi
