/*
 * SQLite storage, the default backend of store.h.  The database is in WAL mode.  With durability full a
 * job is done only once its commit has reached the disk: the WAL has been
 * synced after it.  Only then does the server acknowledge its events.
 *
 * A writer thread owns one connection and commits jobs in order, those
 * that queued meanwhile in one transaction: the loop thread goes on
 * decoding and evaluating the next batch, and the two cores share the
 * work.  The commits themselves do not wait for the disk (synchronous=
 * NORMAL); a syncer thread syncs the WAL after them, once for all the
 * commits made since its last sync, and only then hands their jobs back.
 * So the writer builds the next transaction while the disk takes the
 * last one, which is where a writer under synchronous=FULL would sit idle
 * (3 ms a commit on this project's machines).  SQLite's recovery keeps a
 * transaction whose frames are all in the WAL with valid checksums, so
 * the guarantee is the one synchronous=FULL gives: every acknowledged
 * event survives power loss.  A WAL that cannot be synced is fatal: what
 * reached the disk is then unknown, and the restart's recovery finds out.
 *
 * A job is a buffer of serialised write operations that the loop thread
 * built (store.c); it holds everything the writer binds, so the threads
 * share no other data.  The loop thread reads through a second
 * connection, which sees committed jobs only; checkpoint.c has a third.
 * Statements are prepared once.  Schema migrations from schema/ are
 * compiled in and applied at open; a database written by a newer zhilid,
 * or one that is not zhilid's, is refused.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "zhilid.h"
#include "conf.h"
#include "store-impl.h"

#define APPLICATION_ID	0x5a48494c	/* "ZHIL" */

struct migration {
	int		 version;
	const char	*name;
	const char	*sql;
};
#include "schema.h"
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

static void	*syncer_main(void *);

enum {
	/* the writer's connection */
	W_BEGIN, W_COMMIT, W_ROLLBACK, W_EVENT, W_ENTITY, W_HISTORY, W_ALERT,
	W_ACK, W_FACT, W_CLOSE, W_MARK_PUT, W_MARK_DEL, W_TIMER_PUT,
	W_TIMER_DEL, W_META, W_SPAN_PUT, W_SPAN_DEL, W_REGROUP,
	W_SILENCE_PUT, W_SILENCE_END, W_OUTPUT_POS, W_OUTPUT_CLEAR,
	W_ENTITY_MOVED,
	/* the event log's templates (evlog.c); retention */
	W_SHAPE, W_PRUNE_SEL, W_PRUNE_DEL, W_PRUNED,
	/* the reader's */
	R_EV_FIND, R_ENT_LOAD, R_HIST, R_ALERTS, R_ALERTS_RULE, R_MAX_SEQ,
	R_MAX_ALERT, R_ENT_COUNT, R_ENT_KEYS, R_ENT_ROWS, R_ID_COUNT, R_IDS, R_FACTS,
	R_CLOSURES, R_MARKS, R_TIMERS, R_META, R_SPANS, R_GROUP,
	R_SILENCES, R_MAX_SILENCE, R_SILENCE_LIST,
	R_OUTPUTS, R_UNSILENCED, NQ
};
#define NW	R_EV_FIND

static const char *const sql_table[NQ] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_EVENT] = "INSERT INTO events (seq, eid, type, ts, body, shape) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/*
	 * An upsert updates the row in place and leaves alone the indexes
	 * whose columns it does not set: grp's, unless the entity moved
	 * (INSERT OR REPLACE rewrote the row and every index entry).
	 */
