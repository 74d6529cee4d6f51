"""zhilictl against the real daemon: push (file, stdin, pipelined, errors
with line numbers, duplicates, a line over the limit, a connection lost
mid-push), get, alerts (filters, paging, --json, --follow), ping, stats,
finding the socket (--socket, -c, ./zhilid.conf) and the exit-status
contract: 0 success, 1 the daemon answered an error, 2 usage, 3 connection.
"""

import json
import os
import select
import signal
import subprocess
import time

from harness import (Daemon, T0, check, check_alert, check_color_alert,
                     dumps, expect_ok, sanitizer_report, short, upsert)

TIMEOUT = 180

H1_ORANGE = ('{"type":"household.upsert","id":"e1",'
             '"ts":"2026-01-05T10:00:00+08:00","household":"H1",'
             '"community":"C1","grid":"G1",'
             '"attrs":{"age":85,"lives_alone":true}}')


def env_of(extra=None):
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS",
                 "detect_leaks=1:abort_on_error=1:halt_on_error=1")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e.update(extra or {})
    return e


def ctl(ctx, *args, input=None, cwd=None, timeout=60):
    """Run zhilictl; returns (status, stdout, stderr) as text. Fails on a
    sanitizer report."""
    if isinstance(input, str):
        input = input.encode("utf-8")
    p = subprocess.run([ctx.zhilictl] + list(args), input=input,
                       stdin=None if input is not None else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env_of(), cwd=cwd or ctx.tmp)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    rep = sanitizer_report(err)
    check(rep is None, "sanitizer report from zhilictl %s:\n%s"
          % (" ".join(args), rep))
    return p.returncode, out, err


def expect_status(res, status, what):
    rc, out, err = res
    check(rc == status, "%s: expected exit status %d, got %s\nstdout: %s\n"
          "stderr: %s" % (what, status, rc, short(out, 600),
                          short(err, 600)))
    return res


def write(ctx, name, text):
    path = os.path.join(ctx.tmp, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def sock(d):
    return ["--socket", d.sock_path]


# Line numbers matter: 3 is bad_json, 5 is bad_event; 2 and 6 are blank and
# get no response; 7 has no final newline.
MIXED = "\n".join([
    H1_ORANGE,
    "",
    '{"type":"household.upsert",',
    dumps(upsert("H2", {}, id="e2", ts=T0 + 60)),
    '{"type":"household.upsert","cmd":"ping"}',
    "   ",
    dumps(upsert("H1", {"age": 86}, id="e3", ts=T0 + 7 * 86400)),
])


def error_lines(err):
    return [l for l in err.splitlines() if not l.startswith("zhilictl:")]


def test_push_file_and_stdin(ctx):
    path = write(ctx, "mixed.ndjson", MIXED)
    with Daemon(ctx, clock="event") as d:
        rc, out, err = expect_status(ctl(ctx, *sock(d), "push", path), 1,
                                     "push FILE with bad lines")
        check(out.strip() == "3 accepted, 0 duplicates, 2 errors, 1 alerts",
              "push summary: %r" % out)
        errs = error_lines(err)
        check(len(errs) == 2, "expected two error lines: %r" % err)
        check(errs[0].startswith(path + ":3: bad_json: "),
              "bad_json line: %r" % errs[0])
        check(errs[1].startswith(path + ":5: bad_event: "),
              "bad_event line: %r" % errs[1])

        # Again from stdin: the good lines are now duplicates.
        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "push", "-", input=MIXED), 1, "push - again")
        check(out.strip() == "0 accepted, 3 duplicates, 2 errors, 0 alerts",
              "second push summary: %r" % out)
        errs = error_lines(err)
        check(len(errs) == 2 and ":3: bad_json: " in errs[0] and
              ":5: bad_event: " in errs[1], "stdin error lines: %r" % err)

        # No argument means stdin too; all good lines exit 0.
        good = "\n".join(l for l in MIXED.split("\n")
                         if l.startswith('{"type":"household.upsert","id"'))
        rc, out, err = expect_status(ctl(ctx, *sock(d), "push", input=good),
                                     0, "push of good lines")
        check(out.strip() == "0 accepted, 3 duplicates, 0 errors, 0 alerts",
              "third push summary: %r" % out)

        # --json: every response line as received, in order; the summary
        # goes to stderr so that stdout stays JSON.
        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "--json", "push", path), 1, "push --json")
        rs = [json.loads(l) for l in out.splitlines()]
        check(len(rs) == 5, "push --json: expected 5 responses: %r" % out)
        check([r["ok"] for r in rs] == [True, False, True, False, True],
              "push --json order: %r" % out)
        check(rs[1]["error"]["code"] == "bad_json" and
              rs[3]["error"]["code"] == "bad_event",
              "push --json codes: %r" % out)
        check(all(r.get("duplicate") is True for r in rs if r["ok"]),
              "push --json: resent lines must be duplicates: %r" % out)
        check("0 accepted, 3 duplicates, 2 errors, 0 alerts" in err,
              "push --json summary on stderr: %r" % err)


