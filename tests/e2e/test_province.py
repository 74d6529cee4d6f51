"""One daemon per district (zhilid(8) "One daemon per district"): two
daemons, two schemas of one PostgreSQL cluster (search_path in each
connection string), households pushed to each; contrib/postgres/
province.sql's function makes the province's views over both schemas, and
they return each district's household colours and open alerts, whose sums
are the province's; an acknowledged alert and a silenced one are not
open."""

import os
import time

from harness import T0, Daemon, check, cmd, expect_event_ok, expect_ok, \
    four_color, upsert
import pgcluster

TIMEOUT = 120

PEOPLE = [
    {"key_person": True},                       # red
    {"petition_active": True},                  # blue
    {"age": 85, "lives_alone": True},           # orange
    {"age": 72},                                # yellow
    {"age": 30},                                # none
]


def district(ctx, cluster, schema):
    return Daemon(ctx, name=schema, conf_extra='database: "%s"\n'
                  % cluster.conninfo(schema).replace('"', '\\"')).start()


def table(cluster, sql):
    return [tuple(l.split("|")) for l in cluster.psql(sql).splitlines()
            if l]


def test_province_views_sum_districts(ctx):
    cluster = pgcluster.Cluster().start()
    east = district(ctx, cluster, "d_east")
    west = district(ctx, cluster, "d_west")
    want = {}           # (district, class) -> households
    alerts = {}         # district -> [alert]
    for d, n in ((east, 12), (west, 7)):
        c = d.client()
        alerts[d.name] = []
        for i in range(n):
            attrs = PEOPLE[i % len(PEOPLE)]
            r = expect_event_ok(c.request(upsert("H%d" % i, attrs,
                                                 id="%s-%d" % (d.name, i),
                                                 ts=T0 + i)))
            alerts[d.name].extend(r["alerts"])
            k = (d.name, four_color(attrs))
            want[k] = want.get(k, 0) + 1
        c.close()
    # a removed household is no one's colour
    c = west.client()
    r = expect_event_ok(c.request({"type": "household.remove",
                                   "household": "H6", "id": "west-rm",
                                   "ts": T0 + 99}))
    alerts["d_west"].extend(r["alerts"])
    want[("d_west", four_color(PEOPLE[6 % len(PEOPLE)]))] -= 1
    # one alert acknowledged, one silenced (by a silence made before it)
    expect_ok(c.request(cmd("ack", alert=alerts["d_west"][0]["id"])))
    expect_ok(c.request(cmd("silence", match={"entity": "H9"},
                            until="2099-01-01T00:00:00+08:00")))
    r = expect_event_ok(c.request(upsert("H9", {"age": 90}, id="west-9",
                                         ts=T0 + 100)))
    check(len(r["alerts"]) == 1 and r["alerts"][0]["silenced"],
          "H9's alert is silenced: %s" % r)
    want[("d_west", "yellow")] += 1
    c.close()

    with open(os.path.join(ctx.root, "contrib", "postgres",
                           "province.sql")) as f:
        cluster.psql(f.read())
    n = cluster.psql("SELECT zhilid_province('province')").strip()
    check(n == "2", "districts found: %s" % n)

    got = dict(((d, cls), int(k)) for d, cls, k in table(
        cluster, "SELECT district, class, entities FROM province.classes "
        "WHERE kind = 'household' AND rule = 'four_color'"))
    want = dict((k, v) for k, v in want.items() if v)
    check(got == want, "colours per district: %s, want %s" % (got, want))
    total = dict((cls, int(k)) for cls, k in table(
        cluster, "SELECT class, sum(entities) FROM province.classes "
        "GROUP BY class"))
    for cls in set(c for _, c in want):
        check(total.get(cls) == sum(v for (d, c), v in want.items()
                                    if c == cls), "province %s: %s"
              % (cls, total))

    # every alert raised, less the acknowledged and the silenced one
    opened = dict(((d, rule), int(k)) for d, rule, k in table(
        cluster, "SELECT district, rule, sum(alerts) FROM "
        "province.open_alerts GROUP BY 1, 2"))
    raised = {("d_east", "four_color.changed"): len(alerts["d_east"]),
              ("d_west", "four_color.changed"): len(alerts["d_west"]) - 1}
    check(opened == raised, "open alerts: %s, want %s" % (opened, raised))
    everywhere = table(cluster, "SELECT count(*) FROM province.alerts")
    check(everywhere == [(str(len(alerts["d_east"]) + len(alerts["d_west"])
                              + 1),)], "province.alerts: %s" % everywhere)

    # naming the districts; a schema that is none is refused
    check(cluster.psql("SELECT zhilid_province('p2', ARRAY['d_east'])")
          .strip() == "1", "one district named")
    check(table(cluster, "SELECT count(DISTINCT district) FROM p2.entities")
          == [("1",)], "p2 covers d_east only")
    try:
        cluster.psql("SELECT zhilid_province('p3', ARRAY['public'])")
        check(False, "public was taken for a district")
    except RuntimeError as e:
        check("holds no zhilid database" in str(e), str(e))
    east.stop()
    west.stop()
    cluster.destroy()
