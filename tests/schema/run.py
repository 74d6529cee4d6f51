#!/usr/bin/env python3
"""Keep the JSON Schemas of schema/ true (python3-jsonschema, Draft 2020-12).

    python3 tests/schema/run.py [--zhilid build/zhilid --zhilictl build/zhilictl]
                                [--records DIR]

Prints one line per check, "PASS name" or "FAIL name: why"; details go to
stderr. Exit status 0 iff nothing failed. The checks:

  - every schema/*.schema.json against the Draft 2020-12 metaschema;
  - rules/*.yaml and tests/schema/good/*.yaml against rules.schema.json,
    and every tests/schema/bad/*.yaml rejected (each is a good file with
    one mistake);
  - events.schema.json against the declarations of rules/*.yaml (event
    types, fields, types, ranges, values), and alert.schema.json's
    #/$defs/shipped against the alert names the rule files can raise;
  - tests/schema/good/*.ndjson accepted and every case of
    tests/schema/bad/{events,commands}.json rejected by the schemas;
  - the lines of the benchmark generator (tests/bench/gen.c, compiled into
    a temporary folder);
  - with a zhilid binary: `zhilid -t` accepts the good rule files and
    rejects every bad one; a daemon on rules/*.yaml accepts every good line
    and rejects every bad case with its error code, and its answers (event
    answers, command answers, errors, subscriber lines) match
    responses.schema.json and alert.schema.json#/$defs/shipped;
  - the lines that end-to-end tests sent and the daemon accepted, and its
    answers to them: from the files in --records DIR (written by
    tests/e2e/harness.py when ZHILID_RECORD_LINES=DIR/lines is set:
    DIR/lines.ok holds the accepted request lines, DIR/lines.resp the
    request/response pairs), or, without --records, from a run of
    test_four_color.py, test_secretary.py, test_property.py,
    test_work_order.py, test_community_model.py, test_branch.py and
    test_reinspection.py with recording on.

Rule files are read as YAML 1.2 data the way the daemon reads scalars:
plain true and false are booleans, plain [-+]digits integers, plain
[-+]digits.digits decimals, null ~ and empty are null, everything else
(yes, 0x10, 1e3, .5, 2026-01-01) a string; map keys are their text; a
repeated key is an error.
"""

import argparse
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCHEMA_DIR = os.path.join(ROOT, "schema")
SCHEMAS = ("rules", "events", "commands", "alert", "responses")
E2E_FILES = ("test_four_color.py", "test_secretary.py", "test_property.py",
             "test_leader.py",
             "test_work_order.py", "test_groups.py",
             "test_community_model.py", "test_branch.py",
             "test_reinspection.py")
BUILTIN_EVENTS = ("period.close", "clock.tick")

passed = 0
failed = 0


def oneline(s, n=300):
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[:n] + "..."


def ok(name):
    global passed
    passed += 1
    print("PASS schema.%s" % name, flush=True)


def bad(name, why):
    global failed
    failed += 1
    print("FAIL schema.%s: %s" % (name, oneline(why)), flush=True)


def check(name, fn):
    """Run fn(); PASS unless it returns a reason or raises."""
    try:
        why = fn()
    except Exception as e:          # noqa: B902 - a check must not stop us
        sys.stderr.write(traceback.format_exc())
        why = "%s: %s" % (type(e).__name__, e)
    if why:
        bad(name, why)
    else:
        ok(name)


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------------------
# JSON: strict, as the daemon reads lines

def _pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("repeated key")
    return dict(pairs)


def _constant(name):
    raise ValueError("non-JSON constant %s" % name)


def loads(text):
    return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------
# YAML, read as the daemon reads it

def yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {}
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
        ["~", "n", "N", ""])
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"),
        ["t", "f"])
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"),
        list("-+0123456789"))
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+\.[0-9]+$"),
        list("-+0123456789"))

    def int_(loader, node):
        return int(loader.construct_scalar(node), 10)

    def float_(loader, node):
        return float(loader.construct_scalar(node))

    def mapping(loader, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, "expected a mapping", node.start_mark)
        out = {}
        for kn, vn in node.value:
            if not isinstance(kn, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a map key must be a scalar", kn.start_mark)
            if kn.value in out:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key '%s'" % kn.value,
                    kn.start_mark)
            out[kn.value] = loader.construct_object(vn, deep=deep)
        return out

    Loader.add_constructor("tag:yaml.org,2002:int", int_)
    Loader.add_constructor("tag:yaml.org,2002:float", float_)
    Loader.construct_mapping = mapping
    return Loader


