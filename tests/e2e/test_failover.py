"""Active and standby on PostgreSQL (zhilid(8) "Active and standby"): two
daemons on two sockets against one schema of a throwaway cluster.  The
first to take the schema's advisory lock is active, the other a standby
that answers ping and stats (role "standby") and unavailable to the rest.
kill -9 of the active under load: the standby serves within 5 s, every
event either acknowledged is in the database once with the seq it was
acknowledged with, and the old active, restarted, is a standby.  The
active's session ended by pg_terminate_backend: it stops committing at
once (nothing it acknowledges is past the database's last seq at the cut)
and is a standby; the other serves.  A pusher on each socket sends events
with ids and resends an event that was not acknowledged, same id, to
whichever daemon answers."""

import os
import re
import threading
import time

from harness import (T0, Daemon, TestFailure, check, cmd, expect_error,
                     role, upsert, wait_role)
import pgcluster

TIMEOUT = 120
TAKEOVER = 5.0      # s: kill -9 of the active to the standby serving


def pg_daemon(ctx, cluster, schema, name):
    """A daemon on schema, writing its metrics.textfile every second."""
    return Daemon(ctx, name=name, conf_extra='database: "%s"\n'
                  'metrics: {textfile: %s.prom, interval: 1}\n'
                  % (cluster.conninfo(schema).replace('"', '\\"'), name))


def active_gauge(d, want, timeout=5):
    """zhilid_active in d's textfile comes to want."""
    path = os.path.join(d.ctx.tmp, d.name + ".prom")
    deadline = time.monotonic() + timeout
    while True:
        got = None
        if os.path.exists(path):
            with open(path) as f:
                m = re.search(r"(?m)^zhilid_active (\d+)$", f.read())
            got = m and int(m.group(1))
        if got == want:
            return
        check(time.monotonic() < deadline, "%s: zhilid_active %r, want %d"
              % (d.name, got, want))
        time.sleep(0.1)


class Pusher(threading.Thread):
    """Sends upserts with ids, one at a time, starting on daemon first of
    daemons; an event answered unavailable, or whose connection went
    without an answer, goes again (same id) to the next daemon that
    answers.  acks: eid -> (seq, duplicate, daemon name, monotonic time)."""

    def __init__(self, name, daemons, first, stats):
        super().__init__(daemon=True)
        self.name_ = name
        self.daemons = daemons
        self.at = first
        self.acks = {}
        self.errors = []
        self.stop = threading.Event()
        self.stats = stats

    def connect(self):
        for _ in range(len(self.daemons)):
            d = self.daemons[self.at]
            try:
                return d, d.client(timeout=30)
            except TestFailure:
                self.at = (self.at + 1) % len(self.daemons)
        return None, None

    def run(self):
        try:
            i = 0
            d, c = self.connect()
            while not self.stop.is_set():
                eid = "%s-%d" % (self.name_, i)
                ev = upsert("H%s-%d" % (self.name_, i % 50),
                            {"age": 60 + i % 30, "key_person": i % 9 == 0},
                            id=eid, ts=T0 + i)
                r = None
                if c is not None:
                    try:
                        r = c.request(ev)
                    except TestFailure:
                        c.close()
                        c = None
                if r is not None and r.get("ok"):
                    self.acks[eid] = (r["seq"], bool(r.get("duplicate")),
                                      d.name, time.monotonic())
                    i += 1
                    continue
                if r is not None:
                    check(r["error"]["code"] == "unavailable",
                          "%s: %s" % (eid, r))
                    self.stats["unavailable"] += 1
                # the same event to the other daemon
                if c is not None:
                    c.close()
                self.at = (self.at + 1) % len(self.daemons)
                time.sleep(0.02)
                d, c = self.connect()
            if c is not None:
                c.close()
        except BaseException as e:      # noqa: B902 - reported by finish
            self.errors.append(e)

    def count(self, name=None):
        return sum(1 for a in list(self.acks.values())
                   if name is None or a[2] == name)


def start_pushers(daemons):
    stats = {"unavailable": 0}
    ps = [Pusher("p%d" % i, daemons, i % len(daemons), stats)
          for i in range(len(daemons))]
    for p in ps:
        p.start()
    return ps


def stop_pushers(ps):
    for p in ps:
        p.stop.set()
    for p in ps:
        p.join(60)
        check(not p.errors, "pusher %s failed: %s" % (p.name_, p.errors))


def wait_acks(ps, n, timeout, why, name=None):
    deadline = time.monotonic() + timeout
    while sum(p.count(name) for p in ps) < n:
        check(time.monotonic() < deadline and not any(p.errors for p in ps),
              "%s: %d acknowledged in %.0f s, want %d (%s)" % (
                  why, sum(p.count(name) for p in ps), timeout, n,
                  [p.errors for p in ps]))
        time.sleep(0.02)


def check_once(cluster, schema, ps):
    """Every acknowledged event is in the database once, with the seq it
    was acknowledged with (a duplicate's is the first one's)."""
    rows = [l.split("|") for l in cluster.psql(
        "SELECT eid, count(*), min(seq) FROM events WHERE eid IS NOT NULL "
        "GROUP BY eid", schema=schema).splitlines() if l]
    db = dict((eid, (int(n), int(seq))) for eid, n, seq in rows)
    n = 0
    for p in ps:
        for eid, (seq, dup, name, t) in p.acks.items():
            check(eid in db, "%s acknowledged by %s (seq %d) is not in "
                  "the database" % (eid, name, seq))
            check(db[eid] == (1, seq), "%s acknowledged by %s with seq %d "
                  "is in the database %d times, seq %d" % (
                      eid, name, seq, db[eid][0], db[eid][1]))
            n += 1
    return n


