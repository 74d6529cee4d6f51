"""yaml-test-suite (yaml/yaml-test-suite, data branch) through the config and
rule loaders: every in.yaml, used as a rule file and as a config file, given
to `zhilid -t -c`, must exit 0 or 1 within 10 s, with no signal and no
sanitizer report; on 1, every error line has the form
FILE:LINE:COL: error: MESSAGE, and there is at least one. Cases with an
`error` file (input a YAML parser must reject) must exit 1. The suite is
vendored in tests/conformance/yaml-test-suite (see the README there)."""

import concurrent.futures
import os
import re
import shutil

from harness import Daemon, check, fail, run_zhilid, sanitizer_report

TIMEOUT = 300
ERROR_LINE = re.compile(r"^[^:]+:\d+:\d+: error: ")
MENTIONS_ERROR = re.compile(r"\berror\b\s*:", re.I)


def suite_cases(ctx):
    base = ctx.conformance("yaml-test-suite")
    check(os.path.isdir(base), "yaml-test-suite not found at %s" % base)
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        if "in.yaml" in filenames:
            name = os.path.relpath(dirpath, base)
            out.append((name, os.path.join(dirpath, "in.yaml"),
                        "error" in filenames))
    check(len(out) > 100, "only %d cases under %s" % (len(out), base))
    return out


def judge(rc, out, must_fail):
    """A reason the run is wrong, or None."""
    if rc is None:
        return "no exit within 10 s"
    rep = sanitizer_report(out)
    if rep:
        return "sanitizer report: %s" % rep.split("\n")[0]
    if rc < 0:
        return "killed by signal %d" % -rc
    if rc not in (0, 1):
        return "exit status %d" % rc
    if rc == 1:
        lines = out.splitlines()
        good = [l for l in lines if ERROR_LINE.match(l)]
        if not good:
            return "exit 1 without a FILE:LINE:COL: error: line: %r" % \
                out[-200:]
        bad = [l for l in lines if MENTIONS_ERROR.search(l) and
               not ERROR_LINE.match(l)]
        if bad:
            return "error line not in FILE:LINE:COL: error: form: %r" % \
                bad[0][:200]
    if must_fail and rc != 1:
        return "exit %d for input a YAML parser must reject" % rc
    return None


def run_all(ctx, as_what):
    cases = suite_cases(ctx)
    base_conf = Daemon(ctx)     # only for its config text
    jobs = []
    for i, (name, path, must_fail) in enumerate(cases):
        d = os.path.join(ctx.tmp, "c%03d" % i)
        os.mkdir(d)
        case = os.path.join(d, "in.yaml")
        shutil.copyfile(path, case)
        if as_what == "rules":
            conf = os.path.join(d, "zhilid.conf")
            base_conf.rules = [case]
            with open(conf, "w") as f:
                f.write(base_conf.config_text())
        else:
            conf = case
        jobs.append((name, conf, must_fail))

    def one(job):
        name, conf, must_fail = job
        rc, out = run_zhilid(ctx, ["-t", "-c", conf], timeout=10)
        return name, judge(rc, out, must_fail)

    failures = []
    workers = max(2, (os.cpu_count() or 2) * 2)
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        for name, why in ex.map(one, jobs):
            if why:
                failures.append("%s: %s" % (name, why))
    if failures:
        fail("%d of %d cases as %s file: %s" % (
            len(failures), len(jobs), "rule" if as_what == "rules" else
            "config", "; ".join(failures[:10]) +
            (" ..." if len(failures) > 10 else "")))


def test_check_mode_sanity(ctx):
    """The harness's own config passes -t (else the cases below prove
    nothing)."""
    d = Daemon(ctx)
    rc, out = run_zhilid(ctx, ["-t", "-c", d.conf_path])
    check(rc == 0, "zhilid -t on the test config: status %s: %s"
          % (rc, out[-500:]))
    check("configuration ok" in out, "zhilid -t did not print "
          "'configuration ok': %r" % out[-300:])
    check(not os.path.exists(d.sock_path), "zhilid -t created the socket")
    # A rule file that is not YAML at all fails in the expected form.
    bad = os.path.join(ctx.tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("rules: [\n")
    d.rules = [bad]
    d.write_config()
    rc, out = run_zhilid(ctx, ["-t", "-c", d.conf_path])
    why = judge(rc, out, True)
    check(why is None, "broken rule file: %s" % why)
    check(bad in out, "the error does not name the file %s: %r"
          % (bad, out[-300:]))


def test_yaml_suite_as_rule_file(ctx):
    run_all(ctx, "rules")


def test_yaml_suite_as_config(ctx):
    run_all(ctx, "config")
