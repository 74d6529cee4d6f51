"""The PostgreSQL store's faults (zhilid.conf(5) "database", zhilid(8)
"Durability"), each on a throwaway cluster of its own: the server stopped
with `pg_ctl stop -m immediate` under load and started again (events are
unavailable meanwhile, then served again by themselves; nothing
acknowledged is lost, nothing is there twice, nothing answered unavailable
is there); a connection lost during COMMIT, once after the server
committed and once before, resolved by looking the batch up after
reconnecting: the first is acknowledged, the second unavailable (and the
daemon, its session lost, takes the lock again before it serves); a
COMMIT cut off on the daemon's side only, whose session the server keeps
(the daemon ends it on reconnecting, then looks the batch up); one
writer a schema (its advisory lock; a second daemon is a standby); a start
without a server or schema.
The protocol, rule-set, duplicate, restart and kill -9 tests run against
PostgreSQL too (run.py --store postgresql); this file is its faults."""

import json
import os
import socket
import threading
import time

from harness import (PING, T0, Daemon, TestFailure, check, cmd,
                     expect_error, expect_event_ok, expect_ok, role,
                     run_zhilid, upsert, wait_role)
import pgcluster
from test_zhilictl import ctl

TIMEOUT = 240


def pg_daemon(ctx, cluster, schema, **kw):
    return Daemon(ctx, conf_extra='database: "%s"\n' % cluster.conninfo(
        schema).replace('"', '\\"'), **kw)


def rows(cluster, schema, sql):
    return [l.split("|") for l in cluster.psql(sql, schema=schema)
            .splitlines() if l]


class Load:
    """Clients in threads, each sending upserts with ids one at a time and
    noting every answer; a client disconnected without an answer (its
    batch's commit in doubt) notes the line unanswered and connects
    again.  After an error a client waits 10 ms."""

    def __init__(self, d, nthreads=4):
        self.d = d
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}         # id -> (seq, alerts)
        self.unavailable = set()
        self.unanswered = set()
        self.other = []
        self.sent = []
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(t,))
                        for t in range(nthreads)]

    def run(self, t):
        try:
            c = self.d.client(timeout=90)
            i = 0
            while not self.stop.is_set():
                eid = "t%d-%d" % (t, i)
                ev = upsert("H%d-%d" % (t, i % 40),
                            {"age": 60 + i % 30, "key_person": i % 7 == 0},
                            id=eid, ts=T0 + i)
                with self.lock:
                    self.sent.append((eid, ev))
                try:
                    r = c.request(ev)
                except TestFailure:
                    with self.lock:
                        self.unanswered.add(eid)
                    c.close()
                    c = self.d.client(timeout=90)
                    i += 1
                    continue
                with self.lock:
                    if r.get("ok"):
                        self.acked[eid] = (r["seq"], r["alerts"])
                    elif r["error"]["code"] == "unavailable":
                        self.unavailable.add(eid)
                    else:
                        self.other.append(r)
                if not r.get("ok"):
                    time.sleep(0.01)    # as a client would, before more
                i += 1
            c.close()
        except BaseException as e:      # noqa: B902 - reported by join
            self.errors.append(e)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self):
        with self.lock:
            return len(self.acked), len(self.unavailable)

    def wait_acked(self, n, timeout, why):
        deadline = time.monotonic() + timeout
        while self.count()[0] < n:
            check(time.monotonic() < deadline and not self.errors,
                  "%s: %d acknowledged in %.0f s, want %d (%s)" % (
                      why, self.count()[0], timeout, n, self.errors))
            time.sleep(0.05)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)
        check(not self.errors, "load clients failed: %s" % self.errors)
        check(not self.other, "unexpected answers: %s" % self.other[:3])


