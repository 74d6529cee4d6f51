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
