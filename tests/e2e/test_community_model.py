"""Model communities (示范小区, zhilid.rules(5), rules/community.yaml)
through the socket: at a period close with cycle community, the top tenth
of a scope's governance scores (k = ceil(n x 0.1), ties at the k-th score
in, sharing the better position) get community.model with exactly
{score, position, n}; exact decimals; a resent score replaces; kill -9
between scoring and closing, and after the close; a resent event with the
same id is a duplicate; closing again or scoring a closed period is a
conflict; bad events name their field."""

import math

from harness import (Seq, all_alerts, check, event, expect_error,
                     get, short)
from rulesets import (check_rule_alert, daemon, dec, expect_bad_fields,
                      expect_keys, num, pick, send)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def model(scores):
    """{community: (score, position, n)} of the top set of {community:
    score}: k = ceil(n / 10), everyone at or above the k-th highest, the
    position 1 + the number of higher scores."""
    n = len(scores)
    if n == 0:
        return {}
    ranked = sorted((dec(s) for s in scores.values()), reverse=True)
    edge = ranked[math.ceil(dec(n) / 10) - 1]
    return {c: (dec(s), 1 + sum(1 for x in ranked if x > dec(s)), n)
            for c, s in scores.items() if dec(s) >= edge}


def score(c, seq, community, value, scope="J1", period="2026H1", id=None):
    eid, ts = seq.next()
    return send(c, event("community.score", id=id or eid, ts=ts,
                         community=community, scope=scope, period=period,
                         score=value))


def close(c, seq, scores, scope="J1", period="2026H1", what=""):
    """Close the period for scope; its alerts must be the model set of
    scores, each checked whole."""
    eid, ts = seq.next()
    alerts = send(c, event("period.close", id=eid, ts=ts, cycle="community",
                           scope=scope, period=period))
    want = model(scores)
    what = what or "close %s %s" % (scope, period)
    expect_keys(alerts, [("community.model", m) for m in want], what)
    for m, (s, p, n) in want.items():
        a = check_rule_alert(pick(alerts, "community.model", m),
                             "community.model", "info", "community", m,
                             period=period, event=eid, ts=ts, what=what,
                             data={"score": num(s), "position": p, "n": n})
        check(a["message"] == "%s社区（排名范围%s）：%s治理考核%s分，列第%d名（共%d个），"
              "评为示范小区" % (m, scope, period, s, p, n),
              "%s: message of %s: %s" % (what, m, a["message"]))
    return alerts


def test_community_model_top_tenth(ctx):
    # each scope its own case: n = 1, 10 (a tie at the top), 10 (a tie
    # below it), 11 (k = 2), 11 (a three-way tie at the k-th score), 21
    # (k = 3: two first, the next third), decimals that binary floating
    # point would misorder or misprint
    cases = {
        "N1": {"A": "61.5"},
        "N10a": dict({"T%d" % i: 40 + i for i in range(8)},
                     T8="90", T9="90"),
        "N10b": dict({"T%d" % i: 40 + i for i in range(7)},
                     T7="95", T8="90", T9="90"),
        "N11": {"E%02d" % i: 50 + i for i in range(11)},
        "N11t": dict({"E%02d" % i: 50 + i for i in range(8)},
                     E08="99", E09="80", E10="80", E11="80"),
        "N21": dict({"F%02d" % i: 40 + i for i in range(18)},
                    F18="97", F19="97", F20="96.5"),
        "DEC": {"D1": "90.09999", "D2": "90.1", "D3": "90.099999",
                "D4": "0.3", "D5": "33.333333", "D6": "66.666667",
                "D7": "12.34", "D8": "80", "D9": "85", "D10": "0",
                "D11": "100"},
    }
    del cases["N11t"]["E07"]            # 11 in all
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        seen = []
        for scope, scores in cases.items():
            for m, s in scores.items():
                seen += score(c, seq, "%s-%s" % (scope, m), num(s),
                              scope=scope)
        for scope, scores in cases.items():
            scores = {"%s-%s" % (scope, m): s for m, s in scores.items()}
            seen += close(c, seq, scores, scope=scope)
        check(model({"a": 1, "b": 2, "c": 2})["b"] == (2, 1, 3),
              "model() is wrong")
        check(all_alerts(c) == seen, "stored alerts differ from the "
              "acknowledged ones")
        # the record: the score and the outcome, by half year
        r = c.request(get("N1-A", kind="community"))
        p = r["entity"]["periods"]["2026H1"]
        check(p["community.governance"]["total"] == 61.5 and
              p["community.model"]["value"] == 1 and
              p["community.model"]["group"] == "N1",
              "get community N1-A: %s" % short(r, 800))


