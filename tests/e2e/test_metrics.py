"""Metrics (DESIGN section 6): the `metrics` command's OpenMetrics text and
the metrics.textfile for node_exporter, both read with the reference
parsers of python3-prometheus-client, not a home-made one. Counters move by
exactly the events, duplicates, alerts and errors pushed; reloads are
counted and counters keyed by name survive them; the textfile is replaced
atomically every interval; contrib/grafana/zhilid.json names only metrics
that exist."""
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import (Daemon, T0, check, cmd, expect_error, expect_ok,
                     expect_event_ok, fail, remove, upsert)


def parsers():
    """The reference parsers (Debian package python3-prometheus-client,
    which a python3 other than Debian's may not see on its own path)."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from prometheus_client.openmetrics.parser import \
            text_string_to_metric_families as om
        from prometheus_client.parser import \
            text_string_to_metric_families as prom
    except ImportError:
        fail("python3-prometheus-client is not installed "
             "(sh contrib/install-deps.sh)")
    return om, prom


def samples(text, flavor="om"):
    """{(sample name, frozenset of labels): value} of a text, parsed by the
    reference parser (which raises on anything malformed)."""
    om, prom = parsers()
    parse = om if flavor == "om" else prom
    try:
        fams = list(parse(text))
    except ValueError as e:
        fail("%s parser refused the text: %s\n%s" % (flavor, e, text[:3000]))
    out = {}
    for f in fams:
        for s in f.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out, fams


def metrics(c):
    r = c.request(cmd("metrics"))
    expect_ok(r, "metrics")
    check(isinstance(r.get("text"), str), "metrics: no text: %r" % r)
    check(r["text"].endswith("# EOF\n"), "metrics: no # EOF at the end")
    return samples(r["text"])[0]


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0)


def delta(before, after):
    """The samples that changed, with how much."""
    keys = set(before) | set(after)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys
            if after.get(k, 0) != before.get(k, 0)}


def test_metrics_count_exactly(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        m0 = metrics(c)
        # every family announced, the output lag's too (no output yet)
        names = {n for n, _ in m0}
        for n in ("zhilid_events_total", "zhilid_alerts_total",
                  "zhilid_errors_total", "zhilid_reloads_total",
                  "zhilid_commit_latency_seconds_count",
                  "zhilid_batch_events_count", "zhilid_clients",
                  "zhilid_subscribers", "zhilid_entities_cached",
                  "zhilid_timers_pending", "zhilid_rules_generation"):
            check(n in names, "metrics: no %s" % n)
        for code in ("bad_json", "too_large", "unknown_type", "bad_event",
                     "unknown_entity", "conflict", "forbidden",
                     "unavailable", "bad_rules", "internal"):
            check(("zhilid_errors_total",
                   frozenset({"code": code}.items())) in m0,
                  "no zhilid_errors_total{code=%r}" % code)

        alerts = collections.Counter()
        n = 7
        for i in range(n):
            r = c.request(upsert("H%d" % i, {"key_person": i % 2 == 0,
                                             "age": 80},
                                 id="m-%d" % i, ts=T0 + i))
            expect_event_ok(r)
            alerts.update((a["rule"], a["severity"]) for a in r["alerts"])
        check(sum(alerts.values()) > 0, "the upserts raised no alert")
        r = c.request(upsert("H0", {"key_person": True}, id="m-0", ts=T0))
        expect_ok(r)
        check(r.get("duplicate") is True, "not a duplicate: %r" % r)
        r = c.request(remove("H1", id="m-r", ts=T0 + 9))
        expect_event_ok(r)
        alerts.update((a["rule"], a["severity"]) for a in r["alerts"])
        expect_error(c.request("{"), "bad_json")
        expect_error(c.request('{"type":"nope.event"}'), "unknown_type")
        expect_error(c.request(upsert("H9", {"age": "old"}, ts=T0)),
                     "bad_event")
        expect_error(c.request(upsert("H9", {"age": "old"}, ts=T0)),
                     "bad_event")
        expect_error(c.request(remove("H404", ts=T0 + 10)), "unknown_entity")
        expect_error(c.request(cmd("metrics", extra=1)), "bad_event")
        m1 = metrics(c)

        want = {
            ("zhilid_events_total",
             frozenset({"type": "household.upsert"}.items())): n,
            ("zhilid_events_total",
             frozenset({"type": "household.remove"}.items())): 1,
            ("zhilid_events_duplicate_total",
             frozenset({"type": "household.upsert"}.items())): 1,
        }
        for (rule, sev), k in alerts.items():
            want[("zhilid_alerts_total",
                  frozenset({"rule": rule, "severity": sev}.items()))] = k
        for code, k in (("bad_json", 1), ("unknown_type", 1),
                        ("bad_event", 3), ("unknown_entity", 1)):
            want[("zhilid_errors_total",
                  frozenset({"code": code}.items()))] = k
        got = delta(m0, m1)
        # the rest moves by what the requests themselves were
        for k in list(got):
            if k[0] in ("zhilid_lines_total", "zhilid_event_seq",
                        "zhilid_entities_cached") or \
                    k[0].startswith("zhilid_commit_latency_seconds") or \
                    k[0].startswith("zhilid_batch_events"):
                del got[k]
        check(got == want, "metrics moved by\n  %s\nwant\n  %s" % (
            sorted(got.items()), sorted(want.items())))
        # one batch per answered event here: n + 1 + 1 events in all
        check(val(m1, "zhilid_batch_events_sum") -
              val(m0, "zhilid_batch_events_sum") == n + 2,
              "batch_events_sum moved by %r, want %d" % (
                  val(m1, "zhilid_batch_events_sum") -
                  val(m0, "zhilid_batch_events_sum"), n + 2))
        moved = val(m1, "zhilid_commit_latency_seconds_count") - \
            val(m0, "zhilid_commit_latency_seconds_count")
        check(1 <= moved <= n + 2, "commit latency count moved by %r" % moved)
        check(val(m1, "zhilid_commit_latency_seconds_sum") > 0,
              "commit latency sum is 0")
        check(val(m1, "zhilid_event_seq") == n + 1,
              "event_seq %r, want %d" % (val(m1, "zhilid_event_seq"), n + 1))

        # gauges: clients and subscribers as connected now
        s = d.client()
        expect_ok(s.request(cmd("subscribe")))
        m2 = metrics(c)
        check(val(m2, "zhilid_subscribers") == 1 and
              val(m2, "zhilid_clients") == 2,
              "subscribers %r clients %r, want 1 and 2" % (
                  val(m2, "zhilid_subscribers"), val(m2, "zhilid_clients")))

        # the counters are the process's: a kill -9 starts them again
        d.kill9()
        d.start()
        c = d.client()
        m3 = metrics(c)
        check(val(m3, "zhilid_events_total", type="household.upsert") == 0,
              "counters after a restart: %r" % val(
                  m3, "zhilid_events_total", type="household.upsert"))
        check(val(m3, "zhilid_event_seq") == n + 1,
              "event_seq after a restart %r" % val(m3, "zhilid_event_seq"))


def test_metrics_need_read(ctx):
    with Daemon(ctx, access=["{uid: self, roles: [push]}"]) as d:
        c = d.client()
        expect_error(c.request(cmd("metrics")), "forbidden")


def copy_rules(ctx):
    path = os.path.join(ctx.tmp, "four_color.yaml")
    shutil.copy(os.path.join(ctx.root, "rules", "four_color.yaml"), path)
    return path


def test_metrics_reloads(ctx):
    path = copy_rules(ctx)
    # no sd_notify reader here: a reload sends three datagrams, and a full
    # socket queue would block the daemon, as systemd never lets it
    with Daemon(ctx, rules=[path], notify=False) as d:
        c = d.client()
        r = c.request(upsert("H1", {"key_person": True}, id="r-1", ts=T0))
        expect_event_ok(r)
        first = r["alerts"][0]
        m0 = metrics(c)
        key = dict(rule=first["rule"], severity=first["severity"])
        check(val(m0, "zhilid_alerts_total", **key) == 1,
              "alerts_total%r = %r" % (key, val(m0, "zhilid_alerts_total",
                                                **key)))
        gen = val(m0, "zhilid_rules_generation")

        expect_ok(c.request(cmd("reload")))
        os.kill(d.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while val(metrics(c), "zhilid_reloads_total", result="ok") < 2:
            check(time.monotonic() < deadline, "SIGHUP reload not counted")
            time.sleep(0.05)
        # a broken rule file: the old rules stay, the failure is counted
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text + "\nnot: [valid\n")
        expect_error(c.request(cmd("reload")), "bad_rules")
        with open(path, "w") as f:
            f.write(text)
        r = c.request(upsert("H2", {"key_person": True}, id="r-2", ts=T0))
        expect_event_ok(r)
        m1 = metrics(c)
        check(val(m1, "zhilid_reloads_total", result="ok") == 2,
              "reloads ok %r, want 2 (command and SIGHUP)" %
              val(m1, "zhilid_reloads_total", result="ok"))
        check(val(m1, "zhilid_reloads_total", result="failed") == 1,
              "reloads failed %r" % val(m1, "zhilid_reloads_total",
                                        result="failed"))
        check(val(m1, "zhilid_errors_total", code="bad_rules") == 1,
              "errors bad_rules %r" % val(m1, "zhilid_errors_total",
                                          code="bad_rules"))
        check(val(m1, "zhilid_rules_generation") == gen + 2,
              "generation %r, want %r" % (val(m1, "zhilid_rules_generation"),
                                          gen + 2))
        # counted across the reloads, under the same name
        check(val(m1, "zhilid_events_total", type="household.upsert") == 2,
              "events after the reloads: %r" %
              val(m1, "zhilid_events_total", type="household.upsert"))
        check(val(m1, "zhilid_alerts_total", **key) == 2,
              "alerts_total%r after the reloads = %r" % (
                  key, val(m1, "zhilid_alerts_total", **key)))

        # a rule renamed: the new name counts, the old one keeps its count
        with open(path, "w") as f:
            f.write(text.replace("four_color", "four_colour"))
        expect_ok(c.request(cmd("reload")))
        r = c.request(upsert("H3", {"key_person": True}, id="r-3", ts=T0))
        expect_event_ok(r)
        m2 = metrics(c)
        new = dict(rule=r["alerts"][0]["rule"], severity=key["severity"])
        check(new["rule"] != key["rule"], "the rename did not rename")
        check(val(m2, "zhilid_alerts_total", **key) == 2 and
              val(m2, "zhilid_alerts_total", **new) == 1,
              "after a rename: old %r new %r" % (
                  val(m2, "zhilid_alerts_total", **key),
                  val(m2, "zhilid_alerts_total", **new)))


def read_textfile(path):
    with open(path) as f:
        st = os.fstat(f.fileno())
        return f.read(), st


def test_metrics_textfile(ctx):
    folder = os.path.join(ctx.tmp, "textfile")
    os.makedirs(folder)
    prom_path = os.path.join(folder, "zhilid.prom")
    with Daemon(ctx, conf_extra="metrics: {textfile: textfile/zhilid.prom, "
                "interval: 1}\n") as d:
        deadline = time.monotonic() + 5
        while not os.path.exists(prom_path):
            check(time.monotonic() < deadline, "no textfile after 5 s")
            time.sleep(0.05)
        text, st = read_textfile(prom_path)
        check(st.st_mode & 0o777 == 0o644,
              "textfile mode %o, want 644" % (st.st_mode & 0o777))
        check("# EOF" not in text and "# UNIT" not in text,
              "the textfile is OpenMetrics, not Prometheus text")
        m, _ = samples(text, "prom")
        check(("zhilid_events_total",
               frozenset({"type": "household.upsert"}.items())) in m,
              "textfile lacks zhilid_events_total")

        c = d.client()
        expect_event_ok(c.request(upsert("H1", {"key_person": True},
                                         id="t-1", ts=T0)))
        # replaced as a whole, never seen half written, within an interval
        inodes = set()
        seen = 0
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            text, st = read_textfile(prom_path)
            inodes.add(st.st_ino)
            check(text.endswith("\n") and
                  "zhilid_output_lag_alerts" in text,
                  "a partial textfile: %r" % text[-200:])
            m, _ = samples(text, "prom")
            seen = max(seen, val(m, "zhilid_events_total",
                                 type="household.upsert"))
            time.sleep(0.01)
        check(seen == 1, "the textfile never showed the event (%r)" % seen)
        check(len(inodes) >= 2, "the textfile was not replaced (inodes %r)"
              % inodes)
        left = [f for f in os.listdir(folder) if f != "zhilid.prom"]
        check(all(f == "zhilid.prom.tmp" for f in left),
              "stray files beside the textfile: %r" % left)

        # a folder that goes away: logged once, written again when back
        shutil.rmtree(folder)
        time.sleep(2.2)
        os.makedirs(folder)
        deadline = time.monotonic() + 3
        while not os.path.exists(prom_path):
            check(time.monotonic() < deadline, "textfile not written again")
            time.sleep(0.05)
        d.check_alive()
        d.stop()
        err = d.stderr_text()
        check(err.count("cannot write") == 1 and
              "written again" in err,
              "log of the failing textfile: %r" % [
                  l for l in err.splitlines() if "metrics" in l])


def test_zhilictl_metrics(ctx):
    with Daemon(ctx) as d:
        c = d.client()
        expect_event_ok(c.request(upsert("H1", {}, id="z-1", ts=T0)))
        p = subprocess.run([ctx.zhilictl, "--socket", d.sock_path,
                            "metrics"], capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 0, "zhilictl metrics exit %d: %s" % (
            p.returncode, p.stderr))
        check(p.stdout.endswith("# EOF\n"), "zhilictl metrics: no # EOF")
        m, _ = samples(p.stdout)
        check(val(m, "zhilid_events_total", type="household.upsert") == 1,
              "zhilictl metrics: %r" % val(m, "zhilid_events_total",
                                           type="household.upsert"))


def test_grafana_dashboard(ctx):
    """contrib/grafana/zhilid.json is a dashboard (valid JSON, panels with
    targets) whose queries name only metrics the daemon exposes."""
    path = os.path.join(ctx.root, "contrib", "grafana", "zhilid.json")
    with open(path) as f:
        try:
            dash = json.load(f)
        except ValueError as e:
            fail("%s: %s" % (path, e))
    check(isinstance(dash.get("panels"), list) and dash["panels"],
          "no panels")
    exprs = [t["expr"] for p in dash["panels"]
             for t in p.get("targets", []) if "expr" in t]
    check(len(exprs) >= 4, "only %d queries" % len(exprs))
    with Daemon(ctx) as d:
        c = d.client()
        r = c.request(cmd("metrics"))
        expect_ok(r)
        _, fams = samples(r["text"])
    known = set()
    for f in fams:
        known.add(f.name)
        known.update(s.name for s in f.samples)
        if f.type == "histogram":
            known.update(f.name + sfx for sfx in ("_bucket", "_sum",
                                                  "_count"))
    used = set()
    for e in exprs:
        used.update(re.findall(r"\bzhilid_[a-z_]+", e))
    check(used - known == set(), "the dashboard names unknown metrics: %r"
          % sorted(used - known))
    for want in ("zhilid_events_total", "zhilid_alerts_total",
                 "zhilid_commit_latency_seconds_bucket",
                 "zhilid_output_lag_alerts"):
        check(want in used, "the dashboard does not show %s" % want)
