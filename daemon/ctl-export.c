/*
 * zhilictl export [--db PATH] [--from TS] [--to TS] [--alerts]: the stored
 * event log, or the alerts, as NDJSON on stdout, for archives.
 *
 * It reads the database itself, read-only, so that it runs beside a
 * daemon under load without taking anything from it: one SELECT is one
 * read transaction, a snapshot of the log as of its start (WAL mode lets
 * the daemon commit meanwhile), and rows are streamed one at a time, so
 * that memory stays bounded whatever the length of the log.
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

#include <sqlite3.h>

#include "zhilid.h"
#include "conf.h"
#include "ctl.h"

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
static const char alerts_sql[] =
    "SELECT " CTL_ALERT_COLUMNS ", " CTL_ALERT_STATE " FROM alerts "
    "WHERE ts BETWEEN ?1 AND ?2 ORDER BY id";

static void
put_event(sqlite3_stmt *st, struct buf *b)
{
	const char	*body = (const char *)sqlite3_column_text(st, 1);
	size_t		 len = (size_t)sqlite3_column_bytes(st, 1);

	if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
		buf_reset(b);
		evlog_decode(b, (const char *)sqlite3_column_text(st, 3), body,
		    len, (const char *)sqlite3_column_text(st, 4),
		    sqlite3_column_int64(st, 0), 1);
		buf_addc(b, '\n');
		fwrite(BUF_DATA(b), 1, BUF_LEN(b), stdout);
		return;
	}
	if (sqlite3_column_int(st, 2) && len > 0 && body[0] == '{') {
		printf("{\"ts\":%lld%s", (long long)sqlite3_column_int64(st, 0),
		    len > 2 ? "," : "");
		body++;
		len--;
	}
	fwrite(body, 1, len, stdout);
	putchar('\n');
}

static void
put_alert(sqlite3_stmt *st, struct buf *b)
{
	buf_reset(b);
	ctl_alert_json(b, st, 1);
	buf_addc(b, '\n');
	fwrite(BUF_DATA(b), 1, BUF_LEN(b), stdout);
}

/* Stream the rows; 0, or -1 with the error reported. */
static int
export_rows(const char *path, int alerts, int64_t from, int64_t to)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st = NULL;
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
		if (alerts)
			put_alert(st, &b);
		else
			put_event(st, &b);
		if (++n % 4096 == 0)
			ctl_flush();	/* a reader that went away stops us */
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
	rc = export_rows(path, alerts, from, to) == 0 ? EXIT_SUCCESS :
	    EXIT_USAGE;
	free(path);
	return rc;
}