#define ENTITY_UPSERT "INSERT INTO entities " \
	"(kind, id, state, removed, created, updated, removed_ts, grp) " \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (kind, id) " \
	"DO UPDATE SET state = excluded.state, removed = excluded.removed, " \
	"created = excluded.created, updated = excluded.updated, " \
	"removed_ts = excluded.removed_ts"
	[W_ENTITY] = ENTITY_UPSERT,
	[W_ENTITY_MOVED] = ENTITY_UPSERT ", grp = excluded.grp",
	[W_HISTORY] = "INSERT INTO history "
	    "(kind, entity, ts, rule, from_class, to_class, event, seq) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[W_ALERT] = "INSERT INTO alerts (id, rule, severity, kind, entity, "
	    "period, ts, seq, message, data, event, silenced) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	/* the first ack stays: who and when are not overwritten */
	[W_ACK] = "UPDATE alerts SET acked = 1, acked_by = ?2, acked_ts = ?3 "
	    "WHERE id = ?1 AND acked = 0",
	[W_FACT] = "INSERT OR REPLACE INTO facts "
	    "(rule, kind, entity, period, grp, value, parts, ts) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[W_CLOSE] = "INSERT INTO closures (cycle, grp, period, ts, seq) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)",
	[W_MARK_PUT] = "INSERT OR REPLACE INTO marks "
	    "(name, kind, entity, since, until) VALUES (?1, ?2, ?3, ?4, ?5)",
	[W_MARK_DEL] = "DELETE FROM marks WHERE name = ?1 AND kind = ?2 AND "
	    "entity = ?3",
	[W_TIMER_PUT] = "INSERT OR REPLACE INTO timers "
	    "(id, due, rule, kind, entity, tag, aux) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[W_TIMER_DEL] = "DELETE FROM timers WHERE id = ?1",
	[W_META] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
	[W_SPAN_PUT] = "INSERT OR REPLACE INTO spans "
	    "(rule, kind, entity, grp, since, seen, seen_mask) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[W_SPAN_DEL] = "DELETE FROM spans WHERE rule = ?1 AND kind = ?2 AND "
	    "entity = ?3",
	/* every entity of a kind, grouped by another of its fields */
	[W_REGROUP] = "UPDATE entities SET grp = json_extract(state, "
	    "'$.fields.\"' || ?2 || '\"') WHERE kind = ?1",
	/* silences (schema 006); an end, like an ack, keeps the first */
	[W_SILENCE_PUT] = "INSERT INTO silences "
	    "(id, match, until, comment, uid, created) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* outputs (schema 008) */
	[W_OUTPUT_POS] = "INSERT OR REPLACE INTO output_positions "
	    "(key, last_id) VALUES (?1, ?2)",
	[W_OUTPUT_CLEAR] = "DELETE FROM output_positions",
	[W_SILENCE_END] = "UPDATE silences SET ended = ?2, ended_by = ?3 "
	    "WHERE id = ?1 AND ended IS NULL",
	[W_SHAPE] = "INSERT INTO shapes (id, template) VALUES (?1, ?2)",
	/* the oldest events by ts, through the index of schema 007 */
	[W_PRUNE_SEL] = "SELECT seq FROM events WHERE ts < ?1 ORDER BY ts "
	    "LIMIT ?2",
	[W_PRUNE_DEL] = "DELETE FROM events WHERE seq = ?1",
	/* the last seq ever deleted: the next start counts on from it */
	[W_PRUNED] = "INSERT INTO meta (key, value) VALUES ('events.pruned', "
	    "?1) ON CONFLICT (key) DO UPDATE SET value = max(value, "
	    "excluded.value)",
	[R_EV_FIND] = "SELECT seq FROM events WHERE eid = ?1",
	[R_ENT_LOAD] = "SELECT state, removed, created, removed_ts "
	    "FROM entities WHERE kind = ?1 AND id = ?2",
	[R_HIST] = "SELECT ts, rule, from_class, to_class, event FROM "
	    "(SELECT id, ts, rule, from_class, to_class, event FROM history "
	    "WHERE kind = ?1 AND entity = ?2 ORDER BY id DESC LIMIT ?3) "
	    "ORDER BY id",
	/* ?4: NULL, or only acked (1) or unacked (0); ?5: with silenced ones */
#define ALERT_FILTER "(?4 IS NULL OR acked = ?4) AND (?5 OR silenced IS NULL)"
	[R_ALERTS] = "SELECT " SQL_ALERT_COLUMNS " FROM alerts WHERE id > ?1 "
	    "AND " ALERT_FILTER " ORDER BY id LIMIT ?2",
	[R_ALERTS_RULE] = "SELECT " SQL_ALERT_COLUMNS " FROM alerts WHERE "
	    "rule = ?3 AND id > ?1 AND " ALERT_FILTER " ORDER BY id LIMIT ?2",
	[R_MAX_SEQ] = SQL_MAX_SEQ,
	[R_MAX_ALERT] = SQL_MAX_ALERT,
	[R_ENT_COUNT] = SQL_ENT_COUNT,
	[R_ENT_KEYS] = SQL_ENT_KEYS,
	[R_ENT_ROWS] = "SELECT id, state, removed FROM entities WHERE kind = ?1",
	[R_ID_COUNT] = SQL_ID_COUNT,
	[R_IDS] = SQL_IDS,
	[R_FACTS] = "SELECT rule, kind, entity, period, grp, parts, value, ts, "
	    "value IS NULL FROM facts",
	[R_CLOSURES] = SQL_CLOSURES,
	[R_MARKS] = SQL_MARKS,
	[R_TIMERS] = SQL_TIMERS,
	[R_META] = SQL_META,
	[R_SPANS] = SQL_SPANS,
	[R_GROUP] = "SELECT id, state FROM entities WHERE kind = ?1 AND "
	    "grp = ?2 AND removed = 0 AND id > ?3 ORDER BY id LIMIT ?4",
	[R_SILENCES] = SQL_SILENCES,
	[R_MAX_SILENCE] = SQL_MAX_SILENCE,
	/* ?1: every one; else those not ended nor past ?2 */
	[R_SILENCE_LIST] = "SELECT id, match, until, comment, uid, created, "
	    "ended, ended_by FROM silences WHERE ?1 OR (ended IS NULL AND "
	    "until >= ?2) ORDER BY id",
	[R_OUTPUTS] = SQL_OUTPUTS,
	[R_UNSILENCED] = "SELECT count(*) FROM alerts WHERE id > ?1 AND "
	    "id <= ?2 AND silenced IS NULL",
};

