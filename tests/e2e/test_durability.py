"""Durability and the socket's life cycle: every acknowledged event and its
alerts survive kill -9; resends are duplicates with the original seq and no
alert appears twice; SIGTERM exits 0 and removes the socket; a second daemon
on a live socket refuses to start; a stale socket file is replaced."""

import os
import signal
import socket
import stat
import threading

from harness import (PING, T0, Daemon, all_alerts, check, dumps,
                     expect_error, expect_event_ok, expect_ok, four_color,
                     get, pipeline, run_zhilid, short, sqlite_only, upsert)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

TIMEOUT = 180


def test_kill9_after_acks(ctx):
    n = 300
    with Daemon(ctx, durability="full") as d:
        c = d.client(timeout=30)
        objs, records = [], {}
        for i in range(n):
            h = "K-%d" % (i % 40)
            attrs = {"age": 60 + (i * 7) % 35}
            if i % 11 == 0:
                attrs["petition_active"] = (i // 11) % 2 == 0
            records.setdefault(h, {}).update(attrs)
            objs.append(upsert(h, attrs, id="k-%d" % i, ts=T0 + i))
        rs = pipeline(c, objs)
        acks = {}
        alerts = []
        for o, r in zip(objs, rs):
            expect_event_ok(r, o["id"])
            acks[o["id"]] = r["seq"]
            alerts.extend(r["alerts"])
        check(alerts, "the test should raise alerts")
        c.close()
        d.kill9()
        d.start()
        c = d.client(timeout=30)
        for h, rec in sorted(records.items()):
            r = c.request(get(h))
            expect_ok(r, "get %s after kill -9" % h)
            check(r["entity"]["classes"]["four_color"] == four_color(rec),
                  "%s after kill -9: class %s, expected %s"
                  % (h, r["entity"]["classes"], four_color(rec)))
        stored = all_alerts(c)
        check(stored == alerts, "alerts after kill -9 differ from the "
              "acknowledged ones: %d stored, %d acknowledged; first "
              "difference: %s" % (len(stored), len(alerts),
                                  first_diff(stored, alerts)))
        # Resends are duplicates with their original seq.
        rs = pipeline(c, objs)
        for o, r in zip(objs, rs):
            expect_ok(r, "resend %s" % o["id"])
            check(r.get("duplicate") is True and r.get("seq") ==
                  acks[o["id"]] and r.get("alerts") == [],
                  "resend of %s (seq %d) after kill -9: %s"
                  % (o["id"], acks[o["id"]], short(r)))
        check(all_alerts(c) == alerts, "alerts changed after resends")
        # New events continue the log.
        r = expect_event_ok(c.request(upsert("NEW", {"age": 99},
                                             id="new", ts=T0 + n)))
        check(r["seq"] > max(acks.values()), "seq after restart %d is not "
              "past %d" % (r["seq"], max(acks.values())))


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "#%d: %s vs %s" % (i, short(x), short(y))
    if len(a) != len(b):
        longer = a if len(a) > len(b) else b
        return "#%d: %s only on one side" % (min(len(a), len(b)),
                                             short(longer[min(len(a),
                                                              len(b))]))
    return "none"


def test_kill9_in_flight(ctx):
    """kill -9 while a client is pipelining: the acknowledged events are
    kept; resending everything gives duplicates (original seq) for those,
    and in the end every event has raised its alert exactly once."""
    n = 5000
    with Daemon(ctx, durability="full") as d:
        objs = [upsert("F-%d" % i, {"age": 70 + i % 20}, id="f-%d" % i,
                       ts=T0 + i) for i in range(n)]
        data = b"".join(dumps(o).encode() + b"\n" for o in objs)
        c = d.client(timeout=30)

        def writer():
            try:
                c.sock.sendall(data)
            except OSError:
                pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        acks = {}
        for i in range(1000):
            r = expect_event_ok(c.recv(), objs[i]["id"])
            check(len(r["alerts"]) == 1, "one alert each: %s" % short(r))
            acks[objs[i]["id"]] = (r["seq"], r["alerts"][0])
        d.kill9()
        t.join(10)
        c.close()
        d.start()
        c = d.client(timeout=60)
        # Every acknowledged alert is stored.
        stored = {a["event"]: a for a in all_alerts(c)}
        for eid, (seq, alert) in acks.items():
            check(stored.get(eid) == alert, "acknowledged alert of %s lost or"
                  " changed after kill -9: %s" % (eid, short(stored.get(eid))))
        rs = pipeline(c, objs)
        for o, r in zip(objs, rs):
            expect_ok(r, "resend %s" % o["id"])
            if o["id"] in acks:
                check(r.get("duplicate") is True and
                      r.get("seq") == acks[o["id"]][0],
                      "resend of acknowledged %s (seq %d): %s"
                      % (o["id"], acks[o["id"]][0], short(r)))
            if r.get("duplicate"):
                check(r.get("alerts") == [], "duplicate with alerts: %s"
                      % short(r))
            else:
                check(len(r["alerts"]) == 1, "%s: %s" % (o["id"], short(r)))
        al = all_alerts(c)
        per_event = {}
        for a in al:
            per_event[a["event"]] = per_event.get(a["event"], 0) + 1
        twice = [e for e, k in per_event.items() if k > 1]
        check(not twice, "alerts raised twice for %d events, e.g. %s"
              % (len(twice), twice[:5]))
        missing = [o["id"] for o in objs if o["id"] not in per_event]
        check(not missing, "no alert for %d events, e.g. %s"
              % (len(missing), missing[:5]))
        check(len(al) == n, "%d alerts, expected %d" % (len(al), n))
        ids = [a["id"] for a in al]
        check(ids == sorted(set(ids)), "alert ids not ascending/unique")


def test_restart_keeps_state(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        r = expect_event_ok(c.request(upsert("P1", {"mental_risk": True},
                                             id="p1", ts=T0)))
        a = r["alerts"][0]
        c.close()
        d.restart()
        c = d.client()
        r = c.request(get("P1"))
        expect_ok(r)
        check(r["entity"]["classes"]["four_color"] == "red", short(r))
        hist = r["entity"]["history"]
        check(len(hist) == 1 and hist[0]["event"] == "p1", "history after "
              "restart: %s" % short(hist))
        check(all_alerts(c) == [a], "alerts after restart")
        # The class is remembered: clearing it raises red -> none.
        r = expect_event_ok(c.request(upsert("P1", {"mental_risk": False},
                                             id="p2", ts=T0 + 1)))
        check(len(r["alerts"]) == 1 and r["alerts"][0]["data"] ==
              {"from": "red", "to": "none"}, "after restart: %s" % short(r))
        check(r["alerts"][0]["id"] > a["id"], "alert ids continue")
        # Durability normal also keeps state across a clean stop.
    with Daemon(ctx, name="normal", durability="normal") as d:
        c = d.client()
        expect_event_ok(c.request(upsert("P2", {"chronic_ill": True},
                                         id="q1", ts=T0)))
        c.close()
        d.restart()
        c = d.client()
        r = c.request(get("P2"))
        expect_ok(r)
        check(r["entity"]["classes"]["four_color"] == "yellow", short(r))


def test_sigterm_removes_socket(ctx):
    d = Daemon(ctx)
    d.start()
    try:
        st = os.stat(d.sock_path)
        check(stat.S_ISSOCK(st.st_mode), "socket path is not a socket")
        check(stat.S_IMODE(st.st_mode) == 0o660, "socket mode %o, expected "
              "660" % stat.S_IMODE(st.st_mode))
        c = d.client()
        expect_ok(c.request(PING))
        # An idle client stays connected over the stop; the daemon still
        # exits promptly.
        d.stop()
        check(not os.path.exists(d.sock_path), "socket file left after "
              "SIGTERM")
        check(c.expect_eof(timeout=5) == b"", "data after stop")
        # SIGINT likewise.
        d.start()
        d.stop(sig=__import__("signal").SIGINT)
        check(not os.path.exists(d.sock_path), "socket file left after "
              "SIGINT")
    finally:
        d.kill9()


def test_second_daemon_refuses(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        expect_event_ok(c.request(upsert("S1", {"age": 88}, id="s1",
                                         ts=T0)))
        second = Daemon(ctx, name="second", sock_path=d.sock_path)
        second.write_config()
        rc, out = run_zhilid(ctx, ["-c", second.conf_path], timeout=15)
        check(rc is not None, "second daemon on a live socket did not exit "
              "within 15 s (it should refuse to start)")
        check(rc > 0, "second daemon on a live socket exited with %s, "
              "expected a non-zero status: %s" % (rc, out[-500:]))
        check(out.strip(), "second daemon refused silently")
        # The first is unaffected and its socket still there.
        check(os.path.exists(d.sock_path), "the second daemon removed the "
              "first one's socket")
        expect_ok(c.request(PING))
        c2 = d.client()
        expect_ok(c2.request(PING), "new connection to the first daemon")


def test_stale_socket_replaced(ctx):
    d = Daemon(ctx)
    # A socket file with nobody listening.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(d.sock_path)
    s.close()
    check(os.path.exists(d.sock_path), "setup")
    with d:
        c = d.client()
        expect_ok(c.request(PING), "daemon started over a stale socket")


def test_regular_file_at_socket_path(ctx):
    d = Daemon(ctx)
    # A regular file at the socket path is not a socket: refuse rather
    # than delete someone's file.
    with open(d.sock_path, "w") as f:
        f.write("precious\n")
    rc, out = run_zhilid(ctx, ["-c", d.conf_path], timeout=15)
    check(rc is not None and rc > 0, "zhilid with a regular file at the "
          "socket path: status %s, expected refusal; %s" % (rc, out[-300:]))
    with open(d.sock_path) as f:
        check(f.read() == "precious\n", "zhilid clobbered a regular file at "
              "the socket path")


def test_kill9_restart_loop(ctx):
    """Repeated kill -9 and restarts keep one consistent history."""
    with Daemon(ctx) as d:
        seen = []
        for round_ in range(4):
            c = d.client()
            for i in range(25):
                k = round_ * 25 + i
                r = expect_event_ok(c.request(upsert(
                    "L-%d" % (k % 5), {"age": 65 + (k * 3) % 30},
                    id="l-%d" % k, ts=T0 + k)))
                seen.extend(r["alerts"])
            c.close()
            d.kill9()
            d.start()
        c = d.client()
        check(all_alerts(c) == seen, "alerts after 4 kill -9 rounds: %s"
              % first_diff(all_alerts(c), seen))
        expect_error(c.request(get("L-9")), "unknown_entity")


def test_sigterm_mid_pipeline(ctx):
    """SIGTERM while a client pipelines: the daemon answers what it read,
    in order, exits 0, and every answered event is there after a restart;
    resending everything completes the set with no alert twice."""
    import signal
    n = 20000
    d = Daemon(ctx)
    d.start()
    try:
        objs = [upsert("G-%d" % i, {"low_income": True}, id="g-%d" % i,
                       ts=T0 + i) for i in range(n)]
        data = b"".join(dumps(o).encode() + b"\n" for o in objs)
        c = d.client(timeout=30)

        def writer():
            try:
                c.sock.sendall(data)
            except OSError:
                pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        acks = {}
        for i in range(500):
            r = expect_event_ok(c.recv(), objs[i]["id"])
            acks[objs[i]["id"]] = r["seq"]
        d.proc.send_signal(signal.SIGTERM)
        i = 500
        rest = c.expect_eof(timeout=30)
        for line in rest.split(b"\n"):
            if not line:
                continue
            from harness import parse_response
            r = parse_response(line)
            expect_event_ok(r, "answer %d after SIGTERM" % i)
            acks[objs[i]["id"]] = r["seq"]
            i += 1
        check(rest == b"" or rest.endswith(b"\n"), "partial answer line "
              "at close: %r" % rest[-100:])
        d.stop(sig=None)        # one SIGTERM, as systemd sends
        import sys
        sys.stderr.write("%d of %d events answered before the close\n"
                         % (i, n))
        t.join(10)
        c.close()
        d.start()
        c = d.client(timeout=60)
        rs = pipeline(c, objs)
        for o, r in zip(objs, rs):
            expect_ok(r, o["id"])
            if o["id"] in acks:
                check(r.get("duplicate") is True and
                      r["seq"] == acks[o["id"]], "answered before SIGTERM, "
                      "%s (seq %d) is not a duplicate now: %s"
                      % (o["id"], acks[o["id"]], short(r)))
        al = all_alerts(c)
        check(len(al) == n and len({a["event"] for a in al}) == n,
              "%d alerts for %d events" % (len(al), n))
    finally:
        d.kill9()


def test_crash_loop_several_clients(ctx):
    """20 cycles: three clients pipeline everything they have (new events
    first, then a resend of all the earlier ones, which may not have been
    applied), the daemon is killed with SIGKILL at a random moment while
    the new events are being answered, and restarted.  In the end every
    acknowledged event and its alert are stored as acknowledged, and no
    event has raised its alert twice."""
    import random
    import time
    rnd = random.Random(20261123)
    first, fresh, clients, cycles = 600, 100, 3, 20
    events = [[] for c in range(clients)]

    def add(c, n):
        """n new events for client c, ahead of its earlier ones: resent
        duplicates come back at once, and a kill among them would find
        nothing in flight."""
        k = len(events[c])
        events[c][:0] = [upsert("K%d-%d" % (c, i), {"key_person": True},
                                id="k%d-%d" % (c, i), ts=T0 + i)
                         for i in range(k, k + n)]
    acked = {}          # event id -> (seq, alert)
    answered = [0] * clients
    lock = threading.Lock()

    def push(d, c):
        answered[c] = 0
        try:
            cl = d.client(timeout=10)
            data = b"".join(dumps(o).encode() + b"\n" for o in events[c])
            cl.sock.sendall(data)
            for o in events[c]:
                r = cl.recv()
                answered[c] += 1
                if not isinstance(r, dict) or r.get("ok") is not True:
                    continue
                with lock:
                    if r.get("duplicate"):
                        check(o["id"] in acked or r["seq"] > 0,
                              "duplicate of %s" % o["id"])
                        if o["id"] in acked:
                            check(r["seq"] == acked[o["id"]][0],
                                  "%s: seq %d, first acked as %d" %
                                  (o["id"], r["seq"], acked[o["id"]][0]))
                    else:
                        check(o["id"] not in acked, "%s applied twice"
                              % o["id"])
                        check(len(r["alerts"]) == 1, short(r))
                        acked[o["id"]] = (r["seq"], r["alerts"][0])
        except Exception:   # the daemon died under us: expected
            pass

    mid = 0             # cycles whose kill came with events unacknowledged
    with Daemon(ctx, durability="full") as d:
        for cycle in range(cycles):
            n = first if cycle == 0 else fresh
            for c in range(clients):
                add(c, n)
            total = sum(len(e) for e in events)
            ts = [threading.Thread(target=push, args=(d, c), daemon=True)
                  for c in range(clients)]
            for t in ts:
                t.start()
            # kill once the clients have had a random share of the answers
            # to their new events: mid-stream whatever the machine's speed
            target = rnd.randint(1, clients * n - 1)
            deadline = time.monotonic() + 30
            while (sum(answered) < target and time.monotonic() < deadline
                   and any(t.is_alive() for t in ts)):
                time.sleep(0.001)
            d.kill9()
            for t in ts:
                t.join(30)
            if 0 < sum(answered) < total:
                mid += 1
            d.start()
        import sys
        sys.stderr.write("%d of %d kills mid-stream, %d events acknowledged "
                         "before the last round\n" % (mid, cycles, len(acked)))
        check(mid >= 3, "only %d kills came mid-stream" % mid)
        # a last round without a kill: everything is applied by now
        ts = [threading.Thread(target=push, args=(d, c), daemon=True)
              for c in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        c = d.client(timeout=60)
        stored = all_alerts(c)
        per_event = {}
        for a in stored:
            per_event.setdefault(a["event"], []).append(a)
        twice = [e for e, v in per_event.items() if len(v) > 1]
        check(not twice, "alerts raised twice: %s" % twice[:5])
        want = sum(len(e) for e in events)
        check(len(stored) == want and len(per_event) == want,
              "stored %d alerts for %d events, want %d" % (
                  len(stored), len(per_event), want))
        for eid, (seq, alert) in acked.items():
            check(per_event.get(eid) == [alert], "acknowledged alert of %s: "
                  "%s, stored %s" % (eid, short(alert),
                                     short(per_event.get(eid))))


@sqlite_only
def test_ack_follows_wal_sync(ctx):
    """durability full: every acknowledgement is written after a sync of
    the WAL that began after the acknowledged event's frames were written.
    strace, attached to all of the daemon's threads, gives the order of
    the WAL writes, the syncs and the answers; one event is in flight at a
    time, so the last WAL write before an answer is its commit's."""
    import re
    import shutil
    import subprocess
    import time
    strace = shutil.which("strace")
    check(strace is not None, "strace is needed (contrib/install-deps.sh)")
    with Daemon(ctx, durability="full") as d:
        c = d.client(timeout=30)
        expect_event_ok(c.request(upsert("S-0", {"age": 71}, id="s-0",
                                         ts=T0)))
        trace = os.path.join(ctx.tmp, "strace.out")
        errf = open(os.path.join(ctx.tmp, "strace.err"), "w+")
        p = subprocess.Popen([strace, "-f", "-y", "-s", "40", "-e",
                              "trace=pwrite64,write,writev,sendmsg,"
                              "fdatasync,fsync", "-o", trace, "-p",
                              str(d.proc.pid)], stderr=errf)
        try:
            deadline = time.monotonic() + 10
            while True:
                errf.seek(0)
                if "attached" in errf.read():
                    break
                check(time.monotonic() < deadline and p.poll() is None,
                      "strace did not attach")
                time.sleep(0.05)
            n = 20
            for i in range(1, n + 1):
                expect_event_ok(c.request(upsert(
                    "S-%d" % i, {"age": 60 + i}, id="s-%d" % i, ts=T0 + i)))
        finally:
            p.send_signal(signal.SIGINT)
            p.wait(10)
            errf.close()
        with open(trace) as f:
            lines = f.read().splitlines()
    # Events in trace order: ("write"|"sync_start"|"sync_end"|"ack", i).
    seq = []
    for ln in lines:
        body = re.sub(r"^\d+\s+", "", ln)  # the thread id
        resumed = body.startswith("<... ")
        if resumed:
            name = body[5:].split(" ", 1)[0]
        else:
            name = body.split("(", 1)[0]
        wal = "-wal>" in body
        if name in ("fdatasync", "fsync") and (wal or resumed):
            if not resumed:
                seq.append("sync_start")
            if resumed or "unfinished" not in body:
                seq.append("sync_end")
        elif name == "pwrite64" and wal and not resumed:
            seq.append("wal_write")
        elif name in ("write", "writev", "sendmsg") and not resumed and \
                "socket:" in body and '\\"seq\\":' in body:
            seq.append("ack")
    acks = [i for i, e in enumerate(seq) if e == "ack"]
    check(len(acks) == n, "%d answers in the trace, want %d: %s"
          % (len(acks), n, seq[:40]))
    prev = 0
    for a in acks:
        window = seq[prev:a]
        check("wal_write" in window, "no WAL write before answer: %s"
              % window)
        last_write = max(i for i, e in enumerate(window) if e == "wal_write")
        after = window[last_write:]
        check("sync_start" in after and "sync_end" in
              after[after.index("sync_start"):],
              "an answer was written before the WAL was synced after its "
              "commit: %s" % window[-12:])
        prev = a + 1


@sqlite_only
def test_wal_bounded_under_load(ctx):
    """A steady stream of commits does not grow the WAL without bound: the
    background checkpoints copy it into the database file while the writer
    goes on, and the WAL starts over.  150,000 households make about 300 MB
    of WAL frames; the WAL file (never truncated, so its size is the most
    it held) stays under 160 MiB, and the database file has grown."""
    import subprocess
    n = 150000
    path = os.path.join(ctx.tmp, "load.ndjson")
    with open(path, "w") as f:
        for i in range(n):
            f.write(dumps(upsert("W-%07d" % i, {"age": 50 + i % 45,
                                                "lives_alone": i % 3 == 0},
                                 id="w-%d" % i, ts=T0 + i)) + "\n")
    with Daemon(ctx, durability="full") as d:
        p = subprocess.run([ctx.zhilictl, "--socket", d.sock_path, "push",
                            path], capture_output=True, timeout=TIMEOUT)
        check(p.returncode == 0, "push failed: %s" % p.stderr[-500:])
        check(("%d accepted" % n).encode() in p.stdout,
              "push: %s" % p.stdout[-200:])
        wal = os.path.getsize(d.db_path + "-wal")
        db = os.path.getsize(d.db_path)
        check(wal < 160 << 20, "WAL is %d MiB after %d events" %
              (wal >> 20, n))
        check(db > 16 << 20, "database file is %d KiB after %d events: "
              "nothing was checkpointed" % (db >> 10, n))
        r = expect_ok(d.client().request(get("W-%07d" % (n - 1))))
        check(r["entity"]["attrs"]["age"] == 50 + (n - 1) % 45,
              "last household: %s" % short(r))
