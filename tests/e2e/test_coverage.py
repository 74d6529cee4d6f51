"""zhilictl test --coverage and the coverage warnings of zhilid -t
(zhilictl(1) COVERAGE, zhilid(8) -t), through the real programs.

- the shipped rules' test files reach every outcome of every shipped rule
  (so that the coverage cannot regress), and zhilid -t on the shipped
  rules and their tests warns about nothing;
- a partial test file: the outcomes reached and never reached, per
  primitive, in text and --json, with the tests' exit status kept;
- zhilid -t warns, and still passes, about a rule no configured test
  loads and about outcomes no test reaches, at the rule's FILE:LINE:COL;
  without a tests key, one warning.
"""

import glob
import json
import os
import subprocess

from harness import check, short
from test_zhilictl import ctl, env_of, expect_status

TIMEOUT = 180


def shipped(ctx):
    return sorted(glob.glob(os.path.join(ctx.root, "rules", "*.yaml")))


def shipped_tests(ctx):
    """The test files of tests/rules that load a shipped rule file."""
    out = []
    for t in sorted(glob.glob(os.path.join(ctx.root, "tests", "rules",
                                           "*.yaml"))):
        with open(t, encoding="utf-8") as f:
            head = f.read(4000)
        if "../../rules/" in head:
            out.append(t)
    check(len(out) >= 8, "few shipped test files: %s" % out)
    return out


def coverage_json(out):
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    check(lines and "coverage" in lines[-1], "no summary: %s"
          % short(out, 500))
    return {(r["rule"], r["file"]): r for r in lines[:-1]}, \
        lines[-1]["coverage"]


