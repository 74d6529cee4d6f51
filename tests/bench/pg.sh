#!/bin/sh
# make bench-pg: the end-to-end benchmark of run.sh, the same events pushed
# the same way, once into SQLite and once into PostgreSQL, in the same run:
#   1. gen writes BENCH_N household.upsert events (default 200,000);
#   2. a throwaway PostgreSQL cluster starts under build/ (pgcluster.py:
#      initdb, pg_ctl, a Unix socket), with fsync and synchronous_commit
#      on, so that an acknowledgement waits for the server's WAL flush as
#      SQLite's waits for its own;
#   3. zhilid (durability full) takes the events over BENCH_CONNS
#      connections (4), BENCH_WINDOW lines in flight each (1000), first
#      with SQLite, then with a schema of that cluster;
#   4. events/s, p50/p99 acknowledgement latency, commits and CPU seconds
#      (the daemon's; with PostgreSQL, its writer's backend's too) of each,
#      the event log's bytes per event in PostgreSQL, and PostgreSQL's
#      events/s as a share of SQLite's.
# The cluster and the scratch folder are removed at the end (BENCH_KEEP=1
# keeps the folder).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_N:-200000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load
pgc="python3 $root/tests/e2e/pgcluster.py"

events=$tmp/events.ndjson
echo "bench: generating $n events (seed $seed)" >&2
"$bench/gen" "$n" "$seed" >"$events"

pgdir=$($pgc start "$base" fsync=on synchronous_commit=on \
    full_page_writes=on shared_buffers=256MB max_wal_size=4GB)
trap '$pgc destroy "$pgdir"; bench_cleanup' EXIT

# cpu_s PID: user and system CPU seconds of a process so far
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
	    "/proc/$1/stat"
}

# run_store NAME: push the events into a fresh daemon on BENCH_DATABASE
run_store() {
	rm -f "$tmp/zhilid.db" "$tmp/zhilid.db-wal" "$tmp/zhilid.db-shm"
	bench_conf wall Asia/Shanghai "$root/rules/four_color.yaml" 1048576
	bench_start
	bench_load
	"$root/build/zhilictl" --socket "$tmp/zhilid.sock" --json stats \
	    >"$tmp/stats.json"
	# CPU seconds of the daemon and (PostgreSQL) its writer's backend:
	# steadier than events/s on a machine others share
	printf '%s_zhilid_cpu_s %s\n' "$1" "$(cpu_s "$pid")"
	if [ -n "$BENCH_DATABASE" ]; then
		bpid=$(psql -X -h "$pgdir" -U zhilid -d zhilid -Atc "SELECT \
		    pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
		printf '%s_backend_cpu_s %s\n' "$1" "$(cpu_s "$bpid")"
	fi
	bench_stop
	eps=$(kv "$tmp/load.out" events_per_sec)
	printf '%s_events_per_sec %s\n' "$1" "$eps"
	printf '%s_p50_ms %s\n' "$1" "$(kv "$tmp/load.out" p50_ms)"
	printf '%s_p99_ms %s\n' "$1" "$(kv "$tmp/load.out" p99_ms)"
	printf '%s_commits %s\n' "$1" \
	    "$(sed -n 's/.*"commits":\([0-9]*\).*/\1/p' "$tmp/stats.json")"
}

echo "bench-pg: $n events, $conns connections, window $window, durability $durability"
BENCH_DATABASE=
sqlite=$(run_store sqlite)
echo "$sqlite"
BENCH_DATABASE=$($pgc conninfo "$pgdir" bench)
pg=$(run_store postgresql)
echo "$pg"
# the event log's size there: table, TOAST and indexes, per event
psql -X -q -A -t -h "$pgdir" -U zhilid -d zhilid -c "SELECT
    'postgresql_log_bytes_per_event ' ||
    round(pg_total_relation_size('bench.events') / $n.0, 1)"
s=$(echo "$sqlite" | sed -n 's/^sqlite_events_per_sec //p')
p=$(echo "$pg" | sed -n 's/^postgresql_events_per_sec //p')
awk -v s="$s" -v p="$p" 'BEGIN { printf "postgresql_to_sqlite %.2f\n", s ? p / s : 0 }'
