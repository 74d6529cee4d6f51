"""Silences (zhilid(8), "Acknowledging and silencing") through the real
socket and zhilictl: each match key (rule exact and prefix, kind, entity,
severity, and the entity's declared fields, here community, grid and a
work order's category), all keys at once; a silenced alert committed and
in the pusher's answer with `silenced` set, absent from a subscriber that
gets the unsilenced alert after it, left out of `alerts` unless asked;
expiry on the event clock; unsilence; kill -9; roles; bad input."""

import json
import os

from harness import (Daemon, T0, all_alerts, check, check_alert, cmd,
                     event, expect_error, expect_event_ok, expect_ok, iso,
                     parse_ts, short, upsert)
from test_zhilictl import ctl, expect_status

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

RED = {"key_person": True}          # critical
BLUE = {"petition_active": True}    # warning
YEAR = T0 + 365 * 86400
RULES = ["rules/four_color.yaml", "rules/work_order.yaml"]


class Pusher:
    """Events with fresh ids and a clock that only moves forward."""

    def __init__(self, c):
        self.c = c
        self.n = 0
        self.ts = T0

    def push(self, ev):
        self.n += 1
        ev["id"] = "s%d" % self.n
        if "ts" not in ev:
            self.ts += 60
            ev["ts"] = self.ts
        r = expect_event_ok(self.c.request(ev))
        for a in r["alerts"]:
            check_alert(a, "answer to %s" % ev["id"])
        return r["alerts"]

    def household(self, attrs, community="C1", grid="G1"):
        return self.push(upsert("H%d" % (self.n + 1), attrs,
                                community=community, grid=grid))

    def order(self, category="环境卫生", community="C1"):
        """A work order left unclaimed past 3 hours: the timer's alert."""
        o = "O%d" % (self.n + 1)
        # 01:00 of the next day: its end of day stays ahead
        t = T0 + ((self.ts - T0) // 86400 + 1) * 86400 + 3600
        self.push(event("work_order.created", ts=t, order=o,
                        community=community, grid="G1", category=category))
        self.ts = t + 3 * 3600 + 1
        alerts = self.push(event("clock.tick", ts=self.ts))
        check([a["rule"] for a in alerts] == ["work_order.unclaimed"],
              "order %s: %s" % (o, short(alerts, 600)))
        self.push(event("work_order.closed", order=o))
        return alerts


def silence(c, until=YEAR, comment=None, **match):
    q = cmd("silence", match=match, until=until)
    if comment is not None:
        q["comment"] = comment
    r = c.request(q)
    expect_ok(r, "silence %r" % match)
    check(isinstance(r.get("silence"), int) and r["silence"] > 0,
          "silence answer: %s" % short(r))
    return r["silence"]


def silenced(alerts, sid, what):
    check(alerts and all(a["silenced"] == sid for a in alerts),
          "%s: expected silenced by %d: %s" % (what, sid, short(alerts, 600)))


def loud(alerts, what):
    check(alerts and all(a["silenced"] is None for a in alerts),
          "%s: expected not silenced: %s" % (what, short(alerts, 600)))


def test_silence_each_key(ctx):
    with Daemon(ctx, rules=RULES) as d:
        c = d.client()
        sub = d.client()
        expect_ok(sub.request(cmd("subscribe")))
        p = Pusher(c)
        cases = [
            ({"rule": "four_color.changed"}, lambda: p.household(RED),
             lambda: p.order()),
            ({"rule": "four_color.*"}, lambda: p.household(RED),
             lambda: p.order()),
            ({"rule": "work_order.*"}, lambda: p.order(),
             lambda: p.household(RED)),
            ({"rule": "*"}, lambda: p.order(), None),
            ({"kind": "order"}, lambda: p.order(), lambda: p.household(RED)),
            ({"entity": "H%d" % 1000}, lambda: p.push(upsert("H1000", RED)),
             lambda: p.household(RED)),
            ({"severity": "critical"}, lambda: p.household(RED),
             lambda: p.household(BLUE)),
            ({"community": "C9"}, lambda: p.household(RED, community="C9"),
             lambda: p.household(RED)),
            ({"community": "C9"}, lambda: p.order(community="C9"),
             lambda: p.order()),
            ({"grid": "G9"}, lambda: p.household(RED, grid="G9"),
             lambda: p.household(RED)),
            ({"category": "噪音"}, lambda: p.order(category="噪音"),
             lambda: p.order()),
            ({"rule": "four_color.*", "community": "C9",
              "severity": "critical"},
             lambda: p.household(RED, community="C9"),
             lambda: p.household(BLUE, community="C9")),
            ({"rule": "four_color.*", "community": "C9", "grid": "G9"},
             lambda: p.household(RED, community="C9", grid="G9"),
             lambda: p.household(RED, community="C8", grid="G9")),
        ]
        loud_ids, quiet_ids = [], []
        for match, hit, miss in cases:
            sid = silence(c, comment="case %r" % match, **match)
            a = hit()
            silenced(a, sid, "match %r" % match)
            quiet_ids += [x["id"] for x in a]
            if miss is not None:
                a = miss()
                loud(a, "match %r, another alert" % match)
                loud_ids += [x["id"] for x in a]
                # the subscriber's next line: the unsilenced one
                for x in a:
                    got = sub.recv()
                    check(got.get("alert", {}).get("id") == x["id"],
                          "match %r: subscriber should get %d next, got %s"
                          % (match, x["id"], short(got)))
            expect_ok(c.request(cmd("unsilence", silence=sid)))
        sub.no_response()
        # alerts leaves the silenced out unless asked
        got = [a["id"] for a in all_alerts(c)]
        check(got == loud_ids, "alerts: %r, want %r" % (got, loud_ids))
        got = all_alerts(c, silenced=True)
        for a in got:
            check_alert(a, "alerts silenced:true")
        check(sorted(a["id"] for a in got) == sorted(loud_ids + quiet_ids),
              "alerts silenced:true: %r" % [a["id"] for a in got])
        check({a["id"] for a in got if a["silenced"]} == set(quiet_ids),
              "the silenced ones say so")
        got = [a["id"] for a in all_alerts(c, silenced=True, acked=False,
                                           rule="four_color.changed")]
        check(set(got) <= set(loud_ids + quiet_ids) and got == sorted(got),
              "alerts with every filter: %r" % got)


def test_silenced_dry_run_and_timers(ctx):
    """A dry run answers what a push would: silenced set.  A silence made
    after a timer was set covers the timer's alert when it fires."""
    with Daemon(ctx, rules=RULES) as d:
        c = d.client()
        p = Pusher(c)
        sid = silence(c, community="C9")
        r = c.request(cmd("dry_run", event=upsert("H1", RED, community="C9",
                                                  ts=T0 + 1)))
        expect_ok(r, "dry_run")
        check(r["alerts"][0]["silenced"] == sid and
              r["alerts"][0]["id"] is None and
              r["alerts"][0]["acked"] is None,
              "dry run: %s" % short(r))
        silenced(p.order(community="C9"), sid, "an order's timer")


def test_silence_expires_on_the_event_clock(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        p = Pusher(c)
        p.ts = T0
        p.household({}, community="C0")    # the clock at T0+60
        sid = silence(c, until=iso(T0 + 200), comment="works on C9",
                      community="C9")
        # until is the last moment covered
        silenced(p.push(upsert("H1", RED, community="C9", ts=T0 + 200)),
                 sid, "at until")
        r = c.request(cmd("silences"))
        expect_ok(r)
        check([s["id"] for s in r["silences"]] == [sid] and
              r["silences"][0]["active"] is True, "active: %s" % short(r))
        loud(p.push(upsert("H2", RED, community="C9", ts=T0 + 201)),
             "a second after until")
        r = c.request(cmd("silences"))
        check(r.get("silences") == [], "an expired silence is not listed: "
              "%s" % short(r))
        r = c.request(cmd("silences", all=True))
        expect_ok(r)
        s = r["silences"]
        check(len(s) == 1 and s[0]["active"] is False and
              s[0]["ended"] is None and s[0]["match"] == {"community": "C9"}
              and parse_ts(s[0]["until"]) == T0 + 200 and
              s[0]["comment"] == "works on C9" and
              s[0]["created"]["by"] == os.getuid() and
              parse_ts(s[0]["created"]["ts"]) == T0 + 60,
              "silences all: %s" % short(r, 800))
        # an until already past is refused: it would cover nothing
        expect_error(c.request(cmd("silence", match={"community": "C9"},
                                   until=T0 + 200)), "bad_event",
                     mentions="until")
        # unix seconds as well as RFC 3339
        sid = silence(c, until=T0 + 300, community="C9")
        silenced(p.push(upsert("H3", RED, community="C9", ts=T0 + 300)),
                 sid, "unix seconds until")


def test_unsilence(ctx):
    uid = os.getuid()
    with Daemon(ctx) as d:
        c = d.client()
        p = Pusher(c)
        a = silence(c, grid="G9")
        b = silence(c, grid="G9", rule="four_color.*")
        # the lowest id of those that match
        silenced(p.household(RED, grid="G9"), a, "two silences")
        expect_ok(c.request(cmd("unsilence", silence=a)))
        silenced(p.household(RED, grid="G9"), b, "the other one left")
        expect_ok(c.request(cmd("unsilence", silence=b)))
        t_end = p.ts        # the clock when it ended
        loud(p.household(RED, grid="G9"), "both ended")
        # ending an ended one changes nothing
        expect_ok(c.request(cmd("unsilence", silence=b)))
        expect_error(c.request(cmd("unsilence", silence=b + 1)),
                     "unknown_entity")
        expect_error(c.request(cmd("unsilence", silence=0)),
                     "unknown_entity")
        r = c.request(cmd("silences", all=True))
        expect_ok(r)
        e = r["silences"][1]["ended"]
        check(e["by"] == uid and parse_ts(e["ts"]) == t_end,
              "ended by %d at %d (the first end): %s" % (uid, t_end,
                                                         short(r, 800)))
        check(c.request(cmd("silences"))["silences"] == [],
              "no active silence")


def test_silences_survive_kill9(ctx):
    d = Daemon(ctx, rules=RULES)
    d.start()
    c = d.client()
    p = Pusher(c)
    keep = silence(c, comment="kept", rule="four_color.*", community="C9")
    gone = silence(c, grid="G9")
    field = silence(c, category="噪音")
    expect_ok(c.request(cmd("unsilence", silence=gone)))
    before = c.request(cmd("silences", all=True))
    a = p.household(RED, community="C9")
    silenced(a, keep, "before")
    q = a[0]["id"]
    d.kill9()
    d.start()
    c = d.client()
    p.c = c
    check(c.request(cmd("silences", all=True)) == before,
          "silences after kill -9: %s, before: %s" % (
              short(c.request(cmd("silences", all=True)), 800),
              short(before, 800)))
    silenced(p.household(RED, community="C9"), keep, "after kill -9")
    silenced(p.order(category="噪音"), field, "a field's after kill -9")
    loud(p.household(RED, grid="G9"), "the ended one stays ended")
    check(q in [a["id"] for a in all_alerts(c, silenced=True)] and
          q not in [a["id"] for a in all_alerts(c)],
          "the silenced alert before the kill stays silenced")
    # a new silence after the restart takes the next id
    check(silence(c, kind="order") == field + 1, "ids go on")
    d.stop()


def test_silence_roles(ctx):
    with Daemon(ctx, access=["{uid: self, roles: [push, read]}"]) as d:
        c = d.client()
        expect_error(c.request(cmd("silence", match={"grid": "G1"},
                                   until=YEAR)), "forbidden")
        expect_error(c.request(cmd("unsilence", silence=1)), "forbidden")
        expect_ok(c.request(cmd("silences")), "silences is read")
        rc, out, err = expect_status(
            ctl(ctx, "--socket", d.sock_path, "silence", "--grid", "G1",
                "--until", str(YEAR)), 1, "zhilictl silence, read only")
        check("forbidden" in err, "zhilictl: %r" % err)


def test_silence_bad_input(ctx):
    with Daemon(ctx, rules=RULES) as d:
        c = d.client()
        bad = [
            ({"until": YEAR}, "match"),
            ({"match": "grid=G1", "until": YEAR}, "match"),
            ({"match": {}, "until": YEAR}, "match"),
            ({"match": {"rule": 7}, "until": YEAR}, "match.rule"),
            ({"match": {"rule": ""}, "until": YEAR}, "match.rule"),
            ({"match": {"rule": "four*x"}, "until": YEAR}, "match.rule"),
            ({"match": {"kind": "house"}, "until": YEAR}, "match.kind"),
            ({"match": {"entity": None}, "until": YEAR}, "match.entity"),
            ({"match": {"severity": "loud"}, "until": YEAR},
             "match.severity"),
            ({"match": {"colour": "red"}, "until": YEAR}, "match.colour"),
            ({"match": {"kind": "household", "category": "x"},
              "until": YEAR}, "match.category"),
            ({"match": {"grid": ["G1"]}, "until": YEAR}, "match.grid"),
            ({"match": {"grid": "G1"}}, "until"),
            ({"match": {"grid": "G1"}, "until": "tomorrow"}, "until"),
            ({"match": {"grid": "G1"}, "until": -1}, "until"),
            ({"match": {"grid": "G1"}, "until": 1.5}, "until"),
            ({"match": {"grid": "G1"}, "until": 253402300800}, "until"),
            ({"match": {"grid": "G1"}, "until": YEAR, "comment": 7},
             "comment"),
            ({"match": {"grid": "G1"}, "until": YEAR, "by": "me"}, "by"),
        ]
        for q, field in bad:
            expect_error(c.request(cmd("silence", **q)), "bad_event",
                         "silence %r" % q, mentions=field)
        for q, field in (({"all": "yes"}, "all"), ({"active": True},
                                                    "active")):
            expect_error(c.request(cmd("silences", **q)), "bad_event",
                         mentions=field)
        for q in ({}, {"silence": "1"}, {"silence": -1}, {"silence": 1.5}):
            expect_error(c.request(cmd("unsilence", **q)), "bad_event",
                         "unsilence %r" % q, mentions="silence")
        r = c.request(cmd("silences", all=True))
        check(r.get("silences") == [], "nothing was made: %s" % short(r))
        # and the first good one is number 1
        check(silence(c, grid="G1") == 1, "the first silence is 1")


def test_zhilictl_silences(ctx):
    with Daemon(ctx) as d:
        s = ["--socket", d.sock_path]
        c = d.client()
        p = Pusher(c)
        p.household({})
        rc, out, err = expect_status(ctl(ctx, *s, "silence", "--rule",
                                         "four_color.*", "--community=C9",
                                         "--until", iso(YEAR), "--comment",
                                         "整治施工"), 0, "zhilictl silence")
        check(out == "1\n", "zhilictl silence prints the id: %r" % out)
        expect_status(ctl(ctx, *s, "silence", "--grid", "G9", "--until",
                          str(YEAR)), 0, "until in unix seconds")
        rc, out, err = expect_status(ctl(ctx, *s, "silences"), 0,
                                     "silences")
        lines = out.splitlines()
        check(len(lines) == 2 and lines[0].startswith("1 active until ") and
              "rule=four_color.* community=C9 # 整治施工" in lines[0] and
              " by %d " % os.getuid() in lines[0] and
              lines[1].startswith("2 active") and "grid=G9" in lines[1],
              "zhilictl silences: %r" % out)
        q = p.household(RED, community="C9")
        silenced(q, 1, "the CLI's silence")
        rc, out, err = expect_status(ctl(ctx, *s, "--json", "alerts",
                                         "--silenced"), 0, "--silenced")
        check(json.loads(out.splitlines()[-1])["silenced"] == 1,
              "zhilictl alerts --silenced: %r" % out)
        rc, out, err = expect_status(ctl(ctx, *s, "alerts"), 0, "alerts")
        check(str(q[0]["id"]) + " " not in out, "alerts without it: %r"
              % out)
        expect_status(ctl(ctx, *s, "unsilence", "1"), 0, "unsilence")
        rc, out, err = expect_status(ctl(ctx, *s, "silences", "--all"), 0,
                                     "silences --all")
        check(out.splitlines()[0].startswith("1 ended"), "ended: %r" % out)
        rc, out, err = expect_status(ctl(ctx, *s, "--json", "silences"), 0,
                                     "silences --json")
        check([x["id"] for x in json.loads(out)["silences"]] == [2],
              "--json: %r" % out)
        expect_status(ctl(ctx, *s, "unsilence", "7"), 1, "unknown silence")
        expect_status(ctl(ctx, *s, "unsilence", "x"), 2, "bad id")
        expect_status(ctl(ctx, *s, "silence", "--grid", "G1"), 2,
                      "no --until")
        expect_status(ctl(ctx, *s, "silence", "--grid", "G1", "--grid",
                          "G2", "--until", str(YEAR)), 2, "a key twice")
        expect_status(ctl(ctx, *s, "silence", "grid", "--until",
                          str(YEAR)), 2, "not an option")
        rc, out, err = expect_status(ctl(ctx, *s, "silence", "--colour",
                                         "red", "--until", str(YEAR)), 1,
                                     "an unknown key")
        check("match.colour" in err, "names the key: %r" % err)
        expect_status(ctl(ctx, *s, "silences", "--active"), 2,
                      "silences --active")


def test_silence_metrics(ctx):
    """zhilid_alerts_silenced_total counts the silenced alerts committed
    (zhilid_alerts_total counts them too); zhilid_silences_active the
    silences that can still cover one."""
    from test_metrics import metrics, val
    with Daemon(ctx) as d:
        c = d.client()
        p = Pusher(c)
        p.household({})
        m0 = metrics(c)
        check(val(m0, "zhilid_silences_active") == 0, "none active")
        a = silence(c, community="C9")
        silence(c, community="C8", until=p.ts + 60)
        silenced(p.household(RED, community="C9"), a, "C9")
        loud(p.household(RED), "C1")
        m1 = metrics(c)
        check(val(m1, "zhilid_alerts_silenced_total") -
              val(m0, "zhilid_alerts_silenced_total") == 1,
              "one silenced alert counted")
        key = {"rule": "four_color.changed", "severity": "critical"}
        check(val(m1, "zhilid_alerts_total", **key) -
              val(m0, "zhilid_alerts_total", **key) == 2,
              "both alerts counted in zhilid_alerts_total")
        # the second has expired on the event clock
        check(val(m1, "zhilid_silences_active") == 1,
              "one active: %r" % val(m1, "zhilid_silences_active"))
        expect_ok(c.request(cmd("unsilence", silence=a)))
        check(val(metrics(c), "zhilid_silences_active") == 0,
              "none active after unsilence")