def load_yaml(path, loader):
    import yaml
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


# ---------------------------------------------------------------------------
# Schemas and validators (jsonschema 4.10 of Debian 12, and later ones)

class Schemas:
    def __init__(self):
        self.base = pathlib.Path(SCHEMA_DIR).as_uri() + "/"
        self.docs = {}
        for n in SCHEMAS:
            with open(os.path.join(SCHEMA_DIR, n + ".schema.json"),
                      encoding="utf-8") as f:
                self.docs[n] = loads(f.read())
        self._cache = {}
        self._registry = None
        try:
            import referencing
            import referencing.jsonschema
            self._registry = referencing.Registry().with_resources(
                (self.base + n + ".schema.json",
                 referencing.Resource.from_contents(
                     d, default_specification=referencing.jsonschema.
                     DRAFT202012))
                for n, d in self.docs.items())
        except ImportError:
            pass

    def validator(self, ref):
        """A validator for "NAME" or "NAME#/pointer" (NAME without
        .schema.json)."""
        if ref in self._cache:
            return self._cache[ref]
        from jsonschema import Draft202012Validator
        name, _, frag = ref.partition("#")
        wrapper = {"$ref": self.base + name + ".schema.json" +
                   ("#" + frag if frag else "")}
        if self._registry is not None:
            v = Draft202012Validator(wrapper, registry=self._registry)
        else:
            from jsonschema import RefResolver
            store = {self.base + n + ".schema.json": d
                     for n, d in self.docs.items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                resolver = RefResolver(base_uri=self.base, referrer=wrapper,
                                       store=store)
            v = Draft202012Validator(wrapper, resolver=resolver)
        self._cache[ref] = v
        return v

    def why(self, ref, instance):
        """None if instance is valid under ref, else the best reason."""
        from jsonschema.exceptions import best_match
        v = self.validator(ref)
        err = best_match(v.iter_errors(instance))
        if err is None:
            return None
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        return "%s: %s" % (where, oneline(err.message, 200))


# ---------------------------------------------------------------------------
# What the rule files declare

def declarations(docs):
    """From {path: rule file}: the event types with their expected schema
    facets, the alert names the rules can raise, and the rank cycles."""
    events, alerts, cycles = {}, set(), set()
    kfields, kattrs = {}, {}       # files of one kind add up
    for doc in docs.values():
        kfields.setdefault(doc["kind"], []).extend(doc.get("fields") or [])
        kattrs.setdefault(doc["kind"], {}).update(
            doc.get("attributes") or {})
    for doc in docs.values():
        kind = doc["kind"]
        fields, attrs = kfields[kind], kattrs[kind]
        for name, decl in (doc.get("events") or {}).items():
            if isinstance(decl, str):
                props = {"type": "const", "id": "id", "ts": "ts",
                         kind: "id"}
                req = {"type", kind}
                if decl == "upsert":
                    props.update({f: "string" for f in fields})
                    props["attrs"] = {a: t for a, t in attrs.items()}
            else:
                action = decl["action"]
                props = {"type": "const", "id": "id", "ts": "ts"}
                req = {"type"}
                if action != "none":
                    props[kind] = "id"
                    req.add(kind)
                for f, t in (decl.get("fields") or {}).items():
                    if isinstance(t, str):
                        t = {"type": t}
                    props[f] = field_facet(t)
                    if t.get("optional") not in (True, "yes"):
                        req.add(f)
            events[name] = (props, req)
        for rname, rule in (doc.get("rules") or {}).items():
            prim = next(p for p in ("classify", "score", "rank", "streak",
                                    "band", "deadline", "count", "review",
                                    "cadence")
                        if p in rule)
            body = rule[prim]
            own = rule.get("alert")
            if prim == "classify":
                alerts.add(own or rname + ".changed")
            elif prim in ("rank", "streak", "deadline", "cadence"):
                alerts.add(own or rname)
            if prim == "review":
                for ck in body["checks"]:
                    alerts.add(ck["alert"])
            if prim == "rank":
                cycles.add(body["cycle"])
                if "incomplete" in body:
                    alerts.add(body["incomplete"]["alert"])
            if prim == "band":
                for b in body["bands"]:
                    if "alert" in b:
                        alerts.add(b["alert"])
                    elif own:
                        alerts.add(own)
                    m = b.get("mark")
                    if m:
                        alerts.add(m["alert"])
                        if (m.get("expire") or {}).get("alert"):
                            alerts.add(m["expire"]["alert"])
                for change in ("downgrade", "upgrade"):
                    if change in body:
                        alerts.add(body[change]["alert"])
    events["period.close"] = ({"type": "const", "id": "id", "ts": "ts",
                               "cycle": ("enum", frozenset(cycles)),
                               "scope": "string", "period": "period"},
                              {"type", "cycle", "scope", "period"})
    events["clock.tick"] = ({"type": "const", "id": "id", "ts": "ts"},
                            {"type", "ts"})
    return events, alerts


def field_facet(t):
    ty = t["type"]
    if ty == "string":
        return ("enum", frozenset(t["values"])) if "values" in t else "string"
    if ty in ("int", "decimal"):
        return (ty, t.get("min"), t.get("max"))
    return ty       # bool, half_year, quarter, month, period


def schema_facet(root, s, attr=False):
    """What a property's subschema of events.schema.json amounts to, in the
    terms of field_facet()."""
    named = {"id": "id", "ts": "ts", "text": "string",
             "half_year": "half_year", "quarter": "quarter",
             "month": "month", "period": "period"}
    while "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        if name in named:
            return named[name]
        s = root["$defs"][name]
    if "const" in s:
        return "const"
    if "enum" in s:
        return ("enum", frozenset(s["enum"]))
    t = s.get("type")
    if t == "object" and attr:
        out = {}
        for k, v in s.get("properties", {}).items():
            f = schema_facet(root, v, True)
            out[k] = f[0] if isinstance(f, tuple) else f
        return out
    if t == "integer":
        return ("int",) if attr else ("int", s.get("minimum"),
                                      s.get("maximum"))
    if t == "number":
        return ("decimal",) if attr else ("decimal", s.get("minimum"),
                                          s.get("maximum"))
    if t == "boolean":
        return "bool"
    if t == "string":
        return "string"
    return json.dumps(s)


def compare_event(root, name, want):
    props, req = want
    d = root["$defs"].get(name)
    if d is None:
        return "no #/$defs/%s" % name
    if d.get("additionalProperties") is not False:
        return "#/$defs/%s allows other keys" % name
    got = set(d.get("properties", {}))
    if got != set(props):
        return "keys %s, the rule files give %s" % (sorted(got),
                                                    sorted(props))
    if set(d.get("required", [])) != req:
        return "required %s, the rule files give %s" % (
            sorted(d.get("required", [])), sorted(req))
    for k, w in props.items():
        s = d["properties"][k]
        if isinstance(w, dict):         # attrs
            if s.get("additionalProperties") is not False:
                return "%s allows other keys" % k
            g = schema_facet(root, s, attr=True)
            w = {a: {"int": "int", "decimal": "decimal", "bool": "bool",
                     "string": "string"}[t] for a, t in w.items()}
        else:
            g = schema_facet(root, s)
        if g != w:
            return "%s is %s, the rule files give %s" % (k, g, w)
    return None


def shipped_alert_names(alert_schema):
    names = set()
    for branch in alert_schema["$defs"]["shipped"]["allOf"][1:]:
        r = branch["if"]["properties"]["rule"]
        names.update([r["const"]] if "const" in r else r["enum"])
    return names


# ---------------------------------------------------------------------------
# The parts

def check_metaschemas(S):
    from jsonschema import Draft202012Validator
    for n in SCHEMAS:
        def one(n=n):
            d = S.docs[n]
            if d.get("$schema") != \
                    "https://json-schema.org/draft/2020-12/schema":
                return "$schema is not Draft 2020-12"
            Draft202012Validator.check_schema(d)
        check("metaschema %s.schema.json" % n, one)


def check_rule_files(S, loader):
    docs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "rules", "*.yaml"))) + \
            sorted(glob.glob(os.path.join(HERE, "good", "*.yaml"))):
        def one(path=path):
            doc = load_yaml(path, loader)
            if path.startswith(os.path.join(ROOT, "rules")):
                docs[path] = doc
            return S.why("rules", doc)
        check("rules accepts %s" % rel(path), one)
    bads = sorted(glob.glob(os.path.join(HERE, "bad", "*.yaml")))
    for path in bads:
        def one(path=path):
            try:
                doc = load_yaml(path, loader)
            except Exception as e:      # a YAML error is a rejection
                sys.stderr.write("    %s: %s\n" % (rel(path), oneline(e)))
                return None
            why = S.why("rules", doc)
            if why is None:
                return "the schema accepts it"
            sys.stderr.write("    %s: %s\n" % (rel(path), why))
            return None
        check("rules rejects %s" % rel(path), one)
    if not bads:
        bad("rules bad cases", "no tests/schema/bad/*.yaml")
    return docs