/* The statement and table numbers of store-impl.h, in their order. */
static const int stmt_map[SW_N] = { W_FACT, W_CLOSE, W_MARK_PUT, W_MARK_DEL,
    W_TIMER_PUT, W_TIMER_DEL, W_META, W_SPAN_PUT, W_SPAN_DEL, W_REGROUP,
    W_SILENCE_PUT, W_SILENCE_END, W_OUTPUT_POS, W_OUTPUT_CLEAR,
    W_EVENT, W_ENTITY, W_HISTORY, W_ALERT, W_ACK, W_ENTITY_MOVED, W_SHAPE };
static const int table_map[] = { R_FACTS, R_CLOSURES, R_MARKS, R_TIMERS,
    R_META, R_SPANS, R_SILENCES, R_OUTPUTS };

struct sq {
	struct store	 s;		/* first: store.c's part */
	sqlite3		*wdb;		/* the writer thread's */
	sqlite3		*rdb;		/* the loop thread's */
	sqlite3		*cdb;		/* the checkpointer's, until it starts */
	struct ckpt	*ckpt;
	sqlite3_stmt	*q[NQ];
	char		*path;
	struct wjob	*synq, **synq_tail;	/* committed, not yet synced */
	int		 sync_wal;	/* durability full: the syncer runs */
	int		 wal_fd;	/* the syncer's, on path-wal */
	pthread_t	 syncer;
	pthread_cond_t	 syncv;		/* work for the syncer */
	int		 writer_gone;	/* the syncer's last round */
};

static const struct store_backend sqlite_backend;