def zhilid_t(ctx, conf_text):
    conf = os.path.join(ctx.tmp, "t.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("socket: %s\ndatabase: %s\n" % (
            json.dumps(os.path.join(ctx.tmp, "t.sock")),
            json.dumps(os.path.join(ctx.tmp, "t.db"))) + conf_text)
    p = subprocess.run([ctx.zhilid, "-t", "-c", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, env=env_of())
    check(not os.path.exists(os.path.join(ctx.tmp, "t.db")),
          "zhilid -t created the database")
    return p.returncode, p.stdout.decode(), p.stderr.decode(), conf


def test_shipped_rules_fully_covered(ctx):
    rc, out, err = expect_status(
        ctl(ctx, "--json", "test", "--coverage", *shipped_tests(ctx),
            timeout=170), 0, "the shipped rules' tests")
    rules, summary = coverage_json(out)
    root = os.path.realpath(os.path.join(ctx.root, "rules"))
    mine = {k: r for k, r in rules.items()
            if os.path.dirname(r["file"]) == root}
    files = {os.path.realpath(f) for f in shipped(ctx)}
    check({r["file"] for r in mine.values()} == files,
          "rule files without a test: %s" % sorted(
              files - {r["file"] for r in mine.values()}))
    partial = {k[0]: r["never"] for k, r in mine.items() if r["never"]}
    check(not partial, "shipped rules not fully covered: %s" % partial)
    check(all(r["reached"] for r in mine.values()), "a rule without "
          "outcomes: %s" % [k for k, r in mine.items() if not r["reached"]])
    check(sum(len(r["reached"]) for r in mine.values()) >= 50,
          "too few outcomes: %s" % summary)
    # and the daemon agrees: every rule of the shipped files is loaded
    # by a test and fully reached
    rc, out, err, conf = zhilid_t(ctx, "rules: %s\ntests: %s\n" % (
        json.dumps(shipped(ctx)), json.dumps(shipped_tests(ctx))))
    check(rc == 0 and "configuration ok" in out, "zhilid -t: %d %s %s"
          % (rc, out, err))
    check("warning" not in err, "zhilid -t warns: %s" % short(err, 1500))


PARTIAL_RULES = """\
kind: item
attributes: {size: int}
events:
  item.put: upsert
  item.done:
    action: update
    fields: {}
rules:
  item.size:
    classify:
      - {class: big, severity: warning, when: size >= 10}
      - {class: mid, severity: info, when: size >= 5}
      - {class: small, severity: info}
    alert: item.size_changed
  item.slow:
    deadline:
      start: item.put
      stop: item.done
      within: 1h
    severity: warning
"""

PARTIAL_TESTS = """\
rules: [r.yaml]
tests:
  - name: big then done in time
    steps:
      - event: {type: item.put, ts: 1767196800, item: I1, attrs: {size: 12}}
        alerts: [{rule: item.size_changed, data: {from: small, to: big}}]
      - event: {type: item.done, ts: 1767197000, item: I1}
"""


def test_partial_coverage(ctx):
    with open(os.path.join(ctx.tmp, "r.yaml"), "w") as f:
        f.write(PARTIAL_RULES)
    tfile = os.path.join(ctx.tmp, "t.yaml")
    with open(tfile, "w") as f:
        f.write(PARTIAL_TESTS)
    rc, out, err = expect_status(ctl(ctx, "test", "--coverage", tfile), 0,
                                 "partial coverage, text")
    check("1 passed, 0 failed" in out, out)
    check("item.size (classify, %s:9): 1/3" % os.path.realpath(
        os.path.join(ctx.tmp, "r.yaml")) in out, out)
    check("  reached: class big\n  never:   class mid, class small\n"
          in out, out)
    check("item.slow (deadline, " in out and
          "  reached: met\n  never:   missed\n" in out, out)
    check("coverage: 2 of 5 outcomes of 2 rules reached; 2 rules not fully "
          "covered" in out, out)
    rc, out, err = expect_status(
        ctl(ctx, "--json", "test", "--coverage", tfile), 0, "--json")
    rules, summary = coverage_json(out)
    byname = {k[0]: r for k, r in rules.items()}
    check(byname["item.size"]["reached"] == ["class big"] and
          byname["item.size"]["never"] == ["class mid", "class small"] and
          byname["item.size"]["primitive"] == "classify",
          short(byname, 600))
    check(byname["item.slow"]["never"] == ["missed"], short(byname, 600))
    check(summary == {"rules": 2, "outcomes": 5, "reached": 2,
                      "full": False}, summary)
    check("PASS " in err and "1 passed" in err, "the results go to "
          "stderr with --json: %s" % err)

    # more tests: every outcome, full coverage
    with open(tfile, "a") as f:
        f.write("""\
  - name: the rest
    steps:
      - event: {type: item.put, ts: 1767196800, item: I2, attrs: {size: 6}}
        alerts: [{rule: item.size_changed, data: {from: small, to: mid}}]
      - event: {type: item.put, ts: 1767196801, item: I2, attrs: {size: 1}}
        alerts: [{rule: item.size_changed, data: {from: mid, to: small}}]
      - event: {type: clock.tick, ts: 1767204000}
        alerts: [{rule: item.slow}]
""")
    rc, out, err = expect_status(
        ctl(ctx, "--json", "test", "--coverage", tfile), 0, "full")
    rules, summary = coverage_json(out)
    check(summary["full"] is True and summary["reached"] == 5, summary)

    # a failing test keeps its exit status; coverage is still reported
    with open(tfile, "a") as f:
        f.write("""\
  - name: fails
    steps:
      - event: {type: item.put, ts: 1767196800, item: I3, attrs: {size: 1}}
        alerts: [{rule: item.size_changed}]
""")
    rc, out, err = expect_status(ctl(ctx, "test", "--coverage", tfile), 1,
                                 "a failing test")
    check("FAIL " in out and "coverage: 5 of 5" in out, out)
    expect_status(ctl(ctx, "test", "--cover", tfile), 2, "bad option")


def test_zhilid_t_warns_untested(ctx):
    four = os.path.join(ctx.root, "rules", "four_color.yaml")
    order = os.path.join(ctx.root, "rules", "work_order.yaml")
    with open(os.path.join(ctx.tmp, "fc.yaml"), "w") as f:
        f.write("""\
rules: [%s]
tests:
  - name: red
    steps:
      - event: {type: household.upsert, ts: 1767196800, household: H1,
                community: C1, grid: G1, attrs: {key_person: true}}
        alerts: [{rule: four_color.changed, data: {from: none, to: red}}]
""" % json.dumps(four))
    rc, out, err, conf = zhilid_t(ctx, "rules: %s\ntests: [fc.yaml]\n"
                                  % json.dumps([four, order]))
    check(rc == 0 and "configuration ok: 2 rule files, 3 rules, 1 rule "
          "tests passed" in out, "%d %s %s" % (rc, out, err))
    lines = err.splitlines()
    with open(four, encoding="utf-8") as f:
        at = [l.rstrip("\n") for l in f].index("  four_color:") + 1
    check("%s:%d:3: warning: rule four_color: the configured tests never "
          "reach class blue, class orange, class yellow, class none"
          % (four, at) in lines, err)
    for rule, line in (("work_order.unclaimed", 26),
                       ("work_order.overdue", 34)):
        check("%s:%d:3: warning: rule %s: no configured test loads it"
              % (order, line, rule) in lines, err)
    check(len(lines) == 3, "warnings: %s" % err)

    rc, out, err, conf = zhilid_t(ctx, "rules: %s\n" % json.dumps([four]))
    check(rc == 0 and err == "%s: warning: no rule tests (key tests): no "
          "rule's outcomes are tested\n" % conf, "%d %r" % (rc, err))
