"""Work orders (zhilid.rules(5)) through the socket: the 3-hour claim
deadline and the end-of-local-day deadline, their edges (exactly at the
deadline is in time), closing ending both, several timers firing in
deadline order within one clock.tick, unknown orders, and deadlines that
survive kill -9 (event clock) and a stop (wall clock)."""

import time

from harness import (T0, Seq, all_alerts, check, event, expect_error, iso,
                     parse_ts, short)
from rulesets import (HOUR, check_timer_alert, check_ts_order, daemon,
                      expect_keys, send)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

TIMEOUT = 120


def at(day, h, m=0, s=0):
    """Unix seconds of local time h:m:s on 2026-01-01 + day (+08:00)."""
    return T0 + day * 86400 + h * 3600 + m * 60 + s


class Orders:
    """Sends work-order events with fresh ids; every accepted response's
    alerts are kept in .seen, in order."""

    def __init__(self, c):
        self.c = c
        self.seq = Seq("wo")
        self.seen = []

    def send(self, type, ts, **fields):
        eid = self.seq.next()[0]
        ev = event(type, id=eid, **fields)
        if ts is not None:
            ev["ts"] = ts
        alerts = send(self.c, ev)
        self.seen.extend(alerts)
        return alerts

    def created(self, order, ts):
        return self.send("work_order.created", ts, order=order,
                         community="C1", grid="G1", category="环境卫生")

    def claimed(self, order, ts, by="W-1"):
        return self.send("work_order.claimed", ts, order=order, by=by)

    def closed(self, order, ts):
        return self.send("work_order.closed", ts, order=order)

    def tick(self, ts):
        return self.send("clock.tick", ts)

    def quiet(self, alerts, what):
        check(alerts == [], "%s: no alert expected, got %s"
              % (what, short(alerts, 900)))


def parse(a):
    return parse_ts(a["ts"])


def check_unclaimed(a, order, created):
    due = created + 3 * HOUR
    return check_timer_alert(a, "work_order.unclaimed", "warning", "order",
                             order, due, {"deadline": iso(due)},
                             what="unclaimed " + order)


def check_overdue(a, order, midnight):
    return check_timer_alert(a, "work_order.overdue", "warning", "order",
                             order, midnight, {"deadline": iso(midnight)},
                             what="overdue " + order)


def test_work_order_claim_at_3h(ctx):
    with daemon(ctx) as d:
        w = Orders(d.client())
        t = at(0, 10)
        for o in ("O1", "O2", "O3"):
            w.quiet(w.created(o, t), "create " + o)
        w.quiet(w.claimed("O1", t + 10800), "claim exactly at 3 h")
        w.quiet(w.closed("O3", t + 10800), "close exactly at 3 h")
        # one second late: the timer fires in the claim's own response
        alerts = w.claimed("O2", t + 10801)
        expect_keys(alerts, [("work_order.unclaimed", "O2")], "late claim")
        check_unclaimed(alerts[0], "O2", t)
        # a claim does not end the overdue deadline; O3 was closed
        w.quiet(w.tick(at(1, 0)), "tick exactly at midnight")
        alerts = w.tick(at(1, 0, 0, 1))
        expect_keys(alerts, [("work_order.overdue", "O1"),
                             ("work_order.overdue", "O2")], "past midnight")
        for a in alerts:
            check_overdue(a, a["entity"], at(1, 0))
        w.quiet(w.tick(at(3, 0)), "later tick")
        check(all_alerts(w.c) == w.seen, "stored alerts differ")


def test_work_order_close_ends_both(ctx):
    with daemon(ctx) as d:
        w = Orders(d.client())
        w.created("A", at(0, 10))
        w.quiet(w.closed("A", at(0, 10, 30)), "close A unclaimed")
        w.created("B", at(0, 11))
        w.claimed("B", at(0, 11, 30))
        w.quiet(w.closed("B", at(0, 20)), "close B")
        w.created("C", at(0, 22))
        w.created("D", at(0, 22, 10))
        w.claimed("C", at(0, 22, 30))
        w.quiet(w.closed("D", at(0, 23)), "close D unclaimed")
        # exactly at midnight is still in time
        w.quiet(w.closed("C", at(1, 0)), "close C at midnight")
        w.quiet(w.tick(at(2, 12)), "tick after every deadline")
        check(w.seen == [] and all_alerts(w.c) == [], "no alerts expected")


