"""The admin commands through the socket: ack marks an alert acknowledged
(and only an admin may), reload swaps rules between two events or keeps
the old ones and lists every problem as FILE:LINE:COL."""
import os
import re
import shutil

from harness import (Daemon, check, expect_ok, expect_error, upsert, cmd,
                     expect_event_ok)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def test_ack(ctx):
    with Daemon(ctx, access=["{uid: self, roles: [push, read, admin]}"]) as d:
        c = d.client()
        r = c.request(upsert("H1", {"key_person": True}, id="a1"))
        expect_event_ok(r)
        aid = r["alerts"][0]["id"]
        expect_ok(c.request(cmd("ack", alert=aid)))
        expect_error(c.request(cmd("ack", alert=aid + 100)),
                     "unknown_entity")
        expect_error(c.request(cmd("ack", alert="x")), "bad_event")
        expect_error(c.request(cmd("ack")), "bad_event")
        expect_error(c.request(cmd("ack", alert=aid, extra=1)), "bad_event")
        d.stop()
        acked = d.sql("SELECT acked FROM alerts WHERE id = %d" % aid)
        check(acked == [("1",)], "alert %d acked = %r" % (aid, acked))


def test_ack_and_reload_need_admin(ctx):
    with Daemon(ctx, access=["{uid: self, roles: [push, read]}"]) as d:
        c = d.client()
        r = c.request(upsert("H1", {"key_person": True}, id="a1"))
        expect_event_ok(r)
        expect_error(c.request(cmd("ack", alert=r["alerts"][0]["id"])),
                     "forbidden")
        expect_error(c.request(cmd("reload")), "forbidden")


def rules_copy(ctx):
    path = os.path.join(ctx.tmp, "four_color.yaml")
    shutil.copy(os.path.join(ctx.root, "rules", "four_color.yaml"), path)
    return path


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    check(old in text, "%r not in %s" % (old, path))
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def test_reload_swaps_and_refuses(ctx):
    path = rules_copy(ctx)
    with Daemon(ctx, rules=[path]) as d:
        c = d.client()
        # age 78 living alone: yellow under the shipped rules
        r = c.request(upsert("H1", {"age": 78, "lives_alone": True},
                             id="r1", ts=1767196800))
        check(r["alerts"][0]["data"]["to"] == "yellow", "H1: %r" % r)
        # break the file twice: both problems are reported, nothing swaps
        edit(path, "when: key_person or mental_risk",
             "when: key_persn or mental_risk")
        edit(path, "severity: warning\n        when: petition_active",
             "severity: loud\n        when: petition_active")
        r = c.request(cmd("reload"))
        expect_error(r, "bad_rules")
        probs = r["error"].get("problems")
        check(isinstance(probs, list) and len(probs) >= 2,
              "problems: %r" % r)
        for p in probs:
            check(re.match(r"^[^:]+:\d+:\d+: error: ", p), "problem %r" % p)
        check(any("key_persn" in p and "did you mean 'key_person'" in p
                  for p in probs), "no suggestion in %r" % probs)
        # the old rules still run
        r = c.request(upsert("H2", {"key_person": True}, id="r2",
                             ts=1767196801))
        check(r["alerts"][0]["data"]["to"] == "red", "old rules: %r" % r)
        # fix it and lower the orange age threshold: the next event sees it
        edit(path, "key_persn", "key_person")
        edit(path, "severity: loud", "severity: warning")
        edit(path, "(age >= 80 and lives_alone)", "(age >= 75 and lives_alone)")
        r = c.request(cmd("reload"))
        expect_ok(r)
        check(r.get("generation") == 2, "generation: %r" % r)
        r = c.request(upsert("H1", {"age": 78}, id="r3", ts=1767196802))
        expect_event_ok(r)
        check(r["alerts"] and r["alerts"][0]["data"] ==
              {"from": "yellow", "to": "orange"}, "after reload: %r" % r)


