"""Pipelining: 10,000 lines written in one go are answered one for one, in
order; lines split across writes at any byte are reassembled."""

import random
import threading
import time

from harness import (BOOL_ATTRS, PING, T0, Daemon, check, dumps,
                     expect_error, expect_event_ok, expect_ok, four_color,
                     get, short, stats, upsert)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

N = 10000


def make_lines(n, rnd, households=700):
    """n lines: every 7th a ping, every 13th a get, the rest upserts. Returns
    (objs, kinds, expected classes after each upsert)."""
    records = {}
    objs, kinds, want = [], [], []
    for i in range(n):
        if i % 7 == 3:
            objs.append(PING)
            kinds.append("ping")
            want.append(None)
        elif i % 13 == 5:
            objs.append(get("NEVER-%d" % i))
            kinds.append("get")
            want.append(None)
        else:
            h = "P-%d" % rnd.randrange(households)
            attrs = {}
            for k in rnd.sample(BOOL_ATTRS, rnd.randrange(3)):
                attrs[k] = rnd.random() < 0.3
            if rnd.random() < 0.5:
                attrs["age"] = rnd.randrange(60, 90)
            old = records.get(h)
            rec = dict(old or {})
            rec.update(attrs)
            records[h] = rec
            before = four_color(old) if old is not None else "none"
            after = four_color(rec)
            objs.append(upsert(h, attrs, id="p-%d" % i, ts=T0 + i))
            kinds.append("event")
            want.append((h, before, after))
    return objs, kinds, want, records


def test_pipeline_10000(ctx):
    rnd = random.Random(20260101)
    objs, kinds, want, records = make_lines(N, rnd)
    data = b"".join(dumps(o).encode() + b"\n" for o in objs)
    with Daemon(ctx) as d:
        c = d.client(timeout=60)
        s0 = stats(c)
        err = []

        def writer():
            try:
                c.sock.sendall(data)
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=writer, daemon=True)
        started = time.monotonic()
        t.start()
        last_seq = 0
        n_events = n_alerts = 0
        for i in range(N):
            r = c.recv(timeout=60)
            if kinds[i] == "ping":
                expect_ok(r, "line %d (ping)" % i)
                check("version" in r and "seq" not in r,
                      "line %d was a ping, got %s" % (i, short(r)))
            elif kinds[i] == "get":
                expect_error(r, "unknown_entity", "line %d (get)" % i)
            else:
                expect_event_ok(r, "line %d (event)" % i)
                check(r["seq"] > last_seq, "line %d: seq %d after %d, not "
                      "increasing" % (i, r["seq"], last_seq))
                last_seq = r["seq"]
                n_events += 1
                h, before, after = want[i]
                if before == after:
                    check(r["alerts"] == [], "line %d: %s stays %s, got %s"
                          % (i, h, after, short(r)))
                else:
                    check(len(r["alerts"]) == 1 and
                          r["alerts"][0]["entity"] == h and
                          r["alerts"][0]["data"] == {"from": before,
                                                     "to": after},
                          "line %d: %s %s -> %s expected, got %s"
                          % (i, h, before, after, short(r)))
                    n_alerts += 1
        took = time.monotonic() - started
        t.join(10)
        check(not err, "writer: %s" % err)
        c.no_response(0.2)
        s1 = stats(c)
        check(s1["events"] - s0["events"] == n_events,
              "stats.events grew by %d, expected %d"
              % (s1["events"] - s0["events"], n_events))
        check(s1["alerts"] - s0["alerts"] == n_alerts,
              "stats.alerts grew by %d, expected %d"
              % (s1["alerts"] - s0["alerts"], n_alerts))
        # Group commit: far fewer commits than events.
        check(s1["commits"] - s0["commits"] < n_events,
              "one commit per event (%d commits for %d events): no group "
              "commit" % (s1["commits"] - s0["commits"], n_events))
        # Batches that queued together share a transaction; with
        # durability full every commit is followed by a WAL sync, one
        # sync covering the commits made meanwhile.
        commits = s1["commits"] - s0["commits"]
        batches = s1["batches"] - s0["batches"]
        syncs = s1["syncs"] - s0["syncs"]
        check(0 < commits <= batches and 0 < syncs <= commits,
              "%d batches, %d commits, %d syncs" % (batches, commits, syncs))
        # The final state of a few households.
        for h in sorted(records)[:50]:
            r = c.request(get(h))
            expect_ok(r, "get %s" % h)
            check(r["entity"]["classes"]["four_color"] == four_color(
                records[h]), "%s: class %s, expected %s" % (
                    h, r["entity"]["classes"], four_color(records[h])))
        import sys
        sys.stderr.write("    pipeline: %d lines answered in %.2f s\n"
                         % (N, took))


def test_split_writes(ctx):
    """Lines cut at every possible byte, several lines per write, and a
    line dribbled out a byte at a time."""
    with Daemon(ctx) as d:
        c = d.client()
        lines = [dumps(upsert("S-%d" % i, {"age": 70 + i}, id="s-%d" % i,
                              ts=T0 + i)).encode() + b"\n" for i in range(40)]
        blob = b"".join(lines)
        rnd = random.Random(7)
        pos = 0
        while pos < len(blob):
            n = rnd.randrange(1, 90)
            c.send_raw(blob[pos:pos + n])
            pos += n
            time.sleep(0.001)
        last = 0
        for i in range(40):
            r = expect_event_ok(c.recv(), "split line %d" % i)
            check(r["seq"] > last, "seq order")
            last = r["seq"]
            check(len(r["alerts"]) == 1 and r["alerts"][0]["entity"] ==
                  "S-%d" % i, "line %d: %s" % (i, short(r)))
        line = b'{"cmd":"ping"}\n'
        for b in line:
            c.send_raw(bytes([b]))
            time.sleep(0.002)
        expect_ok(c.recv(), "ping sent one byte at a time")
        c.no_response(0.2)


def test_many_clients_interleaved(ctx):
    """Several connections pipelining at once each get their own answers in
    their own order, and seqs are globally unique."""
    with Daemon(ctx) as d:
        clients = [d.client(timeout=60) for _ in range(8)]
        per = 500
        datas = []
        for k in range(8):
            datas.append(b"".join(
                dumps(upsert("M-%d-%d" % (k, i % 50), {"age": 60 + i % 30},
                             id="m-%d-%d" % (k, i), ts=T0 + i)).encode() +
                b"\n" for i in range(per)))
        threads = [threading.Thread(target=c.sock.sendall, args=(data,),
                                    daemon=True)
                   for c, data in zip(clients, datas)]
        for t in threads:
            t.start()
        seqs = set()
        for k, c in enumerate(clients):
            last = 0
            for i in range(per):
                r = expect_event_ok(c.recv(timeout=60), "client %d line %d"
                                    % (k, i))
                check(r["seq"] > last, "client %d: seq not increasing" % k)
                last = r["seq"]
                check(r["seq"] not in seqs, "seq %d given twice" % r["seq"])
                seqs.add(r["seq"])
        for t in threads:
            t.join(10)
        check(len(seqs) == 8 * per, "seq count")
