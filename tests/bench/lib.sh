# What the end-to-end benchmarks (run.sh, close.sh, deadlines.sh) share:
# sourced after `set -eu` and after setting $root. Sets bench, zhilid and
# tmp (a scratch folder on disk: under build/, not /tmp, which may be a
# tmpfs where fsync costs nothing; BENCH_TMPDIR overrides), and removes
# the scratch folder and the daemon on exit (BENCH_KEEP=1 keeps the
# folder). BENCH_ZHILID names the binary.
bench=$root/tests/bench
zhilid=${BENCH_ZHILID:-$root/build/zhilid}
base=${BENCH_TMPDIR:-$root/build}
pid=
durability=${BENCH_DURABILITY:-full}

# bench_need PROG...: the programs here that the benchmark runs.
bench_need() {
	for p in "$@"; do
		[ -x "$bench/$p" ] || { echo "bench: $bench/$p not built: make -C tests/bench" >&2; exit 1; }
	done
	[ -x "$zhilid" ] || { echo "bench: $zhilid not built: make" >&2; exit 1; }
}

bench_cleanup() {
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

mkdir -p "$base"
tmp=$(mktemp -d "$base/bench.XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# bench_conf CLOCK TIMEZONE RULES MAX_OUTPUT_BYTES: writes $tmp/zhilid.conf,
# with durability full (BENCH_DURABILITY=normal, to see what fsync costs)
# and BENCH_DATABASE as the database if set (a PostgreSQL string: pg.sh).
bench_conf() {
	cat >"$tmp/zhilid.conf" <<CONF
socket: $tmp/zhilid.sock
database: "${BENCH_DATABASE:-$tmp/zhilid.db}"
rules: [$3]
clock: $1
timezone: $2
durability: $durability
limits: {max_line_bytes: 65536, max_output_bytes: $4, max_clients: 1024}
access:
  - {uid: self, roles: [push, read, admin]}
CONF
}

# bench_start [WRAPPER...]: flushes the page cache's dirty pages, starts
# the daemon on $tmp/zhilid.conf (under WRAPPER, such as valgrind, if
# given), sets pid, and waits for its socket.
bench_start() {
	sync	# not to measure the write-back of what came before
	"$@" "$zhilid" -c "$tmp/zhilid.conf" 2>"$tmp/zhilid.log" &
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
}

# bench_stop: SIGTERM, and a word if the daemon did not exit 0.
bench_stop() {
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	pid=
	[ "$rc" -eq 0 ] || echo "bench: zhilid exited $rc on SIGTERM" >&2
	return 0
}

# bench_fail WHAT: the end of the daemon's log, and exit 1.
bench_fail() {
	echo "bench: $1 failed; zhilid's log:" >&2
	tail -n 20 "$tmp/zhilid.log" >&2
	exit 1
}

# bench_mem FIELD: the daemon's VmRSS or VmHWM, in MiB.
bench_mem() {
	awk -v f="$1:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"
}

# kv FILE KEY: the value of a `key value` line of FILE.
kv() { sed -n "s/^$2 //p" "$1"; }

# Run a command with its output in a file; if it fails, show the file and
# stop.  Usage: bench_step WHAT OUT COMMAND...
bench_step() {
	_what=$1 _out=$2
	shift 2
	if ! "$@" >"$_out"; then
		cat "$_out"
		bench_fail "$_what"
	fi
}

# Push $events over $conns connections, $window lines in flight each.
bench_load() {
	echo "bench: loading over $conns connections, window $window" >&2
	bench_step load "$tmp/load.out" "$bench/load" -s "$tmp/zhilid.sock" \
	    -c "$conns" -w "$window" "$events"
}
