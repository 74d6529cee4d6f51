"""zhilictl backtest (zhilictl(1) BACKTEST) through real processes: the log
a real daemon wrote, replayed into candidate rule files in process.

- the shipped rules replayed against the log they produced, over every
  shipped rule set (timers, period closes, reviews and removals
  included): no difference, exit 0;
- four_color's orange age threshold lowered from 80 to 75: exactly the
  alerts of households aged 75-79 living alone differ, with per-rule
  counts and --json lines computed here from the events pushed (a model
  of the classify rule, not the daemon's answers); --from/--to narrow the
  comparison and not the replay;
- beside a running daemon under load: every backtest reads a consistent
  snapshot (no difference while a pusher keeps adding alerts) and the
  pusher's events keep being acknowledged;
- errors: a missing database, a bad rule file (FILE:LINE:COL), a bad
  --from, a missing --rules: exit 2 with the reason.
"""

import json
import os
import random
import threading
import time

from harness import (Daemon, T0, check, dumps, expect_ok, pipeline, short,
                     upsert)
from rulesets import shipped_rules
from test_zhilictl import ctl, expect_status

TIMEOUT = 300
DAY = 86400


def rules_path(ctx, name):
    return os.path.join(ctx.root, "rules", name)


def candidate_75(ctx):
    """four_color.yaml with the orange threshold at 75 rather than 80."""
    with open(rules_path(ctx, "four_color.yaml"), encoding="utf-8") as f:
        text = f.read()
    old = "(age >= 80 and lives_alone)"
    check(text.count(old) == 1, "four_color.yaml no longer says %s" % old)
    path = os.path.join(ctx.tmp, "four_color_75.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, "(age >= 75 and lives_alone)"))
    return path


def push_all(d, events):
    """Push events over one connection; every one must be accepted.
    Returns the responses."""
    with d.client() as c:
        out = []
        for i in range(0, len(events), 2000):
            rs = pipeline(c, events[i:i + 2000])
            for e, r in zip(events[i:i + 2000], rs):
                check(r.get("ok") is True, "refused: %s -> %s"
                      % (short(dumps(e)), short(r)))
            out.extend(rs)
        return out


def backtest(ctx, d, *args):
    return ctl(ctx, "-c", d.conf_path, "backtest", *args, timeout=240)


def json_lines(out):
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    check(lines and "summary" in lines[-1], "no summary line last: %s"
          % short(out, 600))
    return lines[:-1], lines[-1]["summary"]


# ---------------------------------------------------------------------------
# A log over every shipped rule set

def iso_ts(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(ts + 8 * 3600))


def mixed_log(seed=12):
    """Events of every shipped rule set over 2026, in ts order, each
    accepted by the shipped rules: households (classes, removal), work
    orders (deadlines met and missed), secretaries, communities, grids,
    branches (scores, ranks, closes, reviews), property services (bands)
    and leaders (monthly visits)."""
    rnd = random.Random(seed)
    ev = []
    t = [T0 + 3600]

    def at(obj, step=60):
        t[0] += step
        obj["ts"] = t[0]
        ev.append(obj)

    comms = ["C%d" % i for i in range(1, 7)]
    for c in comms:
        at({"type": "community.profile", "community": c,
            "residents": rnd.randint(800, 12000),
            "workers": rnd.randint(2, 15)})
    for g in range(1, 13):
        at({"type": "grid.staff", "grid": "G%d" % g,
            "community": comms[g % len(comms)], "leader": "L%d" % g,
            "members": rnd.randint(0, 6)})
    for i in range(1, 6):
        at({"type": "leader.assign", "leader": "D%d" % i,
            "community": comms[i % len(comms)]})
    alive = set()
    orders = []
    for month in range(12):
        base = T0 + month * 30 * DAY + DAY
        t[0] = max(t[0], base)
        for _ in range(40):
            h = "H%03d" % rnd.randint(1, 60)
            attrs = {"age": rnd.choice([30, 65, 72, 76, 79, 80, 88])}
            for k in ("lives_alone", "disabled", "low_income",
                      "chronic_ill", "key_person", "petition_active"):
                if rnd.random() < 0.25:
                    attrs[k] = rnd.random() < 0.5
            at(upsert(h, attrs, community=rnd.choice(comms),
                      grid="G%d" % rnd.randint(1, 12)))
            alive.add(h)
            if rnd.random() < 0.05 and alive:
                g = sorted(alive)[rnd.randrange(len(alive))]
                at({"type": "household.remove", "household": g})
                alive.discard(g)
        for _ in range(8):
            o = "O%d" % (len(orders) + 1)
            orders.append(o)
            at({"type": "work_order.created", "order": o,
                "community": rnd.choice(comms), "grid": "G1",
                "category": rnd.choice(["water", "road"])})
            r = rnd.random()
            if r < 0.4:
                at({"type": "work_order.claimed", "order": o, "by": "u1"},
                   step=rnd.choice([600, 4 * 3600]))
            if r < 0.7:
                at({"type": "work_order.closed", "order": o},
                   step=rnd.choice([1800, 30 * 3600]))
        q = "2026Q%d" % (month // 3 + 1)
        for p in ("P1", "P2", "P3"):
            at({"type": rnd.choice(["property.evaluation",
                                    "property.assessment"]),
                "company": p, "period": q,
                "score": rnd.choice([55, 62.5, 75, 88, 95])})
        for i in range(1, 6):
            if rnd.random() < 0.6:
                at({"type": "leader.visit", "leader": "D%d" % i,
                    "community": comms[i % len(comms)]})
        if month in (4, 10):
            half = "2026H1" if month < 6 else "2026H2"
            for s in range(1, 11):
                for part in ("street", "community", "residents"):
                    at({"type": "secretary.score", "secretary": "S%d" % s,
                        "community": comms[s % len(comms)], "scope": "J1",
                        "period": half, "part": part,
                        "score": rnd.randint(50, 99)}, step=5)
                at({"type": "secretary.stars", "secretary": "S%d" % s,
                    "community": comms[s % len(comms)], "period": half,
                    "stars": rnd.randint(1, 5)}, step=5)
            for c in comms:
                at({"type": "community.score", "community": c,
                    "scope": "J1", "period": half,
                    "score": rnd.randint(60, 99)}, step=5)
                at({"type": "branch.level", "branch": "B" + c,
                    "community": c, "scope": "J1", "period": half,
                    "level": rnd.choice(["model", "advanced", "basic"])},
                   step=5)
        if month in (5, 11):
            half = "2026H1" if month < 6 else "2026H2"
            at({"type": "period.close", "cycle": "secretary",
                "scope": "J1", "period": half}, step=20 * DAY)
            at({"type": "period.close", "cycle": "community",
                "scope": "J1", "period": half})
            at({"type": "branch.review", "scope": "J1", "period": half})
            at({"type": "grid.review"})
    at({"type": "leader.release", "leader": "D1"})
    # a year on: the rectification marks expire and wait for a re-inspection
    at({"type": "clock.tick"}, step=400 * DAY)
    for i, c in enumerate(comms):
        if i % 2 == 0:
            at({"type": "community.reinspection", "community": c,
                "result": rnd.choice(["pass", "rebound"])}, step=3600)
    at({"type": "clock.tick"}, step=40 * DAY)
    return ev


def test_shipped_rules_replay_without_difference(ctx):
    events = mixed_log()
    with Daemon(ctx, rules=shipped_rules(ctx)) as d:
        with d.client() as c:
            rs = pipeline(c, events)
        ok = sum(1 for r in rs if r.get("ok") is True)
        refused = [(e, r) for e, r in zip(events, rs) if r.get("ok") is not True]
        check(ok >= len(events) * 9 // 10, "the log generator is off: %d of "
              "%d refused, e.g. %s" % (len(refused), len(events),
                                       short(refused[:3], 800)))
        alerts = sum(len(r.get("alerts", [])) for r in rs)
        check(alerts > 100, "too few alerts to compare: %d" % alerts)
        res = backtest(ctx, d, "--rules", *shipped_rules(ctx))
        rc, out, err = expect_status(res, 0, "backtest of the shipped rules")
        check("no differences" in out, "text: %s" % short(out, 800))
        rc, out, err = expect_status(
            backtest(ctx, d, "--json", "--rules", *shipped_rules(ctx)), 0,
            "backtest --json")
        diffs, summary = json_lines(out)
        check(diffs == [], "differences: %s" % short(diffs, 800))
        check(summary["events"] == ok and summary["refused"] == 0 and
              summary["stored"] == summary["candidate"] and
              summary["rules"] == {},
              "summary: %s (accepted %d)" % (summary, ok))
        # the rules of every primitive raised alerts in that log
        check(summary["stored"] >= alerts, "stored %d, answered %d"
              % (summary["stored"], alerts))
        # a rule set left out: its alerts are all removed, its events
        # refused (unknown_type), exit 1
        rest = [r for r in shipped_rules(ctx)
                if not r.endswith("work_order.yaml")]
        rc, out, err = expect_status(
            backtest(ctx, d, "--json", "--rules", *rest), 1,
            "backtest without work_order.yaml")
        diffs, summary = json_lines(out)
        kinds = {(x["diff"], x.get("rule", "")) for x in diffs}
        check(all(k[0] == "refused" or (k[0] == "removed" and
                                        k[1].startswith("work_order."))
                  for k in kinds), "unexpected: %s" % short(sorted(kinds), 600))
        n_orders = sum(1 for e in events if e["type"].startswith("work_"))
        check(summary["refused"] == n_orders, "refused %s, work order "
              "events %d" % (summary["refused"], n_orders))


# ---------------------------------------------------------------------------
# The orange threshold, 80 -> 75

def klass(a, orange_age):
    if a.get("key_person") or a.get("mental_risk"):
        return "red"
    if a.get("petition_active") or a.get("dispute_open"):
        return "blue"
    if (a.get("age", 0) >= orange_age and a.get("lives_alone")) or \
            (a.get("disabled") and a.get("low_income")):
        return "orange"
    if a.get("age", 0) >= 70 or a.get("disabled") or a.get("low_income") \
            or a.get("chronic_ill") or a.get("lives_alone") or \
            a.get("left_behind_child"):
        return "yellow"
    return "none"


def threshold_log(n=400, seed=75):
    rnd = random.Random(seed)
    ev = []
    for i in range(n):
        h = "H%03d" % rnd.randint(1, 120)
        attrs = {"age": rnd.choice([50, 70, 74, 75, 77, 79, 80, 85])}
        for k in ("lives_alone", "disabled", "low_income", "key_person",
                  "petition_active", "chronic_ill"):
            if rnd.random() < (0.5 if k == "lives_alone" else 0.12):
                attrs[k] = rnd.random() < (0.7 if k == "lives_alone"
                                           else 0.5)
        ev.append(upsert(h, attrs, id="e%d" % i, ts=T0 + 60 * i))
    return ev


def expected_diffs(events, seqs):
    """{(diff, seq, household)}: what the 75 threshold changes, from the
    events alone: a four_color.changed alert per class change."""
    rec = {}
    cls80, cls75 = {}, {}
    want = set()
    for e, seq in zip(events, seqs):
        h = e["household"]
        rec.setdefault(h, {}).update(e["attrs"])
        a = rec[h]
        before = (cls80.get(h, "none"), cls75.get(h, "none"))
        now = (klass(a, 80), klass(a, 75))
        cls80[h], cls75[h] = now
        if now[0] != now[1]:    # yellow to orange, aged 75-79 alone
            check(now == ("yellow", "orange") and 75 <= a["age"] < 80 and
                  a.get("lives_alone"), "the model moves %s: %s" % (h, a))
        alert80 = before[0] != now[0] and (before[0], now[0])
        alert75 = before[1] != now[1] and (before[1], now[1])
        if alert80 == alert75:
            continue
        if alert80 and alert75:
            want.add(("changed", seq, h))
        elif alert75:
            want.add(("added", seq, h))
        else:
            want.add(("removed", seq, h))
    return want


def test_orange_threshold_75(ctx):
    events = threshold_log()
    with Daemon(ctx) as d:
        rs = push_all(d, events)
        seqs = [r["seq"] for r in rs]
        want = expected_diffs(events, seqs)
        check(len(want) >= 10, "the log moves too few: %d" % len(want))
        cand = candidate_75(ctx)
        rc, out, err = expect_status(
            backtest(ctx, d, "--json", "--rules", cand), 1,
            "backtest at 75")
        diffs, summary = json_lines(out)
        got = {(x["diff"], x["seq"], x["entity"]) for x in diffs}
        check(got == want, "differences: missing %s, unexpected %s"
              % (short(sorted(want - got), 600),
                 short(sorted(got - want), 600)))
        counts = {}
        for k, _, _ in want:
            counts[k] = counts.get(k, 0) + 1
        n = {k: counts.get(k, 0) for k in ("added", "removed", "changed")}
        check(summary["rules"] == {"four_color.changed": n},
              "per rule: %s, expected %s" % (summary["rules"], n))
        for x in diffs:
            check(x["rule"] == "four_color.changed" and
                  x["kind"] == "household", "rule: %s" % short(x))
            if x["diff"] == "changed":
                check(x["stored"]["id"] > 0 and x["candidate"]["id"] is None
                      and x["stored"]["event"] == x["candidate"]["event"],
                      "ids: %s" % short(x))
        # the first upsert of a yellow-at-80, orange-at-75 household
        firsts = [x for x in diffs if x["diff"] == "changed" and
                  x["stored"]["data"] == {"from": "none", "to": "yellow"}]
        for x in firsts:
            check(x["candidate"]["data"] == {"from": "none", "to": "orange"}
                  and x["candidate"]["severity"] == "warning" and
                  x["stored"]["severity"] == "info", "first: %s" % short(x))
        check(firsts, "no none->yellow that became none->orange")

        # the text: counts and at most --limit examples per kind
        rc, out, err = expect_status(
            backtest(ctx, d, "--rules", cand, "--limit", "2"), 1, "text")
        line = "four_color.changed: %d added, %d removed, %d changed" % (
            n["added"], n["removed"], n["changed"])
        check(line in out, "expected %r in:\n%s" % (line, short(out, 1500)))
        for k in ("added", "removed", "changed"):
            shown = [x for x in out.splitlines()
                     if x.strip().startswith(k + " ")]
            check(len(shown) == min(2, n[k]), "%s examples: %s"
                  % (k, short(shown, 600)))
            for x in shown:
                check(" household H" in x and "event seq " in x and
                      "(id e" in x, "example: %s" % x)

        # --from/--to: the same replay, only the events in range compared
        lo, hi = T0 + 60 * 100, T0 + 60 * 250
        rc, out, err = backtest(ctx, d, "--json", "--rules", cand,
                                "--from", str(lo), "--to", iso_ts(hi))
        diffs, summary = json_lines(out)
        got = {(x["diff"], x["seq"], x["entity"]) for x in diffs}
        ts_of = dict(zip(seqs, (e["ts"] for e in events)))
        inrange = {w for w in want if lo <= ts_of[w[1]] <= hi}
        check(got == inrange and rc == (1 if inrange else 0),
              "range: missing %s, unexpected %s"
              % (short(sorted(inrange - got), 400),
                 short(sorted(got - inrange), 400)))
        # the shipped file itself: no difference
        expect_status(backtest(ctx, d, "--rules",
                               rules_path(ctx, "four_color.yaml")), 0,
                      "the shipped file")


# ---------------------------------------------------------------------------
# Beside a running daemon under load

def test_backtest_beside_daemon_under_load(ctx):
    events = threshold_log(3000, seed=7)
    with Daemon(ctx, durability="normal") as d:
        push_all(d, events)
        stop = threading.Event()
        acked = []
        errors = []

        def pusher():
            rnd = random.Random(3)
            i = 0
            try:
                with d.client() as c:
                    while not stop.is_set():
                        batch = []
                        for _ in range(200):
                            i += 1
                            batch.append(upsert(
                                "L%04d" % rnd.randint(1, 500),
                                {"age": rnd.choice([40, 76, 85]),
                                 "lives_alone": rnd.random() < 0.5,
                                 "key_person": rnd.random() < 0.1},
                                id="load-%d" % i,
                                ts=T0 + 3000 * 60 + i))
                        for r in pipeline(c, batch):
                            if r.get("ok") is not True:
                                errors.append(r)
                        acked.append((time.monotonic(), len(batch)))
            except Exception as e:      # reported below
                errors.append(repr(e))

        th = threading.Thread(target=pusher, daemon=True)
        th.start()
        try:
            while not acked and th.is_alive():
                time.sleep(0.05)
            runs = []
            for _ in range(4):
                t0 = time.monotonic()
                rc, out, err = backtest(
                    ctx, d, "--json", "--rules",
                    rules_path(ctx, "four_color.yaml"))
                runs.append((t0, time.monotonic(), rc, out, err))
        finally:
            stop.set()
            th.join(60)
        check(not errors, "the pusher got: %s" % short(errors[:3], 600))
        for t0, t1, rc, out, err in runs:
            check(rc == 0, "backtest under load: exit %d\n%s\n%s"
                  % (rc, short(out, 800), short(err, 400)))
            diffs, summary = json_lines(out)
            check(summary["events"] >= len(events), "saw %d events"
                  % summary["events"])
            during = sum(n for t, n in acked if t0 <= t <= t1)
            check(during > 0 or t1 - t0 < 0.05,
                  "no push acknowledged during a %.2fs backtest"
                  % (t1 - t0))
        # the snapshots grew with the pusher's events
        seen = [json_lines(r[3])[1]["events"] for r in runs]
        check(seen == sorted(seen) and seen[-1] > seen[0],
              "events seen per run: %s" % seen)
        with d.client() as c:
            expect_ok(c.request({"cmd": "ping"}))


# ---------------------------------------------------------------------------
# Errors

def test_backtest_errors(ctx):
    with Daemon(ctx) as d:
        push_all(d, threshold_log(20))
        four = rules_path(ctx, "four_color.yaml")
        rc, out, err = expect_status(
            ctl(ctx, "backtest", "--rules", four, "--db",
                os.path.join(ctx.tmp, "missing.db")), 2, "missing db")
        check("missing.db: No such file or directory" in err, err)
        bad = os.path.join(ctx.tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("kind: household\nattributes: {age: int}\nrules:\n"
                    "  r:\n    classify:\n      - class: a\n"
                    "        when: agee >= 80\n")
        rc, out, err = expect_status(backtest(ctx, d, "--rules", bad), 2,
                                     "bad rules")
        check("bad.yaml:7:15: error: " in err and "agee" in err, err)
        rc, out, err = expect_status(
            backtest(ctx, d, "--rules", four, "--from", "last week"), 2,
            "bad --from")
        check("--from: expected an RFC 3339 time" in err and
              "'last week'" in err, err)
        rc, out, err = expect_status(backtest(ctx, d), 2, "no --rules")
        check("--rules" in err, err)
        rc, out, err = expect_status(
            backtest(ctx, d, "--rules", four, "--limit", "-1"), 2,
            "bad --limit")
        check("--limit" in err, err)
        notdb = os.path.join(ctx.tmp, "not.db")
        with open(notdb, "w") as f:
            f.write("hello")
        rc, out, err = expect_status(
            ctl(ctx, "backtest", "--rules", four, "--db", notdb), 2,
            "not a database")
        check("not.db" in err, err)
        # --db overrides the config's database
        expect_status(ctl(ctx, "-c", d.conf_path, "backtest", "--rules",
                          four, "--db", d.db_path), 0, "--db")


# ---------------------------------------------------------------------------
# Progress on a terminal

def test_progress_line_on_a_terminal(ctx):
    import pty
    import select as sel
    import subprocess
    from test_zhilictl import env_of
    with Daemon(ctx) as d:
        push_all(d, threshold_log(50))
        four = rules_path(ctx, "four_color.yaml")
        master, slave = pty.openpty()
        p = subprocess.Popen([ctx.zhilictl, "-c", d.conf_path, "backtest",
                              "--rules", four], stdout=subprocess.PIPE,
                             stderr=slave, stdin=subprocess.DEVNULL,
                             env=env_of())
        os.close(slave)
        out = p.communicate(timeout=60)[0].decode()
        err = b""
        while sel.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        os.close(master)
        err = err.decode("utf-8", "replace")
        check(p.returncode == 0 and "no differences" in out,
              "%s %s" % (p.returncode, out))
        check("backtest: 50/50 events, " in err and " events/s, ETA 0s"
              in err, "progress: %r" % err)
        # not a terminal: no progress line
        rc, out, err = backtest(ctx, d, "--rules", four)
        check(rc == 0 and err == "", "stderr: %r" % err)
