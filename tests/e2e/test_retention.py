"""Retention and export (zhilid.conf(5) "retention", zhilictl(1) export).

retention: {events: DAYS} deletes exactly the events whose ts is older than
DAYS before the daemon's clock (the event clock here, so deterministic),
found by ts whatever their place in the log; state, history and alerts
stay; the id of a deleted event is accepted again, as a new event; the seq
counts on after a restart even when the newest events were deleted; the
daemon keeps answering a pusher while it deletes a backlog; a database of
schema 5 gains the ts index.

zhilictl export: event lines are the stored events (ts put in where the
wall clock stamped it), --from/--to (inclusive), --alerts, `export | push`
into an empty daemon reproduces entities, history and alerts, export
beside a daemon under load, and the errors (exit 2).
"""

import json
import os
import sqlite3
import subprocess
import threading
import time

from harness import (Daemon, T0, check, cmd, dumps, expect_ok, get, short,
                     sqlite_only, store, store_neutral, upsert)
from test_zhilictl import ctl, expect_status, sock, write

TIMEOUT = 300
DAY = 86400

# run against SQLite and, in a second pass, PostgreSQL (run.py --store):
# export reads either
BOTH_STORES = True


def retention_daemon(ctx, days, **kw):
    return Daemon(ctx, conf_extra="retention: {events: %d}\n" % days, **kw)


def stats(c):
    r = c.request(cmd("stats"))
    expect_ok(r, "stats")
    return r["stats"]


def wait_pruned(c, n, timeout=30):
    """Wait until the daemon says it deleted n events in all."""
    deadline = time.time() + timeout
    while True:
        s = stats(c)
        if s["events_pruned"] >= n:
            check(s["events_pruned"] == n, "deleted %d events, expected %d"
                  % (s["events_pruned"], n))
            return s
        check(time.time() < deadline, "only %d of %d events deleted after "
              "%d s" % (s["events_pruned"], n, timeout))
        time.sleep(0.05)


def logged(d):
    """(seq, id, ts) of every event in the log, whichever store."""
    return [(int(seq), eid, int(ts)) for seq, eid, ts in
            d.sql("SELECT seq, eid, ts FROM events ORDER BY seq")]


def export(ctx, d, *args):
    rc, out, err = expect_status(ctl(ctx, "-c", d.conf_path, "export",
                                     *args), 0, "export " + " ".join(args))
    check(err == "", "export wrote on stderr: %s" % short(err))
    return [json.loads(l) for l in out.splitlines()]


def day_events(n, start=0):
    """One household a day, every third one red (an alert each)."""
    out = []
    for i in range(start, start + n):
        attrs = {"age": 40}
        if i % 3 == 0:
            attrs["key_person"] = True
        out.append(upsert("H%d" % i, attrs, id="e-%d" % i, ts=T0 + i * DAY))
    return out


def push_all(c, events):
    seqs = []
    for ev in events:
        r = c.request(ev)
        expect_ok(r, "push %s" % ev.get("id"))
        check(not r.get("duplicate"), "%s: a duplicate" % ev.get("id"))
        seqs.append(r["seq"])
    return seqs


def test_retention_deletes_exactly_the_old_events(ctx):
    with retention_daemon(ctx, 10) as d:
        c = d.client()
        events = day_events(30)
        # a late event: an old ts at the end of the log
        late = upsert("H100", {"age": 50}, id="late", ts=T0 + 2 * DAY)
        push_all(c, events + [late])
        before = {h: c.request(get(h)) for h in ["H0", "H3", "H15", "H100"]}
        alerts = export(ctx, d, "--alerts")
        check(len(alerts) == 10, "%d alerts" % len(alerts))

        # the clock is day 29: everything before day 19 goes, late too
        cutoff = T0 + 19 * DAY
        wait_pruned(c, 19 + 1)
        rows = logged(d)
        check([r[2] for r in rows] == [T0 + i * DAY for i in range(19, 30)],
              "left in the log: %s" % short(rows))
        check(all(r[2] >= cutoff for r in rows), "an old event stayed")
        lines = export(ctx, d)
        check([l["id"] for l in lines] == ["e-%d" % i
                                           for i in range(19, 30)],
              "export: %s" % short(lines))

        text = c.request(cmd("metrics"))["text"]
        check("zhilid_events_pruned_total 20\n" in text,
              "metrics: %s" % short(text, 2000))

        # state, history and alerts stay
        for h, r in before.items():
            check(c.request(get(h)) == r, "%s changed: %s" % (h, short(r)))
        check(export(ctx, d, "--alerts") == alerts, "the alerts changed")

        # a deleted id is new again; a kept one is still a duplicate
        r = c.request(upsert("H0", {"age": 41}, id="e-0", ts=T0 + 29 * DAY))
        expect_ok(r, "e-0 again")
        check(not r.get("duplicate") and r["seq"] == 32,
              "e-0 after its deletion: %s" % short(r))
        r = c.request(upsert("H25", {"age": 41}, id="e-25",
                             ts=T0 + 29 * DAY))
        check(r.get("duplicate") is True and r["seq"] == 26,
              "e-25, still in the log: %s" % short(r))
        check(c.request(get("H0"))["entity"]["attrs"]["age"] == 41,
              "e-0 again was not applied")