def check_consistent(cluster, schema, load, c):
    """Every acknowledged event and its alerts are in the database once;
    no event answered unavailable is; resending all of them gives the
    acknowledged ones back as duplicates of their seq and applies the
    others now."""
    events = dict((eid, int(seq)) for eid, seq in rows(
        cluster, schema, "SELECT eid, seq FROM events WHERE eid IS NOT NULL"))
    for eid, (seq, alerts) in load.acked.items():
        check(events.get(eid) == seq, "acknowledged %s (seq %d) is %r in "
              "the database" % (eid, seq, events.get(eid)))
    for eid in load.unavailable:
        check(eid not in events, "%s was answered unavailable but is in "
              "the database (seq %s)" % (eid, events.get(eid)))
    dup = rows(cluster, schema, "SELECT event, rule, count(*) FROM alerts "
               "GROUP BY 1, 2 HAVING count(*) > 1")
    check(dup == [], "alerts twice: %s" % dup[:5])
    ids = set(int(i) for (i,) in rows(cluster, schema,
                                      "SELECT id FROM alerts"))
    for eid, (seq, alerts) in load.acked.items():
        for a in alerts:
            check(a["id"] in ids, "alert %d of acknowledged %s lost"
                  % (a["id"], eid))
    for eid, ev in load.sent:
        r = expect_ok(c.request(ev), "resend %s" % eid)
        if eid in load.acked:
            check(r.get("duplicate") and r["seq"] == load.acked[eid][0],
                  "resent acknowledged %s: %s" % (eid, r))
        elif eid in load.unavailable:
            check(not r.get("duplicate"), "resent unavailable %s was a "
                  "duplicate: %s" % (eid, r))


def test_server_stopped_under_load(ctx):
    """pg_ctl stop -m immediate under load, then start: unavailable while
    it is down (events, and alerts, which reads the database; ping still
    answers), acknowledged again by itself once it is back."""
    cluster = pgcluster.Cluster().start()
    with pg_daemon(ctx, cluster, "s_stop") as d:
        load = Load(d).start()
        load.wait_acked(200, 30, "before the stop")
        cluster.stop("immediate")
        c = d.client()
        deadline = time.monotonic() + 20
        while load.count()[1] == 0:
            check(time.monotonic() < deadline, "no event answered "
                  "unavailable while the server is down")
            time.sleep(0.05)
        expect_ok(c.request(PING), "ping while the server is down")
        expect_error(c.request(cmd("alerts")), "unavailable",
                     "alerts while the server is down")
        time.sleep(1)
        down = load.count()[0]
        cluster.start()
        load.wait_acked(down + 200, 30, "after the server came back")
        load.join()
        expect_ok(c.request(cmd("alerts")), "alerts once it is back")
        check_consistent(cluster, "s_stop", load, c)
        c.close()
    cluster.destroy()


def doubt_setup(ctx, cluster, schema):
    d = pg_daemon(ctx, cluster, schema).start()
    c = d.client(timeout=60)
    expect_event_ok(c.request(upsert("H0", {"age": 30}, id="before",
                                     ts=T0)))
    return d, c


def doubt_end(ctx, cluster, schema, d, c, said):
    """The daemon goes on, and its log says it looked the batch up.  Every
    event's template is stored (the batch in doubt brought a new one: the
    writer reads them again rather than guess), and export gives the log
    back."""
    wait_role(d, "active", 10)
    expect_event_ok(c.request(upsert("H2", {"age": 90}, id="after",
                                     ts=T0 + 120)))
    c.close()
    d.stop()
    check(said in d.stderr_text(), "the daemon did not look the batch up: "
          "%s" % d.stderr_text()[-1500:])
    check(rows(cluster, schema, "SELECT count(*) FROM events AS e LEFT "
               "JOIN shapes AS s ON s.id = e.shape WHERE e.shape IS NOT "
               "NULL AND s.id IS NULL") == [["0"]],
          "events whose template is not stored")
    ids = [r[0] for r in rows(cluster, schema, "SELECT eid FROM events "
                              "ORDER BY seq")]
    rc, out, err = ctl(ctx, "-c", d.conf_path, "export")
    check(rc == 0 and [json.loads(l)["id"] for l in out.splitlines()] ==
          ids, "export: %s %s" % (rc, err))
    cluster.destroy()


