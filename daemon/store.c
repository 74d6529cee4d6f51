/*
 * SQLite storage.  The database is in WAL mode.  With durability full a
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
 * built; it holds everything the writer binds, so the threads share no
 * other data.  If a job fails, the writer refuses every later job of the
 * same epoch (they were computed on top of it) until the loop thread
 * starts a new epoch.  The loop thread reads through a second connection,
 * which sees committed jobs only; checkpoint.c has a third.  Statements are prepared once.  Schema migrations
 * from schema/ are compiled in and applied at open; a database written by
 * a newer zhilid, or one that is not zhilid's, is refused.
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
#include "store.h"

#define APPLICATION_ID	0x5a48494c	/* "ZHIL" */

struct migration {
	int		 version;
	const char	*name;
	const char	*sql;
};
#include "schema.h"
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

static void	*writer_main(void *);
static void	*syncer_main(void *);
static void	 bind_text(sqlite3_stmt *, int, const char *);

enum {
	/* the writer's connection */
	W_BEGIN, W_COMMIT, W_ROLLBACK, W_EVENT, W_ENTITY, W_HISTORY, W_ALERT,
	W_ACK, W_FACT, W_CLOSE, W_MARK_PUT, W_MARK_DEL, W_TIMER_PUT,
	W_TIMER_DEL, W_META, W_SPAN_PUT, W_SPAN_DEL, W_REGROUP, W_ENTITY_MOVED,
	W_SILENCE_PUT, W_SILENCE_END,
	/* retention, on the writer's connection */
	W_PRUNE_SEL, W_PRUNE_DEL, W_PRUNED,
	/* the event log's templates (evlog.c) */
	W_SHAPE,
	/* the reader's */
	R_EV_FIND, R_ENT_LOAD, R_HIST, R_ALERTS, R_ALERTS_RULE, R_MAX_SEQ,
	R_MAX_ALERT, R_ENT_COUNT, R_ENT_KEYS, R_ENT_ROWS, R_ID_COUNT, R_IDS, R_FACTS,
	R_CLOSURES, R_MARKS, R_TIMERS, R_META, R_SPANS, R_GROUP,
	R_SILENCES, R_MAX_SILENCE, R_SILENCE_LIST, NQ
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
	/* the oldest events by ts, through the index of schema 007 */
	[W_PRUNE_SEL] = "SELECT seq FROM events WHERE ts < ?1 ORDER BY ts "
	    "LIMIT ?2",
	[W_PRUNE_DEL] = "DELETE FROM events WHERE seq = ?1",
	/* the last seq ever deleted: the next start counts on from it */
	[W_PRUNED] = "INSERT INTO meta (key, value) VALUES ('events.pruned', "
	    "?1) ON CONFLICT (key) DO UPDATE SET value = max(value, "
	    "excluded.value)",
	[W_SHAPE] = "INSERT INTO shapes (id, template) VALUES (?1, ?2)",
	/* silences (schema 006); an end, like an ack, keeps the first */
	[W_SILENCE_PUT] = "INSERT INTO silences "
	    "(id, match, until, comment, uid, created) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[W_SILENCE_END] = "UPDATE silences SET ended = ?2, ended_by = ?3 "
	    "WHERE id = ?1 AND ended IS NULL",
	[R_EV_FIND] = "SELECT seq FROM events WHERE eid = ?1",
	[R_ENT_LOAD] = "SELECT state, removed, created, removed_ts "
	    "FROM entities WHERE kind = ?1 AND id = ?2",
	[R_HIST] = "SELECT ts, rule, from_class, to_class, event FROM "
	    "(SELECT id, ts, rule, from_class, to_class, event FROM history "
	    "WHERE kind = ?1 AND entity = ?2 ORDER BY id DESC LIMIT ?3) "
	    "ORDER BY id",
#define ALERT_COLUMNS "id, rule, severity, kind, entity, period, ts, " \
	"message, data, event, acked, acked_by, acked_ts, silenced"
	/* ?4: NULL, or only acked (1) or unacked (0); ?5: with silenced ones */
#define ALERT_FILTER "(?4 IS NULL OR acked = ?4) AND (?5 OR silenced IS NULL)"
	[R_ALERTS] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE id > ?1 "
	    "AND " ALERT_FILTER " ORDER BY id LIMIT ?2",
	[R_ALERTS_RULE] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE "
	    "rule = ?3 AND id > ?1 AND " ALERT_FILTER " ORDER BY id LIMIT ?2",
	[R_MAX_SEQ] = "SELECT max(coalesce((SELECT max(seq) FROM events), 0), "
	    "coalesce((SELECT value FROM meta WHERE key = 'events.pruned'), "
	    "0))",
	[R_MAX_ALERT] = "SELECT coalesce(max(id), 0) FROM alerts",
	[R_ENT_COUNT] = "SELECT count(*) FROM entities",
	[R_ENT_KEYS] = "SELECT kind, id FROM entities",
	[R_ENT_ROWS] = "SELECT id, state, removed FROM entities WHERE kind = ?1",
	[R_ID_COUNT] = "SELECT count(eid) FROM events",
	[R_IDS] = "SELECT eid FROM events WHERE eid IS NOT NULL",
	[R_FACTS] = "SELECT rule, kind, entity, period, grp, parts, value, ts, "
	    "value IS NULL FROM facts",
	[R_CLOSURES] = "SELECT cycle, grp, period, ts, seq FROM closures",
	[R_MARKS] = "SELECT name, kind, entity, since, until FROM marks",
	[R_TIMERS] = "SELECT rule, kind, entity, tag, id, due, aux FROM timers "
	    "ORDER BY id",
	[R_META] = "SELECT key, value FROM meta",
	[R_SPANS] = "SELECT rule, kind, entity, grp, seen, since, seen_mask "
	    "FROM spans",
	[R_GROUP] = "SELECT id, state FROM entities WHERE kind = ?1 AND "
	    "grp = ?2 AND removed = 0 AND id > ?3 ORDER BY id LIMIT ?4",
	[R_SILENCES] = "SELECT match, id, until FROM silences "
	    "WHERE ended IS NULL ORDER BY id",
	[R_MAX_SILENCE] = "SELECT coalesce(max(id), 0) FROM silences",
	/* ?1: every one; else those not ended nor past ?2 */
	[R_SILENCE_LIST] = "SELECT id, match, until, comment, uid, created, "
	    "ended, ended_by FROM silences WHERE ?1 OR (ended IS NULL AND "
	    "until >= ?2) ORDER BY id",
};