def check_declarations(S, docs):
    if len(docs) != len(glob.glob(os.path.join(ROOT, "rules", "*.yaml"))):
        bad("events match rules/*.yaml", "a rule file did not load")
        return set()
    events, alerts = declarations(docs)
    root = S.docs["events"]

    def types():
        got = set(root["properties"]["type"]["enum"])
        if got != set(events):
            return "type enum %s, the rule files declare %s" % (
                sorted(got), sorted(events))
        branches = {}
        for b in root["allOf"]:
            c = b["if"]["properties"]["type"]["const"]
            branches[c] = b["then"]["$ref"]
        if set(branches) != set(events) or any(
                v != "#/$defs/" + k for k, v in branches.items()):
            return "the allOf branches %s do not match the types" % (
                sorted(branches.items()))
        return None
    check("events types match rules/*.yaml", types)
    for name in sorted(events):
        check("events %s matches rules/*.yaml" % name,
              lambda name=name: compare_event(root, name, events[name]))

    def alert_names():
        got = shipped_alert_names(S.docs["alert"])
        if got != alerts:
            return "alert.schema.json#/$defs/shipped names %s, the rule " \
                "files raise %s" % (sorted(got), sorted(alerts))
        return None
    check("alert shipped names match rules/*.yaml", alert_names)
    return alerts


