"""The database at start: schema applied and recorded; a database from a
newer zhilid, one that is not zhilid's, and one that is not SQLite at all
are refused with a clear error and exit 1; state survives a clean restart
under the writer thread."""
import glob
import os
import sqlite3
import subprocess

from harness import (Daemon, check, expect_ok, expect_event_ok, upsert,
                     get, STATS)


def start_fails(ctx, d, mention):
    """Start d on its config; it must exit 1 and say mention."""
    p = subprocess.run([ctx.zhilid, "-c", d.conf_path], capture_output=True,
                       timeout=30, cwd=ctx.tmp)
    err = (p.stdout + p.stderr).decode("utf-8", "replace")
    check(p.returncode == 1, "exit %d, want 1: %s" % (p.returncode, err))
    check(mention in err, "stderr lacks %r: %s" % (mention, err))


def test_schema_recorded(ctx):
    with Daemon(ctx) as d:
        expect_ok(d.client().request(STATS))
    db = sqlite3.connect(d.db_path)
    versions = [r[0] for r in db.execute("SELECT version FROM schema_version")]
    appid = db.execute("PRAGMA application_id").fetchone()[0]
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    want = sorted(int(os.path.basename(f).split("-")[0]) for f in
                  glob.glob(os.path.join(ctx.root, "schema", "[0-9]*.sql")))
    check(versions == want, "schema_version rows: %r, want %r"
          % (versions, want))
    check(appid == 0x5a48494c, "application_id %#x" % appid)
    check(mode == "wal", "journal_mode %s" % mode)


def test_newer_schema_refused(ctx):
    d = Daemon(ctx)
    d.start()
    d.stop()
    db = sqlite3.connect(d.db_path)
    db.execute("INSERT INTO schema_version VALUES (99, '099-future', 0)")
    db.commit()
    db.close()
    start_fails(ctx, d, "newer than this zhilid supports")


def test_foreign_database_refused(ctx):
    d = Daemon(ctx)
    db = sqlite3.connect(d.db_path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.execute("INSERT INTO invoices VALUES (1, 9.5)")
    db.commit()
    db.close()
    start_fails(ctx, d, "not a zhilid database")
    db = sqlite3.connect(d.db_path)
    n = db.execute("SELECT count(*) FROM invoices").fetchone()[0]
    db.close()
    check(n == 1, "the foreign database was changed")


def test_garbage_file_refused(ctx):
    d = Daemon(ctx)
    with open(d.db_path, "wb") as f:
        f.write(b"this is not a database\n" * 200)
    start_fails(ctx, d, "database:")


def test_state_survives_restart(ctx):
    """Many small batches through the writer thread, a clean stop, a
    restart: every household and alert is there, counters continue."""
    with Daemon(ctx) as d:
        c = d.client()
        last = 0
        for i in range(300):
            r = c.request(upsert("H%d" % i, {"age": 60 + i % 30,
                                             "lives_alone": i % 2 == 0},
                                 id="s-%d" % i, ts=1767196800 + i))
            expect_event_ok(r)
            check(r["seq"] == last + 1, "seq %d after %d" % (r["seq"], last))
            last = r["seq"]
        d.stop()
        d.start()
        c = d.client()
        r = c.request(get("H299"))
        expect_ok(r)
        check(r["entity"]["attrs"]["age"] == 60 + 299 % 30, "H299 attrs")
        r = c.request(upsert("H999", {"age": 1}, id="s-new"))
        expect_event_ok(r)
        check(r["seq"] == last + 1, "seq after restart %d, want %d"
              % (r["seq"], last + 1))
        r = c.request(upsert("H0", {"age": 1}, id="s-0"))
        check(r.get("duplicate") is True and r["seq"] == 1,
              "a resend after restart: %r" % r)
