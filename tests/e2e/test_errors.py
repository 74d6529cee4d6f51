"""Every error code of zhilid(8) that the four-colour daemon can
give. After each error the same connection carries on, and nothing of the
bad line is applied: the next good event takes the next seq, the household
it named is unknown, and the counters of events and alerts do not move."""

import os

from harness import (PING, T0, Daemon, check, dumps, expect_error,
                     expect_event_ok, expect_ok, get, remove, short, stats,
                     upsert)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

GOOD = dumps(upsert("X", {"key_person": True}, id="x", ts=T0))


class Probe:
    """Sends bad lines on one connection and checks that nothing changed."""

    def __init__(self, d):
        self.c = d.client()
        self.n = 0
        r = expect_event_ok(self.c.request(upsert("BASE", {}, id="base",
                                                  ts=T0)))
        self.seq = r["seq"]
        self.stats = stats(self.c)

    def bad(self, line, code, mentions=None, household=None):
        """line (bytes/str/dict) must get error code; then check that the
        connection works and nothing was applied."""
        self.n += 1
        what = "line %s" % short(line if not isinstance(line, bytes)
                                 else repr(line), 200)
        if isinstance(line, dict):
            line = dumps(line)
        r = self.c.request(line)
        expect_error(r, code, what, mentions)
        if household is not None:
            r = self.c.request(get(household))
            expect_error(r, "unknown_entity", "after %s, get %s" %
                         (what, household))
        r = self.c.request(PING)
        expect_ok(r, "ping after %s" % what)
        check(isinstance(r.get("version"), str) and r["version"],
              "ping answer without version: %s" % short(r))
        return r

    def settle(self):
        """A good event takes the very next seq; counters of events and
        alerts are unchanged by the bad lines."""
        s = stats(self.c)
        check(s["events"] == self.stats["events"],
              "stats.events moved on bad lines: %d -> %d"
              % (self.stats["events"], s["events"]))
        check(s["alerts"] == self.stats["alerts"],
              "stats.alerts moved on bad lines: %d -> %d"
              % (self.stats["alerts"], s["alerts"]))
        check(self.n == 0 or s["errors"] > self.stats["errors"],
              "stats.errors should grow after %d errors: %d -> %d"
              % (self.n, self.stats["errors"], s["errors"]))
        r = expect_event_ok(self.c.request(upsert(
            "AFTER-%d" % self.seq, {}, id="after-%d" % self.seq,
            ts=T0 + 1)))
        check(r["seq"] == self.seq + 1, "the next good event should take seq"
              " %d (bad lines must not enter the event log), got %d"
              % (self.seq + 1, r["seq"]))
        self.seq = r["seq"]
        self.stats = stats(self.c)
        self.n = 0


def test_bad_json(ctx):
    with Daemon(ctx) as d:
        p = Probe(d)
        ev = GOOD.encode()
        cases = [
            ev + b" x",                       # trailing bytes
            ev + b"{}",                       # two values
            ev + b" " + ev,
            ev + b"]",
            ev[:-1],                          # truncated
            b'{"type":"household.upsert","household":"X",',
            b"{'cmd':'ping'}",                # not JSON
            b"{cmd:ping}",
            b'{"cmd":"ping",}',               # trailing comma
            b"nope",
            b'{"cmd":"ping"}\x00',            # raw NUL after the value
            b'\x00{"cmd":"ping"}',
            ev.replace(b'"X"', b'"X\x00Y"'),  # raw NUL inside a string
            ev.replace(b'"X"', b'"X\x01Y"'),  # raw control character
            ev.replace(b'"X"', b'"X\tY"'),
            ev.replace(b'"X"', b'"X\xffY"'),  # invalid UTF-8
            ev.replace(b'"X"', b'"X\xc0\xafY"'),      # overlong
            ev.replace(b'"X"', b'"X\xed\xa0\x80Y"'),  # UTF-8 surrogate
            ev.replace(b'"X"', b'"X\xe4\xb8Y"'),      # truncated sequence
            ev.replace(b'"X"', b'"X\xf8\x88\x80\x80\x80"'),
            ev.replace(b'"X"', b'"X\\qY"'),   # bad escape
            ev.replace(b'"X"', b'"X\\u12G4"'),
            ev.replace(b'"X"', b'"X\\u12"'),
            ev.replace(b'"X"', b'"X\\x41"'),
            ev.replace(b'"X"', b'"X\\\'"'),
            b'{"cmd":"ping","n":01}',         # bad numbers
            b'{"cmd":"ping","n":1.}',
            b'{"cmd":"ping","n":NaN}',
            b'{"cmd":"ping","n":+1}',
            b'{"cmd":"ping","n":True}',
        ]
        for line in cases:
            p.bad(line, "bad_json", household="X")
        p.settle()


