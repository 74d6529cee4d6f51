"""Alert outputs (zhilid.conf(5) "outputs", zhilid(8) "ALERT OUTPUTS")
through real files, programs and a real journald: every committed,
unsilenced alert in id order, silenced ones absent; the file reopened on
SIGHUP after a rename; an exec program fed on its stdin, restarted with
backoff when it exits, nothing lost; a program that never reads holds up
no event and no memory, its lag gauge grows and falls back to 0 when it
reads; kill -9 of the daemon while an output is behind, then every alert
at least once, in order within each run; a full disk under the file; the
journal's native fields read back with journalctl --file; the lag gauge
per output; bad config."""

import json
import os
import shutil
import signal
import subprocess
import time

from harness import (Daemon, Skip, T0, all_alerts, check, cmd,
                     expect_event_ok, expect_ok, fail, pipeline, upsert)
from test_limits import is_asan, rss_kib
from test_metrics import metrics, val

TIMEOUT = 240
BOTH_STORES = True      # run.py --store postgresql runs them too

RED = {"key_person": True}          # critical
NONE = {"key_person": False}       # back to none: info (upsert merges)


def conf(outputs):
    """The outputs: key of a config, flow style, one entry a line."""
    return "outputs:\n" + "".join("  - %s\n" % json.dumps(o, ensure_ascii=False)
                                  for o in outputs)