static int
exec_sql(sqlite3 *db, const char *path, const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		*cause = xasprintf("%s: %s", path, err ? err :
		    sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int64_t
query_int(sqlite3 *db, const char *sql, int64_t dflt)
{
	sqlite3_stmt *st;
	int64_t v = dflt;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return dflt;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Refuse databases that are not ours or are newer; apply missing steps. */
static int
migrate(struct sq *s, char **cause)
{
	sqlite3 *db = s->wdb;
	int64_t appid, tables, have = 0;
	size_t i;
	char *sql;

	if (exec_sql(db, s->path, "SELECT count(*) FROM sqlite_master",
	    cause) != 0)
		return -1;
	appid = query_int(db, "PRAGMA application_id", 0);
	tables = query_int(db, "SELECT count(*) FROM sqlite_master", 0);
	if (appid != APPLICATION_ID && (appid != 0 || tables != 0)) {
		*cause = xasprintf("%s: not a zhilid database (application_id "
		    "%#llx, %lld tables)", s->path, (unsigned long long)appid,
		    (long long)tables);
		return -1;
	}
	if (tables != 0)
		have = query_int(db, "SELECT max(version) FROM schema_version",
		    -1);
	if (have < 0 && tables != 0) {
		*cause = xasprintf("%s: database has no schema version", s->path);
		return -1;
	}
	if (have > migrations[NMIGRATIONS - 1].version) {
		*cause = xasprintf("%s: database schema version %lld is newer "
		    "than this zhilid supports (%d); upgrade zhilid", s->path,
		    (long long)have, migrations[NMIGRATIONS - 1].version);
		return -1;
	}
	for (i = 0; i < NMIGRATIONS; i++) {
		if (migrations[i].version <= have)
			continue;
		log_info("database: applying schema %s", migrations[i].name);
		sql = xasprintf("BEGIN IMMEDIATE; %s; INSERT INTO "
		    "schema_version VALUES (%d, '%s', %lld); "
		    "PRAGMA application_id = %d; COMMIT;", migrations[i].sql,
		    migrations[i].version, migrations[i].name,
		    (long long)time(NULL), APPLICATION_ID);
		if (exec_sql(db, s->path, sql, cause) != 0) {
			free(sql);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		free(sql);
	}
	return 0;
}

/*
 * The templates of the event log, as many as memory keeps (the rest are
 * only read back); new ones are numbered after every stored one.
 */
static int
sq_shapes_load(struct sq *s, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->wdb, SQL_SHAPES, -1, &st, NULL) !=
	    SQLITE_OK) {
		*cause = xasprintf("%s: %s", s->path, sqlite3_errmsg(s->wdb));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		shapes_stored(&s->s.shapes, sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		*cause = xasprintf("%s: %s", s->path, sqlite3_errmsg(s->wdb));
		return -1;
	}
	return 0;
}

static int
open_db(const char *path, sqlite3 **db, char **cause)
{
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*cause = xasprintf("%s: %s", path, *db ? sqlite3_errmsg(*db) :
		    "cannot open");
		return -1;
	}
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_timeout(*db, 5000);
	return 0;
}

struct store *
store_sqlite_open(const char *path, int durability, char **cause)
{
	struct sq *s = xcalloc(1, sizeof *s);
	int i;

	/*
	 * Without memory statistics SQLite takes no global mutex around each
	 * of its allocations (a tenth of the writer's time); it must be said
	 * before SQLite initialises, and fails harmlessly after.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	store_init(&s->s, &sqlite_backend);
	/* a file has one writer by its own lock: always active, term 1 */
	store_set_role(&s->s, STORE_ACTIVE);
	s->path = xstrdup(path);
	s->synq_tail = &s->synq;
	s->sync_wal = durability == DURABILITY_FULL;
	s->wal_fd = -1;
	pthread_cond_init(&s->syncv, NULL);
	if (open_db(path, &s->wdb, cause) != 0)
		goto fail;
	/*
	 * Larger pages mean fewer WAL frames, so fewer write(2) calls per
	 * commit; it only takes effect on a new database.
	 */
	if (exec_sql(s->wdb, path, "PRAGMA page_size = 16384", cause) != 0)
		goto fail;
	if (migrate(s, cause) != 0)
		goto fail;
	if (sq_shapes_load(s, cause) != 0)
		goto fail;
	if (exec_sql(s->wdb, path, "PRAGMA journal_mode = WAL", cause) != 0)
		goto fail;
	/* NORMAL either way: with durability full the syncer syncs */
	if (exec_sql(s->wdb, path, "PRAGMA synchronous = NORMAL", cause) != 0)
		goto fail;
	/*
	 * 16 MiB of pages for the writer.  Checkpoints are checkpoint.c's,
	 * on a connection of their own, which syncs like the writer's; until
	 * it starts, SQLite's automatic one stands (migrations, zhilid -t).
	 * The reader needs little: the engine's filters spare it most
	 * look-ups.
	 */
	if (exec_sql(s->wdb, path, "PRAGMA cache_size = -16384; "
	    "PRAGMA temp_store = MEMORY", cause) != 0)
		goto fail;
	if (open_db(path, &s->rdb, cause) != 0)
		goto fail;
	if (exec_sql(s->rdb, path, "PRAGMA cache_size = -4096", cause) != 0)
		goto fail;
	if (open_db(path, &s->cdb, cause) != 0)
		goto fail;
	if (exec_sql(s->cdb, path, "PRAGMA synchronous = NORMAL", cause) != 0)
		goto fail;
	for (i = 0; i < NQ; i++) {
		if (sqlite3_prepare_v3(i < NW ? s->wdb : s->rdb, sql_table[i],
		    -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) != SQLITE_OK) {
			*cause = xasprintf("%s: preparing \"%s\": %s", path,
			    sql_table[i], sqlite3_errmsg(i < NW ? s->wdb :
			    s->rdb));
			goto fail;
		}
	}
	return &s->s;
fail:
	store_close(&s->s);
	return NULL;
}

/* Before the writer: the checkpointer, and the syncer with durability full. */
static void
sq_start(struct store *st)
{
	struct sq *s = (struct sq *)st;

	s->ckpt = ckpt_start(s->wdb, s->cdb);
	s->cdb = NULL;
	if (s->sync_wal && pthread_create(&s->syncer, NULL, syncer_main,
	    s) != 0)
		fatalx("cannot start the syncer thread");
}

/* The writer has stopped: the syncer's last round. */
static void
sq_stop(struct store *st)
{
	struct sq *s = (struct sq *)st;

	if (st->started && s->sync_wal) {
		pthread_mutex_lock(&st->mu);
		s->writer_gone = 1;
		pthread_cond_signal(&s->syncv);
		pthread_mutex_unlock(&st->mu);
		pthread_join(s->syncer, NULL);
	}
	ckpt_stop(s->ckpt);
	s->ckpt = NULL;
}

static void
sq_free(struct store *st)
{
	struct sq *s = (struct sq *)st;
	int i;

	if (s->wal_fd != -1)
		close(s->wal_fd);
	for (i = 0; i < NQ; i++)
		sqlite3_finalize(s->q[i]);
	if (s->cdb != NULL)
		sqlite3_close(s->cdb);
	if (s->rdb != NULL)
		sqlite3_close(s->rdb);
	if (s->wdb != NULL)
		sqlite3_close(s->wdb);
	pthread_cond_destroy(&s->syncv);
	store_fini(st);
	free(s->path);
	free(s);
}

static int
run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Execute one job's operations; the caller wraps them in a transaction. */
static int
exec_ops(struct sq *s, const struct buf *ops)
{
	struct store_cursor c;
	struct store_wop w;
	sqlite3_stmt *st;
	int i, rc;

	store_cursor_init(&c, &s->s, ops);
	while ((rc = store_wop_next(&c, &w)) > 0) {
		st = s->q[stmt_map[w.stmt]];
		for (i = 0; i < w.n; i++)
			if (w.p[i].is_int)
				sqlite3_bind_int64(st, i + 1, w.p[i].i);
			else if (w.p[i].s == NULL)
				sqlite3_bind_null(st, i + 1);
			else
				sqlite3_bind_text(st, i + 1, w.p[i].s,
				    (int)w.p[i].len, SQLITE_STATIC);
		if (run(st) != 0)
			return -1;
	}
	return rc;
}

/*
 * Commit a run of jobs of one epoch in one transaction: the jobs that
 * queued while the writer was busy share a commit, so the pages every
 * commit rewrites (the tails of the tables and of their indexes) reach
 * the WAL once for all of them.  On failure all of them fail, which the
 * engine handles as for one.
 */
static int
commit_jobs(struct store *st, struct wjob *first, struct wjob *end)
{
	struct sq *s = (struct sq *)st;
	int64_t shapes_mark = st->shapes.next;
	struct wjob *j;

	if (run(s->q[W_BEGIN]) != 0)
		goto fail;
	for (j = first; j != end; j = j->next)
		if (exec_ops(s, &j->ops) != 0)
			goto fail;
	if (run(s->q[W_COMMIT]) != 0)
		goto fail;
	return 0;
fail:
	log_warnx("database: commit failed: %s", sqlite3_errmsg(s->wdb));
	if (!sqlite3_get_autocommit(s->wdb))
		run(s->q[W_ROLLBACK]);
	if (st->shapes.next != shapes_mark)	/* rolled back with it */
		shapes_drop(&st->shapes, shapes_mark);
	return -1;
}

/*
 * Retention's batch (store.c): the seqs found before the transaction are
 * still there in it, as the writer alone inserts and deletes events; so
 * finding none costs no transaction.  The deletes stop at the budget.
 */
static int64_t
sq_prune(struct store *st, int64_t cutoff, int *more, char *err,
    size_t errlen)
{
	struct sq *s = (struct sq *)st;
	int64_t seqs[PRUNE_ROWS], max = 0;
	sqlite3_stmt *sel = s->q[W_PRUNE_SEL];
	uint64_t t0;
	int n = 0, i, rc = SQLITE_DONE, rows = PRUNE_ROWS;

	sqlite3_bind_int64(sel, 1, cutoff);
	sqlite3_bind_int(sel, 2, rows);
	while (n < rows && (rc = sqlite3_step(sel)) == SQLITE_ROW)
		seqs[n++] = sqlite3_column_int64(sel, 0);
	sqlite3_reset(sel);
	if (n == 0 && rc != SQLITE_DONE)
		goto fail;
	*more = 0;
	if (n == 0)
		return 0;
	t0 = store_mono_ns();
	if (run(s->q[W_BEGIN]) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (i % 64 == 63 && store_elapsed_us(t0) > PRUNE_BUDGET_US)
			break;
		sqlite3_bind_int64(s->q[W_PRUNE_DEL], 1, seqs[i]);
		if (run(s->q[W_PRUNE_DEL]) != 0)
			goto fail;
		if (seqs[i] > max)
			max = seqs[i];
	}
	sqlite3_bind_int64(s->q[W_PRUNED], 1, max);
	if (run(s->q[W_PRUNED]) != 0 || run(s->q[W_COMMIT]) != 0)
		goto fail;
	*more = n == rows || i < n;
	return i;
fail:
	snprintf(err, errlen, "%s", sqlite3_errmsg(s->wdb));
	if (!sqlite3_get_autocommit(s->wdb))
		run(s->q[W_ROLLBACK]);
	return -1;
}

/*
 * With durability full, committed jobs go to the syncer, which hands
 * them back once the WAL is on the disk.
 */
static void
committed(struct store *st, struct wjob *first, struct wjob *end)
{
	struct sq *s = (struct sq *)st;
	struct wjob *j;

	pthread_mutex_lock(&st->mu);
	if (s->sync_wal) {
		for (j = first; j->next != end; j = j->next)
			;
		j->next = NULL;
		*s->synq_tail = first;
		s->synq_tail = &j->next;
		pthread_cond_signal(&s->syncv);
	} else
		store_hand_back(st, first, end);
	pthread_mutex_unlock(&st->mu);
	if (!s->sync_wal && st->wake != NULL)
		st->wake(st->wake_arg);
}

/*
 * The syncer: sync the WAL once for every job the writer committed since
 * the last time, then hand them back.  fdatasync works on the file, not
 * on the descriptor, so a descriptor of our own does it; SQLite never
 * replaces the WAL file while a connection is open.
 */
static void *
syncer_main(void *arg)
{
	struct sq *s = arg;
	struct wjob *first, *j;
	char *wal;
	int any;

	for (;;) {
		pthread_mutex_lock(&s->s.mu);
		while (s->synq == NULL && !s->writer_gone)
			pthread_cond_wait(&s->syncv, &s->s.mu);
		if ((first = s->synq) == NULL) {
			pthread_mutex_unlock(&s->s.mu);
			break;
		}
		s->synq = NULL;
		s->synq_tail = &s->synq;
		pthread_mutex_unlock(&s->s.mu);

		for (any = 0, j = first; j != NULL; j = j->next)
			any |= j->rc == 0;
		if (any && s->wal_fd == -1) {
			wal = xasprintf("%s-wal", s->path);
			if ((s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC)) == -1)
				fatal("database: %s", wal);
			free(wal);
		}
		if (any && fdatasync(s->wal_fd) == -1)
			fatal("database: cannot sync %s-wal; stopping, the "
			    "next start recovers what reached the disk",
			    s->path);
		if (any)
			__atomic_add_fetch(&s->s.n_syncs, 1, __ATOMIC_RELAXED);

		pthread_mutex_lock(&s->s.mu);
		store_hand_back(&s->s, first, NULL);
		pthread_mutex_unlock(&s->s.mu);
		if (s->s.wake != NULL)
			s->s.wake(s->s.wake_arg);
	}
	return NULL;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static int64_t
read_int(struct sq *s, int q)
{
	sqlite3_stmt *st = s->q[q];
	int64_t v = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

static int64_t
sq_max_seq(struct store *base)
{
	struct sq *s = (struct sq *)base;
	return read_int(s, R_MAX_SEQ);
}

static int64_t
sq_max_alert(struct store *base)
{
	struct sq *s = (struct sq *)base;
	return read_int(s, R_MAX_ALERT);
}

static int64_t
sq_max_silence(struct store *base)
{
	return read_int((struct sq *)base, R_MAX_SILENCE);
}

static int
read_error(struct sq *s, sqlite3_stmt *st)
{
	log_warnx("database: %s", sqlite3_errmsg(s->rdb));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return -1;
}

static int
sq_entity_count(struct store *base, int64_t *n)
{
	struct sq *s = (struct sq *)base;
	*n = read_int(s, R_ENT_COUNT);
	return *n < 0 ? -1 : 0;
}

/* Call fn(arg, kind, id) for every entity in the database. */
static int
sq_entity_keys(struct store *base, void (*fn)(void *, const char *,
    const char *), void *arg)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_ENT_KEYS];
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	return 0;
}

/*
 * Call fn(arg, id, state, removed) for every entity of one kind, in one
 * pass over the table's range for it (what a rule rebuilds at start).
 */
static int
sq_entity_rows(struct store *base, const char *kind, void (*fn)(void *,
    const char *, const char *, int), void *arg)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_ENT_ROWS];
	int rc;

	bind_text(st, 1, kind);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int(st, 2));
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

