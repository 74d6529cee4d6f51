"""subscribe: {"ok":true}, then one {"alert":ALERT} line for every alert
committed after the subscription, in order; a subscriber that does not read
is cut off and the alerts stay readable through `alerts`."""

import time

from harness import (PING, T0, Daemon, all_alerts, check, check_alert,
                     expect_event_ok, expect_ok, parse_response, short,
                     upsert)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def read_alerts(sub, n, timeout=10):
    out = []
    for i in range(n):
        r = sub.recv(timeout=timeout)
        check(set(r) == {"alert"}, "subscriber line %d is not "
              "{\"alert\":...}: %s" % (i, short(r)))
        out.append(check_alert(r["alert"]))
    return out


def test_subscribe_in_order(ctx):
    with Daemon(ctx) as d:
        pub = d.client()
        # An alert before the subscription is not sent.
        r = expect_event_ok(pub.request(upsert("EARLY", {"key_person": True},
                                               id="early", ts=T0)))
        early = r["alerts"]
        sub = d.client()
        expect_ok(sub.request({"cmd": "subscribe"}), "subscribe")
        sub2 = d.client()
        expect_ok(sub2.request({"cmd": "subscribe"}), "second subscriber")
        sent = []
        for i in range(60):
            # Each household flips between red and another class.
            attrs = {"mental_risk": (i // 6) % 2 == 0,
                     ["age", "dispute_open", "low_income"][i % 3]:
                     [80, True, True][i % 3]}
            r = expect_event_ok(pub.request(upsert(
                "SUB-%d" % (i % 6), attrs, id="sub-%d" % i, ts=T0 + 1 + i)))
            sent.extend(r["alerts"])
        check(len(sent) >= 40, "the test should raise alerts")
        got = read_alerts(sub, len(sent))
        check(got == sent, "subscriber's alerts differ from the event "
              "responses: first %s vs %s" % (short(got[:2]), short(sent[:2])))
        got2 = read_alerts(sub2, len(sent))
        check(got2 == sent, "second subscriber's alerts differ")
        ids = [a["id"] for a in got]
        check(ids == sorted(ids), "alerts not in id order")
        check(early[0]["id"] not in ids, "alert committed before subscribe "
              "was sent")
        sub.no_response(0.3)
        # Events raising no alert send nothing.
        expect_event_ok(pub.request(upsert("QUIET", {"age": 5}, id="quiet",
                                           ts=T0 + 100)))
        sub.no_response(0.3)
        check(all_alerts(pub) == early + sent, "alerts command")


def test_subscribe_many_publishers(ctx):
    """Alerts of concurrent publishers reach the subscriber in id order."""
    import threading
    with Daemon(ctx) as d:
        sub = d.client()
        expect_ok(sub.request({"cmd": "subscribe"}))
        pubs = [d.client(timeout=30) for _ in range(4)]
        per = 200
        results = [[] for _ in pubs]

        def run(k):
            objs = [upsert("MP-%d-%d" % (k, i), {"mental_risk": True},
                           id="mp-%d-%d" % (k, i), ts=T0 + i)
                    for i in range(per)]
            from harness import pipeline
            results[k] = pipeline(pubs[k], objs)
        ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        got = read_alerts(sub, 4 * per, timeout=30)
        for t in ts:
            t.join(30)
        ids = [a["id"] for a in got]
        check(ids == sorted(ids) and len(set(ids)) == len(ids),
              "subscriber's alert ids not strictly ascending")
        acked = sorted(a["id"] for rs in results for r in rs
                       for a in r["alerts"])
        check(acked == ids, "subscriber saw %d alerts, publishers %d"
              % (len(ids), len(acked)))


def test_slow_subscriber_cut_off(ctx):
    lim = 16384
    n = 6000
    with Daemon(ctx, limits={"max_output_bytes": lim}) as d:
        sub = d.client(timeout=30)
        expect_ok(sub.request({"cmd": "subscribe"}))
        pub = d.client(timeout=60)
        objs = [upsert("SL-%d" % i, {"key_person": True}, id="sl-%d" % i,
                       ts=T0 + i) for i in range(n)]
        from harness import pipeline
        t0 = time.monotonic()
        rs = pipeline(pub, objs)
        for r in rs:
            expect_event_ok(r)
        check(time.monotonic() - t0 < 60, "publisher was held up by a "
              "subscriber that does not read")
        # The subscriber gets a prefix of the alerts, in order, then EOF.
        data = sub.expect_eof(timeout=20)
        lines = [l for l in data.split(b"\n") if l]
        check(len(lines) < n, "the subscriber that read nothing was sent all "
              "%d alerts (max_output_bytes %d); expected a disconnect"
              % (n, lim))
        sent = [a for r in rs for a in r["alerts"]]
        for i, l in enumerate(lines):
            if i == len(lines) - 1 and not data.endswith(b"\n"):
                break
            r = parse_response(l)
            check(r.get("alert") == sent[i], "subscriber line %d: %s" %
                  (i, short(r)))
        check(len(all_alerts(pub)) == n, "alerts stay readable")
        expect_ok(pub.request(PING))
        d.check_alive()
    text = d.stderr_text()
    check("subscri" in text.lower() or "slow" in text.lower() or
          "disconnect" in text.lower(), "no log line about the subscriber "
          "that was disconnected:\n%s" % text[-1000:])