def test_push_pipelined(ctx):
    n = 5000
    lines = [dumps(upsert("P%d" % i, {"age": 70 + i % 20}, id="p-%d" % i,
                          ts=T0 + i)) for i in range(n)]
    text = "\n".join(lines) + "\n"
    with Daemon(ctx, clock="event") as d:
        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "--json", "push", input=text), 0,
            "pipelined push")
        rs = [json.loads(l) for l in out.splitlines()]
        check(len(rs) == n, "expected %d responses, got %d" % (n, len(rs)))
        seqs = [r["seq"] for r in rs]
        check(seqs == sorted(seqs) and len(set(seqs)) == n,
              "responses out of order")
        # Every household is new and classified: one alert each.
        check(all(len(r["alerts"]) == 1 for r in rs), "one alert per line")
        check("%d accepted, 0 duplicates, 0 errors, %d alerts" % (n, n) in err,
              "summary: %r" % err)


def test_push_too_large(ctx):
    big = dumps(upsert("HX", {}, id="big", ts=T0)).replace(
        '"attrs"', '"pad":"%s","attrs"' % ("x" * 70000))
    text = "\n".join([dumps(upsert("HA", {}, id="a", ts=T0)), big,
                      dumps(upsert("HB", {}, id="b", ts=T0))]) + "\n"
    with Daemon(ctx, clock="event") as d:
        rc, out, err = expect_status(ctl(ctx, *sock(d), "push", input=text),
                                     1, "push with a line over the limit")
        check(out.strip() == "2 accepted, 0 duplicates, 1 errors, 0 alerts",
              "summary: %r" % out)
        errs = error_lines(err)
        check(len(errs) == 1 and errs[0].startswith("<stdin>:2: too_large: "),
              "too_large line: %r" % err)


def test_push_connection_lost(ctx):
    """The daemon stops mid-push: zhilictl reports how far it got, exits 3."""
    with Daemon(ctx, clock="event") as d:
        p = subprocess.Popen([ctx.zhilictl] + sock(d) + ["push"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env_of())
        try:
            for i in range(3):
                p.stdin.write((dumps(upsert("L%d" % i, {}, id="l-%d" % i,
                                            ts=T0 + i)) + "\n").encode())
            p.stdin.flush()
            c = d.client()
            deadline = time.monotonic() + 10
            while True:
                r = expect_ok(c.request({"cmd": "stats"}))
                if r["stats"].get("events", 0) >= 3:
                    break
                check(time.monotonic() < deadline,
                      "the daemon never saw the pushed events")
                time.sleep(0.05)
            c.close()
            d.stop()
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out = out.decode()
        err = err.decode()
        check(sanitizer_report(err) is None, "sanitizer: %s" % err)
        check(p.returncode == 3, "expected exit 3, got %s: %r %r"
              % (p.returncode, out, err))
        check(out.strip() == "3 accepted, 0 duplicates, 0 errors, 0 alerts",
              "summary: %r" % out)
        check("3 of 3 lines" in err, "report of lines answered: %r" % err)


def test_get(ctx):
    with Daemon(ctx, clock="event") as d:
        expect_status(ctl(ctx, *sock(d), "push", input=H1_ORANGE + "\n"), 0,
                      "push H1")
        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "get", "household", "H1"), 0, "get H1")
        lines = out.splitlines()
        check(lines and lines[0] == "household H1", "get header: %r" % out)
        for want in ("  age: 85", "  lives_alone: true",
                     "  four_color: orange"):
            check(want in lines, "get output lacks %r: %r" % (want, out))
        hist = [l for l in lines if "none -> orange" in l]
        check(len(hist) == 1 and "four_color" in hist[0] and
              "(event e1)" in hist[0], "history line: %r" % out)

        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "get", "household", "H1", "--json"), 0,
            "get --json")
        r = json.loads(out)
        check(r["ok"] is True and r["entity"]["id"] == "H1" and
              r["entity"]["classes"]["four_color"] == "orange",
              "get --json: %r" % out)

        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "get", "household", "NOPE"), 1,
            "get of an unknown household")
        check(out == "", "nothing on stdout: %r" % out)
        check("unknown_entity" in err, "error names the code: %r" % err)