/*
 * Call fn(arg, id, state) for the live entities of kind whose first field
 * is grp, in id order, after id `after`, at most limit of them, until fn
 * returns non-zero: one page of a group, read through the index of schema
 * 005.
 */
static int
sq_group_rows(struct store *base, const char *kind, const char *grp,
    const char *after, int64_t limit, int (*fn)(void *, const char *,
    const char *), void *arg)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_GROUP];
	int rc;

	bind_text(st, 1, kind);
	bind_text(st, 2, grp);
	bind_text(st, 3, after);
	sqlite3_bind_int64(st, 4, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

static int
sq_event_id_count(struct store *base, int64_t *n)
{
	struct sq *s = (struct sq *)base;
	*n = read_int(s, R_ID_COUNT);
	return *n < 0 ? -1 : 0;
}

/* Call fn(arg, id) for the id of every event in the database. */
static int
sq_event_ids(struct store *base, void (*fn)(void *, const char *), void *arg)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_IDS];
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	return 0;
}

/* 1 and *seq if a committed event has this id, 0 if not, -1 on error. */
static int
sq_event_find(struct store *base, const char *eid, int64_t *seq)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_EV_FIND];
	int rc;

	bind_text(st, 1, eid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW;
}

/*
 * 1 and the row if found (*state is the caller's), 0 if not, -1 error.
 * *removed_ts is the removal's ts when *removed.
 */
