"""sd_notify: READY=1 once the socket is served, STOPPING=1 on SIGTERM; the
daemon also runs without NOTIFY_SOCKET."""

import re
import signal
import time

from harness import PING, Daemon, check, expect_ok, short


def test_ready_then_stopping(ctx):
    d = Daemon(ctx)
    d.start()
    try:
        lines = d.drain_notify()
        check("READY=1" in lines, "no READY=1: %s" % lines)
        # READY means ready: the socket answers at once.
        c = d.client()
        expect_ok(c.request(PING), "ping right after READY=1")
        check("STOPPING=1" not in lines, "STOPPING=1 before SIGTERM: %s"
              % lines)
        d.stop()
        lines = d.notify_lines()
        check("STOPPING=1" in lines, "no STOPPING=1 after SIGTERM: %s"
              % lines)
        check(lines.index("READY=1") < lines.index("STOPPING=1"),
              "STOPPING=1 before READY=1: %s" % lines)
        check(lines.count("READY=1") == 1, "READY=1 sent %d times: %s"
              % (lines.count("READY=1"), lines))
        for line in lines:
            check(re.match(r"^[A-Z_]+=", line), "malformed sd_notify line "
                  "%r in %s" % (line, short(lines)))
    finally:
        d.kill9()


def test_stopping_on_sigint(ctx):
    d = Daemon(ctx)
    d.start()
    try:
        d.stop(sig=signal.SIGINT)
        check("STOPPING=1" in d.notify_lines(), "no STOPPING=1 after "
              "SIGINT: %s" % d.notify_lines())
    finally:
        d.kill9()


def test_without_notify_socket(ctx):
    d = Daemon(ctx, notify=False)
    d.start()
    try:
        c = d.client()
        expect_ok(c.request(PING), "ping without NOTIFY_SOCKET")
        d.stop()
    finally:
        d.kill9()


def test_notify_socket_gone(ctx):
    """A NOTIFY_SOCKET nobody listens on does not stop the daemon."""
    import os
    path = os.path.join(ctx.tmp, "nobody.notify")
    d = Daemon(ctx, notify=False, env={"NOTIFY_SOCKET": path})
    d.start()
    try:
        time.sleep(0.2)
        d.check_alive()
        c = d.client()
        expect_ok(c.request(PING))
        d.stop()
    finally:
        d.kill9()


def test_socket_activation(ctx):
    """A listening socket passed as fd 3 with LISTEN_FDS=1 is served (the
    configured socket path is not needed)."""
    import os
    import socket
    path = os.path.join(ctx.tmp, "activated.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)
    d = Daemon(ctx, listen_sock=ls)
    d.start()
    try:
        ls.close()
        from harness import Client
        c = Client(path, d)
        expect_ok(c.request(PING), "ping on the activated socket")
        c.close()
        d.stop()
    finally:
        d.kill9()


def test_sighup_keeps_serving(ctx):
    """SIGHUP reloads the rules; the daemon keeps running, keeps its state
    and its connections."""
    from harness import T0, expect_event_ok, get, upsert
    d = Daemon(ctx)
    d.start()
    try:
        c = d.client()
        expect_event_ok(c.request(upsert("HUP", {"age": 90, "lives_alone":
                                                 True}, id="h1", ts=T0)))
        for _ in range(3):
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            d.check_alive()
            expect_ok(c.request(PING), "ping on a connection opened before "
                      "SIGHUP")
        r = c.request(get("HUP"))
        expect_ok(r)
        check(r["entity"]["classes"]["four_color"] == "orange", short(r))
        r = expect_event_ok(c.request(upsert("HUP", {"lives_alone": False},
                                             id="h2", ts=T0 + 1)))
        check(len(r["alerts"]) == 1 and r["alerts"][0]["data"] ==
              {"from": "orange", "to": "yellow"}, "after SIGHUP: %s"
              % short(r))
        lines = d.drain_notify()
        check("RELOADING=1" in lines, "no RELOADING=1: %s" % lines)
        i = lines.index("RELOADING=1")
        check(i + 1 < len(lines) and
              re.match(r"^MONOTONIC_USEC=[0-9]+$", lines[i + 1]),
              "RELOADING=1 without MONOTONIC_USEC: %s" % lines)
        check("READY=1" in lines[i:],
              "RELOADING=1 not followed by READY=1: %s" % lines)
        check(any(l.startswith("STATUS=generation ") for l in lines[i:]),
              "no STATUS with the generation: %s" % lines)
        d.stop()
    finally:
        d.kill9()


def test_log_lines_have_priority_prefix(ctx):
    """Every line zhilid writes to stderr starts with an sd-daemon <N>
    priority prefix."""
    from harness import T0, expect_event_ok, upsert
    d = Daemon(ctx)
    d.start()
    try:
        c = d.client()
        expect_event_ok(c.request(upsert("LOG", {"key_person": True},
                                         id="l1", ts=T0)))
        c.request(b"not json")
        c.close()
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        d.stop()
        text = d.stderr_text()
        check(text.strip(), "zhilid logged nothing at all (start, stop)")
        bad = [l for l in text.splitlines()
               if l.strip() and not re.match(r"^<[0-7]>", l)]
        check(not bad, "stderr lines without a <N> prefix: %r" % bad[:3])
    finally:
        d.kill9()


def test_watchdog_pings_from_the_loop(ctx):
    """With WATCHDOG_USEC set, WATCHDOG=1 comes at least every half
    interval; a WATCHDOG_PID of another process turns it off."""
    d = Daemon(ctx, env={"WATCHDOG_USEC": "200000"})
    d.start()
    try:
        time.sleep(1.0)
        n = d.drain_notify().count("WATCHDOG=1")
        check(n >= 4, "%d WATCHDOG=1 in 1 s with WATCHDOG_USEC=200000" % n)
    finally:
        d.stop()
    d = Daemon(ctx, name="other", env={"WATCHDOG_USEC": "200000",
                                        "WATCHDOG_PID": "1"})
    d.start()
    try:
        time.sleep(0.6)
        n = d.drain_notify().count("WATCHDOG=1")
        check(n == 0, "%d WATCHDOG=1 although WATCHDOG_PID is not ours" % n)
    finally:
        d.stop()


def test_a_manager_that_stops_reading_stalls_nothing(ctx):
    """NOTIFY_SOCKET whose reader never reads: once its queue is full the
    daemon drops its datagrams and keeps answering (it used to block in
    sendto, the event loop with it)."""
    import socket as so
    d = Daemon(ctx)
    d.start()
    try:
        d.drain_notify()
        # a small receive queue fills after a few datagrams
        d.notify_sock.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, 1024)
        c = d.client(timeout=20)
        for i in range(300):            # RELOADING, READY, STATUS each
            expect_ok(c.request({"cmd": "reload"}), "reload %d with the "
                      "manager not reading" % i)
        expect_ok(c.request(PING), "ping after 300 reloads")
        c.close()
    finally:
        d.stop()