/* The public statement and table numbers, in the order of store.h. */
static const int stmt_map[] = { W_FACT, W_CLOSE, W_MARK_PUT, W_MARK_DEL,
    W_TIMER_PUT, W_TIMER_DEL, W_META, W_SPAN_PUT, W_SPAN_DEL, W_REGROUP,
    W_SILENCE_PUT, W_SILENCE_END };
static const int table_map[] = { R_FACTS, R_CLOSURES, R_MARKS, R_TIMERS,
    R_META, R_SPANS, R_SILENCES };

/* Operation codes of a job's buffer. */
enum { OP_EVENT = 1, OP_ENTITY, OP_HISTORY, OP_ALERT, OP_ACK, OP_STMT,
    OP_ENTITY_MOVED };

struct store {
	sqlite3		*wdb;		/* the writer thread's */
	sqlite3		*rdb;		/* the loop thread's */
	sqlite3		*cdb;		/* the checkpointer's, until it starts */
	struct ckpt	*ckpt;
	sqlite3_stmt	*q[NQ];
	char		*path;
	pthread_t	 thread;
	int		 started;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;		/* work for the writer */
	pthread_cond_t	 donecv;	/* a job is done */
	struct wjob	*queue, **queue_tail;
	struct wjob	*synq, **synq_tail;	/* committed, not yet synced */
	struct wjob	*done, **done_tail;
	int		 sync_wal;	/* durability full: the syncer runs */
	int		 wal_fd;	/* the syncer's, on path-wal */
	pthread_t	 syncer;
	pthread_cond_t	 syncv;		/* work for the syncer */
	int		 writer_gone;	/* the syncer's last round */
	uint64_t	 n_commits;	/* transactions committed (atomic) */
	uint64_t	 n_syncs;	/* WAL syncs (atomic) */
	unsigned	 inflight;	/* submitted, not yet taken back */
	int		 stop;
	int		 busy;		/* the writer has work (atomic) */
	uint64_t	 bad_epoch;	/* refuse jobs of this epoch or older */
	void		 (*wake)(void *);
	void		*wake_arg;
	/* retention: the writer deletes events with ts < cutoff */
	int64_t		 prune_cutoff;	/* asked for, under mu */
	int64_t		 pruned_to;	/* none left below it (writer's) */
	struct timespec	 prune_retry;	/* after a failure, not before */
	struct timespec	 prune_last;	/* the end of the last batch */
	uint64_t	 n_pruned;	/* events deleted (atomic) */
	uint64_t	 prune_max_us;	/* the longest transaction (atomic) */
	uint64_t	 commit_max_us;	/* the longest group commit (atomic) */
	/* the writer's: the templates of event lines by id */
	struct shapes	 shapes;
	struct buf	 line;		/* a line put back together */
	/* the loop thread's: the last line's template, scratch buffers */
	struct buf	 last, tmpl, vals;
};

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

