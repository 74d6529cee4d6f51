"""Party-branch levels (示范/创优/强基三级, zhilid.rules(5), rules/branch.yaml)
through the socket: model > advanced > basic; a level below the branch's
level of its latest earlier half year raises branch.downgrade, above it
branch.upgrade, both with exactly {level, previous, previous_period}; the
same level and a first half year raise nothing; a resent level replaces
the earlier one and raises anew; levels survive kill -9 between two half
years; a resent event with the same id is a duplicate; a level outside
the three is bad_event naming the field.

branch.review: over the branches of a scope with a level for the half
year (n, m model, b basic), scope.model_share when 2m < n and
scope.basic_share when 20b > n, kind scope, with exactly {model, basic,
total}, at every review; the levels survive kill -9 before it; a resent
review with the same id is a duplicate with no new alerts; an unknown
scope is ok with none; a review without a half year is bad_event."""

from harness import Seq, all_alerts, check, event, expect_error, get, short
from rulesets import (check_rule_alert, daemon, expect_bad_fields,
                      expect_keys, send)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

ORDER = {"basic": 1, "advanced": 2, "model": 3}
LABEL = {"basic": "强基党支部", "advanced": "创优党支部", "model": "示范党支部"}


def level(c, seq, branch, value, period, prev=None, community=None,
          id=None, scope="J1"):
    """Send branch.level; prev is (level, half year) of the branch's latest
    earlier half year, or None: the one alert expected, or none."""
    eid, ts = seq.next()
    eid = id or eid
    community = community or "C-" + branch
    alerts = send(c, event("branch.level", id=eid, ts=ts, branch=branch,
                           community=community, scope=scope, period=period,
                           level=value))
    what = "%s %s %s" % (branch, period, value)
    rule = None
    if prev is not None and ORDER[value] != ORDER[prev[0]]:
        rule = "branch.downgrade" if ORDER[value] < ORDER[prev[0]] else \
            "branch.upgrade"
    expect_keys(alerts, [(rule, branch)] if rule else [], what)
    if rule is None:
        return alerts
    a = check_rule_alert(alerts[0], rule, "warning" if rule ==
                         "branch.downgrade" else "info", "branch", branch,
                         period=period, event=eid, ts=ts, what=what,
                         data={"level": value, "previous": prev[0],
                               "previous_period": prev[1]})
    expect_message(a, "%s社区%s党支部：%s由%s（%s）%s为%s" % (
        community, branch, period, LABEL[prev[0]], prev[1],
        "降" if rule == "branch.downgrade" else "升", LABEL[value]), what)
    return alerts


def expect_message(a, want, what):
    check(a["message"] == want, "%s: message %r, want %r"
          % (what, a["message"], want))


