#!/bin/sh
# The explain and dry_run benchmark (`make bench-explain`):
#   1. gen writes BENCH_EXPLAIN_N household.upsert events (default 100,000);
#   2. build/zhilid starts on a scratch config (clock event, durability
#      full, the household path: four_color.yaml, grid.yaml and
#      community.yaml, whose counts a household's event moves);
#   3. load pushes them;
#   4. one client sends BENCH_EXPLAIN_REQS (default 10,000) explain
#      requests of random households, one at a time, then as many
#      dry_run requests of upserts of random households (a third change
#      class, a third move grid), and times each from the write to the
#      answer: p50, p99 and max in milliseconds; then the explain round
#      again (the first may meet the WAL checkpoint of the load); the
#      daemon's seq must not have moved.
# Environment: BENCH_EXPLAIN_N, BENCH_EXPLAIN_REQS, BENCH_SEED,
# BENCH_CONNS, BENCH_WINDOW, and those of lib.sh (BENCH_ZHILID, ...).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${BENCH_EXPLAIN_N:-100000}
reqs=${BENCH_EXPLAIN_REQS:-10000}
seed=${BENCH_SEED:-20260101}
conns=${BENCH_CONNS:-4}
window=${BENCH_WINDOW:-1000}
. "$root/tests/bench/lib.sh"
bench_need gen load

events=$tmp/events.ndjson
echo "bench: generating $n households (seed $seed)" >&2
"$bench/gen" "$n" "$seed" >"$events"
r=$root/rules
bench_conf event Asia/Shanghai "$r/four_color.yaml, $r/grid.yaml, $r/community.yaml" 1048576
bench_start
bench_load

python3 - "$tmp/zhilid.sock" "$n" "$reqs" "$seed" >"$tmp/time.out" <<'PY'
import json, random, socket, sys, time
path, n, reqs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
s = socket.socket(socket.AF_UNIX)
s.connect(path)
f = s.makefile("rb")

def ask(obj):
    line = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
    t = time.perf_counter()
    s.sendall(line)
    ans = f.readline()
    dt = time.perf_counter() - t
    r = json.loads(ans)
    if not r.get("ok"):
        sys.exit("bench: %s answered %s" % (line[:200], ans[:300]))
    return dt, r

def hh():
    return "H%07d" % rnd.randint(1, n)

seq0 = ask({"cmd": "stats"})[1]["stats"]["seq"]
# explain again last: the first round may meet the checkpoint of the load
for name in ("explain", "dry_run", "explain_again"):
    ts = []
    for i in range(reqs):
        if name.startswith("explain"):
            req = {"cmd": "explain", "kind": "household", "id": hh()}
        else:
            attrs = {"age": rnd.randint(0, 99)}
            if i % 3 == 0:
                attrs["key_person"] = True
            ev = {"type": "household.upsert", "id": "dry-%d" % i,
                  "ts": 1767196800 + n + 1 + i, "household": hh(),
                  "attrs": attrs}
            if i % 3 == 1:
                ev["grid"] = "G%04d-%02d" % (rnd.randint(0, 499), rnd.randint(1, 12))
            req = {"cmd": "dry_run", "event": ev}
        ts.append(ask(req)[0])
    ts.sort()
    print("%s_requests %d" % (name, reqs))
    for q, v in (("p50", ts[len(ts) // 2]), ("p99", ts[int(len(ts) * 0.99)]),
                 ("max", ts[-1])):
        print("%s_%s_ms %.3f" % (name, q, v * 1000))
seq1 = ask({"cmd": "stats"})[1]["stats"]["seq"]
if seq1 != seq0:
    sys.exit("bench: dry_run moved seq from %d to %d" % (seq0, seq1))
print("seq_unchanged %d" % seq1)
PY
hwm=$(bench_mem VmHWM)
bench_stop
echo "explain: $n households, household path rules, durability $durability, event clock, one client"
cat "$tmp/time.out"
printf 'zhilid_peak_rss_mib %s\n' "$hwm"
