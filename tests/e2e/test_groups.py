"""Grids and communities (zhilid.rules(5), rules/grid.yaml and
rules/community.yaml): live counts of households per grid and per
community, in all and by four-colour class, after upserts, class changes,
moves between grids and communities, removal and re-upsert, across a
kill -9 restart, with resent ids counted once; `get` of a group kind;
grid.staff, community.profile and the staffing alerts; grid.review; bad
input for every new event."""

from harness import (T0, Seq, check, cmd, event, expect_error, pipeline,
                     expect_ok, four_color, get, remove,
                     short, upsert)
from rulesets import (daemon, expect_keys, pick, send, check_rule_alert,
                      shipped_rules)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True

CLASSES = ("red", "blue", "orange", "yellow", "none")


class Model:
    """What the counts should be: each live household's grid, community and
    class, from the attributes pushed (merged as the daemon merges)."""

    def __init__(self):
        self.live = {}      # household -> (community, grid, attrs)
        self.named = {"grid": set(), "community": set()}

    def upsert(self, h, attrs, community, grid, fresh=False):
        old = {} if fresh or h not in self.live else self.live[h][2]
        merged = dict(old)
        merged.update(attrs)
        self.live[h] = (community, grid, merged)
        self.named["grid"].add(grid)
        self.named["community"].add(community)

    def remove(self, h):
        del self.live[h]

    def counts(self, kind, gid):
        want = {"households": 0}
        want.update({c: 0 for c in CLASSES})
        for community, grid, attrs in self.live.values():
            if (grid if kind == "grid" else community) != gid:
                continue
            want["households"] += 1
            want[four_color(attrs)] += 1
        return want


def counts_of(c, kind, gid):
    r = c.request(get(gid, kind=kind))
    expect_ok(r, "get %s %s" % (kind, gid))
    e = r["entity"]
    check(e["kind"] == kind and e["id"] == gid, "get %s %s answered %s"
          % (kind, gid, short(e)))
    return {k: e["attrs"][k] for k in ("households",) + CLASSES}, e


def check_model(c, m, what):
    for kind in ("grid", "community"):
        for gid in sorted(m.named[kind]):
            got, _ = counts_of(c, kind, gid)
            want = m.counts(kind, gid)
            check(got == want, "%s: %s %s counts %s, expected %s"
                  % (what, kind, gid, got, want))


RED = {"key_person": True}
BLUE = {"dispute_open": True}
ORANGE = {"age": 85, "lives_alone": True}
YELLOW = {"age": 72}


def test_group_counts(ctx):
    with daemon(ctx) as d:
        c = d.client()
        m = Model()
        seq = Seq()

        def up(h, attrs, community="C1", grid="G1", fresh=False, id=None):
            e, ts = seq.next()
            send(c, upsert(h, attrs, id=id or e, ts=ts, community=community,
                           grid=grid))
            m.upsert(h, attrs, community, grid, fresh)
            return e

        def rm(h):
            e, ts = seq.next()
            send(c, remove(h, id=e, ts=ts))
            m.remove(h)

        # a never-named grid or community is unknown
        expect_error(c.request(get("G1", kind="grid")), "unknown_entity",
                     "get of a grid nothing named")
        expect_error(c.request(get("C1", kind="community")),
                     "unknown_entity", "get of a community nothing named")
        up("H1", RED)
        up("H2", {})
        up("H3", YELLOW, grid="G2")
        up("H4", BLUE, community="C2", grid="G3")
        check_model(c, m, "after four upserts")
        _, g1 = counts_of(c, "grid", "G1")
        check(g1.get("community") == "C1", "grid G1 takes its households' "
              "community: %s" % short(g1))
        # class changes: red -> none (attrs merge), none -> orange
        up("H1", {"key_person": False})
        up("H2", ORANGE)
        check_model(c, m, "after class changes")
        # moves: to another grid of the same community, to another
        # community, and a move with a class change at once
        up("H3", {}, grid="G1")
        up("H2", {}, community="C2", grid="G3")
        up("H1", RED, community="C2", grid="G2")
        check_model(c, m, "after moves")
        # a resent event is not counted twice
        e = up("H5", BLUE, grid="G2")
        r = expect_ok(c.request(upsert("H5", BLUE, id=e, ts=seq.ts,
                                             community="C1", grid="G2")))
        check(r.get("duplicate") is True, "a resent id is a duplicate: %s"
              % short(r))
        check_model(c, m, "after a resent upsert")
        # kill -9 in the middle: counts survive and go on right
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        check_model(c, m, "after kill -9")
        rm("H2")
        rm("H4")
        check_model(c, m, "after removals")
        # C2's G3 lost all its households: zero counts, still known
        got, _ = counts_of(c, "grid", "G3")
        check(got["households"] == 0, "an emptied grid answers zero: %s"
              % got)
        # a removed household's resent removal is a duplicate, a second
        # one unknown_entity; a re-upsert starts afresh in its new grid
        expect_error(c.request(remove("H2", id="again", ts=seq.ts + 1)),
                     "unknown_entity", "removing a removed household")
        up("H2", YELLOW, community="C1", grid="G2", fresh=True)
        check_model(c, m, "after a re-upsert")
        c.close()
        d.stop()
        d.start()
        c = d.client()
        check_model(c, m, "after a clean restart")
        # many households, pipelined in one batch, through every grid
        for i in range(60):
            attrs = (RED, BLUE, ORANGE, YELLOW, {})[i % 5]
            up("M%d" % i, attrs, community="C%d" % (i % 3),
               grid="G%d" % (i % 7))
        for i in range(0, 60, 4):
            up("M%d" % i, {}, community="C%d" % ((i + 1) % 3),
               grid="G%d" % ((i + 2) % 7))
        for i in range(0, 60, 9):
            rm("M%d" % i)
        check_model(c, m, "after 60 more")


