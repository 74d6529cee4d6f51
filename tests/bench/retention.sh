#!/bin/sh
# Retention under load (`make bench-retention`): a log of BENCH_N events
# (default 300,000 bench lines, all dated 2026-01) is loaded into a daemon
# that keeps everything; the daemon restarts with `retention: {events: 1}`
# and the wall clock, so that the whole log is older than the limit and is
# deleted in the background while load pushes BENCH_N / 3 more events
# (dated the same: deleted right after them).  Prints events/s and the
# p99 latency of that push, the events deleted, and the longest deleting
# transaction (stats prune_max_us) beside the longest group commit of the
# events (commit_max_us), then the same push with no retention.
# BENCH_STORE=postgresql runs it in a throwaway PostgreSQL cluster (as
# pg.sh: fsync and synchronous_commit on), the log loaded into two
# schemas, one for each push.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_N:-300000}
m=$((n / 3))
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load
store=${BENCH_STORE:-sqlite}
pgc="python3 $root/tests/e2e/pgcluster.py"
if [ "$store" = postgresql ]; then
	pgdir=$($pgc start "$base" fsync=on synchronous_commit=on \
	    full_page_writes=on shared_buffers=256MB max_wal_size=4GB)
	trap '$pgc destroy "$pgdir"; bench_cleanup' EXIT
fi

"$bench/gen" "$((n + m))" 20260101 >"$tmp/all.ndjson"
head -n "$n" "$tmp/all.ndjson" >"$tmp/log.ndjson"
tail -n "$m" "$tmp/all.ndjson" >"$tmp/more.ndjson"
stat_of() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$tmp/stats.json"; }
push() {
	bench_step load "$tmp/$2.out" "$bench/load" -s "$tmp/zhilid.sock" \
	    -c "$conns" -w "$window" "$tmp/$1.ndjson"
}

# load_log NAME: the log into a fresh database, NAME's schema with PostgreSQL
load_log() {
	if [ "$store" = postgresql ]; then
		BENCH_DATABASE=$($pgc conninfo "$pgdir" "$1")
	fi
	bench_conf wall Asia/Shanghai "$root/rules/four_color.yaml" 1048576
	bench_start
	push log "first_$1"
	bench_stop
}

if [ "$store" = postgresql ]; then
	load_log without
	cp "$tmp/zhilid.conf" "$tmp/keep.conf"
	load_log during
else
	load_log during
	cp "$tmp/zhilid.conf" "$tmp/keep.conf"
	cp "$tmp/zhilid.db" "$tmp/saved.db"
fi

echo 'retention: {events: 1}' >>"$tmp/zhilid.conf"
echo "bench: $n events to delete while $m more are pushed" >&2
bench_start
t0=$(date +%s.%N)
push more during
until "$root/build/zhilictl" --socket "$tmp/zhilid.sock" --json stats \
    >"$tmp/stats.json" && [ "$(stat_of events_pruned)" -ge "$((n + m))" ]; do
	sleep 0.05
done
t1=$(date +%s.%N)
bench_stop
cp "$tmp/zhilid.log" "$tmp/during.log"
printf 'retention_push_events_per_sec %s\n' "$(kv "$tmp/during.out" events_per_sec)"
printf 'retention_push_p99_ms %s\n' "$(kv "$tmp/during.out" p99_ms)"
printf 'retention_events_pruned %s\n' "$(stat_of events_pruned)"
printf 'retention_prune_max_ms %s\n' "$(awk -v u="$(stat_of prune_max_us)" 'BEGIN { printf "%.1f", u / 1000 }')"
printf 'commit_max_ms %s\n' "$(awk -v u="$(stat_of commit_max_us)" 'BEGIN { printf "%.1f", u / 1000 }')"
printf 'retention_seconds %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"

# the same push on the same log, retention off
if [ "$store" = sqlite ]; then
	cp "$tmp/saved.db" "$tmp/zhilid.db"
	rm -f "$tmp/zhilid.db-wal" "$tmp/zhilid.db-shm"
fi
cp "$tmp/keep.conf" "$tmp/zhilid.conf"
bench_start
push more without
bench_stop
printf 'no_retention_push_events_per_sec %s\n' "$(kv "$tmp/without.out" events_per_sec)"
printf 'no_retention_push_p99_ms %s\n' "$(kv "$tmp/without.out" p99_ms)"