def test_branch_levels(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        n = 0
        for a in ORDER:
            for b in ORDER:
                n += 1
                br = "P%d" % n
                level(c, seq, br, a, "2025H2")            # first: nothing
                level(c, seq, br, b, "2026H1", (a, "2025H2"))
        # the latest earlier half year, over a gap and filled in late
        level(c, seq, "G", "model", "2024H1")
        level(c, seq, "G", "basic", "2024H2", ("model", "2024H1"))
        level(c, seq, "G", "advanced", "2026H1", ("basic", "2024H2"))
        level(c, seq, "G", "model", "2025H1", ("basic", "2024H2"))
        level(c, seq, "G", "basic", "2026H2", ("advanced", "2026H1"))
        level(c, seq, "G", "basic", "2023H2")
        # a resent level replaces and raises anew
        level(c, seq, "R", "advanced", "2025H2")
        level(c, seq, "R", "basic", "2026H1", ("advanced", "2025H2"))
        level(c, seq, "R", "basic", "2026H1", ("advanced", "2025H2"))
        level(c, seq, "R", "model", "2026H1", ("advanced", "2025H2"))
        level(c, seq, "R", "advanced", "2026H1", ("advanced", "2025H2"))
        level(c, seq, "R", "basic", "2026H2", ("advanced", "2026H1"))
        r = c.request(get("R", kind="branch"))
        p = r["entity"]["periods"]
        check(p["2026H1"]["branch.grade"] == {"group": "J1", "value": 2,
                                              "level": "advanced"},
              "get branch R: %s" % short(r, 800))


def test_branch_restart(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        level(c, seq, "B1", "model", "2025H2", id="lv-1")
        level(c, seq, "B2", "basic", "2025H2")
        level(c, seq, "B3", "advanced", "2025H2")
        acked = all_alerts(c)
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        # the same id again, with another level: a duplicate, not applied
        r = c.request(event("branch.level", id="lv-1", ts=seq.ts,
                            branch="B1", community="C-B1", scope="J1",
                            period="2025H2", level="basic"))
        check(r.get("ok") is True and r.get("duplicate") is True and
              r.get("alerts") == [], "a resent id: %s" % short(r))
        # the next half year compares with the levels from before the kill
        level(c, seq, "B1", "advanced", "2026H1", ("model", "2025H2"))
        level(c, seq, "B2", "model", "2026H1", ("basic", "2025H2"))
        level(c, seq, "B3", "advanced", "2026H1", ("advanced", "2025H2"))
        acked = all_alerts(c)
        check(len(acked) == 2, "two alerts: %s" % short(acked, 1000))
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        check(all_alerts(c) == acked, "alerts changed across kill -9")
        level(c, seq, "B1", "basic", "2026H2", ("advanced", "2026H1"))
        r = c.request(get("B1", kind="branch"))
        check(r["entity"]["periods"]["2026H1"]["branch.grade"]["level"] ==
              "advanced", "get B1: %s" % short(r, 800))


def test_branch_bad_events(ctx):
    good = {"branch": "X", "community": "C1", "scope": "J1",
            "period": "2026H1", "level": "model"}
    bad = [("level", "excellent", "level"), ("level", "Model", "level"),
           ("level", "", "level"), ("level", 3, "level"),
           ("level", None, "level"), ("period", "2026Q1", "period"),
           ("scope", None, "scope"), ("branch", None, "branch")]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        level(c, seq, "X", "basic", "2025H2")
        expect_bad_fields(c, seq, "branch.level", good, bad)
        eid, ts = seq.next()
        expect_error(c.request(event("branch.level", id=eid, ts=ts,
                                     **dict(good, level="excellent"))),
                     "bad_event", message="branch.level: level: expected "
                     "one of model, advanced, basic, got 'excellent'")
        # nothing refused was applied: 2026H1 still compares with 2025H2
        level(c, seq, "X", "advanced", "2026H1", ("basic", "2025H2"))
        check(len(all_alerts(c)) == 1, "refused events raised alerts")


def review(c, seq, scope, period, m, b, n, id=None):
    """Send branch.review of scope and period, with m model, b basic of n
    branches: check its alerts, whole; returns them."""
    eid, ts = seq.next()
    eid = id or eid
    alerts = send(c, event("branch.review", id=eid, ts=ts, scope=scope,
                           period=period))
    what = "review %s %s (%d, %d of %d)" % (scope, period, m, b, n)
    want = []
    if n > 0 and 2 * m < n:
        want.append(("scope.model_share", "示范党支部%d个，占%d个的比例低于50%%"
                     % (m, n)))
    if n > 0 and 20 * b > n:
        want.append(("scope.basic_share", "强基党支部%d个，占%d个的比例高于5%%"
                     % (b, n)))
    expect_keys(alerts, [(rule, scope) for rule, _ in want], what)
    for a, (rule, text) in zip(alerts, want):
        check_rule_alert(a, rule, "warning", "scope", scope, period=period,
                         event=eid, ts=ts, what=what,
                         data={"model": m, "basic": b, "total": n})
        expect_message(a, "%s：%s%s" % (scope, period, text), what)
    return alerts


def test_branch_review(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for br, lv in [("M1", "model"), ("M2", "model"), ("A1", "advanced"),
                       ("K1", "basic")]:
            level(c, seq, br, lv, "2026H1", scope="JR")
        # another scope's and another half year's levels do not count
        level(c, seq, "O1", "basic", "2026H1", scope="JO")
        level(c, seq, "M1", "basic", "2025H2", scope="JR")
        level(c, seq, "M1", "model", "2026H1", ("basic", "2025H2"),
              scope="JR")
        review(c, seq, "JR", "2026H1", 2, 1, 4)
        review(c, seq, "JO", "2026H1", 0, 1, 1)
        review(c, seq, "JR", "2025H2", 0, 1, 1)
        review(c, seq, "JR", "2026H2", 0, 0, 0)
        review(c, seq, "NOWHERE", "2026H1", 0, 0, 0)
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        # the levels from before the kill are the review's members
        review(c, seq, "JR", "2026H1", 2, 1, 4)
        level(c, seq, "M2", "advanced", "2026H1", scope="JR")
        review(c, seq, "JR", "2026H1", 1, 1, 4, id="rv-1")
        acked = all_alerts(c)
        eid, ts = seq.next()
        r = c.request(event("branch.review", id="rv-1", ts=ts, scope="JR",
                            period="2026H1"))
        check(r.get("ok") is True and r.get("duplicate") is True and
              r.get("alerts") == [], "a resent review: %s" % short(r))
        check(all_alerts(c) == acked, "a resent review raised alerts")
        # exactly half model again, and a basic of 20 is 5%
        level(c, seq, "M2", "model", "2026H1", scope="JR")
        level(c, seq, "K1", "advanced", "2026H1", scope="JR")
        for i in range(15):
            level(c, seq, "F%d" % i, "model" if i < 8 else "advanced",
                  "2026H1", scope="JR")
        level(c, seq, "K2", "basic", "2026H1", scope="JR")
        review(c, seq, "JR", "2026H1", 10, 1, 20)
        level(c, seq, "F0", "basic", "2026H1", scope="JR")
        review(c, seq, "JR", "2026H1", 9, 2, 20)


def test_branch_review_bad_events(ctx):
    good = {"scope": "J1", "period": "2026H1"}
    bad = [("period", None, "period"), ("period", "2026Q1", "period"),
           ("period", "2026", "period"), ("period", "2026-01", "period"),
           ("period", 2026, "period"), ("scope", None, "scope"),
           ("scope", 7, "scope")]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        level(c, seq, "X", "basic", "2026H1")
        expect_bad_fields(c, seq, "branch.review", good, bad)
        check(len(all_alerts(c)) == 0, "refused reviews raised alerts")
        review(c, seq, "J1", "2026H1", 0, 1, 1)