def backend_waiting(cluster, what, timeout=20):
    """The pid of the daemon's backend waiting on wait event what."""
    deadline = time.monotonic() + timeout
    while True:
        r = cluster.psql("SELECT pid FROM pg_stat_activity WHERE "
                         "application_name = 'zhilid' AND wait_event = "
                         "'%s'" % what).split()
        if r:
            return r[0]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def commit_waiting(cluster, c, prefix, ts):
    """After synchronous_standby_names = 'nobody': send events until one
    waits on SyncRep (the writer's backend takes the setting at its next
    command: an event acknowledged before that is sent again).  Its event
    and the backend's pid."""
    for attempt in range(10):
        ev = upsert("H1", {"key_person": attempt % 2 == 0},
                    id="%s-%d" % (prefix, attempt), ts=ts + attempt)
        c.send(ev)
        pid = backend_waiting(cluster, "SyncRep", 2)
        if pid is not None:
            return ev, pid
        expect_event_ok(c.recv(10), "before the reload took")
    check(False, "no backend waits on SyncRep")


def test_commit_in_doubt_committed(ctx):
    """The server commits, then the connection goes before COMMIT's answer
    (a synchronous standby that never answers, then pg_terminate_backend):
    the daemon looks the batch up after reconnecting and acknowledges it;
    a resend is a duplicate of the same seq."""
    cluster = pgcluster.Cluster().start()
    d, c = doubt_setup(ctx, cluster, "s_doubt1")
    cluster.psql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'; "
                 "SELECT pg_reload_conf()")
    ev, pid = commit_waiting(cluster, c, "doubt-1", T0 + 60)
    eid = ev["id"]
    cluster.psql("SELECT pg_terminate_backend(%s)" % pid)
    cluster.psql("ALTER SYSTEM RESET synchronous_standby_names; "
                 "SELECT pg_reload_conf()")
    r = expect_event_ok(c.recv(60), "the batch in doubt")
    check(len(r["alerts"]) == 1, "its alert: %s" % r)
    # its session lost, the daemon took the lock again (a standby meanwhile)
    wait_role(d, "active", 10)
    check(rows(cluster, "s_doubt1", "SELECT seq FROM events WHERE eid = "
               "'%s'" % eid) == [[str(r["seq"])]], "%s once, seq %d"
          % (eid, r["seq"]))
    r2 = expect_ok(c.request(ev))
    check(r2.get("duplicate") and r2["seq"] == r["seq"], "resend: %s" % r2)
    doubt_end(ctx, cluster, "s_doubt1", d, c, "had committed")


def test_commit_in_doubt_not_committed(ctx):
    """The connection goes during COMMIT before the server committed (a
    deferred trigger sleeps in it; pg_terminate_backend): the daemon looks
    the batch up after reconnecting, finds it absent and answers
    unavailable; a resend is applied, and the daemon goes on."""
    cluster = pgcluster.Cluster().start()
    d, c = doubt_setup(ctx, cluster, "s_doubt2")
    cluster.psql("""
        CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS
            $$BEGIN PERFORM pg_sleep(60); RETURN NULL; END$$;
        CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON events
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            WHEN (NEW.eid = 'doubt-2') EXECUTE FUNCTION slow();
    """, schema="s_doubt2")
    ev = upsert("H1", {"key_person": True}, id="doubt-2", ts=T0 + 60)
    c.send(ev)
    pid = backend_waiting(cluster, "PgSleep")
    check(pid is not None, "no backend sleeps in the trigger")
    cluster.psql("SELECT pg_terminate_backend(%s)" % pid)
    expect_error(c.recv(60), "unavailable", "the batch in doubt")
    check(rows(cluster, "s_doubt2", "SELECT seq FROM events WHERE eid = "
               "'doubt-2'") == [], "doubt-2 must not be in the database")
    cluster.psql("DROP TRIGGER slow ON events", schema="s_doubt2")
    wait_role(d, "active", 10)
    r = expect_event_ok(c.request(ev), "resend")
    check(not r.get("duplicate") and len(r["alerts"]) == 1,
          "the resend is applied: %s" % r)
    doubt_end(ctx, cluster, "s_doubt2", d, c, "had not committed")


