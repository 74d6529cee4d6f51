/*
 * PostgreSQL storage, the backend of store.h for a database value that is
 * a libpq connection string (a postgresql:// URI or keyword=value pairs).
 * The tables are those of SQLite's schema (schema/pg/ holds the same
 * migrations in PostgreSQL's dialect), in the first schema of the
 * connection's search_path, so that one cluster can hold many daemons'
 * data, one schema each.
 *
 * The writer thread has one connection and commits each group of jobs in
 * one transaction, sent in pipeline mode: BEGIN, every operation as a
 * prepared statement (the rows of events, entities, history and alerts
 * up to ROWS_MAX to a statement), COMMIT, without waiting for each answer,
 * so that a group costs one round trip (one more per CHUNK operations, to
 * keep the answers from filling the socket).  A job comes back only after its
 * COMMIT returned: the server's synchronous_commit decides what that
 * means (with a synchronous standby, on both machines); `durability:
 * normal` turns it off for the writer's session.  The loop thread reads
 * through a second connection, which sees committed transactions only.
 *
 * Faults.  A connection lost before COMMIT was sent means the transaction
 * is gone: the jobs fail (their events are answered `unavailable`) and
 * the connection is made again, at once the first time, then after a
 * delay that doubles up to BACKOFF_MAX.  Reads on a lost connection fail
 * the same way and try again under the same rule.  A connection lost
 * after COMMIT was sent and before its answer leaves the outcome unknown:
 * the writer keeps the jobs, reconnects until the server answers, and
 * looks up the group's last event by its seq (a group without events
 * writes a token of its own into meta for this), then hands the jobs back
 * as committed or failed.  If the server is not back within DOUBT_WAIT,
 * they come back as STORE_DOUBT, and their clients are disconnected
 * without an answer (they resend, with ids).  Nothing is guessed: nothing
 * acknowledged is lost and nothing is applied twice.
 *
 * Active/standby.  Only the holder of the schema's advisory lock commits
 * (see holds); a writer that loses its session is a standby from then on,
 * and the loop (server.c) follows the store's role and term.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "zhilid.h"
#include "conf.h"
#include "store-impl.h"

struct migration {
	int		 version;
	const char	*name;
	const char	*sql;
};
#include "schema-pg.h"
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

#define TEXT_OID	25	/* pg_type's text, as PQftype reports it */
#define CHUNK		1000	/* statements sent before reading answers */
#define BACKOFF_MIN	100	/* ms, after the first retry, which is at once */
#define BACKOFF_MAX	2000
#define CONNECT_STEP	50	/* ms the loop gives a reconnection at a time */
#define MIGRATE_LOCK	0x5a48494d	/* "ZHIM": one migration at a time */
#define ACTIVE_LOCK	0x5a48494c	/* "ZHIL": one writer a schema */
/*
 * How long a group whose COMMIT went unanswered waits for the server to
 * say whether it committed: a restart or a killed session is back within
 * it; past it the group's clients are disconnected without an answer, so
 * that those behind it are answered (unavailable) while the server is away.
 */
#define DOUBT_WAIT	5000	/* ms */
/*
 * Active/standby.  A standby asks for the lock every CLAIM_EVERY; an
 * active that lost its session waits LOST_YIELD before it asks again, so
 * that a standby in good health takes over rather than the one whose
 * session (or network) just failed.
 */
#define CLAIM_EVERY	1000	/* ms */
#define LOST_YIELD	2000	/* ms */
#define REAP_WAIT	5000	/* ms for an old session of ours to end */

/* The writer's statements, in the order of store-impl.h's ST_* and SW_*. */
static const char *const wsql[SW_N] = {
	[ST_FACT] = "INSERT INTO facts "
	    "(rule, kind, entity, period, grp, value, parts, ts) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
	    "ON CONFLICT (rule, kind, entity, period) DO UPDATE SET "
	    "grp = EXCLUDED.grp, value = EXCLUDED.value, "
	    "parts = EXCLUDED.parts, ts = EXCLUDED.ts",
	[ST_CLOSE] = "INSERT INTO closures (cycle, grp, period, ts, seq) "
	    "VALUES ($1, $2, $3, $4, $5)",
	[ST_MARK_PUT] = "INSERT INTO marks (name, kind, entity, since, until) "
	    "VALUES ($1, $2, $3, $4, $5) "
	    "ON CONFLICT (name, kind, entity) DO UPDATE SET "
	    "since = EXCLUDED.since, until = EXCLUDED.until",
	[ST_MARK_DEL] = "DELETE FROM marks WHERE name = $1 AND kind = $2 AND "
	    "entity = $3",
	[ST_TIMER_PUT] = "INSERT INTO timers "
	    "(id, due, rule, kind, entity, tag, aux) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7) "
	    "ON CONFLICT (id) DO UPDATE SET due = EXCLUDED.due, "
	    "rule = EXCLUDED.rule, kind = EXCLUDED.kind, "
	    "entity = EXCLUDED.entity, tag = EXCLUDED.tag, aux = EXCLUDED.aux",
	[ST_TIMER_DEL] = "DELETE FROM timers WHERE id = $1",
	[ST_META] = "INSERT INTO meta (key, value) VALUES ($1, $2) "
	    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
	[ST_SPAN_PUT] = "INSERT INTO spans "
	    "(rule, kind, entity, grp, since, seen, seen_mask) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7) "
	    "ON CONFLICT (rule, kind, entity) DO UPDATE SET "
	    "grp = EXCLUDED.grp, since = EXCLUDED.since, "
	    "seen = EXCLUDED.seen, seen_mask = EXCLUDED.seen_mask",
	[ST_SPAN_DEL] = "DELETE FROM spans WHERE rule = $1 AND kind = $2 AND "
	    "entity = $3",
	/* every entity of a kind, grouped by another of its fields */
	[ST_REGROUP] = "UPDATE entities SET grp = "
	    "state::json -> 'fields' ->> $2::text WHERE kind = $1",
	/* silences (schema 006); an end, like an ack, keeps the first */
	[ST_SILENCE_PUT] = "INSERT INTO silences "
	    "(id, match, until, comment, uid, created) "
	    "VALUES ($1, $2, $3, $4, $5, $6)",
	[ST_SILENCE_END] = "UPDATE silences SET ended = $2, ended_by = $3 "
	    "WHERE id = $1 AND ended IS NULL",
	/* outputs (schema 008) */
	[ST_OUTPUT_POS] = "INSERT INTO output_positions (key, last_id) "
	    "VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET "
	    "last_id = EXCLUDED.last_id",
	[ST_OUTPUT_CLEAR] = "DELETE FROM output_positions",
	[SW_EVENT] = "INSERT INTO events (seq, eid, type, ts, body, shape) "
	    "VALUES ($1, $2, $3, $4, $5, $6)",
	/* grp set only when the entity moved: its index stays put else */
#define ENTITY_UPSERT "INSERT INTO entities " \
	"(kind, id, state, removed, created, updated, removed_ts, grp) " \
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) " \
	"ON CONFLICT (kind, id) DO UPDATE SET state = EXCLUDED.state, " \
	"removed = EXCLUDED.removed, created = EXCLUDED.created, " \
	"updated = EXCLUDED.updated, removed_ts = EXCLUDED.removed_ts"
	[SW_ENTITY] = ENTITY_UPSERT,
	[SW_ENTITY_MOVED] = ENTITY_UPSERT ", grp = EXCLUDED.grp",
	[SW_HISTORY] = "INSERT INTO history "
	    "(kind, entity, ts, rule, from_class, to_class, event, seq) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	[SW_ALERT] = "INSERT INTO alerts (id, rule, severity, kind, entity, "
	    "period, ts, seq, message, data, event, silenced) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
	/* the first ack stays: who and when are not overwritten */
	[SW_ACK] = "UPDATE alerts SET acked = 1, acked_by = $2, acked_ts = $3 "
	    "WHERE id = $1 AND acked = 0",
	/* the event log's templates (schema 007, evlog.c) */
	[SW_SHAPE] = "INSERT INTO shapes (id, template) VALUES ($1, $2)",
};

