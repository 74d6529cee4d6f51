"""explain and dry_run through the socket and zhilictl (DESIGN.md sections 2
and 6): every class of four_color with each condition's truth value and the
attributes it read, every primitive of the shipped rules, and dry runs that
answer what a push would and change nothing (get, stats, seq, subscribers,
alerts, timers), with the same errors as a push."""

import json
import os
import re
import subprocess
from decimal import Decimal

from harness import (T0, Daemon, Seq, all_alerts, check, event,
                     expect_error, expect_event_ok, expect_ok, remove, short,
                     stats, upsert)
from rulesets import HOUR, daemon, dec, send


def explain(c, kind, id):
    r = c.request({"cmd": "explain", "kind": kind, "id": id})
    expect_ok(r, "explain %s %s" % (kind, id))
    check(r["kind"] == kind and r["id"] == id, "explain names the entity: %s"
          % short(r))
    check(isinstance(r.get("explain"), list), "explain list: %s" % short(r))
    return r


def rule_of(r, name):
    for x in r["explain"]:
        if x["rule"] == name:
            return x
    raise AssertionError("no rule %s in %s" % (name, short(r, 2000)))


def when_lines(ctx):
    """The line of each class's `when:` in four_color.yaml, in order."""
    path = os.path.join(ctx.root, "rules", "four_color.yaml")
    with open(path, encoding="utf-8") as f:
        return [i + 1 for i, l in enumerate(f) if re.match(r"\s+when:", l)]


# Each class of four_color, a household in it, and per class in order up
# to the match: its condition's value.
CASES = [
    ("red", {"key_person": True}, [True]),
    ("blue", {"dispute_open": True, "age": 90}, [False, True]),
    ("orange", {"age": 80, "lives_alone": True}, [False, False, True]),
    ("orange", {"disabled": True, "low_income": True}, [False, False, True]),
    ("yellow", {"age": 70}, [False, False, False, True]),
    ("none", {"age": 30}, [False, False, False, False, None]),
]

ALL = ("key_person", "mental_risk", "petition_active", "dispute_open",
       "disabled", "low_income", "lives_alone", "left_behind_child",
       "chronic_ill")


def attr(attrs, name):
    return attrs.get(name, 0 if name == "age" else False)


def check_node(node, attrs, what):
    """A condition node: its value from the household's attributes, and
    every name it read holds the household's value."""
    for k, v in node.get("reads", {}).items():
        check(v == attr(attrs, k), "%s: read %s=%r, household has %r"
              % (what, k, v, attr(attrs, k)))
    for op in node.get("operands", []):
        check_node(op, attrs, what)
    if node.get("evaluated") is False:
        check(node["value"] is None, "%s: not evaluated, value null: %s"
              % (what, short(node)))
        return
    if "op" not in node and re.fullmatch(r"[a-z_]+", node["expr"]):
        check(node["value"] == attr(attrs, node["expr"]), "%s: %s"
              % (what, short(node)))
    m = re.fullmatch(r"age >= (\d+)", node["expr"])
    if m:
        check(node["value"] == (attr(attrs, "age") >= int(m.group(1))),
              "%s: %s" % (what, short(node)))
    if node.get("op") in ("and", "or"):
        vals = [o["value"] for o in node["operands"]
                if o.get("evaluated") is not False]
        want = all(vals) if node["op"] == "and" else any(vals)
        check(node["value"] == want, "%s: %s value %r, operands %r"
              % (what, node["op"], node["value"], vals))
        # short-circuit: it stops at the first deciding operand
        stop = False if node["op"] == "and" else True
        if stop in vals:
            check(vals.index(stop) == len(vals) - 1, "%s: evaluated past "
                  "the deciding operand: %s" % (what, short(node)))


