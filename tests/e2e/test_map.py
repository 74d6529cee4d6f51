"""The four-colour map (zhilid(8) `map`, zhilictl(1) `map`): the command's
pages against a model of the households pushed, the HTML pages' markup
against the daemon's classes and counts, the page as headless Chromium
draws it, the folder that zhilid-map.service writes, the store's group
index after a migration and after a reload that reorders the fields, and
bad input."""

import glob
import json
import os
import re
import subprocess

from harness import (check, cmd, expect_error, expect_ok, four_color, get,
                     remove, short, upsert, Seq, sqlite_only, store_neutral)
from rulesets import daemon, send
from mappage import Page, render, rgb, near, pixel, find_origin
from test_zhilictl import ctl, expect_status, sock

TIMEOUT = 300
BOTH_STORES = True      # the map command; the pages once (store_neutral)

CLASSES = ("red", "blue", "orange", "yellow", "none")
COLORS = {"red": "#d7191c", "blue": "#2c7bb6", "orange": "#f28e2b",
          "yellow": "#f7d13d", "none": "#c8c8c8"}
RED = {"key_person": True}
BLUE = {"dispute_open": True}
ORANGE = {"age": 85, "lives_alone": True}
YELLOW = {"age": 72}
WHY = {"red": ("key_person", "mental_risk"),
       "blue": ("petition_active", "dispute_open"),
       "orange": ("age", "lives_alone", "disabled", "low_income"),
       "yellow": ("age", "disabled", "low_income", "chronic_ill",
                  "lives_alone", "left_behind_child"),
       "none": ()}


class District:
    """The live households pushed: id -> (community, grid, attrs)."""

    def __init__(self, c):
        self.c = c
        self.live = {}
        self.seq = Seq()

    def up(self, h, attrs, community, grid):
        e, ts = self.seq.next()
        send(self.c, upsert(h, attrs, id=e, ts=ts, community=community,
                            grid=grid))
        old = self.live.get(h, (None, None, {}))[2]
        merged = dict(old)
        merged.update(attrs)
        self.live[h] = (community, grid, merged)

    def rm(self, h):
        e, ts = self.seq.next()
        send(self.c, remove(h, id=e, ts=ts))
        del self.live[h]

    def communities(self):
        return sorted({v[0] for v in self.live.values()})

    def counts(self, community):
        n = {k: 0 for k in CLASSES}
        for cm, _, attrs in self.live.values():
            if cm == community:
                n[four_color(attrs)] += 1
        return n

    def members(self, community):
        """[(id, grid, class, attrs)] in household id order."""
        return [(h, v[1], four_color(v[2]), v[2])
                for h, v in sorted(self.live.items()) if v[0] == community]


def populate(c):
    d = District(c)
    d.up("H01", RED, "C1", "G1")
    d.up("H02", ORANGE, "C1", "G2")
    d.up("H03", BLUE, "C1", "G1")
    d.up("H04", YELLOW, "C1", "G2")
    d.up("H05", {}, "C1", "G1")
    d.up("H06", RED, "C2", "G3")
    d.up("H07", YELLOW, "C2", "G3")
    d.up("H08", BLUE, "C2", "G4")
    d.up("H09", ORANGE, "C1", "G1")
    d.rm("H09")                      # removed: on no map
    d.up("H10", YELLOW, "C2", "G4")
    d.up("H10", {}, "C1", "G2")      # moved from C2 to C1
    d.up("H11", {"mental_risk": True, "age": 90}, "C1", "G1")
    return d


def map_all(c, **kw):
    """Every page of one map answer, following next; the pages' items."""
    items, after, pages = [], None, []
    while True:
        req = cmd("map", **kw)
        if after is not None:
            req["after"] = after
        r = expect_ok(c.request(req), "map %s" % kw)
        m = r["map"]
        pages.append(m)
        items += m["entities" if "group" in kw else "groups"]
        if m["next"] is None:
            return pages[0], items, pages
        check(after is None or m["next"] > after, "next goes forward: %s"
              % m["next"])
        after = m["next"]


def check_header(m, what):
    check(m["rule"] == "four_color" and m["kind"] == "household" and
          m["by"] == "community" and m["within"] == "grid",
          "%s: header %s" % (what, short(m)))
    check([k["class"] for k in m["classes"]] == list(CLASSES),
          "%s: classes in the rule's order: %s" % (what, m["classes"]))
    check({k["class"]: k["color"] for k in m["classes"]} == COLORS,
          "%s: colours from the rule file: %s" % (what, m["classes"]))
    check(m["classes"][0]["label"] == "红色（特别关注户）",
          "%s: labels from the rule file: %s" % (what, m["classes"][0]))
    check(isinstance(m["generation"], int) and m["generation"] >= 1 and
          re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$", m["read"]),
          "%s: generation and read time: %s" % (what, short(m)))


