"""Time (zhilid(8), "Time"): clock.tick under the event clock, and the
default ts (now) of an event without one."""

import time

from harness import (T0, Daemon, check, expect_event_ok, parse_ts, short,
                     upsert)


def test_clock_tick(ctx):
    with Daemon(ctx, clock="event") as d:
        c = d.client()
        r = expect_event_ok(c.request({"type": "clock.tick", "ts": T0}),
                            "clock.tick")
        check(r["alerts"] == [], "clock.tick with no timers: %s" % short(r))
        r2 = expect_event_ok(c.request({"type": "clock.tick",
                                        "ts": T0 + 86400 * 400}))
        check(r2["seq"] > r["seq"], "seq")
        # An event older than the clock is still accepted and stamped with
        # its own ts.
        r = expect_event_ok(c.request(upsert("OLD", {"key_person": True},
                                             id="old", ts=T0 + 5)))
        check(parse_ts(r["alerts"][0]["ts"]) == T0 + 5, "alert ts: %s"
              % short(r))
        from harness import expect_error
        expect_error(c.request({"type": "clock.tick"}), "bad_event",
                     "clock.tick without ts")
        expect_error(c.request({"type": "clock.tick", "ts": -5}),
                     "bad_event", "clock.tick with ts -5")


def test_default_ts_is_now(ctx):
    # Under clock: event, "now" is the event clock; only wall is checked.
    for clock in ("wall",):
        with Daemon(ctx, clock=clock, name="z" + clock) as d:
            c = d.client()
            before = time.time()
            r = expect_event_ok(c.request(upsert("NOW", {"mental_risk":
                                                         True}, id="now")))
            after = time.time()
            ts = parse_ts(r["alerts"][0]["ts"])
            check(int(before) - 1 <= ts <= after + 1, "clock %s: event "
                  "without ts got alert ts %s, expected about now"
                  % (clock, r["alerts"][0]["ts"]))
