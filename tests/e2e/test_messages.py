"""Every answer is one line of valid UTF-8 JSON, whatever the input.

Error messages quote what a client sent: a type, a command, a field or
attribute name, a value, an id, a kind. A quote is short, and a quote cut
by bytes could end inside a UTF-8 sequence and make the whole answer
unreadable to a strict client. Each quote here is several hundred
non-ASCII characters, sent as \\u escapes; every answer must parse as strict
UTF-8 JSON (the harness decodes it so), and the message must quote the
start of the string, cut at a character boundary, followed by "..."."""

import json
import os

from harness import Daemon, check, expect_error, expect_event_ok, fail, short
from rulesets import shipped_rules

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

CLIP_BYTES = 64     # what a message quotes of a client's string, at most

E_ACUTE = "\u00e9" * 300            # 600 bytes
GRIN = "\U0001F600" * 100           # 400 bytes, a surrogate pair escaped
ID_MAX = "\u00e9" * 128             # 256 bytes: the longest id


def line(obj):
    """obj as a JSON line with every non-ASCII character escaped, as the
    issue's client sends it."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def clip(s):
    """The quote of s that a message holds: the longest prefix of at most
    CLIP_BYTES bytes that ends at a character boundary, then "..."."""
    if len(s.encode("utf-8")) <= CLIP_BYTES:
        return s
    n = 0
    for i, ch in enumerate(s):
        n += len(ch.encode("utf-8"))
        if n > CLIP_BYTES:
            return s[:i] + "..."
    return s


def expect_message(c, obj, code, want):
    """The answer to obj, sent escaped, is error code with exactly the
    message want."""
    text = obj if isinstance(obj, str) else line(obj)
    expect_error(c.request(text), code, short(text, 120), message=want)


def test_quotes_are_cut_at_a_character_boundary(ctx):
    with Daemon(ctx, rules=shipped_rules(ctx)) as d:
        c = d.client()
        ok = {"type": "household.upsert", "household": "H1",
              "community": "C1", "grid": "G1", "attrs": {}}
        # the type and the command
        for s in (E_ACUTE, "a" + E_ACUTE, GRIN, "ab" + GRIN):
            expect_message(c, {"type": s, "household": "H1"},
                           "unknown_type",
                           "unknown event type '%s'" % clip(s))
        expect_message(c, {"cmd": E_ACUTE}, "unknown_type",
                       "unknown command '%s'" % clip(E_ACUTE))
        # field names: of an event, a typed event and a command
        expect_message(c, dict(ok, **{E_ACUTE: 1}), "bad_event",
                       "household.upsert: unknown field '%s'"
                       % clip(E_ACUTE))
        expect_message(c, {"type": "work_order.created", "order": "O1",
                           GRIN: "x"}, "bad_event",
                       "work_order.created: unknown field '%s'" % clip(GRIN))
        expect_message(c, {"cmd": "ping", E_ACUTE: 1}, "bad_event",
                       "ping: unknown field '%s'" % clip(E_ACUTE))
        expect_message(c, '{"cmd":"ping","%s":1,"%s":2}'
                       % (line(E_ACUTE)[1:-1], line(E_ACUTE)[1:-1]),
                       "bad_event", "repeated key '%s'" % clip(E_ACUTE))
        # an attribute name
        expect_message(c, dict(ok, attrs={"a" + E_ACUTE: True}),
                       "bad_event", "household.upsert: attrs.%s: unknown "
                       "attribute" % clip("a" + E_ACUTE))
        # an enumerated value and a period
        score = {"type": "secretary.score", "secretary": "S1",
                 "community": "C1", "scope": "J1", "period": "2026H1",
                 "part": "street", "score": 80}
        expect_message(c, dict(score, part=E_ACUTE), "bad_event",
                       "secretary.score: part: expected one of street, "
                       "community, residents, got '%s'" % clip(E_ACUTE))
        expect_message(c, dict(score, period=GRIN), "bad_event",
                       "secretary.score: period: expected a half year such "
                       "as 2026H1, got '%s'" % clip(GRIN))
        # get: a kind, and the id of an unknown entity
        expect_message(c, {"cmd": "get", "kind": E_ACUTE, "id": "H1"},
                       "bad_event",
                       "get: kind: unknown kind '%s'" % clip(E_ACUTE))
        expect_message(c, {"cmd": "get", "kind": "household",
                           "id": E_ACUTE}, "unknown_entity",
                       "get: unknown household '%s'" % clip(E_ACUTE))
        # an update event for an entity that does not exist
        expect_message(c, {"type": "household.remove", "household": ID_MAX},
                       "unknown_entity", "household.remove: unknown "
                       "household '%s'" % clip(ID_MAX))
        expect_message(c, {"type": "work_order.claimed", "order": ID_MAX,
                           "by": "W1"}, "unknown_entity",
                       "work_order.claimed: unknown order '%s'"
                       % clip(ID_MAX))
        # a closed period of a scope the client named
        close = {"type": "period.close", "cycle": "secretary",
                 "scope": E_ACUTE, "period": "2026H1"}
        expect_event_ok(c.request(line(close)))
        expect_message(c, close, "conflict", "period.close: secretary period "
                       "2026H1 of scope '%s' is already closed"
                       % clip(E_ACUTE))
        expect_message(c, dict(score, scope=E_ACUTE), "conflict",
                       "secretary.score: period 2026H1 is closed for scope "
                       "'%s'" % clip(E_ACUTE))


# A rule file whose enumerated field declares more Chinese values than an
# error message has room to list.
MANY_VALUES = """\
kind: site
fields: [zone]
events:
  site.report:
    action: upsert
    fields:
      area: {type: string, values: [%s]}
