"""End-to-end test harness for zhilid (Python 3 standard library only).

A test is a module-level function test_NAME(ctx) in tests/e2e/test_*.py;
run.py calls it with a context that has .zhilid, .zhilictl (absolute paths
of the binaries), .root (the repository root) and .tmp (a fresh directory,
removed afterwards).

    with Daemon(ctx) as d:          # writes ctx.tmp/zhilid.conf, starts
        c = d.client()              # zhilid -c CONF, waits for READY=1
        r = c.request(upsert("H1", {"key_person": True}, id="e-1", ts=T0))
        expect_ok(r)

Daemon.stop() (also run on leaving the with block) sends SIGTERM and
requires exit status 0 and no AddressSanitizer/UBSan report on stderr.
Every daemon started here is recorded, and cleanup_all() kills whatever a
failed test left running.

The store: with ZHILID_PG_CLUSTER set (run.py --store postgresql sets it to
a throwaway cluster's folder, see pgcluster.py), every Daemon's database is
a schema of that cluster named after its db_path, so that daemons given the
same db_path share it as they would share a SQLite file.  Tests that poke
SQLite itself (its files, the sqlite3 module) are marked @sqlite_only.
"""

import json
import os
import sqlite3
import re
import select
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone

# 2026-01-01T00:00:00+08:00: a fixed epoch for deterministic event timestamps.
T0 = 1767196800
CST = timezone(timedelta(hours=8))

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0
RECV_TIMEOUT = 10.0

DEFAULT_LIMITS = {
    "max_line_bytes": 65536,
    "max_output_bytes": 1048576,
    "max_clients": 1024,
}

ERROR_CODES = {
    "bad_json", "too_large", "unknown_type", "bad_event", "unknown_entity",
    "conflict", "forbidden", "unavailable", "bad_rules", "internal",
}

ATTRS = ("age", "lives_alone", "disabled", "low_income", "chronic_ill",
         "key_person", "mental_risk", "petition_active", "dispute_open",
         "left_behind_child")
BOOL_ATTRS = ATTRS[1:]

SEVERITY = {"red": "critical", "blue": "warning", "orange": "warning",
            "yellow": "info", "none": "info"}

_SANITIZER_RE = re.compile(
    r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
    r"SUMMARY: AddressSanitizer|SUMMARY: UndefinedBehaviorSanitizer|"
    r"SUMMARY: LeakSanitizer|runtime error: |ERROR: ThreadSanitizer|"
    r"AddressSanitizer:DEADLYSIGNAL)")

_live = []          # every Daemon started in this process
_pg_schemas = set()  # the schemas created on the cluster so far
_clients = []       # every Client opened in this process


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    """Raised by a test that cannot run here (run.py prints SKIP, which
    counts as neither a pass nor a failure)."""


def check(cond, msg="check failed"):
    """Fail the test with msg unless cond holds (works under python -O)."""
    if not cond:
        raise TestFailure(msg)


def fail(msg):
    raise TestFailure(msg)


def sanitizer_report(text):
    """The first lines of an ASan/LSan/UBSan report in text, or None."""
    m = _SANITIZER_RE.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    return text[start:start + 1500]


class Ctx:
    """What run.py passes to every test."""

    def __init__(self, zhilid, zhilictl, root, tmp):
        self.zhilid = os.path.abspath(zhilid)
        self.zhilictl = os.path.abspath(zhilictl)
        self.root = os.path.abspath(root)
        self.tmp = os.path.abspath(tmp)

    def conformance(self, *parts):
        """A path under tests/conformance, the vendored test suites (inside
        the checkout: a test never reads outside it)."""
        return os.path.join(self.root, "tests", "conformance", *parts)


# ---------------------------------------------------------------------------
# Requests

def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def event(type, **fields):
    """An event object: {"type": type, **fields}."""
    d = {"type": type}
    d.update(fields)
    return d


def cmd(name, **fields):
    d = {"cmd": name}
    d.update(fields)
    return d


def upsert(household, attrs=None, id=None, ts=None, community="C1",
           grid="G1"):
    d = {"type": "household.upsert"}
    if id is not None:
        d["id"] = id
    if ts is not None:
        d["ts"] = ts
    d["household"] = household
    if community is not None:
        d["community"] = community
    if grid is not None:
        d["grid"] = grid
    d["attrs"] = dict(attrs or {})
    return d


