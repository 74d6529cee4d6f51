"""Leaders' monthly visits (zhilid.rules(5), rules/leader.yaml) through the
socket, on the event clock: a leader assigned to one community for a whole
local month with no visit to it gets leader.no_visit when the clock passes
the month's end, in the answer of the event that moved it; a visit at
00:00:00 on the 1st belongs to the new month; a leader assigned mid-month
is judged from the next month on; a reassignment mid-month or a release
ends the month's duty; a visit to another community does not count;
resent ids are duplicates; unknown leaders and bad events are refused and
change nothing; and a month end pending across kill -9 fires exactly once
after the restart."""

from datetime import datetime, timedelta, timezone

from harness import Seq, all_alerts, check, event, expect_error, short
from rulesets import check_rule_alert, daemon, send

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

TIMEOUT = 120
CST = timezone(timedelta(hours=8))
RULE = "leader.no_visit"


def at(month, day=1, h=0, m=0, s=0, year=2026):
    """Unix seconds of a local time (+08:00) in 2026."""
    return int(datetime(year, month, day, h, m, s, tzinfo=CST).timestamp())


class Leaders:
    """Sends leader events with fresh ids; every accepted answer's alerts
    are kept in .seen, in order."""

    def __init__(self, c):
        self.c = c
        self.seq = Seq("ld")
        self.seen = []

    def send(self, type, ts, eid=None, **fields):
        ev = event(type, id=eid or self.seq.next()[0], ts=ts, **fields)
        alerts = send(self.c, ev)
        self.seen.extend(alerts)
        return alerts

    def assign(self, leader, community, ts, eid=None):
        return self.send("leader.assign", ts, eid, leader=leader,
                         community=community)

    def release(self, leader, ts, eid=None):
        return self.send("leader.release", ts, eid, leader=leader)

    def visit(self, leader, community, ts, eid=None):
        return self.send("leader.visit", ts, eid, leader=leader,
                         community=community)

    def tick(self, ts):
        return self.send("clock.tick", ts)


def no_visit(a, leader, community, month, due):
    """A month-end alert: a timer's (event null), with the month as its
    period, ts the month's end, and the contract's data."""
    check_rule_alert(a, RULE, "warning", "leader", leader, period=month,
                     data={"community": community, "month": month},
                     event=None, ts=due)
    check(leader in a["message"] and community in a["message"] and
          month in a["message"], "the message names the leader, the "
          "community and the month: %s" % short(a, 600))


def got(alerts):
    return [(a["entity"], a["period"]) for a in alerts]


def quiet(alerts, what):
    check(alerts == [], "%s: no alert expected, got %s"
          % (what, short(alerts, 900)))


