"""The four-colour household map (DESIGN.md 4.1) through the socket: every
class and boundary, precedence, merging of attrs, remove, and the alerts,
their fields and the history that `get` shows."""

from harness import (BOOL_ATTRS, SEVERITY, T0, Daemon, Seq, all_alerts,
                     check, check_alert, check_color_alert, expect_error,
                     expect_event_ok, four_color, get, get_entity, iso,
                     parse_ts, remove, short, upsert)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def classify_fresh(c, seq, household, attrs):
    """Upsert a new household with attrs; check the response and get; return
    the class."""
    want = four_color(attrs)
    eid, ts = seq.next()
    r = expect_event_ok(c.request(upsert(household, attrs, id=eid, ts=ts)),
                        "upsert %s %s" % (household, attrs))
    if want == "none":
        check(r["alerts"] == [], "new household %s %s classified none must "
              "raise no alert, got %s" % (household, attrs, short(r)))
    else:
        check(len(r["alerts"]) == 1, "new household %s %s: expected one "
              "alert none -> %s, got %s" % (household, attrs, want, short(r)))
        check_color_alert(r["alerts"][0], household, "none", want, eid, ts,
                          "%s %s" % (household, attrs))
    e = get_entity(c, household)
    got = e.get("classes", {}).get("four_color")
    check(got == want, "%s with %s: get says class %r, expected %r"
          % (household, attrs, got, want))
    return want