rules:
  site.class:
    classify:
      - class: none
        severity: info
    alert: site.changed
    message: "{site}"
"""


def test_a_message_too_long_for_its_buffer_is_cut_whole(ctx):
    values = ["区域%d号" % i for i in range(100)]
    path = os.path.join(ctx.tmp, "many.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(MANY_VALUES % ", ".join(values))
    with Daemon(ctx, rules=[path]) as d:
        c = d.client()
        r = expect_error(c.request(line({"type": "site.report", "site": "S1",
                                         "area": E_ACUTE})), "bad_event")
        m = r["error"]["message"]
        head = "site.report: area: expected one of " + ", ".join(values)
        check(m.endswith("...") and head.startswith(m[:-3]) and
              len(m) > 100, "the message should be the start of %r, cut at "
              "a character and ended with '...': %r" % (head[:80], m))


def test_a_log_line_too_long_is_cut_between_characters(ctx):
    """A reload that finds an unknown key of 2000 Chinese characters logs
    the problem in one line longer than the log's 4 KiB buffer: the line is
    cut at a character boundary and ends with "...", so the journal (which
    stores invalid UTF-8 as a blob) keeps it as text."""
    path = os.path.join(ctx.tmp, "r.yaml")
    with open(os.path.join(ctx.root, "rules", "four_color.yaml"),
              encoding="utf-8") as f:
        good = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(good)
    with Daemon(ctx, rules=[path]) as d:
        with open(path, "w", encoding="utf-8") as f:
            f.write('? "%s"\n: 1\n' % ("\u4e2d" * 2000))
        c = d.client()
        expect_error(c.request({"cmd": "reload"}), "bad_rules")
        with open(d.stderr_path, "rb") as f:
            raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("the log is not UTF-8 (%s) near %r" % (e, raw[e.start - 20:
                                                           e.start + 4]))
    lines = [l for l in text.splitlines() if "unknown rule file key" in l]
    check(lines, "no log line about the unknown key: %s" % text[-300:])
    check(lines[0].endswith("..."), "the long line does not end with "
          "'...': %r" % lines[0][-40:])
