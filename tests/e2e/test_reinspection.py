"""Re-inspection after a rectification (回头看; zhilid.rules(5), the
re-inspection section of rules/community.yaml) through the socket: the
end of a community's rectification opens a wait for a re-inspection due
30 days after the end; pass ends it, rebound starts a rectification again
and the chain repeats; overdue once, still awaited; conflicts; a new
rectification by stars ends the wait; bad input; resent ids; kill -9 while
the chained timer is pending and while the community awaits; the wall
clock."""

import json
import time

from harness import (T0, check, cmd, event, expect_error, expect_ok, iso,
                     short, all_alerts)
from rulesets import (YEAR, check_rule_alert, check_timer_alert, daemon,
                      expect_keys, send)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

DAY = 86400
S = T0 + 190 * DAY + 10 * 3600      # 2026-07-10T10:00:00+08:00
END = S + YEAR                      # the rectification ends
DUE = END + 30 * DAY                # the re-inspection's deadline
WAIT = "community.reinspection"     # the rule: its deadline and mark


def with_id(ev, eid):
    if eid is not None:
        ev["id"] = eid
    return ev


def stars(c, community, n, ts, eid=None):
    return send(c, with_id(event("secretary.stars", ts=ts,
                                 secretary="S-" + community,
                                 community=community, period="2026H1",
                                 stars=n), eid))


def reinspect(community, result, ts, eid=None):
    return with_id(event("community.reinspection", ts=ts,
                         community=community, result=result), eid)


def tick(c, ts):
    return send(c, event("clock.tick", ts=ts))


def get(c, community):
    r = expect_ok(c.request(cmd("get", kind="community", id=community)),
                  "get community " + community)
    return r["entity"]


def check_awaits(c, community, due, what):
    ent = get(c, community)
    check(ent["deadlines"] == {WAIT: iso(due)} and
          ent["marks"] == {WAIT: {"until": iso(due)}},
          "%s: %s should await a re-inspection by %s: %s"
          % (what, community, iso(due), short(ent, 600)))


def check_idle(c, community, what, marks=None):
    ent = get(c, community)
    check(ent["deadlines"] == {} and ent["marks"] == (marks or {}),
          "%s: %s should await nothing: %s" % (what, community,
                                               short(ent, 600)))


def conflict_msg(community):
    return ("community.reinspection: community '%s' awaits none (no open "
            "deadline of rule community.reinspection)" % community)


def rectified(c, community, ts, eid):
    """A re-inspection that passes: community.rectified alone."""
    alerts = send(c, reinspect(community, "pass", ts, eid))
    expect_keys(alerts, [("community.rectified", community)])
    check_rule_alert(alerts[0], "community.rectified", "info", "community",
                     community, period=None, event=eid, ts=ts,
                     data={"result": "pass"})
    check(alerts[0]["message"] == community + "社区重点整治期满，回头看复查通过，"
          "整治结束", "rectified message: %s" % alerts[0]["message"])


def test_reinspection_pass_on_day_30(ctx):
    """The end opens the wait (get shows it); the deadline itself is in
    time; after the pass nothing is awaited and another re-inspection is a
    conflict, with a message naming the community and the rule."""
    with daemon(ctx) as d:
        c = d.client()
        expect_keys(stars(c, "C1", 1, S, "st-1"),
                    [("community.rectify", "C1")])
        expect_error(c.request(reinspect("C1", "pass", S + DAY)),
                     "conflict", message=conflict_msg("C1"))
        check(tick(c, END) == [], "the end itself is not past")
        alerts = tick(c, END + 1)
        expect_keys(alerts, [("community.rectify_due", "C1")])
        check_timer_alert(alerts[0], "community.rectify_due", "info",
                          "community", "C1", END, {"since": iso(S)})
        check_awaits(c, "C1", DUE, "after the end")
        check(tick(c, DUE) == [], "the deadline itself is not missed")
        rectified(c, "C1", DUE, "ri-1")
        check_idle(c, "C1", "after the pass")
        check(tick(c, DUE + 60 * DAY) == [], "nothing due after the pass")
        expect_error(c.request(reinspect("C1", "rebound", DUE + 61 * DAY)),
                     "conflict", message=conflict_msg("C1"))