/*
 * Retention's batch (store.c), one round trip: the oldest events below the
 * cutoff (%lld) through the ts index, at most %d of them, and the last seq
 * deleted into meta.  Nothing waits for this commit to reach the disk:
 * lost in a crash, the batch is deleted again, and events.pruned goes
 * with it, as it is written in the same transaction.
 */
#define PRUNE_SQL "BEGIN; SET LOCAL synchronous_commit = off; " \
	"WITH d AS (DELETE FROM events WHERE seq IN (SELECT seq FROM events " \
	"WHERE ts < %lld ORDER BY ts LIMIT %d) RETURNING seq), " \
	"m AS (INSERT INTO meta (key, value) SELECT 'events.pruned', " \
	"max(seq)::text FROM d HAVING count(*) > 0 ON CONFLICT (key) DO " \
	"UPDATE SET value = GREATEST(meta.value::bigint, " \
	"EXCLUDED.value::bigint)::text) SELECT count(*) FROM d; COMMIT"

enum {
	R_EV_FIND, R_ENT_LOAD, R_HIST, R_ALERTS, R_ALERTS_RULE, R_MAX_SEQ,
	R_MAX_ALERT, R_ENT_COUNT, R_ENT_KEYS, R_ENT_ROWS, R_ID_COUNT, R_IDS,
	R_FACTS, R_CLOSURES, R_MARKS, R_TIMERS, R_META, R_SPANS, R_GROUP,
	R_SILENCES, R_MAX_SILENCE, R_SILENCE_LIST, R_OUTPUTS, R_UNSILENCED, NR
};

static const char *const rsql[NR] = {
	[R_EV_FIND] = "SELECT seq FROM events WHERE eid = $1",
	[R_ENT_LOAD] = "SELECT state, removed, created, removed_ts "
	    "FROM entities WHERE kind = $1 AND id = $2",
	[R_HIST] = "SELECT ts, rule, from_class, to_class, event FROM "
	    "(SELECT id, ts, rule, from_class, to_class, event FROM history "
	    "WHERE kind = $1 AND entity = $2 ORDER BY id DESC LIMIT $3) AS h "
	    "ORDER BY id",
	/* $3: NULL, or only acked (1) or unacked (0); $4: with silenced ones */
#define ALERT_FILTER "($3::int IS NULL OR acked = $3::int) AND " \
	"($4::int <> 0 OR silenced IS NULL)"
	[R_ALERTS] = "SELECT " SQL_ALERT_COLUMNS " FROM alerts WHERE id > $1 "
	    "AND " ALERT_FILTER " ORDER BY id LIMIT $2",
	[R_ALERTS_RULE] = "SELECT " SQL_ALERT_COLUMNS " FROM alerts WHERE "
	    "rule = $5 AND id > $1 AND " ALERT_FILTER " ORDER BY id LIMIT $2",
	[R_MAX_SEQ] = SQL_MAX_SEQ,
	[R_MAX_ALERT] = SQL_MAX_ALERT,
	[R_ENT_COUNT] = SQL_ENT_COUNT,
	[R_ENT_KEYS] = SQL_ENT_KEYS,
	[R_ENT_ROWS] = "SELECT id, state, removed FROM entities WHERE kind = $1",
	[R_ID_COUNT] = SQL_ID_COUNT,
	[R_IDS] = SQL_IDS,
	[R_FACTS] = "SELECT rule, kind, entity, period, grp, parts, value, ts, "
	    "(value IS NULL)::int FROM facts",
	[R_CLOSURES] = SQL_CLOSURES,
	[R_MARKS] = SQL_MARKS,
	[R_TIMERS] = SQL_TIMERS,
	[R_META] = SQL_META,
	[R_SPANS] = SQL_SPANS,
	[R_GROUP] = "SELECT id, state FROM entities WHERE kind = $1 AND "
	    "grp = $2 AND removed = 0 AND id > $3 ORDER BY id LIMIT $4",
	[R_SILENCES] = SQL_SILENCES,
	[R_MAX_SILENCE] = SQL_MAX_SILENCE,
	/* $1: every one; else those not ended nor past $2 */
	[R_SILENCE_LIST] = "SELECT id, match, until, comment, uid, created, "
	    "ended, ended_by FROM silences WHERE $1::int <> 0 OR "
	    "(ended IS NULL AND until >= $2) ORDER BY id",
	[R_OUTPUTS] = SQL_OUTPUTS,
	[R_UNSILENCED] = "SELECT count(*) FROM alerts WHERE id > $1 AND "
	    "id <= $2 AND silenced IS NULL",
};

/*
 * Rows of the insert-only tables (events, history, alerts) and entity
 * upserts go in multi-row statements, INSERT ... VALUES (...), (...):
 * ROWS_MAX rows each, and the rest in statements prepared for each power
 * of two below, so that a group's thousands of rows cost the server tens
 * of statements to parse, plan and execute rather than thousands (make
 * bench-pg: 0.32 of SQLite's events/s before, see the report).
 */
#define ROWS_LOG	8
#define ROWS_MAX	(1 << ROWS_LOG)
static const int batched[] = { SW_EVENT, SW_ENTITY, SW_HISTORY, SW_ALERT };
#define NBATCHED	(int)(sizeof batched / sizeof batched[0])
enum { B_EVENT, B_ENTITY, B_HISTORY, B_ALERT };

/* The rows of one batched statement waiting to be sent. */
struct rows {
	int		 n;
	int		 width;		/* parameters a row */
	const char	*vals[ROWS_MAX * STORE_PARAMS_MAX];
	char		 num[ROWS_MAX * STORE_PARAMS_MAX][24];
};

static const int table_map[] = { R_FACTS, R_CLOSURES, R_MARKS, R_TIMERS,
    R_META, R_SPANS, R_SILENCES, R_OUTPUTS };

/* A connection and when it may be tried again after a failure. */
struct link {
	PGconn		*c;
	const char	*who;		/* "writer", "reader" */
	char		 prefix;	/* of its statements' names */
	const char *const *sql;
	int		 nsql;
	int64_t		 retry_at;	/* ms, monotonic */
	int		 backoff;	/* ms; 0: the next try is at once */
	int		 down;		/* lost, and said so in the log */
	uint64_t	 gen;		/* connections made so far */
	int		 poll;		/* connecting: PQconnectPoll's last word */
	int64_t		 give_up;	/* connecting: ms, monotonic */
};

struct pg {
	struct store	 s;		/* first: store.c's part */
	char		*conninfo;
	int		 durability;
	struct link	 w;		/* the writer thread's */
	struct link	 r;		/* the loop thread's */
	uint64_t	 ntokens;	/* the writer's */
	int		 synced;	/* its commits wait for the server's WAL */
	int		 shapes_stale;	/* read them again before a commit */
	int		 prune_rows;	/* retention's next batch */
	/* active/standby, the writer's */
	int		 held;		/* the lock, taken in connection held_gen */
	uint64_t	 held_gen;
	int64_t		 claim_at;	/* ms, monotonic: the next try for it */
	int		 refused;	/* a try failed, and the log said so */
	int		 old_pid;	/* the writer's last backend, and ... */
	int64_t		 old_start;	/* ... when it started (us, epoch) */
	/* multi-row statements: SQL for 2^1..2^ROWS_LOG rows, rows held */
	char		*msql[NBATCHED][ROWS_LOG];
	struct rows	 rows[NBATCHED];
};

/* What tells whether a group whose COMMIT went unanswered committed. */
struct doubt {
	int		 has_seq;
	int64_t		 seq;		/* the group's last event */
	char		 token[64];	/* else, its meta row "commit" */
};