def test_bad_event(ctx):
    with Daemon(ctx) as d:
        p = Probe(d)
        ok = upsert("X", {"key_person": True}, id="x", ts=T0 + 10)
        # Not an object.
        for line in ("[1,2]", '"household.upsert"', "42", "null", "true",
                     '[{"cmd":"ping"}]'):
            p.bad(line, "bad_event")
        # Neither or both of type and cmd.
        p.bad("{}", "bad_event")
        p.bad({"household": "X", "attrs": {}}, "bad_event", household="X")
        p.bad(dict(ok, cmd="ping"), "bad_event", household="X")
        p.bad({"cmd": "ping", "type": "household.upsert"}, "bad_event")
        # A repeated key, at the top and nested.
        p.bad('{"cmd":"ping","cmd":"ping"}', "bad_event")
        p.bad('{"type":"household.upsert","household":"X","household":"Y",'
              '"community":"C1","grid":"G1","attrs":{"key_person":true}}',
              "bad_event", household="X")
        p.bad('{"type":"household.upsert","household":"X","community":"C1",'
              '"grid":"G1","attrs":{"age":3,"age":90}}', "bad_event",
              household="X")
        p.settle()
        # Missing or mistyped fields.
        miss = dict(ok)
        del miss["household"]
        p.bad(miss, "bad_event", "household")
        p.bad(dict(ok, household=17), "bad_event", "household",
              household="17")
        p.bad(dict(ok, household=None), "bad_event", "household")
        p.bad(dict(ok, attrs=[]), "bad_event", "attrs", household="X")
        p.bad(dict(ok, attrs="key_person"), "bad_event", "attrs",
              household="X")
        p.bad(dict(ok, attrs={"age": "80"}), "bad_event", "attrs.age",
              household="X")
        p.bad(dict(ok, attrs={"age": 80.5, "lives_alone": True}),
              "bad_event", "attrs.age", household="X")
        p.bad(dict(ok, attrs={"age": True}), "bad_event", "attrs.age",
              household="X")
        p.bad(dict(ok, attrs={"key_person": 1}), "bad_event",
              "attrs.key_person", household="X")
        p.bad(dict(ok, attrs={"key_person": "true"}), "bad_event",
              "attrs.key_person", household="X")
        p.bad(dict(ok, attrs={"key_person": None}), "bad_event",
              "attrs.key_person", household="X")
        # An unknown attribute, alone and beside good ones.
        p.bad(dict(ok, attrs={"keyperson": True}), "bad_event", "keyperson",
              household="X")
        p.bad(dict(ok, attrs={"key_person": True, "colour": "red"}),
              "bad_event", "colour", household="X")
        p.bad(remove("X", id="rm-bad", ts=T0) | {"household": 5},
              "bad_event", "household")
        p.settle()
        # Timestamps: integers in 0..253402300799, RFC 3339 with offset.
        for ts in (-1, 253402300800, 10 ** 20, 1.5, "1767196800", True,
                   "2026-13-01T00:00:00+08:00", "2026-02-30T00:00:00+08:00",
                   "2026-01-01T24:00:01+08:00", "2026-01-01T00:00:00",
                   "2026-01-01 00:00:00+08:00", "2026-01-01", "yesterday",
                   "", "2026-01-01T00:00:00+8", "10000-01-01T00:00:00Z",
                   [T0], {"s": T0}):
            p.bad(dict(ok, ts=ts), "bad_event", "ts", household="X")
        # The id must be a string (or absent).
        p.bad(dict(ok, id=5), "bad_event", "id", household="X")
        p.settle()
        # Commands with missing or mistyped fields.
        p.bad({"cmd": "get", "kind": "household"}, "bad_event")
        p.bad({"cmd": "get", "kind": "household", "id": 7}, "bad_event")
        p.bad({"cmd": "alerts", "limit": "ten"}, "bad_event")
        p.bad({"cmd": "alerts", "rule": 5}, "bad_event")
        p.settle()


def test_timestamp_bounds(ctx):
    """ts in 0..253402300799: accepted at both ends, refused one past each
    with the range in the message."""
    with Daemon(ctx) as d:
        c = d.client()
        for i, ts in enumerate((0, 1, "1970-01-01T08:00:00+08:00",
                                "2026-06-30T23:59:59.5+08:00",
                                253402300799, "9999-12-31T23:59:59Z")):
            expect_event_ok(c.request(upsert("TS-%d" % i, {}, id="ts-%d" % i,
                                             ts=ts)), "ts %r" % (ts,))
        for ts in (-1, 253402300800):
            expect_error(c.request(upsert("TS-X", {}, ts=ts)), "bad_event",
                         "ts %r" % ts, message="household.upsert: ts: "
                         "expected RFC 3339 with offset or Unix seconds in "
                         "0..253402300799")


