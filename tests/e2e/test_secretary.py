"""Party-branch secretary assessment (zhilid.rules(5)) through the socket:
3:5:2 totals in exact decimals, the bottom tenth at a period close (k for
n = 1, 9, 10, 11, ties, incomplete secretaries), adjust after two closed
periods in a row, scopes, conflicts and refused events; secretary.stars
and the community rectification window with its timer; a reload that
changes the weights."""

import os
import shutil

from harness import (T0, Seq, check, cmd, event, expect_error, expect_ok,
                     iso, short, all_alerts)
from rulesets import (PARTS, YEAR, check_rule_alert, check_timer_alert,
                      daemon, dec, expect_keys, num, pick, send)
from rulesets import secretary_model as model
from rulesets import secretary_total as total

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def score_ev(seq, sec, part, value, period="2026H1", scope="S1",
             community=None):
    eid, ts = seq.next()
    return event("secretary.score", id=eid, ts=ts, secretary=sec,
                 community=community or "C-" + sec, scope=scope,
                 period=period, part=part, score=value)


def score_all(c, seq, sec, parts, period="2026H1", scope="S1"):
    """Send the parts of sec: a number (all three parts equal) or a dict."""
    if not isinstance(parts, dict):
        parts = {p: parts for p in PARTS}
    for p, v in parts.items():
        got = send(c, score_ev(seq, sec, p, v, period, scope))
        check(got == [], "secretary.score raises no alert: %s" % short(got))
    return parts


def close(c, seq, scope, period):
    """period.close; returns (alerts, id, ts)."""
    eid, ts = seq.next()
    alerts = send(c, event("period.close", id=eid, ts=ts, cycle="secretary",
                           scope=scope, period=period))
    return alerts, eid, ts


def check_close(alerts, eid, ts, period, want, what):
    expect_keys(alerts, list(want), what)
    for (rule, sec), (sev, data) in want.items():
        check_rule_alert(pick(alerts, rule, sec), rule, sev, "secretary", sec,
                         period=period, data=data, event=eid, ts=ts,
                         what="%s %s %s" % (what, rule, sec))


def run_close(c, seq, scope, period, by_sec, prev=None, what=""):
    alerts, eid, ts = close(c, seq, scope, period)
    want, bottom = model(period, by_sec, prev)
    check_close(alerts, eid, ts, period, want, what or scope + " " + period)
    return bottom


def test_secretary_weights_exact(ctx):
    """One secretary per scope (n = 1, k = 1): the warning shows the 3:5:2
    total in exact decimals."""
    cases = [({"street": 60.5, "community": 70.3, "residents": 80.1}, "69.32"),
             ({"street": 100, "community": 0, "residents": 0}, "30"),
             ({"street": 0, "community": 100, "residents": 0}, "50"),
             ({"street": 0, "community": 0, "residents": 100}, "20"),
             ({"street": 54.2, "community": 72.4, "residents": 87.7}, "70"),
             ({"street": 33.3, "community": 66.6, "residents": 99.9},
              "63.27"),
             ({"street": 0.1, "community": 0.2, "residents": 0.3}, "0.19")]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for i, (parts, want) in enumerate(cases):
            check(total(parts) == dec(want), "test table is wrong")
            score_all(c, seq, "W-%d" % i, parts, scope="WS-%d" % i)
        for i, (parts, want) in enumerate(cases):
            alerts, eid, ts = close(c, seq, "WS-%d" % i, "2026H1")
            expect_keys(alerts, [("secretary.warning", "W-%d" % i)])
            check_rule_alert(alerts[0], "secretary.warning", "warning",
                             "secretary", "W-%d" % i, period="2026H1",
                             event=eid, ts=ts, data={
                                 "total": num(want), "position": 1, "n": 1,
                                 "k": 1}, what="parts %s" % parts)


def test_secretary_k_for_n(ctx):
    """n = 1, 9, 10, 11 ranked secretaries: k = 1, 1, 1, 2."""
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for n, k in ((1, 1), (9, 1), (10, 1), (11, 2)):
            scope = "N%d" % n
            by = {}
            for i in range(n):
                # distinct totals, the lowest sent last
                by["%s-%d" % (scope, i)] = score_all(
                    c, seq, "%s-%d" % (scope, i), 90 - 3 * i, scope=scope)
            bottom = run_close(c, seq, scope, "2026H1", by)
            want = {"%s-%d" % (scope, n - 1 - j) for j in range(k)}
            check(bottom == want, "model: bottom of n=%d is %s" % (n, want))


