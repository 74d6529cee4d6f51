"""Idempotency: an event whose id was already accepted is answered
{"ok":true,"seq":ORIGINAL,"duplicate":true,"alerts":[]} and changes
nothing, whatever else the resent line says."""

from harness import (T0, Daemon, all_alerts, check, dumps, expect_event_ok,
                     expect_ok, get_entity, pipeline, remove, short, stats,
                     upsert)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def expect_duplicate(r, seq, what=""):
    expect_ok(r, what)
    check(r.get("duplicate") is True, "%s: expected duplicate:true, got %s"
          % (what, short(r)))
    check(r.get("seq") == seq, "%s: duplicate should carry the original seq "
          "%d, got %s" % (what, seq, short(r)))
    check(r.get("alerts") == [], "%s: duplicate with alerts: %s"
          % (what, short(r)))


def test_resend_same(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        ev = upsert("D1", {"key_person": True}, id="dup-1", ts=T0)
        r = expect_event_ok(c.request(ev))
        seq = r["seq"]
        check(len(r["alerts"]) == 1, "first send raises one alert: %s"
              % short(r))
        before = get_entity(c, "D1")
        s0 = stats(c)
        for i in range(3):
            expect_duplicate(c.request(ev), seq, "resend %d" % i)
        s1 = stats(c)
        check(s1["duplicates"] - s0["duplicates"] == 3,
              "stats.duplicates should grow by 3: %d -> %d"
              % (s0["duplicates"], s1["duplicates"]))
        check(s1["alerts"] == s0["alerts"], "stats.alerts moved")
        check(get_entity(c, "D1") == before, "state changed by a duplicate")
        check(len(all_alerts(c)) == 1, "one alert in total")
        # From another connection too.
        c2 = d.client()
        expect_duplicate(c2.request(ev), seq, "resend on another connection")
        # The next new event takes a new seq after it.
        r = expect_event_ok(c.request(upsert("D2", {}, id="dup-2",
                                             ts=T0 + 1)))
        check(r["seq"] > seq, "new seq after duplicates")


def test_resend_different_content(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        r = expect_event_ok(c.request(upsert("D1", {"key_person": True},
                                             id="same", ts=T0)))
        seq = r["seq"]
        before = get_entity(c, "D1")
        variants = [
            upsert("D1", {"key_person": False}, id="same", ts=T0),
            upsert("D1", {"key_person": False, "age": 30}, id="same",
                   ts=T0 + 999),
            upsert("D9", {"mental_risk": True}, id="same", ts=T0),
            remove("D1", id="same", ts=T0 + 5),
        ]
        for v in variants:
            expect_duplicate(c.request(v), seq, "resend as %s" % dumps(v))
        check(get_entity(c, "D1") == before, "state changed by a duplicate "
              "with other content")
        from harness import get, expect_error
        expect_error(c.request(get("D9")), "unknown_entity",
                     "household of a duplicate was created")
        check(len(all_alerts(c)) == 1, "one alert in total")


def test_duplicate_within_batch(ctx):
    """The same id twice in one pipelined write (one group commit): the
    second is a duplicate of the first."""
    with Daemon(ctx) as d:
        c = d.client()
        objs = []
        for i in range(50):
            objs.append(upsert("B-%d" % i, {"mental_risk": True},
                               id="b-%d" % i, ts=T0 + i))
            objs.append(upsert("B-%d" % i, {"mental_risk": False,
                                            "age": 99},
                               id="b-%d" % i, ts=T0 + i))
        rs = pipeline(c, objs)
        for i in range(50):
            first, second = rs[2 * i], rs[2 * i + 1]
            expect_event_ok(first, "b-%d first" % i)
            check(len(first["alerts"]) == 1, "b-%d first: %s"
                  % (i, short(first)))
            expect_duplicate(second, first["seq"], "b-%d second" % i)
        for i in (0, 49):
            e = get_entity(c, "B-%d" % i)
            check(e["classes"]["four_color"] == "red", "B-%d: %s"
                  % (i, short(e)))
        check(len(all_alerts(c)) == 50, "50 alerts")


def test_events_without_id_are_not_deduplicated(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        ev = upsert("N1", {"age": 20}, ts=T0)
        r1 = expect_event_ok(c.request(ev))
        r2 = expect_event_ok(c.request(ev))
        check(r2["seq"] > r1["seq"], "two events without id: %s %s"
              % (short(r1), short(r2)))


def test_ids_are_distinct_per_string(ctx):
    """Ids that differ only in case, whitespace or Unicode form are
    different ids."""
    with Daemon(ctx) as d:
        c = d.client()
        seqs = set()
        for i, eid in enumerate(["k", "K", "k ", " k", "\u00e9", "e\u0301",
                                 "\u4e8b\u4ef6-1", "k\\u0000"]):
            r = expect_event_ok(c.request(upsert("I-%d" % i, {}, id=eid,
                                                 ts=T0)), "id %r" % eid)
            check(r["seq"] not in seqs, "seq reused")
            seqs.add(r["seq"])
        # An id with an escaped NUL is not the id cut at the NUL: either
        # refused as bad_event or a new event.
        r = c.request(upsert("I-nul", {}, id="k\u0000x", ts=T0))
        if r.get("ok") is not True:
            from harness import expect_error
            expect_error(r, "bad_event", "id with U+0000")
        else:
            check(r.get("duplicate") is not True and r["seq"] not in seqs,
                  "id \"k\\u0000x\" was taken for id \"k\": %s" % short(r))