def test_unknown_type(ctx):
    with Daemon(ctx) as d:
        p = Probe(d)
        p.bad({"type": "household.explode", "household": "X"},
              "unknown_type", household="X")
        p.bad({"type": "Household.Upsert", "household": "X", "attrs": {}},
              "unknown_type", household="X")
        p.bad({"type": "", "household": "X"}, "unknown_type")
        p.bad({"cmd": "frobnicate"}, "unknown_type")
        p.bad({"cmd": "PING"}, "unknown_type")
        p.settle()


def test_unknown_entity(ctx):
    with Daemon(ctx) as d:
        p = Probe(d)
        p.bad(get("NOBODY"), "unknown_entity")
        p.bad(get("base "), "unknown_entity")
        p.bad(get("BASE".lower()), "unknown_entity")
        r = p.c.request(get("BASE"))
        expect_ok(r, "get BASE")
        p.settle()


def test_too_large(ctx):
    with Daemon(ctx) as d:
        p = Probe(d)
        big = dumps(upsert("X", {"key_person": True}, id="big", ts=T0)).\
            replace('"X"', '"X","pad":"%s"' % ("a" * 70000))
        p.bad(big, "too_large", household="X")
        # Longer than the socket buffers, in one write.
        p.bad("[" * 3000000, "too_large")
        # Longer than the limit even though it would be bad JSON anyway.
        p.bad(b"\xff" * 70000, "too_large")
        p.settle()


def test_forbidden(ctx):
    uid = os.getuid()
    with Daemon(ctx, access=["{uid: %d, roles: [read]}" % uid]) as d:
        c = d.client()
        expect_ok(c.request(PING))
        s0 = stats(c)
        r = c.request(upsert("X", {"key_person": True}, id="f1", ts=T0))
        expect_error(r, "forbidden", "event without the push role")
        r = c.request(remove("X", id="f2", ts=T0))
        expect_error(r, "forbidden", "remove without the push role")
        expect_error(c.request(get("X")), "unknown_entity")
        expect_ok(c.request({"cmd": "alerts"}))
        s1 = stats(c)
        check(s1["events"] == s0["events"], "forbidden event was counted "
              "as an event")
    with Daemon(ctx, name="other",
                access=["{uid: %d, roles: [push, read, admin]}"
                        % (uid + 4242)]) as d:
        c = d.client()
        expect_error(c.request(PING), "forbidden", "ping with no role")
        expect_error(c.request(upsert("X", {}, id="f3", ts=T0)), "forbidden")
        expect_error(c.request(get("X")), "forbidden")


def test_blank_lines(ctx):
    """Empty and all-blank lines are not requests and get no response."""
    with Daemon(ctx) as d:
        c = d.client()
        for blank in (b"\n", b"   \n", b"\t\n", b" \t  \t\n", b"\r\n",
                      b"  \r\n", b"\n\n\n"):
            c.send_raw(blank)
            c.send_line(dumps(get("MISSING")))
            c.send_line(dumps(PING))
            expect_error(c.recv(), "unknown_entity",
                         "first answer after blank line %r" % blank)
            r = expect_ok(c.recv(), "second answer after blank line %r"
                          % blank)
            check("version" in r, "expected the ping answer: %s" % short(r))
        c.send_raw(b"\n  \n\t\n")
        c.no_response(0.5)
        # Blank lines between pipelined requests.
        c.send_raw(b'\n{"cmd":"ping"}\n\n  \n' + dumps(get("M2")).encode() +
                   b"\n \n")
        expect_ok(c.recv())
        expect_error(c.recv(), "unknown_entity")
        c.no_response(0.3)


def test_crlf(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        c.send_raw(b'{"cmd":"ping"}\r\n')
        expect_ok(c.recv(), "ping with CRLF")
        c.send_raw(dumps(upsert("CR1", {"key_person": True}, id="cr1",
                                ts=T0)).encode() + b"\r\n")
        r = expect_event_ok(c.recv(), "event with CRLF")
        check(len(r["alerts"]) == 1, "one alert: %s" % short(r))
        c.send_raw(dumps(get("CR1")).encode() + b"\r\n" +
                   b'{"cmd":"ping"}\r\n')
        r = expect_ok(c.recv(), "get with CRLF")
        check(r["entity"]["classes"]["four_color"] == "red",
              "get: %s" % short(r))
        expect_ok(c.recv())
        # Only a CR right before the newline is dropped; another CR is JSON
        # whitespace.
        c.send_raw(b'{"cmd":"ping"}\r\r\n')
        expect_ok(c.recv(), "CR CR LF")
        c.send_raw(b'{"cmd":"ping"}\r{"cmd":"ping"}\n')
        expect_error(c.recv(), "bad_json", "CR inside a line")
        expect_ok(c.request(PING))