static const struct store_backend pg_backend;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq's message without its trailing newline, for the log. */
static const char *
pgerr(PGconn *c, const PGresult *r, char *buf, size_t len)
{
	const char *m = r != NULL ? PQresultErrorMessage(r) : NULL;

	if (m == NULL || *m == '\0')
		m = c != NULL ? PQerrorMessage(c) : "out of memory";
	snprintf(buf, len, "%s", m);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* The server's notices and warnings (a shutdown, a cancelled wait): the log. */
static void
notice(void *arg, const char *msg)
{
	log_notice("database: server says: %.*s", (int)strcspn(msg, "\n"), msg);
}

/*
 * Open a connection.  The defaults a site reliability engineer expects
 * come first, so that the connection string overrides them: give up a
 * connect after 5 s, find a dead peer in about 15 s (TCP only).
 */
static PGconn *
pg_connect(const char *conninfo, int async)
{
	static const char *const keys[] = { "connect_timeout", "keepalives_idle",
	    "keepalives_interval", "keepalives_count", "tcp_user_timeout",
	    "fallback_application_name", "dbname", NULL };
	const char *vals[] = { "5", "5", "2", "5", "15000", "zhilid", conninfo,
	    NULL };
	PGconn *c = async ? PQconnectStartParams(keys, vals, 1) :
	    PQconnectdbParams(keys, vals, 1);

	if (c != NULL)
		PQsetNoticeProcessor(c, notice, NULL);
	return c;
}

static int
exec_ok(PGconn *c, const char *sql, char **cause, const char *what)
{
	PGresult *r = PQexec(c, sql);
	int st = PQresultStatus(r);
	char e[512];

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	if (cause != NULL)
		*cause = xasprintf("%s: %s", what, pgerr(c, r, e, sizeof e));
	PQclear(r);
	return -1;
}

/* The first column of the first row as an integer, or dflt. */
static int64_t
exec_int(PGconn *c, const char *sql, int64_t dflt)
{
	PGresult *r = PQexec(c, sql);
	int64_t v = dflt;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
	    !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/*
 * Refuse a schema that holds tables but is not zhilid's, or was written by
 * a newer zhilid; apply the missing steps, all in one transaction, one
 * daemon at a time.
 */
static int
migrate(PGconn *c, char **cause)
{
	int64_t tables, have = 0;
	char *sql, *schema;
	PGresult *r;
	size_t i;

	r = PQexec(c, "SELECT current_schema()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQgetisnull(r, 0, 0)) {
		*cause = xstrdup("no schema to create tables in: the "
		    "search_path names none that exists");
		PQclear(r);
		return -1;
	}
	schema = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	sql = xasprintf("BEGIN; SELECT pg_advisory_xact_lock(%d, "
	    "hashtext(current_schema()))", MIGRATE_LOCK);
	if (exec_ok(c, sql, cause, schema) != 0)
		goto fail;
	free(sql);
	sql = NULL;
	tables = exec_int(c, "SELECT count(*) FROM pg_tables WHERE "
	    "schemaname = current_schema()", -1);
	if (tables > 0 && exec_int(c, "SELECT count(*) FROM pg_tables WHERE "
	    "schemaname = current_schema() AND tablename = 'schema_version'",
	    0) == 0) {
		*cause = xasprintf("schema %s is not a zhilid database (%lld "
		    "tables, no schema_version)", schema, (long long)tables);
		goto fail;
	}
	if (tables > 0 && (have = exec_int(c, "SELECT max(version) FROM "
	    "schema_version", -1)) < 0) {
		*cause = xasprintf("schema %s has no schema version", schema);
		goto fail;
	}
	if (have > migrations[NMIGRATIONS - 1].version) {
		*cause = xasprintf("schema %s: database schema version %lld is "
		    "newer than this zhilid supports (%d); upgrade zhilid",
		    schema, (long long)have, migrations[NMIGRATIONS - 1].version);
		goto fail;
	}
	for (i = 0; i < NMIGRATIONS; i++) {
		if (migrations[i].version <= have)
			continue;
		log_info("database: applying schema %s to %s", migrations[i].name,
		    schema);
		sql = xasprintf("%s; INSERT INTO schema_version VALUES (%d, "
		    "'%s', %lld)", migrations[i].sql, migrations[i].version,
		    migrations[i].name, (long long)time(NULL));
		if (exec_ok(c, sql, cause, migrations[i].name) != 0)
			goto fail;
		free(sql);
		sql = NULL;
	}
	if (exec_ok(c, "COMMIT", cause, schema) != 0)
		goto fail;
	free(schema);
	return 0;
fail:
	free(sql);
	free(schema);
	exec_ok(c, "ROLLBACK", NULL, NULL);
	return -1;
}

/* Prepare a link's statements, named by its prefix and number. */
static int
prepare(struct link *l, char **cause)
{
	PGresult *r;
	char name[16], e[512];
	int i;

	for (i = 0; i < l->nsql; i++) {
		snprintf(name, sizeof name, "%c%d", l->prefix, i);
		r = PQprepare(l->c, name, l->sql[i], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			if (cause != NULL)
				*cause = xasprintf("preparing \"%s\": %s",
				    l->sql[i], pgerr(l->c, r, e, sizeof e));
			PQclear(r);
			return -1;
		}
		PQclear(r);
	}
	return 0;
}

/*
 * The statement sql (one VALUES tuple of $1..$width) for nrows rows, the
 * parameters of row r numbered from r * width + 1.
 */
static char *
multi_sql(const char *sql, int nrows, int *width)
{
	const char *open = strstr(sql, "VALUES (") + 7, *close, *q;
	struct buf b = { 0 };
	int r, w = 0;

	close = strchr(open, ')');
	for (q = open; q < close; q++)
		w += *q == '$';
	buf_add(&b, sql, (size_t)(open - sql));
	for (r = 0; r < nrows; r++) {
		if (r > 0)
			buf_adds(&b, ", ");
		for (q = open; q <= close; q++) {
			if (*q != '$') {
				buf_addc(&b, *q);
				continue;
			}
			buf_addf(&b, "$%ld", strtol(q + 1, (char **)&q, 10) +
			    r * w);
			q--;
		}
	}
	buf_adds(&b, close + 1);
	*width = w;
	return buf_steal(&b);
}

/* The writer's multi-row statements, named m<stmt>_<log2 rows>. */
static int
prepare_rows(struct pg *p, PGconn *c, char **cause)
{
	PGresult *r;
	char name[16], e[512];
	int i, k;

	for (i = 0; i < NBATCHED; i++)
		for (k = 1; k <= ROWS_LOG; k++) {
			snprintf(name, sizeof name, "m%d_%d", batched[i], k);
			r = PQprepare(c, name, p->msql[i][k - 1], 0, NULL);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				if (cause != NULL)
					*cause = xasprintf("preparing %s: %s",
					    name, pgerr(c, r, e, sizeof e));
				PQclear(r);
				return -1;
			}
			PQclear(r);
		}
	return 0;
}

/*
 * End the writer's previous session if the server still has it: after a
 * network cut the server keeps a dead client's session (and its lock, and
 * maybe a COMMIT not yet read) until TCP tells it, which may take hours.
 * A session is named by its backend's pid and start, which no other has;
 * ending one of our own role's needs no privilege.  Waiting for it to end
 * makes a look-up of a commit in doubt final, and frees the lock at once.
 */
static void
reap_old(struct pg *p, PGconn *c)
{
	char pid[24], start[24], wait[24];
	const char *v[3] = { pid, start, wait };
	PGresult *r;
	char e[512];

	if (p->old_pid == 0)
		return;
	snprintf(pid, sizeof pid, "%d", p->old_pid);
	snprintf(start, sizeof start, "%lld", (long long)p->old_start);
	snprintf(wait, sizeof wait, "%d", REAP_WAIT);
	r = PQexecParams(c, "SELECT pg_terminate_backend(pid, $3)::int FROM "
	    "pg_stat_activity WHERE pid = $1 AND (extract(epoch FROM "
	    "backend_start) * 1000000)::bigint = $2", 3, NULL, v, NULL, NULL,
	    0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		log_warnx("database: cannot end this zhilid's previous session "
		    "(backend %d): %s", p->old_pid, pgerr(c, r, e, sizeof e));
	else if (PQntuples(r) == 1)
		log_notice("database: ended this zhilid's previous session "
		    "(backend %d), which the server still kept%s", p->old_pid,
		    strcmp(PQgetvalue(r, 0, 0), "1") == 0 ? "" :
		    " (it did not end in time)");
	PQclear(r);
	p->old_pid = 0;
}

/*
 * The writer's session.  The server is told to notice a dead peer within
 * about 15 s (TCP only; unless the connection string says otherwise), so
 * that the lock of an active whose host died goes within that; the
 * previous session, if the server kept it, is ended; this one's identity
 * is kept for the next.  The lock itself is claim's.
 */
static int
writer_setup(struct pg *p, PGconn *c, char **cause)
{
	PGresult *r;

	if (exec_ok(c, "SELECT set_config(n, v, false) FROM (VALUES "
	    "('tcp_keepalives_idle', '5'), ('tcp_keepalives_interval', '2'), "
	    "('tcp_keepalives_count', '5'), ('tcp_user_timeout', '15000')) "
	    "AS t(n, v) WHERE current_setting(n) = '0'", cause,
	    "keepalives") != 0)
		return -1;
	reap_old(p, c);
	r = PQexec(c, "SELECT pg_backend_pid(), (extract(epoch FROM "
	    "backend_start) * 1000000)::bigint FROM pg_stat_activity WHERE "
	    "pid = pg_backend_pid()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		p->old_pid = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
		p->old_start = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	}
	PQclear(r);
	/* durability normal: commits do not wait for the server's disk */
	if (p->durability != DURABILITY_FULL && exec_ok(c,
	    "SET synchronous_commit = off", cause, "synchronous_commit") != 0)
		return -1;
	/* what stats calls syncs: commits that waited for the WAL's flush */
	p->synced = exec_int(c, "SELECT count(*) FROM pg_settings WHERE "
	    "name = 'synchronous_commit' AND setting <> 'off'", 1) > 0;
	p->shapes_stale = 1;
	return 0;
}

/* Connect a link and set it up; with cause, say why it failed. */
static int
link_open(struct pg *p, struct link *l, char **cause)
{
	char e[512];

	if (l->c == NULL)
		l->c = pg_connect(p->conninfo, 0);
	if (PQstatus(l->c) != CONNECTION_OK) {
		if (cause != NULL)
			*cause = xasprintf("cannot connect: %s",
			    pgerr(l->c, NULL, e, sizeof e));
		goto fail;
	}
	if (l == &p->w && writer_setup(p, l->c, cause) != 0)
		goto fail;
	if (prepare(l, cause) != 0)
		goto fail;
	if (l == &p->w && prepare_rows(p, l->c, cause) != 0)
		goto fail;
	l->gen++;
	return 0;
fail:
	PQfinish(l->c);
	l->c = NULL;
	return -1;
}

/* A link lost its connection: drop it, say so once. */
static void
link_lost(struct link *l)
{
	char e[512];

	if (!l->down)
		log_warnx("database: the %s's connection is lost: %s", l->who,
		    pgerr(l->c, NULL, e, sizeof e));
	l->down = 1;
	PQfinish(l->c);
	l->c = NULL;
}

/*
 * The reader's connection is made again without blocking the loop for
 * long: started, then carried on for at most CONNECT_STEP each time a read
 * wants it (a local server needs one step; one out of reach costs reads
 * no more than that, each answered unavailable).  1 connected, 0 not yet,
 * -1 failed.
 */
static int
connect_step(struct pg *p, struct link *l)
{
	int64_t until = now_ms() + CONNECT_STEP;
	struct pollfd pfd;
	int left;

	if (l->c == NULL) {
		l->c = pg_connect(p->conninfo, 1);
		l->poll = PGRES_POLLING_WRITING;
		l->give_up = now_ms() + 5000;
	}
	while (l->poll != PGRES_POLLING_OK && l->poll != PGRES_POLLING_FAILED &&
	    (left = (int)(until - now_ms())) > 0) {
		pfd.fd = PQsocket(l->c);
		pfd.events = l->poll == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		if (pfd.fd < 0 || poll(&pfd, 1, left) == 0)
			break;
		l->poll = PQconnectPoll(l->c);
	}
	if (l->poll == PGRES_POLLING_OK) {
		PQsetnonblocking(l->c, 0);
		return 1;
	}
	if (l->poll == PGRES_POLLING_FAILED || now_ms() > l->give_up)
		return -1;
	return 0;
}

/*
 * The link's connection, made again if it was lost and the backoff allows;
 * NULL if there is none now.
 */
static PGconn *
link_get(struct pg *p, struct link *l)
{
	char *cause = NULL;
	int rc;

	if (l->c != NULL && PQstatus(l->c) == CONNECTION_OK &&
	    l->poll == PGRES_POLLING_OK)
		return l->c;
	if (l->c != NULL && l->poll == PGRES_POLLING_OK)
		link_lost(l);
	if (l->c == NULL && now_ms() < l->retry_at)
		return NULL;
	if (l == &p->r && (rc = connect_step(p, l)) == 0)
		return NULL;
	l->poll = PGRES_POLLING_OK;
	if (link_open(p, l, &cause) != 0) {
		if (!l->down)
			log_warnx("database: %s: %s", l->who, cause);
		l->down = 1;
		free(cause);
		l->retry_at = now_ms() + l->backoff;
		l->backoff = l->backoff == 0 ? BACKOFF_MIN :
		    l->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : l->backoff * 2;
		return NULL;
	}
	if (l->down)
		log_info("database: the %s is connected again", l->who);
	l->down = 0;
	l->backoff = 0;
	l->retry_at = 0;
	return l->c;
}

/*
 * Active/standby (zhilid(8) "Active and standby").  One daemon commits
 * into a schema at a time, the holder of a session-level advisory lock on
 * it, taken in the writer's session: the lock lives in the session that
 * commits, so a session lost is a lock lost, and a writer never commits
 * but in the very connection (held_gen) in which it took the lock; libpq
 * never makes a connection again by itself.
 */
static int
holds(struct pg *p)
{
	return p->held && p->w.c != NULL && p->w.gen == p->held_gen &&
	    PQstatus(p->w.c) == CONNECTION_OK;
}

/* The lock is gone with its session: a standby from now on. */
static void
demote(struct pg *p, const char *why)
{
	if (!p->held)
		return;
	p->held = 0;
	p->claim_at = now_ms() + LOST_YIELD;
	log_warnx("database: %s; the schema's lock went with the session: "
	    "this zhilid stops committing and is a standby from now on", why);
	store_set_role(&p->s, STORE_STANDBY);
}

/*
 * Ask for the lock, in the writer's session (made again if need be): 1
 * taken, 0 another holds it, -1 no answer.
 */
static int
claim(struct pg *p)
{
	char *sql;
	int64_t got;

	if (link_get(p, &p->w) == NULL)
		return -1;
	sql = xasprintf("SELECT pg_try_advisory_lock(%d, hashtext("
	    "current_database() || '.' || current_schema()))::int",
	    ACTIVE_LOCK);
	got = exec_int(p->w.c, sql, -1);
	free(sql);
	if (got != 1) {
		if (got < 0)
			link_lost(&p->w);
		else if (!p->refused)
			log_notice("database: another zhilid is active on this "
			    "schema (it holds the schema's advisory lock): this "
			    "one is a standby, and asks again every second");
		p->refused = 1;
		return got < 0 ? -1 : 0;
	}
	p->held = 1;
	p->held_gen = p->w.gen;
	p->refused = 0;
	store_set_role(&p->s, STORE_ACTIVE);
	log_notice("database: this zhilid holds the schema's lock: active "
	    "(backend %d)", PQbackendPID(p->w.c));
	return 1;
}

/*
 * The writer thread, once a second while idle: an active checks its
 * session with a round trip (a pg_terminate_backend shows there, before
 * any commit; the loop does not wait on it meanwhile), a standby asks for
 * the lock.
 */
static void
pg_tick(struct store *st)
{
	struct pg *p = (struct pg *)st;
	PGresult *r;
	int alive;

	if (p->held) {
		__atomic_store_n(&st->stalled, 1, __ATOMIC_RELAXED);
		r = holds(p) ? PQexec(p->w.c, "") : NULL;
		alive = PQresultStatus(r) == PGRES_EMPTY_QUERY;
		PQclear(r);
		__atomic_store_n(&st->stalled, 0, __ATOMIC_RELAXED);
		if (!alive || !holds(p)) {
			link_lost(&p->w);
			demote(p, "the writer's session is lost");
		}
		return;
	}
	if (now_ms() < p->claim_at)
		return;
	claim(p);
	p->claim_at = now_ms() + CLAIM_EVERY;
}

struct store *
store_pg_open(const char *conninfo, int durability, char **cause)
{
	struct pg *p = xcalloc(1, sizeof *p);
	char *why = NULL;
	int i, k;

	store_init(&p->s, &pg_backend);
	p->conninfo = xstrdup(conninfo);
	p->durability = durability;
	p->prune_rows = PRUNE_ROWS;
	p->w = (struct link){ .who = "writer", .prefix = 'w', .sql = wsql,
	    .nsql = SW_N };
	p->r = (struct link){ .who = "reader", .prefix = 'r', .sql = rsql,
	    .nsql = NR };
	p->w.poll = p->r.poll = PGRES_POLLING_OK;
	for (i = 0; i < NBATCHED; i++)
		for (k = 1; k <= ROWS_LOG; k++)
			p->msql[i][k - 1] = multi_sql(wsql[batched[i]], 1 << k,
			    &p->rows[i].width);
	p->w.c = pg_connect(conninfo, 0);
	if (PQstatus(p->w.c) != CONNECTION_OK) {
		why = xasprintf("cannot connect: %s", pgerr(p->w.c, NULL,
		    (char[512]){ 0 }, 512));
		goto fail;
	}
	if (migrate(p->w.c, &why) != 0)
		goto fail;
	PQfinish(p->w.c);
	p->w.c = NULL;
	if (link_open(p, &p->w, &why) != 0 || link_open(p, &p->r, &why) != 0)
		goto fail;
	if (claim(p) < 0) {
		why = xstrdup("cannot ask for the schema's advisory lock");
		goto fail;
	}
	return &p->s;
fail:
	*cause = xasprintf("PostgreSQL: %s", why);
	free(why);
	store_close(&p->s);
	return NULL;
}

static void
pg_free(struct store *st)
{
	struct pg *p = (struct pg *)st;

	int i, k;

	PQfinish(p->w.c);
	PQfinish(p->r.c);
	for (i = 0; i < NBATCHED; i++)
		for (k = 0; k < ROWS_LOG; k++)
			free(p->msql[i][k]);
	store_fini(st);
	free(p->conninfo);
	free(p);
}

/* The writer. */

/*
 * An error of the connection rather than of a statement: libpq's own
 * errors carry no SQLSTATE, the server's always do.
 */
static int
lost(PGconn *c, const PGresult *r)
{
	return PQstatus(c) == CONNECTION_BAD ||
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) == NULL;
}

/*
 * Read the answers up to the next sync point: 0 if every statement
 * succeeded, -1 if one failed, -2 if the connection was lost.  *committed
 * is set when a COMMIT answered that it committed.
 */
static int
drain(struct pg *p, int *committed)
{
	PGresult *r;
	char e[512];
	int rc = 0, nulls = 0;

	for (;;) {
		if ((r = PQgetResult(p->w.c)) == NULL) {
			/* one ends each statement's answers; two, nothing */
			if (PQstatus(p->w.c) == CONNECTION_BAD || ++nulls > 1)
				return -2;
			continue;
		}
		nulls = 0;
		switch (PQresultStatus(r)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(r);
			return rc;
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			if (strcmp(PQcmdStatus(r), "COMMIT") == 0)
				*committed = 1;
			break;
		case PGRES_PIPELINE_ABORTED:
			rc = rc == 0 ? -1 : rc;
			break;
		default:
			if (lost(p->w.c, r)) {
				PQclear(r);
				return -2;
			}
			if (rc == 0)
				log_warnx("database: commit failed: %s",
				    pgerr(p->w.c, r, e, sizeof e));
			rc = -1;
			break;
		}
		PQclear(r);
	}
}

/* Send one write operation as its prepared statement. */
static int
send_wop(struct pg *p, const struct store_wop *w)
{
	char num[STORE_PARAMS_MAX][24], name[16];
	const char *vals[STORE_PARAMS_MAX];
	int i;

	for (i = 0; i < w->n; i++) {
		vals[i] = w->p[i].s;
		if (w->p[i].is_int) {
			snprintf(num[i], sizeof num[i], "%lld",
			    (long long)w->p[i].i);
			vals[i] = num[i];
		}
	}
	snprintf(name, sizeof name, "w%d", w->stmt);
	return PQsendQueryPrepared(p->w.c, name, w->n, vals, NULL, NULL, 0);
}

static int
send_sql(struct pg *p, const char *sql, int n, const char *const *vals)
{
	return PQsendQueryParams(p->w.c, sql, n, NULL, vals, NULL, NULL, 0);
}

/* Send the n rows held of batched statement i; 0, or -1 if lost. */
static int
flush_rows(struct pg *p, int i)
{
	struct rows *rs = &p->rows[i];
	char name[16];
	int k, at = 0, size;

	for (k = ROWS_LOG; k >= 0; k--) {
		size = 1 << k;
		if (rs->n - at < size)
			continue;
		if (k == 0)
			snprintf(name, sizeof name, "w%d", batched[i]);
		else
			snprintf(name, sizeof name, "m%d_%d", batched[i], k);
		if (!PQsendQueryPrepared(p->w.c, name, size * rs->width,
		    rs->vals + at * rs->width, NULL, NULL, 0))
			return -1;
		at += size;
		k++;		/* the same size again, if enough are left */
	}
	rs->n = 0;
	return 0;
}

/* Hold a row of batched statement i; a full statement goes at once. */
static int
queue_row(struct pg *p, int i, const struct store_wop *w)
{
	struct rows *rs = &p->rows[i];
	int j, at = rs->n * rs->width;

	for (j = 0; j < w->n; j++) {
		rs->vals[at + j] = w->p[j].s;
		if (w->p[j].is_int) {
			snprintf(rs->num[at + j], sizeof rs->num[at + j], "%lld",
			    (long long)w->p[j].i);
			rs->vals[at + j] = rs->num[at + j];
		}
	}
	if (++rs->n == ROWS_MAX)
		return flush_rows(p, i);
	return 0;
}

static int
batch_of(int stmt)
{
	int i;

	for (i = 0; i < NBATCHED; i++)
		if (batched[i] == stmt)
			return i;
	return -1;
}

/*
 * Send one operation, or hold its row.  Order matters only where two
 * statements touch the same rows: an ack after its alert's insert, an
 * entity's moved upsert or a regroup after the upserts held (each entity
 * is written once a job, so those go at the end of each job too).
 */
static int
send_op(struct pg *p, const struct store_wop *w)
{
	int i = batch_of(w->stmt);

	if (i >= 0)
		return queue_row(p, i, w);
	if (w->stmt == SW_ACK && flush_rows(p, B_ALERT) != 0)
		return -1;
	if ((w->stmt == SW_ENTITY_MOVED || w->stmt == ST_REGROUP) &&
	    flush_rows(p, B_ENTITY) != 0)
		return -1;
	return send_wop(p, w) ? 0 : -1;
}

static int
flush_all(struct pg *p)
{
	int i;

	for (i = 0; i < NBATCHED; i++)
		if (flush_rows(p, i) != 0)
			return -1;
	return 0;
}

enum { SENT_OK, SENT_FAILED, SENT_LOST, SENT_IN_DOUBT };

/*
 * Send the statements of jobs first..end between BEGIN and COMMIT and read
 * the answers, a sync point every CHUNK statements.
 */
static int
send_group(struct pg *p, struct wjob *first, struct wjob *end,
    struct doubt *d)
{
	struct store_cursor cur;
	struct store_wop w;
	const char *tok[1];
	struct wjob *j;
	int n = 0, rc, committed = 0, i;

	for (i = 0; i < NBATCHED; i++)
		p->rows[i].n = 0;	/* those of a group that failed */
	if (!send_sql(p, "BEGIN", 0, NULL))
		return SENT_LOST;
	for (j = first; j != end; j = j->next) {
		store_cursor_init(&cur, &p->s, &j->ops);
		while ((rc = store_wop_next(&cur, &w)) > 0) {
			if (w.stmt == SW_EVENT) {
				d->has_seq = 1;
				d->seq = w.p[0].i;
			}
			if (send_op(p, &w) != 0)
				return SENT_LOST;
			if (++n % CHUNK != 0)
				continue;
			if (!PQpipelineSync(p->w.c))
				return SENT_LOST;
			if ((rc = drain(p, &committed)) != 0)
				return rc == -2 ? SENT_LOST : SENT_FAILED;
		}
		if (rc < 0)
			return SENT_FAILED;
		/* the job's entities, each once in it, not twice in a row */
		if (flush_rows(p, B_ENTITY) != 0)
			return SENT_LOST;
	}
	if (flush_all(p) != 0)
		return SENT_LOST;
	if (!d->has_seq) {
		snprintf(d->token, sizeof d->token, "%ld.%lld.%llu",
		    (long)getpid(), (long long)time(NULL),
		    (unsigned long long)++p->ntokens);
		tok[0] = d->token;
		if (!send_sql(p, "INSERT INTO meta (key, value) VALUES "
		    "('commit', $1) ON CONFLICT (key) DO UPDATE SET value = "
		    "EXCLUDED.value", 1, tok))
			return SENT_LOST;
	}
	if (!send_sql(p, "COMMIT", 0, NULL))
		return SENT_LOST;
	/* from here on, the server may have committed */
	if (!PQpipelineSync(p->w.c))
		return SENT_IN_DOUBT;
	rc = drain(p, &committed);
	if (committed)
		return SENT_OK;
	return rc == -2 ? SENT_IN_DOUBT : SENT_FAILED;
}

/* After a failed statement: end the aborted transaction, leave the pipeline. */
static void
roll_back(struct pg *p)
{
	int committed = 0;

	if (PQstatus(p->w.c) == CONNECTION_OK &&
	    PQpipelineStatus(p->w.c) != PQ_PIPELINE_OFF) {
		if (PQtransactionStatus(p->w.c) != PQTRANS_IDLE &&
		    send_sql(p, "ROLLBACK", 0, NULL) &&
		    PQpipelineSync(p->w.c))
			drain(p, &committed);
		PQexitPipelineMode(p->w.c);
	}
	if (PQstatus(p->w.c) == CONNECTION_BAD ||
	    PQtransactionStatus(p->w.c) != PQTRANS_IDLE)
		link_lost(&p->w);
}

/* 1 if the group of d committed, 0 if not, -1 if it cannot be told now. */
static int
look_up(struct pg *p, const struct doubt *d)
{
	char num[24];
	const char *v[1] = { num };
	PGresult *r;
	int rc = -1;

	if (d->has_seq) {
		snprintf(num, sizeof num, "%lld", (long long)d->seq);
		r = PQexecParams(p->w.c, "SELECT count(*) FROM events WHERE "
		    "seq = $1", 1, NULL, v, NULL, NULL, 0);
	} else {
		v[0] = d->token;
		r = PQexecParams(p->w.c, "SELECT count(*) FROM meta WHERE "
		    "key = 'commit' AND value = $1", 1, NULL, v, NULL, NULL, 0);
	}
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		rc = strtoll(PQgetvalue(r, 0, 0), NULL, 10) > 0;
	PQclear(r);
	return rc;
}

/*
 * The connection went during COMMIT: reconnect until the server can say
 * whether the group committed, for DOUBT_WAIT at most.  The loop goes on
 * meanwhile (store_done does not block on a store in doubt); jobs queued
 * behind wait.  0 committed, -1 not, STORE_DOUBT unknown.
 */
static int
resolve(struct pg *p, const struct doubt *d)
{
	int64_t give_up = now_ms() + DOUBT_WAIT;
	int rc = -1;

	__atomic_store_n(&p->s.stalled, 1, __ATOMIC_RELAXED);
	if (d->has_seq)
		log_warnx("database: the connection was lost during COMMIT; "
		    "looking up event %lld once the server is back",
		    (long long)d->seq);
	else
		log_warnx("database: the connection was lost during COMMIT; "
		    "looking up its token once the server is back");
	link_lost(&p->w);
	while (now_ms() < give_up) {
		if (link_get(p, &p->w) == NULL) {
			usleep(50 * 1000);
			continue;
		}
		if ((rc = look_up(p, d)) >= 0)
			break;
		link_lost(&p->w);
	}
	__atomic_store_n(&p->s.stalled, 0, __ATOMIC_RELAXED);
	if (rc < 0) {
		log_warnx("database: the server did not come back within %d s "
		    "to say whether the commit in doubt committed; its clients "
		    "are disconnected without an answer", DOUBT_WAIT / 1000);
		return STORE_DOUBT;
	}
	log_warnx("database: the commit in doubt had %scommitted",
	    rc ? "" : "not ");
	return rc ? 0 : -1;
}

/*
 * The event log's templates (schema 007), read from the server whenever
 * the writer connects and after a group that did not commit: what a
 * transaction in doubt or rolled back left behind is then known from the
 * server, not guessed, and a writer that takes a schema over from
 * another daemon numbers its new templates after that one's.
 */
static int
shapes_reload(struct pg *p)
{
	struct shapes *sh = &p->s.shapes;
	PGresult *r = PQexec(p->w.c, SQL_SHAPES);
	char e[512];
	int i;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("database: reading the event log's templates: %s",
		    pgerr(p->w.c, r, e, sizeof e));
		if (lost(p->w.c, r))
			link_lost(&p->w);
		PQclear(r);
		return -1;
	}
	shapes_free(sh);
	shapes_init(sh);
	for (i = 0; i < PQntuples(r); i++)
		shapes_stored(sh, strtoll(PQgetvalue(r, i, 0), NULL, 10),
		    PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
	PQclear(r);
	p->shapes_stale = 0;
	return 0;
}

/*
 * Commit a group, in the session that holds the lock only, checked first:
 * a session the server ended (pg_terminate_backend, a restart) shows as
 * input to read, and the writer stops there, a standby.  Any loss of the
 * session during the group ends the same way, once the group's outcome
 * is known.
 */
static int
pg_commit(struct store *st, struct wjob *first, struct wjob *end)
{
	struct pg *p = (struct pg *)st;
	struct doubt d;
	int rc;

	if (p->held && (!PQconsumeInput(p->w.c) || !holds(p)))
		link_lost(&p->w);
	if (!holds(p)) {
		demote(p, "the writer's session is lost");
		return -1;
	}
	if (p->shapes_stale && shapes_reload(p) != 0)
		return -1;
	/* a group that fails may have numbered templates it did not store */
	p->shapes_stale = 1;
	memset(&d, 0, sizeof d);
	if (!PQenterPipelineMode(p->w.c)) {
		link_lost(&p->w);
		rc = -1;
	} else switch (send_group(p, first, end, &d)) {
	case SENT_OK:
		if (!PQexitPipelineMode(p->w.c))
			link_lost(&p->w);
		rc = 0;
		break;
	case SENT_IN_DOUBT:
		rc = resolve(p, &d);
		break;
	case SENT_LOST:
		link_lost(&p->w);
		rc = -1;
		break;
	default:
		roll_back(p);
		rc = -1;
		break;
	}
	if (rc == 0) {
		p->shapes_stale = 0;
		if (p->synced)
			__atomic_add_fetch(&st->n_syncs, 1, __ATOMIC_RELAXED);
	}
	if (!holds(p))
		demote(p, "the writer's session was lost during a commit");
	return rc;
}

/*
 * Retention's batch (PRUNE_SQL), on the writer's connection as it is; a
 * writer without one leaves the deletion to later.  One statement cannot
 * stop at the budget: a batch that took longer makes the next one half as
 * big (16 at least), one that took under half of it twice as big.
 */
static int64_t
pg_prune(struct store *st, int64_t cutoff, int *more, char *err,
    size_t errlen)
{
	struct pg *p = (struct pg *)st;
	uint64_t t0 = store_mono_ns();
	int64_t n = -1, us;
	PGresult *r;
	char *sql;
	int gone = 0, committed = 0, rows = p->prune_rows;

	if (!holds(p)) {
		snprintf(err, errlen, "this zhilid does not hold the schema's "
		    "lock (it is a standby)");
		return -1;
	}
	sql = xasprintf(PRUNE_SQL, (long long)cutoff, rows);
	if (!PQsendQuery(p->w.c, sql))
		gone = 1;
	free(sql);
	while (!gone && (r = PQgetResult(p->w.c)) != NULL) {
		switch (PQresultStatus(r)) {
		case PGRES_TUPLES_OK:
			n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			break;
		case PGRES_COMMAND_OK:
			committed |= strcmp(PQcmdStatus(r), "COMMIT") == 0;
			break;
		default:
			pgerr(p->w.c, r, err, errlen);
			gone = lost(p->w.c, r);
			break;
		}
		PQclear(r);
	}
	if (gone || (!committed && PQtransactionStatus(p->w.c) !=
	    PQTRANS_IDLE && exec_ok(p->w.c, "ROLLBACK", NULL, NULL) != 0)) {
		if (err[0] == '\0')
			pgerr(p->w.c, NULL, err, errlen);
		link_lost(&p->w);
		return -1;
	}
	if (!committed || n < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "the batch did not commit");
		return -1;
	}
	*more = n == rows;
	if (n > 0 && (us = store_elapsed_us(t0)) > PRUNE_BUDGET_US)
		p->prune_rows = rows / 2 > 16 ? rows / 2 : 16;
	else if (n > 0 && us < PRUNE_BUDGET_US / 2)
		p->prune_rows = rows * 2 < PRUNE_ROWS ? rows * 2 : PRUNE_ROWS;
	return n;
}