def test_reinspection_overdue_once_across_kill9(ctx):
    """kill -9 while awaiting, before and after the deadline: the overdue
    alert comes exactly once, the community still awaits, and a late pass
    is taken."""
    with daemon(ctx) as d:
        c = d.client()
        stars(c, "C2", 2, S)
        expect_keys(tick(c, END + 1), [("community.rectify_due", "C2")])
        d.kill9()
        d.start()
        c = d.client()
        check_awaits(c, "C2", DUE, "after kill -9 while awaiting")
        alerts = tick(c, DUE + 1)
        expect_keys(alerts, [("community.reinspection_overdue", "C2")])
        a = check_timer_alert(alerts[0], "community.reinspection_overdue",
                              "warning", "community", "C2", DUE,
                              {"deadline": iso(DUE)})
        check(a["message"] == "C2社区重点整治于%s期满，30日内未开展回头看复查"
              "（时限%s），仍待复查" % (iso(END), iso(DUE)),
              "overdue message: %s" % a["message"])
        d.kill9()
        d.start()
        c = d.client()
        check(tick(c, DUE + 400 * DAY) == [], "overdue again after kill -9")
        check_awaits(c, "C2", DUE, "overdue, after kill -9")
        overdue = all_alerts(c, rule="community.reinspection_overdue")
        check(len(overdue) == 1, "overdue alerts: %s" % short(overdue, 900))
        rectified(c, "C2", DUE + 401 * DAY, "ri-2")
        d.kill9()
        d.start()
        c = d.client()
        check_idle(c, "C2", "after the pass and kill -9")
        expect_error(c.request(reinspect("C2", "pass", DUE + 402 * DAY)),
                     "conflict", message=conflict_msg("C2"))


def test_reinspection_chained_timer_across_kill9(ctx):
    """kill -9 while the rectification's timer is pending: a tick 40 days
    after the end raises the end and the missed deadline (counted from the
    end) in one answer.  kill -9 while a rebound's rectification runs: its
    end opens the wait again."""
    with daemon(ctx) as d:
        c = d.client()
        stars(c, "C3", 1, S)
        d.kill9()
        d.start()
        c = d.client()
        alerts = tick(c, END + 40 * DAY)
        check([(a["rule"], a["entity"]) for a in alerts] ==
              [("community.rectify_due", "C3"),
               ("community.reinspection_overdue", "C3")],
              "the end, then the missed deadline: %s" % short(alerts, 900))
        check_timer_alert(alerts[1], "community.reinspection_overdue",
                          "warning", "community", "C3", DUE,
                          {"deadline": iso(DUE)})
        r = END + 41 * DAY
        alerts = send(c, reinspect("C3", "rebound", r, "rb-3"))
        check([(a["rule"], a["entity"]) for a in alerts] ==
              [("community.rebound", "C3"), ("community.rectify", "C3")],
              "rebound, then rectify: %s" % short(alerts, 900))
        check_rule_alert(alerts[0], "community.rebound", "warning",
                         "community", "C3", period=None, event="rb-3", ts=r,
                         data={"result": "rebound"})
        check_rule_alert(alerts[1], "community.rectify", "warning",
                         "community", "C3", period=None, event="rb-3", ts=r,
                         data={"until": iso(r + YEAR)})
        check(alerts[1]["message"] == "C3社区回头看复查反弹，重新列为重点整治对象"
              "至%s" % iso(r + YEAR), "rectify message: %s"
              % alerts[1]["message"])
        check_idle(c, "C3", "under rectification again",
                   marks={"rectify": {"until": iso(r + YEAR)}})
        d.kill9()
        d.start()
        c = d.client()
        expect_error(c.request(reinspect("C3", "pass", r + DAY)),
                     "conflict", message=conflict_msg("C3"))
        check(tick(c, r + YEAR) == [], "the new end is not past")
        alerts = tick(c, r + YEAR + 1)
        expect_keys(alerts, [("community.rectify_due", "C3")])
        check_timer_alert(alerts[0], "community.rectify_due", "info",
                          "community", "C3", r + YEAR, {"since": iso(r)})
        check_awaits(c, "C3", r + YEAR + 30 * DAY, "the chain repeats")
        d.kill9()
        d.start()
        c = d.client()
        rectified(c, "C3", r + YEAR + 30 * DAY, "ri-3")


