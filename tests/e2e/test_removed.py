"""A household that moved out keeps its file (DESIGN.md 4.1): after a
remove, `get` still answers the closed record, with "removed" the removal's
ts, class none, the attributes as they were and the whole history; across
kill -9 and clean restarts alike; a later upsert opens a new record in the
same file; other events and a second remove of a removed entity are
unknown_entity; rules that range over entities leave removed ones out; and
a database from before the removal ts was kept migrates."""

import os
import shutil
import sqlite3

from harness import (T0, Daemon, Seq, all_alerts, check, check_color_alert,
                     sqlite_only,
                     event, expect_error, expect_event_ok, get,
                     get_entity, iso, parse_ts, remove, short, upsert)
from test_retention import undo_event_log_schema

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

RED = {"key_person": True, "age": 85, "lives_alone": True}


def history(e):
    """The history of an entity as (from, to, event) triples."""
    return [(h["from"], h["to"], h["event"]) for h in e["history"]]


def restart(d, c, how):
    """Close c, stop d by kill -9 or a clean stop, start it again; returns
    a new client."""
    c.close()
    if how == "kill -9":
        d.kill9()
    else:
        d.stop()
    d.start()
    return d.client()


def check_closed(e, ts, attrs, what):
    """e is the closed record of a household removed at ts, its attributes
    those of attrs (the rest unset)."""
    check(e.get("removed") == iso(ts), "%s: removed should be %s (the "
          "removal's ts, RFC 3339 in the configured zone): %s"
          % (what, iso(ts), short(e, 800)))
    check(e["classes"] == {"four_color": "none"}, "%s: a removed household's "
          "class is none: %s" % (what, short(e["classes"])))
    for k, v in e["attrs"].items():
        want = attrs.get(k, 0 if k == "age" else False)
        check(v == want and type(v) is type(want), "%s: attrs.%s is %r, "
              "as at the removal it was %r" % (what, k, v, want))


