"""Bounded input and output: limits.max_line_bytes, limits.max_clients and
limits.max_output_bytes."""

import json
import select
import socket
import subprocess
import threading
import time

from harness import (PING, T0, Client, Daemon, check, dumps, expect_error,
                     expect_event_ok, expect_ok, fail, get, short, upsert,
                     cmd)


def padded_ping(n):
    """A valid ping line of exactly n bytes (JSON whitespace inside)."""
    base = b'{"cmd":"ping"}'
    check(n >= len(base), "too short")
    return b'{"cmd":"ping"' + b" " * (n - len(base)) + b"}"


def test_max_line_bytes(ctx):
    with Daemon(ctx, limits={"max_line_bytes": 1024}) as d:
        c = d.client()
        # Exactly at the limit: answered normally.
        r = c.request(padded_ping(1024))
        expect_ok(r, "a 1024-byte line with max_line_bytes 1024")
        # The CR of a CRLF does not count either.
        c.send_raw(padded_ping(1024) + b"\r\n")
        expect_ok(c.recv(), "a 1024-byte line plus CRLF")
        # One byte over.
        expect_error(c.request(padded_ping(1025)), "too_large", "1025 bytes",
                     message="line longer than limits.max_line_bytes (1024)")
        expect_ok(c.request(PING), "ping after too_large")
        # An event over the limit is not applied.
        ev = upsert("BIG", {"key_person": True}, id="big", ts=T0)
        ev["community"] = "C" * 1100
        expect_error(c.request(ev), "too_large", "event of 1100+ bytes")
        expect_error(c.request(get("BIG")), "unknown_entity",
                     "get after a too_large event")
        # Far over the limit, then a good line in the same write.
        c.send_raw(b'{"cmd":"ping","x":"' + b"y" * 500000 + b'"}\n' +
                   dumps(upsert("OK1", {"key_person": True}, id="ok1",
                                ts=T0)).encode() + b"\n")
        expect_error(c.recv(), "too_large", "500 kB line")
        r = expect_event_ok(c.recv(), "good line after the 500 kB line")
        check(len(r["alerts"]) == 1, "alert: %s" % short(r))
        # Over the limit, sent slowly, with no newline for a while.
        c.send_raw(b"x" * 2000)
        time.sleep(0.3)
        c.send_raw(b"y" * 2000)
        time.sleep(0.3)
        c.send_raw(b"\n")
        expect_error(c.recv(), "too_large", "line sent in pieces")
        expect_ok(c.request(PING), "ping after the pieces")
        # Bad JSON over the limit is too_large, not bad_json.
        expect_error(c.request(b"\xff" * 2000), "too_large")
        # Several over-long lines in a row each get one answer.
        c.send_raw((b"z" * 1500 + b"\n") * 5 + b'{"cmd":"ping"}\n')
        for i in range(5):
            expect_error(c.recv(), "too_large", "long line %d of 5" % i)
        expect_ok(c.recv(), "ping after 5 long lines")
        c.no_response(0.2)
        # The connection is still fine for a normal event.
        r = expect_event_ok(c.request(upsert("OK2", {"age": 71}, id="ok2",
                                             ts=T0 + 1)))
        check(len(r["alerts"]) == 1, "alert: %s" % short(r))