def test_secretary_ties_at_boundary(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        tie = {"street": 54.2, "community": 72.4, "residents": 87.7}  # 70
        tables = {
            # n = 10, k = 1: two share the lowest total (one only exactly)
            "TA": [70, tie, 71, 72, 73, 74, 75, 76, 77, 78],
            # n = 11, k = 2: the 2nd lowest (60) is shared by two
            "TB": [50, 60, 60, 70, 71, 72, 73, 74, 75, 76, 77],
            # n = 11, k = 2: three share the lowest
            "TC": [40, 40, 40, 41, 50, 60, 61, 62, 63, 64, 65],
        }
        wants = {"TA": {"TA-0", "TA-1"}, "TB": {"TB-0", "TB-1", "TB-2"},
                 "TC": {"TC-0", "TC-1", "TC-2"}}
        for scope, vals in tables.items():
            by = {}
            for i, v in enumerate(vals):
                by["%s-%d" % (scope, i)] = score_all(
                    c, seq, "%s-%d" % (scope, i), v, scope=scope)
            bottom = run_close(c, seq, scope, "2026H1", by)
            check(bottom == wants[scope], "model: %s %s" % (scope, bottom))


def test_secretary_incomplete(ctx):
    """Secretaries missing parts get secretary.incomplete and do not count
    in n: 10 complete + 2 incomplete is n = 10, k = 1."""
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        by = {}
        for i in range(10):
            by["I-%d" % i] = score_all(c, seq, "I-%d" % i, 50 + i)
        by["I-r"] = score_all(c, seq, "I-r", {"street": 10, "community": 10})
        by["I-sc"] = score_all(c, seq, "I-sc", {"residents": 1})
        want = model("2026H1", by)[0]
        check(want == {
            ("secretary.warning", "I-0"): ("warning", {
                "total": 50, "position": 1, "n": 10, "k": 1}),
            ("secretary.incomplete", "I-r"): ("info", {
                "missing": ["residents"]}),
            ("secretary.incomplete", "I-sc"): ("info", {
                "missing": ["street", "community"]})}, "model: %s" % want)
        alerts, eid, ts = close(c, seq, "S1", "2026H1")
        check_close(alerts, eid, ts, "2026H1", want, "2026H1")


def test_secretary_scope_isolation(ctx):
    """Two scopes close separately; each ranks only its own secretaries and
    adjust needs the previous period closed for that same scope."""
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        a = {s: score_all(c, seq, s, v, "2025H2", "SA")
             for s, v in (("A1", 40), ("A2", 80))}
        for s, v in (("B1", 30), ("B2", 90)):
            score_all(c, seq, s, v, "2025H2", "SB")
        bottom_a = run_close(c, seq, "SA", "2025H2", a)
        check(bottom_a == {"A1"}, "model")
        # SB's 2025H2 stays open: scoring it still works, SA's is closed
        score_all(c, seq, "B2", {"street": 95}, "2025H2", "SB")
        expect_error(c.request(score_ev(seq, "A2", "street", 1, "2025H2",
                                        "SA")), "conflict", "score SA 2025H2")
        a = {s: score_all(c, seq, s, v, "2026H1", "SA")
             for s, v in (("A1", 41), ("A2", 79))}
        for s, v in (("B1", 31), ("B2", 89)):
            score_all(c, seq, s, v, "2026H1", "SB")
        run_close(c, seq, "SA", "2026H1", a, prev=("2025H2", bottom_a))
        # SB: B1 is bottom, but SB's 2025H2 was never closed: no adjust
        alerts, eid, ts = close(c, seq, "SB", "2026H1")
        expect_keys(alerts, [("secretary.warning", "B1")], "SB 2026H1")
        check_rule_alert(alerts[0], "secretary.warning", "warning",
                         "secretary", "B1", period="2026H1", event=eid,
                         ts=ts, data={"total": 31, "position": 1, "n": 2,
                                      "k": 1})
        eid, ts = seq.next()
        expect_error(c.request(event("period.close", id=eid, ts=ts,
                                     cycle="secretary", scope="SA",
                                     period="2026H1")),
                     "conflict", "SA 2026H1 closed twice")


def test_secretary_adjust_year_boundary(ctx):
    """2026H1 follows 2025H2: bottom twice in a row gives adjust as well."""
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        h2 = {"X": 20, "Z": 25, "Y": 60}
        h2.update({"F%d" % i: 70 + i for i in range(8)})       # n = 11
        by = {s: score_all(c, seq, s, v, "2025H2") for s, v in h2.items()}
        prev = run_close(c, seq, "S1", "2025H2", by)
        check(prev == {"X", "Z"}, "model: %s" % prev)
        h1 = {"X": 30, "Y": 35, "Z": 65}
        h1.update({"F%d" % i: 70 + i for i in range(8)})
        by = {s: score_all(c, seq, s, v, "2026H1") for s, v in h1.items()}
        alerts, eid, ts = close(c, seq, "S1", "2026H1")
        expect_keys(alerts, [("secretary.warning", "X"),
                             ("secretary.adjust", "X"),
                             ("secretary.warning", "Y")])
        check_rule_alert(pick(alerts, "secretary.adjust", "X"),
                         "secretary.adjust", "critical", "secretary", "X",
                         period="2026H1", event=eid, ts=ts,
                         data={"total": 30, "periods": ["2025H2", "2026H1"]})
        check_close(alerts, eid, ts, "2026H1",
                    model("2026H1", by, ("2025H2", prev))[0], "model")


def test_secretary_gap_no_adjust(ctx):
    """2025H1 closed, 2025H2 scored but never closed, 2026H1 closed: the
    previous period of 2026H1 was not closed, so no adjust."""
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        vals = {"X": 10, "Y": 50, "Z": 60}
        for period in ("2025H1", "2025H2", "2026H1"):
            by = {s: score_all(c, seq, s, v, period) for s, v in vals.items()}
            if period != "2025H2":
                alerts, eid, ts = close(c, seq, "S1", period)
                expect_keys(alerts, [("secretary.warning", "X")], period)
                check_close(alerts, eid, ts, period, model(period, by)[0],
                            period)


def test_secretary_closed_period_conflicts(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        by = {s: score_all(c, seq, s, v) for s, v in (("P", 10), ("Q", 90))}
        run_close(c, seq, "S1", "2026H1", by)
        before = all_alerts(c)
        r = c.request(event("period.close", id="twice", ts=T0 + 10 ** 5,
                            cycle="secretary", scope="S1", period="2026H1"))
        expect_error(r, "conflict", "close twice")
        for part in ("street", "residents"):
            expect_error(c.request(score_ev(seq, "P", part, 99)), "conflict",
                         "score %s after close" % part)
        expect_error(c.request(score_ev(seq, "NEW", "street", 99)),
                     "conflict", "a new secretary's score after close")
        check(all_alerts(c) == before, "refused events raised alerts")
        # the refused id was not taken: a good event may reuse it
        by = {s: score_all(c, seq, s, v, "2026H2")
              for s, v in (("P", 95), ("Q", 15))}
        alerts = send(c, event("period.close", id="twice", ts=T0 + 10 ** 5,
                               cycle="secretary", scope="S1",
                               period="2026H2"))
        check_close(alerts, "twice", T0 + 10 ** 5, "2026H2",
                    model("2026H2", by)[0], "2026H2")


def test_secretary_resent_part_replaces(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        score_all(c, seq, "X", {"street": 70, "community": 40,
                                "residents": 70})                  # 55
        score_all(c, seq, "Y", 60)
        score_all(c, seq, "X", {"community": 90})                  # 80
        alerts, eid, ts = close(c, seq, "S1", "2026H1")
        expect_keys(alerts, [("secretary.warning", "Y")])
        check_rule_alert(alerts[0], "secretary.warning", "warning",
                         "secretary", "Y", period="2026H1", event=eid, ts=ts,
                         data={"total": 60, "position": 1, "n": 2, "k": 1})


def test_secretary_bad_events(ctx):
    good = {"secretary": "X", "community": "C-X", "scope": "S1",
            "period": "2026H1", "part": "street", "score": 50}
    bad = [("score", 100.5), ("score", -1), ("score", 101), ("score", "80"),
           ("score", None), ("score", True), ("part", "district"),
           ("part", "Street"), ("period", "2026Q1"), ("period", "2026H3"),
           ("period", "26H1")]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        by = {"X": score_all(c, seq, "X", 50), "Y": score_all(c, seq, "Y", 70)}
        for i, (field, value) in enumerate(bad):
            ev = event("secretary.score", id="bad-%d" % i, ts=T0 + i,
                       **dict(good, **{field: value}))
            expect_error(c.request(ev), "bad_event", "%s=%r" % (field, value),
                         mentions=field)
        for field in good:
            fields = {k: v for k, v in good.items() if k != field}
            if "secretary" in fields:
                fields["secretary"] = "Z"
            ev = event("secretary.score", id="miss-" + field, ts=T0, **fields)
            expect_error(c.request(ev), "bad_event", "without " + field,
                         mentions=field)
        for name, fields in (
                ("cycle", {"cycle": "budget"}),
                ("period", {"cycle": "secretary", "period": "2026Q2"}),
                ("scope", {"cycle": "secretary", "scope": None}),
                ("cycle", {"cycle": None})):
            f = {"cycle": "secretary", "scope": "S1", "period": "2026H1"}
            f.update(fields)
            f = {k: v for k, v in f.items() if v is not None}
            expect_error(c.request(event("period.close", id="bc-" + name,
                                         ts=T0, **f)), "bad_event",
                         "period.close %s" % fields, mentions=name)
        for i, stars in enumerate((0, 6, 3.5, "3", -1)):
            expect_error(c.request(event(
                "secretary.stars", id="bs-%d" % i, ts=T0, secretary="X",
                community="C-X", period="2026H1", stars=stars)),
                "bad_event", "stars %r" % (stars,), mentions="stars")
        check(all_alerts(c) == [], "refused events raised alerts")
        # nothing of them was applied: X keeps 50, Z does not exist
        run_close(c, seq, "S1", "2026H1", by)


def stars_ev(seq, sec, community, stars, period="2026H1", ts=None):
    eid, t = seq.next()
    return event("secretary.stars", id=eid, ts=ts or t, secretary=sec,
                 community=community, period=period, stars=stars)


def test_secretary_stars_levels(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for stars, rule in ((5, "secretary.reserve"), (4, "secretary.reserve"),
                            (3, "secretary.training")):
            ev = stars_ev(seq, "ST-%d" % stars, "SC-%d" % stars, stars)
            alerts = send(c, ev)
            expect_keys(alerts, [(rule, "ST-%d" % stars)], "stars %d" % stars)
            check_rule_alert(alerts[0], rule, "info", "secretary",
                             "ST-%d" % stars, period="2026H1",
                             data={"stars": stars}, event=ev["id"],
                             ts=ev["ts"])
        for stars in (2, 1):
            ev = stars_ev(seq, "ST-%d" % stars, "SC-%d" % stars, stars,
                          period="2025H2")
            alerts = send(c, ev)
            expect_keys(alerts, [("community.rectify", "SC-%d" % stars)],
                        "stars %d" % stars)
            check_rule_alert(alerts[0], "community.rectify", "warning",
                             "community", "SC-%d" % stars, period="2025H2",
                             data={"until": iso(ev["ts"] + YEAR)},
                             event=ev["id"], ts=ev["ts"])


def test_secretary_rectify_window(ctx):
    """Not raised again while active (expiry not extended); rectify_due once
    the clock is strictly past ts + 365 d; then a new 1-2 star event raises
    rectify again."""
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        t1 = T0 + 3600
        ev = stars_ev(seq, "R1", "RC", 2, ts=t1)
        expect_keys(send(c, ev), [("community.rectify", "RC")])
        again = [stars_ev(seq, "R2", "RC", 1, ts=t1 + 100 * 86400),
                 stars_ev(seq, "R1", "RC", 2, "2026H2", ts=t1 + 200 * 86400)]
        for ev2 in again:
            check(send(c, ev2) == [], "rectify repeated while active")
        check(send(c, event("clock.tick", ts=t1 + YEAR)) == [],
              "rectify_due exactly at 365 d")
        alerts = send(c, event("clock.tick", ts=t1 + YEAR + 1))
        expect_keys(alerts, [("community.rectify_due", "RC")], "past 365 d")
        check_timer_alert(alerts[0], "community.rectify_due", "info",
                          "community", "RC", t1 + YEAR, {"since": iso(t1)})
        # with the re-inspection rules of rules/community.yaml loaded,
        # the re-inspection that the end made due is missed: that only
        late = send(c, event("clock.tick", ts=t1 + 2 * YEAR))
        check(all(a["rule"] == "community.reinspection_overdue"
                  for a in late),
              "rectify_due fired twice (or the window was extended): %s"
              % short(late, 900))
        t2 = t1 + 2 * YEAR + 60
        ev3 = stars_ev(seq, "R3", "RC", 1, "2028H1", ts=t2)
        alerts = send(c, ev3)
        expect_keys(alerts, [("community.rectify", "RC")], "after expiry")
        check_rule_alert(alerts[0], "community.rectify", "warning",
                         "community", "RC", period="2028H1", event=ev3["id"],
                         ts=t2, data={"until": iso(t2 + YEAR)})
        # its timer fires inside the next event's response, before that
        # event's own alert
        ev4 = stars_ev(seq, "R4", "RC", 2, "2028H2", ts=t2 + YEAR + 5)
        alerts = send(c, ev4)
        check([(a["rule"], a["entity"]) for a in alerts] ==
              [("community.rectify_due", "RC"), ("community.rectify", "RC")],
              "timer alert first, then the event's: %s" % short(alerts, 900))
        check_timer_alert(alerts[0], "community.rectify_due", "info",
                          "community", "RC", t2 + YEAR, {"since": iso(t2)})
        check_rule_alert(alerts[1], "community.rectify", "warning",
                         "community", "RC", period="2028H2", event=ev4["id"],
                         ts=ev4["ts"], data={"until": iso(ev4["ts"] + YEAR)})


def test_secretary_reload_weights(ctx):
    """Swap the street and community weights in a copy of
    rules/secretary.yaml, reload, and the next close ranks by them.
    Assumes the file spells the weights as the lines "street: 0.3" and
    "community: 0.5" (written before rules/secretary.yaml existed)."""
    folder = os.path.join(ctx.tmp, "rules")
    os.mkdir(folder)
    for f in sorted(os.listdir(os.path.join(ctx.root, "rules"))):
        if f.endswith(".yaml"):
            shutil.copy(os.path.join(ctx.root, "rules", f), folder)
    path = os.path.join(folder, "secretary.yaml")
    check(os.path.isfile(path), "no rules/secretary.yaml in %s" % ctx.root)
    rules = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    with daemon(ctx, rules=rules) as d:
        c = d.client()
        seq = Seq()
        parts = {"A": {"street": 100, "community": 0, "residents": 50},
                 "B": {"street": 0, "community": 100, "residents": 50}}
        for s, p in parts.items():
            score_all(c, seq, s, p, "2026H1")
        # 3:5:2: A 40, B 60
        alerts, eid, ts = close(c, seq, "S1", "2026H1")
        expect_keys(alerts, [("secretary.warning", "A")], "old weights")
        check(alerts[0]["data"].get("total") == 40, short(alerts))
        with open(path) as f:
            text = f.read()
        for old in ("street: 0.3", "community: 0.5"):
            check(text.count(old) == 1, "%r should occur once in %s"
                  % (old, path))
        text = text.replace("street: 0.3", "street: @@").replace(
            "community: 0.5", "community: 0.3").replace("street: @@",
                                                        "street: 0.5")
        with open(path, "w") as f:
            f.write(text)
        expect_ok(c.request(cmd("reload")), "reload")
        for s, p in parts.items():
            score_all(c, seq, s, p, "2026H2")
        # 5:3:2: A 60, B 40 (A was bottom before, B was not: no adjust)
        alerts, eid, ts = close(c, seq, "S1", "2026H2")
        expect_keys(alerts, [("secretary.warning", "B")], "new weights")
        check_rule_alert(alerts[0], "secretary.warning", "warning",
                         "secretary", "B", period="2026H2", event=eid, ts=ts,
                         data={"total": 40, "position": 1, "n": 2, "k": 1})
