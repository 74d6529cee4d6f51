#!/usr/bin/env python3
"""Rebuild the seed corpora of tests/fuzz/corpus/ from the checkout.

    python3 tests/fuzz/mkcorpus.py

The conformance suites come from tests/conformance (JSONTestSuite/ and
yaml-test-suite/, vendored).

rules:  rules/*.yaml, tests/rules-bad/*.yaml, tests/rules/bad/rules/*.yaml,
        tests/fuzz/seeds/rules/*.yaml, and multi-file inputs ("#--8<--").
expr:   every `when:` of those files, the expressions of
        tests/unit/test-expr.c and tests/fuzz/seeds/expr.txt.
decode: events of the rule tests (tests/rules/*.yaml) as JSON lines, a few
        of each type; tests/fuzz/seeds/decode/*.ndjson (one file per line,
        sessions whole); the JSONTestSuite y_ and n_ cases of at most 4 KiB.
conf:   zhilid.conf, contrib/zhilid.conf.system, tests/rules-bad/*.conf,
        tests/fuzz/seeds/conf/*.conf.
rules and conf both get the yaml-test-suite cases that
tests/fuzz/seeds/yaml-test-suite.txt lists.
The corpora are replaced whole; the regression inputs are not touched.
"""
import glob
import json
import os
import re
import shutil
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'tests', 'fuzz', 'corpus')
SEEDS = os.path.join(ROOT, 'tests', 'fuzz', 'seeds')
SUITES = os.path.join(ROOT, 'tests', 'conformance')
CUT = b'#--8<--\n'


class Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the strings they were."""


Loader.yaml_implicit_resolvers = {
    k: [r for r in v if r[0] != 'tag:yaml.org,2002:timestamp']
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def files(*pats):
    out = []
    for p in pats:
        out += sorted(glob.glob(os.path.join(ROOT, p)))
    return out


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(OUT, target, name), 'wb') as f:
        f.write(data)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def strip_comments(b):
    return b''.join(l for l in b.splitlines(True)
                    if not l.lstrip().startswith(b'#'))


def rules():
    for tag, pat in (('shipped-', 'rules/*.yaml'),
                     ('rules-bad-', 'tests/rules-bad/*.yaml'),
                     ('ruletest-bad-', 'tests/rules/bad/rules/*.yaml'),
                     ('seed-', 'tests/fuzz/seeds/rules/*.yaml')):
        for p in files(pat):
            put('rules', tag + os.path.basename(p), read(p))
    shipped = {os.path.basename(p)[:-5]: strip_comments(read(p))
               for p in files('rules/*.yaml')}
    # the whole shipped ruleset, and pairs that meet across files
    put('rules', 'multi-shipped.yaml', CUT.join(shipped[k] for k in
        ('four_color', 'property', 'secretary', 'work_order')))
    put('rules', 'multi-kind-twice.yaml',
        CUT.join([shipped['four_color'], shipped['four_color']]))
    put('rules', 'multi-secretary-property.yaml',
        CUT.join([shipped['secretary'], shipped['property']]))
    put('rules', 'multi-split-kind.yaml', CUT.join([
        b'kind: household\nfields: [community]\nattributes: {age: int}\n'
        b'events: {household.upsert: upsert}\n',
        b'kind: household\nattributes: {alone: bool}\nrules:\n'
        b'  old:\n    classify:\n      - {class: old, when: "age >= 80 '
        b'and alone"}\n      - {class: none}\n']))


def expressions():
    seen = set()

    def add(e):
        e = e.strip()
        if e and e not in seen:
            seen.add(e)

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == 'when' and isinstance(v, str):
                    add(v)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for p in files('rules/*.yaml', 'tests/rules-bad/*.yaml',
                   'tests/rules/bad/rules/*.yaml', 'tests/fuzz/seeds/rules/*'):
        try:
            walk(yaml.load(read(p), Loader=Loader))
        except yaml.YAMLError:
            pass
    src = read(os.path.join(ROOT, 'tests/unit/test-expr.c')).decode()
    for m in re.finditer(r'(?:eval|error_of)\("((?:[^"\\]|\\.)*)"', src):
        add(m.group(1).encode().decode('unicode_escape'))
    for line in read(os.path.join(SEEDS, 'expr.txt')).decode().splitlines():
        add(line)
    for i, e in enumerate(sorted(seen)):
        put('expr', 'expr-%03d' % i, e)
    # the deep nestings of test-expr.c, shorter
    put('expr', 'deep-parens', '(' * 70 + 'true' + ')' * 70)
    put('expr', 'deep-minus', '-' * 70 + '1 == 1')


def events():
    by_type = {}
    for p in files('tests/rules/*.yaml'):
        def walk(x):
            if isinstance(x, dict):
                ev = x.get('event')
                if isinstance(ev, dict) and 'type' in ev:
                    by_type.setdefault(str(ev['type']), []).append(ev)
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)
        walk(yaml.load(read(p), Loader=Loader))
    for t, evs in sorted(by_type.items()):
        # the most different: by their keys, then by their values
        picked, shapes = [], set()
        for ev in evs:
            shape = tuple(sorted(ev)) + tuple(sorted(ev.get('attrs', {})))
            if shape not in shapes:
                shapes.add(shape)
                picked.append(ev)
        step = max(1, len(evs) // 6)
        picked += [ev for ev in evs[::step] if ev not in picked]
        for i, ev in enumerate(picked[:8]):
            sep = (',', ':') if i % 2 else (', ', ': ')
            put('decode', 'ev-%s-%02d.json' % (t, i),
                json.dumps(ev, ensure_ascii=(i % 3 == 2),
                           separators=sep) + '\n')
    for p in sorted(glob.glob(os.path.join(SEEDS, 'decode', '*.ndjson'))):
        name = os.path.basename(p)[:-7]
        data = read(p)
        if name.startswith('session-'):
            put('decode', name + '.ndjson', data)
            continue
        for i, line in enumerate(data.splitlines(True)):
            if line.strip() and not line.startswith(b'//'):
                put('decode', '%s-%03d.json' % (name, i), line)
    suite = os.path.join(SUITES, 'JSONTestSuite', 'test_parsing')
    for p in sorted(glob.glob(os.path.join(suite, '[yn]_*.json'))):
        data = read(p)
        if len(data) <= 4096:
            put('decode', os.path.basename(p), data)


def confs():
    for p in files('zhilid.conf', 'contrib/zhilid.conf.system',
                   'tests/rules-bad/*.conf'):
        put('conf', os.path.basename(p), read(p))
    for p in sorted(glob.glob(os.path.join(SEEDS, 'conf', '*.conf'))):
        put('conf', 'seed-' + os.path.basename(p), read(p))


def yaml_suite():
    with open(os.path.join(SEEDS, 'yaml-test-suite.txt')) as f:
        ids = [l.strip() for l in f if l.strip() and not l.startswith('#')]
    for i in ids:
        data = read(os.path.join(SUITES, 'yaml-test-suite', i, 'in.yaml'))
        for t in ('rules', 'conf'):
            put(t, 'yts-' + i.replace('/', '-') + '.yaml', data)


def main():
    for t in ('rules', 'expr', 'decode', 'conf'):
        shutil.rmtree(os.path.join(OUT, t), ignore_errors=True)
        os.makedirs(os.path.join(OUT, t))
    rules()
    expressions()
    events()
    confs()
    yaml_suite()
    for t in ('rules', 'expr', 'decode', 'conf'):
        d = os.path.join(OUT, t)
        n = len(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print('%s: %d files, %d bytes' % (t, n, size))


main()