def test_retention_seq_counts_on_after_deleting_the_newest(ctx):
    with retention_daemon(ctx, 10) as d:
        c = d.client()
        push_all(c, day_events(20))
        # the newest event in the log is an old one: deleted
        r = c.request(upsert("H99", {}, id="old", ts=T0))
        expect_ok(r, "old")
        check(r["seq"] == 21, "seq %s" % r.get("seq"))
        wait_pruned(c, 9 + 1)
        check(logged(d)[-1][0] == 20, "the last row: %s" % (logged(d)[-1],))
        d.kill9()
        d.start()
        c = d.client()
        r = c.request(upsert("H98", {}, id="new", ts=T0 + 19 * DAY))
        expect_ok(r, "after restart")
        check(r["seq"] == 22, "seq after restart %s, want 22" % r.get("seq"))
        # a deletion of all but the tick, after a restart
        expect_ok(c.request({"type": "clock.tick", "ts": T0 + 400 * DAY}))
        wait_pruned(c, 11 + 1)
        d.kill9()
        d.start()
        c = d.client()
        r = c.request(upsert("H97", {}, id="newer", ts=T0 + 401 * DAY))
        check(r.get("seq") == 24, "seq %s, want 24" % r.get("seq"))


def test_retention_serves_while_deleting(ctx):
    """A backlog of 20,000 old events deleted, 1,000 at a time, while a
    pusher goes on: every push answered, the longest deleting transaction
    reported."""
    d = Daemon(ctx)
    n = 20000
    with d:
        c = d.client()
        lines = []
        for i in range(n):
            lines.append(dumps(upsert("H%d" % (i % 500), {"age": 30 + i % 50},
                                      id="b-%d" % i,
                                      ts=T0 + i * 60)).encode())
        path = os.path.join(ctx.tmp, "bulk.ndjson")
        with open(path, "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        expect_status(ctl(ctx, "--socket", d.sock_path, "push", path), 0,
                      "bulk push")
    # the clock is T0 + 20,000 minutes (13.9 days): keep 1 day
    d.conf_extra = "retention: {events: 1}\n"
    d.write_config()
    last = T0 + (n - 1) * 60
    old = sum(1 for i in range(n) if T0 + i * 60 < last - DAY)
    with d:
        c = d.client()
        p = d.client()
        answered = []
        for i in range(300):
            r = p.request(upsert("P%d" % i, {"age": 20}, id="p-%d" % i,
                                 ts=last))
            expect_ok(r, "push during deletion")
            answered.append(r["seq"])
        s = wait_pruned(c, old, timeout=120)
        check(answered == list(range(n + 1, n + 301)), "seqs of the pusher")
        check(0 < s["prune_max_us"] < 2000000, "longest deletion %d us"
              % s["prune_max_us"])
        check(len(logged(d)) == n - old + 300, "rows left")


def quote(s):
    """A string as an SQL literal, the same in SQLite and PostgreSQL."""
    return "'" + s.replace("'", "''") + "'"


def undo_event_log_schema(d, events):
    """Undo schema 7 (the event log's) by hand in d's database, whichever
    store, as the zhilid before it left the rows: every body the line as
    sent (events: the lines pushed, by id), no shapes, no ts index."""
    for ev in events:
        d.sql("UPDATE events SET body = %s WHERE eid = %s"
              % (quote(dumps(ev)), quote(ev["id"])))
    for q in ["DROP INDEX events_ts", "ALTER TABLE events DROP COLUMN shape",
              "DROP TABLE shapes",
              "DELETE FROM meta WHERE key = 'events.pruned'",
              "DELETE FROM schema_version WHERE version >= 7"]:
        d.sql(q)


