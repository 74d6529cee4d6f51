"""Property-service red and black lists (zhilid.rules(5)) through the socket:
the evaluation thresholds, star levels at every boundary in exact decimals
(values whose binary floating-point sum lands on the wrong side), downgrade
against the latest earlier quarter that has stars, resent scores replacing
the earlier ones and raising their alerts anew, and refused events."""

from harness import T0, Seq, all_alerts, check, event, expect_error
from rulesets import (check_rule_alert, daemon, dec, expect_keys, num, pick,
                      send)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

SEV = {"property.redlist": "info", "property.blacklist": "warning",
       "property.stars": "info", "property.downgrade": "warning"}


def listing(score):
    """The evaluation's own alert: {rule: data}."""
    s = dec(score)
    if s >= 90:
        return {"property.redlist": {"score": num(s)}}
    if s < 60:
        return {"property.blacklist": {"score": num(s)}}
    return {}


def star_score(evaluation, assessment):
    return dec("0.3") * dec(evaluation) + dec("0.7") * dec(assessment)


def level(s):
    return 5 if s >= 90 else 4 if s >= 80 else 3 if s >= 70 else \
        2 if s >= 60 else 1


def stars(evaluation, assessment):
    """The property.stars alert of a pair: {rule: data}."""
    s = star_score(evaluation, assessment)
    return {"property.stars": {"score": num(s), "stars": level(s)}}


def downgrade(n, previous, previous_period):
    return {"property.downgrade": {"stars": n, "previous": previous,
                                   "previous_period": previous_period}}


def put(c, seq, kind, company, period, score, want, what=""):
    """Send property.<kind>; want is {rule: data} of exactly the alerts
    expected in its response."""
    eid, ts = seq.next()
    alerts = send(c, event("property." + kind, id=eid, ts=ts,
                           company=company, period=period, score=score))
    what = what or "%s %s %s %s" % (kind, company, period, score)
    expect_keys(alerts, [(r, company) for r in want], what)
    for rule, data in want.items():
        check_rule_alert(pick(alerts, rule, company), rule, SEV[rule],
                         "company", company, period=period, data=data,
                         event=eid, ts=ts, what=what)
    return alerts


def both(c, seq, company, period, e, a, extra=None):
    """Assessment then evaluation: the evaluation's response holds its list
    alert, the stars, and extra (a downgrade)."""
    put(c, seq, "assessment", company, period, a, {})
    want = dict(listing(e))
    want.update(stars(e, a))
    want.update(extra or {})
    return put(c, seq, "evaluation", company, period, e, want)


def test_property_evaluation_lists(ctx):
    cases = [(0, "property.blacklist"), (59, "property.blacklist"),
             (59.99, "property.blacklist"), (60, None), (75.5, None),
             (89, None), (89.99, None), (90, "property.redlist"),
             (90.01, "property.redlist"), (100, "property.redlist")]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        seen = []
        for i, (score, rule) in enumerate(cases):
            want = listing(score)
            check(list(want) == ([rule] if rule else []), "test table")
            seen += put(c, seq, "evaluation", "E-%d" % i, "2026Q1", score,
                        want)
        check(all_alerts(c) == seen, "stored alerts differ from the "
              "acknowledged ones")


def test_property_star_levels(ctx):
    # (evaluation, assessment, exact star score, stars); most pairs are
    # ones where 0.3*e + 0.7*a in binary floating point misses the value
    cases = [("21", "76.7", "59.99", 1), ("11", "81", "60", 2),
             ("80", "65.7", "69.99", 2), ("7", "97", "70", 3),
             ("48", "93.7", "79.99", 3), ("52", "92", "80", 4),
             ("66.68", "99.98", "89.99", 4), ("76", "96", "90", 5),
             ("0", "0", "0", 1), ("100", "100", "100", 5),
             ("60", "60", "60", 2), ("90", "89.99", "89.993", 4)]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for i, (e, a, s, n) in enumerate(cases):
            check(star_score(e, a) == dec(s) and level(dec(s)) == n,
                  "test table is wrong at %d" % i)
            company = "ST-%d" % i
            if i % 2 == 0:
                both(c, seq, company, "2026Q1", num(e), num(a))
            else:
                # the other order: the assessment completes the pair
                put(c, seq, "evaluation", company, "2026Q1", num(e),
                    listing(e))
                put(c, seq, "assessment", company, "2026Q1", num(a),
                    stars(e, a))