static int
sq_entity_load(struct store *base, const char *kind, const char *id,
    char **state, int *removed, int64_t *removed_ts, int64_t *created)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_ENT_LOAD];
	int rc;

	bind_text(st, 1, kind);
	bind_text(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*state = xstrdup((const char *)sqlite3_column_text(st, 0));
		*removed = sqlite3_column_int(st, 1);
		*created = sqlite3_column_int64(st, 2);
		*removed_ts = sqlite3_column_int64(st, 3);
	} else if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW;
}

/* Append the last limit history entries of an entity as a JSON array. */
static int
sq_history_json(struct store *base, const char *kind, const char *entity,
    int limit, struct buf *out)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_HIST];
	char ts[40];
	int rc, n = 0;

	bind_text(st, 1, kind);
	bind_text(st, 2, entity);
	sqlite3_bind_int(st, 3, limit);
	buf_addc(out, '[');
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ > 0)
			buf_addc(out, ',');
		clock_format(sqlite3_column_int64(st, 0), ts, sizeof ts);
		buf_adds(out, "{\"ts\":");
		buf_add_json_cstr(out, ts);
		buf_adds(out, ",\"rule\":");
		buf_add_json_cstr(out, (const char *)sqlite3_column_text(st, 1));
		buf_adds(out, ",\"from\":");
		buf_add_json_cstr(out, (const char *)sqlite3_column_text(st, 2));
		buf_adds(out, ",\"to\":");
		buf_add_json_cstr(out, (const char *)sqlite3_column_text(st, 3));
		buf_adds(out, ",\"event\":");
		buf_add_json_cstr(out, (const char *)sqlite3_column_text(st, 4));
		buf_addc(out, '}');
	}
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	buf_addc(out, ']');
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