def test_reinspection_new_rectification_ends_wait(ctx):
    """Stars 1 or 2 for an awaiting community rectify it again and end the
    wait: its deadline passes silently."""
    with daemon(ctx) as d:
        c = d.client()
        stars(c, "C4", 1, S)
        expect_keys(tick(c, END + 1), [("community.rectify_due", "C4")])
        expect_keys(stars(c, "C4", 2, END + 5 * DAY),
                    [("community.rectify", "C4")])
        check_idle(c, "C4", "rectified anew",
                   marks={"rectify": {"until": iso(END + 5 * DAY + YEAR)}})
        d.kill9()
        d.start()
        c = d.client()
        check(tick(c, DUE + DAY) == [], "the ended wait fired")
        expect_error(c.request(reinspect("C4", "pass", DUE + 2 * DAY)),
                     "conflict", message=conflict_msg("C4"))


def test_reinspection_bad_input(ctx):
    """Bad input names the field and changes nothing; a community never
    rectified is a conflict and gets no record; a resent id is a
    duplicate."""
    with daemon(ctx) as d:
        c = d.client()
        stars(c, "C5", 1, S)
        tick(c, END + 1)
        base = {"type": "community.reinspection", "ts": END + DAY,
                "community": "C5"}
        cases = [
            (dict(base, result="fail"), "bad_event",
             "community.reinspection: result: expected one of pass, "
             "rebound, got 'fail'"),
            (dict(base), "bad_event", None),
            (dict(base, result=1), "bad_event", None),
            (dict(base, result=None), "bad_event", None),
            ({"type": "community.reinspection", "ts": END + DAY,
              "result": "pass"}, "bad_event", None),
            (dict(base, result="pass", extra=1), "bad_event", None),
            (dict(base, result="pass", community=7), "bad_event", None),
        ]
        for line, code, msg in cases:
            r = c.request(line)
            expect_error(r, code, "bad %s" % short(line), message=msg)
            if msg is None:
                field = [k for k in ("result", "community", "extra")
                         if k in r["error"]["message"]]
                check(field, "the message names no field: %s" % short(r))
        check_awaits(c, "C5", DUE, "after bad input")
        expect_error(c.request(reinspect("NEVER", "pass", END + DAY)),
                     "conflict", message=conflict_msg("NEVER"))
        expect_error(c.request(cmd("get", kind="community", id="NEVER")),
                     "unknown_entity")
        first = expect_ok(c.request(reinspect("C5", "rebound", END + 2 * DAY,
                                              "dup-5")))
        expect_keys(first["alerts"], [("community.rebound", "C5"),
                                      ("community.rectify", "C5")])
        for line in (reinspect("C5", "rebound", END + 2 * DAY, "dup-5"),
                     reinspect("C5", "pass", END + 3 * DAY, "dup-5")):
            r = expect_ok(c.request(line))
            check(r.get("duplicate") is True and r["alerts"] == [] and
                  r["seq"] == first["seq"], "resent: %s" % short(r))
        check(len(all_alerts(c, rule="community.rebound")) == 1,
              "a resent rebound alerted twice")


def test_reinspection_wall_clock(ctx):
    """Wall clock: a rectification that ended 30 days ago less 4 seconds
    opens the wait at once (from the end, not from now), and the missed
    deadline comes 4 seconds later, once, to a subscriber."""
    with daemon(ctx, clock="wall") as d:
        sub = d.client()
        expect_ok(sub.request(cmd("subscribe")))
        c = d.client()
        now = int(time.time())
        start = now - YEAR - 30 * DAY + 4
        end, due = start + YEAR, start + YEAR + 30 * DAY
        expect_keys(stars(c, "C6", 1, start), [("community.rectify", "C6")])
        got = []
        deadline = time.time() + 20
        while len(got) < 3 and time.time() < deadline:
            got.append(json.loads(sub.recv_line())["alert"])
        check([a["rule"] for a in got] ==
              ["community.rectify", "community.rectify_due",
               "community.reinspection_overdue"],
              "subscriber saw %s" % short(got, 900))
        check_timer_alert(got[1], "community.rectify_due", "info",
                          "community", "C6", end, {"since": iso(start)})
        check_timer_alert(got[2], "community.reinspection_overdue",
                          "warning", "community", "C6", due,
                          {"deadline": iso(due)})
        check(time.time() >= due, "overdue before its deadline")
        check_awaits(c, "C6", due, "overdue, wall clock")
        rectified(c, "C6", int(time.time()), "ri-6")