def test_work_order_created_at_2359(ctx):
    """Overdue at the next local midnight after creation: 23:59:00 gives
    00:00:00 the next day; 00:00:00 exactly gives the midnight after."""
    with daemon(ctx) as d:
        w = Orders(d.client())
        t = at(0, 23, 59)
        check(iso(t) == "2026-01-01T23:59:00+08:00", "test epoch")
        w.quiet(w.created("N1", iso(t)), "create N1 (RFC 3339 ts)")
        w.quiet(w.tick(at(1, 0)), "tick at midnight")
        w.quiet(w.created("N2", "2026-01-02T00:00:00+08:00"), "create N2")
        alerts = w.tick(at(1, 0, 0, 1))
        expect_keys(alerts, [("work_order.overdue", "N1")], "00:00:01")
        check_overdue(alerts[0], "N1", at(1, 0))
        check(alerts[0]["data"]["deadline"] == "2026-01-02T00:00:00+08:00",
              "deadline text: %s" % short(alerts[0]))
        w.quiet(w.claimed("N1", at(1, 1)), "claim N1 in time")
        w.quiet(w.claimed("N2", at(1, 1)), "claim N2 in time")
        w.quiet(w.tick(at(1, 4)), "claimed: no unclaimed alerts")
        w.quiet(w.tick(at(2, 0)), "N2 exactly at its midnight")
        alerts = w.tick(at(2, 0, 0, 1))
        expect_keys(alerts, [("work_order.overdue", "N2")], "N2 overdue")
        check_overdue(alerts[0], "N2", at(2, 0))
        w.quiet(w.tick(at(5, 0)), "nothing fires twice")


def test_work_order_deadlines_in_order(ctx):
    """Eleven deadlines passed by one clock.tick come back in deadline
    order, the timers of several orders interleaved."""
    with daemon(ctx) as d:
        w = Orders(d.client())
        made = {"A": at(0, 18, 40), "B": at(0, 19), "F": at(0, 19, 30),
                "G": at(0, 19, 45), "C": at(0, 20), "D": at(0, 21, 20),
                "E": at(0, 21, 30)}
        steps = sorted([(t, "c", o) for o, t in made.items()] +
                       [(at(0, 20, 30), "claim", "F"),
                        (at(0, 21), "close", "G")])
        for t, what, o in steps:
            if what == "c":
                # alternate the two timestamp forms
                w.quiet(w.created(o, iso(t) if o in "BDF" else t), o)
            elif what == "claim":
                w.quiet(w.claimed(o, t), "claim " + o)
            else:
                w.quiet(w.closed(o, t), "close " + o)
        alerts = w.tick(at(1, 1))
        want = sorted([(made[o] + 3 * HOUR, "work_order.unclaimed", o)
                       for o in "ABCDE"] +
                      [(at(1, 0), "work_order.overdue", o) for o in "ABCDEF"])
        got = sorted((parse(a), a["rule"], a["entity"]) for a in alerts)
        check(got == want, "one tick: expected %s, got %s" % (want, got))
        check_ts_order(alerts, "one tick")
        check([a["entity"] for a in alerts[:3]] == ["A", "B", "C"] and
              [a["entity"] for a in alerts[-2:]] == ["D", "E"],
              "deadline order: %s" % [(a["ts"], a["rule"], a["entity"])
                                      for a in alerts])
        for a in alerts:
            if a["rule"] == "work_order.unclaimed":
                check_unclaimed(a, a["entity"], made[a["entity"]])
            else:
                check_overdue(a, a["entity"], at(1, 0))
        w.quiet(w.tick(at(3, 0)), "nothing fires twice")


