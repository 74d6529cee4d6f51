/*
 * SQLite storage.  The database is in WAL mode; durability full means
 * synchronous=FULL, so a COMMIT has reached the disk when it returns, and
 * only then does the server acknowledge the batch's events.  Statements are
 * prepared once.  Schema migrations from schema/ are compiled in and
 * applied at open; a database written by a newer zhilid, or one that is not
 * zhilid's, is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

enum {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_EV_FIND, Q_EV_INSERT, Q_ENT_LOAD,
	Q_ENT_SAVE, Q_HIST_INSERT, Q_HIST_QUERY, Q_ALERT_INSERT, Q_ALERTS,
	Q_ALERTS_RULE, Q_ACK, Q_MAX_SEQ, Q_MAX_ALERT, NQ
};

static const char *const sql_table[NQ] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_EV_FIND] = "SELECT seq FROM events WHERE eid = ?1",
	[Q_EV_INSERT] = "INSERT INTO events (seq, eid, type, ts, body) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_ENT_LOAD] = "SELECT state, removed, created FROM entities "
	    "WHERE kind = ?1 AND id = ?2",
	[Q_ENT_SAVE] = "INSERT OR REPLACE INTO entities "
	    "(kind, id, state, removed, created, updated) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_HIST_INSERT] = "INSERT INTO history "
	    "(kind, entity, ts, rule, from_class, to_class, event, seq) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_HIST_QUERY] = "SELECT ts, rule, from_class, to_class, event FROM "
	    "(SELECT id, ts, rule, from_class, to_class, event FROM history "
	    "WHERE kind = ?1 AND entity = ?2 ORDER BY id DESC LIMIT ?3) "
	    "ORDER BY id",
	[Q_ALERT_INSERT] = "INSERT INTO alerts "
	    "(id, rule, severity, kind, entity, period, ts, seq, json) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_ALERTS] = "SELECT id, json FROM alerts WHERE id > ?1 "
	    "ORDER BY id LIMIT ?2",
	[Q_ALERTS_RULE] = "SELECT id, json FROM alerts WHERE rule = ?3 AND "
	    "id > ?1 ORDER BY id LIMIT ?2",
	[Q_ACK] = "UPDATE alerts SET acked = 1 WHERE id = ?1",
	[Q_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM events",
	[Q_MAX_ALERT] = "SELECT coalesce(max(id), 0) FROM alerts",
};

struct store {
	sqlite3		*db;
	sqlite3_stmt	*q[NQ];
	char		*path;
};

const char *
store_error(struct store *s)
{
	return sqlite3_errmsg(s->db);
}

static int
exec_sql(struct store *s, const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		*cause = xasprintf("%s: %s", s->path, err ? err :
		    sqlite3_errmsg(s->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int64_t
query_int(struct store *s, const char *sql, int64_t dflt)
{
	sqlite3_stmt *st;
	int64_t v = dflt;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return dflt;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Refuse databases that are not ours or are newer; apply missing steps. */