def test_explain_every_class(ctx):
    lines = when_lines(ctx)
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for i, (cls, attrs, verdicts) in enumerate(CASES):
            hid = "H-%d" % i
            eid, ts = seq.next()
            expect_event_ok(c.request(upsert(hid, attrs, id=eid, ts=ts)))
            r = explain(c, "household", hid)
            check(r["removed"] is None, "live: removed null: %s" % short(r))
            fc = rule_of(r, "four_color")
            check(fc["primitive"] == "classify" and fc["class"] == cls,
                  "%s %s: %s" % (hid, attrs, short(fc, 2000)))
            check(re.search(r"four_color\.yaml:\d+$", fc["at"]), fc["at"])
            got = fc["classes"]
            check(len(got) == len(verdicts), "%s: classes up to the match: "
                  "%s" % (hid, short(got, 3000)))
            for j, (k, want) in enumerate(zip(got, verdicts)):
                what = "%s class %s" % (hid, k["class"])
                if want is None:    # the default
                    check(k.get("default") is True and k["matched"] is True,
                          "%s: default: %s" % (what, short(k)))
                    continue
                check(k["matched"] is want and k["when"]["value"] is want,
                      "%s: expected %s: %s" % (what, want, short(k, 2000)))
                check(k["at"].endswith("four_color.yaml:%d" % lines[j]),
                      "%s: at %s, when: is on line %d" % (what, k["at"],
                                                          lines[j]))
                check_node(k["when"], attrs, what)
            check(got[-1]["class"] == cls, "%s: last is the match" % hid)
        # the tree of orange, operand by operand
        fc = rule_of(explain(c, "household", "H-2"), "four_color")
        w = fc["classes"][2]["when"]
        check(w["op"] == "or" and w["reads"] == {"age": 80,
                                                 "lives_alone": True},
              short(w, 2000))
        a, b = w["operands"]
        check(a["expr"] == "age >= 80 and lives_alone" and a["op"] == "and"
              and a["value"] is True, short(a, 2000))
        check([o["value"] for o in a["operands"]] == [True, True], short(a))
        check(b["evaluated"] is False and b["value"] is None, short(b))
        # a removed household is explained as removed
        eid, ts = seq.next()
        expect_event_ok(c.request(remove("H-0", id=eid, ts=ts)))
        r = explain(c, "household", "H-0")
        check(r["removed"] is not None, "removed: %s" % short(r))
        fc = rule_of(r, "four_color")
        check(fc["class"] == "none" and fc.get("removed") is True and
              fc["classes"] == [], short(fc))
        # errors name the field and the problem
        expect_error(c.request({"cmd": "explain", "kind": "household",
                                "id": "H-nope"}), "unknown_entity",
                     mentions="H-nope")
        expect_error(c.request({"cmd": "explain", "kind": "hh", "id": "H"}),
                     "bad_event", mentions="kind")
        expect_error(c.request({"cmd": "explain", "kind": "household"}),
                     "bad_event", mentions="id")
        expect_error(c.request({"cmd": "explain", "kind": "household",
                                "id": 7}), "bad_event", mentions="id")
        expect_error(c.request({"cmd": "explain", "kind": "household",
                                "id": "H-1", "x": 1}), "bad_event",
                     mentions="x")