def test_retention_migrates_an_old_database(ctx):
    """A database of the schema before 7: its rows (whole lines) and the
    new ones (shaped) export alike, and retention finds the old ones."""
    d = Daemon(ctx)
    old = day_events(5)
    with d:
        push_all(d.client(), old)
    undo_event_log_schema(d, old)
    new = day_events(3, start=5)
    with d:
        c = d.client()
        push_all(c, new)
        check(export(ctx, d) == old + new, "export after the migration")
        check(export(ctx, d, "--alerts") == c.request(cmd("alerts"))["alerts"],
              "alerts after the migration")
    d.conf_extra = "retention: {events: 2}\n"
    d.write_config()
    with d:
        # the clock is day 7: days 0 to 4 go
        wait_pruned(d.client(), 5)
    shapes = d.sql("SELECT count(*), count(shape) FROM events")
    check(shapes == [("3", "3")], "rows, shaped rows: %s" % (shapes,))
    if store() == "sqlite":
        idx = d.sql("SELECT name FROM sqlite_master WHERE name = "
                    "'events_ts'")
    else:
        idx = d.sql("SELECT indexname FROM pg_indexes WHERE indexname = "
                    "'events_ts' AND schemaname = current_schema()")
    check(idx == [("events_ts",)], "no ts index after the migration")