static int64_t
elapsed_us(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/* Keep the longest of the writer's transactions, for stats (atomic). */
static void
note_max(uint64_t *max, int64_t us)
{
	if ((uint64_t)us > __atomic_load_n(max, __ATOMIC_RELAXED))
		__atomic_store_n(max, (uint64_t)us, __ATOMIC_RELAXED);
}

/* Refuse databases that are not ours or are newer; apply missing steps. */
static int
migrate(struct store *s, char **cause)
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
shapes_load(struct store *s, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	shapes_init(&s->shapes);
	if (sqlite3_prepare_v2(s->wdb, "SELECT id, template FROM shapes "
	    "ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		*cause = xasprintf("%s: %s", s->path, sqlite3_errmsg(s->wdb));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		shapes_add(&s->shapes, sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));
		if (sqlite3_column_int64(st, 0) >= s->shapes.next)
			s->shapes.next = sqlite3_column_int64(st, 0) + 1;
	}
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
store_open(const char *path, int durability, char **cause)
{
	struct store *s = xcalloc(1, sizeof *s);
	int i;

	/*
	 * Without memory statistics SQLite takes no global mutex around each
	 * of its allocations (a tenth of the writer's time); it must be said
	 * before SQLite initialises, and fails harmlessly after.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	s->path = xstrdup(path);
	s->queue_tail = &s->queue;
	s->synq_tail = &s->synq;
	s->done_tail = &s->done;
	s->sync_wal = durability == DURABILITY_FULL;
	s->wal_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->donecv, NULL);
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
	if (shapes_load(s, cause) != 0)
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
	return s;
fail:
	store_close(s);
	return NULL;
}

/* Start the writer; wake(arg) is called from it after each job. */
void
store_start(struct store *s, void (*wake)(void *), void *arg)
{
	s->wake = wake;
	s->wake_arg = arg;
	s->ckpt = ckpt_start(s->wdb, s->cdb);
	s->cdb = NULL;
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0)
		fatalx("cannot start the writer thread");
	if (s->sync_wal && pthread_create(&s->syncer, NULL, syncer_main,
	    s) != 0)
		fatalx("cannot start the syncer thread");
	s->started = 1;
}

/* Is the writer running (jobs submitted now come back)? */
int
store_started(const struct store *s)
{
	return s->started;
}

/* Finish every submitted job, stop the writer and close. */
void
store_close(struct store *s)
{
	struct wjob *j;
	int i;

	if (s == NULL)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		if (s->sync_wal) {
			pthread_mutex_lock(&s->mu);
			s->writer_gone = 1;
			pthread_cond_signal(&s->syncv);
			pthread_mutex_unlock(&s->mu);
			pthread_join(s->syncer, NULL);
		}
	}
	ckpt_stop(s->ckpt);
	if (s->wal_fd != -1)
		close(s->wal_fd);
	while ((j = store_done(s, 0)) != NULL)
		;	/* owners free their jobs; here none should be left */
	for (i = 0; i < NQ; i++)
		sqlite3_finalize(s->q[i]);
	if (s->cdb != NULL)
		sqlite3_close(s->cdb);
	if (s->rdb != NULL)
		sqlite3_close(s->rdb);
	if (s->wdb != NULL)
		sqlite3_close(s->wdb);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->donecv);
	pthread_cond_destroy(&s->syncv);
	shapes_free(&s->shapes);
	buf_free(&s->line);
	buf_free(&s->last);
	buf_free(&s->tmpl);
	buf_free(&s->vals);
	free(s->path);
	free(s);
}

/* The commit latency that the metrics show is measured on this clock. */
uint64_t
store_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void
store_submit(struct store *s, struct wjob *j)
{
	j->next = NULL;
	j->rc = 0;
	j->submitted = store_mono_ns();
	pthread_mutex_lock(&s->mu);
	*s->queue_tail = j;
	s->queue_tail = &j->next;
	s->inflight++;
	__atomic_store_n(&s->busy, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* The oldest finished job, or NULL; with wait, block until there is one. */
struct wjob *
store_done(struct store *s, int wait)
{
	struct wjob *j;

	pthread_mutex_lock(&s->mu);
	while (wait && s->done == NULL && s->inflight > 0)
		pthread_cond_wait(&s->donecv, &s->mu);
	if ((j = s->done) != NULL) {
		if ((s->done = j->next) == NULL)
			s->done_tail = &s->done;
		s->inflight--;
	}
	pthread_mutex_unlock(&s->mu);
	return j;
}

/* Is the writer without work?  A hint: it may change at once. */
int
store_idle(struct store *s)
{
	return !__atomic_load_n(&s->busy, __ATOMIC_RELAXED);
}

/* Transactions committed and WAL syncs so far. */
void
store_counts(struct store *s, uint64_t *commits, uint64_t *syncs)
{
	*commits = __atomic_load_n(&s->n_commits, __ATOMIC_RELAXED);
	*syncs = __atomic_load_n(&s->n_syncs, __ATOMIC_RELAXED);
}

unsigned
store_inflight(struct store *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->inflight;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Serialisation of write operations: u8 op, then fields in order. */
static void
put_i64(struct buf *b, int64_t v)
{
	buf_add(b, &v, sizeof v);
}

static void
put_str(struct buf *b, const char *s, size_t n)
{
	uint32_t len = s == NULL ? UINT32_MAX : (uint32_t)n;

	buf_add(b, &len, sizeof len);
	if (s != NULL) {
		buf_add(b, s, n);
		buf_addc(b, '\0');
	}
}

static void
put_cstr(struct buf *b, const char *s)
{
	put_str(b, s, s != NULL ? strlen(s) : 0);
}

/*
 * An event and its line, split here on the loop thread into template and
 * values (evlog.c), which the writer stores: the template of the line
 * before is tried first.  A line that does not split goes whole, with a
 * NULL template.
 */
void
store_op_event(struct store *s, struct buf *b, int64_t seq, const char *eid,
    const char *type, int64_t ts, const char *body, size_t len)
{
	struct buf *tmpl = &s->last;

	buf_addc(b, OP_EVENT);
	put_i64(b, seq);
	put_cstr(b, eid);
	put_cstr(b, type);
	put_i64(b, ts);
	buf_reset(&s->vals);
	if (BUF_LEN(&s->last) == 0 || evlog_match(body, len,
	    BUF_DATA(&s->last), BUF_LEN(&s->last), &s->vals) != 0) {
		tmpl = &s->tmpl;
		buf_reset(&s->tmpl);
		buf_reset(&s->vals);
		if (evlog_encode(body, len, eid != NULL, &s->tmpl,
		    &s->vals) != 0) {
			put_str(b, NULL, 0);
			put_str(b, body, len);
			return;
		}
		buf_reset(&s->last);
		buf_add(&s->last, BUF_DATA(&s->tmpl), BUF_LEN(&s->tmpl));
	}
	put_str(b, BUF_DATA(tmpl), BUF_LEN(tmpl));
	/* none ({"type":"clock.tick","ts":N}) is no NULL */
	put_str(b, BUF_LEN(&s->vals) > 0 ? BUF_DATA(&s->vals) : "",
	    BUF_LEN(&s->vals));
}

/*
 * removed_ts is the removal's ts, stored only if removed; grp the value
 * of the entity's first field (schema 005), or NULL.
 */
void
store_op_entity(struct buf *b, const char *kind, const char *id,
    const char *grp, int moved, const char *state, size_t len, int removed,
    int64_t removed_ts, int64_t created, int64_t updated)
{
	buf_addc(b, moved ? OP_ENTITY_MOVED : OP_ENTITY);
	put_cstr(b, kind);
	put_cstr(b, id);
	put_cstr(b, grp);
	put_str(b, state, len);
	put_i64(b, removed);
	put_i64(b, created);
	put_i64(b, updated);
	put_i64(b, removed_ts);
}

void
store_op_history(struct buf *b, const char *kind, const char *entity,
    int64_t ts, const char *rule, const char *from, const char *to,
    const char *event, int64_t seq)
{
	buf_addc(b, OP_HISTORY);
	put_cstr(b, kind);
	put_cstr(b, entity);
	put_i64(b, ts);
	put_cstr(b, rule);
	put_cstr(b, from);
	put_cstr(b, to);
	put_cstr(b, event);
	put_i64(b, seq);
}

void
store_op_alert(struct buf *b, int64_t id, const char *rule,
    const char *severity, const char *kind, const char *entity,
    const char *period, int64_t ts, int64_t seq, const char *message,
    size_t msglen, const char *data, const char *event, int64_t silenced)
{
	buf_addc(b, OP_ALERT);
	put_i64(b, id);
	put_cstr(b, rule);
	put_cstr(b, severity);
	put_cstr(b, kind);
	put_cstr(b, entity);
	put_cstr(b, period);
	put_i64(b, ts);
	put_i64(b, seq);
	put_str(b, message, msglen);
	put_cstr(b, data);
	put_cstr(b, event);
	put_i64(b, silenced);
}

/* by: the acknowledging peer's uid; ts: the daemon's clock. */
void
store_op_ack(struct buf *b, int64_t id, int64_t by, int64_t ts)
{
	buf_addc(b, OP_ACK);
	put_i64(b, id);
	put_i64(b, by);
	put_i64(b, ts);
}

/*
 * A write through one of the statements of store.h: fmt has one letter per
 * parameter, 's' a string (NULL binds NULL) and 'i' an int64_t.
 */
/*
 * Statement operations written so far by this process (on the loop
 * thread): a dry run that wrote none changed no fact, mark, span, closure
 * or timer in memory, and need not read them back.
 */
static uint64_t nstmt_ops;

uint64_t
store_op_count(void)
{
	return nstmt_ops;
}

void
store_op(struct buf *b, enum store_stmt st, const char *fmt, ...)
{
	va_list ap;
	const char *f;

	nstmt_ops++;
	buf_addc(b, OP_STMT);
	buf_addc(b, (char)st);
	buf_addc(b, (char)strlen(fmt));
	va_start(ap, fmt);
	for (f = fmt; *f != '\0'; f++) {
		buf_addc(b, *f);
		if (*f == 's')
			put_cstr(b, va_arg(ap, const char *));
		else
			put_i64(b, va_arg(ap, int64_t));
	}
	va_end(ap);
}

struct cursor {
	const char	*p, *end;
};

static int64_t
get_i64(struct cursor *c)
{
	int64_t v;

	memcpy(&v, c->p, sizeof v);
	c->p += sizeof v;
	return v;
}

/* Bind the next string field to parameter i (NULL stays NULL). */
static void
bind_next(sqlite3_stmt *st, int i, struct cursor *c)
{
	uint32_t len;

	memcpy(&len, c->p, sizeof len);
	c->p += sizeof len;
	if (len == UINT32_MAX) {
		sqlite3_bind_null(st, i);
		return;
	}
	sqlite3_bind_text(st, i, c->p, (int)len, SQLITE_STATIC);
	c->p += len + 1;
}

static int
run(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * The id of a template, stored in the same transaction if new; 0 if memory
 * holds no more templates; -1 if the insert failed.
 */
static int64_t
shape_id(struct store *s, const char *tmpl, size_t len)
{
	sqlite3_stmt *ins = s->q[W_SHAPE];
	int64_t id;

	if ((id = shapes_find(&s->shapes, tmpl, len)) != 0)
		return id;
	id = s->shapes.next;
	if (shapes_add(&s->shapes, id, tmpl, len) != 0)
		return 0;
	sqlite3_bind_int64(ins, 1, id);
	sqlite3_bind_text(ins, 2, tmpl, (int)len, SQLITE_STATIC);
	return run(s, ins) == 0 ? id : -1;
}

/* The next string field: *len, and NULL if it is NULL. */
static const char *
get_str(struct cursor *c, uint32_t *len)
{
	const char *p;

	memcpy(len, c->p, sizeof *len);
	c->p += sizeof *len;
	if (*len == UINT32_MAX)
		return NULL;
	p = c->p;
	c->p += *len + 1;
	return p;
}

/*
 * Bind an event's body (5) and shape (6): its values and its template's
 * id, or (no template, or no room for one) the line whole and NULL.
 */
static int
bind_body(struct store *s, sqlite3_stmt *st, struct cursor *c,
    const char *eid, int64_t ts)
{
	const char *tmpl, *vals;
	uint32_t tlen, vlen;
	int64_t id = 0;

	tmpl = get_str(c, &tlen);
	vals = get_str(c, &vlen);
	if (tmpl != NULL && (id = shape_id(s, tmpl, tlen)) < 0)
		return -1;
	if (id > 0) {
		sqlite3_bind_text(st, 5, vals, (int)vlen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, id);
		return 0;
	}
	if (tmpl != NULL) {	/* no room: the line, put back together */
		buf_reset(&s->line);
		evlog_decode(&s->line, tmpl, vals, vlen, eid, ts, 0);
		vals = BUF_DATA(&s->line);
		vlen = (uint32_t)BUF_LEN(&s->line);
	}
	sqlite3_bind_text(st, 5, vals, (int)vlen, SQLITE_STATIC);
	sqlite3_bind_null(st, 6);
	return 0;
}

/* Execute one job's operations; the caller wraps them in a transaction. */
static int
exec_ops(struct store *s, const struct buf *ops)
{
	struct cursor c = { BUF_DATA(ops), BUF_DATA(ops) + BUF_LEN(ops) };
	sqlite3_stmt *st;
	int64_t v;
	int op;

	while (c.p < c.end) {
		switch ((op = *c.p++)) {
		case OP_EVENT: {
			const char *eid;
			uint32_t len;

			st = s->q[W_EVENT];
			sqlite3_bind_int64(st, 1, get_i64(&c));
			eid = get_str(&c, &len);
			bind_text(st, 2, eid);
			bind_next(st, 3, &c);
			sqlite3_bind_int64(st, 4, v = get_i64(&c));
			if (bind_body(s, st, &c, eid, v) != 0)
				return -1;
			break;
		}
		case OP_ENTITY:
		case OP_ENTITY_MOVED:
			st = s->q[op == OP_ENTITY ? W_ENTITY : W_ENTITY_MOVED];
			bind_next(st, 1, &c);
			bind_next(st, 2, &c);
			bind_next(st, 8, &c);
			bind_next(st, 3, &c);
			sqlite3_bind_int64(st, 4, v = get_i64(&c));
			sqlite3_bind_int64(st, 5, get_i64(&c));
			sqlite3_bind_int64(st, 6, get_i64(&c));
			if (v != 0)	/* the removal's ts, NULL while live */
				sqlite3_bind_int64(st, 7, get_i64(&c));
			else {
				(void)get_i64(&c);
				sqlite3_bind_null(st, 7);
			}
			break;
		case OP_HISTORY:
			st = s->q[W_HISTORY];
			bind_next(st, 1, &c);
			bind_next(st, 2, &c);
			sqlite3_bind_int64(st, 3, get_i64(&c));
			bind_next(st, 4, &c);
			bind_next(st, 5, &c);
			bind_next(st, 6, &c);
			bind_next(st, 7, &c);
			sqlite3_bind_int64(st, 8, get_i64(&c));
			break;
		case OP_ALERT:
			st = s->q[W_ALERT];
			sqlite3_bind_int64(st, 1, get_i64(&c));
			bind_next(st, 2, &c);
			bind_next(st, 3, &c);
			bind_next(st, 4, &c);
			bind_next(st, 5, &c);
			bind_next(st, 6, &c);
			sqlite3_bind_int64(st, 7, get_i64(&c));
			if ((v = get_i64(&c)) > 0)	/* a timer's: none */
				sqlite3_bind_int64(st, 8, v);
			else
				sqlite3_bind_null(st, 8);
			bind_next(st, 9, &c);
			bind_next(st, 10, &c);
			bind_next(st, 11, &c);
			if ((v = get_i64(&c)) > 0)
				sqlite3_bind_int64(st, 12, v);
			else
				sqlite3_bind_null(st, 12);
			break;
		case OP_ACK:
			st = s->q[W_ACK];
			sqlite3_bind_int64(st, 1, get_i64(&c));
			sqlite3_bind_int64(st, 2, get_i64(&c));
			sqlite3_bind_int64(st, 3, get_i64(&c));
			break;
		case OP_STMT: {
			int i, n;

			st = s->q[stmt_map[(unsigned char)*c.p++]];
			n = (unsigned char)*c.p++;
			for (i = 1; i <= n; i++)
				if (*c.p++ == 's')
					bind_next(st, i, &c);
				else
					sqlite3_bind_int64(st, i, get_i64(&c));
			break;
		}
		default:
			log_warnx("database: corrupt job");
			return -1;
		}
		if (run(s, st) != 0)
			return -1;
	}
	return 0;
}

/* Jobs first..end (exclusive) are done; with s->mu held. */
static void
hand_back(struct store *s, struct wjob *first, struct wjob *end)
{
	struct wjob *j, *next;
	uint64_t now = store_mono_ns();

	for (j = first; j != end; j = next) {
		next = j->next;
		j->next = NULL;
		j->done = now;
		*s->done_tail = j;
		s->done_tail = &j->next;
	}
	pthread_cond_signal(&s->donecv);
}

/*
 * Commit a run of jobs of one epoch in one transaction: the jobs that
 * queued while the writer was busy share a commit, so the pages every
 * commit rewrites (the tails of the tables and of their indexes) reach
 * the WAL once for all of them.  On failure all of them fail, which the
 * engine handles as for one.
 */
static int
commit_jobs(struct store *s, struct wjob *first, struct wjob *end)
{
	int64_t shapes_mark = s->shapes.next;
	struct timespec t0;
	struct wjob *j;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run(s, s->q[W_BEGIN]) != 0)
		goto fail;
	for (j = first; j != end; j = j->next)
		if (exec_ops(s, &j->ops) != 0)
			goto fail;
	if (run(s, s->q[W_COMMIT]) != 0)
		goto fail;
	note_max(&s->commit_max_us, elapsed_us(&t0));
	__atomic_add_fetch(&s->n_commits, 1, __ATOMIC_RELAXED);
	return 0;
fail:
	log_warnx("database: commit failed: %s", sqlite3_errmsg(s->wdb));
	if (!sqlite3_get_autocommit(s->wdb))
		run(s, s->q[W_ROLLBACK]);
	if (s->shapes.next != shapes_mark)	/* rolled back with it */
		shapes_drop(&s->shapes, shapes_mark);
	return -1;
}

/*
 * Retention.  The writer deletes the events older than the cutoff that the
 * loop thread hands it, a batch at a time, each batch in a transaction of
 * its own between two group commits: the writer owns the connection, so
 * the deletion never waits for the write lock, and a commit waits for at
 * most one batch, which stops at PRUNE_ROWS events or PRUNE_BUDGET_US of
 * deleting, whichever comes first.  While jobs are waiting, a batch runs
 * at most every PRUNE_GAP_US, so that deleting a long backlog takes a
 * bounded share of the writer; an idle writer deletes without a pause.
 * Alerts and history keep their seq.
 */
#define PRUNE_ROWS	1000
#define PRUNE_BUDGET_US	2000
#define PRUNE_GAP_US	20000
#define PRUNE_RETRY	60		/* seconds after a failure */

/* Is there deletion to do?  With s->mu held. */
static int
prune_due(struct store *s)
{
	struct timespec now;

	if (s->prune_cutoff <= s->pruned_to)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec >= s->prune_retry.tv_sec;
}

/*
 * Delete one batch of old events; done for this cutoff when it was short.
 * The writer alone inserts and deletes events, so the batch found before
 * the transaction is still there in it; finding none costs no transaction,
 * which lets every group commit look for late events (an old ts arriving
 * now) below the same cutoff.
 */
static void
prune_step(struct store *s)
{
	int64_t seqs[PRUNE_ROWS], cutoff, max = 0;
	sqlite3_stmt *st = s->q[W_PRUNE_SEL];
	struct timespec t0;
	int n = 0, i, rc = SQLITE_DONE;

	pthread_mutex_lock(&s->mu);
	cutoff = s->prune_cutoff;
	pthread_mutex_unlock(&s->mu);

	sqlite3_bind_int64(st, 1, cutoff);
	sqlite3_bind_int(st, 2, PRUNE_ROWS);
	while (n < PRUNE_ROWS && (rc = sqlite3_step(st)) == SQLITE_ROW)
		seqs[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (n == 0 && rc != SQLITE_DONE)
		goto fail;
	if (n == 0) {
		s->pruned_to = cutoff;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run(s, s->q[W_BEGIN]) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (i % 64 == 63 && elapsed_us(&t0) > PRUNE_BUDGET_US)
			break;
		sqlite3_bind_int64(s->q[W_PRUNE_DEL], 1, seqs[i]);
		if (run(s, s->q[W_PRUNE_DEL]) != 0)
			goto fail;
		if (seqs[i] > max)
			max = seqs[i];
	}
	sqlite3_bind_int64(s->q[W_PRUNED], 1, max);
	if (run(s, s->q[W_PRUNED]) != 0 || run(s, s->q[W_COMMIT]) != 0)
		goto fail;
	note_max(&s->prune_max_us, elapsed_us(&t0));
	clock_gettime(CLOCK_MONOTONIC, &s->prune_last);
	__atomic_add_fetch(&s->n_pruned, (uint64_t)i, __ATOMIC_RELAXED);
	if (n < PRUNE_ROWS && i == n)
		s->pruned_to = cutoff;
	return;
fail:
	log_warnx("database: retention: cannot delete old events: %s; "
	    "trying again in %d s", sqlite3_errmsg(s->wdb), PRUNE_RETRY);
	if (!sqlite3_get_autocommit(s->wdb))
		run(s, s->q[W_ROLLBACK]);
	pthread_mutex_lock(&s->mu);
	clock_gettime(CLOCK_MONOTONIC, &s->prune_retry);
	s->prune_retry.tv_sec += PRUNE_RETRY;
	pthread_mutex_unlock(&s->mu);
}

/*
 * Ask the writer to delete the events with ts < cutoff (a cutoff that does
 * not move forward changes nothing).  From the loop thread.
 */
void
store_prune(struct store *s, int64_t cutoff)
{
	if (cutoff <= __atomic_load_n(&s->prune_cutoff, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&s->mu);
	__atomic_store_n(&s->prune_cutoff, cutoff, __ATOMIC_RELAXED);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Events deleted by retention so far, the longest deleting transaction
 * and the longest group commit, to compare it with (µs).
 */
void
store_prune_counts(struct store *s, uint64_t *n, uint64_t *max_us,
    uint64_t *commit_max_us)
{
	*n = __atomic_load_n(&s->n_pruned, __ATOMIC_RELAXED);
	*max_us = __atomic_load_n(&s->prune_max_us, __ATOMIC_RELAXED);
	*commit_max_us = __atomic_load_n(&s->commit_max_us, __ATOMIC_RELAXED);
}

static void *
writer_main(void *arg)
{
	struct store *s = arg;
	struct wjob *first, *end, *j;
	int rc, prune;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->queue == NULL && !s->stop && !prune_due(s))
			pthread_cond_wait(&s->cv, &s->mu);
		if ((first = s->queue) == NULL) {
			prune = !s->stop;
			pthread_mutex_unlock(&s->mu);
			if (!prune)
				break;
			prune_step(s);
			continue;
		}
		/* take every queued job of the first one's epoch */
		for (end = first; end != NULL && end->epoch == first->epoch;
		    end = end->next)
			;
		if ((s->queue = end) == NULL)
			s->queue_tail = &s->queue;
		pthread_mutex_unlock(&s->mu);

		if (first->epoch <= s->bad_epoch)
			rc = -1;	/* built on a job that failed */
		else if ((rc = commit_jobs(s, first, end)) != 0)
			s->bad_epoch = first->epoch;
		else
			s->pruned_to = 0;	/* they may hold late events */

		for (j = first; j != end; j = j->next)
			j->rc = rc;
		pthread_mutex_lock(&s->mu);
		if (s->sync_wal) {
			for (j = first; j->next != end; j = j->next)
				;
			j->next = NULL;
			*s->synq_tail = first;
			s->synq_tail = &j->next;
			pthread_cond_signal(&s->syncv);
		} else
			hand_back(s, first, end);
		if (s->queue == NULL)
			__atomic_store_n(&s->busy, 0, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&s->mu);
		if (!s->sync_wal && s->wake != NULL)
			s->wake(s->wake_arg);
		/* one batch of deletion between two group commits */
		pthread_mutex_lock(&s->mu);
		prune = !s->stop && prune_due(s) && (s->queue == NULL ||
		    elapsed_us(&s->prune_last) >= PRUNE_GAP_US);
		pthread_mutex_unlock(&s->mu);
		if (prune)
			prune_step(s);
	}
	return NULL;
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
	struct store *s = arg;
	struct wjob *first, *j;
	char *wal;
	int any;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->synq == NULL && !s->writer_gone)
			pthread_cond_wait(&s->syncv, &s->mu);
		if ((first = s->synq) == NULL) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		s->synq = NULL;
		s->synq_tail = &s->synq;
		pthread_mutex_unlock(&s->mu);

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
			__atomic_add_fetch(&s->n_syncs, 1, __ATOMIC_RELAXED);

		pthread_mutex_lock(&s->mu);
		hand_back(s, first, NULL);
		pthread_mutex_unlock(&s->mu);
		if (s->wake != NULL)
			s->wake(s->wake_arg);
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
read_int(struct store *s, int q)
{
	sqlite3_stmt *st = s->q[q];
	int64_t v = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

int64_t
store_max_seq(struct store *s)
{
	return read_int(s, R_MAX_SEQ);
}

int64_t
store_max_alert(struct store *s)
{
	return read_int(s, R_MAX_ALERT);
}

int64_t
store_max_silence(struct store *s)
{
	return read_int(s, R_MAX_SILENCE);
}

static int
read_error(struct store *s, sqlite3_stmt *st)
{
	log_warnx("database: %s", sqlite3_errmsg(s->rdb));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return -1;
}

int
store_entity_count(struct store *s, int64_t *n)
{
	*n = read_int(s, R_ENT_COUNT);
	return *n < 0 ? -1 : 0;
}

/* Call fn(arg, kind, id) for every entity in the database. */
int
store_entity_keys(struct store *s, void (*fn)(void *, const char *,
    const char *), void *arg)
{
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
int
store_entity_rows(struct store *s, const char *kind, void (*fn)(void *,
    const char *, const char *, int), void *arg)
{
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
int
store_group_rows(struct store *s, const char *kind, const char *grp,
    const char *after, int64_t limit, int (*fn)(void *, const char *,
    const char *), void *arg)
{
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

int
store_event_id_count(struct store *s, int64_t *n)
{
	*n = read_int(s, R_ID_COUNT);
	return *n < 0 ? -1 : 0;
}

/* Call fn(arg, id) for the id of every event in the database. */
int
store_event_ids(struct store *s, void (*fn)(void *, const char *), void *arg)
{
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
int
store_event_find(struct store *s, const char *eid, int64_t *seq)
{
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
int
store_entity_load(struct store *s, const char *kind, const char *id,
    char **state, int *removed, int64_t *removed_ts, int64_t *created)
{
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
int
store_history_json(struct store *s, const char *kind, const char *entity,
    int limit, struct buf *out)
{
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
int
store_select(struct store *s, enum store_table t,
    void (*fn)(void *, const struct store_row *), void *arg)
{
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

/*
 * Append alerts with id > after (of rule, if not NULL), at most limit, as
 * comma-separated JSON objects; *last is the last id appended.  acked: -1
 * any, 0 only unacknowledged, 1 only acknowledged ones; silenced: include
 * the alerts that a silence matched.
 */
int
store_alerts_json(struct store *s, int64_t after, int64_t limit,
    const char *rule, int acked, int silenced, struct buf *out,
    int64_t *last)
{
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

/* "by" and "ts" of a record: a uid and a moment, each null if unknown. */
static void
by_ts_json(struct buf *out, int64_t by, int64_t ts)
{
	char t[40];

	buf_adds(out, "{\"by\":");
	buf_add_int(out, by);
	clock_format(ts, t, sizeof t);
	buf_adds(out, ",\"ts\":");
	buf_add_json_cstr(out, t);
	buf_addc(out, '}');
}

/*
 * Append the silences as a JSON array: with all, every one ever made,
 * else those not ended whose until is not before now.  match is stored
 * as the JSON object it was given as.
 */
int
store_silences_json(struct store *s, int all, int64_t now, struct buf *out)
{
	sqlite3_stmt *st = s->q[R_SILENCE_LIST];
	int64_t until, ended;
	char t[40];
	int rc, n = 0;

	sqlite3_bind_int(st, 1, all);
	sqlite3_bind_int64(st, 2, now);
	buf_addc(out, '[');
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ > 0)
			buf_addc(out, ',');
		until = sqlite3_column_int64(st, 2);
		ended = column_int(st, 6);
		buf_adds(out, "{\"id\":");
		buf_add_int(out, sqlite3_column_int64(st, 0));
		buf_adds(out, ",\"match\":");
		buf_adds(out, column(st, 1));
		clock_format(until, t, sizeof t);
		buf_adds(out, ",\"until\":");
		buf_add_json_cstr(out, t);
		buf_adds(out, ",\"comment\":");
		buf_add_json_cstr(out, column(st, 3));
		buf_adds(out, ",\"created\":");
		by_ts_json(out, sqlite3_column_int64(st, 4),
		    sqlite3_column_int64(st, 5));
		buf_adds(out, ",\"ended\":");
		if (ended >= 0)
			by_ts_json(out, sqlite3_column_int64(st, 7), ended);
		else
			buf_adds(out, "null");
		buf_adds(out, ",\"active\":");
		buf_adds(out, ended < 0 && until >= now ? "true" : "false");
		buf_addc(out, '}');
	}
	if (rc != SQLITE_DONE)
		return read_error(s, st);
	buf_addc(out, ']');
	sqlite3_reset(st);
	return 0;
}
