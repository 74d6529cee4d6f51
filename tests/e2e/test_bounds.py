"""Bounds that hold whatever a client does: commands whose answers are
large, sent in bulk by a client that does not read, are not all answered
into memory at once, and are all answered in order once it reads; a stop
does not wait on such a client for long; refused removes do not grow the
entity cache past limits.entity_cache.

And the protocol's bounds on values (zhilid(8)): ids of 1..256 bytes,
string fields and string attributes of at most 4096 bytes, integer and
decimal fields within their declared ranges; each is accepted at its limit
and refused one past it with a message that says what is wrong.  The
bounds of ts are in test_errors.py, of limits.max_line_bytes in
test_limits.py."""
import os
import signal
import socket
import time

from harness import (T0, Daemon, check, expect_ok, expect_error,
                     expect_event_ok, get, upsert, remove, pipeline, stats,
                     cmd)
from rulesets import shipped_rules
from test_limits import is_asan, rss_kib

MAX_ID_BYTES = 256
MAX_FIELD_BYTES = 4096


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


def too_long(what, n, limit):
    """The message's end for a string of n bytes where limit are allowed."""
    return "%s%d bytes, longer than the %d allowed" % (
        what + ": " if what else "", n, limit)


def test_id_bounds(ctx):
    """Event ids and entity ids: 1..256 bytes (bytes, not characters)."""
    with Daemon(ctx) as d:
        c = d.client()
        at = "\u00e9" * (MAX_ID_BYTES // 2)      # 256 bytes, 128 characters
        expect_event_ok(c.request(upsert("H1", {}, id=at, ts=T0)),
                        "a 256-byte event id")
        expect_event_ok(c.request(upsert(at, {}, id="e-2", ts=T0)),
                        "a 256-byte household id")
        r = expect_ok(c.request(get(at)), "get the 256-byte household")
        check(r["entity"]["id"] == at, "id came back as %r"
              % r["entity"]["id"][:40])
        for v, why in ((at + "x", too_long("", 257, 256)),
                       ("x" * 300, too_long("", 300, 256)),
                       ("", "empty"), (5, "expected string, got number")):
            expect_error(c.request(upsert("H2", {}, id=v, ts=T0)),
                         "bad_event", ("event id %r" % (v,))[:40],
                         message="household.upsert: id: " + why)
            expect_error(c.request(upsert(v, {}, id="e-3", ts=T0)),
                         "bad_event", ("household id %r" % (v,))[:40],
                         message="household.upsert: household: " + why)
        expect_error(c.request(remove("x" * 257, ts=T0)), "bad_event",
                     message="household.remove: " +
                     too_long("household", 257, 256))
        expect_error(c.request(get("H2")), "unknown_entity")


def test_string_field_bounds(ctx):
    """A kind's field (community), a typed string field (category, and
    secretary.score's community) and a string attribute: at most 4096
    bytes; the issue's 20,001-byte community says so."""
    site = os.path.join(ctx.tmp, "site.yaml")
    with open(site, "w") as f:
        f.write(SITE_RULES)
    with Daemon(ctx, rules=shipped_rules(ctx) + [site]) as d:
        c = d.client()
        at = "c" * MAX_FIELD_BYTES
        order = {"type": "work_order.created", "order": "O1",
                 "community": "C1", "grid": "G1", "category": "x", "ts": T0}
        score = {"type": "secretary.score", "secretary": "S1",
                 "community": "C1", "scope": "J1", "period": "2026H1",
                 "part": "street", "score": 80, "ts": T0}
        expect_event_ok(c.request(upsert("H1", {}, ts=T0, community=at)))
        expect_event_ok(c.request(dict(order, category=at)))
        expect_event_ok(c.request(dict(score, community=at)))
        expect_event_ok(c.request({"type": "site.upsert", "site": "S1",
                                   "ts": T0, "attrs": {"note": at}}))
        for n in (MAX_FIELD_BYTES + 1, 20001):
            v = "c" * n
            expect_error(c.request(upsert("H2", {}, ts=T0, community=v)),
                         "bad_event", message="household.upsert: " +
                         too_long("community", n, 4096))
            expect_error(c.request(dict(order, order="O2", category=v)),
                         "bad_event", message="work_order.created: " +
                         too_long("category", n, 4096))
            expect_error(c.request(dict(score, secretary="S2",
                                        community=v)),
                         "bad_event", message="secretary.score: " +
                         too_long("community", n, 4096))
            expect_error(c.request({"type": "site.upsert", "site": "S2",
                                    "attrs": {"note": v}}),
                         "bad_event", message="site.upsert: " +
                         too_long("attrs.note", n, 4096))
        expect_error(c.request({"type": "site.upsert", "site": "S2",
                                "attrs": {"note": 5}}), "bad_event",
                     message="site.upsert: attrs.note: expected string, "
                     "got number")
        expect_error(c.request(dict(upsert("H2", {}, ts=T0),
                                    community=None)),
                     "bad_event", message="household.upsert: community: "
                     "expected string, got null")
        # empty strings are values, not missing ones
        expect_event_ok(c.request(upsert("H3", {}, ts=T0, community="")))
        for k in ("H2", "O2", "S2"):
            kind = {"H": "household", "O": "order", "S": "secretary"}[k[0]]
            expect_error(c.request(get(k, kind=kind)), "unknown_entity")


# A kind with a string attribute: no shipped rule file declares one.
SITE_RULES = """\
kind: site
fields: [zone]
attributes:
  note: string
  level: int
events:
  site.upsert: upsert
rules:
  site.class:
    classify:
      - class: high
        severity: warning
        when: level >= 5
      - class: none
        severity: info
    alert: site.changed
    message: "{site} {note}"
"""


def test_number_field_bounds(ctx):
    """An integer field (stars, 1..5) and a decimal one (score, 0..100):
    accepted at both ends, refused one past each with the value."""
    with Daemon(ctx, rules=shipped_rules(ctx)) as d:
        c = d.client()
        stars = {"type": "secretary.stars", "secretary": "S1",
                 "community": "C1", "period": "2026H1", "ts": T0}
        score = {"type": "secretary.score", "secretary": "S1",
                 "community": "C1", "scope": "J1", "period": "2026H1",
                 "part": "street", "ts": T0}
        for n in (1, 5):
            expect_event_ok(c.request(dict(stars, stars=n)), "stars %d" % n)
        for n in (0, 100):
            expect_event_ok(c.request(dict(score, score=n)), "score %d" % n)
        want = "secretary.stars: stars: expected an integer in 1..5, got "
        for v, got in ((0, "0"), (6, "6"), (2.5, "a fraction"),
                       (1e300, "an out of range number"), ("5", "string")):
            expect_error(c.request(dict(stars, stars=v)), "bad_event",
                         "stars %r" % (v,), message=want + got)
        want = "secretary.score: score: expected a number in 0..100, got "
        for v, got in ((-0.000001, "-0.000001"),
                       (100.000001, "100.000001")):
            expect_error(c.request(dict(score, score=v)), "bad_event",
                         "score %r" % (v,), message=want + got)
