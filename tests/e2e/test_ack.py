"""Acknowledging alerts (zhilid(8), "Acknowledging and silencing"): the
ALERT's acked is null until an admin acks it, then {"by": UID, "ts": TS}
with the peer's uid and the daemon's clock (the event clock here), read
back through alerts, zhilictl alerts, and after kill -9; the first ack
stays; an unknown alert is unknown_entity; alerts takes "acked"."""

import json
import os

from harness import (Daemon, T0, check, check_alert, cmd, expect_error,
                     expect_event_ok, expect_ok, parse_ts, short, upsert)
from test_zhilictl import ctl, expect_status
from test_retention import undo_event_log_schema

RED = {"key_person": True}

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def by_id(alerts):
    return {a["id"]: a for a in alerts}


def listed(c, **filters):
    r = c.request(cmd("alerts", **filters))
    expect_ok(r, "alerts %r" % filters)
    for a in r["alerts"]:
        check_alert(a, "alerts %r" % filters)
    return r["alerts"]


def check_acked(a, uid, ts, what):
    check(a["acked"] is not None, "%s: not acked: %s" % (what, short(a)))
    check(a["acked"]["by"] == uid and parse_ts(a["acked"]["ts"]) == ts,
          "%s: acked should be by %d at %d: %s" % (what, uid, ts, short(a)))


def test_ack_read_back(ctx):
    uid = os.getuid()
    d = Daemon(ctx)
    d.start()
    c = d.client()
    sub = d.client()
    expect_ok(sub.request(cmd("subscribe")))
    ids = []
    for i, h in enumerate(("H1", "H2", "H3")):
        r = expect_event_ok(c.request(upsert(h, RED, id="e%d" % i,
                                             ts=T0 + 10 * i)))
        check(r["alerts"][0]["acked"] is None, "a new alert is not acked: "
              "%s" % short(r))
        ids.append(r["alerts"][0]["id"])
    for i in ids:
        got = sub.recv()
        check_alert(got["alert"], "subscriber")
        check(got["alert"]["id"] == i and got["alert"]["acked"] is None,
              "subscriber line %d: %s" % (i, short(got)))
    # the clock is at T0+20 (event clock): the ack's ts
    expect_ok(c.request(cmd("ack", alert=ids[1])))
    a = by_id(listed(c))
    check_acked(a[ids[1]], uid, T0 + 20, "acked alert")
    check(a[ids[0]]["acked"] is None and a[ids[2]]["acked"] is None,
          "the others stay unacked: %s" % short(a, 800))
    # a second ack, later, keeps the first's ts
    expect_event_ok(c.request(upsert("H4", {}, id="e9", ts=T0 + 500)))
    expect_ok(c.request(cmd("ack", alert=ids[1])))
    check_acked(by_id(listed(c))[ids[1]], uid, T0 + 20, "acked twice")
    # acked: false lists only the unacked, true only the acked
    got = [a["id"] for a in listed(c, acked=False)]
    check(got == [ids[0], ids[2]], "acked false: %r" % got)
    got = [a["id"] for a in listed(c, acked=True)]
    check(got == [ids[1]], "acked true: %r" % got)
    got = [a["id"] for a in listed(c, acked=False, rule="four_color.changed",
                                   after=ids[0])]
    check(got == [ids[2]], "acked false with rule and after: %r" % got)
    # the CLI
    rc, out, err = expect_status(ctl(ctx, "--socket", d.sock_path, "--json",
                                     "alerts", "--unacked"), 0, "--unacked")
    got = [json.loads(l)["id"] for l in out.splitlines()]
    check(got == [ids[0], ids[2]], "zhilictl alerts --unacked: %r" % got)
    expect_status(ctl(ctx, "--socket", d.sock_path, "ack", str(ids[0])), 0,
                  "zhilictl ack")
    rc, out, err = expect_status(ctl(ctx, "--socket", d.sock_path, "ack",
                                     "99"), 1, "zhilictl ack of no alert")
    check("unknown_entity" in err, "zhilictl ack 99: %r" % err)
    # survives kill -9
    d.kill9()
    d.start()
    c = d.client()
    a = by_id(listed(c))
    check_acked(a[ids[1]], uid, T0 + 20, "after kill -9")
    check_acked(a[ids[0]], uid, T0 + 500, "zhilictl's ack after kill -9")
    check(a[ids[2]]["acked"] is None, "unacked after kill -9: %s"
          % short(a[ids[2]]))
    d.stop()


def test_ack_unknown_and_bad(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        r = expect_event_ok(c.request(upsert("H1", RED, id="e1", ts=T0)))
        aid = r["alerts"][0]["id"]
        for bad in (0, aid + 1, 2 ** 53):
            expect_error(c.request(cmd("ack", alert=bad)), "unknown_entity",
                         "ack %d" % bad)
        for q, field in ((cmd("alerts", acked="no"), "acked"),
                         (cmd("alerts", acked=0), "acked"),
                         (cmd("alerts", silenced=None), "silenced"),
                         (cmd("alerts", silenced="yes"), "silenced")):
            expect_error(c.request(q), "bad_event", mentions=field)
        # an alert raised in the batch in hand is there to ack
        c.send(upsert("H2", RED, id="e2", ts=T0 + 1))
        c.send(cmd("ack", alert=aid + 1))
        expect_event_ok(c.recv())
        expect_ok(c.recv(), "ack of an alert of the same batch")
        got = [a["id"] for a in listed(c, acked=False)]
        check(got == [aid], "only the first is unacked: %r" % got)


def test_ack_of_old_rows(ctx):
    """A database of schema 5 whose acked flag was set: after the
    migration, acked shows, by and ts unknown; a new ack keeps it so."""
    d = Daemon(ctx)
    d.start()
    c = d.client()
    for i in range(3):
        expect_event_ok(c.request(upsert("H%d" % i, RED, id="e%d" % i,
                                         ts=T0 + i)))
    c.close()
    d.stop()
    undo_event_log_schema(d, [                   # schema 7, then 6
        upsert("H%d" % i, RED, id="e%d" % i, ts=T0 + i) for i in range(3)])
    d.sql("DROP TABLE silences")
    for col in ("acked_by", "acked_ts", "silenced"):
        d.sql("ALTER TABLE alerts DROP COLUMN %s" % col)
    d.sql("DELETE FROM schema_version WHERE version >= 6")
    d.sql("UPDATE alerts SET acked = 1 WHERE id = 1")
    d.start()
    c = d.client()
    a = listed(c)
    check(a[0]["acked"] == {"by": None, "ts": None}, "old acked row: %s"
          % short(a[0]))
    check(a[1]["acked"] is None, "old unacked row: %s" % short(a[1]))
    expect_ok(c.request(cmd("ack", alert=1)))
    expect_ok(c.request(cmd("ack", alert=2)))
    a = listed(c)
    check(a[0]["acked"] == {"by": None, "ts": None}, "the first ack stays: "
          "%s" % short(a[0]))
    check_acked(a[1], os.getuid(), T0 + 2, "acked after the migration")
    check([x["id"] for x in listed(c, acked=False)] == [3], "acked false")
    d.stop()


def test_ack_needs_admin(ctx):
    with Daemon(ctx, access=["{uid: self, roles: [push, read]}"]) as d:
        c = d.client()
        expect_event_ok(c.request(upsert("H1", RED, id="e1", ts=T0)))
        expect_error(c.request(cmd("ack", alert=1)), "forbidden")
        check(listed(c, acked=False)[0]["acked"] is None, "still unacked")