def test_staff_and_profile(ctx):
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        bad = [
            (event("community.profile", community="C1", residents=-1,
                   workers=3), "residents"),
            (event("community.profile", community="C1", residents=10,
                   workers=-2), "workers"),
            (event("community.profile", community="C1", residents="10",
                   workers=2), "residents"),
            (event("community.profile", community="C1", workers=2),
             "residents"),
            (event("grid.staff", grid="G1", community="C1", leader="L1",
                   members=101), "members"),
            (event("grid.staff", grid="G1", community="C1", leader="L1",
                   members=-1), "members"),
            (event("grid.staff", grid="G1", community="C1", leader=7,
                   members=4), "leader"),
            (event("grid.staff", grid="G1", community="C1", leader="L1"),
             "members"),
        ]
        for ev, field in bad:
            expect_error(c.request(ev), "bad_event", "bad %s" % field,
                         mentions=field)
        # nothing of them was applied
        expect_error(c.request(get("C1", kind="community")),
                     "unknown_entity", "after bad profiles")
        expect_error(c.request(get("G1", kind="grid")), "unknown_entity",
                     "after bad staff records")
        e, ts = seq.next()
        send(c, event("grid.staff", id=e, ts=ts, grid="G1", community="C1",
                      leader="L7", members=4))
        _, g = counts_of(c, "grid", "G1")
        check(g["attrs"]["leader"] == "L7" and g["attrs"]["members"] == 4
              and g["community"] == "C1" and g["attrs"]["households"] == 0,
              "grid.staff recorded: %s" % short(g))
        e, ts = seq.next()
        al = send(c, event("community.profile", id=e, ts=ts, community="C1",
                           residents=10001, workers=18))
        check_rule_alert(pick(al, "community.staffing", "C1"),
                         "community.staffing", "warning", "community", "C1",
                         data={"from": "ok", "to": "understaffed",
                               "residents": 10001, "workers": 18,
                               "required": 19}, event=e)
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        e, ts = seq.next()
        al = send(c, event("community.profile", id=e, ts=ts, community="C1",
                           residents=10000, workers=18))
        check_rule_alert(pick(al, "community.staffing", "C1"),
                         "community.staffing", "info", "community", "C1",
                         data={"from": "understaffed", "to": "ok",
                               "residents": 10000, "workers": 18,
                               "required": 18}, event=e)
        # a profile replaces the one before; a household keeps counting
        e, ts = seq.next()
        send(c, upsert("H1", {}, id=e, ts=ts, community="C1", grid="G1"))
        counts, cm = counts_of(c, "community", "C1")
        check(counts["households"] == 1 and cm["attrs"]["residents"] ==
              10000 and cm["classes"]["community.staffing"] == "ok",
              "community C1: %s" % short(cm))