/* The reads, on the loop thread. */

typedef int (*row_fn)(void *, const PGresult *);

/*
 * Run read q and call fn(arg, result) for each row (one row a result)
 * until it returns non-zero: 0, or -1 on error.  A connection found lost
 * before any row came is made again and the read tried once more.
 */
static int
read_rows(struct pg *p, int q, int n, const char *const *vals, row_fn fn,
    void *arg)
{
	PGconn *c;
	PGresult *r;
	char name[16], e[512];
	int tries, rc, rows, stop, gone;

	snprintf(name, sizeof name, "r%d", q);
	for (tries = 0; tries < 2; tries++) {
		if ((c = link_get(p, &p->r)) == NULL)
			return -1;
		rc = rows = stop = gone = 0;
		if (!PQsendQueryPrepared(c, name, n, vals, NULL, NULL, 0) ||
		    !PQsetSingleRowMode(c))
			rc = -1, gone = 1;
		while (rc == 0 && (r = PQgetResult(c)) != NULL) {
			switch (PQresultStatus(r)) {
			case PGRES_SINGLE_TUPLE:
				rows++;
				if (!stop)
					stop = fn(arg, r);
				break;
			case PGRES_TUPLES_OK:
				break;
			default:
				if (!(gone = lost(c, r)))
					log_warnx("database: %s",
					    pgerr(c, r, e, sizeof e));
				rc = -1;
				break;
			}
			PQclear(r);
		}
		while (rc != 0 && !gone && (r = PQgetResult(c)) != NULL)
			PQclear(r);
		if (rc == 0)
			return 0;
		if (!gone)
			return -1;
		link_lost(&p->r);
		if (rows > 0)
			return -1;	/* fn saw some: not twice */
	}
	return -1;
}

