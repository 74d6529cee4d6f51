#!/bin/sh
# Bytes stored per event (`make bench-size`): gen writes BENCH_N (default
# 200,000) household.upsert lines of about 320 bytes, load pushes them into
# a fresh daemon (as run.sh does), the daemon stops, the database is
# VACUUMed (every page full, the WAL folded in), and the sizes are read:
#   line_bytes           the average line, newline included
#   db_bytes_per_event   the database file / events
#   log_bytes_per_event  the event log alone: table events and its indexes
# then, per table and index (SQLite's dbstat), bytes per event. The
# households are all distinct, so entities count here as if per event;
# BENCH_HOUSEHOLDS=E spreads the events over E households in turn (gen -e),
# as years of updates of the same ledger do. BENCH_ZHILID measures another
# build (for a before and after).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_N:-200000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load
command -v sqlite3 >/dev/null || { echo "bench: sqlite3 (the cli) needed: sh contrib/install-deps.sh" >&2; exit 1; }

events=$tmp/events.ndjson
echo "bench: generating $n events (seed $seed)" >&2
"$bench/gen" ${BENCH_HOUSEHOLDS:+-e "$BENCH_HOUSEHOLDS"} "$n" "$seed" >"$events"
bench_conf wall Asia/Shanghai "$root/rules/four_color.yaml" 1048576
bench_start
bench_load
bench_stop

db=$tmp/zhilid.db
sqlite3 "$db" "VACUUM"
count=$(sqlite3 "$db" "SELECT count(*) FROM events")
[ "$count" -eq "$n" ] || bench_fail "$count events stored of $n"
printf 'size: %s events, %s households, page size %s\n' "$n" \
    "$(sqlite3 "$db" "SELECT count(*) FROM entities")" "$(sqlite3 "$db" "PRAGMA page_size")"
awk '{ s += length($0) + 1 } END { printf "line_bytes %.1f\n", s / NR }' "$events"
printf 'db_bytes_per_event %s\n' "$(stat -c %s "$db" | awk -v n="$n" '{ printf "%.1f", $1 / n }')"
sqlite3 "$db" "SELECT printf('log_bytes_per_event %.1f', sum(pgsize) * 1.0 / $n)
    FROM dbstat WHERE name = 'events' OR name IN
    (SELECT name FROM sqlite_master WHERE tbl_name = 'events')"
sqlite3 -separator ' ' "$db" "SELECT 'bytes_per_event', name,
    printf('%.1f', sum(pgsize) * 1.0 / $n) FROM dbstat GROUP BY name
    HAVING sum(pgsize) * 1.0 / $n >= 0.5 ORDER BY sum(pgsize) DESC"