def test_removed_record_kept(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        e_up, ts_up = seq.next()
        r = expect_event_ok(c.request(upsert("H1", RED, id=e_up, ts=ts_up,
                                             community="C2", grid="G3")))
        check_color_alert(r["alerts"][0], "H1", "none", "red", e_up, ts_up)
        e = get_entity(c, "H1")
        check("removed" in e and e["removed"] is None, "a live household "
              "answers \"removed\": null: %s" % short(e, 800))

        e_rm, ts_rm = seq.next()
        r = expect_event_ok(c.request(remove("H1", id=e_rm, ts=ts_rm)))
        check(len(r["alerts"]) == 1, "remove: one alert red -> none: %s"
              % short(r))
        gone = check_color_alert(r["alerts"][0], "H1", "red", "none", e_rm,
                                 ts_rm, "remove")
        check(all_alerts(c)[-1] == gone, "the remove's alert is stored")

        before = get_entity(c, "H1")
        check_closed(before, ts_rm, RED, "get after remove")
        check(before.get("community") == "C2" and before.get("grid") == "G3"
              and before.get("created") == iso(ts_up), "the closed record "
              "keeps its fields and creation: %s" % short(before, 800))
        check(history(before) == [("none", "red", e_up),
                                  ("red", "none", e_rm)],
              "history none -> red -> none: %s" % short(before["history"]))
        check(before["history"][-1]["ts"] == before["removed"],
              "removed is written like the history's ts: %s"
              % short(before, 800))

        # The same after kill -9, and after a clean stop.
        for how in ("kill -9", "a clean stop"):
            c = restart(d, c, how)
            after = get_entity(c, "H1")
            check(after == before, "after %s, get differs:\n%s\n%s"
                  % (how, short(after, 900), short(before, 900)))

        # A later upsert opens a new record: only its attributes, live,
        # and the history goes on in the same file.
        e_new, ts_new = seq.next()
        r = expect_event_ok(c.request(upsert("H1", {"age": 75}, id=e_new,
                                             ts=ts_new)))
        check(len(r["alerts"]) == 1, "re-upsert: none -> yellow: %s"
              % short(r))
        check_color_alert(r["alerts"][0], "H1", "none", "yellow", e_new,
                          ts_new, "re-upsert starts from none")
        e = get_entity(c, "H1")
        check(e["removed"] is None, "upserted again: removed null: %s"
              % short(e, 800))
        check(e["created"] == iso(ts_new), "the new record's created is the "
              "upsert's ts: %s" % short(e, 800))
        check(e["attrs"]["age"] == 75 and not any(
            v for k, v in e["attrs"].items() if k != "age"),
            "attributes reset, only the new ones: %s" % short(e["attrs"]))
        check(history(e) == [("none", "red", e_up), ("red", "none", e_rm),
                             ("none", "yellow", e_new)],
              "history goes on: %s" % short(e["history"], 800))
        c = restart(d, c, "kill -9")
        check(get_entity(c, "H1") == e, "the new record after kill -9")


def test_removed_without_colour(ctx):
    """Removing a household classified none changes no class: no alert and
    no history row, but the record is closed all the same."""
    with Daemon(ctx) as d:
        c = d.client()
        expect_event_ok(c.request(upsert("H5", {"age": 30}, id="u5",
                                         ts=T0)))
        r = expect_event_ok(c.request(remove("H5", id="r5", ts=T0 + 60)))
        check(r["alerts"] == [], "no alert: %s" % short(r))
        e = get_entity(c, "H5")
        check_closed(e, T0 + 60, {"age": 30}, "H5")
        check(e["history"] == [], "no class change, no history: %s"
              % short(e))


def test_unknown_and_refused(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        expect_error(c.request(get("NEVER")), "unknown_entity",
                     "get of a household never seen", mentions="NEVER")
        expect_error(c.request(remove("NEVER", ts=T0)), "unknown_entity",
                     "remove of a household never seen")
        expect_error(c.request(get("NEVER")), "unknown_entity",
                     "a refused remove leaves nothing")
        expect_event_ok(c.request(upsert("H1", RED, id="u1", ts=T0)))
        r = expect_event_ok(c.request(remove("H1", id="r1", ts=T0 + 60)))
        last = r["seq"]
        before = get_entity(c, "H1")
        r = c.request(remove("H1", id="r2", ts=T0 + 120))
        expect_error(r, "unknown_entity", "second remove", mentions="H1")
        check("removed" in r["error"]["message"], "the refusal says the "
              "household was removed: %s" % short(r))
        check(get_entity(c, "H1") == before, "a refused remove changes "
              "nothing")
        r = expect_event_ok(c.request(upsert("H2", {}, id="u2",
                                             ts=T0 + 180)))
        check(r["seq"] == last + 1, "a refused event takes no seq: %s after"
              " %d" % (short(r), last))


def rules_with_visits(ctx):
    """rules/four_color.yaml plus an update event for households and a
    ranking of them by it, per grid: a rule that ranges over entities."""
    path = os.path.join(ctx.tmp, "four_color.yaml")
    shutil.copy(os.path.join(ctx.root, "rules", "four_color.yaml"), path)
    with open(path) as f:
        text = f.read()
    anchor = "  household.remove: remove"
    check(anchor in text, "rules/four_color.yaml has no %r" % anchor)
    text = text.replace(anchor, """  household.visit:
    action: update
    fields:
      grid: string
      period: half_year
      score: {type: decimal, min: 0, max: 100}
""" + anchor)
    text += """
  household.care:
    score: {on: {household.visit: visit}, period: period, value: score,
            group: grid, weights: {visit: 1}}
  household.least_cared:
    rank: {cycle: care, by: household.care, bottom: 0.5}
    severity: info
"""
    with open(path, "w") as f:
        f.write(text)
    return path


def visit(h, score, ts, period="2026H1", grid="G1"):
    return event("household.visit", household=h, grid=grid, period=period,
                 score=score, ts=ts)


def test_removed_not_ranked_nor_updated(ctx):
    with Daemon(ctx, rules=[rules_with_visits(ctx)]) as d:
        c = d.client()
        ts = T0
        for h, score in (("H1", 10), ("H2", 20), ("H3", 30)):
            expect_event_ok(c.request(upsert(h, {}, ts=ts)))
            expect_event_ok(c.request(visit(h, score, ts + 1)))
            ts += 60
        expect_event_ok(c.request(remove("H1", ts=ts)))
        expect_error(c.request(visit("H1", 90, ts + 1)), "unknown_entity",
                     "an update of a removed household", mentions="H1")
        e = get_entity(c, "H1")
        check(e["removed"] == iso(ts), "H1 removed: %s" % short(e, 800))
        check(e["periods"]["2026H1"]["household.care"]["total"] == 10,
              "the closed record keeps what the rules kept, and the refused "
              "visit changed nothing: %s" % short(e["periods"]))
        r = expect_event_ok(c.request(event(
            "period.close", cycle="care", scope="G1", period="2026H1",
            ts=ts + 60)))
        got = [(a["entity"], a["data"]["position"], a["data"]["n"])
               for a in r["alerts"]]
        check(got == [("H2", 1, 2)], "the removed H1 is neither ranked nor "
              "counted: expected H2 alone, position 1 of 2, got %s"
              % short(r, 800))


@sqlite_only
def test_old_database_migrates(ctx):
    """A database of schema 2, where a removed entity's row had no ts and
    its attributes were wiped, migrates: the removal's ts comes from the
    event log, or from the row's write time where the log lacks it."""
    d = Daemon(ctx)
    d.start()
    c = d.client()
    expect_event_ok(c.request(upsert("H1", RED, id="u1", ts=T0 + 60)))
    expect_event_ok(c.request(remove("H1", id="r1", ts=T0 + 120)))
    expect_event_ok(c.request(upsert("H2", {"age": 72}, id="u2",
                                     ts=T0 + 180)))
    expect_event_ok(c.request(upsert("H3", {"age": 40}, id="u3",
                                     ts=T0 + 240)))
    expect_event_ok(c.request(remove("H3", id="r3", ts=T0 + 300)))
    hist = get_entity(c, "H1")["history"]
    c.close()
    d.stop()

    # Back to schema 2, as the zhilid of then left the rows.
    undo_event_log_schema(d, [
        upsert("H1", RED, id="u1", ts=T0 + 60),
        remove("H1", id="r1", ts=T0 + 120),
        upsert("H2", {"age": 72}, id="u2", ts=T0 + 180),
        upsert("H3", {"age": 40}, id="u3", ts=T0 + 240),
        remove("H3", id="r3", ts=T0 + 300)])  # and what schema 7 changed
    db = sqlite3.connect(d.db_path)
    db.execute("DROP TABLE silences")            # what schema 6 added
    for col in ("acked_by", "acked_ts", "silenced"):
        db.execute("ALTER TABLE alerts DROP COLUMN %s" % col)
    db.execute("DROP INDEX entities_grp")        # and what schema 5 added
    db.execute("ALTER TABLE entities DROP COLUMN grp")
    db.execute("DELETE FROM meta WHERE key LIKE 'group.%'")
    db.execute("ALTER TABLE entities DROP COLUMN removed_ts")
    db.execute("DELETE FROM schema_version WHERE version >= 3")
    db.execute("UPDATE entities SET updated = ?, state = '{\"attrs\":{},"
               "\"fields\":{},\"classes\":{\"four_color\":\"none\"}}' "
               "WHERE removed = 1", (T0 + 999,))
    # H3's events gone from the log, as an age limit would take them
    db.execute("DELETE FROM events WHERE eid IN ('u3', 'r3')")
    db.commit()
    db.close()

    d.start()
    c = d.client()
    e = get_entity(c, "H1")
    check(e["removed"] == iso(T0 + 120), "migrated H1: removed should be "
          "the remove event's ts %s: %s" % (iso(T0 + 120), short(e, 800)))
    check_closed(e, T0 + 120, {}, "migrated H1 (attributes wiped then)")
    check(e["history"] == hist, "history untouched: %s" % short(e, 800))
    check(get_entity(c, "H2")["removed"] is None, "H2 is live")
    e = get_entity(c, "H3")
    check(parse_ts(e["removed"]) == T0 + 999, "migrated H3, whose removal "
          "the log lacks: the row's write time: %s" % short(e, 800))
    expect_error(c.request(remove("H1", ts=T0 + 1200)), "unknown_entity",
                 "a migrated removed household")
    r = expect_event_ok(c.request(upsert("H1", {"age": 90}, ts=T0 + 1260)))
    check(r["alerts"][0]["data"] == {"from": "none", "to": "yellow"},
          "a migrated removed household opens again: %s" % short(r))
    c.close()
    d.stop()
    db = sqlite3.connect(d.db_path)
    versions = [v for (v,) in db.execute(
        "SELECT version FROM schema_version ORDER BY version")]
    db.close()
    check(versions[-1] >= 3, "schema 3 recorded: %r" % versions)