static const char *
col(const PGresult *r, int i)
{
	return PQgetisnull(r, 0, i) ? NULL : PQgetvalue(r, 0, i);
}

static int64_t
col_int(const PGresult *r, int i)
{
	return PQgetisnull(r, 0, i) ? 0 : strtoll(PQgetvalue(r, 0, i), NULL,
	    10);
}

/* An integer column, or -1 if NULL. */
static int64_t
col_int_null(const PGresult *r, int i)
{
	return PQgetisnull(r, 0, i) ? -1 : col_int(r, i);
}

static int
one_int(void *arg, const PGresult *r)
{
	*(int64_t *)arg = col_int(r, 0);
	return 1;
}

static int64_t
read_int(struct pg *p, int q)
{
	int64_t v = -1;

	if (read_rows(p, q, 0, NULL, one_int, &v) != 0)
		return -1;
	return v;
}

static int64_t
pg_max_seq(struct store *st)
{
	return read_int((struct pg *)st, R_MAX_SEQ);
}

static int64_t
pg_max_alert(struct store *st)
{
	return read_int((struct pg *)st, R_MAX_ALERT);
}

static int64_t
pg_max_silence(struct store *st)
{
	return read_int((struct pg *)st, R_MAX_SILENCE);
}

static int
pg_entity_count(struct store *st, int64_t *n)
{
	*n = read_int((struct pg *)st, R_ENT_COUNT);
	return *n < 0 ? -1 : 0;
}