def check_overview(d, items, what):
    want = d.communities()
    got = [g["id"] for g in items]
    check(got == want, "%s: communities %s, expected %s (id order)"
          % (what, got, want))
    for g in items:
        n = d.counts(g["id"])
        check(g["counts"] == n and g["total"] == sum(n.values()),
              "%s: %s counts %s total %s, expected %s"
              % (what, g["id"], g["counts"], g["total"], n))


def check_members(d, community, items, what):
    want = d.members(community)
    got = [(e["id"], e["grid"], e["class"]) for e in items]
    check(got == [w[:3] for w in want], "%s: %s members %s, expected %s"
          % (what, community, got, [w[:3] for w in want]))
    for e, (h, _, cls, attrs) in zip(items, want):
        check(list(e["why"]) == list(WHY[cls]),
              "%s: %s why %s, expected the attributes %s's condition reads"
              % (what, h, e["why"], cls))
        for k, v in e["why"].items():
            check(v == attrs.get(k), "%s: %s why %s=%r, pushed %r"
                  % (what, h, k, v, attrs.get(k)))


def test_map_command(ctx):
    with daemon(ctx) as dm:
        c = dm.client()
        d = populate(c)
        head, items, _ = map_all(c)
        check_header(head, "overview")
        check("group" not in head, "the overview has no group")
        check_overview(d, items, "overview")
        for cm in d.communities():
            head, items, _ = map_all(c, group=cm)
            check_header(head, "map of " + cm)
            check(head["group"] == cm, "group echoed: %s" % head["group"])
            check_members(d, cm, items, "map of " + cm)
        # pages of one: the same entities, one a page
        _, whole, _ = map_all(c, group="C1")
        _, paged, pages = map_all(c, group="C1", limit=1)
        check(paged == whole and len(pages) == len(whole) + 0 and
              all(len(p["entities"]) == 1 for p in pages),
              "limit 1 pages through C1 one at a time: %d pages for %d"
              % (len(pages), len(whole)))
        _, paged, pages = map_all(c, limit=1)
        check([g["id"] for g in paged] == d.communities(),
              "the overview pages too: %s" % [g["id"] for g in paged])
        # a group nobody is in is empty, not an error
        head, items, _ = map_all(c, group="C-none")
        check(items == [] and head["next"] is None, "an empty group: %s"
              % short(head))
        # kill -9: the index and the counts come back
        c.close()
        dm.kill9()
        dm.start()
        c = dm.client()
        _, items, _ = map_all(c)
        check_overview(d, items, "after kill -9")
        _, items, _ = map_all(c, group="C1")
        check_members(d, "C1", items, "after kill -9")
        d.c = c
        d.up("H12", ORANGE, "C2", "G4")
        # a household read back from the store moves: both pages follow;
        # an upsert that keeps its community leaves it where it is
        d.up("H02", {}, "C2", "G4")
        d.up("H03", {"age": 71}, "C1", "G1")
        for cm in ("C1", "C2"):
            _, items, _ = map_all(c, group=cm)
            check_members(d, cm, items, "after a push after kill -9")
        c.close()
        dm.stop()


def test_map_bad_input(ctx):
    with daemon(ctx) as dm:
        c = dm.client()
        populate(c)
        for req, key in (({"rule": "nope"}, "rule"),
                         ({"rule": "community.households"}, "rule"),
                         ({"rule": 7}, "rule"),
                         ({"group": 1}, "group"),
                         ({"group": None}, "group"),
                         ({"after": ["H1"]}, "after"),
                         ({"limit": 0}, "limit"),
                         ({"limit": 10001}, "limit"),
                         ({"limit": 1.5}, "limit"),
                         ({"limit": "9"}, "limit"),
                         ({"colour": "red"}, "colour")):
            expect_error(c.request(cmd("map", **req)), "bad_event",
                         "map %s" % req, mentions=key)
        # a classify rule whose classes no count rule counts: no overview,
        # and the message says what to add; its groups still map
        expect_error(c.request(cmd("map", rule="community.staffing")),
                     "bad_event", "overview without a count rule",
                     mentions="count rule")
        r = expect_ok(c.request(cmd("map", rule="community.staffing",
                                    group="S1")))
        check(r["map"]["entities"] == [], "community.staffing's map of a "
              "scope nothing is in: %s" % short(r))
        c.close()
        dm.stop()
    # with four_color.yaml alone there is no count rule: the default rule
    # cannot be chosen, and the error says why
    from harness import Daemon
    with Daemon(ctx, name="solo") as dm:
        c = dm.client()
        expect_error(c.request(cmd("map")), "bad_event", "no default rule",
                     mentions="count rule")
        r = expect_ok(c.request(cmd("map", rule="four_color", group="C1")))
        check(r["map"]["entities"] == [], "an empty community: %s"
              % short(r))
        c.close()
        dm.stop()