def alert_fields(line):
    parts = line.split(" ", 6)
    check(len(parts) == 7, "alert line has fewer than 7 fields: %r" % line)
    return parts


def test_alerts(ctx):
    text = "\n".join([
        H1_ORANGE,
        dumps(upsert("H2", {"key_person": True}, id="e2", ts=T0 + 600)),
        dumps(upsert("H3", {}, id="e3", ts=T0 + 700)),
        dumps(upsert("H3", {"age": 75}, id="e4", ts=T0 + 800)),
    ]) + "\n"
    with Daemon(ctx, clock="event") as d:
        expect_status(ctl(ctx, *sock(d), "push", input=text), 0, "push")

        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "alerts", "--rule", "four_color.changed",
                "--json"), 0, "alerts --rule --json")
        al = [json.loads(l) for l in out.splitlines()]
        check(len(al) == 3, "three alerts: %r" % out)
        check_color_alert(al[0], "H1", "none", "orange", event_id="e1",
                          ts="2026-01-05T10:00:00+08:00", what="first")
        check_color_alert(al[1], "H2", "none", "red", event_id="e2")
        check_color_alert(al[2], "H3", "none", "yellow", event_id="e4")
        ids = [a["id"] for a in al]
        check(ids == sorted(ids), "ascending ids: %r" % ids)

        rc, out, err = expect_status(ctl(ctx, *sock(d), "alerts"), 0,
                                     "alerts")
        lines = out.splitlines()
        check(len(lines) == 3, "three alert lines: %r" % out)
        f = alert_fields(lines[1])
        check(f[0] == str(ids[1]) and f[2] == "critical" and
              f[3] == "four_color.changed" and f[4] == "household" and
              f[5] == "H2" and f[6].strip() != "",
              "alert line fields: %r" % lines[1])
        check(f[1] == al[1]["ts"], "alert line ts: %r" % lines[1])

        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "alerts", "--after", str(ids[0])), 0,
            "alerts --after")
        got = [int(alert_fields(l)[0]) for l in out.splitlines()]
        check(got == ids[1:], "--after %d: %r" % (ids[0], out))

        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "alerts", "--after=%d" % ids[0],
                "--limit", "1"), 0, "alerts --after --limit")
        got = [int(alert_fields(l)[0]) for l in out.splitlines()]
        check(got == ids[1:2], "--limit 1: %r" % out)

        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "alerts", "--rule", "no.such.rule"), 0,
            "alerts of a rule with none")
        check(out == "", "no alerts expected: %r" % out)


def test_alerts_paging(ctx):
    """More alerts than one page of the daemon's default limit (1000)."""
    n = 1200
    text = "".join(dumps(upsert("Q%d" % i, {"chronic_ill": True},
                                id="q-%d" % i, ts=T0 + i)) + "\n"
                   for i in range(n))
    with Daemon(ctx, clock="event") as d:
        expect_status(ctl(ctx, *sock(d), "push", input=text), 0, "push")
        rc, out, err = expect_status(ctl(ctx, *sock(d), "alerts"), 0,
                                     "alerts")
        lines = out.splitlines()
        check(len(lines) == n, "expected %d alert lines, got %d"
              % (n, len(lines)))
        ids = [int(alert_fields(l)[0]) for l in lines]
        check(ids == sorted(set(ids)), "ids ascending and distinct")
        rc, out, err = expect_status(
            ctl(ctx, *sock(d), "alerts", "--limit", "1100", "--json"), 0,
            "alerts --limit 1100")
        check(len(out.splitlines()) == 1100, "--limit 1100 across pages")