def test_unreachable_or_missing_schema_refused(ctx):
    """At start, a server out of reach and a search_path that names no
    schema are refused with a clear error and exit 1."""
    cluster = pgcluster.Cluster().start()
    d = pg_daemon(ctx, cluster, "s_there")
    d.conf_extra = 'database: "%s options=\'-c search_path=s_nowhere\'"\n' \
        % cluster.base()
    d.write_config()
    rc, out = run_zhilid(ctx, ["-c", d.conf_path], timeout=30)
    check(rc == 1 and "search_path names none that exists" in out,
          "a missing schema: %s %s" % (rc, out[-800:]))
    cluster.stop()
    d = pg_daemon(ctx, cluster, "s_there", name="again")
    rc, out = run_zhilid(ctx, ["-c", d.conf_path], timeout=30)
    check(rc == 1 and "PostgreSQL: cannot connect" in out,
          "a server out of reach: %s %s" % (rc, out[-800:]))
    cluster.destroy()


def test_one_writer_per_schema(ctx):
    """A second daemon on the same schema is a standby while the first
    holds the schema's advisory lock (events unavailable, nothing written),
    and serves once the first is killed (its session, and so the lock,
    gone with it), with every event the first acknowledged.  The failover
    under load is test_failover.py's."""
    cluster = pgcluster.Cluster().start()
    a = pg_daemon(ctx, cluster, "s_one", name="a").start()
    c = a.client()
    acked = [expect_event_ok(c.request(upsert("H%d" % i, {"age": 70 + i},
                                              id="o-%d" % i, ts=T0 + i)))
             for i in range(20)]
    b = pg_daemon(ctx, cluster, "s_one", name="b").start()
    check(role(b) == "standby", "b is %s" % role(b))
    cb = b.client()
    expect_error(cb.request(upsert("H99", {"age": 70}, id="o-99", ts=T0)),
                 "unavailable", "an event on the standby")
    check("another zhilid is active on this schema" in b.stderr_text(),
          "b's log: %s" % b.stderr_text()[-800:])
    a.kill9()
    wait_role(b, "active", 10)
    for i, r in enumerate(acked):
        r2 = expect_ok(cb.request(upsert("H%d" % i, {"age": 70 + i},
                                         id="o-%d" % i, ts=T0 + i)))
        check(r2.get("duplicate") and r2["seq"] == r["seq"],
              "o-%d after the takeover: %s" % (i, r2))
    check(rows(cluster, "s_one", "SELECT count(*) FROM events WHERE eid = "
               "'o-99'") == [["0"]], "the standby wrote o-99")
    b.stop()
    cluster.destroy()


class Proxy:
    """A TCP port in front of the cluster's socket that forwards, or
    (silent) takes connections and never answers: a server out of reach."""

    def __init__(self, cluster):
        self.target = os.path.join(cluster.dir, ".s.PGSQL.5432")
        self.silent = False
        self.conns = []
        self.lock = threading.Lock()
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(a)
                if self.silent:
                    continue
                b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                b.connect(self.target)
                self.conns.append(b)
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self.pump, args=(x, y),
                                 daemon=True).start()

    half = False        # HalfProxy's: an end closed leaves the server's

    def pump(self, x, y):
        try:
            while True:
                data = x.recv(65536)
                if not data:
                    break
                y.sendall(data)
        except OSError:
            pass
        for s in (x, y):
            if self.half and s.family != socket.AF_INET:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def go_silent(self):
        """Cut every connection; from now on, answer none."""
        with self.lock:
            self.silent = True
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.ls.close()


