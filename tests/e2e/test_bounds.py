"""Bounds that hold whatever a client does: commands whose answers are
large, sent in bulk by a client that does not read, are not all answered
into memory at once, and are all answered in order once it reads; a stop
does not wait on such a client for long; refused removes do not grow the
entity cache past limits.entity_cache."""
import signal
import socket
import time

from harness import (Daemon, check, expect_ok, expect_error, upsert, remove,
                     pipeline, stats, cmd)
from test_limits import is_asan, rss_kib


def fill_alerts(c, n):
    """n households, each raising one alert."""
    lines = [upsert("H%d" % i, {"key_person": True}, id="f-%d" % i,
                    ts=1767196800 + i) for i in range(n)]
    for r in pipeline(c, lines):
        expect_ok(r)


def test_big_answers_are_not_read_ahead(ctx):
    with Daemon(ctx, limits={"max_output_bytes": 1 << 20}) as d:
        c = d.client(timeout=60)
        fill_alerts(c, 2000)
        base = rss_kib(d.proc.pid)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock_path)
        n = 300
        line = b'{"cmd":"alerts","limit":10000}\n'
        s.sendall(line * n)
        time.sleep(1.5)
        d.check_alive()
        grown = rss_kib(d.proc.pid) - base
        check(is_asan(ctx.zhilid) or grown < 48 * 1024,
              "RSS grew by %d KiB answering %d unread alerts commands"
              % (grown, n))
        # now read: every command is answered, in order, with 2000 alerts
        s.settimeout(30)
        f = s.makefile("rb")
        import json
        for i in range(n):
            r = json.loads(f.readline())
            check(r.get("ok") is True and len(r["alerts"]) == 2000,
                  "answer %d: %s" % (i, str(r)[:200]))
        s.close()
        expect_ok(c.request(cmd("ping")))


def test_stop_does_not_wait_long_on_a_client(ctx):
    d = Daemon(ctx, limits={"max_output_bytes": 1 << 20})
    d.start()
    c = d.client(timeout=60)
    fill_alerts(c, 2000)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.sock_path)
    s.sendall(b'{"cmd":"alerts","limit":10000}\n' * 20)
    time.sleep(1)
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    rc = d.proc.wait(timeout=60)
    took = time.monotonic() - t0
    s.close()
    check(rc == 0, "exit status %d" % rc)
    check(took < 15, "stopping took %.1f s with a client not reading" % took)


def test_refused_removes_keep_the_cache_bounded(ctx):
    with Daemon(ctx, limits={"entity_cache": 100}) as d:
        c = d.client(timeout=60)
        n = 1500
        for r in pipeline(c, [upsert("H%d" % i, {"age": 1}, id="u-%d" % i,
                                     ts=1767196800) for i in range(n)]):
            expect_ok(r)
        for r in pipeline(c, [remove("H%d" % i, id="r-%d" % i,
                                     ts=1767196801) for i in range(n)]):
            expect_ok(r)
        d.stop()
        d.start()
        c = d.client(timeout=60)
        for r in pipeline(c, [remove("H%d" % i, ts=1767196802)
                              for i in range(n)]):
            expect_error(r, "unknown_entity")
        cached = stats(c)["entities_cached"]
        check(cached <= 200, "entities_cached %d with entity_cache 100"
              % cached)


def test_million_events_from_a_client_that_does_not_read(ctx):
    """1,000,000 pipelined events from a client that reads nothing for a
    while: the daemon stops reading from it, its RSS stays under 128 MiB,
    other clients are served meanwhile, and once it reads, every event is
    answered in order (100,000 under ASan, whose RSS means nothing)."""
    import json
    import threading
    asan = is_asan(ctx.zhilid)
    n = 100000 if asan else 1000000
    with Daemon(ctx, clock="wall", durability="normal") as d:
        other = d.client(timeout=60)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock_path)
        sent = [0]

        def writer():
            tmpl = ('{"type":"household.upsert","id":"m-%d","household":'
                    '"M%d","community":"C1","grid":"G1","attrs":{"age":%d}}'
                    '\n')
            buf = []
            for i in range(n):
                buf.append(tmpl % (i, i, i % 100))
                if len(buf) == 2000:
                    s.sendall("".join(buf).encode())
                    sent[0] += len(buf)
                    buf = []
            if buf:
                s.sendall("".join(buf).encode())
                sent[0] += len(buf)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(3)
        stalled = sent[0]
        check(stalled < n, "the daemon read all %d events of a client that "
              "reads nothing" % n)
        peak = rss_kib(d.proc.pid)
        expect_ok(other.request(cmd("ping")), "another client, meanwhile")
        # now read everything, watching the daemon's memory
        f = s.makefile("rb")
        s.settimeout(120)
        for i in range(n):
            line = f.readline()
            if i % 50000 == 0:
                peak = max(peak, rss_kib(d.proc.pid))
            r = json.loads(line)
            if r.get("ok") is not True or r.get("seq") is None:
                check(False, "answer %d: %s" % (i, line[:200]))
        t.join(60)
        peak = max(peak, rss_kib(d.proc.pid))
        import sys
        sys.stderr.write("%d events, stalled at %d sent, peak RSS %d KiB\n"
                         % (n, stalled, peak))
        check(asan or peak < 128 * 1024, "peak RSS %d KiB" % peak)
        r = other.request(cmd("stats"))
        check(r["stats"]["events"] == n, "events: %r" % r["stats"])
        s.close()