/*
 * Call fn(arg, row) for every row of one of the tables of store.h: text
 * columns first, then integer ones, in the order of its query.
 */
static int
sq_select(struct store *base, enum store_table t,
    void (*fn)(void *, const struct store_row *), void *arg)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[table_map[t]];
	struct store_row row;
	int rc, i, n;

	n = sqlite3_column_count(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&row, 0, sizeof row);
		for (i = 0; i < n && i < STORE_ROW_MAX; i++) {
			if (sqlite3_column_type(st, i) == SQLITE_TEXT)
				row.s[i] = (const char *)sqlite3_column_text(st,
				    i);
			row.i[i] = sqlite3_column_int64(st, i);
		}
		fn(arg, &row);
	}
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	return 0;
}

/* A text column, or NULL. */
static const char *
column(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* An integer column, or -1 if NULL. */
static int64_t
column_int(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return -1;
	return sqlite3_column_int64(st, i);
}

static int
sq_alerts_json(struct store *base, int64_t after, int64_t limit,
    const char *rule, int acked, int silenced, struct buf *out,
    int64_t *last)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[rule != NULL ? R_ALERTS_RULE : R_ALERTS];
	struct alert_ack ack;
	int rc, n = 0;

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	if (rule != NULL)
		bind_text(st, 3, rule);
	if (acked >= 0)
		sqlite3_bind_int(st, 4, acked);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int(st, 5, silenced);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ > 0)
			buf_addc(out, ',');
		*last = sqlite3_column_int64(st, 0);
		ack.by = column_int(st, 11);
		ack.ts = column_int(st, 12);
		alert_json(out, *last, column(st, 1), column(st, 2),
		    column(st, 3), column(st, 4), column(st, 5),
		    sqlite3_column_int64(st, 6), column(st, 7),
		    (size_t)sqlite3_column_bytes(st, 7), column(st, 8),
		    column(st, 9), sqlite3_column_int(st, 10) ? &ack : NULL,
		    column_int(st, 13));
	}
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

