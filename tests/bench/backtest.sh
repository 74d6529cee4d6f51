#!/bin/sh
# The backtest benchmark (make bench-backtest): how fast `zhilictl backtest`
# replays a stored log, and that its memory follows the entities, not the
# log's length.  For each run N[:E] of BENCH_BT_RUNS (default "1000000
# 10000000:1000000"):
#   1. build/zhilid starts on a scratch config (clock event, durability
#      normal: the store is only built here, not measured; the shipped
#      rules/four_color.yaml) and `gen [-e E] N` is pushed into it with
#      `zhilictl push` (E: the households the N events update in turn;
#      without it one household per event, N at most 9999999);
#   2. the daemon stops, and `zhilictl backtest --rules
#      rules/four_color.yaml` replays the database under /usr/bin/time -v:
#      it must find no difference (exit 0); events/s is N over its wall
#      time (the best of BENCH_BT_TIMES, default 3), the peak RSS its
#      maximum resident set size;
#   3. ./inproc (if built) runs the daemon's decoder and engine alone on
#      the same events just after, the replay's ceiling at that moment;
#   4. BENCH_BT_CANDIDATE=1 also replays the candidate with the orange age
#      at 75, which differs (exit 1), to time the path that reports.
# Environment as run.sh (lib.sh): BENCH_TMPDIR, BENCH_KEEP, BENCH_ZHILID.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${BENCH_BT_RUNS:-1000000 10000000:1000000}
durability=normal
. "$root/tests/bench/lib.sh"
bench_need gen
ctl=$root/build/zhilictl
rules=$root/rules/four_color.yaml
bench_conf event Asia/Shanghai "$rules" 1048576
sed 's/(age >= 80 and lives_alone)/(age >= 75 and lives_alone)/' \
    "$rules" >"$tmp/four_color_75.yaml"

# measure NAME EXPECTED_STATUS N RULES: the best of BENCH_BT_TIMES (3)
# timed backtests (the machine may be shared), and the largest RSS
measure() {
	best= kib=0
	for _ in $(seq "${BENCH_BT_TIMES:-3}"); do
		rc=0
		/usr/bin/time -v "$ctl" backtest --rules "$4" \
		    --db "$tmp/zhilid.db" >"$tmp/bt.out" 2>"$tmp/bt.time" ||
		    rc=$?
		if [ "$rc" -ne "$2" ]; then
			echo "bench: backtest ($1) exited $rc, expected $2:" >&2
			head -n 20 "$tmp/bt.out" "$tmp/bt.time" >&2
			exit 1
		fi
		s=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t,
		    ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i];
		    print s }' "$tmp/bt.time")
		k=$(awk -F': ' '/Maximum resident set size/ { print $2 }' \
		    "$tmp/bt.time")
		best=$(awk -v a="$best" -v b="$s" 'BEGIN { print (a == "" ||
		    b < a) ? b : a }')
		kib=$(awk -v a="$kib" -v b="$k" 'BEGIN { print (b > a ? b : a) }')
	done
	secs=$best
	awk -v name="$1" -v n="$3" -v s="$secs" -v k="$kib" 'BEGIN {
	    printf "backtest_%s_seconds %.2f\n", name, s
	    printf "backtest_%s_events_per_sec %.0f\n", name, (s > 0 ? n / s : 0)
	    printf "backtest_%s_peak_rss_mib %.1f\n", name, k / 1024 }'
}

for run in $runs; do
	n=${run%%:*}
	e=
	case $run in *:*) e=${run#*:} ;; esac
	rm -f "$tmp/zhilid.db" "$tmp/zhilid.db-wal" "$tmp/zhilid.db-shm"
	echo "bench: pushing $n events${e:+ over $e households} into a" \
	    "daemon" >&2
	"$bench/gen" ${e:+-e "$e"} "$n" >"$tmp/events.ndjson"
	bench_start
	"$ctl" --socket "$tmp/zhilid.sock" push "$tmp/events.ndjson" \
	    >"$tmp/push.out"
	bench_stop
	tag=${n}${e:+_e$e}
	echo "backtest: $n events, $(sed -n 's/.*accepted, [0-9]* duplicates, [0-9]* errors, \([0-9]*\) alerts/\1/p' "$tmp/push.out") alerts stored, ${e:-$n} households, database $(du -m "$tmp/zhilid.db" | cut -f1) MiB"
	measure "$tag" 0 "$n" "$rules"
	# the in-process engine alone on the same events, just after: the
	# replay's ceiling on this machine at this moment
	if [ -x "$bench/inproc" ]; then
		(cd "$bench" && ./inproc "$tmp/events.ndjson") |
		    sed -n "s/^inproc_engine_events_per_sec /backtest_${tag}_inproc_engine_events_per_sec /p"
	fi
	rm -f "$tmp/events.ndjson"
	if [ "${BENCH_BT_CANDIDATE:-0}" = 1 ]; then
		measure "${tag}_candidate75" 1 "$n" "$tmp/four_color_75.yaml"
		sed -n 's/^four_color.changed: /candidate75: four_color.changed: /p' \
		    "$tmp/bt.out"
	fi
done
