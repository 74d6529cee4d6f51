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
# the scratch folder).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=$root/tests/bench
n=${BENCH_N:-1000000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
zhilid=${BENCH_ZHILID:-$root/build/zhilid}
base=${BENCH_TMPDIR:-$root/build}

for p in gen load; do
	[ -x "$bench/$p" ] || { echo "bench: $bench/$p not built: make -C tests/bench" >&2; exit 1; }
done
[ -x "$zhilid" ] || { echo "bench: $zhilid not built: make" >&2; exit 1; }

mkdir -p "$base"
tmp=$(mktemp -d "$base/bench.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

events=$tmp/events.ndjson
echo "bench: generating $n events (seed $seed)" >&2
"$bench/gen" "$n" "$seed" >"$events"

cat >"$tmp/zhilid.conf" <<CONF
socket: $tmp/zhilid.sock
database: $tmp/zhilid.db
rules: [$root/rules/four_color.yaml]
clock: wall
timezone: Asia/Shanghai
durability: full
limits: {max_line_bytes: 65536, max_output_bytes: 1048576, max_clients: 1024}
access:
  - {uid: self, roles: [push, read, admin]}
CONF

"$zhilid" -c "$tmp/zhilid.conf" 2>"$tmp/zhilid.log" &
pid=$!
i=0
until [ -S "$tmp/zhilid.sock" ]; do
	if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 100 ]; then
		echo "bench: zhilid did not come up; its log:" >&2
		tail -n 20 "$tmp/zhilid.log" >&2
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done

echo "bench: loading over $conns connections, window $window" >&2
if ! "$bench/load" -s "$tmp/zhilid.sock" -c "$conns" -w "$window" \
	"$events" >"$tmp/load.out"; then
	cat "$tmp/load.out"
	echo "bench: load failed; zhilid's log:" >&2
	tail -n 20 "$tmp/zhilid.log" >&2
	exit 1
fi
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || echo "bench: zhilid exited $rc on SIGTERM" >&2

val() { sed -n "s/^$1 //p" "$tmp/load.out"; }
echo "e2e: $(val events) events, $(val connections) connections, window $(val window), durability full"
printf 'e2e_events_per_sec %s\n' "$(val events_per_sec)"
printf 'e2e_p50_ms %s\n' "$(val p50_ms)"
printf 'e2e_p99_ms %s\n' "$(val p99_ms)"
printf 'e2e_alerts %s\n' "$(val alerts)"
printf 'zhilid_peak_rss_mib %s\n' "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"

if [ -x "$bench/inproc" ]; then
	(cd "$bench" && ./inproc "$events")
fi