def test_ping_stats(ctx):
    with Daemon(ctx, clock="event") as d:
        c = d.client()
        version = expect_ok(c.request({"cmd": "ping"}))["version"]
        rc, out, err = expect_status(ctl(ctx, *sock(d), "ping"), 0, "ping")
        check(out == version + "\n", "ping prints the version: %r" % out)
        rc, out, err = expect_status(ctl(ctx, *sock(d), "--json", "ping"), 0,
                                     "ping --json")
        check(json.loads(out) == {"ok": True, "version": version,
                                  "role": "active"},
              "ping --json: %r" % out)

        expect_status(ctl(ctx, *sock(d), "push", input=H1_ORANGE), 0, "push")
        rc, out, err = expect_status(ctl(ctx, *sock(d), "stats"), 0, "stats")
        kv = {}
        for l in out.splitlines():
            k, _, v = l.partition(" ")
            check(k and v, "stats line is not `key value`: %r" % l)
            kv[k] = v
        s = expect_ok(c.request({"cmd": "stats"}))["stats"]
        for k, v in s.items():
            if isinstance(v, int) and not isinstance(v, bool):
                check(k in kv, "stats output lacks %s: %r" % (k, out))
        check(kv.get("events") == "1", "stats events 1: %r" % out)
        rc, out, err = expect_status(ctl(ctx, *sock(d), "stats", "--json"),
                                     0, "stats --json")
        check(isinstance(json.loads(out)["stats"], dict), "stats --json")
        c.close()


def test_exit_status(ctx):
    nowhere = os.path.join(ctx.tmp, "nowhere.sock")
    rc, out, err = expect_status(ctl(ctx, "--socket", nowhere, "ping"), 3,
                                 "--socket pointing nowhere")
    check(nowhere in err, "the error names the socket: %r" % err)
    expect_status(ctl(ctx, "--socket", nowhere, "push", input=H1_ORANGE), 3,
                  "push to nowhere")
    expect_status(ctl(ctx, "--socket", nowhere, "alerts", "--follow"), 3,
                  "alerts --follow to nowhere")

    usage = [
        [],
        ["frobnicate"],
        ["get", "household"],
        ["get", "household", "H1", "extra"],
        ["alerts", "--limit", "x"],
        ["alerts", "--after"],
        ["alerts", "--bogus"],
        ["alerts", "--follow", "--limit", "3"],
        ["ack"],
        ["ack", "seven"],
        ["ping", "extra"],
        ["--socket"],
        ["push", "a", "b"],
        ["push", os.path.join(ctx.tmp, "missing.ndjson")],
        ["-c", os.path.join(ctx.tmp, "missing.conf"), "ping"],
    ]
    for args in usage:
        rc, out, err = expect_status(ctl(ctx, *args), 2,
                                     "usage: %r" % (args,))
        check(err.strip() != "", "usage error %r says why" % (args,))
    rc, out, err = expect_status(ctl(ctx, "--help"), 0, "--help")
    check("usage: zhilictl" in out and "exit status" in out,
          "--help text: %r" % out)
    for code in ("0 ", "1 ", "2 ", "3 "):
        check("\n  " + code in out, "--help documents exit status %s" % code)


def test_config(ctx):
    with Daemon(ctx, clock="event") as d:
        # -c CONF: the daemon's own config (an absolute socket path).
        expect_status(ctl(ctx, "-c", d.conf_path, "ping"), 0, "-c CONF")
        expect_status(ctl(ctx, "--config=" + d.conf_path, "ping"), 0,
                      "--config=CONF")

        # A relative socket is relative to the config file's folder, not
        # to the working directory.
        rel = os.path.relpath(d.sock_path, os.path.join(ctx.tmp, "etc"))
        conf = write(ctx, "etc/ctl.conf", "# client\nsocket: %s\n" % rel)
        expect_status(ctl(ctx, "-c", conf, "ping", cwd="/"), 0,
                      "-c CONF with a relative socket")

        # No -c: ./zhilid.conf when it exists.
        write(ctx, "etc/zhilid.conf", "socket: %s\n" % rel)
        expect_status(ctl(ctx, "ping", cwd=os.path.join(ctx.tmp, "etc")), 0,
                      "./zhilid.conf")

        # --socket wins over the config.
        bad = write(ctx, "etc/bad.conf", "socket: nowhere.sock\n")
        expect_status(ctl(ctx, "-c", bad, "--socket", d.sock_path, "ping"),
                      0, "--socket over -c")
        rc, out, err = expect_status(ctl(ctx, "-c", bad, "ping"), 3,
                                     "-c CONF naming a dead socket")
        check(os.path.join(ctx.tmp, "etc", "nowhere.sock") in err,
              "error names the resolved path: %r" % err)

        # Neither: run/zhilid.sock in the working directory.
        os.makedirs(os.path.join(ctx.tmp, "empty"))
        rc, out, err = expect_status(
            ctl(ctx, "ping", cwd=os.path.join(ctx.tmp, "empty")), 3,
            "default socket")
        check("run/zhilid.sock" in err, "default path named: %r" % err)

        broken = write(ctx, "etc/broken.conf", "socket: [unclosed\n")
        expect_status(ctl(ctx, "-c", broken, "ping"), 2, "broken config")


