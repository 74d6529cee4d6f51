#!/bin/sh
# The end-to-end benchmark of README.md, as `make bench` runs it (after
# building the programs here with `make -C tests/bench`):
#   1. gen writes BENCH_N household.upsert events (default 1,000,000, fixed
#      seed), once, into a scratch folder;
#   2. build/zhilid starts on a scratch config (clock wall, durability
#      full, the shipped rules/four_color.yaml, Asia/Shanghai);
#   3. load pushes the file over BENCH_CONNS connections (4), each with up
#      to BENCH_WINDOW unanswered lines (1000), and reports events/s and
#      p50/p99 acknowledgement latency;
#   4. the daemon's peak RSS (VmHWM) is read, then it is stopped (SIGTERM);
#   5. ./inproc, the in-process benchmark, runs on the same file if built.
# The scratch folder is on disk (under build/, not /tmp, which may be a
# tmpfs where fsync costs nothing); BENCH_TMPDIR overrides. It is removed at
# the end, as is the daemon. Environment: BENCH_N, BENCH_SEED, BENCH_CONNS,
# BENCH_WINDOW, BENCH_ZHILID (the binary), BENCH_TMPDIR, BENCH_KEEP=1 (keep
# the scratch folder), BENCH_RULES (the rule files, comma separated,
# relative ones to the current folder; default rules/four_color.yaml),
# BENCH_SILENCES (silences made before the load, default 0),
# BENCH_OUTPUTS (alert outputs, comma separated: file, journal, exec; the
# journal one beside a journald of its own, private-journald.sh, where
# none runs; then the time the outputs took to deliver every alert after
# the load is reported).
# close.sh and deadlines.sh follow it (lib.sh).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_N:-1000000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load

events=$tmp/events.ndjson
echo "bench: generating $n events (seed $seed)" >&2
"$bench/gen" "$n" "$seed" >"$events"

# the config lives in $tmp: make relative rule paths absolute first
rules=
for r in $(printf '%s' "${BENCH_RULES:-$root/rules/four_color.yaml}" |
    tr ',' ' '); do
	case $r in
	/*)	;;
	*)	r=$PWD/$r ;;
	esac
	rules=${rules:+$rules, }$r
done
bench_conf wall Asia/Shanghai "$rules" 1048576
# BENCH_OUTPUTS=file,journal,exec: those outputs in the config
wrap=
if [ -n "${BENCH_OUTPUTS:-}" ]; then
	echo "outputs:" >>"$tmp/zhilid.conf"
	for o in $(printf '%s' "$BENCH_OUTPUTS" | tr ',' ' '); do
		case $o in
		file)	echo "  - {file: $tmp/alerts.json}" ;;
		exec)	echo "  - {exec: [sh, -c, 'cat >/dev/null']}" ;;
		journal)
			echo "  - {journal: true}"
			[ -S /run/systemd/journal/socket ] ||
			    wrap="unshare --mount --propagation private sh $bench/private-journald.sh $tmp/journal"
			;;
		*)	echo "bench: BENCH_OUTPUTS: unknown output $o" >&2
			exit 1 ;;
		esac >>"$tmp/zhilid.conf"
	done
fi
journald_stop() {
	j=$(cat "$tmp/journal/pid" 2>/dev/null || true)
	bench_cleanup
	if [ -n "$j" ]; then
		kill "$j" 2>/dev/null || true
	fi
}
trap journald_stop EXIT
# shellcheck disable=SC2086 # the wrapper's words
bench_start $wrap
# BENCH_SILENCES=N: N silences first, none matching gen's households
# (communities C9000..), so that every alert pays for the check
i=0
while [ "$i" -lt "${BENCH_SILENCES:-0}" ]; do
	"$root/build/zhilictl" --socket "$tmp/zhilid.sock" silence \
	    --community "C9$i" --until 4102444800 >/dev/null
	i=$((i + 1))
done

bench_load
# how long after the load every output has delivered every alert
lagged=
if [ -n "${BENCH_OUTPUTS:-}" ]; then
	t0=$(date +%s%N)
	while "$root/build/zhilictl" --socket "$tmp/zhilid.sock" metrics |
	    grep -q '^zhilid_output_lag_alerts{.*} [1-9]'; do
		sleep 0.01
	done
	lagged=$((($(date +%s%N) - t0) / 1000000))
fi
hwm=$(bench_mem VmHWM)
# CPU seconds (user and system) of the daemon, and of the private journald
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
cpu_zhilid=$(cpu "$pid")
cpu_journald=
if [ -n "$wrap" ] && [ -f "$tmp/journal/pid" ]; then
	cpu_journald=$(cpu "$(cat "$tmp/journal/pid")")
fi
"$root/build/zhilictl" --socket "$tmp/zhilid.sock" --json stats >"$tmp/stats.json"
wrote=$(awk '$1 == "wchar:" { printf "%.0f", $2 / 1048576 }' "/proc/$pid/io")
bench_stop

val() { sed -n "s/^$1 //p" "$tmp/load.out"; }
echo "e2e: $(val events) events, $(val connections) connections, window $(val window), durability $durability"
printf 'e2e_events_per_sec %s\n' "$(val events_per_sec)"
printf 'e2e_p50_ms %s\n' "$(val p50_ms)"
printf 'e2e_p99_ms %s\n' "$(val p99_ms)"
printf 'e2e_alerts %s\n' "$(val alerts)"
printf 'zhilid_peak_rss_mib %s\n' "$hwm"
counter() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$tmp/stats.json"; }
for k in commits syncs; do
	printf 'zhilid_%s %s (%s events each)\n' "$k" "$(counter $k)" \
	    "$(awk -v n="$n" -v c="$(counter $k)" 'BEGIN { printf "%.0f", c ? n / c : 0 }')"
done
printf 'zhilid_written_mib %s\n' "$wrote"
printf 'zhilid_cpu_s %s\n' "$cpu_zhilid"
if [ -n "$cpu_journald" ]; then
	printf 'journald_cpu_s %s\n' "$cpu_journald"
fi
if [ -n "$lagged" ]; then
	printf 'outputs %s: every alert delivered %s ms after the load\n' \
	    "$BENCH_OUTPUTS" "$lagged"
fi

if [ -x "$bench/inproc" ]; then
	(cd "$bench" && ./inproc "$events")
fi