def read_ndjson(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def check_samples(S):
    for kind, ref in (("events", "events"), ("commands", "commands")):
        path = os.path.join(HERE, "good", kind + ".ndjson")
        groups = {}
        for i, line in enumerate(read_ndjson(path), 1):
            obj = loads(line)
            key = obj.get("type") if kind == "events" else obj.get("cmd")
            groups.setdefault(key, []).append((i, obj))
        for key in sorted(groups, key=str):
            def one(key=key):
                for i, obj in groups[key]:
                    why = S.why(ref, obj)
                    if why:
                        return "%s:%d: %s" % (rel(path), i, why)
                return None
            check("%s accepts good %s (%d)" % (ref, key, len(groups[key])),
                  one)
        with open(os.path.join(HERE, "bad", kind + ".json"),
                  encoding="utf-8") as f:
            cases = loads(f.read())
        for c in cases:
            def one(c=c):
                why = S.why(ref, c["line"])
                if why is None:
                    return "the schema accepts %s" % dumps(c["line"])
                sys.stderr.write("    %s: %s\n" % (c["name"], why))
                return None
            check("%s rejects %s" % (ref, c["name"]), one)


def check_gen(S, tmp):
    src = os.path.join(ROOT, "tests", "bench", "gen.c")
    exe = os.path.join(tmp, "gen")
    cc = os.environ.get("CC", "cc")
    p = subprocess.run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", "-o", exe,
                        src], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        bad("bench gen", "cannot compile %s: %s" % (
            rel(src), p.stdout.decode("utf-8", "replace")))
        return
    for args in (["2000"], ["-k", "secretary", "300"],
                 ["-k", "order", "500"]):
        def one(args=args):
            out = subprocess.run([exe] + args, stdout=subprocess.PIPE,
                                 check=True).stdout.decode("utf-8")
            lines = out.splitlines()
            if not lines:
                return "no output"
            for i, line in enumerate(lines, 1):
                why = S.why("events", loads(line))
                if why:
                    return "line %d: %s: %s" % (i, why, line[:200])
            return None
        check("events accepts bench gen %s" % " ".join(args), one)