def ctl(ctx, d, *args, input=None):
    p = subprocess.run([ctx.zhilictl, "--socket", d.sock_path] + list(args),
                       input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_explain_cli(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        expect_event_ok(c.request(upsert("H1", {"age": 82, "lives_alone":
                                                True}, id="e1", ts=T0)))
        rc, out, err = ctl(ctx, d, "explain", "household", "H1")
        check(rc == 0, "explain exit %d: %s" % (rc, err))
        for want in ("household H1", "four_color (classify, ",
                     "橙色（重点关注户）", "-> MATCHED",
                     "age >= 80  => true  [age=82]",
                     "disabled and low_income  (not evaluated)",
                     "key_person or mental_risk  => false"):
            check(want in out, "explain output lacks %r:\n%s" % (want, out))
        # deeper is indented more: the operand under its chain
        lines = out.splitlines()
        i = [n for n, l in enumerate(lines) if "age >= 80  =>" in l][0]
        ind = len(lines[i]) - len(lines[i].lstrip())
        check(ind > len(lines[i - 1]) - len(lines[i - 1].lstrip()),
              "operand indented under its chain:\n%s" % out)
        rc, out, err = ctl(ctx, d, "--json", "explain", "household", "H1")
        check(rc == 0 and json.loads(out) == explain(c, "household", "H1"),
              "--json prints the answer: %s" % out)
        rc, out, err = ctl(ctx, d, "explain", "household", "H9")
        check(rc == 1 and "unknown_entity" in err, "%d %s" % (rc, err))
        rc, out, err = ctl(ctx, d, "explain", "household")
        check(rc == 2, "usage: %d %s" % (rc, err))


def test_explain_every_primitive(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        # score, rank and streak: ten secretaries in S1, two halves
        for period in ("2026H1", "2026H2"):
            for i in range(10):
                for part, v in zip(("street", "community", "residents"),
                                   (60 + i, 70 + i, 80 + i)):
                    eid, ts = seq.next()
                    send(c, event("secretary.score", id=eid, ts=ts,
                                  secretary="S-%d" % i, community="C-%d" % i,
                                  scope="S1", period=period, part=part,
                                  score=v + 0.5))
            eid, ts = seq.next()
            send(c, event("period.close", id=eid, ts=ts, cycle="secretary",
                          scope="S1", period=period))
        r = explain(c, "secretary", "S-0")
        sc = rule_of(r, "secretary.total")
        check(sc["primitive"] == "score" and len(sc["periods"]) == 2,
              short(sc, 2000))
        p = [x for x in sc["periods"] if x["period"] == "2026H1"][0]
        parts = {x["part"]: (dec(x["weight"]), dec(x["value"]))
                 for x in p["parts"]}
        check(parts == {"street": (dec("0.3"), dec("60.5")),
                        "community": (dec("0.5"), dec("70.5")),
                        "residents": (dec("0.2"), dec("80.5"))},
              short(p, 2000))
        want = dec("0.3") * dec("60.5") + dec("0.5") * dec("70.5") + \
            dec("0.2") * dec("80.5")
        check(dec(p["total"]) == want and p["group"] == "S1", short(p))
        rk = rule_of(r, "secretary.warning")
        check(rk["primitive"] == "rank" and dec(rk["bottom"]) == dec("0.1"),
              short(rk))
        for x in rk["periods"]:
            check(x["closed"] is True and x["n"] == 10 and x["k"] == 1 and
                  x["position"] == 1 and x["in"] is True and
                  dec(x["boundary"]) == want and dec(x["total"]) == want,
                  short(x))
        x = [x for x in rule_of(explain(c, "secretary", "S-5"),
                                "secretary.warning")["periods"]][0]
        check(x["position"] == 6 and x["in"] is False and
              dec(x["boundary"]) == want, short(x))
        st = rule_of(r, "secretary.adjust")
        check(st["primitive"] == "streak" and st["count"] == 2 and
              st["periods"] == ["2026H1", "2026H2"] and st["run"] == 2 and
              st["reached"] is True, short(st))
        st = rule_of(explain(c, "secretary", "S-5"), "secretary.adjust")
        check(st["periods"] == [] and st["run"] == 0 and
              st["reached"] is False, short(st))
        # band with a mark, and the deadline it opens when it ends
        eid, ts = seq.next()
        send(c, event("secretary.stars", id=eid, ts=ts, secretary="S-1",
                      community="C-1", period="2026H2", stars=2))
        eid, ts = seq.next()
        send(c, event("community.profile", id=eid, ts=ts, community="C-1",
                      residents=1000, workers=2))
        r = explain(c, "community", "C-1")
        dl = rule_of(r, "community.reinspection")
        check(dl["primitive"] == "deadline" and dl["timers"] == [] and
              dl["after_mark"]["mark"] == "rectify", short(dl))
        until = dl["after_mark"]["opens"]
        rb = [x for x in r["explain"] if x["primitive"] == "band"]
        check(rb, "community has a band rule: %s" % short(r))
        marks = [m for x in rb for m in x["marks"]]
        check(marks and marks[0]["mark"] == "rectify" and
              marks[0]["until"] == until and marks[0]["expired"] is False,
              short(rb, 2000))
        # band over a score: the value and the band it falls in
        for t, v in (("property.evaluation", 95), ("property.assessment", 85)):
            eid, ts = seq.next()
            send(c, event(t, id=eid, ts=ts, company="P1", period="2026Q1",
                          score=v))
        r = explain(c, "company", "P1")
        ps = rule_of(r, "property.score")
        check(dec(ps["periods"][0]["total"]) == dec("88"), short(ps))
        bs = rule_of(r, "property.stars")
        vals = [x for x in bs["periods"] if "value" in x]
        check(vals and dec(vals[0]["value"]) == dec("88") and
              vals[0]["matched"]["level"] == 4 and
              dec(vals[0]["matched"]["min"]) == 80, short(bs, 2000))
        lv = [x for x in bs["periods"] if "level" in x]
        check(lv and lv[0]["level"] == 4, short(bs, 2000))
        # deadline: pending timers with their due times
        t0 = seq.ts + 60
        send(c, event("work_order.created", id="w1", ts=t0, order="O1",
                      community="C1", grid="G1", category="x"))
        r = explain(c, "order", "O1")
        un = rule_of(r, "work_order.unclaimed")
        check(len(un["timers"]) == 1 and un["awaiting"] is True, short(un))
        got = [x for x in c.request({"cmd": "get", "kind": "order",
                                     "id": "O1"})["entity"]
               ["deadlines"].items()]
        check(un["timers"][0]["due"] == dict(got)["work_order.unclaimed"],
              "explain's due is get's: %s %s" % (short(un), got))
        # count and review of a grid
        for i, h in enumerate(("H1", "H2", "H3")):
            eid, ts = seq.next()
            send(c, upsert(h, {"key_person": i == 0}, id=eid, ts=ts,
                           grid="G7"))
        r = explain(c, "grid", "G7")
        ct = rule_of(r, "grid.households")
        check(ct["primitive"] == "count" and ct["total"] == 3 and
              ct["classify"] == "four_color" and
              ct["by_class"]["red"] == 1 and ct["by_class"]["none"] == 2,
              short(ct))
        rv = rule_of(r, "grid.review")
        check(rv["primitive"] == "review" and rv["checks"], short(rv))
        und = [k for k in rv["checks"] if k["alert"] == "grid.undersized"]
        check(und and und[0]["raises"] is True and
              und[0]["when"]["reads"] == {"households": 3}, short(rv, 2000))
        # cadence: the group held and the periods seen
        eid, ts = seq.next()
        send(c, event("leader.assign", id=eid, ts=ts, leader="L1",
                      community="C1"))
        eid, ts = seq.next()
        send(c, event("leader.visit", id=eid, ts=ts, leader="L1",
                      community="C1"))
        cd = rule_of(explain(c, "leader", "L1"), "leader.no_visit")
        check(cd["primitive"] == "cadence" and cd["every"] == "month" and
              cd["held"]["group"] == "C1" and cd["seen"] == ["2026-01"],
              short(cd))
        # held from after January's first instant: February is judged first
        check(cd["next"]["period"] == "2026-02" and
              cd["next"]["met"] is False, short(cd))


def strip(r):
    """An answer without what only a dry run or only a push has."""
    r = dict(r)
    r.pop("dry_run", None)
    r["alerts"] = [dict(a, id=None) for a in r.get("alerts", [])]
    return r


STATS_KEYS = ("events", "duplicates", "alerts", "batches", "seq", "facts",
              "timers", "timers_fired", "commit_failures")


def snapshot(c, gets):
    s = stats(c)
    return ({k: s[k] for k in STATS_KEYS},
            [c.request({"cmd": "get", "kind": k, "id": i}) for k, i in gets],
            all_alerts(c))


def test_dry_run_answers_like_push_and_changes_nothing(ctx):
    """Each event dry-run, state compared, then pushed: the push answers
    what the dry run did (but for alert ids), and its seq is the next."""
    with daemon(ctx) as d:
        c = d.client()
        sub = d.client()
        expect_ok(sub.request({"cmd": "subscribe"}))
        t = T0
        evs = [
            upsert("H1", {"age": 85, "lives_alone": True}, id="d1", ts=t,
                   grid="G1"),
            upsert("H1", {"key_person": True}, id="d2", ts=t + 10,
                   grid="G2"),
            upsert("H2", {"age": 70}, id="d3", ts=t + 20, grid="G2"),
            remove("H2", id="d4", ts=t + 30),
            upsert("H2", {"mental_risk": True}, id="d5", ts=t + 40),
            event("work_order.created", id="d6", ts=t + 50, order="O1",
                  community="C1", grid="G1", category="x"),
            event("secretary.stars", id="d7", ts=t + 60, secretary="S1",
                  community="C1", period="2026H1", stars=1),
            event("leader.assign", id="d8", ts=t + 70, leader="L1",
                  community="C1"),
            event("leader.visit", id="d9", ts=t + 80, leader="L1",
                  community="C1"),
        ]
        for i in range(3):
            for part in ("street", "community", "residents"):
                evs.append(event("secretary.score", id="s%d%s" % (i, part),
                                 ts=t + 90 + i, secretary="S%d" % i,
                                 community="C%d" % i, scope="S1",
                                 period="2026H1", part=part, score=50 + i))
        evs.append(event("period.close", id="close", ts=t + 100,
                         cycle="secretary", scope="S1", period="2026H1"))
        evs.append(event("grid.review", id="rev", ts=t + 110))
        # a tick that fires the work order's 3 h deadline (event clock)
        evs.append(event("clock.tick", ts=t + 4 * HOUR))
        evs.append(event("work_order.closed", id="d10", ts=t + 4 * HOUR + 1,
                         order="O1"))
        gets = [("household", "H1"), ("household", "H2"), ("grid", "G1"),
                ("grid", "G2"), ("order", "O1"), ("secretary", "S0"),
                ("community", "C1"), ("leader", "L1")]
        fired = 0
        for ev in evs:
            before = snapshot(c, gets)
            dry = c.request({"cmd": "dry_run", "event": ev})
            expect_ok(dry, "dry_run %s" % short(ev))
            check(dry.get("dry_run") is True, short(dry))
            check(all(a["id"] is None for a in dry["alerts"]), short(dry))
            again = c.request({"cmd": "dry_run", "event": ev})
            check(again == dry, "a dry run twice answers the same: %s / %s"
                  % (short(dry), short(again)))
            after = snapshot(c, gets)
            check(before == after, "dry_run %s changed state:\n%s\n%s"
                  % (short(ev), short(before, 3000), short(after, 3000)))
            sub.no_response(0.05)
            real = expect_event_ok(c.request(ev))
            check(real["seq"] == dry["seq"] == before[0]["seq"] + 1,
                  "seq: dry %s, push %s, before %s" % (dry["seq"],
                                                       real["seq"],
                                                       before[0]["seq"]))
            check(strip(real) == strip(dry), "push %s answers\n%s\nthe dry "
                  "run answered\n%s" % (short(ev), short(real, 3000),
                                        short(dry, 3000)))
            fired += sum(a["rule"] == "work_order.unclaimed"
                         for a in dry["alerts"])
            for _ in real["alerts"]:
                sub.recv()
        check(fired == 1, "the tick's dry run fired the deadline: %d" % fired)
        # kill -9 after dry runs: the state is what the pushes made
        final = snapshot(c, gets)
        for ev in evs[:5]:
            expect_ok(c.request({"cmd": "dry_run", "event": dict(
                ev, id=str(ev.get("id")) + "-x", ts=T0 + 5 * HOUR)}))
        d.kill9()
        d.start()
        c = d.client()
        got = snapshot(c, gets)
        check(got[1:] == final[1:] and got[0]["seq"] == final[0]["seq"],
              "after kill -9: %s\n%s" % (short(got, 2000),
                                         short(final, 2000)))


def test_dry_run_errors_and_duplicates(ctx):
    with daemon(ctx) as d:
        c = d.client()
        expect_event_ok(c.request(upsert("H1", {"age": 90}, id="e1", ts=T0)))
        send(c, event("period.close", id="cl", ts=T0 + 1, cycle="secretary",
                      scope="S1", period="2026H1"))
        bad = [
            upsert("H1", {"age": "old"}, id="b1", ts=T0 + 5),
            upsert("H1", {"nope": 1}, id="b2", ts=T0 + 5),
            {"type": "household.upsert", "household": "H1", "ts": -5},
            {"type": "no.such", "id": "b3"},
            remove("H9", id="b4", ts=T0 + 5),
            event("work_order.claimed", id="b5", ts=T0 + 5, order="O9",
                  by="x"),
            event("secretary.score", id="b6", ts=T0 + 5, secretary="S1",
                  community="C1", scope="S1", period="2026H1",
                  part="street", score=80),
            event("secretary.score", id="b7", ts=T0 + 5, secretary="S1"),
            {"type": "household.upsert", "household": "H1", "cmd": "x"},
        ]
        for ev in bad:
            dry = c.request({"cmd": "dry_run", "event": ev})
            real = c.request(ev)
            check(real["ok"] is False, "the push must fail: %s" % short(ev))
            check(dry == real, "dry_run of %s answers\n%s\na push answers\n%s"
                  % (short(ev), short(dry), short(real)))
        # an id already accepted: answered as the duplicate
        dry = c.request({"cmd": "dry_run", "event": upsert(
            "H1", {"key_person": True}, id="e1", ts=T0 + 9)})
        check(dry == {"ok": True, "dry_run": True, "seq": 1,
                      "duplicate": True, "alerts": []}, short(dry))
        # the command's own errors
        for req, mention in (({"cmd": "dry_run"}, "event"),
                             ({"cmd": "dry_run", "event": [1]}, "event"),
                             ({"cmd": "dry_run", "event": "x"}, "event"),
                             ({"cmd": "dry_run", "event": {"cmd": "ping"}},
                              "event"),
                             ({"cmd": "dry_run", "event": {}, "x": 1}, "x")):
            expect_error(c.request(req), "bad_event", mentions=mention)
        check(stats(c)["seq"] == 2, "errors consumed no seq")


def test_dry_run_read_role_and_cli(ctx):
    with Daemon(ctx, access=["{uid: self, roles: [read]}"]) as d:
        c = d.client()
        ev = upsert("H1", {"key_person": True}, id="e1", ts=T0)
        expect_error(c.request(ev), "forbidden")
        dry = c.request({"cmd": "dry_run", "event": ev})
        expect_ok(dry, "a reader may dry-run")
        check(dry["alerts"][0]["data"]["to"] == "red", short(dry))
        path = os.path.join(ctx.tmp, "ev.ndjson")
        with open(path, "w") as f:
            f.write(json.dumps(ev) + "\n\n  " +
                    json.dumps(upsert("H2", {"age": "x"})) + "\r\n" +
                    json.dumps(upsert("H3", {"age": 75})))
        rc, out, err = ctl(ctx, d, "push", "--dry-run", path)
        check(rc == 1 and "dry run: 2 accepted, 0 duplicates, 1 errors, "
              "2 alerts" in out and ":3: bad_event" in err,
              "push --dry-run: %d\n%s\n%s" % (rc, out, err))
        rc, out, err = ctl(ctx, d, "--json", "push", "--dry-run", path)
        lines = [json.loads(l) for l in out.splitlines()]
        check(len(lines) == 3 and lines[0]["dry_run"] is True and
              lines[0]["alerts"][0]["id"] is None, out)
        check(stats(c)["seq"] == 0, "nothing was pushed")