def test_reload_reports_rule_changes(ctx):
    """A reload answers with which rules it added, removed and changed:
    changed means the definition or what it is compiled against changed,
    so an untouched file reloads as no change at all."""
    import shutil
    rdir = os.path.join(ctx.tmp, "rules")
    os.makedirs(rdir)
    for f in ("four_color.yaml", "secretary.yaml"):
        shutil.copy(os.path.join(ctx.root, "rules", f), rdir)
    sec = os.path.join(rdir, "secretary.yaml")
    with Daemon(ctx, rules=[os.path.join(rdir, "*.yaml")]) as d:
        c = d.client()
        r = expect_ok(c.request(cmd("reload")))
        check(r.get("generation") == 2 and r.get("added") == [] and
              r.get("removed") == [] and r.get("changed") == [],
              "an unchanged reload: %r" % r)
        check(re.match(r"^[0-9a-f]{16}$", r.get("digest", "")),
              "digest: %r" % r)
        digest = r["digest"]
        edit(sec, "street: 0.3, community: 0.5", "street: 0.5, community: 0.3")
        shutil.copy(os.path.join(ctx.root, "rules", "work_order.yaml"), rdir)
        r = expect_ok(c.request(cmd("reload")))
        check(r.get("changed") == ["secretary.total"],
              "changed after a weight edit: %r" % r)
        check(r.get("added") == ["work_order.unclaimed",
                                 "work_order.overdue"],
              "added with work_order.yaml: %r" % r)
        check(r.get("removed") == [] and r.get("digest") != digest,
              "removed/digest: %r" % r)
        os.unlink(os.path.join(rdir, "work_order.yaml"))
        r = expect_ok(c.request(cmd("reload")))
        check(r.get("removed") == ["work_order.unclaimed",
                                   "work_order.overdue"] and
              r.get("changed") == [] and r.get("generation") == 4,
              "removed: %r" % r)


def test_rule_tests_guard_check_and_reload(ctx):
    """The config's `tests` run with zhilid -t and with every reload: a
    rule edit that breaks one is refused like a syntax error, with the
    failed test at its FILE:LINE:COL, and the old rules keep running."""
    import shutil
    from harness import run_zhilid
    rdir = os.path.join(ctx.tmp, "rules")
    tdir = os.path.join(ctx.tmp, "tests")
    os.makedirs(rdir)
    os.makedirs(tdir)
    shutil.copy(os.path.join(ctx.root, "rules", "four_color.yaml"), rdir)
    with open(os.path.join(tdir, "t.yaml"), "w") as f:
        f.write("rules: [../rules/four_color.yaml]\n"
                "tests:\n"
                "  - name: eighty living alone is orange\n"
                "    steps:\n"
                "      - event: {type: household.upsert, household: H1, "
                "community: C, grid: G, ts: 1767196800, "
                "attrs: {age: 80, lives_alone: true}}\n"
                "        alerts:\n"
                "          - {rule: four_color.changed, data: {to: orange}}\n")
    rules = os.path.join(rdir, "four_color.yaml")
    d = Daemon(ctx, rules=[rules],
               conf_extra="tests: [%s]\n" % os.path.join(tdir, "*.yaml"))
    rc, out = run_zhilid(ctx, ["-t", "-c", d.conf_path])
    check(rc == 0 and "1 rule tests passed" in out, "zhilid -t: %r" % out)
    with d:
        c = d.client()
        edit(rules, "(age >= 80 and lives_alone)", "(age >= 85 and lives_alone)")
        rc, out = run_zhilid(ctx, ["-t", "-c", d.conf_path])
        check(rc == 1 and re.search(r"t\.yaml:\d+:\d+: error: test 'eighty "
                                    r"living alone is orange' failed", out),
              "zhilid -t with a failing rule test: %r" % out)
        r = c.request(cmd("reload"))
        expect_error(r, "bad_rules")
        probs = r["error"]["problems"]
        check(len(probs) == 1 and "test 'eighty living alone is orange' "
              "failed" in probs[0], "problems: %r" % probs)
        # the old rules run: 80 living alone is still orange
        r = c.request(upsert("H1", {"age": 80, "lives_alone": True},
                             id="g1", ts=1767196800))
        check(r["alerts"][0]["data"]["to"] == "orange", "old rules: %r" % r)
