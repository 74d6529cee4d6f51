#!/bin/sh
# The deadline benchmark of README.md (`make bench-deadlines`; `make bench`
# runs it after close.sh):
#   1. gen -k order writes BENCH_DL_N work_order.created events (default
#      500,000 orders, fixed seed), all with one ts: 3 hours before the
#      second `due`, BENCH_DL_MARGIN seconds after the start (default
#      30 + N / 40,000: 42 s for 500,000), so that every 3-hour claim
#      deadline falls due in that second, after the push;
#   2. build/zhilid starts on a scratch config (clock wall, durability
#      full, the shipped rules/work_order.yaml, max_output_bytes 64 MiB for
#      the subscriber). Each order arms two deadlines, the claim one and
#      the end-of-day one, which must stay pending: the time zone is
#      Asia/Shanghai unless the orders' local midnight there would come
#      less than 10 minutes after `due` (a start between 23:49 and 03:00
#      there), and then the Etc/GMT zone in which `due` is about noon;
#   3. load pushes the orders (4 connections, window 1000): events/s;
#   4. the daemon's RSS is read with 2N deadlines pending;
#   5. probe polls stats every 50 ms until timers_fired, then alerts (which
#      counts committed alerts), have grown by N: the fire rate and the
#      commit rate (with BENCH_DL_SUBSCRIBE=1 it also subscribes and
#      counts what the subscription delivers);
#   6. the daemon's RSS and peak RSS are read; probe reads back every
#      stored alert (N work_order.unclaimed expected, no overdue one);
#      the daemon is stopped.
# Environment: BENCH_DL_N, BENCH_DL_MARGIN, BENCH_DL_SUBSCRIBE, BENCH_SEED,
# BENCH_CONNS, BENCH_WINDOW, and those of lib.sh (BENCH_ZHILID,
# BENCH_TMPDIR, BENCH_KEEP).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
start=$(date +%s)
n=${BENCH_DL_N:-500000}
margin=${BENCH_DL_MARGIN:-$((30 + n / 40000))}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load probe

due=$((start + margin))
ts=$((due - 3 * 3600))
tz=Asia/Shanghai
if [ "$(TZ=$tz date -d "@$ts" +%F)" != "$(TZ=$tz date -d "@$((due + 600))" +%F)" ]; then
	off=$((12 - $(date -u -d "@$due" +%-H)))
	if [ $off -gt 0 ]; then
		tz=Etc/GMT-$off		# POSIX signs: Etc/GMT-8 is UTC+8
	elif [ $off -lt 0 ]; then
		tz=Etc/GMT+$((-off))
	else
		tz=Etc/GMT
	fi
fi

events=$tmp/orders.ndjson
echo "bench: generating $n work_order.created events at ts $ts, claim deadlines due at $due ($tz $(TZ=$tz date -d "@$due" +%T))" >&2
"$bench/gen" -k order -t "$ts" "$n" "$seed" >"$events"

bench_conf wall "$tz" "$root/rules/work_order.yaml" 67108864
bench_start

bench_load
rss_pending=$(bench_mem VmRSS)
left=$((due + 1 - $(date +%s)))
if [ $left -le 0 ]; then
	echo "bench: the push ended after the deadlines came due; raise BENCH_DL_MARGIN (now $margin s)" >&2
	exit 1
fi

sub=
[ "${BENCH_DL_SUBSCRIBE:-0}" = 1 ] && sub=-S
echo "bench: waiting ${left} s for the deadlines to come due" >&2
bench_step firing "$tmp/fire.out" "$bench/probe" -s "$tmp/zhilid.sock" \
    $sub -d "$due" -T $((left + 300)) fire "$n"
rss=$(bench_mem VmRSS)
hwm=$(bench_mem VmHWM)
bench_step "reading the alerts" "$tmp/alerts.out" \
    "$bench/probe" -s "$tmp/zhilid.sock" alerts
bench_stop

l=$tmp/load.out f=$tmp/fire.out a=$tmp/alerts.out
unclaimed=$(sed -n 's/^rule work_order.unclaimed //p' "$a")
echo "deadlines: $n work orders, $(kv "$f" pending_before) pending deadlines, durability $durability, wall clock, $tz"
printf 'deadlines_push_per_sec %s\n' "$(kv "$l" events_per_sec)"
printf 'deadlines_push_seconds %s\n' "$(kv "$l" seconds)"
printf 'zhilid_rss_mib_pending %s\n' "$rss_pending"
printf 'deadlines_fire_late_s %s\n' "$(kv "$f" start_late_seconds)"
printf 'deadlines_fire_seconds %s\n' "$(kv "$f" fire_seconds)"
printf 'deadlines_fired_per_sec %s\n' "$(kv "$f" fired_per_sec)"
printf 'deadlines_commit_seconds %s\n' "$(kv "$f" commit_seconds)"
printf 'deadlines_committed_per_sec %s\n' "$(kv "$f" committed_per_sec)"
printf 'deadlines_pending_after %s\n' "$(kv "$f" pending_after)"
printf 'deadlines_alerts_stored %s\n' "$(kv "$a" alerts)"
printf 'deadlines_unclaimed_alerts %s\n' "${unclaimed:-0}"
if [ -n "$sub" ]; then
	printf 'deadlines_subscriber_received %s\n' "$(kv "$f" subscriber_received)"
	printf 'deadlines_subscriber_dropped %s\n' "$(kv "$f" subscriber_dropped)"
	printf 'deadlines_subscriber_seconds %s\n' "$(kv "$f" subscriber_seconds)"
fi
printf 'zhilid_rss_mib_fired %s\n' "$rss"
printf 'zhilid_peak_rss_mib %s\n' "$hwm"
if [ "$(kv "$a" alerts)" != "$n" ] || [ "${unclaimed:-0}" != "$n" ]; then
	echo "bench: expected $n alerts, all work_order.unclaimed" >&2
	exit 1
fi