def test_max_clients(ctx):
    with Daemon(ctx, limits={"max_clients": 2}) as d:
        a = d.client()
        b = d.client()
        expect_ok(a.request(PING), "first client")
        expect_ok(b.request(PING), "second client")
        third = d.client()
        line = third.recv_line(timeout=10)
        from harness import parse_response
        r = parse_response(line)
        expect_error(r, "unavailable", "third client over max_clients 2")
        rest = third.expect_eof(timeout=10)
        check(rest == b"", "third client got more than one line: %r"
              % rest[:200])
        third.close()
        # The first two are unaffected.
        expect_ok(a.request(PING))
        expect_ok(b.request(PING))
        # Once one leaves, a new client is served.
        a.close()
        deadline = time.monotonic() + 10
        while True:
            # Until zhilid has seen a leave, a new client is refused: it
            # gets the refusal line and the daemon closes at once, so the
            # ping may meet a closed socket. A refused client needs no
            # request to be answered, so wait a moment for that first.
            n = d.client()
            if not select.select([n.sock], [], [], 0.2)[0]:
                try:
                    n.sock.sendall(b'{"cmd":"ping"}\n')
                except (BrokenPipeError, ConnectionResetError):
                    pass
            r = n.recv()
            if r.get("ok") is True:
                break
            expect_error(r, "unavailable")
            n.close()
            if time.monotonic() > deadline:
                fail("no slot freed 10 s after a client left")
            time.sleep(0.1)
        expect_ok(b.request(PING))
        # Many refused connections in a row leave the daemon healthy.
        for _ in range(20):
            x = Client(d.sock_path, d)
            expect_error(x.recv(), "unavailable")
            x.close()
        expect_ok(n.request(PING))
        expect_ok(b.request(PING))


def test_max_output_bytes(ctx):
    """A client that does not read its replies is not read from either;
    when it reads again it gets every answer, in order, and meanwhile other
    clients are served."""
    lim = 65536
    count = 60000
    with Daemon(ctx, limits={"max_output_bytes": lim}) as d:
        slow = d.client(timeout=60)
        lines = []
        for i in range(count):
            if i % 10 == 0:
                lines.append(dumps(upsert("O-%d" % (i % 100),
                                          {"age": 60 + i % 40},
                                          id="o-%d" % i, ts=T0 + i)).encode())
            else:
                lines.append(b'{"cmd":"ping"}')
        data = b"\n".join(lines) + b"\n"
        done = threading.Event()
        err = []

        def writer():
            try:
                slow.sock.sendall(data)
            except OSError as e:
                err.append(e)
            done.set()
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(1.5)
        d.check_alive()
        check(not done.is_set(), "the daemon read %d bytes from a client "
              "that read none of its replies (max_output_bytes %d)"
              % (len(data), lim))
        # Another client is served meanwhile.
        other = d.client()
        t0 = time.monotonic()
        expect_ok(other.request(PING, timeout=5), "another client while one "
                  "is stalled")
        r = expect_event_ok(other.request(upsert("OTHER", {"age": 90},
                                                 id="other", ts=T0)))
        check(time.monotonic() - t0 < 5, "other client slow")
        # Now read everything.
        last = 0
        for i in range(count):
            r = slow.recv(timeout=60)
            if i % 10 == 0:
                expect_event_ok(r, "line %d" % i)
                check(r["seq"] > last, "seq order at line %d" % i)
                last = r["seq"]
            else:
                expect_ok(r, "line %d" % i)
                check("version" in r, "line %d: expected a ping answer: %s"
                      % (i, short(r)))
        t.join(10)
        check(done.is_set() and not err, "writer: %s" % err)
        slow.no_response(0.2)


def test_client_vanishes(ctx):
    """Clients that disconnect with requests and replies in flight, or half
    way through a line, do not disturb the daemon."""
    with Daemon(ctx) as d:
        for k in range(10):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock_path)
            payload = b"".join(dumps(upsert("V-%d-%d" % (k, i), {"age": 75},
                                            id="v-%d-%d" % (k, i),
                                            ts=T0)).encode() + b"\n"
                               for i in range(200))
            s.sendall(payload + b'{"cmd":"pi')
            if k % 2:
                s.shutdown(socket.SHUT_WR)
                time.sleep(0.05)
            s.close()
        time.sleep(0.5)
        d.check_alive()
        c = d.client()
        expect_ok(c.request(PING))
        # Whatever was read was applied whole: each event's household is
        # either there, yellow, or unknown.
        for k in (0, 9):
            r = c.request(get("V-%d-0" % k))
            if r.get("ok"):
                check(r["entity"]["classes"]["four_color"] == "yellow",
                      "half-applied event: %s" % short(r))
            else:
                expect_error(r, "unknown_entity")