class HalfProxy(Proxy):
    """A Proxy that can cut its connections on the daemon's side only: the
    server keeps each session, as after a network cut it does not see."""

    half = True

    def cut_daemon_side(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns[0::2]:      # accept() appends the daemon's first
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.kept = conns[1::2]     # the server's ends: never closed


def test_cut_session_is_ended_on_reconnect(ctx):
    """A COMMIT waits in the server (a synchronous standby that never
    answers) when the network is cut on the daemon's side only: the
    server keeps the session, its lock and its transaction, committed
    locally but not yet visible.  Reconnecting, the daemon ends that
    session of its own (pg_terminate_backend of its pid and start), so
    that the look-up sees the commit (acknowledged, not guessed
    unavailable) and the lock is free: the daemon is active again."""
    cluster = pgcluster.Cluster().start()
    cluster.conninfo("s_cut")
    proxy = HalfProxy(cluster)
    d = Daemon(ctx, conf_extra='database: "host=127.0.0.1 port=%d '
               'dbname=zhilid user=zhilid options=\'-c search_path=s_cut'
               '\'"\n' % proxy.port).start()
    c = d.client(timeout=60)
    expect_event_ok(c.request(upsert("H0", {"age": 30}, id="before",
                                     ts=T0)))
    cluster.psql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'; "
                 "SELECT pg_reload_conf()")
    ev, pid = commit_waiting(cluster, c, "cut", T0 + 60)
    proxy.cut_daemon_side()
    r = expect_event_ok(c.recv(60), "the batch whose COMMIT was cut off")
    check(rows(cluster, "s_cut", "SELECT seq FROM events WHERE eid = '%s'"
               % ev["id"]) == [[str(r["seq"])]], "%s once, seq %d"
          % (ev["id"], r["seq"]))
    check("ended this zhilid's previous session (backend %s)" % pid in
          d.stderr_text(), "the daemon did not end its old session: %s"
          % d.stderr_text()[-1500:])
    cluster.psql("ALTER SYSTEM RESET synchronous_standby_names; "
                 "SELECT pg_reload_conf()")
    wait_role(d, "active", 10)
    expect_event_ok(c.request(upsert("H2", {"age": 90}, id="after",
                                     ts=T0 + 120)))
    c.close()
    d.stop()
    proxy.close()
    cluster.destroy()


def test_silent_server_does_not_stall_the_loop(ctx):
    """A server that takes connections and never answers: reconnecting
    must not stall the event loop; ping answers within a second all along
    and events are answered unavailable (after a connect's 5 s at most)."""
    cluster = pgcluster.Cluster().start()
    cluster.conninfo("s_silent")        # create the schema
    proxy = Proxy(cluster)
    d = Daemon(ctx, conf_extra='database: "host=127.0.0.1 port=%d '
               'dbname=zhilid user=zhilid options=\'-c search_path=s_silent'
               '\'"\n' % proxy.port).start()
    c = d.client(timeout=30)
    for i in range(10):
        expect_event_ok(c.request(upsert("H%d" % i, {"age": 80}, id="q-%d"
                                         % i, ts=T0 + i)))
    proxy.go_silent()
    p = d.client()
    codes = set()
    worst = 0.0
    deadline = time.monotonic() + 12
    i = 100
    while time.monotonic() < deadline:
        try:
            c.send(upsert("H%d" % i, {"age": 80}, id="q-%d" % i, ts=T0 + i))
        except TestFailure:     # its batch was in doubt: disconnected
            codes.add("disconnected")
            c.close()
            c = d.client(timeout=30)
            continue
        i += 1
        t = time.monotonic()
        expect_ok(p.request(PING, timeout=10), "ping")
        worst = max(worst, time.monotonic() - t)
        while not c.eof:
            try:
                r = c.recv(0.05)
            except TestFailure:
                break
            codes.add(r.get("error", {}).get("code", "ok"))
        time.sleep(0.1)
    check(worst < 1.0, "a ping took %.1f s while the server is silent"
          % worst)
    check("unavailable" in codes, "events answered %s, not unavailable"
          % codes)
    d.kill9()
    proxy.close()
    cluster.destroy()
