"""Storage faults: when a commit fails, the events of its batch (and of
every batch built on it) are answered `unavailable`, nothing of them is
kept, reads go on working, and commits resume by themselves.  The fault is
injected through the database itself: a trigger that aborts the insert of
any event whose id starts with "fail-"."""
import sqlite3

from harness import (Daemon, check, expect_ok, expect_error, upsert, get,
                     all_alerts, pipeline, STATS)

TRIGGER = ("CREATE TRIGGER inject BEFORE INSERT ON events "
           "WHEN NEW.eid LIKE 'fail-%' "
           "BEGIN SELECT RAISE(ABORT, 'injected fault'); END")


def prepared(ctx):
    d = Daemon(ctx)
    d.start()
    d.stop()
    db = sqlite3.connect(d.db_path)
    db.execute(TRIGGER)
    db.commit()
    db.close()
    d.start()
    return d


def test_failed_commit_applies_nothing(ctx):
    d = prepared(ctx)
    try:
        c = d.client()
        # one write: the failing event shares a batch with its neighbours
        lines = [upsert("H%d" % i, {"key_person": True}, id="ok-%d" % i,
                        ts=1767196800 + i) for i in range(50)]
        lines.insert(25, upsert("HX", {"key_person": True}, id="fail-1",
                                ts=1767196900))
        answers = pipeline(c, lines)
        bad = [i for i, r in enumerate(answers) if not r.get("ok")]
        check(25 in bad, "the injected fault was answered %r" % answers[25])
        for i in bad:
            expect_error(answers[i], "unavailable")
        # reads work; what was refused is not there, what was acked is
        expect_ok(c.request(STATS))
        for i, r in enumerate(answers):
            hid = lines[i]["household"]
            g = c.request(get(hid))
            if r.get("ok"):
                expect_ok(g, "acked %s" % hid)
            else:
                expect_error(g, "unknown_entity", "refused %s" % hid)
        # commits resume by themselves; resending is safe
        again = pipeline(c, [l for l in lines if l["id"] != "fail-1"])
        seqs = []
        for r in again:
            expect_ok(r)
            seqs.append(r["seq"])
        check(sorted(set(seqs)) == sorted(seqs), "seqs repeat: %r" % seqs)
        alerts = all_alerts(c)
        ents = [a["entity"] for a in alerts]
        check(sorted(ents) == sorted("H%d" % i for i in range(50)),
              "alerts after recovery: %r" % ents)
        # seq continues without a hole from what was committed
        top = max(seqs)
        r = c.request(upsert("HZ", {"age": 1}, id="after"))
        expect_ok(r)
        check(r["seq"] == top + 1, "seq %d after %d" % (r["seq"], top))
        st = c.request(STATS)["stats"]
        check(st["commit_failures"] >= 1, "commit_failures %r" % st)
    finally:
        d.stop()


def test_fault_then_state_rebuilt(ctx):
    """An entity changed by a refused batch keeps its committed state."""
    d = prepared(ctx)
    try:
        c = d.client()
        expect_ok(c.request(upsert("H1", {"age": 85, "lives_alone": True},
                                   id="a-1", ts=1767196800)))
        r = pipeline(c, [
            upsert("H1", {"key_person": True}, id="a-2", ts=1767196801),
            upsert("H9", {"age": 1}, id="fail-2", ts=1767196802),
        ])
        check(not r[1].get("ok"), "fault answered %r" % r[1])
        g = c.request(get("H1"))
        expect_ok(g)
        if r[0].get("ok"):
            want = "red"
        else:
            want = "orange"
        check(g["entity"]["classes"]["four_color"] == want,
              "H1 is %s, want %s (first answer %r)"
              % (g["entity"]["classes"]["four_color"], want, r[0]))
    finally:
        d.stop()


def test_disk_full_on_a_small_file_system(ctx):
    """A real full disk: the database on a 4 MiB tmpfs.  Once it is full,
    events are answered unavailable (never ok), reads still work, the
    daemon stays up; when space is freed, commits resume by themselves and
    every acknowledged event is there.  Needs root to mount (CI is);
    passes with a note otherwise."""
    import os
    import subprocess
    mnt = os.path.join(ctx.tmp, "small")
    os.makedirs(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs",
                       mnt], capture_output=True).returncode != 0:
        print("    (cannot mount a tmpfs here: nothing to test)")
        return
    try:
        d = Daemon(ctx, db_path=os.path.join(mnt, "z.db"))
        d.start()
        try:
            c = d.client(timeout=30)
            # fill the rest of the file system with a file we can delete
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            acked, refused = [], 0
            big = {"age": 70}
            for i in range(400):
                r = c.request(upsert("D%d" % i, big, id="d-%d" % i,
                                     ts=1767196800 + i,
                                     community="C" * 1000))
                if r.get("ok") is True:
                    acked.append("d-%d" % i)
                else:
                    check(r["error"]["code"] == "unavailable",
                          "a full disk answers unavailable: %r" % r)
                    refused += 1
            check(refused > 0, "the disk never filled (%d acked)"
                  % len(acked))
            d.check_alive()
            expect_ok(c.request(STATS), "reads work on a full disk")
            os.unlink(filler)
            # commits resume by themselves
            ok = False
            for i in range(50):
                r = c.request(upsert("E%d" % i, big, id="e-%d" % i,
                                     ts=1767197800 + i))
                if r.get("ok") is True:
                    ok = True
                    break
            check(ok, "commits did not resume once space was freed")
            for eid in acked[:20] + acked[-20:]:
                r = c.request(upsert("X", big, id=eid, ts=1767196800))
                check(r.get("duplicate") is True,
                      "acknowledged %s lost: %r" % (eid, r))
            d.stop()
        finally:
            d.kill9()
    finally:
        subprocess.run(["umount", "-l", mnt])
