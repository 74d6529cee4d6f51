#!/usr/bin/env python3
"""Run zhilid's end-to-end tests.

    python3 tests/e2e/run.py --zhilid build/zhilid --zhilictl build/zhilictl [-k SUBSTR]

Finds tests/e2e/test_*.py and calls every module-level function test_*(ctx),
in file order, one at a time. Prints exactly one line per test on stdout,
"PASS file::name" or "FAIL file::name: reason" (or "SKIP file::name:
reason" for a test that cannot run here, counted as neither); tracebacks
and details go to stderr, indented so that no such line starts with PASS
or FAIL. Each test
runs in a forked process of its own process group with a time limit (the
module's TIMEOUT, default 120 s); when it ends, whatever it left running
(daemons included) is killed and its temporary directory removed. Exit
status 0 iff no test failed.

With --store postgresql (or ZHILID_STORE=postgresql) the run starts a
throwaway PostgreSQL cluster (pgcluster.py), every daemon stores into a
schema of it, and only the files that say BOTH_STORES = True run, less
their tests marked @sqlite_only.
"""

import argparse
import importlib.util
import inspect
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TIMEOUT = 120.0

sys.path.insert(0, HERE)


def oneline(s, n=400):
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[:n] + "..."


def indent(text):
    return "".join("    " + l + "\n" for l in text.rstrip("\n").split("\n"))


def reason_of(exc):
    msg = str(exc).strip()
    if not msg:
        tb = traceback.extract_tb(exc.__traceback__)
        where = tb[-1] if tb else None
        msg = type(exc).__name__
        if where is not None:
            msg += " at %s:%d: %s" % (os.path.basename(where.filename),
                                     where.lineno, where.line or "")
    elif not isinstance(exc, AssertionError):
        msg = "%s: %s" % (type(exc).__name__, msg)
    return oneline(msg)


def run_child(fn, ctx, wfd):
    """In the forked child: run one test, report through wfd."""
    import harness
    result = {"ok": True}
    try:
        fn(ctx)
    except harness.Skip as e:
        result = {"ok": True, "skip": str(e)}
    except BaseException as e:          # noqa: B902 - report everything
        result = {"ok": False, "reason": reason_of(e)}
        sys.stderr.write("".join(traceback.format_exception(
            type(e), e, e.__traceback__)))
    finally:
        try:
            harness.cleanup_all()
        except BaseException:
            pass
        try:
            import pgcluster
            pgcluster.cleanup_all()
        except BaseException:
            pass
    sys.stderr.flush()
    os.write(wfd, json.dumps(result).encode())
    os.close(wfd)


def run_one(fn, ctx, timeout, verbose=False):
    """Returns (ok, reason); reason starts with "SKIP " for a skipped
    test. The test's stdout and stderr go to a log file
    that is copied, indented, to stderr afterwards, so that nothing a test
    prints can look like a result line."""
    sys.stdout.flush()
    sys.stderr.flush()
    log = ctx.tmp + ".log"
    logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(rfd)
            os.setpgid(0, 0)
            os.dup2(logfd, 1)
            os.dup2(logfd, 2)
            os.close(logfd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            run_child(fn, ctx, wfd)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    os.close(logfd)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    data = b""
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            r, _, _ = select.select([rfd], [], [], left)
            if not r:
                continue
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
        # Kill the whole group (daemons the test left behind) before
        # reaping the child, so that the group id cannot have been reused.
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _, status = os.waitpid(pid, 0)
        try:
            with open(log, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            os.unlink(log)
        except OSError:
            text = ""
    if timed_out:
        ok, reason = False, "timed out after %.0f s" % timeout
    else:
        try:
            res = json.loads(data.decode())
            ok, reason = res["ok"], res.get("reason", "")
            if "skip" in res:
                reason = "SKIP " + res["skip"]
        except ValueError:
            ok, reason = False, "test process died without a result " \
                "(wait status %d)" % status
    if text.strip() and (verbose or not ok):
        sys.stderr.write(indent(text))
        sys.stderr.flush()
    return ok, reason


def load_module(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def tests_of(mod):
    out = []
    for name, obj in vars(mod).items():
        if name.startswith("test_") and inspect.isfunction(obj) and \
                obj.__module__ == mod.__name__:
            out.append((name, obj))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zhilid", required=True)
    ap.add_argument("--zhilictl", required=True)
    ap.add_argument("-k", dest="select", default=None,
                    help="run only tests whose FILE::NAME contains this")
    ap.add_argument("--root", default=ROOT, help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true",
                    help="keep each test's temporary directory")
    ap.add_argument("-v", dest="verbose", action="store_true",
                    help="print each test's output and duration on stderr")
    ap.add_argument("--store", choices=("sqlite", "postgresql"),
                    default=os.environ.get("ZHILID_STORE", "sqlite"),
                    help="the daemons' store (postgresql: a throwaway "
                    "cluster, and only the files for both stores)")
    args = ap.parse_args()

    cluster = None
    if args.store == "postgresql":
        import pgcluster
        cluster = pgcluster.Cluster().start()
        os.environ["ZHILID_PG_CLUSTER"] = cluster.dir
    try:
        return run_all(args)
    finally:
        if cluster is not None:
            cluster.destroy()


def run_all(args):
    failed = 0
    files = sorted(f for f in os.listdir(HERE)
                   if f.startswith("test_") and f.endswith(".py"))
    import harness
    for f in files:
        try:
            mod = load_module(os.path.join(HERE, f))
        except BaseException as e:
            label = "%s::<import>" % f
            if args.select and args.select not in label and \
                    args.select not in f:
                continue
            sys.stderr.write(indent(traceback.format_exc()))
            print("FAIL %s: cannot import: %s" % (label, reason_of(e)),
                  flush=True)
            failed += 1
            continue
        timeout = float(getattr(mod, "TIMEOUT", DEFAULT_TIMEOUT))
        if args.store != "sqlite" and not getattr(mod, "BOTH_STORES", False):
            continue
        for name, fn in tests_of(mod):
            label = "%s::%s" % (f, name)
            if args.select and args.select not in label:
                continue
            if args.store != "sqlite" and getattr(fn, "sqlite_only", False):
                continue
            tmp = tempfile.mkdtemp(prefix="zhe2e-")
            ctx = harness.Ctx(args.zhilid, args.zhilictl, args.root, tmp)
            t = time.monotonic()
            ok, reason = run_one(fn, ctx, timeout, args.verbose)
            took = time.monotonic() - t
            if ok and reason.startswith("SKIP "):
                print("SKIP %s: %s" % (label, reason[5:]), flush=True)
            elif ok:
                print("PASS %s" % label, flush=True)
            else:
                failed += 1
                print("FAIL %s: %s" % (label, reason), flush=True)
            if args.verbose or args.keep:
                sys.stderr.write("    (%s: %.1f s%s)\n" % (
                    label, took, ", kept " + tmp if args.keep else ""))
                sys.stderr.flush()
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
