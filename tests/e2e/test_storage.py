"""The database at start: schema applied and recorded; a database from a
newer zhilid, one that is not zhilid's, and one that is not SQLite at all
are refused with a clear error and exit 1; state survives a clean restart
under the writer thread.  PostgreSQL's migrations (schema/pg/) mirror
SQLite's one for one."""
import glob
import os
import sqlite3
import subprocess

from harness import (Daemon, check, expect_ok, expect_event_ok, upsert,
                     get, sqlite_only, store, STATS)

# run against SQLite and, in a second pass, PostgreSQL (run.py --store)
BOTH_STORES = True


def start_fails(ctx, d, mention):
    """Start d on its config; it must exit 1 and say mention."""
    p = subprocess.run([ctx.zhilid, "-c", d.conf_path], capture_output=True,
                       timeout=30, cwd=ctx.tmp)
    err = (p.stdout + p.stderr).decode("utf-8", "replace")
    check(p.returncode == 1, "exit %d, want 1: %s" % (p.returncode, err))
    check(mention in err, "stderr lacks %r: %s" % (mention, err))


def migrations(ctx, *sub):
    return sorted(os.path.basename(f) for f in glob.glob(
        os.path.join(ctx.root, "schema", *sub, "[0-9]*.sql")))


def test_schema_recorded(ctx):
    with Daemon(ctx) as d:
        expect_ok(d.client().request(STATS))
    rows = d.sql("SELECT version, name FROM schema_version ORDER BY version")
    names = migrations(ctx)
    check(rows == [(str(int(n.split("-")[0])), n[:-4]) for n in names],
          "schema_version rows: %r, want %r" % (rows, names))
    if store() != "sqlite":
        return
    db = sqlite3.connect(d.db_path)
    appid = db.execute("PRAGMA application_id").fetchone()[0]
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    check(appid == 0x5a48494c, "application_id %#x" % appid)
    check(mode == "wal", "journal_mode %s" % mode)


def test_postgresql_migrations_mirror(ctx):
    """Every step of schema/ has its PostgreSQL twin in schema/pg/, under
    the same name, and no other."""
    check(migrations(ctx) == migrations(ctx, "pg"),
          "schema/ %r, schema/pg/ %r" % (migrations(ctx),
                                         migrations(ctx, "pg")))


def test_newer_schema_refused(ctx):
    d = Daemon(ctx)
    d.start()
    d.stop()
    d.sql("INSERT INTO schema_version VALUES (99, '099-future', 0)")
    start_fails(ctx, d, "newer than this zhilid supports")


def test_foreign_database_refused(ctx):
    d = Daemon(ctx)
    d.sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    d.sql("INSERT INTO invoices VALUES (1, 9.5)")
    start_fails(ctx, d, "not a zhilid database")
    check(d.sql("SELECT count(*) FROM invoices") == [("1",)],
          "the foreign database was changed")


@sqlite_only
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