static int
pg_event_id_count(struct store *st, int64_t *n)
{
	*n = read_int((struct pg *)st, R_ID_COUNT);
	return *n < 0 ? -1 : 0;
}

/* The callbacks of store.h's reads, each behind a row_fn. */
struct relay {
	void	 (*str)(void *, const char *);
	void	 (*str2)(void *, const char *, const char *);
	void	 (*rows)(void *, const char *, const char *, int);
	int	 (*group)(void *, const char *, const char *);
	void	 (*row)(void *, const struct store_row *);
	void	*arg;
	struct buf *out;
	int64_t	*last;
	int	 n;
};

static int
relay_str(void *arg, const PGresult *r)
{
	struct relay *y = arg;

	y->str(y->arg, col(r, 0));
	return 0;
}

static int
relay_str2(void *arg, const PGresult *r)
{
	struct relay *y = arg;

	y->str2(y->arg, col(r, 0), col(r, 1));
	return 0;
}

static int
relay_rows(void *arg, const PGresult *r)
{
	struct relay *y = arg;

	y->rows(y->arg, col(r, 0), col(r, 1), (int)col_int(r, 2));
	return 0;
}

static int
relay_group(void *arg, const PGresult *r)
{
	struct relay *y = arg;

	return y->group(y->arg, col(r, 0), col(r, 1));
}

