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