static int
sq_silences_json(struct store *base, int all, int64_t now, struct buf *out)
{
	struct sq *s = (struct sq *)base;
	sqlite3_stmt *st = s->q[R_SILENCE_LIST];
	struct store_silence r;
	int rc, n = 0;

	sqlite3_bind_int(st, 1, all);
	sqlite3_bind_int64(st, 2, now);
	buf_addc(out, '[');
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ > 0)
			buf_addc(out, ',');
		r.id = sqlite3_column_int64(st, 0);
		r.match = column(st, 1);
		r.until = sqlite3_column_int64(st, 2);
		r.comment = column(st, 3);
		r.uid = sqlite3_column_int64(st, 4);
		r.created = sqlite3_column_int64(st, 5);
		r.ended = column_int(st, 6);
		r.ended_by = sqlite3_column_int64(st, 7);
		store_silence_json(out, &r, now);
	}
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	buf_addc(out, ']');
	sqlite3_reset(st);
	return 0;
}

static int64_t
sq_unsilenced_count(struct store *base, int64_t after, int64_t upto)
{
	struct sq *s = (struct sq *)base;

	sqlite3_bind_int64(s->q[R_UNSILENCED], 1, after);
	sqlite3_bind_int64(s->q[R_UNSILENCED], 2, upto);
	return read_int(s, R_UNSILENCED);
}

/* An output's connection: read only, one statement. */
struct sq_reader {
	struct store_reader	 r;	/* first: store.c's part */
	sqlite3			*db;
	sqlite3_stmt		*st;
};

static const struct store_backend sqlite_backend;

static struct store_reader *
sq_reader_open(struct store *base, char **cause)
{
	struct sq *s = (struct sq *)base;
	struct sq_reader *r = xcalloc(1, sizeof *r);

	r->r.be = &sqlite_backend;
	if (sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(r->db, "SELECT id, rule, severity, kind, "
	    "entity, period, ts, message, data, event FROM alerts WHERE "
	    "id > ?1 AND id <= ?2 AND silenced IS NULL ORDER BY id LIMIT ?3",
	    -1, SQLITE_PREPARE_PERSISTENT, &r->st, NULL) != SQLITE_OK) {
		*cause = xasprintf("%s: %s", s->path, r->db != NULL ?
		    sqlite3_errmsg(r->db) : "cannot open");
		sqlite3_close(r->db);
		free(r);
		return NULL;
	}
	sqlite3_busy_timeout(r->db, 5000);
	return &r->r;
}

/*
 * The statement is reset at once: no read transaction outlives the call,
 * so the checkpoints are never held back by an output.
 */
static int
sq_reader_alerts(struct store_reader *base, int64_t after, int64_t upto,
    int limit, void (*fn)(void *, const struct store_alert *), void *arg)
{
	struct sq_reader *r = (struct sq_reader *)base;
	sqlite3_stmt *st = r->st;
	struct store_alert a;
	int rc;

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a.id = sqlite3_column_int64(st, 0);
		a.rule = (const char *)sqlite3_column_text(st, 1);
		a.severity = (const char *)sqlite3_column_text(st, 2);
		a.kind = (const char *)sqlite3_column_text(st, 3);
		a.entity = (const char *)sqlite3_column_text(st, 4);
		a.period = (const char *)sqlite3_column_text(st, 5);
		a.ts = sqlite3_column_int64(st, 6);
		a.message = (const char *)sqlite3_column_text(st, 7);
		a.msglen = (size_t)sqlite3_column_bytes(st, 7);
		a.data = (const char *)sqlite3_column_text(st, 8);
		a.event = (const char *)sqlite3_column_text(st, 9);
		fn(arg, &a);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static const char *
sq_reader_error(struct store_reader *base)
{
	return sqlite3_errmsg(((struct sq_reader *)base)->db);
}

static void
sq_reader_close(struct store_reader *base)
{
	struct sq_reader *r = (struct sq_reader *)base;

	sqlite3_finalize(r->st);
	sqlite3_close(r->db);
	free(r);
}

static const struct store_backend sqlite_backend = {
	.name = "sqlite",
	.commit = commit_jobs,
	.committed = committed,
	.start = sq_start,
	.stop = sq_stop,
	.free = sq_free,
	.max_seq = sq_max_seq,
	.max_alert = sq_max_alert,
	.max_silence = sq_max_silence,
	.event_find = sq_event_find,
	.entity_count = sq_entity_count,
	.event_id_count = sq_event_id_count,
	.event_ids = sq_event_ids,
	.entity_keys = sq_entity_keys,
	.group_rows = sq_group_rows,
	.entity_rows = sq_entity_rows,
	.entity_load = sq_entity_load,
	.history_json = sq_history_json,
	.select = sq_select,
	.alerts_json = sq_alerts_json,
	.silences_json = sq_silences_json,
	.unsilenced_count = sq_unsilenced_count,
	.reader_open = sq_reader_open,
	.reader_alerts = sq_reader_alerts,
	.reader_error = sq_reader_error,
	.reader_close = sq_reader_close,
	.prune = sq_prune,
};