@sqlite_only
def test_map_regroup(ctx):
    """The store's group column: filled again after an upgrade from schema
    4 (simulated: emptied, its meta key gone) and after a reload whose
    household kind names grid first."""
    with daemon(ctx) as dm:
        c = dm.client()
        d = populate(c)
        c.close()
        dm.stop()
        # only a kind that a classify rule maps keeps its group: the
        # grids and communities that the counts create do not
        rows = subprocess.run(["sqlite3", dm.db_path, "SELECT kind, "
                               "count(grp), count(*) FROM entities GROUP BY "
                               "kind ORDER BY kind"], check=True,
                              stdout=subprocess.PIPE).stdout.decode()
        got = {l.split("|")[0]: l.split("|")[1:] for l in rows.split()}
        check(got.get("household", [None])[0] == got["household"][1] and
              got["grid"][0] == "0" and got["community"][0] == "0",
              "grp kept for households only: %s" % got)
        subprocess.run(["sqlite3", dm.db_path,
                        "UPDATE entities SET grp = NULL; DELETE FROM meta "
                        "WHERE key LIKE 'group.%'"], check=True)
        dm.start()
        c = dm.client()
        _, items, _ = map_all(c, group="C1")
        check_members(d, "C1", items, "after the group column was emptied")
        # a reload with fields [grid, community]: pages are grids now
        rules = []
        for f in dm.rules:
            text = open(f, encoding="utf-8").read()
            if os.path.basename(f) == "four_color.yaml":
                text = text.replace("fields: [community, grid]",
                                    "fields: [grid, community]")
            p = os.path.join(ctx.tmp, "r-" + os.path.basename(f))
            with open(p, "w", encoding="utf-8") as o:
                o.write(text)
            rules.append(p)
        dm.rules = rules
        dm.write_config()
        expect_ok(c.request(cmd("reload")))
        r = expect_ok(c.request(cmd("map", rule="four_color", group="G1")))
        got = [e["id"] for e in r["map"]["entities"]]
        want = sorted(h for h, v in d.live.items() if v[1] == "G1")
        check(r["map"]["by"] == "grid" and r["map"]["within"] ==
              "community" and got == want, "after the reload, G1 holds %s, "
              "expected %s: %s" % (got, want, short(r)))
        check(all(e["community"] == "C1" for e in r["map"]["entities"]),
              "within is the community now: %s" % short(r))
        c.close()
        dm.stop()


def page_of(ctx, dm, *args):
    rc, out, err = expect_status(ctl(ctx, *(sock(dm) + ["map"] + list(args))),
                                 0, "zhilictl map %s" % " ".join(args))
    return out


