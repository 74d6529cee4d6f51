"""JSONTestSuite (nst/JSONTestSuite, test_parsing/) through the socket.

Every document without a newline inside (one trailing newline is dropped)
is sent as one line: n_ cases must get bad_json (too_large when longer than
limits.max_line_bytes, no answer when blank) and leave the daemon serving;
y_ cases must not get bad_json; i_ cases any well-formed answer. The suite
is vendored in tests/conformance/JSONTestSuite (see the README there)."""

import os

from harness import (PING, Daemon, DEFAULT_LIMITS, check, check_well_formed,
                     dumps, fail, get, parse_response)

BLANK = b" \t\r"


def cases(ctx, prefix):
    d = ctx.conformance("JSONTestSuite", "test_parsing")
    check(os.path.isdir(d), "JSONTestSuite not found at %s" % d)
    out = []
    for name in sorted(os.listdir(d)):
        if not (name.startswith(prefix) and name.endswith(".json")):
            continue
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        if data.endswith(b"\n"):
            data = data[:-1]
        if b"\n" in data:
            continue
        out.append((name, data))
    check(out, "no %s cases in %s" % (prefix, d))
    return out


def run_cases(ctx, prefix, judge):
    """Send every case on one connection, each followed by a marker request
    whose answer is known, so that a missing or extra answer is caught.
    judge(name, data, response) returns a reason or None. Fails listing
    the failing files."""
    limit = DEFAULT_LIMITS["max_line_bytes"]
    failures = []
    marker = dumps(get("\u00a7marker\u00a7")).encode()
    with Daemon(ctx) as d:
        c = d.client(timeout=20)
        for name, data in cases(ctx, prefix):
            if c.eof:
                failures.append("%s (connection closed before it)" % name)
                c = d.client(timeout=20)
            c.send_raw(data + b"\n" + marker + b"\n")
            blank = data.strip(BLANK) == b""
            try:
                if blank:
                    r = None
                else:
                    line = c.recv_line()
                    try:
                        r = parse_response(line)
                        check_well_formed(r)
                    except AssertionError as e:
                        failures.append("%s (%s)" % (name, e))
                        continue
                    why = judge(name, data, r, len(data) > limit)
                    if why:
                        failures.append("%s (%s)" % (name, why))
                m = c.recv()
                if not (m.get("ok") is False and
                        m.get("error", {}).get("code") == "unknown_entity"):
                    failures.append("%s (%s; the next request's answer was "
                                    "%s)" % (name, "blank line answered"
                                             if blank else "two answers",
                                             dumps(m)[:80]))
                    c.close()
                    c = d.client(timeout=20)
            except AssertionError as e:
                failures.append("%s (%s)" % (name, str(e).split("\n")[0]))
                d.check_alive()
                c.close()
                c = d.client(timeout=20)
        d.check_alive()
        c2 = d.client()
        r = c2.request(PING)
        check(r.get("ok") is True, "ping after the suite: %s" % r)
    if failures:
        fail("%d %s case(s) failed: %s" % (
            len(failures), prefix, "; ".join(failures[:12]) +
            (" ..." if len(failures) > 12 else "")))


def code_of(r):
    if r.get("ok") is True:
        return "ok"
    return r["error"]["code"]


def test_n_cases_rejected(ctx):
    def judge(name, data, r, over):
        code = code_of(r)
        if over and code == "too_large":
            return None
        if code != "bad_json":
            return "got %s, expected bad_json" % code
        return None
    run_cases(ctx, "n_", judge)


def test_y_cases_parsed(ctx):
    def judge(name, data, r, over):
        code = code_of(r)
        if code in ("bad_json", "too_large", "internal"):
            return "got %s for valid JSON" % code
        return None
    run_cases(ctx, "y_", judge)


def test_i_cases_answered(ctx):
    run_cases(ctx, "i_", lambda name, data, r, over: None)