def test_property_downgrade_latest_earlier(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        # A: 2025Q2 2 stars, 2025Q3 4 stars, 2025Q4 evaluation only (no
        # stars), 2026Q1 3 stars: compared with 2025Q3, not 2025Q2/Q4
        both(c, seq, "A", "2025Q2", 65, 65)
        both(c, seq, "A", "2025Q3", 85, 85)
        put(c, seq, "evaluation", "A", "2025Q4", 40, listing(40))
        both(c, seq, "A", "2026Q1", 75, 75, downgrade(3, 4, "2025Q3"))
        both(c, seq, "A", "2026Q2", 76, 76)                # same: none
        both(c, seq, "A", "2026Q3", 95, 95)                # up: none
        both(c, seq, "A", "2026Q4", 90, 90)                # same: none
        both(c, seq, "A", "2027Q1", 89.99, 89.99, downgrade(4, 5, "2026Q4"))
        # B: three empty quarters between, across the year boundary
        both(c, seq, "B", "2025Q1", 95, 95)
        both(c, seq, "B", "2026Q1", 50, 50, downgrade(1, 5, "2025Q1"))
        # C: no earlier quarter, 1 star: no downgrade
        both(c, seq, "C", "2026Q1", 10, 10)
        # D: the other order (evaluation first), downgrade on the assessment
        both(c, seq, "D", "2025Q4", 80, 80)
        put(c, seq, "evaluation", "D", "2026Q1", 70, {})
        want = stars(70, 79)
        want.update(downgrade(3, 4, "2025Q4"))
        put(c, seq, "assessment", "D", "2026Q1", 79, want)
        # a downgrade elsewhere is per company: E's first quarter is quiet
        both(c, seq, "E", "2026Q1", 60, 60)


def test_property_resent_replaces(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        put(c, seq, "evaluation", "R", "2026Q1", 95, listing(95))
        put(c, seq, "assessment", "R", "2026Q1", 95, stars(95, 95))
        # 0.3*50 + 0.7*95 = 81.5: 4 stars; no earlier quarter, no downgrade
        want = dict(listing(50), **stars(50, 95))
        put(c, seq, "evaluation", "R", "2026Q1", 50, want)
        put(c, seq, "assessment", "R", "2026Q1", 95, stars(50, 95))
        put(c, seq, "evaluation", "R", "2026Q1", 95,
            dict(listing(95), **stars(95, 95)))
        # S: 4 stars in 2025Q4 and 2026Q1; a resent evaluation of 30 makes
        # 2026Q1 68.5 (2 stars): blacklist, stars, downgrade; again the same
        # score: all three again; back to 85: stars only
        both(c, seq, "S", "2025Q4", 80, 80)
        both(c, seq, "S", "2026Q1", 85, 85)
        low = dict(listing(30), **stars(30, 85))
        low.update(downgrade(2, 4, "2025Q4"))
        check(star_score(30, 85) == dec("68.5"), "test table")
        put(c, seq, "evaluation", "S", "2026Q1", 30, low)
        put(c, seq, "evaluation", "S", "2026Q1", 30, low)
        put(c, seq, "evaluation", "S", "2026Q1", 85, stars(85, 85))
        # a resent assessment lowering 2026Q1 below 2025Q4
        check(star_score(85, 40) == dec("53.5"), "test table")
        want = stars(85, 40)
        want.update(downgrade(1, 4, "2025Q4"))
        put(c, seq, "assessment", "S", "2026Q1", 40, want)


def test_property_bad_events(ctx):
    good = {"company": "X", "period": "2026Q1", "score": 70}
    bad = [("period", "2026H1"), ("period", "2026H2"), ("period", "2026Q5"),
           ("period", "2026Q0"), ("period", "26Q1"), ("period", 2026),
           ("score", 100.01), ("score", -0.5), ("score", 101),
           ("score", "90"), ("score", None), ("company", None)]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        put(c, seq, "evaluation", "X", "2026Q1", 70, {})
        put(c, seq, "evaluation", "Y", "2026Q1", 95, listing(95))
        n = 0
        for kind in ("evaluation", "assessment"):
            for field, value in bad:
                n += 1
                f = dict(good, **{field: value})
                f = {k: v for k, v in f.items() if v is not None}
                r = c.request(event("property." + kind, id="bad-%d" % n,
                                    ts=T0 + n, **f))
                expect_error(r, "bad_event", "%s %s=%r" % (kind, field,
                                                           value),
                             mentions=field)
        # refused scores for Y's pair: no stars for Y appear
        for i, score in enumerate((-1, 100.5)):
            expect_error(c.request(event(
                "property.assessment", id="bad-y-%d" % i, ts=T0, company="Y",
                period="2026Q1", score=score)), "bad_event", "Y %s" % score)
        check(len(all_alerts(c)) == 1, "refused events raised alerts")
        # X's evaluation is still 70 (the refused 101 etc. changed nothing)
        put(c, seq, "assessment", "X", "2026Q1", 70, stars(70, 70))
