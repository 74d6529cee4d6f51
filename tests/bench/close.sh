#!/bin/sh
# The period-close benchmark of README.md (`make bench-close`; `make bench`
# runs it after run.sh):
#   1. gen -k secretary writes 3 x BENCH_CLOSE_N secretary.score events
#      (default 100,000 secretaries of the one scope J1, 2026H1, fixed seed);
#   2. build/zhilid starts on a scratch config (clock event, durability
#      full, the shipped rules/secretary.yaml, max_output_bytes 64 MiB so
#      that the close's one large answer is not held back);
#   3. load pushes the scores over BENCH_CONNS connections (4), window
#      BENCH_WINDOW (1000): events/s;
#   4. probe sends one period.close for J1 2026H1 on a connection of its
#      own and times it from the write to the last byte of its answer,
#      which comes once the close and its alerts are committed; it counts
#      the answer's alerts, against the bottom set that awk computes from
#      the generated scores (3:5:2, bottom tenth rounded up, ties in);
#   5. the daemon's RSS and peak RSS are read; probe reads back every
#      stored alert (as many as the answer carried); the daemon is stopped.
# Environment: BENCH_CLOSE_N, BENCH_SEED, BENCH_CONNS, BENCH_WINDOW, and
# those of lib.sh (BENCH_ZHILID, BENCH_TMPDIR, BENCH_KEEP).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_CLOSE_N:-100000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
close_ts=1782867600	# 2026-07-01T09:00:00+08:00, after the scores' ts
. "$root/tests/bench/lib.sh"
bench_need gen load probe

events=$tmp/scores.ndjson
echo "bench: generating $((3 * n)) secretary.score events, $n secretaries (seed $seed)" >&2
"$bench/gen" -k secretary "$n" "$seed" >"$events"

# The bottom set by hand: totals in hundredths (3a + 5b + 2c over scores
# in tenths), k = ceil(n / 10), everyone at or below the k-th lowest.
expected=$(awk -F'"' '
	{
		for (i = 1; i < NF; i++) {
			if ($i == "secretary") s = $(i + 2)
			if ($i == "part") p = $(i + 2)
		}
		v = $NF; sub(/^:/, "", v); sub(/}$/, "", v)
		split(v, d, ".")
		w = p == "street" ? 3 : p == "community" ? 5 : 2
		t[s] += w * (d[1] * 10 + d[2])
	}
	END { for (s in t) print t[s] }' "$events" | sort -n | awk '
	{ v[NR] = $1 }
	END {
		k = int((NR + 9) / 10)
		for (i = 1; i <= NR && v[i] <= v[k]; i++)
			;
		print i - 1
	}')

bench_conf event Asia/Shanghai "$root/rules/secretary.yaml" 67108864
bench_start

bench_load
rss_scored=$(bench_mem VmRSS)

echo "bench: closing J1 2026H1" >&2
bench_step period.close "$tmp/close.out" "$bench/probe" -s "$tmp/zhilid.sock" \
    close "{\"type\":\"period.close\",\"id\":\"close-J1-2026H1\",\"cycle\":\"secretary\",\"scope\":\"J1\",\"period\":\"2026H1\",\"ts\":$close_ts}"
rss=$(bench_mem VmRSS)
hwm=$(bench_mem VmHWM)
bench_step "reading the alerts" "$tmp/alerts.out" \
    "$bench/probe" -s "$tmp/zhilid.sock" alerts
bench_stop

l=$tmp/load.out c=$tmp/close.out a=$tmp/alerts.out
warned=$(sed -n 's/^rule secretary.warning //p' "$c")
echo "close: $n secretaries of one scope, $(kv "$l" events) secretary.score events, durability $durability, event clock"
printf 'close_scores_per_sec %s\n' "$(kv "$l" events_per_sec)"
printf 'close_scores_seconds %s\n' "$(kv "$l" seconds)"
printf 'close_seconds %s\n' "$(kv "$c" seconds)"
printf 'close_alerts %s\n' "$(kv "$c" alerts)"
printf 'close_warnings %s\n' "${warned:-0}"
printf 'close_warnings_expected %s\n' "$expected"
printf 'close_answer_bytes %s\n' "$(kv "$c" bytes)"
printf 'close_alerts_stored %s\n' "$(kv "$a" alerts)"
printf 'zhilid_rss_mib_scored %s\n' "$rss_scored"
printf 'zhilid_rss_mib_closed %s\n' "$rss"
printf 'zhilid_peak_rss_mib %s\n' "$hwm"
if [ "${warned:-0}" != "$expected" ] || [ "$(kv "$a" alerts)" != "$(kv "$c" alerts)" ]; then
	echo "bench: expected $expected warnings, answered and stored" >&2
	exit 1
fi