def zhilid_t(zhilid, path, tmp):
    """Exit status and output of zhilid -t on a config naming path."""
    d = tempfile.mkdtemp(dir=tmp)
    shutil.copy(path, d)
    conf = os.path.join(d, "t.conf")
    with open(conf, "w") as f:
        f.write("rules: [%s]\ntimezone: Asia/Shanghai\n"
                % json.dumps(os.path.basename(path)))
    p = subprocess.run([zhilid, "-t", "-c", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, cwd=d, timeout=30)
    shutil.rmtree(d, ignore_errors=True)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def check_loader(zhilid, tmp):
    for path in sorted(glob.glob(os.path.join(HERE, "good", "*.yaml"))):
        def one(path=path):
            rc, out = zhilid_t(zhilid, path, tmp)
            return None if rc == 0 else "exit %d: %s" % (rc, out)
        check("loader accepts %s" % rel(path), one)
    for path in sorted(glob.glob(os.path.join(HERE, "bad", "*.yaml"))):
        def one(path=path):
            rc, out = zhilid_t(zhilid, path, tmp)
            return None if rc == 1 else "exit %d, want 1: %s" % (rc, out)
        check("loader rejects %s" % rel(path), one)


# -- answers ------------------------------------------------------------------

CMD_ANSWER = {"ping": "ping", "stats": "stats", "get": "get",
              "alerts": "alerts", "ack": "ok", "subscribe": "ok",
              "reload": "reload", "metrics": "metrics",
              "explain": "explain", "dry_run": "dry_run", "map": "map",
              "silence": "silence", "silences": "silences",
              "unsilence": "ok"}


def answer_def(req, resp):
    """The #/$defs/ of responses.schema.json that answers request req (a
    parsed object, or None when it was not JSON)."""
    if not isinstance(resp, dict) or resp.get("ok") is not True:
        return "error"
    if isinstance(req, dict) and "type" in req:
        return "event"
    if isinstance(req, dict) and req.get("cmd") in CMD_ANSWER:
        return CMD_ANSWER[req["cmd"]]
    return None


def answer_alerts(resp):
    if isinstance(resp, dict):
        if resp.get("dry_run") is True and isinstance(resp.get("alerts"),
                                                       list):
            # an ALERT but for its id, which a dry run does not give
            return [dict(a, id=1) for a in resp["alerts"]]
        if isinstance(resp.get("alerts"), list):
            return resp["alerts"]
        if "alert" in resp:
            return [resp["alert"]]
    return []


def why_answer(S, req, resp):
    d = answer_def(req, resp)
    if d is None:
        return "no answer is expected to %s" % oneline(dumps(req), 100)
    why = S.why("responses#/$defs/" + d, resp)
    if why:
        return "%s answer: %s" % (d, why)
    for a in answer_alerts(resp):
        why = S.why("alert#/$defs/shipped", a)
        if why:
            return "alert %s: %s" % (oneline(dumps(a), 150), why)
    return None


def check_daemon(S, zhilid, zhilictl, tmp, shipped_names):
    """A daemon on rules/*.yaml: the good lines accepted, the bad cases
    rejected with their codes, every answer as the schemas say."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    import harness
    ctx = harness.Ctx(zhilid, zhilictl, ROOT, tempfile.mkdtemp(dir=tmp))
    rules = sorted(glob.glob(os.path.join(ROOT, "rules", "*.yaml")))
    seen, alert_ids = set(), []
    try:
        d = harness.Daemon(ctx, rules=rules, clock="event")
        try:
            d.start()
        except AssertionError as e:
            bad("daemon start", e)
            return
        sub = d.client()
        r = sub.request({"cmd": "subscribe"})
        check("daemon answers subscribe",
              lambda: why_answer(S, {"cmd": "subscribe"}, r))
        c = d.client()
        path = os.path.join(HERE, "good", "events.ndjson")
        groups = {}
        for i, line in enumerate(read_ndjson(path), 1):
            groups.setdefault(loads(line)["type"], []).append((i, line))
        # in file order: later lines depend on earlier ones
        answers = {}
        for i, line in enumerate(read_ndjson(path), 1):
            resp = c.request(line)
            answers[i] = resp
            for a in answer_alerts(resp):
                seen.add(a.get("rule"))
                alert_ids.append(a.get("id"))
        for t in sorted(groups):
            def one(t=t):
                for i, line in groups[t]:
                    resp = answers[i]
                    if resp.get("ok") is not True:
                        return "%s:%d: %s" % (rel(path), i, dumps(resp))
                    why = why_answer(S, loads(line), resp)
                    if why:
                        return "%s:%d: %s" % (rel(path), i, why)
                return None
            check("daemon accepts good %s (%d)" % (t, len(groups[t])), one)
        for kind in ("events", "commands"):
            with open(os.path.join(HERE, "bad", kind + ".json"),
                      encoding="utf-8") as f:
                cases = loads(f.read())
            for case in cases:
                def one(case=case):
                    resp = c.request(dumps(case["line"]))
                    why = why_answer(S, case["line"], resp)
                    if why:
                        return why
                    code = (resp.get("error") or {}).get("code")
                    if code != case["code"]:
                        return "answered %s, want error %s" % (
                            dumps(resp), case["code"])
                    return None
                check("daemon rejects %s (%s)" % (case["name"],
                                                   case["code"]), one)
        path = os.path.join(HERE, "good", "commands.ndjson")
        for i, line in enumerate(read_ndjson(path), 1):
            req = loads(line)

            def one(req=req, line=line, i=i):
                resp = c.request(line)
                if resp.get("ok") is not True:
                    return "%s:%d: %s" % (rel(path), i, dumps(resp))
                return why_answer(S, req, resp)
            check("daemon answers %s" % oneline(line, 80), one)

        def subscriber():
            got = []
            for _ in alert_ids:
                line = sub.recv_line()
                obj = loads(line.decode("utf-8"))
                why = S.why("responses#/$defs/subscriber", obj)
                if why is None:
                    why = S.why("alert#/$defs/shipped", obj["alert"])
                if why:
                    return "%s: %s" % (why, line[:200])
                got.append(obj["alert"]["id"])
            if got != alert_ids:
                return "subscriber alert ids %s, answers had %s" % (
                    got, alert_ids)
            return None
        check("daemon subscriber lines (%d)" % len(alert_ids), subscriber)
        check("daemon raised every shipped alert",
              lambda: None if seen == shipped_names else
              "raised %s, the rule files have %s" % (sorted(seen),
                                                     sorted(shipped_names)))
        try:
            d.stop()
        except AssertionError as e:
            bad("daemon stop", e)
    finally:
        harness.cleanup_all()


# -- recorded lines -------------------------------------------------------------

def record_e2e(zhilid, zhilictl, tmp):
    """Run the e2e tests of the shipped rule sets with recording on; returns
    the folder of the records."""
    rec = os.path.join(tmp, "records")
    os.mkdir(rec)
    env = dict(os.environ)
    env["ZHILID_RECORD_LINES"] = os.path.join(rec, "lines")
    for f in E2E_FILES:
        def one(f=f):
            p = subprocess.run(
                [sys.executable, os.path.join(ROOT, "tests", "e2e", "run.py"),
                 "--zhilid", zhilid, "--zhilictl", zhilictl, "-k", f],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                timeout=1800)
            out = p.stdout.decode("utf-8", "replace").splitlines()
            npass = sum(1 for l in out if l.startswith("PASS "))
            fails = [l[5:] for l in out if l.startswith("FAIL ")]
            if fails:
                return "%d e2e tests failed: %s" % (len(fails),
                                                   "; ".join(fails))
            if npass == 0:
                return "no e2e test ran (exit %d): %s" % (
                    p.returncode, p.stderr.decode("utf-8", "replace")[-300:])
            return None
        check("records from e2e %s" % f, one)
    return rec


def check_records(S, rec):
    oks = sorted(glob.glob(os.path.join(rec, "*.ok")))
    resps = sorted(glob.glob(os.path.join(rec, "*.resp")))
    if not oks or not resps:
        bad("records", "no *.ok and *.resp files in %s (run the e2e tests "
            "with ZHILID_RECORD_LINES=%s/lines)" % (rec, rec))
        return
    groups = {}
    for path in oks:
        with open(path, "rb") as f:
            for i, raw in enumerate(f, 1):
                line = raw.rstrip(b"\n").rstrip(b"\r")
                if not line.strip():
                    continue
                try:
                    obj = loads(line.decode("utf-8"))
                except ValueError as e:
                    groups.setdefault("unparsable", []).append(
                        (path, i, line, "not JSON: %s" % e))
                    continue
                if isinstance(obj, dict) and "type" in obj:
                    key, ref = "event %s" % obj["type"], "events"
                elif isinstance(obj, dict) and "cmd" in obj:
                    key, ref = "command %s" % obj["cmd"], "commands"
                else:
                    key, ref = "other", None
                why = S.why(ref, obj) if ref else "neither type nor cmd"
                groups.setdefault(key, []).append((path, i, line, why))
    for key in sorted(groups):
        def one(key=key):
            wrong = [g for g in groups[key] if g[3]]
            for path, i, line, why in wrong[:5]:
                sys.stderr.write("    %s:%d: %s\n      %s\n" % (
                    path, i, why, line[:300].decode("utf-8", "replace")))
            if wrong:
                path, i, line, why = wrong[0]
                return "%d of %d accepted lines fail, first %s:%d: %s" % (
                    len(wrong), len(groups[key]), os.path.basename(path), i,
                    why)
            return None
        check("records %s (%d accepted lines)" % (key, len(groups[key])),
              one)
    want = set(S.docs["events"]["properties"]["type"]["enum"])
    got = {k[6:] for k in groups if k.startswith("event ")}
    check("records cover every event type",
          lambda: None if want <= got else "no accepted %s" % sorted(
              want - got))

    answers = {}
    for path in resps:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                pair = loads(line)
                try:
                    req = loads(pair["request"])
                except Exception:   # lines sent to provoke errors
                    req = None
                resp = pair["response"]
                d = answer_def(req, resp) or "unexpected"
                answers.setdefault(d, []).append((path, i, req, resp))
    for d in sorted(answers):
        def one(d=d):
            n = 0
            for path, i, req, resp in answers[d]:
                why = why_answer(S, req, resp)
                if why:
                    n += 1
                    if n == 1:
                        first = "%s:%d: %s" % (os.path.basename(path), i,
                                               why)
                    if n <= 5:
                        sys.stderr.write("    %s:%d: %s\n" % (path, i, why))
            if n:
                return "%d of %d fail, first %s" % (n, len(answers[d]),
                                                    first)
            return None
        nal = sum(len(answer_alerts(a[3])) for a in answers[d])
        check("records %s answers (%d, %d alerts)" % (d, len(answers[d]),
                                                      nal), one)


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zhilid", default=None,
                    help="the daemon (default build/zhilid if it exists)")
    ap.add_argument("--zhilictl", default=None)
    ap.add_argument("--records", default=None,
                    help="a folder of *.ok and *.resp files to validate "
                    "instead of running the e2e tests")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary folder (records included)")
    args = ap.parse_args()
    if args.zhilid is None and os.access(os.path.join(ROOT, "build",
                                                      "zhilid"), os.X_OK):
        args.zhilid = os.path.join(ROOT, "build", "zhilid")
    if args.zhilid is not None:
        args.zhilid = os.path.abspath(args.zhilid)
        if args.zhilictl is None:
            args.zhilictl = os.path.join(os.path.dirname(args.zhilid),
                                         "zhilictl")
        args.zhilictl = os.path.abspath(args.zhilictl)
    # the daemon sessions here record nothing
    os.environ.pop("ZHILID_RECORD_LINES", None)

    try:
        import jsonschema       # noqa: F401
    except ImportError:
        bad("jsonschema", "python3-jsonschema is not installed")
        return 1
    try:
        import yaml             # noqa: F401
    except ImportError:
        bad("yaml", "python3-yaml is not installed")
        return 1
    S = Schemas()
    loader = yaml_loader()
    tmp = tempfile.mkdtemp(prefix="zhschema-")
    try:
        check_metaschemas(S)
        docs = check_rule_files(S, loader)
        shipped = check_declarations(S, docs)
        check_samples(S)
        check_gen(S, tmp)
        if args.zhilid is not None:
            check_loader(args.zhilid, tmp)
            try:
                check_daemon(S, args.zhilid, args.zhilictl, tmp, shipped)
            except Exception as e:      # noqa: B902 - harness failures
                sys.stderr.write(traceback.format_exc())
                bad("daemon session", "%s: %s" % (type(e).__name__, e))
        if args.records is not None:
            check_records(S, args.records)
        elif args.zhilid is not None:
            check_records(S, record_e2e(args.zhilid, args.zhilictl, tmp))
        else:
            bad("records", "no --records DIR and no zhilid binary to record "
                "the e2e tests with")
    finally:
        if args.keep:
            sys.stderr.write("kept %s\n" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.stderr.write("%d passed, %d failed\n" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