def test_community_model_resent_and_restart(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        scores = {"C%02d" % i: 60 + i for i in range(12)}
        for m, s in scores.items():
            score(c, seq, m, s, id="s-" + m)
        # C00 60 -> 99.5: the resent score replaces the first
        score(c, seq, "C00", 99.5)
        scores["C00"] = "99.5"
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        # the same id again, with another score: a duplicate, not applied
        r = expect_ok_duplicate(c.request(event(
            "community.score", id="s-C01", ts=seq.ts, community="C01",
            scope="J1", period="2026H1", score=100)))
        check(r["alerts"] == [], "a duplicate raises nothing: %s" % short(r))
        close(c, seq, scores, what="close after kill -9")
        acked = all_alerts(c)
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        check(all_alerts(c) == acked, "alerts changed across kill -9")
        eid, ts = seq.next()
        expect_error(c.request(event("period.close", id=eid, ts=ts,
                                     cycle="community", scope="J1",
                                     period="2026H1")), "conflict",
                     "close again after kill -9",
                     message="period.close: community period 2026H1 of "
                     "scope 'J1' is already closed")
        for m in ("C05", "NEW"):
            eid, ts = seq.next()
            expect_error(c.request(event(
                "community.score", id=eid, ts=ts, community=m, scope="J1",
                period="2026H1", score=100)), "conflict", "score " + m,
                message="community.score: period 2026H1 is closed for "
                "scope 'J1'")
        expect_error(c.request(get("NEW", kind="community")),
                     "unknown_entity", "a refused score made NEW")
        # the next half year is open, and the restored closure is per scope
        score(c, seq, "C05", 70, period="2026H2")
        close(c, seq, {"C05": 70}, period="2026H2")
        score(c, seq, "K1", 50, scope="J2")
        close(c, seq, {"K1": 50}, scope="J2")
        check(all_alerts(c)[:len(acked)] == acked, "old alerts changed")


def expect_ok_duplicate(r):
    check(r.get("ok") is True and r.get("duplicate") is True,
          "expected a duplicate answer: %s" % short(r))
    return r


def test_community_model_bad_events(ctx):
    good = {"community": "X", "scope": "J1", "period": "2026H1",
            "score": 70}
    bad = [("score", 100.01, "score"), ("score", -0.5, "score"),
           ("score", "90", "score"), ("score", None, "score"),
           ("period", "2026Q1", "period"), ("period", "2026H3", "period"),
           ("scope", None, "scope"), ("scope", 7, "scope"),
           ("community", None, "community")]
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        expect_bad_fields(c, seq, "community.score", good, bad)
        eid, ts = seq.next()
        expect_error(c.request(event("period.close", id=eid, ts=ts,
                                     cycle="model", scope="J1",
                                     period="2026H1")), "bad_event",
                     "unknown cycle", mentions="cycle")
        eid, ts = seq.next()
        expect_error(c.request(event("period.close", id=eid, ts=ts,
                                     cycle="community", scope="J1",
                                     period="2026Q2")), "bad_event",
                     "a quarter", message="period.close: period: expected "
                     "a half year such as 2026H1 for cycle community, got "
                     "'2026Q2'")
        expect_error(c.request(get("X", kind="community")), "unknown_entity",
                     "refused scores made X")
        # nothing refused was applied: X's first score ranks alone
        score(c, seq, "X", 70)
        close(c, seq, {"X": 70})
        check(len(all_alerts(c)) == 1, "refused events raised alerts")
