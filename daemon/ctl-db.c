/*
 * What the zhilictl commands that read the database themselves, beside
 * the daemon (backtest, export), share: finding the database and the
 * time zone from the command line and the configuration, reading a time
 * option, and a stored alert as ALERT JSON.
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
#include "store.h"

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

/*
 * A PostgreSQL connection string where a SQLite file is all that cmd
 * reads: say so, without the string (it may hold a password).  1 if it is
 * one, else 0.
 */
int
ctl_db_is_pg(const char *cmd, const char *db)
{
	if (!store_is_url(db))
		return 0;
	ctl_warnx("%s: the database is a PostgreSQL connection string; %s "
	    "reads SQLite databases only", cmd, cmd);
	return 1;
}

/* The columns of the row st stands on, as text (valid until its next step). */
void
ctl_row_sqlite(struct ctl_row *r, struct sqlite3_stmt *st)
{
	int i, n = sqlite3_column_count(st);

	memset(r, 0, sizeof *r);
	for (i = 0; i < n && i < CTL_ROW_MAX; i++) {
		r->v[i] = (const char *)sqlite3_column_text(st, i);
		r->len[i] = (size_t)sqlite3_column_bytes(st, i);
	}
}

/* An integer column, -1 if NULL (alert_json's unknown). */
static int64_t
null_int(const struct ctl_row *r, int i)
{
	return r->v[i] != NULL ? strtoll(r->v[i], NULL, 10) : -1;
}

/*
 * Append the ALERT JSON of a row whose columns are CTL_ALERT_COLUMNS; with
 * state, CTL_ALERT_STATE follow, and the ALERT says whether and by whom it
 * was acknowledged and which silence matched it, else both are null
 * (backtest compares alerts as raised).
 */
void
ctl_alert_json(struct buf *b, const struct ctl_row *r, int state)
{
	struct alert_ack ack = { -1, -1 };
	int		 acked = state && null_int(r, 11) > 0;

	if (acked) {
		ack.by = null_int(r, 12);
		ack.ts = null_int(r, 13);
	}
	alert_json(b, null_int(r, 0), r->v[1], r->v[2], r->v[3], r->v[4],
	    r->v[5], null_int(r, 6), r->v[8], r->len[8],
	    r->v[9] != NULL ? r->v[9] : "{}", r->v[10], acked ? &ack : NULL,
	    state ? null_int(r, 14) : 0);
}