def check_self_contained(text, what):
    check(text.startswith("<!DOCTYPE html>\n<html lang=\"zh-CN\">"),
          "%s: HTML5 with lang zh-CN: %r" % (what, text[:60]))
    check('<meta charset="utf-8">' in text, "%s: meta charset" % what)
    low = text.lower()
    for bad in ("<script", "<link", "<img", "<iframe", "url(", "@import",
                "http://", "https://", "src=", "//"):
        # "//" may only appear nowhere: no protocol-relative URL either
        check(bad not in low, "%s: a page fetches nothing, but it holds %r"
              % (what, bad))
    tidy = subprocess.run(["tidy", "-errors", "-q", "-utf8"],
                          input=text.encode("utf-8"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(tidy.returncode == 0, "%s: tidy -errors finds errors:\n%s"
          % (what, tidy.stderr.decode("utf-8", "replace")[:2000]))


def check_overview_page(d, text, what):
    page = Page(text)
    tiles = page.all("a", "data-community")
    check([t["data-community"] for t in tiles] == d.communities(),
          "%s: tiles %s" % (what, [t["data-community"] for t in tiles]))
    for t in tiles:
        n = d.counts(t["data-community"])
        got = {k: int(t["data-" + k]) for k in CLASSES}
        check(got == n and int(t["data-households"]) == sum(n.values()),
              "%s: tile %s says %s, expected %s" % (what, t, got, n))
        check(t["href"] == "community-%s.html" % t["data-community"],
              "%s: tile links its page: %s" % (what, t["href"]))
    # the legend: each label with the district total, readable as text
    body = "".join(page.text)
    for k, label in (("red", "红色（特别关注户）"), ("none", "无色（一般户）")):
        total = sum(d.counts(cm)[k] for cm in d.communities())
        check("%s %d" % (label, total) in body, "%s: legend %s %d in %r"
              % (what, label, total, body[:400]))
    return page


def check_group_page(d, community, text, what):
    page = Page(text)
    want = sorted(d.members(community), key=lambda m: (m[1], m[0]))
    squares = page.all("rect", "data-id")
    got = [(s["data-id"], s["data-class"]) for s in squares]
    check(got == [(w[0], w[2]) for w in want], "%s: squares %s, expected %s"
          " (grid order, then id order)" % (what, got,
                                            [(w[0], w[2]) for w in want]))
    for s, w in zip(squares, want):
        check(s["fill"] == COLORS[w[2]], "%s: %s filled %s" % (what,
                                                               w[0], s["fill"]))
        title = page.title_of(s)
        check(title is not None and title.startswith(w[0] + " ") and
              ("（" in title), "%s: %s titled %r" % (what, w[0], title))
        for k in WHY[w[2]]:
            if k in w[3]:
                v = w[3][k]
                shown = json.dumps(v) if not isinstance(v, str) else v
                check(" %s=%s" % (k, shown) in title, "%s: %s's title %r "
                      "lacks %s=%s" % (what, w[0], title, k, shown))
    panels = page.all("section", "data-grid")
    grids = sorted({w[1] for w in want})
    check([p["data-grid"] for p in panels] == grids, "%s: panels %s, "
          "expected %s" % (what, [p["data-grid"] for p in panels], grids))
    for p in panels:
        n = {k: 0 for k in CLASSES}
        for w in want:
            if w[1] == p["data-grid"]:
                n[w[2]] += 1
        got = {k: int(p["data-" + k]) for k in CLASSES}
        check(got == n, "%s: panel %s counts %s, expected %s"
              % (what, p["data-grid"], got, n))
    return page


@store_neutral
def test_map_pages(ctx):
    with daemon(ctx) as dm:
        c = dm.client()
        d = populate(c)
        text = page_of(ctx, dm)
        check_self_contained(text, "overview")
        check_overview_page(d, text, "overview")
        for cm in d.communities():
            text = page_of(ctx, dm, "--community", cm)
            check_self_contained(text, "page of " + cm)
            check_group_page(d, cm, text, "page of " + cm)
        # -o writes the file whole, leaving no temporary file
        out = os.path.join(ctx.tmp, "c1.html")
        page_of(ctx, dm, "--community", "C1", "-o", out)
        check_group_page(d, "C1", open(out, encoding="utf-8").read(), "-o")
        check(glob.glob(out + ".tmp*") == [], "no temporary file left")
        # --dir: index.html and a page per community, linked from the tiles
        folder = os.path.join(ctx.tmp, "map")
        page_of(ctx, dm, "--dir", folder)
        names = sorted(os.listdir(folder))
        check(names == ["community-C1.html", "community-C2.html",
                        "index.html"], "--dir wrote %s" % names)
        page = check_overview_page(d, open(os.path.join(folder, "index.html"),
                                           encoding="utf-8").read(), "index")
        for t in page.all("a", "data-community"):
            p = os.path.join(folder, t["href"])
            check(os.path.exists(p), "tile links %s, which is missing" % p)
            check_group_page(d, t["data-community"],
                             open(p, encoding="utf-8").read(), p)
        # a removed household leaves the pages at the next run
        d.rm("H01")
        page_of(ctx, dm, "--dir", folder)
        check_group_page(d, "C1", open(os.path.join(
            folder, "community-C1.html"), encoding="utf-8").read(),
            "after a removal")
        # a community whose households all left loses its page and tile,
        # and a temporary file an interrupted run left goes too
        for h in [h for h, v in d.live.items() if v[0] == "C2"]:
            d.rm(h)
        stale = os.path.join(folder, "community-C2.html.tmp.abcdef")
        open(stale, "w").close()
        open(os.path.join(folder, "notes.txt"), "w").close()
        page_of(ctx, dm, "--dir", folder)
        names = sorted(os.listdir(folder))
        check(names == ["community-C1.html", "index.html", "notes.txt"],
              "after C2 emptied, --dir leaves %s" % names)
        check_overview_page(d, open(os.path.join(folder, "index.html"),
                                    encoding="utf-8").read(), "C2 gone")
        # usage errors and daemon errors
        expect_status(ctl(ctx, *(sock(dm) + ["map", "--bogus"])), 2,
                      "unknown option")
        expect_status(ctl(ctx, *(sock(dm) + ["map", "--dir", folder,
                                             "--community", "C1"])), 2,
                      "--dir with --community")
        expect_status(ctl(ctx, *(sock(dm) + ["map", "--rule", "nope"])), 1,
                      "unknown rule")
        c.close()
        dm.stop()


@store_neutral
def test_map_browser(ctx):
    """Headless Chromium draws a community's page: the pixel at the centre
    of each household's square has its class's colour; and the overview
    shows every class's colour in its bars."""
    with daemon(ctx) as dm:
        c = dm.client()
        d = District(c)
        for i, cls in enumerate(["red", "blue", "orange", "yellow", "none",
                                 "orange", "red", "yellow", "none", "blue"]):
            d.up("H%02d" % i, {"red": RED, "blue": BLUE, "orange": ORANGE,
                               "yellow": YELLOW, "none": {}}[cls], "C1", "G1")
        d.up("H50", YELLOW, "C2", "G2")
        folder = os.path.join(ctx.tmp, "map")
        page_of(ctx, dm, "--dir", folder)
        c.close()
        dm.stop()
    html = os.path.join(folder, "community-C1.html")
    page = Page(open(html, encoding="utf-8").read())
    squares = [(int(s["x"]), int(s["y"]), rgb(COLORS[s["data-class"]]))
               for s in page.all("rect", "data-id")]
    check(len(squares) == 10, "ten squares: %s" % squares)
    png = render(html, os.path.join(ctx.tmp, "c1.png"), 900, 700, ctx.tmp)
    origin = find_origin(png, squares, 14)
    check(origin is not None, "no place on the screenshot shows the ten "
          "squares in their classes' colours")
    ox, oy = origin
    for (x, y, col), s in zip(squares, page.all("rect", "data-id")):
        got = pixel(png, ox + x + 7, oy + y + 7)
        check(near(got, col), "%s at (%d, %d): %s, expected %s"
              % (s["data-id"], ox + x + 7, oy + y + 7, got, col))
    # the overview: every class present in the district shows its colour
    png = render(os.path.join(folder, "index.html"),
                 os.path.join(ctx.tmp, "index.png"), 900, 500, ctx.tmp)
    width, height, ch, rows = png
    seen = {k: 0 for k in CLASSES}
    for y in range(0, height, 2):
        for x in range(0, width, 2):
            p = pixel(png, x, y)
            for k in CLASSES:
                if near(p, rgb(COLORS[k]), 3):
                    seen[k] += 1
    check(all(v >= 20 for v in seen.values()), "the overview shows every "
          "class's colour: pixels seen %s" % seen)


@store_neutral
def test_map_large_community(ctx):
    """5,000 households in one community under the default
    max_output_bytes: the daemon answers in several pages, zhilictl joins
    them, and the page keeps under 2 MB with every square on it."""
    with daemon(ctx, limits={"max_output_bytes": 1048576}) as dm:
        lines = []
        for i in range(5000):
            a = ({"key_person": True} if i % 10 == 0 else
                 {"age": 72} if i % 3 == 0 else {"age": 30})
            lines.append(json.dumps({
                "type": "household.upsert", "id": "b%d" % i, "ts": 1767196800 + i,
                "household": "H%05d" % i, "community": "CBIG",
                "grid": "G%02d" % (i % 12), "attrs": a}))
        expect_status(ctl(ctx, *(sock(dm) + ["push", "-"]),
                          input="\n".join(lines) + "\n"), 0, "push 5,000")
        c = dm.client()
        _, items, pages = map_all(c, group="CBIG")
        check(len(items) == 5000 and len(pages) > 1,
              "5,000 households in %d pages: %d" % (len(pages), len(items)))
        c.close()
        out = os.path.join(ctx.tmp, "big.html")
        page_of(ctx, dm, "--community", "CBIG", "-o", out)
        size = os.path.getsize(out)
        page = Page(open(out, encoding="utf-8").read())
        squares = page.all("rect", "data-id")
        check(len(squares) == 5000 and size < 2 * 1024 * 1024,
              "the page holds %d squares in %d bytes" % (len(squares), size))
        check(len(page.all("section", "data-grid")) == 12, "twelve panels")
        dm.stop()