@store_neutral
def test_retention_config_errors(ctx):
    for text, err in [
            ("retention: {events: 0}", "retention.events: expected an "
             "integer in 1..36500"),
            ("retention: {events: forever}", "retention.events: expected "
             "an integer in 1..36500"),
            ("retention: 30", "retention: expected a map, got a scalar"),
            ("retention: {alerts: 30}", "unknown retention key 'alerts' (did "
             "you mean 'events'?)")]:
        d = Daemon(ctx, conf_extra=text + "\n")
        p = subprocess.run([ctx.zhilid, "-t", "-c", d.conf_path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.stdout.decode()
        check(p.returncode == 1 and err in out and
              (d.conf_path + ":") in out, "%s: %s" % (text, out))


# -- export -----------------------------------------------------------------

def test_export_lines_and_bounds(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        events = day_events(6)
        push_all(c, events)
        lines = export(ctx, d)
        check(lines == events, "export is not the events as sent: %s"
              % short(lines))
        got = export(ctx, d, "--from", str(T0 + DAY), "--to",
                     "2026-01-04T00:00:00+08:00")
        check([l["id"] for l in got] == ["e-1", "e-2", "e-3"],
              "--from/--to: %s" % short(got))
        check(export(ctx, d, "--from", str(T0 + 10 * DAY)) == [],
              "--from past the end")
        alerts = export(ctx, d, "--alerts")
        r = c.request(cmd("alerts"))
        check(alerts == r["alerts"], "--alerts is not the alerts command's")
        got = export(ctx, d, "--alerts", "--from", str(T0 + DAY))
        check([a["entity"] for a in got] == ["H3"], "--alerts --from: %s"
              % short(got))


def test_export_puts_in_the_wall_clock_ts(ctx):
    with Daemon(ctx, clock="wall") as d:
        c = d.client()
        t = int(time.time())
        r = c.request({"type": "household.upsert", "household": "H1",
                       "attrs": {"age": 3}})
        expect_ok(r)
        expect_ok(c.request(upsert("H2", {}, id="x", ts=T0)))
        lines = export(ctx, d)
        check(list(lines[0]) == ["ts", "type", "household", "attrs"] and
              t - 5 <= lines[0]["ts"] <= t + 5, "no ts: %s" % short(lines))
        check(lines[1] == upsert("H2", {}, id="x", ts=T0), "with ts")


def entities(c, ids):
    return {h: c.request(get(h)) for h in ids}


def alert_view(alerts):
    return [(a["id"], a["rule"], a["entity"], a["ts"], a["message"],
             a["data"], a["event"]) for a in alerts]


def test_export_push_reproduces_the_state(ctx):
    a = Daemon(ctx, name="a")
    b = Daemon(ctx, name="b")
    with a:
        c = a.client()
        events = day_events(12)
        # changes of class, a removal and a clock tick in the log too
        events += [upsert("H1", {"key_person": True}, id="u-1",
                          ts=T0 + 12 * DAY),
                   upsert("H0", {"key_person": False}, id="u-2",
                          ts=T0 + 13 * DAY),
                   {"type": "household.remove", "id": "u-3",
                    "ts": T0 + 13 * DAY, "household": "H4"},
                   {"type": "clock.tick", "ts": T0 + 14 * DAY}]
        push_all(c, events)
        want = entities(c, ["H%d" % i for i in range(12)])
        want_alerts = export(ctx, a, "--alerts")
        rc, out, err = ctl(ctx, "-c", a.conf_path, "export")
        check(rc == 0, "export: %s" % err)
    with b:
        rc, o, err = ctl(ctx, "--socket", b.sock_path, "push", "-",
                         input=out)
        check(rc == 0, "push: %s %s" % (o, err))
        c = b.client()
        check(entities(c, ["H%d" % i for i in range(12)]) == want,
              "the entities differ after export | push")
        check(alert_view(export(ctx, b, "--alerts")) ==
              alert_view(want_alerts), "the alerts differ")
        rc, out2, err = ctl(ctx, "-c", b.conf_path, "export")
        check(out2 == out, "the log differs after export | push")


def test_export_beside_a_loaded_daemon(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        push_all(c, day_events(50))
        stop = threading.Event()
        pushed = []

        def pusher():
            p = d.client()
            i = 0
            while not stop.is_set():
                r = p.request(upsert("L%d" % (i % 100), {"age": i % 90},
                                     id="l-%d" % i, ts=T0 + 50 * DAY + i))
                if r.get("ok"):
                    pushed.append(r["seq"])
                i += 1
        t = threading.Thread(target=pusher, daemon=True)
        t.start()
        try:
            time.sleep(0.3)
            for _ in range(5):
                n0 = len(pushed) + 50
                lines = export(ctx, d)
                # a snapshot: a prefix of the log, in order, whole lines
                check(len(lines) >= n0, "export saw %d, %d were acked"
                      % (len(lines), n0))
                ids = [l["id"] for l in lines]
                check(ids[:50] == ["e-%d" % i for i in range(50)] and
                      ids[50:] == ["l-%d" % i for i in range(len(ids) - 50)],
                      "not a prefix of the log")
        finally:
            stop.set()
            t.join(10)
        check(len(pushed) > 0, "the pusher got no answer")


def test_export_a_line_with_no_values(ctx):
    """A clock.tick has keys alone: the first line of a daemon (nothing
    split before it) is stored, and exported as sent."""
    with Daemon(ctx) as d:
        c = d.client()
        tick = {"type": "clock.tick", "ts": T0}
        expect_ok(c.request(tick), "clock.tick first")
        expect_ok(c.request(upsert("H1", {}, id="a", ts=T0 + 1)))
        expect_ok(c.request(dict(tick, ts=T0 + 2)))
        check(export(ctx, d) == [tick, upsert("H1", {}, id="a", ts=T0 + 1),
                                 dict(tick, ts=T0 + 2)], "export")


@sqlite_only
def test_export_errors(ctx):
    d = Daemon(ctx)
    with d:
        push_all(d.client(), day_events(2))
    for args, mention in [
            (["export", "--from", "yesterday"], "--from"),
            (["export", "--to", "-5"], "--to"),
            (["export", "--from", str(T0 + 5), "--to", str(T0)],
             "--from is after --to"),
            (["export", "--bogus"], "usage"),
            (["export", "--db", os.path.join(ctx.tmp, "nope.db")],
             "nope.db")]:
        rc, out, err = ctl(ctx, "-c", d.conf_path, *args)
        check(rc == 2 and out == "" and mention in err,
              "%s: exit %s, stderr %s" % (args, rc, short(err)))
    bad = write(ctx, "bad.conf", "retention: {events: 0}\nrules: [x.yaml]\n")
    rc, out, err = ctl(ctx, "-c", bad, "export")
    check(rc == 2 and "retention.events" in err, "bad config: %s %s"
          % (rc, err))
    other = os.path.join(ctx.tmp, "other.db")
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    rc, out, err = ctl(ctx, "export", "--db", other)
    check(rc == 2 and "not a zhilid database" in err, "foreign db: %s"
          % err)
    rc, out, err = ctl(ctx, "export", "--db", d.db_path)
    check(rc == 0 and len(out.splitlines()) == 2, "--db: %s %s" % (rc, err))
    # a PostgreSQL server that is not there: said, without the password
    rc, out, err = ctl(ctx, "export", "--db",
                       "postgresql://zhilid:s3cret@127.0.0.1:1/none")
    check(rc == 2 and out == "" and "cannot connect to PostgreSQL" in err
          and "s3cret" not in err, "no server: exit %s, %s" % (rc, err))


@store_neutral
def test_backtest_refuses_postgresql(ctx):
    """backtest replays a SQLite file only: a connection string is refused
    before any connection, with exit 2, and not echoed."""
    rules = os.path.join(ctx.root, "rules", "four_color.yaml")
    for db in ["postgresql://zhilid:s3cret@127.0.0.1:1/none",
               "host=/tmp dbname=zhilid password=s3cret"]:
        rc, out, err = ctl(ctx, "backtest", "--rules", rules, "--db", db)
        check(rc == 2 and "reads SQLite databases only" in err and
              "s3cret" not in err, "%s: exit %s, %s" % (db, rc, short(err)))