def test_leader_month_end(ctx):
    """The clauses of a month's end: who is judged and who is not."""
    with daemon(ctx) as d:
        w = Leaders(d.client())
        # judged for May: assigned at or before May's first instant
        quiet(w.assign("L1", "C1", at(4, 20, 9)), "assign L1")
        quiet(w.assign("L2", "C2", at(5, 1)), "assign L2 at 05-01 00:00")
        quiet(w.assign("L3", "C3", at(4, 1)), "assign L3")
        quiet(w.assign("L4", "C4", at(4, 1)), "assign L4")
        quiet(w.assign("L5", "C5", at(4, 1)), "assign L5")
        quiet(w.assign("L6", "C6", at(4, 1)), "assign L6")
        quiet(w.assign("L7", "C7", at(4, 1)), "assign L7")
        # April ends: L3..L7 were assigned at its first instant
        a = w.tick(at(5, 1, 0, 0, 1))
        check(got(a) == [("L3", "2026-04"), ("L4", "2026-04"),
                         ("L5", "2026-04"), ("L6", "2026-04"),
                         ("L7", "2026-04")], "April: %s" % short(a, 900))
        # L8 assigned mid-May: not judged for May
        quiet(w.assign("L8", "C8", at(5, 1, 0, 0, 2)), "assign L8")
        # L3 visits on the last day at 23:59:59: May is clear
        quiet(w.visit("L3", "C3", at(5, 31, 23, 59, 59)), "visit L3")
        # L4 visits another community: does not count
        quiet(w.visit("L4", "C1", at(5, 10)), "visit L4 elsewhere")
        # L5 moves to another community mid-May: May is broken
        quiet(w.assign("L5", "C9", at(5, 15)), "reassign L5")
        # L6 released mid-May
        quiet(w.release("L6", at(5, 20)), "release L6")
        # L7 assigned to C7 again: nothing changes
        quiet(w.assign("L7", "C7", at(5, 20)), "assign L7 again")
        # L1 visits at 00:00:00 on June 1st: June's, not May's; the clock
        # is at May's end, not past it, so May is not judged yet
        quiet(w.visit("L1", "C1", at(6, 1)), "visit L1 at 06-01 00:00")
        a = w.tick(at(6, 1, 0, 0, 1))
        check(got(a) == [("L1", "2026-05"), ("L2", "2026-05"),
                         ("L4", "2026-05"), ("L7", "2026-05")],
              "May: %s" % short(a, 1500))
        for x, c in zip(a, ("C1", "C2", "C4", "C7")):
            no_visit(x, x["entity"], c, "2026-05", at(6, 1))
        # June: L1 visited at its first instant; L8 is judged now, and L5
        # in its new community
        a = w.tick(at(7, 1, 0, 0, 1))
        check(got(a) == [("L2", "2026-06"), ("L3", "2026-06"),
                         ("L4", "2026-06"), ("L5", "2026-06"),
                         ("L7", "2026-06"), ("L8", "2026-06")],
              "June: %s" % short(a, 1500))
        no_visit(a[3], "L5", "C9", "2026-06", at(7, 1))
        e = d.client().request({"cmd": "get", "kind": "leader", "id": "L5"})
        check(e["entity"]["spans"] == {RULE: {
            "group": "C9", "since": "2026-05-15T00:00:00+08:00"}} and
            e["entity"]["deadlines"] == {RULE: "2026-08-01T00:00:00+08:00"},
            "get L5: %s" % short(e, 900))
        check(all_alerts(w.c) == w.seen, "stored alerts differ")


def test_leader_boundaries(ctx):
    """The event that moves the clock past the end gets the alert before
    it applies; an assignment or release exactly at the end is judged for
    the month; December ends into January."""
    with daemon(ctx) as d:
        w = Leaders(d.client())
        w.assign("L1", "C1", at(11, 20))
        w.assign("L2", "C2", at(11, 20))
        w.assign("L3", "C3", at(11, 20))
        # at December's end exactly: L2 moves, L3 is released
        a = w.assign("L2", "C9", at(1, 1, year=2027))
        check(got(a) == [("L2", "2026-12")], "reassigned at the end: %s"
              % short(a, 900))
        no_visit(a[0], "L2", "C2", "2026-12", at(1, 1, year=2027))
        a = w.release("L3", at(1, 1, year=2027))
        check(got(a) == [("L3", "2026-12")], "released at the end: %s"
              % short(a, 900))
        # a visit after the end: December is judged first, without it
        a = w.visit("L1", "C1", at(1, 1, 8, year=2027))
        check(got(a) == [("L1", "2026-12")], "visit on 01-01: %s"
              % short(a, 900))
        no_visit(a[0], "L1", "C1", "2026-12", at(1, 1, year=2027))
        a = w.tick(at(2, 1, 0, 0, 1, year=2027))
        check(got(a) == [("L2", "2027-01")], "January: %s" % short(a, 900))