def flips(n, first=1, households=10, prefix="e"):
    """n events that each raise one alert: households turn red and back."""
    out = []
    for i in range(first, first + n):
        h = "H%d" % ((i - 1) % households)
        attrs = RED if ((i - 1) // households) % 2 == 0 else NONE
        out.append(upsert(h, attrs, id="%s%d" % (prefix, i), ts=T0 + i))
    return out


def push(c, events):
    alerts = []
    for r in pipeline(c, events):
        expect_event_ok(r)
        alerts.extend(r["alerts"])
    return alerts


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    check(data == b"" or data.endswith(b"\n"),
          "%s: ends in half a line: %r" % (path, data[-200:]))
    return [json.loads(l) for l in data.decode().splitlines()]


def wait_for(what, cond, timeout=30.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out waiting for %s" % what)
        time.sleep(step)


def lag(c, name):
    m = metrics(c)
    key = ("zhilid_output_lag_alerts", frozenset({("output", name)}))
    check(key in m, "no lag sample for output %r: %r" % (
        name, sorted(k for k in m if k[0].startswith("zhilid_output"))))
    return m[key]


def wait_lines(path, n, timeout=30.0):
    return wait_for("%d lines in %s" % (n, path),
                    lambda: (lambda l: l if len(l) >= n else None)(
                        read_lines(path)), timeout)


def test_file_every_unsilenced_alert_in_order(ctx):
    out = os.path.join(ctx.tmp, "alerts.json")
    with Daemon(ctx, conf_extra=conf([{"file": "alerts.json"}])) as d:
        c = d.client()
        answered = push(c, flips(40))
        # a silence on H3: its alerts are committed and answered, not output
        r = c.request(cmd("silence", match={"entity": "H3"},
                          until=T0 + 10 ** 6))
        expect_ok(r)
        answered += push(c, flips(40, first=41))
        silenced = [a for a in answered if a["silenced"] is not None]
        check(len(silenced) == 4, "4 alerts of H3 silenced: %d"
              % len(silenced))
        want = [a for a in answered if a["silenced"] is None]
        got = wait_lines(out, len(want))
        check(got == want, "the file is not the unsilenced alerts in "
              "order:\n%s\n%s" % (got[:3], want[:3]))
        check(all_alerts(c) == want, "alerts command disagrees")
        name = "file:" + out
        wait_for("lag 0", lambda: lag(c, name) == 0)
        time.sleep(0.3)
        check(len(read_lines(out)) == len(want), "more lines than alerts")


def test_file_reopened_on_sighup(ctx):
    out = os.path.join(ctx.tmp, "alerts.json")
    with Daemon(ctx, conf_extra=conf([{"file": out, "name": "log"}])) as d:
        c = d.client()
        first = push(c, flips(20))
        wait_lines(out, 20)
        os.rename(out, out + ".1")          # logrotate's create mode
        os.kill(d.proc.pid, signal.SIGHUP)
        wait_for("the file opened again", lambda: os.path.exists(out))
        second = push(c, flips(20, first=21))
        check(wait_lines(out, 20) == second, "after the reopen")
        check(read_lines(out + ".1") == first, "before the reopen")
        check(lag(c, "log") == 0, "lag after catching up")
        expect_ok(c.request(cmd("ping")))


def test_exec_program_fed_on_stdin(ctx):
    out = os.path.join(ctx.tmp, "fed.json")
    prog = ["/bin/sh", "-c", "echo started >&2; cat >> '%s'" % out]
    with Daemon(ctx, conf_extra=conf([{"exec": prog, "name": "cat"}])) as d:
        c = d.client()
        want = push(c, flips(50))
        check(wait_lines(out, 50) == want, "the program's lines")
        wait_for("lag 0", lambda: lag(c, "cat") == 0)
        d.stop()
        log = d.stderr_text()
        check("output cat: /bin/sh: started" in log,
              "the program's stderr is logged: %s" % log[-1500:])


def test_exec_restarted_with_backoff(ctx):
    """A program that exits after every third line: restarted after 1, 2,
    4 s, and every alert reaches it, none lost (it reads line by line, so
    it takes no more than it handles)."""
    out = os.path.join(ctx.tmp, "fed.json")
    starts = os.path.join(ctx.tmp, "starts")
    script = ("date +%%s.%%N >> '%s'; n=0; while IFS= read -r l; do "
              "printf '%%s\\n' \"$l\" >> '%s'; n=$((n+1)); "
              "[ $n -ge 3 ] && exit 3; done" % (starts, out))
    with Daemon(ctx, conf_extra=conf([{"exec": ["/bin/sh", "-c", script],
                                       "name": "three"}])) as d:
        c = d.client()
        want = push(c, flips(10))
        got = wait_lines(out, 10, timeout=60)
        check(got == want, "every alert once, in order: %s"
              % [a["id"] for a in got])
        wait_for("lag 0", lambda: lag(c, "three") == 0)
        with open(starts) as f:
            t = [float(x) for x in f.read().split()]
        check(len(t) >= 4, "4 runs: %r" % t)
        gaps = [b - a for a, b in zip(t, t[1:4])]
        for g, want_gap in zip(gaps, (1, 2, 4)):
            check(want_gap - 0.2 <= g <= want_gap + 1.5,
                  "restart gaps %r, want about 1, 2, 4 s" % gaps)
        d.stop()
        check("exited with status 3" in d.stderr_text(),
              "the exit is logged")


def test_exec_stalled_program(ctx):
    """A program that reads nothing until told: the events are answered
    at once, the daemon's memory does not grow by the alerts it holds
    back, the lag gauge shows them; then it reads and the lag goes to 0."""
    out = os.path.join(ctx.tmp, "late.json")
    go = os.path.join(ctx.tmp, "go")
    script = ("while [ ! -e '%s' ]; do sleep 0.05; done; exec cat >> '%s'"
              % (go, out))
    asan = is_asan(ctx.zhilid)
    n = 10000 if asan else 60000
    warm = 10000 if asan else 30000
    with Daemon(ctx, durability="normal",
                conf_extra=conf([{"exec": ["/bin/sh", "-c", script],
                                  "name": "late"}])) as d:
        c = d.client()
        # fill SQLite's page caches first: they are not what is measured
        push(c, flips(warm, prefix="w"))
        base = rss_kib(d.proc.pid)
        t = time.monotonic()
        push(c, flips(n, first=warm + 1, prefix="w"))
        took = time.monotonic() - t
        grown = rss_kib(d.proc.pid) - base
        behind = lag(c, "late")
        check(behind == warm + n, "lag %d after %d alerts held back"
              % (behind, warm + n))
        print("%d events in %.2f s, RSS +%d KiB, lag %d" % (
            n, took, grown, behind))
        with open(go, "w"):
            pass
        wait_for("lag 0", lambda: lag(c, "late") == 0, timeout=60)
        ids = [a["id"] for a in read_lines(out)]
        check(ids == list(range(1, warm + n + 1)),
              "every alert once, in order: %d lines" % len(ids))
        if not asan:
            # queued in memory, the n alerts held back would take this
            held = os.path.getsize(out) * n // (warm + n) // 1024
            check(grown < held // 2, "RSS grew by %d KiB holding back "
                  "%d KiB of alerts" % (grown, held))


def test_exec_program_missing(ctx):
    """A program that cannot run: logged, tried again with backoff, the
    events answered all the same, the lag shown; the file output beside
    it is not held up."""
    out = os.path.join(ctx.tmp, "alerts.json")
    missing = os.path.join(ctx.tmp, "no-such-program")
    with Daemon(ctx, conf_extra=conf([
            {"exec": [missing], "name": "gone"},
            {"file": out, "name": "file"}])) as d:
        c = d.client()
        want = push(c, flips(20))
        check(wait_lines(out, 20) == want, "the file output")
        check(lag(c, "gone") == 20 and lag(c, "file") == 0, "the lags")
        time.sleep(3.5)
        d.stop()
        log = d.stderr_text()
        line = "output gone: cannot run %s: No such file or directory" % \
            missing
        check(line in log, "logged: %s" % log[-1500:])
        check(log.count(line) == 1, "the same error logged once a minute")


def runs_of(path):
    """The ids a program wrote, split by its "start" lines."""
    runs = []
    with open(path) as f:
        for line in f:
            if line.startswith("start"):
                runs.append([])
            else:
                runs[-1].append(json.loads(line)["id"])
    return runs


def test_kill9_while_behind(ctx):
    """kill -9 while a slow program is behind, then a restart: every
    alert at least once, in order within each run; the file output too."""
    out = os.path.join(ctx.tmp, "slow.json")
    fout = os.path.join(ctx.tmp, "file.json")
    script = ("echo start >> '%s'; while IFS= read -r l; do "
              "printf '%%s\\n' \"$l\" >> '%s'; sleep 0.005; done" % (out, out))
    outs = [{"exec": ["/bin/sh", "-c", script], "name": "slow"},
            {"file": fout}]
    d = Daemon(ctx, conf_extra=conf(outs))
    with d:
        c = d.client()
        push(c, flips(600))
        wait_for("some delivered", lambda: len(runs_of(out)[0]) > 50)
        check(lag(c, "slow") > 100, "the program is behind")
        d.kill9()
        c.close()
        # the orphaned program reads the rest of its pipe and ends
        size = -1
        while size != os.path.getsize(out):
            size = os.path.getsize(out)
            time.sleep(0.5)
        d.start()
        c = d.client()
        more = push(c, flips(100, first=601))
        want = all_alerts(c)
        check(want[-len(more):] == more, "the last alerts")
        wait_for("lag 0", lambda: lag(c, "slow") == 0, timeout=60)
        runs = runs_of(out)
        check(len(runs) == 2, "two runs of the program: %d" % len(runs))
        for r in runs:
            check(r == sorted(set(r)), "in order within a run")
        seen = set(runs[0]) | set(runs[1])
        check(seen == {a["id"] for a in want}, "every alert at least once: "
              "missing %s" % sorted({a["id"] for a in want} - seen)[:10])
        check(runs[1][0] <= runs[0][-1] + 1, "the second run resumes")
        ids = [a["id"] for a in read_lines(fout)]
        check(set(ids) == {a["id"] for a in want}, "the file output")
        check(sum(b <= a for a, b in zip(ids, ids[1:])) <= 1,
              "the file in order within each run")


def test_full_disk_under_the_file(ctx):
    disk = os.path.join(ctx.tmp, "disk")
    os.mkdir(disk)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                       disk], stderr=subprocess.DEVNULL).returncode != 0:
        raise Skip("cannot mount a small tmpfs (needs root)")
    try:
        out = os.path.join(disk, "alerts.json")
        filler = os.path.join(disk, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        with Daemon(ctx, conf_extra=conf([{"file": out,
                                           "name": "disk"}])) as d:
            c = d.client()
            want = push(c, flips(300))
            wait_for("lag seen", lambda: lag(c, "disk") > 0)
            time.sleep(1.5)
            check(lag(c, "disk") > 0, "lagging on a full disk")
            check("output disk: " + out + ": No space left on device"
                  in d.stderr_text(), "a log line: %s"
                  % d.stderr_text()[-1000:])
            os.unlink(filler)
            wait_for("lag 0", lambda: lag(c, "disk") == 0, timeout=30)
            check(read_lines(out) == want, "every alert, whole lines")
    finally:
        subprocess.run(["umount", "-l", disk])


class Wrapped:
    """A ctx whose zhilid runs beside a journald of its own."""

    def __init__(self, ctx, jdir):
        self.__dict__.update(ctx.__dict__)
        self.zhilid = os.path.join(jdir, "zhilid")
        script = os.path.join(ctx.root, "tests", "bench",
                              "private-journald.sh")
        with open(self.zhilid, "w") as f:
            f.write("#!/bin/sh\nexec unshare --mount --propagation private "
                    "/bin/sh '%s' '%s' '%s' \"$@\"\n"
                    % (script, jdir, ctx.zhilid))
        os.chmod(self.zhilid, 0o755)


def journal_entries(jdir, *match):
    files = []
    for root, _, names in os.walk(os.path.join(jdir, "log")):
        files += [os.path.join(root, n) for n in names
                  if n.endswith(".journal")]
    check(files, "journald wrote no journal file")
    r = subprocess.run(["journalctl", "--no-pager", "-o", "json"] +
                       ["--file=" + f for f in files] + list(match),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(r.returncode in (0, 1), "journalctl: %s" % r.stderr[-500:])
    return [json.loads(l) for l in r.stdout.decode().splitlines()]


def test_journal_fields(ctx):
    for tool in ("unshare", "journalctl", "/lib/systemd/systemd-journald"):
        if shutil.which(tool) is None:
            raise Skip("no %s here" % tool)
    if subprocess.run(["unshare", "--mount", "true"],
                      stderr=subprocess.DEVNULL).returncode != 0:
        raise Skip("cannot make a mount namespace for a private journald")
    jdir = os.path.join(ctx.tmp, "journal")
    os.makedirs(os.path.join(jdir, "log"))
    w = Wrapped(ctx, jdir)
    try:
        with Daemon(w,
                    conf_extra=conf([{"journal": True}])) as d:
            c = d.client()
            expect_ok(c.request(cmd("silence", match={"entity": "H3"},
                                    until=T0 + 10 ** 6)))
            answered = push(c, flips(12))
            want = [a for a in answered if a["silenced"] is None]
            wait_for("lag 0", lambda: lag(c, "journal") == 0)
    finally:
        with open(os.path.join(jdir, "pid")) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                break
    got = journal_entries(jdir, "SYSLOG_IDENTIFIER=zhilid")
    check([int(e["ZHILID_ALERT_ID"]) for e in got] == [a["id"] for a in want],
          "one entry per unsilenced alert, in order: %s"
          % [e.get("ZHILID_ALERT_ID") for e in got])
    prio = {"critical": "2", "warning": "4", "info": "6"}
    for e, a in zip(got, want):
        check(e["MESSAGE"] == a["message"], "MESSAGE")
        check(e["PRIORITY"] == prio[a["severity"]], "PRIORITY")
        check(e["ZHILID_RULE"] == a["rule"], "ZHILID_RULE")
        check(e["ZHILID_KIND"] == a["kind"], "ZHILID_KIND")
        check(e["ZHILID_ENTITY"] == a["entity"], "ZHILID_ENTITY")
        check(e["ZHILID_SEVERITY"] == a["severity"], "ZHILID_SEVERITY")
        check(e["ZHILID_EVENT"] == a["event"], "ZHILID_EVENT")
        check(e.get("ZHILID_PERIOD") == a["period"], "ZHILID_PERIOD")
        check(json.loads(e["ZHILID_DATA"]) == a["data"], "ZHILID_DATA")
    red = journal_entries(jdir, "ZHILID_RULE=four_color.changed",
                          "PRIORITY=2")
    check([e["ZHILID_ENTITY"] for e in red] ==
          [a["entity"] for a in want if a["severity"] == "critical"],
          "journalctl selects by field")


def test_outputs_position_and_new_output(ctx):
    """A restart resumes at the stored position; an output added later
    starts from the alerts raised after it was added."""
    a = os.path.join(ctx.tmp, "a.json")
    b = os.path.join(ctx.tmp, "b.json")
    d = Daemon(ctx, conf_extra=conf([{"file": a, "name": "a"}]))
    with d:
        c = d.client()
        push(c, flips(30))
        wait_lines(a, 30)
    d.conf_extra = conf([{"file": a, "name": "a"}, {"file": b, "name": "b"}])
    d.write_config()
    with d:
        c = d.client()
        more = push(c, flips(5, first=31))
        check(wait_lines(b, 5) == more, "a new output starts at the end")
        check([x["id"] for x in wait_lines(a, 35)] == list(range(1, 36)),
              "a resumes where it was, repeating nothing after a clean stop")
        m = metrics(c)
        check(val(m, "zhilid_output_lag_alerts", output="a") == 0 and
              ("zhilid_output_lag_alerts", frozenset({("output", "b")}))
              in m, "a lag sample per output")
    check("output a: from alert 30," in d.stderr_text(run=2),
          "the start is logged")


BAD = [
    ("outputs: {file: x}", "outputs: expected a list, got a map"),
    ("outputs: [{file: x, exec: [y]}]",
     "outputs: entry needs exactly one of file, exec, journal"),
    ("outputs: [{exec: []}]", "outputs.exec: expected a list of the program "
     "and its arguments, got an empty list"),
    ("outputs: [{journal: false}]", "outputs.journal: expected true"),
    ("outputs: [{fiel: x}]", "unknown outputs key 'fiel' (did you mean "
     "'file'?)"),
    ("outputs: [{journal: true}, {journal: true}]",
     "outputs: a second output named 'journal' (the first is at line 2); "
     "give one another name"),
]


def test_bad_outputs_config(ctx):
    for text, msg in BAD:
        path = os.path.join(ctx.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write("rules: [%s]\n%s\n" % (os.path.join(
                ctx.root, "rules", "four_color.yaml"), text))
        r = subprocess.run([ctx.zhilid, "-t", "-c", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = r.stderr.decode()
        check(r.returncode == 1 and msg in err,
              "%s: want %r, got %s" % (text, msg, err))
