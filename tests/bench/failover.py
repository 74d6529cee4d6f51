#!/usr/bin/env python3
"""make bench-failover: how long a standby takes to serve after kill -9 of
the active (zhilid(8) "Active and standby"), over BENCH_RUNS runs (20).

A throwaway PostgreSQL cluster (tests/e2e/pgcluster.py: fsync and
synchronous_commit on) under build/; two daemons on one schema, holding
BENCH_N households (10,000), which a standby reads when it takes over.
Each run: a client on the standby sends an event every 10 ms (each
answered unavailable until it serves); after 1 to 2 s (random, BENCH_SEED)
the active is killed with SIGKILL;
the time from the kill to the first event the standby acknowledges is the
run's failover time; the killed daemon starts again, a standby, and the
next run kills the other.  Prints each run, then failover_median_ms and
failover_max_ms.
"""

import os
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import harness                                  # noqa: E402
import pgcluster                                # noqa: E402
from harness import T0, Daemon, dumps, upsert   # noqa: E402


def preload(d, n):
    """n households in one pipelined stream."""
    c = d.client(timeout=120)
    for start in range(0, n, 1000):
        batch = range(start, min(n, start + 1000))
        c.send_raw("".join(dumps(upsert("P%d" % i, {"age": 40 + i % 50},
                                        id="pre-%d" % i, ts=T0 + i)) + "\n"
                           for i in batch))
        for _ in batch:
            r = c.recv(120)
            if not r.get("ok"):
                raise SystemExit("preload: %s" % r)
    c.close()


def failover(active, standby, run):
    """Kill active; seconds until standby acknowledges an event."""
    c = standby.client(timeout=30)
    i = 0
    # at a moment unrelated to the standby's once-a-second asking
    time.sleep(random.uniform(1.0, 2.0))
    active.kill9()
    killed = time.monotonic()
    while True:
        i += 1
        r = c.request(upsert("F%d" % (i % 100), {"age": 60 + i % 30},
                             id="run%d-%d" % (run, i), ts=T0 + 10 ** 6 + i))
        if r.get("ok"):
            t = time.monotonic() - killed
            break
        if r["error"]["code"] != "unavailable":
            raise SystemExit("run %d: %s" % (run, r))
        if time.monotonic() - killed > 60:
            raise SystemExit("run %d: no takeover in 60 s" % run)
        time.sleep(0.01)
    c.close()
    return t


def main():
    runs = int(os.environ.get("BENCH_RUNS", "20"))
    random.seed(int(os.environ.get("BENCH_SEED", "20260101")))
    n = int(os.environ.get("BENCH_N", "10000"))
    base = os.environ.get("BENCH_TMPDIR", os.path.join(ROOT, "build"))
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bench-failover.", dir=base)
    ctx = harness.Ctx(os.path.join(ROOT, "build", "zhilid"),
                      os.path.join(ROOT, "build", "zhilictl"), ROOT, tmp)
    cluster = pgcluster.Cluster({"fsync": "on", "full_page_writes": "on",
                                 "synchronous_commit": "on"}, base).start()
    try:
        db = cluster.conninfo("bench").replace('"', '\\"')
        ds = [Daemon(ctx, name=x, conf_extra='database: "%s"\n' % db)
              for x in ("a", "b")]
        ds[0].start()
        ds[1].start()
        preload(ds[0], n)
        print("bench-failover: %d runs, %d households, PostgreSQL %s"
              % (runs, n, os.path.basename(os.path.dirname(
                  pgcluster.bindir()))))
        times = []
        for run in range(runs):
            active, standby = ds[run % 2], ds[(run + 1) % 2]
            t = failover(active, standby, run)
            times.append(t)
            print("run %d: %.0f ms" % (run + 1, t * 1000))
            sys.stdout.flush()
            active.start()      # back as a standby
        print("failover_median_ms %.0f" % (statistics.median(times) * 1000))
        print("failover_max_ms %.0f" % (max(times) * 1000))
        for d in ds:
            d.stop()
    finally:
        harness.cleanup_all()
        cluster.destroy()
        if os.environ.get("BENCH_KEEP") != "1":
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
