/*
 * zhilictl export [--db PATH] [--from TS] [--to TS] [--alerts]: the stored
 * event log, or the alerts, as NDJSON on stdout, for archives.
 *
 * It reads the database itself (a SQLite file, or a PostgreSQL database
 * given by its connection string, as the daemon's `database`), read-only,
 * so that it runs beside a daemon under load without taking anything from
 * it: one SELECT is one read transaction, a snapshot of the log as of its
 * start (SQLite's WAL mode lets the daemon commit meanwhile), and rows are
 * streamed one at a time, so that memory stays bounded whatever the
 * length of the log.
 *
 * An event line is the event as the daemon stored it (the line the client
 * sent, rebuilt from its template and values: evlog.c), so that `zhilictl
 * export | zhilictl push` into an empty daemon applies the same events in
 * the same order.  Where the client left ts out (the wall clock stamped
 * it), the ts the daemon applied is put in first, so that a replay does
 * not take the time of the replay.  An alert line is the ALERT object of
 * the `alerts` command, acked and silenced included; silenced alerts are
 * exported too.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "zhilid.h"
#include "conf.h"
#include "ctl.h"
#include "store.h"

static const char usage[] =
    "export [--db PATH] [--from TS] [--to TS] [--alerts]";

/*
 * A body is the line itself where shape is NULL (json_type(...) IS NULL:
 * the client sent no ts), else the values of the shape's template.  The
 * unary + keeps the ts index out: the rows come in seq order, read as they
 * are stored, not sorted.
 */
static const char events_sql[] =
    "SELECT e.ts, e.body, CASE WHEN e.shape IS NULL THEN "
    "json_type(e.body, '$.ts') IS NULL END, s.template, e.eid FROM events "
    "AS e LEFT JOIN shapes AS s ON s.id = e.shape "
    "WHERE +e.ts BETWEEN ?1 AND ?2 ORDER BY e.seq";
/* The same in PostgreSQL's dialect. */
static const char events_pg_sql[] =
    "SELECT e.ts, e.body, CASE WHEN e.shape IS NULL THEN "
    "(e.body::json -> 'ts') IS NULL END::int, s.template, e.eid FROM "
    "events AS e LEFT JOIN shapes AS s ON s.id = e.shape "
    "WHERE e.ts BETWEEN $1 AND $2 ORDER BY e.seq";
/* Both dialects: a numbered parameter is ?N in SQLite and $N in both. */
static const char alerts_sql[] =
    "SELECT " CTL_ALERT_COLUMNS ", " CTL_ALERT_STATE " FROM alerts "
    "WHERE ts BETWEEN $1 AND $2 ORDER BY id";

static void
put_event(const struct ctl_row *r, struct buf *b)
{
	const char	*body = r->v[1];
	size_t		 len = r->len[1];
	int64_t		 ts = strtoll(r->v[0], NULL, 10);

	if (r->v[3] != NULL) {
		buf_reset(b);
		evlog_decode(b, r->v[3], body, len, r->v[4], ts, 1);
		buf_addc(b, '\n');
		fwrite(BUF_DATA(b), 1, BUF_LEN(b), stdout);
		return;
	}
	if (r->v[2] != NULL && strcmp(r->v[2], "1") == 0 && len > 0 &&
	    body[0] == '{') {
		printf("{\"ts\":%lld%s", (long long)ts, len > 2 ? "," : "");
		body++;
		len--;
	}
	fwrite(body, 1, len, stdout);
	putchar('\n');
}

/* Write one row, an event or an alert; a reader gone away stops us. */
static void
put_row(const struct ctl_row *r, int alerts, struct buf *b, unsigned long n)
{
	if (alerts) {
		buf_reset(b);
		ctl_alert_json(b, r, 1);
		buf_addc(b, '\n');
		fwrite(BUF_DATA(b), 1, BUF_LEN(b), stdout);
	} else
		put_event(r, b);
	if (n % 4096 == 0)
		ctl_flush();
}