def test_work_order_unknown_order(ctx):
    with daemon(ctx) as d:
        w = Orders(d.client())
        t = at(0, 9)
        for i, (type, extra) in enumerate((("work_order.claimed",
                                            {"by": "W-1"}),
                                           ("work_order.closed", {}))):
            r = w.c.request(event(type, id="nope-%d" % i, ts=t - 60 + i,
                                  order="NOPE", **extra))
            expect_error(r, "unknown_entity", type + " of an unknown order")
        r = w.c.request(event("work_order.created", id="nope-3", ts=t,
                              community="C1", grid="G1", category="x"))
        expect_error(r, "bad_event", "created without order")
        # the refused claim and close did not count: NOPE is new and open
        w.quiet(w.created("NOPE", t), "create NOPE")
        w.quiet(w.tick(t + 3 * HOUR), "exactly 3 h")
        alerts = w.tick(t + 3 * HOUR + 1)
        expect_keys(alerts, [("work_order.unclaimed", "NOPE")], "3 h + 1 s")
        check_unclaimed(alerts[0], "NOPE", t)
        # closing an order never created is refused even after others exist
        expect_error(w.c.request(event("work_order.closed", id="nope-4",
                                       ts=t + 4 * HOUR, order="OTHER")),
                     "unknown_entity", "close OTHER")
        w.quiet(w.closed("NOPE", t + 5 * HOUR), "close NOPE")
        check(all_alerts(w.c) == w.seen, "stored alerts differ")


def test_work_order_deadlines_survive_kill9(ctx):
    """Deadlines and the event clock survive kill -9: after the restart an
    older ts does not move the clock back (an event without ts is stamped
    with the clock, the newest ts before the kill), and every deadline fires
    exactly once, also across a second kill."""
    with daemon(ctx) as d:
        w = Orders(d.client())
        w.created("K1", at(0, 10))
        w.created("K2", at(0, 10, 10))
        w.claimed("K2", at(0, 10, 20))
        w.created("K3", at(0, 10, 30))
        w.created("K4", at(0, 10, 40))
        w.quiet(w.closed("K4", at(0, 10, 50)), "close K4")
        d.kill9()
        d.start()
        w.c = d.client()
        w.quiet(w.tick(at(0, 9)), "tick into the past after restart")
        w.quiet(w.created("K5", None), "create K5 without ts (at 10:50)")
        alerts = w.tick(at(1, 1))
        want = [(at(0, 13), "work_order.unclaimed", "K1"),
                (at(0, 13, 30), "work_order.unclaimed", "K3"),
                (at(0, 13, 50), "work_order.unclaimed", "K5")] + \
            [(at(1, 0), "work_order.overdue", o)
             for o in ("K1", "K2", "K3", "K5")]
        got = sorted((parse(a), a["rule"], a["entity"]) for a in alerts)
        check(got == sorted(want), "after kill -9: expected %s, got %s"
              % (want, got))
        check_ts_order(alerts, "after kill -9")
        for a in alerts:
            check_timer_alert(a, a["rule"], "warning", "order", a["entity"],
                              parse(a), {"deadline": iso(parse(a))})
        stored = all_alerts(w.c)
        check(stored == w.seen, "stored alerts differ: %s" % short(stored))
        d.kill9()
        d.start()
        w.c = d.client()
        w.quiet(w.tick(at(4, 0)), "after the second kill -9")
        check(all_alerts(w.c) == stored, "alerts after the second kill -9 "
              "differ: %s" % short(all_alerts(w.c), 1500))


def test_work_order_wall_clock_restart(ctx):
    """Wall clock: a claim deadline that passes while the daemon is stopped
    fires once at start, and not again after another restart."""
    with daemon(ctx, clock="wall") as d:
        c = d.client()
        t = int(time.time()) - 3 * HOUR + 4
        due = t + 3 * HOUR
        send(c, event("work_order.created", id="wall-1", ts=t, order="WALL",
                      community="C1", grid="G1", category="x"))
        c.close()
        d.stop()
        time.sleep(6)
        check(time.time() > due + 1, "the deadline should have passed")
        d.start()
        c = d.client()

        def unclaimed():
            return [a for a in all_alerts(c)
                    if a["rule"] == "work_order.unclaimed"]
        limit = time.monotonic() + 5
        got = unclaimed()
        while not got and time.monotonic() < limit:
            time.sleep(0.1)
            got = unclaimed()
        check(len(got) == 1, "expected one work_order.unclaimed after the "
              "start, got %s" % short(got, 900))
        check_timer_alert(got[0], "work_order.unclaimed", "warning", "order",
                          "WALL", due, {"deadline": iso(due)})
        c.close()
        d.stop()
        d.start()
        c = d.client()
        time.sleep(1)
        again = unclaimed()
        check(again == got, "after another restart: %s" % short(again, 900))
