/*
 * What the zhilictl commands that read the database themselves, beside
 * the daemon (backtest, export), share: finding the database and the
 * time zone from the command line and the configuration, reading a time
 * option, and a stored alert as ALERT JSON.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "zhilid.h"
#include "conf.h"
#include "ctl.h"

#define DEFAULT_CONF	"zhilid.conf"
#define DEFAULT_DB	"run/zhilid.db"
#define DEFAULT_ZONE	"Asia/Shanghai"

/*
 * The database: db (--db), else the configuration's `database` (-c CONF,
 * else ./zhilid.conf if there is one), else run/zhilid.db; the time zone
 * becomes the configuration's.  NULL if the configuration does not load
 * (its problems reported, as cmd's).
 */
char *
ctl_db_path(const char *cmd, const char *db)
{
	const char	*path = ctl_opt.conf;
	struct errs	 errs = { 0 };
	struct conf	*c;
	char		*out = NULL;
	size_t		 i;

	if (path == NULL && access(DEFAULT_CONF, F_OK) == 0)
		path = DEFAULT_CONF;
	if (path == NULL) {
		clock_set_zone(DEFAULT_ZONE);
		return xstrdup(db != NULL ? db : DEFAULT_DB);
	}
	if ((c = conf_load(path, &errs)) == NULL || errs.n > 0) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.v[i]);
		if (errs.n == 0)
			ctl_warnx("%s: %s: cannot read the config", cmd, path);
	} else {
		out = xstrdup(db != NULL ? db : c->database);
		clock_set_zone(c->timezone);
	}
	conf_free(c);
	errs_free(&errs);
	return out;
}

/* A time option: RFC 3339 or Unix seconds; -1 with a warning, as cmd's. */
int
ctl_parse_ts(const char *cmd, const char *opt, const char *s, int64_t *out)
{
	char	*end;
	long long v;

	if (clock_parse(s, out) == 0)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s != '\0' && *end == '\0' && errno == 0 && v >= 0 && v <= TS_MAX) {
		*out = v;
		return 0;
	}
	ctl_warnx("%s: %s: expected an RFC 3339 time "
	    "(2026-01-01T00:00:00+08:00) or Unix seconds, got '%s'", cmd, opt,
	    s);
	return -1;
}

/* An integer column, -1 if NULL (alert_json's unknown). */
static int64_t
null_int(struct sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return -1;
	return sqlite3_column_int64(st, i);
}

/*
 * Append the ALERT JSON of the row st stands on, whose columns are
 * CTL_ALERT_COLUMNS; with state, CTL_ALERT_STATE follow, and the ALERT
 * says whether and by whom it was acknowledged and which silence matched
 * it, else both are null (backtest compares alerts as raised).
 */
void
ctl_alert_json(struct buf *b, struct sqlite3_stmt *st, int state)
{
	const char	*data = (const char *)sqlite3_column_text(st, 9);
	struct alert_ack ack;
	int		 acked = state && sqlite3_column_int(st, 11);

	ack.by = null_int(st, 12);
	ack.ts = null_int(st, 13);
	alert_json(b, sqlite3_column_int64(st, 0),
	    (const char *)sqlite3_column_text(st, 1),
	    (const char *)sqlite3_column_text(st, 2),
	    (const char *)sqlite3_column_text(st, 3),
	    (const char *)sqlite3_column_text(st, 4),
	    (const char *)sqlite3_column_text(st, 5),
	    sqlite3_column_int64(st, 6),
	    (const char *)sqlite3_column_text(st, 8),
	    (size_t)sqlite3_column_bytes(st, 8),
	    data != NULL ? data : "{}",
	    (const char *)sqlite3_column_text(st, 10), acked ? &ack : NULL,
	    state ? null_int(st, 14) : 0);
}