def read_line(p, timeout=10.0):
    """One line from the process's stdout (bytes read one at a time so that
    nothing is buffered past the line)."""
    fd = p.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        check(left > 0, "no line from zhilictl within %.0f s (have %r)"
              % (timeout, buf))
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        b = os.read(fd, 1)
        check(b != b"", "zhilictl closed stdout (status %s): %r"
              % (p.poll(), buf))
        buf += b
    return buf.decode("utf-8")


def test_alerts_follow(ctx):
    with Daemon(ctx, clock="event") as d:
        expect_status(ctl(ctx, *sock(d), "push", input=H1_ORANGE), 0,
                      "push H1")
        history = ["H1"]
        for json_mode in (False, True):
            args = [ctx.zhilictl] + sock(d) + ["alerts", "--follow"]
            if json_mode:
                args.append("--json")
            p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env_of())
            try:
                # History first: the alerts from before the start.
                for hh in history:
                    first = read_line(p)
                    if json_mode:
                        check(check_alert(json.loads(first))["entity"] == hh,
                              "history line: %r" % first)
                    else:
                        check(alert_fields(first)[5] == hh,
                              "history line: %r" % first)
                # An alert committed after the start comes through the
                # subscription, once.
                hh = "F%d" % json_mode
                history.append(hh)
                ev = dumps(upsert(hh, {"mental_risk": True},
                                  id="f-%d" % json_mode, ts=T0 + 10))
                expect_status(ctl(ctx, *sock(d), "push", input=ev), 0,
                              "push while following")
                second = read_line(p)
                if json_mode:
                    a = check_alert(json.loads(second))
                    check(a["entity"] == hh, "followed alert: %r" % second)
                else:
                    f = alert_fields(second)
                    check(f[5] == hh and f[2] == "critical",
                          "followed alert line: %r" % second)
                    check(int(f[0]) > int(alert_fields(first)[0]),
                          "ids increase")
                p.send_signal(signal.SIGTERM)
                out, err = p.communicate(timeout=10)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            err = err.decode()
            check(sanitizer_report(err) is None, "sanitizer: %s" % err)
            check(p.returncode == 0, "--follow ends with status 0 on SIGTERM,"
                  " got %s: %r" % (p.returncode, err))
            check(out == b"", "no repeated alert after the new one: %r" % out)

        # --follow with --rule filters subscribed alerts too.
        p = subprocess.Popen([ctx.zhilictl] + sock(d) +
                             ["alerts", "--follow", "--rule", "no.such"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env_of())
        try:
            time.sleep(0.5)
            ev = dumps(upsert("F9", {"key_person": True}, id="f-9",
                              ts=T0 + 20))
            expect_status(ctl(ctx, *sock(d), "push", input=ev), 0, "push")
            time.sleep(0.5)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        check(out == b"", "--rule filtered everything: %r" % out)
        check(p.returncode == 0, "SIGINT: status %s" % p.returncode)

        # The daemon going away ends --follow with status 3.
        p = subprocess.Popen([ctx.zhilictl] + sock(d) + ["alerts", "--follow"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env_of())
        try:
            read_line(p)
            d.stop()
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        check(p.returncode == 3, "daemon gone: status %s: %r"
              % (p.returncode, err))
