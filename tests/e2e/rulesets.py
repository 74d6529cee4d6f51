"""Helpers shared by the end-to-end tests of the shipped rule sets
secretary, property and work_order (zhilid.rules(5)): a daemon on every
shipped rule file, exact-decimal expectations and strict alert checks.

Not a test module (run.py only loads test_*.py)."""

import glob
import os
from decimal import Decimal

from harness import (Daemon, check, check_alert, event, expect_error,
                     expect_event_ok, iso, parse_ts, short)

YEAR = 365 * 86400          # 31536000 s: the rectification window
HOUR = 3600


def shipped_rules(ctx):
    """Every rules/*.yaml of the checkout, in name order (the harness's
    default is four_color.yaml alone)."""
    files = sorted(glob.glob(os.path.join(ctx.root, "rules", "*.yaml")))
    check(files, "no rules/*.yaml in %s" % ctx.root)
    return files


def daemon(ctx, **kw):
    """A Daemon (event clock unless clock= is given) on every shipped rule
    file."""
    kw.setdefault("rules", shipped_rules(ctx))
    return Daemon(ctx, **kw)


def dec(x):
    """Decimal of a number written in a test (str() first: 60.5 -> '60.5')."""
    return x if isinstance(x, Decimal) else Decimal(str(x))


def num(x):
    """What a decimal looks like after a JSON round trip: the float nearest
    to its exact value (so 69.32 == 69.32, and 69.32000000000001 is not)."""
    return float(dec(x))


def same(got, want):
    """Deep equality of JSON values where booleans are never numbers and
    integers equal floats of the same value (90 == 90.0)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(got, bool) and isinstance(want, bool) and \
            got is want
    if isinstance(want, (int, float)):
        return isinstance(got, (int, float)) and got == want
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and \
            all(same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and \
            all(same(g, w) for g, w in zip(got, want))
    return got == want


ANY = object()


def check_rule_alert(a, rule, severity, kind, entity, period=ANY, data=ANY,
                     event=ANY, ts=ANY, what=""):
    """An ALERT with these fields; period/event may be None (JSON null);
    ts is unix seconds or RFC 3339; data is compared with same()."""
    pre = (what + ": ") if what else ""
    check_alert(a, what)
    for k, v in (("rule", rule), ("severity", severity), ("kind", kind),
                 ("entity", entity)):
        check(a[k] == v, "%salert %s should be %r: %s" % (pre, k, v,
                                                         short(a, 600)))
    if period is not ANY:
        check(a["period"] == period, "%salert period should be %r: %s"
              % (pre, period, short(a, 600)))
    if event is not ANY:
        check(a["event"] == event, "%salert event should be %r: %s"
              % (pre, event, short(a, 600)))
    if ts is not ANY:
        want = parse_ts(ts)
        check(parse_ts(a["ts"]) == want, "%salert ts should be %s: %s"
              % (pre, iso(want), short(a, 600)))
    if data is not ANY:
        check(same(a["data"], data), "%salert data should be %s: %s"
              % (pre, short(data), short(a, 600)))
    return a


def keys(alerts):
    """The sorted (rule, entity) pairs of a list of alerts."""
    return sorted((a.get("rule"), a.get("entity")) for a in alerts)


def expect_keys(alerts, want, what=""):
    """alerts hold exactly the (rule, entity) pairs want (a multiset)."""
    got = keys(alerts)
    check(got == sorted(want), "%sexpected alerts %s, got %s" % (
        (what + ": ") if what else "", sorted(want), short(alerts, 1500)))
    return alerts


def pick(alerts, rule, entity):
    """The one alert of rule for entity in alerts."""
    found = [a for a in alerts if a.get("rule") == rule and
             a.get("entity") == entity]
    check(len(found) == 1, "expected one %s for %s, found %d in %s"
          % (rule, entity, len(found), short(alerts, 1500)))
    return found[0]


def send(c, obj, what=None):
    """Send an event that must be accepted; returns its alerts."""
    r = expect_event_ok(c.request(obj), what or "%s %s" % (
        obj.get("type"), obj.get("id")))
    return r["alerts"]


def expect_bad_fields(c, seq, type, good, bad):
    """Each (field, value, named) of bad, put into the fields good (None
    leaves the field out), makes an event of type that is refused as
    bad_event with a message naming named."""
    for field, value, named in bad:
        f = dict(good, **{field: value})
        f = {k: v for k, v in f.items() if v is not None}
        eid, ts = seq.next()
        expect_error(c.request(event(type, id=eid, ts=ts, **f)), "bad_event",
                     "%s %s=%r" % (type, field, value), mentions=named)


def check_timer_alert(a, rule, severity, kind, entity, due, data,
                      what=""):
    """An alert fired by a timer: event null, period null, ts the due
    instant."""
    return check_rule_alert(a, rule, severity, kind, entity, period=None,
                            data=data, event=None, ts=due, what=what)


def check_ts_order(alerts, what=""):
    """Alerts in non-decreasing ts order."""
    ts = [parse_ts(a["ts"]) for a in alerts]
    check(ts == sorted(ts), "%salerts not in deadline order: %s" % (
        (what + ": ") if what else "", [a["ts"] for a in alerts]))


# -- secretary (zhilid.rules(5)) -----------------------------------------

PARTS = ("street", "community", "residents")
SECRETARY_WEIGHTS = {"street": dec("0.3"), "community": dec("0.5"),
                     "residents": dec("0.2")}


def secretary_total(parts, w=SECRETARY_WEIGHTS):
    """The exact weighted total of a {part: score} dict."""
    return sum(w[p] * dec(v) for p, v in parts.items())


def secretary_model(period, by_sec, prev=None, w=SECRETARY_WEIGHTS):
    """The alerts the secretary rules give a close: {(rule, entity): (severity,
    data)} and the bottom set.  prev: (previous period, its bottom set) when
    that period was closed for the scope."""
    done = {s: secretary_total(p, w) for s, p in by_sec.items()
            if set(p) == set(PARTS)}
    out, bottom = {}, set()
    n = len(done)
    if n:
        k = (n + 9) // 10
        kth = sorted(done.values())[k - 1]
        for s, t in done.items():
            if t <= kth:
                bottom.add(s)
                pos = 1 + sum(1 for u in done.values() if u < t)
                out[("secretary.warning", s)] = ("warning", {
                    "total": num(t), "position": pos, "n": n, "k": k})
                if prev is not None and s in prev[1]:
                    out[("secretary.adjust", s)] = ("critical", {
                        "total": num(t), "periods": [prev[0], period]})
    for s, p in by_sec.items():
        if s not in done:
            out[("secretary.incomplete", s)] = ("info", {
                "missing": [x for x in PARTS if x not in p]})
    return out, bottom
