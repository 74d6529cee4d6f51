"""The example clients of contrib/examples against the real daemon, and the
man pages of contrib/man.

push.py: good, blank, bad and duplicate lines from a file and from stdin,
its FILE:LINE: CODE: MESSAGE reports, summary and exit status, the events
in the daemon afterwards (get), a window smaller than the input, a socket
that is not there, and the daemon stopping before the input's end.
follow.sh: the line it prints for an alert, its raw mode, that SIGTERM to
the script alone stops its socat too, and its end when the daemon stops.
ack.sh: an ack and an unknown alert.  The man pages: `mandoc -Tlint -W
warning` finds nothing, and the rule files that zhilid.rules(5) quotes as
EXAMPLES are the shipped ones, verbatim.
Without socat (follow.sh, ack.sh) or mandoc a test passes with a note.
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import time

from harness import (Daemon, T0, check, check_color_alert, dumps,
                     expect_event_ok, get_entity, short, stats, upsert)

TIMEOUT = 120

MAN_PAGES = ("zhilictl.1", "zhilid.conf.5", "zhilid.rules.5", "zhilid.8")


def example(ctx, name):
    return os.path.join(ctx.root, "contrib", "examples", name)


def run(argv, input=None, timeout=60):
    """(status, stdout, stderr) of argv, as text."""
    p = subprocess.run(argv, input=input.encode() if input else None,
                       stdin=None if input else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def push_py(ctx, d, *args, input=None):
    return run([sys.executable, example(ctx, "push.py"), "-s", d.sock_path]
               + list(args), input=input)


# Line numbers matter: 3 is bad_json, 5 bad_event (an unknown attribute);
# 2 and 6 are blank and get no answer; 7 repeats line 1's id.
LINES = [
    dumps(upsert("H1", {"age": 85, "lives_alone": True}, id="x1", ts=T0)),
    "",
    '{"type":"household.upsert",',
    dumps(upsert("H2", {"disabled": True}, id="x2", ts=T0 + 60)),
    dumps(upsert("H3", {"no_such": True}, id="x3", ts=T0 + 120)),
    " \t",
    dumps(upsert("H1", {"age": 85, "lives_alone": True}, id="x1", ts=T0)),
]


def test_push_py(ctx):
    path = os.path.join(ctx.tmp, "events.ndjson")
    with open(path, "w") as f:
        f.write("\n".join(LINES) + "\n")
    with Daemon(ctx) as d:
        rc, out, err = push_py(ctx, d, path)
        check(rc == 1, "push.py with bad lines: status %s, stderr %r"
              % (rc, err))
        check(out == "2 accepted, 1 duplicates, 2 errors, 2 alerts\n",
              "push.py summary: %r" % out)
        errs = err.splitlines()
        check(len(errs) == 2, "two error lines expected: %r" % err)
        check(errs[0].startswith(path + ":3: bad_json: "),
              "bad_json line: %r" % errs[0])
        check(errs[1].startswith(path + ":5: bad_event: ") and
              "no_such" in errs[1], "bad_event line: %r" % errs[1])

        c = d.client()
        h1 = get_entity(c, "H1")
        check(h1["classes"]["four_color"] == "orange" and
              h1["attrs"]["age"] == 85, "H1 after push.py: %s" % short(h1))
        check(get_entity(c, "H2")["classes"]["four_color"] == "yellow",
              "H2 after push.py")
        r = c.request({"cmd": "get", "kind": "household", "id": "H3"})
        check(r.get("ok") is False and
              r["error"]["code"] == "unknown_entity",
              "the refused line applied nothing: %s" % short(r))

        # From stdin, good lines only, with a window far smaller than the
        # input: everything is answered, in order, and it exits 0.
        many = "".join(dumps(upsert("W%d" % i, {"age": i % 100},
                                    id="w%d" % i, ts=T0 + i)) + "\n"
                       for i in range(2000))
        rc, out, err = push_py(ctx, d, "-w", "7", input=many)
        check(rc == 0 and err == "", "push.py from stdin: status %s, %r"
              % (rc, err))
        check(out.startswith("2000 accepted, 0 duplicates, 0 errors, "),
              "push.py stdin summary: %r" % out)
        s = stats(c)
        check(s["events"] == 2002, "events in the daemon: %s" % short(s))
        check(get_entity(c, "W1999")["attrs"]["age"] == 99,
              "the last pushed line is there")

        rc, out, err = run([sys.executable, example(ctx, "push.py"), "-s",
                            os.path.join(ctx.tmp, "nowhere.sock"), path])
        check(rc == 1 and "cannot connect" in err,
              "push.py to no socket: status %s, %r" % (rc, err))

        # The daemon stops in the middle of the input: push.py says where
        # to resend from.
        p = subprocess.Popen([sys.executable, example(ctx, "push.py"), "-s",
                              d.sock_path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            p.stdin.write(many.encode()[:many.index("\n", 0) + 1] +
                          b"".join(dumps(upsert("L%d" % i, {}, id="l%d" % i,
                                                ts=T0 + i)).encode() + b"\n"
                                   for i in range(4)))
            p.stdin.flush()
            deadline = time.monotonic() + 10
            while stats(c)["events"] < 2006:
                check(time.monotonic() < deadline, "the 4 new lines did "
                      "not arrive: %s" % short(stats(c)))
                time.sleep(0.05)
            c.close()
            d.stop()
            p.wait(10)      # stdin stays open: push.py has not read it all
            out, err = p.stdout.read(), p.stderr.read()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdin.close()
        check(p.returncode == 1 and out == b"4 accepted, 1 duplicates, "
              b"0 errors, 0 alerts\n" and
              b"resend from <stdin>:6" in err,
              "push.py when the daemon stops: %s, %r, %r"
              % (p.returncode, out, err))


def read_line(stream, timeout=10.0, what="a line"):
    """One line from a pipe, or fail after timeout seconds."""
    buf = b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        check(left > 0, "no %s within %.0f s (got %r)" % (what, timeout, buf))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            b = os.read(fd, 1)
            check(b != b"", "end of output while waiting for %s (got %r)"
                  % (what, buf))
            buf += b
    return buf.decode("utf-8")


def start_follow(ctx, d, *args):
    p = subprocess.Popen(["sh", example(ctx, "follow.sh"), "-s", d.sock_path]
                         + list(args), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    line = read_line(p.stderr, what="follow.sh's subscribed line")
    check(line.startswith("follow.sh: subscribed"),
          "follow.sh stderr: %r" % line)
    return p


def stop_group(p):
    """Whatever is left of a follow.sh started by start_follow."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(10)