def test_age_boundaries(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        table = [
            # age, lives_alone, class
            (0, False, "none"), (69, False, "none"), (70, False, "yellow"),
            (79, False, "yellow"), (80, False, "yellow"),
            (95, False, "yellow"),
            (0, True, "yellow"), (69, True, "yellow"), (70, True, "yellow"),
            (79, True, "yellow"), (80, True, "orange"), (101, True, "orange"),
        ]
        for i, (age, alone, want) in enumerate(table):
            attrs = {"age": age, "lives_alone": alone}
            check(four_color(attrs) == want, "test table is wrong")
            classify_fresh(c, seq, "AGE-%d" % i, attrs)
        # Age alone, no other attribute sent (the rest default to false).
        for i, (age, want) in enumerate([(69, "none"), (70, "yellow"),
                                         (79, "yellow"), (80, "yellow")]):
            got = classify_fresh(c, seq, "AGEONLY-%d" % i, {"age": age})
            check(got == want, "age %d alone: %s" % (age, got))


def test_each_attribute(ctx):
    want = {"key_person": "red", "mental_risk": "red",
            "petition_active": "blue", "dispute_open": "blue",
            "disabled": "yellow", "low_income": "yellow",
            "chronic_ill": "yellow", "lives_alone": "yellow",
            "left_behind_child": "yellow"}
    check(set(want) == set(BOOL_ATTRS), "test table is wrong")
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for name in BOOL_ATTRS:
            got = classify_fresh(c, seq, "ATTR-" + name, {name: True})
            check(got == want[name], "%s alone gave %s" % (name, got))
            # The same attribute explicitly false: none.
            got = classify_fresh(c, seq, "FALSE-" + name, {name: False})
            check(got == "none", "%s false gave %s" % (name, got))
        # The two orange combinations and their halves.
        for i, attrs in enumerate([
                {"disabled": True, "low_income": True},
                {"age": 80, "lives_alone": True},
                {"age": 85, "lives_alone": True, "disabled": True,
                 "low_income": True},
                {"disabled": True, "low_income": False},
                {"disabled": False, "low_income": True},
                {"age": 80, "lives_alone": False, "disabled": True}]):
            classify_fresh(c, seq, "COMBO-%d" % i, attrs)


def test_precedence(ctx):
    cases = [
        ({"key_person": True, "petition_active": True}, "red"),
        ({"mental_risk": True, "dispute_open": True, "age": 90,
          "lives_alone": True}, "red"),
        ({"key_person": True, "disabled": True, "low_income": True}, "red"),
        ({"mental_risk": True, "chronic_ill": True}, "red"),
        ({"petition_active": True, "age": 85, "lives_alone": True}, "blue"),
        ({"dispute_open": True, "disabled": True, "low_income": True},
         "blue"),
        ({"dispute_open": True, "left_behind_child": True, "age": 75},
         "blue"),
        ({"age": 80, "lives_alone": True, "chronic_ill": True}, "orange"),
        ({"disabled": True, "low_income": True, "left_behind_child": True,
          "age": 72}, "orange"),
        ({"age": 70, "chronic_ill": True, "left_behind_child": True},
         "yellow"),
        (dict({k: True for k in BOOL_ATTRS}, age=99), "red"),
    ]
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for i, (attrs, want) in enumerate(cases):
            check(four_color(attrs) == want, "test table is wrong")
            got = classify_fresh(c, seq, "PREC-%d" % i, attrs)
            check(got == want, "%s gave %s, expected %s" % (attrs, got, want))


def test_merge_attrs(ctx):
    """attrs merge into the record; unset attributes are false or 0."""
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        h = "MERGE-1"
        record = {}
        steps = [
            ({"age": 80}, "yellow"),
            ({"lives_alone": True}, "orange"),       # age 80 kept
            ({"chronic_ill": True}, "orange"),       # no change
            ({"lives_alone": False}, "yellow"),      # chronic_ill, age kept
            ({"age": 50}, "yellow"),                 # chronic_ill still
            ({"chronic_ill": False}, "none"),
            ({}, "none"),                            # empty attrs: no change
            ({"petition_active": True}, "blue"),
            ({"key_person": True}, "red"),
            ({"age": 81, "lives_alone": True}, "red"),
            ({"key_person": False}, "blue"),
            ({"petition_active": False}, "orange"),
        ]
        prev = "none"
        for i, (attrs, want) in enumerate(steps):
            record.update(attrs)
            check(four_color(record) == want, "test table is wrong at %d" % i)
            eid, ts = seq.next()
            r = expect_event_ok(c.request(upsert(h, attrs, id=eid, ts=ts)),
                                "step %d %s" % (i, attrs))
            if want == prev:
                check(r["alerts"] == [], "step %d %s: class stays %s, no "
                      "alert expected, got %s" % (i, attrs, want, short(r)))
            else:
                check(len(r["alerts"]) == 1, "step %d %s: expected one alert"
                      " %s -> %s, got %s" % (i, attrs, prev, want, short(r)))
                check_color_alert(r["alerts"][0], h, prev, want, eid, ts,
                                  "step %d" % i)
            e = get_entity(c, h)
            got = e.get("classes", {}).get("four_color")
            check(got == want, "step %d %s: class %r, expected %r (record %s)"
                  % (i, attrs, got, want, record))
            a = e.get("attrs")
            check(isinstance(a, dict), "entity attrs not an object: %s"
                  % short(e))
            for k in BOOL_ATTRS:
                check(a.get(k, False) is record.get(k, False),
                      "step %d: attrs.%s is %r, expected %r"
                      % (i, k, a.get(k), record.get(k, False)))
            check(a.get("age", 0) == record.get("age", 0),
                  "step %d: attrs.age is %r, expected %r"
                  % (i, a.get("age"), record.get("age", 0)))
            prev = want


def test_new_household_none_no_alert(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for i, attrs in enumerate([{}, {"age": 40}, {"key_person": False},
                                   {k: False for k in BOOL_ATTRS}]):
            classify_fresh(c, seq, "NONE-%d" % i, attrs)
        e = get_entity(c, "NONE-0")
        check(e.get("kind") == "household" and e.get("id") == "NONE-0",
              "entity kind/id: %s" % short(e))
        check(e.get("history", []) == [], "a household that never changed "
              "class has no history entries: %s" % short(e))
        a = e.get("attrs", {})
        for k in BOOL_ATTRS:
            check(a.get(k, False) is False, "unset %s should be false: %s"
                  % (k, short(a)))
        check(a.get("age", 0) == 0, "unset age should be 0: %s" % short(a))
        check(all_alerts(c) == [], "no alerts expected")


def test_transitions_and_severity(ctx):
    """Every colour to every other colour, severity by the new class."""
    sets = {"none": {}, "yellow": {"chronic_ill": True},
            "orange": {"disabled": True, "low_income": True},
            "blue": {"dispute_open": True}, "red": {"mental_risk": True}}
    full_false = {k: False for k in BOOL_ATTRS}
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        n = 0
        for frm in sets:
            for to in sets:
                if frm == to:
                    continue
                n += 1
                h = "T-%s-%s" % (frm, to)
                if frm != "none":
                    eid, ts = seq.next()
                    expect_event_ok(c.request(upsert(
                        h, sets[frm], id=eid, ts=ts)))
                attrs = dict(full_false, age=0)
                attrs.update(sets[to])
                eid, ts = seq.next()
                r = expect_event_ok(c.request(upsert(h, attrs, id=eid,
                                                     ts=ts)))
                check(len(r["alerts"]) == 1, "%s -> %s: expected one alert, "
                      "got %s" % (frm, to, short(r)))
                a = check_color_alert(r["alerts"][0], h, frm, to, eid, ts,
                                      "%s -> %s" % (frm, to))
                check(a["severity"] == SEVERITY[to], "severity")
        check(n == 20, "test table")


def test_remove(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        eid, ts = seq.next()
        expect_event_ok(c.request(upsert("R1", {"key_person": True, "age": 85,
                                               "lives_alone": True},
                                         id=eid, ts=ts)))
        eid, ts = seq.next()
        r = expect_event_ok(c.request(remove("R1", id=eid, ts=ts)), "remove")
        check(len(r["alerts"]) == 1, "remove of a red household: expected "
              "one alert red -> none, got %s" % short(r))
        check_color_alert(r["alerts"][0], "R1", "red", "none", eid, ts,
                          "remove")
        # The record is closed, not deleted (test_removed.py has the rest).
        e = get_entity(c, "R1")
        check(e["removed"] == iso(ts) and e["classes"]["four_color"] ==
              "none" and e["attrs"]["key_person"] is True,
              "get after remove: the closed record, removed at %s: %s"
              % (iso(ts), short(e)))
        # A later upsert starts afresh: the old attributes are gone, the
        # household is new (none, no alert for none).
        eid, ts = seq.next()
        r = expect_event_ok(c.request(upsert("R1", {}, id=eid, ts=ts)))
        check(r["alerts"] == [], "upsert after remove with no attributes: "
              "fresh household classified none, no alert; got %s" % short(r))
        e = get_entity(c, "R1")
        check(e["classes"].get("four_color") == "none", "after remove and "
              "upsert {}: expected none (attributes not kept), got %s"
              % short(e))
        check(e["attrs"].get("key_person", False) is False and
              e["attrs"].get("age", 0) == 0, "attributes survived the "
              "remove: %s" % short(e))
        eid, ts = seq.next()
        r = expect_event_ok(c.request(upsert("R1", {"age": 75}, id=eid,
                                             ts=ts)))
        check(len(r["alerts"]) == 1, "expected none -> yellow: %s" % short(r))
        check_color_alert(r["alerts"][0], "R1", "none", "yellow", eid, ts)

        # Remove straight after an upsert that made it yellow: yellow ->
        # none; then a coloured upsert starts from none.
        for h, attrs, col in (("R2", {"chronic_ill": True}, "yellow"),
                              ("R3", {"dispute_open": True}, "blue"),
                              ("R4", {"age": 80, "lives_alone": True},
                               "orange")):
            eid, ts = seq.next()
            expect_event_ok(c.request(upsert(h, attrs, id=eid, ts=ts)))
            eid, ts = seq.next()
            r = expect_event_ok(c.request(remove(h, id=eid, ts=ts)))
            check(len(r["alerts"]) == 1, "remove %s: %s" % (h, short(r)))
            a = check_color_alert(r["alerts"][0], h, col, "none", eid, ts)
            check(a["severity"] == "info", "colour -> none is info")
            eid, ts = seq.next()
            r = expect_event_ok(c.request(upsert(h, attrs, id=eid, ts=ts)))
            check(len(r["alerts"]) == 1, "re-upsert %s: %s" % (h, short(r)))
            check_color_alert(r["alerts"][0], h, "none", col, eid, ts,
                              "re-upsert after remove starts from none")

        # Removing a household classified none changes no class.
        eid, ts = seq.next()
        expect_event_ok(c.request(upsert("R5", {"age": 30}, id=eid, ts=ts)))
        eid, ts = seq.next()
        r = expect_event_ok(c.request(remove("R5", id=eid, ts=ts)))
        check(r["alerts"] == [], "remove of a household classified none: no "
              "alert expected, got %s" % short(r))
        check(get_entity(c, "R5")["removed"] == iso(ts), "R5 closed")
        expect_error(c.request(remove("R5", ts=ts + 1)), "unknown_entity",
                     "remove of a removed household")


def test_alert_fields(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        ts = T0 + 3600
        r = expect_event_ok(c.request(upsert("F1", {"key_person": True},
                                             id="evt-F1", ts=ts)))
        check(len(r["alerts"]) == 1, "one alert: %s" % short(r))
        a = check_color_alert(r["alerts"][0], "F1", "none", "red", "evt-F1",
                              ts)
        check(a["severity"] == "critical", "red is critical")
        check(a["ts"] == iso(ts), "alert ts in the configured zone "
              "(Asia/Shanghai, +08:00): expected %s, got %r"
              % (iso(ts), a["ts"]))
        # RFC 3339 input timestamps, in another offset.
        ts2 = "2026-03-01T01:30:00Z"
        r = expect_event_ok(c.request(upsert("F2", {"dispute_open": True},
                                             id="evt-F2", ts=ts2)))
        a2 = check_color_alert(r["alerts"][0], "F2", "none", "blue",
                               "evt-F2", ts2)
        check(a2["ts"] == "2026-03-01T09:30:00+08:00", "alert ts: %r"
              % a2["ts"])
        check(a2["id"] > a["id"], "alert ids increase: %d then %d"
              % (a["id"], a2["id"]))
        # The same alerts, field for field, through the alerts command.
        got = all_alerts(c)
        check(got == [a, a2], "alerts command differs from the event "
              "responses:\n%s\n%s" % (short(got, 800), short([a, a2], 800)))
        # Filters.
        r = c.request({"cmd": "alerts", "after": a["id"]})
        check(r.get("ok") is True and r.get("alerts") == [a2],
              "alerts after %d: %s" % (a["id"], short(r)))
        r = c.request({"cmd": "alerts", "limit": 1})
        check(r.get("ok") is True and r.get("alerts") == [a],
              "alerts limit 1: %s" % short(r))
        r = c.request({"cmd": "alerts", "rule": "four_color.changed"})
        check(r.get("ok") is True and r.get("alerts") == [a, a2],
              "alerts rule four_color.changed: %s" % short(r))
        r = c.request({"cmd": "alerts", "rule": "secretary.adjust"})
        check(r.get("ok") is True and r.get("alerts") == [],
              "alerts of another rule: %s" % short(r))
        r = c.request({"cmd": "alerts", "after": a2["id"]})
        check(r.get("ok") is True and r.get("alerts") == [],
              "alerts after the last: %s" % short(r))
        # An event without an id: the alert's event is null.
        r = expect_event_ok(c.request(upsert("F3", {"chronic_ill": True},
                                             ts=ts + 60)))
        a3 = check_color_alert(r["alerts"][0], "F3", "none", "yellow")
        check(a3["event"] is None, "alert of an event without id: event "
              "should be null: %s" % short(a3))


def test_history_in_get(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        h = "HIST-1"
        steps = [({"age": 72}, "yellow"), ({"age": 72}, None),
                 ({"petition_active": True}, "blue"),
                 ({"petition_active": False, "age": 60}, "none"),
                 ({"mental_risk": True}, "red")]
        expected = []
        prev = "none"
        for attrs, to in steps:
            eid, ts = seq.next()
            expect_event_ok(c.request(upsert(h, attrs, id=eid, ts=ts,
                                             community="C7", grid="G9")))
            if to is not None:
                expected.append((ts, prev, to, eid))
                prev = to
        e = get_entity(c, h)
        check(e.get("kind") == "household" and e.get("id") == h,
              "entity kind/id: %s" % short(e))
        check(e.get("community") == "C7" and e.get("grid") == "G9",
              "entity community/grid: %s" % short(e))
        check(e["classes"] == {"four_color": "red"}, "classes: %s"
              % short(e["classes"]))
        hist = e.get("history")
        check(isinstance(hist, list), "history not a list: %s" % short(e))
        check(len(hist) == len(expected), "history should hold %d changes: %s"
              % (len(expected), short(hist, 1000)))
        for i, (h_ent, (ts, frm, to, eid)) in enumerate(zip(hist, expected)):
            check(h_ent.get("rule") == "four_color", "history[%d].rule: %s"
                  % (i, short(h_ent)))
            check(h_ent.get("from") == frm and h_ent.get("to") == to,
                  "history[%d] should be %s -> %s: %s"
                  % (i, frm, to, short(h_ent)))
            check(h_ent.get("event") == eid, "history[%d].event should be %s:"
                  " %s" % (i, eid, short(h_ent)))
            check(parse_ts(h_ent.get("ts")) == ts, "history[%d].ts should be "
                  "%s: %s" % (i, iso(ts), short(h_ent)))
        # A later upsert moves the household to another community.
        eid, ts = seq.next()
        expect_event_ok(c.request(upsert(h, {}, id=eid, ts=ts,
                                         community="C8", grid="G1")))
        e = get_entity(c, h)
        check(e.get("community") == "C8" and e.get("grid") == "G1",
              "community/grid follow the latest upsert: %s" % short(e))


def test_alert_counts_in_stats(ctx):
    from harness import stats
    with Daemon(ctx) as d:
        c = d.client()
        s0 = stats(c)
        seq = Seq()
        n_alerts = 0
        for i in range(30):
            attrs = {"age": 60 + i}
            eid, ts = seq.next()
            r = expect_event_ok(c.request(upsert("S-%d" % (i % 7), attrs,
                                                 id=eid, ts=ts)))
            n_alerts += len(r["alerts"])
            for a in r["alerts"]:
                check_alert(a)
        s1 = stats(c)
        check(s1["events"] - s0["events"] == 30, "stats.events should grow "
              "by 30: %s -> %s" % (s0["events"], s1["events"]))
        check(s1["alerts"] - s0["alerts"] == n_alerts, "stats.alerts should "
              "grow by %d: %s -> %s" % (n_alerts, s0["alerts"], s1["alerts"]))
        check(s1["commits"] >= 1 and s1["clients"] >= 1,
              "stats commits/clients: %s" % short(s1))
        check(len(all_alerts(c)) == n_alerts, "alerts command count")


def test_unicode_ids_and_message(ctx):
    """Chinese ids and names round-trip; the message template is filled
    (no {placeholder} left)."""
    import re
    with Daemon(ctx) as d:
        c = d.client()
        h = "\u5f20\u5bb6-\u4e00\u53f7\u697c"
        r = expect_event_ok(c.request(upsert(
            h, {"age": 88, "lives_alone": True}, id="\u4e8b\u4ef6-1",
            ts=T0, community="\u7f57\u5e84\u793e\u533a",
            grid="\u7b2c\u4e09\u7f51\u683c")))
        a = check_color_alert(r["alerts"][0], h, "none", "orange",
                              "\u4e8b\u4ef6-1", T0)
        check(not re.search(r"\{[A-Za-z_][A-Za-z0-9_.]*\}", a["message"]),
              "unfilled placeholder in message: %r" % a["message"])
        e = get_entity(c, h)
        check(e["id"] == h and e.get("community") == "\u7f57\u5e84\u793e"
              "\u533a", "get: %s" % short(e))
        expect_error(c.request(get(h + " ")), "unknown_entity")