/* Stream the rows of a SQLite file; 0, or -1 with the error reported. */
static int
export_sqlite(const char *path, int alerts, int64_t from, int64_t to)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st = NULL;
	struct ctl_row	 r;
	struct buf	 b = { 0 };
	unsigned long	 n = 0;
	int		 rc;

	if (access(path, R_OK) != 0) {
		ctl_warnx("export: %s: %s", path, strerror(errno));
		return -1;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_prepare_v2(db, alerts ? alerts_sql : events_sql, -1, &st,
	    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ctl_row_sqlite(&r, st);
		put_row(&r, alerts, &b, ++n);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	sqlite3_close(db);
	buf_free(&b);
	ctl_flush();
	return 0;
fail:
	ctl_warnx("export: %s: %s%s", path, db != NULL ? sqlite3_errmsg(db) :
	    "cannot open", db != NULL && strstr(sqlite3_errmsg(db),
	    "no such table") != NULL ? " (not a zhilid database?)" : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
	buf_free(&b);
	return -1;
}

/*
 * Stream the rows of a PostgreSQL database (a connection string, as the
 * daemon's `database`): one SELECT, a snapshot as of its start, read a
 * row at a time.  0, or -1 with the error reported (the server's message,
 * never the connection string, which may hold a password).
 */
static int
export_pg(const char *conninfo, int alerts, int64_t from, int64_t to)
{
	PGconn		*c = PQconnectdb(conninfo);
	PGresult	*res;
	struct ctl_row	 r;
	struct buf	 b = { 0 };
	char		 f[24], t[24];
	const char	*v[2] = { f, t };
	unsigned long	 n = 0;
	int		 i, rc = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		ctl_warnx("export: cannot connect to PostgreSQL: %.*s",
		    (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	snprintf(f, sizeof f, "%lld", (long long)from);
	snprintf(t, sizeof t, "%lld", (long long)to);
	if (!PQsendQueryParams(c, alerts ? alerts_sql : events_pg_sql, 2,
	    NULL, v, NULL, NULL, 0) || !PQsetSingleRowMode(c))
		rc = -1;
	while (rc == 0 && (res = PQgetResult(c)) != NULL) {
		if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
			memset(&r, 0, sizeof r);
			for (i = 0; i < PQnfields(res) && i < CTL_ROW_MAX; i++) {
				r.v[i] = PQgetisnull(res, 0, i) ? NULL :
				    PQgetvalue(res, 0, i);
				r.len[i] = (size_t)PQgetlength(res, 0, i);
			}
			put_row(&r, alerts, &b, ++n);
		} else if (PQresultStatus(res) != PGRES_TUPLES_OK)
			rc = -1;
		if (rc != 0)
			ctl_warnx("export: PostgreSQL: %.*s%s",
			    (int)strcspn(PQerrorMessage(c), "\n"),
			    PQerrorMessage(c), strstr(PQerrorMessage(c),
			    "does not exist") != NULL ?
			    " (not a zhilid database?)" : "");
		PQclear(res);
	}
	PQfinish(c);
	buf_free(&b);
	if (rc == 0)
		ctl_flush();
	return rc;
}

int
ctl_export(int argc, char **argv)
{
	const char	*v, *db = NULL;
	char		*path;
	int64_t		 from = 0, to = TS_MAX;
	int		 i, alerts = 0, rc;

	for (i = 1; i < argc; i++) {
		if ((v = ctl_opt_value(argc, argv, &i, "--db")) != NULL)
			db = v;
		else if ((v = ctl_opt_value(argc, argv, &i, "--from")) != NULL) {
			if (ctl_parse_ts("export", "--from", v, &from) != 0)
				return EXIT_USAGE;
		} else if ((v = ctl_opt_value(argc, argv, &i, "--to")) != NULL) {
			if (ctl_parse_ts("export", "--to", v, &to) != 0)
				return EXIT_USAGE;
		}
		else if (strcmp(argv[i], "--alerts") == 0)
			alerts = 1;
		else
			ctl_usage_error("usage: zhilictl %s", usage);
	}
	if (from > to)
		ctl_usage_error("export: --from is after --to%s", "");
	if ((path = ctl_db_path("export", db)) == NULL)
		return EXIT_USAGE;
	rc = (store_is_url(path) ? export_pg : export_sqlite)(path, alerts,
	    from, to) == 0 ? EXIT_SUCCESS : EXIT_USAGE;
	free(path);
	return rc;
}