def test_leader_duplicates_and_bad_input(ctx):
    """Resent ids are not applied again; unknown leaders are unknown_entity
    and bad events bad_event, and none of them changes anything."""
    with daemon(ctx) as d:
        w = Leaders(d.client())
        c = w.c
        w.assign("L1", "C1", at(4, 20), eid="a-1")
        w.assign("L1", "C2", at(5, 10), eid="a-2")
        r = c.request(event("leader.assign", id="a-1", ts=at(4, 20),
                            leader="L1", community="C1"))
        check(r.get("duplicate") is True and r["alerts"] == [],
              "resent a-1: %s" % short(r))
        w.visit("L1", "C2", at(6, 10), eid="v-1")
        w.release("L1", at(6, 11), eid="r-1")
        for eid, ev in (("v-1", event("leader.visit", id="v-1",
                                      ts=at(6, 10), leader="L1",
                                      community="C2")),
                        ("r-1", event("leader.release", id="r-1",
                                      ts=at(6, 11), leader="L1"))):
            r = c.request(ev)
            check(r.get("duplicate") is True, "resent %s: %s"
                  % (eid, short(r)))
        e = c.request({"cmd": "get", "kind": "leader", "id": "L1"})
        check(e["entity"]["spans"] == {} and e["entity"]["deadlines"] == {},
              "released L1: %s" % short(e, 900))
        expect_error(c.request(event("leader.release", ts=at(6, 12),
                                     leader="NOBODY")), "unknown_entity",
                     "release of a leader never assigned", mentions="NOBODY")
        expect_error(c.request(event("leader.visit", ts=at(6, 12),
                                     leader="NOBODY", community="C1")),
                     "unknown_entity", "visit of a leader never assigned")
        expect_error(c.request({"cmd": "get", "kind": "leader",
                                "id": "NOBODY"}), "unknown_entity")
        w.assign("L2", "C1", at(6, 1))
        for ev, what in (
                (event("leader.assign", ts="2026-13-01T00:00:00+08:00",
                       leader="L2", community="C2"), "month 13"),
                (event("leader.assign", ts=at(6, 2), leader="L2"),
                 "no community"),
                (event("leader.assign", ts=at(6, 2), community="C2"),
                 "no leader"),
                (event("leader.visit", ts=at(6, 2), leader="L2",
                       community=7), "community a number"),
                (event("leader.visit", ts=at(6, 2), leader="L2"),
                 "visit without community"),
                (event("leader.release", ts=at(6, 2), leader="L2",
                       community="C1"), "release with a field too many")):
            expect_error(c.request(ev), "bad_event", what)
        a = w.tick(at(7, 1, 0, 0, 1))
        check(got(a) == [("L2", "2026-06")], "June: only L2, in C1: %s"
              % short(a, 900))
        no_visit(a[0], "L2", "C1", "2026-06", at(7, 1))


def test_leader_kill9_with_month_end_pending(ctx):
    """kill -9 with May's end pending: after the restart the clock passes
    it and the alerts come exactly once, with the spans and visits kept;
    another kill -9 and restart raise nothing again."""
    with daemon(ctx) as d:
        w = Leaders(d.client())
        w.assign("L1", "C1", at(4, 20))
        w.assign("L2", "C2", at(4, 20))
        w.assign("L3", "C3", at(4, 20))
        w.assign("L3", "C4", at(5, 10))
        w.visit("L2", "C2", at(5, 20))
        d.kill9()
        d.start()
        w.c = d.client()
        quiet(w.tick(at(5, 25)), "tick after the restart")
        a = w.tick(at(6, 1, 0, 0, 1))
        check(got(a) == [("L1", "2026-05")], "May after kill -9: %s"
              % short(a, 900))
        no_visit(a[0], "L1", "C1", "2026-05", at(6, 1))
        stored = all_alerts(w.c)
        check(stored == w.seen, "stored alerts differ: %s" % short(stored))
        d.kill9()
        d.start()
        w.c = d.client()
        quiet(w.tick(at(6, 2)), "after the second kill -9")
        check(all_alerts(w.c) == stored, "alerts after the second kill -9")
        # the June end is still armed, for all three
        a = w.tick(at(7, 1, 0, 0, 1))
        check(got(a) == [("L1", "2026-06"), ("L2", "2026-06"),
                         ("L3", "2026-06")], "June: %s" % short(a, 900))