static int
pg_event_ids(struct store *st, void (*fn)(void *, const char *), void *arg)
{
	struct relay y = { .str = fn, .arg = arg };

	return read_rows((struct pg *)st, R_IDS, 0, NULL, relay_str, &y);
}

static int
pg_entity_keys(struct store *st, void (*fn)(void *, const char *,
    const char *), void *arg)
{
	struct relay y = { .str2 = fn, .arg = arg };

	return read_rows((struct pg *)st, R_ENT_KEYS, 0, NULL, relay_str2, &y);
}

static int
pg_entity_rows(struct store *st, const char *kind, void (*fn)(void *,
    const char *, const char *, int), void *arg)
{
	struct relay y = { .rows = fn, .arg = arg };
	const char *v[1] = { kind };

	return read_rows((struct pg *)st, R_ENT_ROWS, 1, v, relay_rows, &y);
}

static int
pg_group_rows(struct store *st, const char *kind, const char *grp,
    const char *after, int64_t limit, int (*fn)(void *, const char *,
    const char *), void *arg)
{
	struct relay y = { .group = fn, .arg = arg };
	char num[24];
	const char *v[4] = { kind, grp, after, num };

	snprintf(num, sizeof num, "%lld", (long long)limit);
	return read_rows((struct pg *)st, R_GROUP, 4, v, relay_group, &y);
}

static int
pg_event_find(struct store *st, const char *eid, int64_t *seq)
{
	const char *v[1] = { eid };
	int64_t found = -1;

	if (read_rows((struct pg *)st, R_EV_FIND, 1, v, one_int, &found) != 0)
		return -1;
	if (found < 0)
		return 0;
	*seq = found;
	return 1;
}

struct ent_row {
	char	**state;
	int	 *removed;
	int64_t	 *removed_ts, *created;
	int	  found;
};

static int
ent_row(void *arg, const PGresult *r)
{
	struct ent_row *e = arg;

	*e->state = xstrdup(PQgetvalue(r, 0, 0));
	*e->removed = (int)col_int(r, 1);
	*e->created = col_int(r, 2);
	*e->removed_ts = col_int(r, 3);
	e->found = 1;
	return 1;
}

static int
pg_entity_load(struct store *st, const char *kind, const char *id,
    char **state, int *removed, int64_t *removed_ts, int64_t *created)
{
	struct ent_row e = { state, removed, removed_ts, created, 0 };
	const char *v[2] = { kind, id };

	if (read_rows((struct pg *)st, R_ENT_LOAD, 2, v, ent_row, &e) != 0) {
		if (e.found) {
			free(*state);
			*state = NULL;
		}
		return -1;
	}
	return e.found;
}