def is_asan(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_memory_bounded(ctx):
    """A 64 MiB line without a newline, and a client that never reads its
    answers, do not grow the daemon's memory (release build only: ASan's
    quarantine makes RSS meaningless)."""
    with Daemon(ctx) as d:
        asan = is_asan(ctx.zhilid)
        c = d.client(timeout=30)
        expect_ok(c.request(PING))
        base = rss_kib(d.proc.pid)
        chunk = b"[1," * (1 << 20)
        for _ in range(22):
            c.send_raw(chunk)
        c.send_raw(b"\n")
        expect_error(c.recv(timeout=30), "too_large", "64 MiB line")
        grown = rss_kib(d.proc.pid) - base
        check(asan or grown < 16 * 1024, "RSS grew by %d KiB reading one "
              "64 MiB line" % grown)
        # A client that writes but never reads.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock_path)
        s.settimeout(3)
        sent = 0
        line = b'{"cmd":"ping"}\n' * 4096
        try:
            while sent < (256 << 20):
                sent += s.send(line)
        except socket.timeout:
            pass
        d.check_alive()
        grown = rss_kib(d.proc.pid) - base
        import sys
        sys.stderr.write("non-reading client: %d bytes sent, RSS +%d KiB\n"
                         % (sent, grown))
        check(asan or grown < 16 * 1024, "RSS grew by %d KiB with a client "
              "that does not read (%d bytes sent)" % (grown, sent))
        check(sent < (64 << 20), "the daemon read %d bytes from a client "
              "that reads nothing" % sent)
        expect_ok(c.request(PING))
        s.close()


def test_idle_timeout(ctx):
    """limits.idle_timeout closes connections that say nothing for that
    long; a connection that keeps talking, or a subscriber, stays."""
    with Daemon(ctx, limits={"idle_timeout": 1}) as d:
        idle = d.client()
        busy = d.client()
        sub = d.client()
        expect_ok(sub.request(cmd("subscribe")))
        expect_ok(idle.request(PING))
        for _ in range(6):
            time.sleep(0.4)
            expect_ok(busy.request(PING), "a talking client")
        idle.expect_eof(timeout=5)
        expect_ok(busy.request(PING))
        # the subscriber is still there: it gets the next alert
        expect_ok(busy.request(upsert("I1", {"key_person": True}, id="i1",
                                      ts=1767196800)))
        r = sub.recv(timeout=5)
        check(isinstance(r, dict) and r.get("alert", {}).get("entity") ==
              "I1", "subscriber after the idle timeout: %r" % r)
        check("idle timeout" in d.stderr_text(), "no log line for the "
              "idle client")


def test_out_of_file_descriptors(ctx):
    """With its file descriptors exhausted the daemon refuses new clients
    with `unavailable` (through the fd it keeps in reserve) instead of
    spinning on accept, and accepts again once some are closed."""
    with Daemon(ctx, limits={"max_clients": 1000}) as d:
        subprocess.run(["prlimit", "--pid", str(d.proc.pid),
                        "--nofile=48:48"], check=True)
        held = []
        refused = 0
        for _ in range(80):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock_path)
            s.settimeout(5)
            try:
                s.sendall(b'{"cmd":"ping"}\n')
            except OSError:
                pass    # refused and closed already: read its answer
            line = s.makefile("rb").readline()
            r = json.loads(line) if line else None
            if r and r.get("ok"):
                held.append(s)
            else:
                check(r is not None and r["error"]["code"] == "unavailable",
                      "a refused client's answer: %r" % line)
                refused += 1
                s.close()
        check(len(held) > 20 and refused > 0,
              "held %d, refused %d with 48 fds" % (len(held), refused))
        check("out of file descriptors" in d.stderr_text(), "no log line")
        for s in held[:10]:
            s.close()
        time.sleep(0.3)
        c = d.client()
        expect_ok(c.request(PING), "a new client once fds are free again")
        for s in held[10:]:
            s.close()