def remove(household, id=None, ts=None):
    d = {"type": "household.remove"}
    if id is not None:
        d["id"] = id
    if ts is not None:
        d["ts"] = ts
    d["household"] = household
    return d


def get(household, kind="household"):
    return {"cmd": "get", "kind": kind, "id": household}


PING = {"cmd": "ping"}
STATS = {"cmd": "stats"}


def four_color(attrs):
    """The class DESIGN.md 4.1 gives a merged attribute record."""
    a = {k: False for k in BOOL_ATTRS}
    a["age"] = 0
    a.update(attrs)
    if a["key_person"] or a["mental_risk"]:
        return "red"
    if a["petition_active"] or a["dispute_open"]:
        return "blue"
    if (a["age"] >= 80 and a["lives_alone"]) or \
            (a["disabled"] and a["low_income"]):
        return "orange"
    if a["age"] >= 70 or a["disabled"] or a["low_income"] or \
            a["chronic_ill"] or a["lives_alone"] or a["left_behind_child"]:
        return "yellow"
    return "none"


# ---------------------------------------------------------------------------
# Responses

def _strict_object(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("repeated key in response object: %r" % keys)
    return dict(pairs)


def _no_constant(name):
    raise ValueError("non-JSON constant %s in response" % name)


def parse_response(line):
    """Parse one response line strictly (UTF-8, one JSON object, no repeated
    keys, no NaN/Infinity)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("response is not UTF-8 (%s): %r" % (e, line[:200]))
    try:
        obj = json.loads(text, object_pairs_hook=_strict_object,
                         parse_constant=_no_constant)
    except ValueError as e:
        fail("response is not JSON (%s): %r" % (e, line[:300]))
    check(isinstance(obj, dict), "response is not an object: %r" % line[:300])
    return obj


def short(obj, n=300):
    s = obj if isinstance(obj, str) else dumps(obj)
    return s if len(s) <= n else s[:n] + "..."


def check_well_formed(r):
    """A response line of the protocol: ok true, or ok false with a known
    error code and a non-empty message."""
    check(r.get("ok") in (True, False) and "ok" in r,
          "response without boolean ok: %s" % short(r))
    if r["ok"] is False:
        e = r.get("error")
        check(isinstance(e, dict), "error response without error object: %s"
              % short(r))
        check(e.get("code") in ERROR_CODES, "unknown error code: %s" % short(r))
        check(isinstance(e.get("message"), str) and e["message"] != "",
              "error without message: %s" % short(r))
    return r


def expect_ok(r, what=""):
    check(isinstance(r, dict) and r.get("ok") is True,
          "%sexpected ok:true, got %s" % (what + ": " if what else "",
                                          short(r)))
    return r


def expect_error(r, code, what="", mentions=None, message=None):
    """r is {"ok":false,"error":{"code":code,"message":non-empty}}; if
    mentions is given the message must contain it, if message is given the
    message must be exactly that."""
    pre = what + ": " if what else ""
    check(isinstance(r, dict) and r.get("ok") is False,
          "%sexpected error %s, got %s" % (pre, code, short(r)))
    e = r.get("error")
    check(isinstance(e, dict), "%serror object missing: %s" % (pre, short(r)))
    check(e.get("code") == code,
          "%sexpected error %s, got %s" % (pre, code, short(r)))
    check(isinstance(e.get("message"), str) and e["message"].strip() != "",
          "%serror message empty: %s" % (pre, short(r)))
    if mentions is not None:
        check(mentions in e["message"],
              "%serror message does not name %r: %s"
              % (pre, mentions, short(r)))
    if message is not None:
        check(e["message"] == message, "%serror message\n  %r, want\n  %r"
              % (pre, e["message"], message))
    return r


def expect_event_ok(r, what=""):
    """An accepted, non-duplicate event response; returns it."""
    expect_ok(r, what)
    pre = what + ": " if what else ""
    check(isinstance(r.get("seq"), int) and not isinstance(r["seq"], bool)
          and r["seq"] > 0, "%sevent response without positive integer seq:"
          " %s" % (pre, short(r)))
    check(r.get("duplicate", False) is False,
          "%sunexpected duplicate: %s" % (pre, short(r)))
    check(isinstance(r.get("alerts"), list),
          "%sevent response without alerts list: %s" % (pre, short(r)))
    return r


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_ts(v):
    """Unix seconds of an integer or an RFC 3339 string."""
    if is_int(v):
        return v
    check(isinstance(v, str), "timestamp is neither integer nor string: %r"
          % (v,))
    m = re.match(r"^(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(\.\d+)?"
                 r"([Zz]|[+-]\d\d:\d\d)$", v)
    check(m, "timestamp is not RFC 3339 with offset: %r" % v)
    s = m.group(1) + "T" + m.group(2) + \
        ("+00:00" if m.group(4) in "Zz" else m.group(4))
    return int(datetime.fromisoformat(s).timestamp())


def iso(ts, tz=CST):
    """RFC 3339 text of unix seconds ts in tz (default +08:00)."""
    return datetime.fromtimestamp(ts, tz).isoformat()


# ---------------------------------------------------------------------------
# Client

class Client:
    """A line-oriented connection to the daemon's socket."""

    def __init__(self, path, daemon=None, timeout=RECV_TIMEOUT):
        self.path = path
        self.daemon = daemon
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        except OSError as e:
            self.sock.close()
            fail("connect %s: %s%s" % (path, e, self._why()))
        _clients.append(self)

    def _why(self):
        d = self.daemon
        if d is None or d.proc is None:
            return ""
        rc = d.proc.poll()
        if rc is None:
            return ""
        return " (zhilid exited with status %s; stderr ends:\n%s)" % (
            rc, d.stderr_text()[-2000:])

    def fileno(self):
        return self.sock.fileno()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            self.sock.sendall(data)
        except OSError as e:
            fail("send: %s%s" % (e, self._why()))
        self._record("", data)

    def _record(self, suffix, data):
        """ZHILID_RECORD_LINES=PATH: append every complete line sent to
        PATH, and from request() each request line answered ok:true to
        PATH.ok and each {"request","response"} pair to PATH.resp (for
        tests/schema/run.py)."""
        path = os.environ.get("ZHILID_RECORD_LINES")
        if not path or not self._shipped():
            return
        if suffix == "":
            part = getattr(self, "_rec_part", b"") + bytes(data)
            data, _, self._rec_part = part.rpartition(b"\n")
            if not data:
                return
            data += b"\n"
        with open(path + suffix, "ab") as f:
            f.write(data)

    def _shipped(self):
        """Whether the daemon runs only shipped rule files: the schemas
        describe those events, not a test's own rule file's."""
        if self.daemon is None:
            return True
        shipped = os.path.join(self.daemon.ctx.root, "rules") + os.sep
        return all(r.startswith(shipped) for r in self.daemon.rules)

    def send_line(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.send_raw(bytes(data) + b"\n")

    def send(self, obj):
        self.send_line(dumps(obj))

    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk
            return True

    def recv_line(self, timeout=None):
        """One response line (bytes, without the newline)."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line
            start = len(self.buf)
            if self.eof:
                fail("connection closed by zhilid while waiting for a "
                     "response%s%s" % (
                         " (partial line %r)" % bytes(self.buf[:200])
                         if self.buf else "", self._why()))
            try:
                self._fill(deadline)
            except socket.timeout:
                fail("no response within %.0f s%s" % (t, self._why()))
            except OSError as e:
                fail("recv: %s%s" % (e, self._why()))

    def recv(self, timeout=None):
        """One response, parsed strictly into a dict."""
        return parse_response(self.recv_line(timeout))

    def request(self, obj, timeout=None):
        """Send obj (dict: JSON-encoded; str/bytes: as is) as one line and
        return the response."""
        if isinstance(obj, (str, bytes, bytearray)):
            self.send_line(obj)
        else:
            self.send(obj)
        r = self.recv(timeout)
        if os.environ.get("ZHILID_RECORD_LINES"):
            line = obj if isinstance(obj, (str, bytes, bytearray)) else \
                dumps(obj)
            if isinstance(line, str):
                line = line.encode("utf-8")
            if r.get("ok") is True:
                self._record(".ok", bytes(line) + b"\n")
            self._record(".resp", (dumps({
                "request": bytes(line).decode("utf-8", "replace"),
                "response": r}) + "\n").encode("utf-8"))
        return r

    def expect_eof(self, timeout=None):
        """Wait until the daemon closes the connection; returns the bytes
        received before the close."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        while not self.eof:
            try:
                self._fill(deadline)
            except socket.timeout:
                fail("connection still open after %.0f s" % t)
            except ConnectionResetError:
                self.eof = True
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def no_response(self, wait=0.3):
        """Check that nothing arrives within wait seconds."""
        r, _, _ = select.select([self.sock], [], [], wait)
        if r or self.buf:
            try:
                self._fill(time.monotonic() + 0.5)
            except (socket.timeout, OSError):
                pass
            check(not self.buf, "unexpected data from zhilid: %r"
                  % bytes(self.buf[:300]))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        if self in _clients:
            _clients.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def pipeline(client, objs):
    """Send every line of objs in one go from a thread while reading the
    responses; returns the list of responses in order."""
    import threading
    data = b"".join((o if isinstance(o, bytes) else dumps(o).encode()) +
                    b"\n" for o in objs)
    err = []

    def writer():
        try:
            client.sock.sendall(data)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    out = []
    try:
        for _ in range(len(objs)):
            out.append(client.recv())
    finally:
        t.join(5)
    check(not err, "writing the pipeline failed: %s" % (err[:1],))
    if os.environ.get("ZHILID_RECORD_LINES"):
        for o, r in zip(objs, out):
            if isinstance(r, dict) and r.get("ok") is True:
                line = o if isinstance(o, bytes) else dumps(o).encode()
                client._record(".ok", line + b"\n")
                client._record(".resp", (dumps({
                    "request": line.decode("utf-8", "replace"),
                    "response": r}) + "\n").encode("utf-8"))
    return out


# ---------------------------------------------------------------------------
# Daemon

def _yaml_str(s):
    return json.dumps(s)


def store():
    """The store the daemons of this run use: "sqlite" or "postgresql"."""
    return "postgresql" if os.environ.get("ZHILID_PG_CLUSTER") else "sqlite"


def pg_cluster():
    """The run's PostgreSQL cluster (pgcluster.Cluster), or None."""
    import pgcluster
    d = os.environ.get("ZHILID_PG_CLUSTER")
    return pgcluster.Cluster.attach(d) if d else None


def database_for(path):
    """The database value of a daemon whose SQLite file would be path."""
    c = pg_cluster()
    if c is None:
        return path
    import pgcluster
    schema = pgcluster.schema_for(path)
    c.schemas = _pg_schemas
    return c.conninfo(schema)


def sqlite_only(fn):
    """Mark a test that reads or breaks SQLite's files itself: run.py
    skips it when the daemons use PostgreSQL."""
    fn.sqlite_only = True
    return fn


def store_neutral(fn):
    """Mark a test of what no store changes (zhilictl's pages drawn from
    answers another test checks on both stores): run.py runs it in the
    SQLite pass only."""
    return sqlite_only(fn)


class Daemon:
    """One zhilid process on a temporary config in ctx.tmp."""

    def __init__(self, ctx, clock="event", rules=None, conf_extra="",
                 durability="full", limits=None, access=None, notify=True,
                 name="zhilid", sock_path=None, db_path=None, env=None,
                 listen_sock=None):
        self.ctx = ctx
        # A listening socket to pass as fd 3 with LISTEN_FDS=1 (systemd
        # socket activation).
        self.listen_sock = listen_sock
        self.name = name
        self.clock = clock
        self.durability = durability
        self.notify = notify
        self.env_extra = dict(env or {})
        self.sock_path = sock_path or os.path.join(ctx.tmp, name + ".sock")
        self.db_path = db_path or os.path.join(ctx.tmp, name + ".db")
        self.conf_path = os.path.join(ctx.tmp, name + ".conf")
        self.notify_path = os.path.join(ctx.tmp, name + ".notify")
        if rules is None:
            rules = [os.path.join(ctx.root, "rules", "four_color.yaml")]
        self.rules = [os.path.join(ctx.root, r) if not os.path.isabs(r) else r
                      for r in rules]
        self.limits = dict(DEFAULT_LIMITS)
        self.limits.update(limits or {})
        self.access = access
        self.conf_extra = conf_extra
        self.proc = None
        self.runs = 0
        self.stderr_path = None
        self._stderr_file = None
        self.notify_sock = None
        self.notify_msgs = []      # every sd_notify datagram, decoded
        self.exit_status = None
        self.write_config()

    # -- configuration --------------------------------------------------
    def config_text(self):
        if self.access is None:
            access = "  - {uid: self, roles: [push, read, admin]}\n"
        else:
            access = "".join("  - %s\n" % a for a in self.access)
        keys = [
            ("socket", "socket: %s\n" % _yaml_str(self.sock_path)),
            ("database", "database: %s\n" % _yaml_str(
                database_for(self.db_path))),
            ("rules", "rules:\n" + "".join("  - %s\n" % _yaml_str(r)
                                           for r in self.rules)),
            ("clock", "clock: %s\n" % self.clock),
            ("timezone", "timezone: Asia/Shanghai\n"),
            ("durability", "durability: %s\n" % self.durability),
            ("limits", "limits:\n" + "".join(
                "  %s: %d\n" % kv for kv in self.limits.items())),
            ("access", "access:\n" + access),
        ]
        extra = self.conf_extra or ""
        if extra and not extra.endswith("\n"):
            extra += "\n"
        overridden = set(re.findall(r"(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*:",
                                    extra))
        text = "# written by tests/e2e/harness.py\n"
        text += "".join(t for k, t in keys if k not in overridden)
        return text + extra

    def write_config(self):
        with open(self.conf_path, "w") as f:
            f.write(self.config_text())

    def sql(self, query):
        """The rows of query (one statement, committed) on the daemon's
        database, whichever store it is, each a tuple of text (None for
        NULL)."""
        c = pg_cluster()
        if c is None:
            db = sqlite3.connect(self.db_path)
            try:
                out = [tuple(None if v is None else str(v) for v in row)
                       for row in db.execute(query)]
                db.commit()
                return out
            finally:
                db.close()
        import pgcluster
        out = c.psql(query, schema=pgcluster.schema_for(self.db_path),
                     nulls=True)
        return [tuple(None if v == "\\N" else v for v in l.split("|"))
                for l in out.splitlines() if l]

    # -- process --------------------------------------------------------
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _open_notify(self):
        self._close_notify()
        try:
            os.unlink(self.notify_path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(self.notify_path)
        s.setblocking(False)
        self.notify_sock = s

    def _close_notify(self):
        if self.notify_sock is not None:
            self.drain_notify()
            self.notify_sock.close()
            self.notify_sock = None

    def drain_notify(self):
        """Read every pending sd_notify datagram into notify_msgs; returns
        the list of NAME=VALUE lines seen so far."""
        s = self.notify_sock
        while s is not None:
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            self.notify_msgs.append(data.decode("utf-8", "replace"))
        return self.notify_lines()

    def notify_lines(self):
        out = []
        for m in self.notify_msgs:
            out.extend(l for l in m.split("\n") if l)
        return out

    def start(self, wait=True):
        check(os.path.isfile(self.ctx.zhilid) and
              os.access(self.ctx.zhilid, os.X_OK),
              "zhilid binary not found: %s" % self.ctx.zhilid)
        check(not self.running(), "daemon already running")
        self.runs += 1
        self.exit_status = None
        env = dict(os.environ)
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                  "WATCHDOG_USEC", "WATCHDOG_PID", "NOTIFY_SOCKET"):
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS",
                       "detect_leaks=1:abort_on_error=1:halt_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.notify_msgs = []
        if self.notify:
            self._open_notify()
            env["NOTIFY_SOCKET"] = self.notify_path
        env.update(self.env_extra)
        self.stderr_path = os.path.join(
            self.ctx.tmp, "%s.stderr.%d" % (self.name, self.runs))
        self._stderr_file = open(self.stderr_path, "wb")
        argv = [self.ctx.zhilid, "-c", self.conf_path]
        pass_fds = ()
        preexec = None
        if self.listen_sock is not None:
            # LISTEN_PID must be the daemon's pid: set it in a shell that
            # then execs zhilid.
            argv = ["/bin/sh", "-c", 'LISTEN_PID=$$; LISTEN_FDS=1; '
                    'export LISTEN_PID LISTEN_FDS; exec "$0" "$@"'] + argv
            lfd = self.listen_sock.fileno()
            pass_fds = (3,)

            def preexec():
                if lfd != 3:
                    os.dup2(lfd, 3)
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._stderr_file,
            stderr=self._stderr_file, env=env, cwd=self.ctx.tmp,
            pass_fds=pass_fds, preexec_fn=preexec)
        _live.append(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_status = rc
                fail("zhilid exited with status %s before READY=1; "
                     "stderr:\n%s" % (rc, self.stderr_text()[-3000:]))
            if self.notify:
                if "READY=1" in self.drain_notify():
                    return
                select.select([self.notify_sock], [], [], 0.05)
            else:
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    try:
                        s.connect(self.sock_path)
                        return
                    finally:
                        s.close()
                except OSError:
                    time.sleep(0.05)
            if time.monotonic() > deadline:
                self.kill9()
                fail("zhilid not ready within %.0f s; stderr:\n%s"
                     % (timeout, self.stderr_text()[-3000:]))

    def stderr_text(self, run=None):
        """stderr (and stdout) of the current run, or of run number run."""
        path = self.stderr_path
        if run is not None:
            path = os.path.join(self.ctx.tmp, "%s.stderr.%d" % (self.name,
                                                                 run))
        if not path:
            return ""
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _reap(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_status = rc
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None
        if self in _live:
            _live.remove(self)
        return rc

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """SIGTERM (or sig; None: the signal was already sent, just wait);
        the daemon must exit 0 without a sanitizer report."""
        if self.proc is None:
            return
        signame = signal.Signals(sig).name if sig else "the signal"
        if sig and self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self._reap(timeout)
        if rc is None:
            self.kill9()
            fail("zhilid did not exit within %.0f s of %s; stderr ends:\n%s"
                 % (timeout, signame, self.stderr_text()[-2000:]))
        self._close_notify()
        text = self.stderr_text()
        rep = sanitizer_report(text)
        check(rep is None, "sanitizer report in zhilid's stderr:\n%s" % rep)
        check(rc == 0, "zhilid exited with status %s after %s; stderr ends:"
              "\n%s" % (rc, signame, text[-2000:]))

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        if self.proc is not None:
            self._reap(10)

    def restart(self):
        if self.running():
            self.stop()
        return self.start()

    def client(self, timeout=RECV_TIMEOUT):
        return Client(self.sock_path, self, timeout)

    def check_alive(self):
        rc = self.proc.poll() if self.proc else "never started"
        check(rc is None, "zhilid is not running (status %s); stderr ends:\n%s"
              % (rc, self.stderr_text()[-2000:]))

    def __enter__(self):
        if not self.running():
            self.start()
        return self

    def __exit__(self, et, ev, tb):
        for c in list(_clients):
            if c.daemon is self:
                c.close()
        if et is None:
            self.stop()
        else:
            # Don't mask the test's own failure; just make sure it's gone.
            try:
                if self.running():
                    self.proc.send_signal(signal.SIGTERM)
                    if self._reap(5) is None:
                        self.kill9()
            finally:
                self._close_notify()
        return False


def cleanup_all():
    """Kill every daemon and close every client this process left behind."""
    for c in list(_clients):
        c.close()
    for d in list(_live):
        try:
            d.kill9()
        except Exception:
            pass
        try:
            d._close_notify()
        except Exception:
            pass
    del _live[:]


# ---------------------------------------------------------------------------
# Convenience

def run_zhilid(ctx, args, timeout=10.0, env=None):
    """Run zhilid with args; returns (returncode, output text). A timeout
    returns (None, output so far)."""
    e = dict(os.environ)
    e.pop("NOTIFY_SOCKET", None)
    e.setdefault("ASAN_OPTIONS",
                 "detect_leaks=1:abort_on_error=1:halt_on_error=1")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e.update(env or {})
    try:
        p = subprocess.run([ctx.zhilid] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=e, cwd=ctx.tmp)
    except subprocess.TimeoutExpired as ex:
        out = ex.output or b""
        return None, out.decode("utf-8", "replace")
    return p.returncode, p.stdout.decode("utf-8", "replace")


def get_entity(client, household):
    """The entity of a household (fails unless get answers ok)."""
    r = client.request(get(household))
    expect_ok(r, "get %s" % household)
    e = r.get("entity")
    check(isinstance(e, dict), "get without entity object: %s" % short(r))
    return e


def klass(client, household):
    e = get_entity(client, household)
    c = e.get("classes")
    check(isinstance(c, dict), "entity without classes: %s" % short(e))
    return c.get("four_color")


def stats(client):
    r = client.request(STATS)
    expect_ok(r, "stats")
    s = r.get("stats")
    check(isinstance(s, dict), "stats answer without stats object: %s"
          % short(r))
    for k in ("events", "duplicates", "errors", "alerts", "clients",
              "commits"):
        check(is_int(s.get(k)), "stats.%s is not an integer: %s"
              % (k, short(s)))
    return s


def all_alerts(client, **filters):
    """Every alert through the alerts command, paging with after."""
    out = []
    after = 0
    while True:
        q = {"cmd": "alerts", "after": after, "limit": 1000}
        q.update(filters)
        r = client.request(q)
        expect_ok(r, "alerts")
        page = r.get("alerts")
        check(isinstance(page, list), "alerts answer without list: %s"
              % short(r))
        if not page:
            return out
        out.extend(page)
        after = page[-1]["id"]
        if len(page) < q["limit"]:
            return out


def check_alert(a, what=""):
    """The fixed fields of an ALERT object (DESIGN.md section 2)."""
    pre = what + ": " if what else ""
    check(isinstance(a, dict), "%salert is not an object: %r" % (pre, a))
    for k in ("id", "rule", "severity", "kind", "entity", "period", "ts",
              "message", "data", "event", "acked", "silenced"):
        check(k in a, "%salert without %r: %s" % (pre, k, short(a)))
    check(len(a) == 12, "%salert with keys beyond the fixed ones: %s"
          % (pre, short(a)))
    ack = a["acked"]
    check(ack is None or (isinstance(ack, dict) and set(ack) == {"by", "ts"}
                          and (ack["by"] is None or is_int(ack["by"]))),
          "%salert acked not null nor {by, ts}: %s" % (pre, short(a)))
    if ack is not None and ack["ts"] is not None:
        parse_ts(ack["ts"])
    check(a["silenced"] is None or (is_int(a["silenced"]) and
                                    a["silenced"] > 0),
          "%salert silenced not null nor a silence id: %s" % (pre, short(a)))
    check(is_int(a["id"]) and a["id"] > 0, "%salert id not a positive "
          "integer: %s" % (pre, short(a)))
    check(a["severity"] in ("critical", "warning", "info"),
          "%sbad severity: %s" % (pre, short(a)))
    check(isinstance(a["message"], str) and a["message"].strip(),
          "%salert message empty: %s" % (pre, short(a)))
    check(isinstance(a["data"], dict), "%salert data not an object: %s"
          % (pre, short(a)))
    parse_ts(a["ts"])
    return a


def check_color_alert(a, household, frm, to, event_id=None, ts=None,
                      what=""):
    """A four_color.changed alert for household from frm to to."""
    pre = what + ": " if what else ""
    check_alert(a, what)
    check(a["rule"] == "four_color.changed", "%salert rule: %s"
          % (pre, short(a)))
    check(a["kind"] == "household", "%salert kind: %s" % (pre, short(a)))
    check(a["entity"] == household, "%salert entity (expected %s): %s"
          % (pre, household, short(a)))
    check(a["data"].get("from") == frm and a["data"].get("to") == to,
          "%sexpected %s -> %s, got %s" % (pre, frm, to, short(a)))
    check(a["severity"] == SEVERITY[to], "%sseverity for %s should be %s: %s"
          % (pre, to, SEVERITY[to], short(a)))
    check(a["period"] is None, "%salert period should be null: %s"
          % (pre, short(a)))
    if event_id is not None:
        check(a["event"] == event_id, "%salert event should be %s: %s"
              % (pre, event_id, short(a)))
    if ts is not None:
        check(parse_ts(a["ts"]) == parse_ts(ts), "%salert ts should be %s: %s"
              % (pre, iso(parse_ts(ts)), short(a)))
    return a


class Seq:
    """Unique event ids and increasing timestamps for a test."""

    def __init__(self, prefix="e", ts=T0):
        self.prefix = prefix
        self.n = 0
        self.ts = ts

    def next(self):
        self.n += 1
        self.ts += 60
        return "%s-%d" % (self.prefix, self.n), self.ts


# ---------------------------------------------------------------------------
# Active and standby (PostgreSQL): the role ping and stats give

def role(d):
    """"active" or "standby", as ping and stats (which must agree) say."""
    c = d.client()
    r = expect_ok(c.request(PING), "ping")
    s = expect_ok(c.request(STATS), "stats")["stats"]
    c.close()
    check(r.get("role") == s.get("role") and r.get("role") in
          ("active", "standby"), "ping says %r, stats %r" % (r, s))
    return r["role"]


def wait_role(d, want, timeout):
    deadline = time.monotonic() + timeout
    while role(d) != want:
        check(time.monotonic() < deadline, "%s is not %s after %.0f s: %s"
              % (d.name, want, timeout, d.stderr_text()[-1500:]))
        time.sleep(0.05)