static int
hist_row(void *arg, const PGresult *r)
{
	struct relay *y = arg;
	struct buf *out = y->out;
	char ts[40];

	if (y->n++ > 0)
		buf_addc(out, ',');
	clock_format(col_int(r, 0), ts, sizeof ts);
	buf_adds(out, "{\"ts\":");
	buf_add_json_cstr(out, ts);
	buf_adds(out, ",\"rule\":");
	buf_add_json_cstr(out, col(r, 1));
	buf_adds(out, ",\"from\":");
	buf_add_json_cstr(out, col(r, 2));
	buf_adds(out, ",\"to\":");
	buf_add_json_cstr(out, col(r, 3));
	buf_adds(out, ",\"event\":");
	buf_add_json_cstr(out, col(r, 4));
	buf_addc(out, '}');
	return 0;
}

static int
pg_history_json(struct store *st, const char *kind, const char *entity,
    int limit, struct buf *out)
{
	struct relay y = { .out = out };
	char num[24];
	const char *v[3] = { kind, entity, num };

	snprintf(num, sizeof num, "%d", limit);
	buf_addc(out, '[');
	if (read_rows((struct pg *)st, R_HIST, 3, v, hist_row, &y) != 0)
		return -1;
	buf_addc(out, ']');
	return 0;
}

static int
table_row(void *arg, const PGresult *r)
{
	struct relay *y = arg;
	struct store_row row;
	int i, n = PQnfields(r);

	memset(&row, 0, sizeof row);
	for (i = 0; i < n && i < STORE_ROW_MAX; i++) {
		if (PQftype(r, i) == TEXT_OID)
			row.s[i] = col(r, i);
		row.i[i] = col_int(r, i);
	}
	y->row(y->arg, &row);
	return 0;
}

static int
pg_select(struct store *st, enum store_table t,
    void (*fn)(void *, const struct store_row *), void *arg)
{
	struct relay y = { .row = fn, .arg = arg };

	return read_rows((struct pg *)st, table_map[t], 0, NULL, table_row,
	    &y);
}

static int
alert_row(void *arg, const PGresult *r)
{
	struct relay *y = arg;
	struct alert_ack ack;

	if (y->n++ > 0)
		buf_addc(y->out, ',');
	*y->last = col_int(r, 0);
	ack.by = col_int_null(r, 11);
	ack.ts = col_int_null(r, 12);
	alert_json(y->out, *y->last, col(r, 1), col(r, 2), col(r, 3), col(r, 4),
	    col(r, 5), col_int(r, 6), col(r, 7), (size_t)PQgetlength(r, 0, 7),
	    col(r, 8), col(r, 9), col_int(r, 10) ? &ack : NULL,
	    col_int_null(r, 13));
	return 0;
}

static int
pg_alerts_json(struct store *st, int64_t after, int64_t limit,
    const char *rule, int acked, int silenced, struct buf *out,
    int64_t *last)
{
	struct relay y = { .out = out, .last = last };
	char a[24], l[24], k[24];
	const char *v[5] = { a, l, acked >= 0 ? k : NULL, silenced ? "1" : "0",
	    rule };

	snprintf(a, sizeof a, "%lld", (long long)after);
	snprintf(l, sizeof l, "%lld", (long long)limit);
	snprintf(k, sizeof k, "%d", acked);
	return read_rows((struct pg *)st, rule != NULL ? R_ALERTS_RULE :
	    R_ALERTS, rule != NULL ? 5 : 4, v, alert_row, &y);
}

static int
silence_row(void *arg, const PGresult *r)
{
	struct relay *y = arg;
	struct store_silence s;

	if (y->n++ > 0)
		buf_addc(y->out, ',');
	s.id = col_int(r, 0);
	s.match = col(r, 1);
	s.until = col_int(r, 2);
	s.comment = col(r, 3);
	s.uid = col_int(r, 4);
	s.created = col_int(r, 5);
	s.ended = col_int_null(r, 6);
	s.ended_by = col_int(r, 7);
	store_silence_json(y->out, &s, *y->last);
	return 0;
}

static int
pg_silences_json(struct store *st, int all, int64_t now, struct buf *out)
{
	struct relay y = { .out = out, .last = &now };
	char t[24];
	const char *v[2] = { all ? "1" : "0", t };

	snprintf(t, sizeof t, "%lld", (long long)now);
	buf_addc(out, '[');
	if (read_rows((struct pg *)st, R_SILENCE_LIST, 2, v, silence_row,
	    &y) != 0)
		return -1;
	buf_addc(out, ']');
	return 0;
}

static int64_t
pg_unsilenced_count(struct store *st, int64_t after, int64_t upto)
{
	char a[24], u[24];
	const char *v[2] = { a, u };
	int64_t n = -1;

	snprintf(a, sizeof a, "%lld", (long long)after);
	snprintf(u, sizeof u, "%lld", (long long)upto);
	if (read_rows((struct pg *)st, R_UNSILENCED, 2, v, one_int, &n) != 0)
		return -1;
	return n;
}

/*
 * An output's connection, made again when lost; its errors are kept for
 * the output's log lines.
 */
struct pg_reader {
	struct store_reader	 r;	/* first: store.c's part */
	PGconn			*c;
	char			 err[512];
};

static struct store_reader *
pg_reader_open(struct store *st, char **cause)
{
	struct pg_reader *r = xcalloc(1, sizeof *r);

	r->r.be = &pg_backend;
	r->c = pg_connect(((struct pg *)st)->conninfo, 0);
	if (r->c == NULL || PQstatus(r->c) != CONNECTION_OK) {
		*cause = xasprintf("%s", r->c != NULL ? PQerrorMessage(r->c) :
		    "out of memory");
		PQfinish(r->c);
		free(r);
		return NULL;
	}
	return &r->r;
}

static int
pg_reader_alerts(struct store_reader *base, int64_t after, int64_t upto,
    int limit, void (*fn)(void *, const struct store_alert *), void *arg)
{
	struct pg_reader *r = (struct pg_reader *)base;
	struct store_alert a;
	PGresult *res;
	char x[24], y[24], z[24];
	const char *v[3] = { x, y, z };
	int i, n;

	if (PQstatus(r->c) != CONNECTION_OK)
		PQreset(r->c);
	snprintf(x, sizeof x, "%lld", (long long)after);
	snprintf(y, sizeof y, "%lld", (long long)upto);
	snprintf(z, sizeof z, "%d", limit);
	res = PQexecParams(r->c, "SELECT id, rule, severity, kind, entity, "
	    "period, ts, message, data, event FROM alerts WHERE id > $1 AND "
	    "id <= $2 AND silenced IS NULL ORDER BY id LIMIT $3", 3, NULL, v,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pgerr(r->c, res, r->err, sizeof r->err);
		PQclear(res);
		return -1;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
#define COL(j)	(PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j))
		a.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		a.rule = COL(1);
		a.severity = COL(2);
		a.kind = COL(3);
		a.entity = COL(4);
		a.period = COL(5);
		a.ts = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		a.message = COL(7);
		a.msglen = (size_t)PQgetlength(res, i, 7);
		a.data = COL(8);
		a.event = COL(9);
#undef COL
		fn(arg, &a);
	}
	PQclear(res);
	return 0;
}

static const char *
pg_reader_error(struct store_reader *base)
{
	return ((struct pg_reader *)base)->err;
}

static void
pg_reader_close(struct store_reader *base)
{
	struct pg_reader *r = (struct pg_reader *)base;

	PQfinish(r->c);
	free(r);
}

static const struct store_backend pg_backend = {
	.name = "postgresql",
	.commit = pg_commit,
	.tick = pg_tick,
	.free = pg_free,
	.max_seq = pg_max_seq,
	.max_alert = pg_max_alert,
	.max_silence = pg_max_silence,
	.event_find = pg_event_find,
	.entity_count = pg_entity_count,
	.event_id_count = pg_event_id_count,
	.event_ids = pg_event_ids,
	.entity_keys = pg_entity_keys,
	.group_rows = pg_group_rows,
	.entity_rows = pg_entity_rows,
	.entity_load = pg_entity_load,
	.history_json = pg_history_json,
	.select = pg_select,
	.alerts_json = pg_alerts_json,
	.silences_json = pg_silences_json,
	.unsilenced_count = pg_unsilenced_count,
	.reader_open = pg_reader_open,
	.reader_alerts = pg_reader_alerts,
	.reader_error = pg_reader_error,
	.reader_close = pg_reader_close,
	.prune = pg_prune,
};