def test_failover_kill9_under_load(ctx):
    """kill -9 of the active under load: the standby serves within 5 s,
    nothing acknowledged by either is lost or there twice, and the old
    active comes back a standby."""
    cluster = pgcluster.Cluster().start()
    a = pg_daemon(ctx, cluster, "s_fo", "a").start()
    b = pg_daemon(ctx, cluster, "s_fo", "b").start()
    check(role(a) == "active" and role(b) == "standby",
          "roles: a %s, b %s" % (role(a), role(b)))
    active_gauge(a, 1)
    active_gauge(b, 0)
    c = b.client()
    expect_error(c.request(upsert("X", {"age": 1}, id="x", ts=T0)),
                 "unavailable", "an event on the standby")
    expect_error(c.request(cmd("alerts")), "unavailable",
                 "alerts on the standby")
    c.close()
    check(any(l.startswith("STATUS=") and "; standby" in l
              for l in b.drain_notify()),
          "b's STATUS: %s" % b.notify_lines())
    ps = start_pushers([a, b])
    wait_acks(ps, 300, 30, "before the kill")
    a.kill9()
    killed = time.monotonic()
    wait_acks(ps, 1, TAKEOVER + 5, "b after the kill", name="b")
    first = min(ack[3] for p in ps for ack in p.acks.values()
                if ack[2] == "b")
    check(first - killed < TAKEOVER, "b served %.1f s after the kill"
          % (first - killed))
    wait_acks(ps, 300, 30, "b after the takeover", name="b")
    check(any(l.startswith("STATUS=") and "; active" in l
              for l in b.drain_notify()), "b's STATUS: %s" % b.notify_lines())
    active_gauge(b, 1)
    a.start()
    check(role(a) == "standby" and role(b) == "active",
          "after the restart: a %s, b %s" % (role(a), role(b)))
    wait_acks(ps, 450, 30, "b with a back", name="b")
    stop_pushers(ps)
    n = check_once(cluster, "s_fo", ps)
    check(n >= 750, "%d acknowledged" % n)
    a.stop()
    b.stop()
    cluster.destroy()


def writer_backend(cluster, timeout=10):
    """The pid of the backend that holds a zhilid's advisory lock."""
    deadline = time.monotonic() + timeout
    while True:
        r = cluster.psql("SELECT pid FROM pg_locks WHERE locktype = "
                         "'advisory' AND granted AND classid = "
                         "x'5a48494c'::int").split()
        if r:
            return r[0]
        check(time.monotonic() < deadline, "no backend holds the lock")
        time.sleep(0.05)


def test_failover_session_terminated(ctx):
    """pg_terminate_backend of the active's writer session under load: it
    commits nothing more (each event it acknowledged is in the database,
    at or below the last seq when the session ended), becomes a standby,
    and the other daemon serves."""
    cluster = pgcluster.Cluster().start()
    a = pg_daemon(ctx, cluster, "s_cut", "a").start()
    b = pg_daemon(ctx, cluster, "s_cut", "b").start()
    ps = start_pushers([a, b])
    wait_acks(ps, 300, 30, "before the cut")
    pid = writer_backend(cluster)
    # returns once the backend is gone: nothing commits in it after
    cluster.psql("SELECT pg_terminate_backend(%s, 10000)" % pid)
    cut = int(cluster.psql("SELECT coalesce(max(seq), 0) FROM events",
                           schema="s_cut"))
    wait_acks(ps, 300, TAKEOVER + 30, "b after the cut", name="b")
    wait_role(a, "standby", 5)
    check(role(b) == "active", "b is %s" % role(b))
    stop_pushers(ps)
    check_once(cluster, "s_cut", ps)
    late = [(eid, seq) for p in ps for eid, (seq, dup, name, t) in
            p.acks.items() if name == "a" and not dup and seq > cut]
    check(not late, "a acknowledged events past seq %d, the last at the "
          "cut: %s" % (cut, late[:5]))
    check("stops committing and is a standby" in a.stderr_text(),
          "a's log: %s" % a.stderr_text()[-1500:])
    a.stop()
    b.stop()
    cluster.destroy()


def test_failover_outputs(ctx):
    """Only the active delivers alerts to its outputs: the standby's file
    stays empty; after kill -9 of the active the standby delivers from
    the stored position on, so that every alert reaches a file (at least
    once across the two) and the new active's own ones reach its file."""
    from test_outputs import flips, push, read_lines, wait_lines
    cluster = pgcluster.Cluster().start()
    ds = []
    for name in ("a", "b"):
        d = pg_daemon(ctx, cluster, "s_out", name)
        d.conf_extra += 'outputs:\n  - {"file": "%s.alerts"}\n' % name
        d.write_config()
        ds.append(d.start())
    a, b = ds
    out = dict((d.name, os.path.join(ctx.tmp, d.name + ".alerts"))
               for d in ds)
    c = a.client()
    first = push(c, flips(20))
    wait_lines(out["a"], len(first))
    time.sleep(1.5)
    check(read_lines(out["b"]) == [], "the standby delivered alerts")
    a.kill9()
    wait_role(b, "active", 10)
    c = b.client()
    then = push(c, flips(10, first=21))
    got = wait_lines(out["b"], len(then))
    ids = [x["id"] for x in got]
    check(len(ids) == len(set(ids)), "b delivered an alert twice: %s" % ids)
    check(set(x["id"] for x in then) <= set(ids), "b's own alerts: %s, "
          "delivered %s" % ([x["id"] for x in then], ids))
    delivered = set(ids) | set(x["id"] for x in read_lines(out["a"]))
    check(set(x["id"] for x in first + then) <= delivered,
          "alerts delivered by neither: %s" % sorted(
              set(x["id"] for x in first + then) - delivered))
    b.stop()
    cluster.destroy()