def test_counts_rebuilt(ctx):
    """The counts are an index of the households' stored records: a count
    rule added by a reload to a database that already has households counts
    them, a reload that changes nothing keeps them, and a kill -9 rebuilds
    them from what was acknowledged."""
    import os
    with daemon(ctx, rules=[os.path.join(ctx.root, "rules",
                                         "four_color.yaml")]) as d:
        c = d.client()
        m = Model()
        seq = Seq()

        def up(h, attrs, community, grid):
            e, ts = seq.next()
            send(c, upsert(h, attrs, id=e, ts=ts, community=community,
                           grid=grid))
            m.upsert(h, attrs, community, grid)

        for i in range(12):
            up("H%d" % i, (RED, BLUE, ORANGE, YELLOW, {})[i % 5],
               "C%d" % (i % 2), "G%d" % (i % 3))
        e, ts = seq.next()
        send(c, remove("H4", id=e, ts=ts))
        m.remove("H4")
        expect_error(c.request(get("G1", kind="grid")),
                     "bad_event", "no kind grid before the reload")
        d.rules = shipped_rules(ctx)
        d.write_config()
        expect_ok(c.request(cmd("reload")), "reload with grid and community")
        check_model(c, m, "after a reload that adds the count rules")
        expect_ok(c.request(cmd("reload")), "a reload that changes nothing")
        check_model(c, m, "after a reload that changes nothing")
        up("H20", RED, "C1", "G9")
        up("H0", {}, "C1", "G2")
        check_model(c, m, "after events under the new rules")
        # G9 was created by its first household; its record survives
        c.close()
        d.drain_notify()    # the reloads' READY=1 is not the next start's
        d.kill9()
        d.start()
        c = d.client()
        check_model(c, m, "after kill -9")


def review(c, seq, community=None):
    """A grid.review through the socket: its alerts as
    {(grid, alert): data}, after checking they come in grid id order."""
    e, ts = seq.next()
    fields = {"community": community} if community is not None else {}
    al = send(c, event("grid.review", id=e, ts=ts, **fields))
    grids = [a["entity"] for a in al]
    check(grids == sorted(grids), "review alerts in grid id order: %s"
          % grids)
    out = {}
    for a in al:
        sev = {"grid.undersized": "info", "grid.oversized": "warning",
               "grid.staffing": "warning"}.get(a["rule"])
        check(a["kind"] == "grid" and a["severity"] == sev and
              a["event"] == e, "a review alert: %s" % short(a))
        out[(a["entity"], a["rule"][5:])] = a["data"]
    return out


def test_grid_review(ctx):
    """grid.review through the socket: 299, 300, 500 and 501 real
    households, staffing, a review without community and of an unknown
    one, the same answers after kill -9, and bad input."""
    with daemon(ctx) as d:
        c = d.client()
        seq = Seq()
        for bad, field in ((event("grid.review", community=7), "community"),
                           (event("grid.review", community=["C1"]),
                            "community"),
                           (event("grid.review", grid="G1"), "grid")):
            expect_error(c.request(bad), "bad_event", "bad grid.review",
                         mentions=field)
        sizes = {"G299": 299, "G300": 300, "G500": 500, "G501": 501}
        staff = {"G299": ("L1", 3), "G300": ("L2", 5), "G500": ("", 4),
                 "G501": ("L4", 6)}
        for g, (leader, members) in staff.items():
            e, ts = seq.next()
            send(c, event("grid.staff", id=e, ts=ts, grid=g, community="C1",
                          leader=leader, members=members))
        evs = []
        for g, n in sizes.items():
            for i in range(n):
                e, ts = seq.next()
                evs.append(upsert("%s-%d" % (g, i), {}, id=e, ts=ts,
                                  community="C1", grid=g))
        for r in pipeline(c, evs):
            expect_ok(r, "a household of the review")
        # G7 in C2: households, no staff record
        e, ts = seq.next()
        send(c, upsert("H7", RED, id=e, ts=ts, community="C2", grid="G7"))
        want_c1 = {
            ("G299", "undersized"): {"households": 299},
            ("G500", "staffing"): {"leader": "", "members": 4},
            ("G501", "oversized"): {"households": 501},
            ("G501", "staffing"): {"leader": "L4", "members": 6},
        }
        want_c2 = {("G7", "undersized"): {"households": 1},
                   ("G7", "staffing"): {"leader": None, "members": 0}}
        got = review(c, seq, "C1")
        check(got == want_c1, "review of C1: %s" % got)
        all_ = dict(want_c1)
        all_.update(want_c2)
        check(review(c, seq) == all_, "review of every grid")
        check(review(c, seq, "C9") == {}, "an unknown community")
        c.close()
        d.kill9()
        d.start()
        c = d.client()
        check(review(c, seq, "C1") == want_c1, "after kill -9: C1")
        check(review(c, seq, "C2") == want_c2, "after kill -9: C2")
        check(review(c, seq) == all_, "after kill -9: every grid")
        # one household from G501 to G299: 500 and 300, nothing to say
        e, ts = seq.next()
        send(c, upsert("G501-0", {}, id=e, ts=ts, community="C1",
                       grid="G299"))
        e, ts = seq.next()
        send(c, event("grid.staff", id=e, ts=ts, grid="G501",
                      community="C1", leader="L4", members=5))
        e, ts = seq.next()
        send(c, event("grid.staff", id=e, ts=ts, grid="G500",
                      community="C1", leader="L3", members=4))
        check(review(c, seq, "C1") == {}, "C1 all in bounds")
