#!/usr/bin/env python3
"""The README's screenshots of the map (`make screenshots`):

    python3 tests/map/screenshots.py [--zhilid build/zhilid]
        [--zhilictl build/zhilictl] [--out doc]

A daemon on a scratch config with the shipped four_color.yaml, grid.yaml
and community.yaml takes a generated district of 20 communities (C01..C20,
3 to 5 grids each, 40 to 400 households a community, attributes drawn with
a fixed seed so that the pictures change only when the page does);
`zhilictl map --dir` writes the pages, and headless Chromium draws the
overview and community C07 into doc/map-overview.png and
doc/map-community.png, as the browser test of test_map.py does."""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from mappage import render  # noqa: E402


def attrs(rnd):
    """A household's ledger: most plain, some of each colour."""
    a = {"age": rnd.randint(18, 95)}
    r = rnd.random()
    if r < 0.03:
        a["key_person"] = True
    elif r < 0.07:
        a["dispute_open"] = True
    elif r < 0.12:
        a["lives_alone"] = True
        a["age"] = rnd.randint(80, 99)
    elif r < 0.30:
        a["chronic_ill"] = True
    if a["age"] >= 70 and rnd.random() < 0.3:
        a["lives_alone"] = True
    return a


def events():
    rnd = random.Random(20261206)
    ts, n = 1767196800, 0
    for c in range(1, 21):
        grids = rnd.randint(3, 5)
        for h in range(rnd.randint(40, 400)):
            n += 1
            yield {"type": "household.upsert", "id": "s%d" % n, "ts": ts + n,
                   "household": "H%02d%04d" % (c, h),
                   "community": "C%02d" % c,
                   "grid": "C%02dG%d" % (c, h % grids + 1),
                   "attrs": attrs(rnd)}


def main():
    import json
    ap = argparse.ArgumentParser()
    ap.add_argument("--zhilid", default=os.path.join(ROOT, "build", "zhilid"))
    ap.add_argument("--zhilictl", default=os.path.join(ROOT, "build",
                                                       "zhilictl"))
    ap.add_argument("--out", default=os.path.join(ROOT, "doc"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="zhilid-shots.")
    proc = None
    try:
        rules = ", ".join(os.path.join(ROOT, "rules", f) for f in
                          ("four_color.yaml", "grid.yaml", "community.yaml"))
        conf = os.path.join(tmp, "zhilid.conf")
        sock = os.path.join(tmp, "zhilid.sock")
        with open(conf, "w") as f:
            f.write("socket: %s\ndatabase: %s\nrules: [%s]\nclock: event\n"
                    "timezone: Asia/Shanghai\naccess:\n"
                    "  - {uid: self, roles: [push, read, admin]}\n"
                    % (sock, os.path.join(tmp, "zhilid.db"), rules))
        proc = subprocess.Popen([args.zhilid, "-c", conf],
                                stderr=open(os.path.join(tmp, "log"), "w"))
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        lines = "".join(json.dumps(e, ensure_ascii=False) + "\n"
                        for e in events())
        p = subprocess.run([args.zhilictl, "--socket", sock, "push"],
                           input=lines.encode("utf-8"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            sys.exit("push failed: %s" % p.stderr.decode())
        folder = os.path.join(tmp, "map")
        subprocess.run([args.zhilictl, "--socket", sock, "map", "--dir",
                        folder], check=True)
        os.makedirs(args.out, exist_ok=True)
        for page, png, w, h in (("index.html", "map-overview.png", 1200, 1100),
                                ("community-C07.html", "map-community.png",
                                 1000, 900)):
            out = os.path.join(args.out, png)
            render(os.path.join(folder, page), out, w, h, tmp)
            print("wrote %s (%d bytes)" % (os.path.relpath(out, ROOT),
                                          os.path.getsize(out)))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