def wait_clients(c, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while stats(c)["clients"] != n:
        check(time.monotonic() < deadline, "clients did not drop to %d: %s"
              % (n, short(stats(c))))
        time.sleep(0.05)


def test_follow_sh(ctx):
    if shutil.which("socat") is None:
        print("    (socat is not installed: follow.sh not tested)")
        return
    with Daemon(ctx) as d:
        c = d.client()
        p = start_follow(ctx, d)
        try:
            r = expect_event_ok(c.request(upsert(
                "F 1", {"key_person": True}, id="f1", ts=T0)))
            a = check_color_alert(r["alerts"][0], "F 1", "none", "red")
            line = read_line(p.stdout, what="an alert line")
            want = "%d critical four_color.changed F 1 %s\n" % (
                a["id"], a["message"])
            check(line == want, "follow.sh printed %r, expected %r"
                  % (line, want))
            # SIGTERM to the script alone: its socat goes too, so the
            # daemon is left with this test's client only.
            p.send_signal(signal.SIGTERM)
            rc = p.wait(10)
            check(rc == 143, "follow.sh status after SIGTERM: %s" % rc)
            wait_clients(c, 1)
        finally:
            stop_group(p)

        # -j: the raw lines; the daemon stopping ends it with status 1.
        p = start_follow(ctx, d, "-j")
        try:
            r = expect_event_ok(c.request(upsert(
                "F2", {"dispute_open": True}, id="f2", ts=T0 + 60)))
            line = read_line(p.stdout, what="a raw alert line")
            check(line == '{"alert":%s}\n' % dumps(r["alerts"][0]),
                  "follow.sh -j printed %r" % line)
            c.close()
            d.stop()
            rc = p.wait(15)
            err = p.stderr.read().decode()
            check(rc == 1 and "connection closed" in err,
                  "follow.sh after the daemon stopped: %s, %r" % (rc, err))
        finally:
            stop_group(p)


def test_ack_sh(ctx):
    if shutil.which("socat") is None:
        print("    (socat is not installed: ack.sh not tested)")
        return
    ack = ["sh", example(ctx, "ack.sh")]
    with Daemon(ctx) as d:
        c = d.client()
        r = expect_event_ok(c.request(upsert("A1", {"mental_risk": True},
                                             id="a1", ts=T0)))
        aid = r["alerts"][0]["id"]
        rc, out, err = run(ack + ["-s", d.sock_path, str(aid)])
        check(rc == 0 and out == '{"ok":true}\n',
              "ack.sh %d: %s, %r, %r" % (aid, rc, out, err))
        rc, out, err = run(ack + ["-s", d.sock_path, str(aid), "99999"])
        check(rc == 1 and out.splitlines()[0] == '{"ok":true}' and
              '"unknown_entity"' in out.splitlines()[1],
              "ack.sh of an unknown alert: %s, %r" % (rc, out))
        rc, out, err = run(ack + ["-s", d.sock_path, "x1"])
        check(rc == 2, "ack.sh with a bad id: %s" % rc)


def man_path(ctx, page):
    return os.path.join(ctx.root, "contrib", "man", page)


def test_man_pages_lint(ctx):
    for page in MAN_PAGES:
        check(os.path.isfile(man_path(ctx, page)), "missing contrib/man/%s"
              % page)
    if shutil.which("mandoc") is None:
        print("    (mandoc is not installed: man pages not linted)")
        return
    for page in MAN_PAGES:
        rc, out, err = run(["mandoc", "-Tlint", "-W", "warning",
                            man_path(ctx, page)])
        check(rc == 0 and out.strip() == "",
              "mandoc -Tlint -W warning %s: status %s\n%s%s"
              % (page, rc, out, err))


def mdoc_literal(line):
    """A line of text as it stands in an mdoc literal display."""
    line = line.replace("\\", "\\e")
    return "\\&" + line if line[:1] in (".", "'") else line


def test_man_rules_examples(ctx):
    """zhilid.rules(5) quotes the shipped rule files verbatim."""
    with open(man_path(ctx, "zhilid.rules.5"), encoding="utf-8") as f:
        man = f.read()
    for name in ("four_color.yaml", "secretary.yaml", "leader.yaml"):
        with open(os.path.join(ctx.root, "rules", name),
                  encoding="utf-8") as f:
            text = f.read().rstrip("\n")
        quoted = "\n".join(mdoc_literal(l) for l in text.split("\n"))
        check(".Bd -literal -offset indent\n" + quoted + "\n.Ed" in man,
              "zhilid.rules.5 EXAMPLES no longer match rules/%s: copy it "
              "again" % name)


def test_man_reinspection_example(ctx):
    """zhilid.rules.5 quotes the re-inspection sections of
    rules/community.yaml verbatim (the file has other sections, so only
    these: under events and under rules, each from its marker to the next
    marker, the next top-level key or the end)."""
    with open(man_path(ctx, "zhilid.rules.5"), encoding="utf-8") as f:
        man = f.read()
    with open(os.path.join(ctx.root, "rules", "community.yaml"),
              encoding="utf-8") as f:
        lines = f.read().split("\n")
    marker = "  # --- re-inspection (回头看, Luozhuang practice) ---"
    starts = [i for i, l in enumerate(lines) if l == marker]
    check(len(starts) == 2, "rules/community.yaml should have the section "
          "%r under events and under rules" % marker)
    for i in starts:
        j = next((k for k in range(i + 1, len(lines))
                  if lines[k].startswith("  # --- ") or
                  lines[k][:1] not in ("", " ", "#")), len(lines))
        text = "\n".join(lines[i:j]).rstrip("\n")
        quoted = "\n".join(mdoc_literal(l) for l in text.split("\n"))
        check(".Bd -literal -offset indent\n" + quoted + "\n.Ed" in man,
              "zhilid.rules.5 EXAMPLES no longer match the re-inspection "
              "section at line %d of rules/community.yaml: copy it again"
              % (i + 1))


def test_man_branch_review_example(ctx):
    """zhilid.rules.5 quotes the branch.review rule of rules/branch.yaml
    verbatim (from its comment to the end of the file, two spaces of
    indentation off)."""
    with open(man_path(ctx, "zhilid.rules.5"), encoding="utf-8") as f:
        man = f.read()
    with open(os.path.join(ctx.root, "rules", "branch.yaml"),
              encoding="utf-8") as f:
        text = f.read()
    marker = "  # 结构体检"
    check(marker in text, "rules/branch.yaml has no %r" % marker)
    lines = text[text.index(marker):].rstrip("\n").split("\n")
    quoted = "\n".join(mdoc_literal(l[2:] if l.startswith("  ") else l)
                       for l in lines)
    check(".Bd -literal -offset indent\n" + quoted + "\n.Ed" in man,
          "zhilid.rules.5 no longer quotes the branch.review rule of "
          "rules/branch.yaml: copy it again")