static int
migrate(struct store *s, char **cause)
{
	int64_t appid, tables, have = 0;
	size_t i;
	char *sql;

	if (exec_sql(s, "SELECT count(*) FROM sqlite_master", cause) != 0)
		return -1;
	appid = query_int(s, "PRAGMA application_id", 0);
	tables = query_int(s, "SELECT count(*) FROM sqlite_master", 0);
	if (appid != APPLICATION_ID && (appid != 0 || tables != 0)) {
		*cause = xasprintf("%s: not a zhilid database (application_id "
		    "%#llx, %lld tables)", s->path, (unsigned long long)appid,
		    (long long)tables);
		return -1;
	}
	if (tables != 0)
		have = query_int(s, "SELECT max(version) FROM schema_version",
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
		if (exec_sql(s, sql, cause) != 0) {
			free(sql);
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		free(sql);
	}
	return 0;
}

struct store *
store_open(const char *path, int durability, char **cause)
{
	struct store *s = xcalloc(1, sizeof *s);
	int i;

	s->path = xstrdup(path);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*cause = xasprintf("%s: %s", path, s->db ?
		    sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	/*
	 * Larger pages mean fewer WAL frames, so fewer write(2) calls per
	 * commit; it only takes effect on a new database.
	 */
	if (exec_sql(s, "PRAGMA page_size = 16384", cause) != 0)
		goto fail;
	if (migrate(s, cause) != 0)
		goto fail;
	if (exec_sql(s, "PRAGMA journal_mode = WAL", cause) != 0)
		goto fail;
	if (exec_sql(s, durability == DURABILITY_FULL ?
	    "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
	    cause) != 0)
		goto fail;
	if (exec_sql(s, "PRAGMA cache_size = -16384; "
	    "PRAGMA temp_store = MEMORY", cause) != 0)
		goto fail;
	for (i = 0; i < NQ; i++) {
		if (sqlite3_prepare_v3(s->db, sql_table[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) != SQLITE_OK) {
			*cause = xasprintf("%s: preparing \"%s\": %s", path,
			    sql_table[i], sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	return s;
fail:
	store_close(s);
	return NULL;
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < NQ; i++)
		sqlite3_finalize(s->q[i]);
	if (s->db != NULL)
		sqlite3_close(s->db);
	free(s->path);
	free(s);
}

/* Run a statement that returns no rows; reset it either way. */
static int
step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warnx("database: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

int
store_begin(struct store *s)
{
	return step_done(s, s->q[Q_BEGIN]);
}

int
store_commit(struct store *s)
{
	return step_done(s, s->q[Q_COMMIT]);
}

void
store_rollback(struct store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return;		/* SQLite already rolled it back */
	if (sqlite3_step(s->q[Q_ROLLBACK]) != SQLITE_DONE)
		log_warnx("database: rollback: %s", sqlite3_errmsg(s->db));
	sqlite3_reset(s->q[Q_ROLLBACK]);
}

int64_t
store_max_seq(struct store *s)
{
	sqlite3_stmt *st = s->q[Q_MAX_SEQ];
	int64_t v = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

int64_t
store_max_alert(struct store *s)
{
	sqlite3_stmt *st = s->q[Q_MAX_ALERT];
	int64_t v = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* 1 and *seq if an event with this id exists, 0 if not, -1 on error. */
int
store_event_find(struct store *s, const char *eid, int64_t *seq)
{
	sqlite3_stmt *st = s->q[Q_EV_FIND];
	int rc;

	bind_text(st, 1, eid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warnx("database: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return rc == SQLITE_ROW;
}

/*
 * Log an event.  0 if written, 1 if an event with this id is already in
 * the log (nothing written), -1 on a storage error.  Inserting first and
 * looking up only on a conflict saves a query per new event.
 */
int
store_event_insert(struct store *s, int64_t seq, const char *eid,
    const char *type, int64_t ts, const char *body, size_t len)
{
	sqlite3_stmt *st = s->q[Q_EV_INSERT];
	int rc;

	sqlite3_bind_int64(st, 1, seq);
	bind_text(st, 2, eid);
	bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, ts);
	sqlite3_bind_text(st, 5, body, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT_UNIQUE && eid != NULL)
		return 1;
	log_warnx("database: %s", sqlite3_errmsg(s->db));
	return -1;
}

/* 1 and the row if found (*state is the caller's), 0 if not, -1 error. */
int
store_entity_load(struct store *s, const char *kind, const char *id,
    char **state, int *removed, int64_t *created)
{
	sqlite3_stmt *st = s->q[Q_ENT_LOAD];
	int rc;

	bind_text(st, 1, kind);
	bind_text(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*state = xstrdup((const char *)sqlite3_column_text(st, 0));
		*removed = sqlite3_column_int(st, 1);
		*created = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warnx("database: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return rc == SQLITE_ROW;
}

int
store_entity_save(struct store *s, const char *kind, const char *id,
    const char *state, size_t len, int removed, int64_t created,
    int64_t updated)
{
	sqlite3_stmt *st = s->q[Q_ENT_SAVE];

	bind_text(st, 1, kind);
	bind_text(st, 2, id);
	sqlite3_bind_text(st, 3, state, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, removed);
	sqlite3_bind_int64(st, 5, created);
	sqlite3_bind_int64(st, 6, updated);
	return step_done(s, st);
}

int
store_history_insert(struct store *s, const char *kind, const char *entity,
    int64_t ts, const char *rule, const char *from, const char *to,
    const char *event, int64_t seq)
{
	sqlite3_stmt *st = s->q[Q_HIST_INSERT];

	bind_text(st, 1, kind);
	bind_text(st, 2, entity);
	sqlite3_bind_int64(st, 3, ts);
	bind_text(st, 4, rule);
	bind_text(st, 5, from);
	bind_text(st, 6, to);
	bind_text(st, 7, event);
	sqlite3_bind_int64(st, 8, seq);
	return step_done(s, st);
}

/* Append the last limit history entries of an entity as a JSON array. */
int
store_history_json(struct store *s, const char *kind, const char *entity,
    int limit, struct buf *out)
{
	sqlite3_stmt *st = s->q[Q_HIST_QUERY];
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
	buf_addc(out, ']');
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warnx("database: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int
store_alert_insert(struct store *s, int64_t id, const char *rule,
    const char *severity, const char *kind, const char *entity,
    const char *period, int64_t ts, int64_t seq, const char *json, size_t len)
{
	sqlite3_stmt *st = s->q[Q_ALERT_INSERT];

	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, rule);
	bind_text(st, 3, severity);
	bind_text(st, 4, kind);
	bind_text(st, 5, entity);
	bind_text(st, 6, period);
	sqlite3_bind_int64(st, 7, ts);
	if (seq > 0)
		sqlite3_bind_int64(st, 8, seq);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_text(st, 9, json, (int)len, SQLITE_STATIC);
	return step_done(s, st);
}

/*
 * Append alerts with id > after (of rule, if not NULL), at most limit, as
 * comma-separated JSON objects; *last is the last id appended.
 */
int
store_alerts_json(struct store *s, int64_t after, int64_t limit,
    const char *rule, struct buf *out, int64_t *last)
{
	sqlite3_stmt *st = s->q[rule != NULL ? Q_ALERTS_RULE : Q_ALERTS];
	int rc, n = 0;

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	if (rule != NULL)
		bind_text(st, 3, rule);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ > 0)
			buf_addc(out, ',');
		*last = sqlite3_column_int64(st, 0);
		buf_add(out, sqlite3_column_text(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warnx("database: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/* 1 if the alert exists (and is now acknowledged), 0 if not, -1 error. */
int
store_alert_ack(struct store *s, int64_t id)
{
	sqlite3_stmt *st = s->q[Q_ACK];

	sqlite3_bind_int64(st, 1, id);
	if (step_done(s, st) != 0)
		return -1;
	return sqlite3_changes(s->db) > 0;
}

/* A count for stats: sql is a fixed "SELECT count(*) ..." of the caller. */
int
store_count(struct store *s, const char *sql, int64_t *out)
{
	*out = query_int(s, sql, -1);
	return *out < 0 ? -1 : 0;
}
