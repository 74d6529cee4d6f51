/*
 * ctl-backtest.c: `zhilictl backtest --rules FILE...`, what candidate rules
 * would have raised over the stored event log, against what was raised.
 *
 * The database is opened read-only and read in one transaction, so that a
 * daemon may go on writing beside it (WAL): the replay sees the log and
 * the alerts as of one commit.  The events are replayed in seq order into
 * a scratch engine built from the candidate rule files, the one that
 * `zhilictl test` runs (no store, event clock): each event's stored ts is
 * the clock, so that the timers its ts passes fire before it, as a daemon
 * on `clock: event` fires them.  Nothing of the log is held: events and
 * stored alerts are read as cursors, each event's alerts compared as it is
 * replayed; memory is the engine's, which grows with the entities.
 *
 * How alerts are matched.  An alert an event raised (its stored seq set)
 * is keyed by that event's seq, the alert's rule, kind, entity and period:
 * the same key on both sides with the same severity, ts, message, data
 * and event id is the same alert, with another of those it is changed; a
 * key on one side only is added (the candidate's) or removed (the
 * stored's).  Several alerts of one key in one event pair in order.  An
 * alert a timer raised (seq null) is keyed by rule, kind, entity, period
 * and its ts (the timer's due time), whenever either side raised it: a
 * daemon on the wall clock fires timers when the wall clock passes them,
 * not where the replay does.  One missing on the other side is reported
 * once the replay's clock is a day (TIMER_LAG) past it, or at the end;
 * stored timer alerts due at or after the replay's last clock lie beyond
 * what the replay saw and are left out (counted as "beyond").
 *
 * --from and --to bound the comparison, not the replay: every event is
 * replayed from the first (the state before --from must be built), and
 * only the alerts of events whose ts is in [FROM, TO] (a timer's: whose
 * ts is) are compared.  An event the candidate refuses (its rules do not
 * know its type, say) is a difference too, "refused".
 *
 * Exit 0 no difference, 1 differences, 2 errors.
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "ctl.h"
#include "zhilid.h"
#include "conf.h"
#include "engine.h"

#define BT_SAME		0
#define BT_DIFFER	1
#define BT_ERROR	2

#define DEFAULT_LIMIT	5
#define TIMER_LAG	86400	/* seconds a timer alert waits for its pair */
#define SUBMIT_EVENTS	4096	/* events per engine batch, as the server */
#define PROGRESS_EVERY	65536	/* events between looks at the time */
#define TIMER_BUCKETS	1024
#define CHUNK_EVENTS	4096	/* events the reader hands over at once */
#define CHUNKS		4	/* chunks at most: the reader's lead */

enum bt_kind { D_ADDED, D_REMOVED, D_CHANGED, D_NKINDS };
static const char *const kind_names[D_NKINDS] = { "added", "removed",
    "changed" };

/* One alert, as ALERT JSON (the candidate's with "id" null). */
struct bt_alert {
	struct bt_alert	*next;		/* in a list or a hash chain */
	struct bt_alert	*lnext, **lprev;	/* the timer map's entries */
	int		 stored;	/* 1 stored, 0 the candidate's */
	int64_t		 seq;		/* the raising event's; 0: a timer's */
	int64_t		 evts;		/* its ts; a timer's: the alert's */
	char		*json;
	char		*key;
	uint64_t	 hash;
};

/*
 * What the reader thread hands over: a run of events, each with the
 * stored alerts read up to it (text: bodies and ALERT JSON).
 */
struct bt_sal {
	int64_t		 seq;		/* 0: a timer's */
	int64_t		 ts;
	size_t		 off, len;	/* in text */
};
struct bt_row {
	int64_t		 seq, ts;
	size_t		 body, blen;	/* in text, NUL-terminated */
	size_t		 a0, na;	/* its stored alerts: al[a0..] */
};
struct bt_chunk {
	struct bt_chunk	*next;
	struct buf	 text;
	struct bt_row	*rows;
	size_t		 nrows, rcap;
	struct bt_sal	*al;
	size_t		 nal, acap;
	int		 end;		/* the last: its last row has no event */
	char		*err;		/* reading failed: why */
};

/* The differences under one alert rule name. */
struct bt_rule {
	char		*name;
	uint64_t	 n[D_NKINDS];
	struct buf	 ex[D_NKINDS];	/* examples, one per line */
};

struct bt {
	/* options */
	char		**rules;
	size_t		  nrules;
	const char	 *db_path;
	int64_t		  from, to;
	long		  limit;
	int		  json;
	/* state */
	sqlite3		 *db;
	sqlite3_stmt	 *events, *alerts;
	int		  alerts_row;	/* on a row; -1: not stepped yet */
	/* the reader thread and its chunks (full: in order, to replay) */
	pthread_t	  reader;
	int		  reading, stop;
	pthread_mutex_t	  mu;
	pthread_cond_t	  cv;
	struct bt_chunk	 *full, **full_tail, *spare;
	int		  nchunks;
	struct ruleset	 *rs;
	struct engine	 *eng;
	struct request	  req;
	struct buf	  tmp;
	struct bt_alert	 *queue, **queue_tail;	/* stored timer alerts */
	struct bt_alert	 *tbuckets[TIMER_BUCKETS];	/* timer map */
	struct bt_alert	 *tlist;	/* its entries, oldest first */
	struct bt_alert	**tlist_tail;
	int64_t		  settled;	/* clock of the last settling */
	struct bt_rule	 *brules;
	size_t		  nbrules;
	/* counts */
	uint64_t	  nevents, nrefused, nstored, ncand, nbeyond, nskipped;
	struct buf	  refused;	/* examples */
	int64_t		  total;
	int		  progress;
	struct timespec	  t0;
};

static int64_t
elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Where an ALERT's text after its id starts: `"rule":...`. */
static const char *
after_id(const char *json, size_t len, size_t *rest)
{
	const char *p = memchr(json, ',', len);

	if (p == NULL) {
		*rest = len;
		return json;
	}
	p++;
	*rest = len - (size_t)(p - json);
	return p;
}

static int
same_alert(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	 na, nb;

	a = after_id(a, alen, &na);
	b = after_id(b, blen, &nb);
	return na == nb && memcmp(a, b, na) == 0;
}

static uint64_t
hash_str(const char *s)
{
	uint64_t h = BLOOM_SEED;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A new alert from its JSON: its key parsed out; NULL if not ALERT. */
static struct bt_alert *
alert_new(int stored, int64_t seq, int64_t evts, const char *json,
    size_t len)
{
	struct bt_alert	*a;
	cJSON		*o;
	const char	*rule, *kind, *entity, *period, *ts;
	struct buf	 k = { 0 };
	size_t		 rest;
	const char	*tail;

	if ((o = cJSON_ParseWithLength(json, len)) == NULL)
		return NULL;
	rule = jstr(o, "rule");
	kind = jstr(o, "kind");
	entity = jstr(o, "entity");
	period = jstr(o, "period");
	ts = jstr(o, "ts");
	if (rule == NULL || kind == NULL || entity == NULL || ts == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	a = xcalloc(1, sizeof *a);
	a->stored = stored;
	a->seq = seq;
	a->evts = evts;
	if (stored)
		a->json = xstrndup(json, len);
	else {
		tail = after_id(json, len, &rest);
		a->json = xasprintf("{\"id\":null,%.*s", (int)rest, tail);
	}
	buf_addf(&k, "%s\t%s\t%s\t%s", rule, kind, entity,
	    period != NULL ? period : "");
	if (seq == 0) {
		buf_addc(&k, '\t');
		buf_adds(&k, ts);
		if (!stored)
			clock_parse(ts, &a->evts);
	}
	a->key = buf_steal(&k);
	a->hash = hash_str(a->key);
	cJSON_Delete(o);
	return a;
}

static void
alert_free(struct bt_alert *a)
{
	if (a == NULL)
		return;
	free(a->json);
	free(a->key);
	free(a);
}

static struct bt_rule *
bt_rule(struct bt *bt, const char *name)
{
	struct bt_rule	*r;
	size_t		 i;

	for (i = 0; i < bt->nbrules; i++)
		if (strcmp(bt->brules[i].name, name) == 0)
			return &bt->brules[i];
	bt->brules = xreallocarray(bt->brules, bt->nbrules + 1,
	    sizeof *bt->brules);
	r = &bt->brules[bt->nbrules++];
	memset(r, 0, sizeof *r);
	r->name = xstrdup(name);
	return r;
}

static int
in_range(const struct bt *bt, int64_t ts)
{
	return ts >= bt->from && ts <= bt->to;
}

/* "event seq S (id X) at TS" or "timer due TS", for an example. */
static void
where(struct buf *b, const struct bt_alert *a, const cJSON *o)
{
	const char *eid = jstr(o, "event"), *ts = jstr(o, "ts");

	if (a->seq == 0) {
		buf_addf(b, "timer due %s", ts != NULL ? ts : "?");
		return;
	}
	buf_addf(b, "event seq %" PRId64, a->seq);
	if (eid != NULL)
		buf_addf(b, " (id %s)", eid);
	buf_addf(b, " at %s", ts != NULL ? ts : "?");
}

static void
show_item(struct buf *b, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	buf_adds(b, s != NULL ? s : "null");
	free(s);
}

/* What differs between a stored alert and the candidate's. */
static void
what_changed(struct buf *b, const cJSON *was, const cJSON *now)
{
	static const char *const keys[] = { "severity", "ts", "message",
	    "data", "event" };
	const cJSON	*x, *y;
	size_t		 i, n = 0;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		x = cJSON_GetObjectItemCaseSensitive(was, keys[i]);
		y = cJSON_GetObjectItemCaseSensitive(now, keys[i]);
		if (x != NULL && y != NULL && cJSON_Compare(x, y, 1))
			continue;
		buf_addf(b, "%s%s ", n++ > 0 ? "; " : ": ", keys[i]);
		show_item(b, x);
		buf_adds(b, " -> ");
		show_item(b, y);
	}
	if (n == 0)
		buf_adds(b, ": the same values, written differently");
}

/*
 * A difference: counted under its rule (when in range), printed as a JSON
 * line with --json, else kept as an example up to the limit.
 */
static void
differ(struct bt *bt, enum bt_kind d, const struct bt_alert *was,
    const struct bt_alert *now)
{
	const struct bt_alert	*a = now != NULL ? now : was;
	cJSON			*ow = NULL, *on = NULL;
	const cJSON		*o;
	struct bt_rule		*r;
	struct buf		*b;
	const char		*rule;

	if (!in_range(bt, a->evts))
		return;
	if (was != NULL)
		ow = cJSON_Parse(was->json);
	if (now != NULL)
		on = cJSON_Parse(now->json);
	o = on != NULL ? on : ow;
	if ((rule = jstr(o, "rule")) == NULL) {	/* parsed before */
		cJSON_Delete(ow);
		cJSON_Delete(on);
		return;
	}
	r = bt_rule(bt, rule);
	r->n[d]++;
	if (bt->json) {
		buf_reset(&bt->tmp);
		buf_addf(&bt->tmp, "{\"diff\":\"%s\",\"rule\":", kind_names[d]);
		buf_add_json_cstr(&bt->tmp, rule);
		buf_adds(&bt->tmp, ",\"kind\":");
		buf_add_json_cstr(&bt->tmp, jstr(o, "kind"));
		buf_adds(&bt->tmp, ",\"entity\":");
		buf_add_json_cstr(&bt->tmp, jstr(o, "entity"));
		buf_adds(&bt->tmp, ",\"seq\":");
		if (a->seq != 0)
			buf_add_int(&bt->tmp, a->seq);
		else
			buf_adds(&bt->tmp, "null");
		buf_adds(&bt->tmp, ",\"stored\":");
		buf_adds(&bt->tmp, was != NULL ? was->json : "null");
		buf_adds(&bt->tmp, ",\"candidate\":");
		buf_adds(&bt->tmp, now != NULL ? now->json : "null");
		buf_adds(&bt->tmp, "}\n");
		fwrite(BUF_DATA(&bt->tmp), 1, BUF_LEN(&bt->tmp), stdout);
	} else if (r->n[d] <= (uint64_t)bt->limit) {
		b = &r->ex[d];
		buf_addf(b, "    %-8s %s %s, ", kind_names[d], jstr(o, "kind"),
		    jstr(o, "entity"));
		where(b, a, o);
		if (d == D_CHANGED)
			what_changed(b, ow, on);
		else
			buf_addf(b, ": [%s] %s", jstr(o, "severity"),
			    jstr(o, "message"));
		buf_addc(b, '\n');
	}
	cJSON_Delete(ow);
	cJSON_Delete(on);
}

/* A pair of the same key: the same alert, or changed. */
static void
pair(struct bt *bt, const struct bt_alert *was, const struct bt_alert *now)
{
	if (!same_alert(was->json, strlen(was->json), now->json,
	    strlen(now->json)))
		differ(bt, D_CHANGED, was, now);
}

/*
 * The reader thread: it steps the events and alerts cursors and renders
 * the stored alerts, a chunk of rows ahead of the replay, so that the
 * replay's thread only decodes, applies and compares (about a third of
 * the time was SQLite and the stored alerts' JSON).  At most CHUNKS
 * chunks exist, which bounds what is read ahead.
 */

/*
 * The stored alert of the open row of the alerts cursor, as ALERT JSON;
 * not acknowledged and not silenced, as the candidate's: those are the
 * operators' doing, not the rules'.
 */
static void
stored_json(struct bt *bt, struct buf *b)
{
	struct ctl_row	 r;

	ctl_row_sqlite(&r, bt->alerts);
	ctl_alert_json(b, &r, 0);
	bt->nstored++;
}

static int
alerts_step(struct bt *bt, struct bt_chunk *c)
{
	int rc = sqlite3_step(bt->alerts);

	bt->alerts_row = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		c->err = xasprintf("reading the alerts: %s",
		    sqlite3_errmsg(bt->db));
		return -1;
	}
	return 0;
}

/*
 * Into the chunk's last row: the stored alerts up to those of event seq,
 * timers' and the event's, in id order; -1 if the database fails.
 */
static int
stored_upto(struct bt *bt, struct bt_chunk *c, int64_t seq)
{
	sqlite3_stmt	*st = bt->alerts;
	struct bt_row	*r = &c->rows[c->nrows - 1];
	struct bt_sal	*sa;
	int64_t		 s;

	r->a0 = c->nal;
	while (bt->alerts_row) {
		s = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 :
		    sqlite3_column_int64(st, 7);
		if (s > seq)
			break;
		if (s != 0 && s < seq)
			bt->nskipped++;	/* its event is gone from the log */
		else {
			if (c->nal == c->acap) {
				c->acap = c->acap ? c->acap * 2 : 1024;
				c->al = xreallocarray(c->al, c->acap,
				    sizeof *c->al);
			}
			sa = &c->al[c->nal++];
			sa->seq = s;
			sa->ts = sqlite3_column_int64(st, 6);
			sa->off = c->text.len;
			stored_json(bt, &c->text);
			sa->len = c->text.len - sa->off;
		}
		if (alerts_step(bt, c) != 0)
			return -1;
	}
	r->na = c->nal - r->a0;
	return 0;
}

static struct bt_row *
chunk_row(struct bt_chunk *c)
{
	struct bt_row *r;

	if (c->nrows == c->rcap) {
		c->rcap = c->rcap ? c->rcap * 2 : CHUNK_EVENTS;
		c->rows = xreallocarray(c->rows, c->rcap, sizeof *c->rows);
	}
	r = &c->rows[c->nrows++];
	memset(r, 0, sizeof *r);
	return r;
}

/* Fill a chunk; 1 at the end of the log, -1 if the database fails. */
static int
chunk_fill(struct bt *bt, struct bt_chunk *c)
{
	sqlite3_stmt	*st = bt->events;
	struct bt_row	*r;
	int		 rc;

	while (c->nrows < CHUNK_EVENTS) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			if (rc != SQLITE_DONE) {
				c->err = xasprintf("reading the events: %s",
				    sqlite3_errmsg(bt->db));
				return -1;
			}
			/* the stored alerts after the last event: timers' */
			chunk_row(c);
			return stored_upto(bt, c, INT64_MAX) == 0 ? 1 : -1;
		}
		r = chunk_row(c);
		r->seq = sqlite3_column_int64(st, 0);
		r->ts = sqlite3_column_int64(st, 1);
		r->body = c->text.len;
		r->blen = (size_t)sqlite3_column_bytes(st, 2);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			/* values and a template (evlog.c): the line again */
			evlog_decode(&c->text, (const char *)
			    sqlite3_column_text(st, 3), (const char *)
			    sqlite3_column_text(st, 2), r->blen,
			    (const char *)sqlite3_column_text(st, 4), r->ts, 0);
			r->blen = c->text.len - r->body;
		} else if (r->blen > 0)
			buf_add(&c->text, sqlite3_column_text(st, 2), r->blen);
		buf_addc(&c->text, '\0');
		if (stored_upto(bt, c, r->seq) != 0)
			return -1;
	}
	return 0;
}

static void *
reader_main(void *arg)
{
	struct bt	*bt = arg;
	struct bt_chunk	*c;
	int		 rc = 0;

	pthread_mutex_lock(&bt->mu);
	while (rc == 0 && !bt->stop) {
		if ((c = bt->spare) != NULL)
			bt->spare = c->next;
		else if (bt->nchunks < CHUNKS) {
			c = xcalloc(1, sizeof *c);
			bt->nchunks++;
		} else {
			pthread_cond_wait(&bt->cv, &bt->mu);
			continue;
		}
		pthread_mutex_unlock(&bt->mu);
		buf_reset(&c->text);
		c->nrows = c->nal = 0;
		c->next = NULL;
		if (bt->alerts_row < 0)
			rc = alerts_step(bt, c);
		if (rc == 0)
			rc = chunk_fill(bt, c);
		c->end = rc != 0;
		pthread_mutex_lock(&bt->mu);
		*bt->full_tail = c;
		bt->full_tail = &c->next;
		pthread_cond_broadcast(&bt->cv);
	}
	pthread_mutex_unlock(&bt->mu);
	return NULL;
}

/* The next chunk the reader filled, waiting for it. */
static struct bt_chunk *
chunk_take(struct bt *bt)
{
	struct bt_chunk *c;

	pthread_mutex_lock(&bt->mu);
	while ((c = bt->full) == NULL)
		pthread_cond_wait(&bt->cv, &bt->mu);
	if ((bt->full = c->next) == NULL)
		bt->full_tail = &bt->full;
	pthread_mutex_unlock(&bt->mu);
	return c;
}

static void
chunk_give(struct bt *bt, struct bt_chunk *c)
{
	pthread_mutex_lock(&bt->mu);
	c->next = bt->spare;
	bt->spare = c;
	pthread_cond_broadcast(&bt->cv);
	pthread_mutex_unlock(&bt->mu);
}

static void
chunk_free(struct bt_chunk *c)
{
	buf_free(&c->text);
	free(c->rows);
	free(c->al);
	free(c->err);
	free(c);
}

/* Stop the reader and free every chunk. */
static void
reader_stop(struct bt *bt)
{
	struct bt_chunk *c;

	if (!bt->reading)
		return;
	pthread_mutex_lock(&bt->mu);
	bt->stop = 1;
	pthread_cond_broadcast(&bt->cv);
	pthread_mutex_unlock(&bt->mu);
	pthread_join(bt->reader, NULL);
	bt->reading = 0;
	while ((c = bt->full) != NULL) {
		bt->full = c->next;
		chunk_free(c);
	}
	while ((c = bt->spare) != NULL) {
		bt->spare = c->next;
		chunk_free(c);
	}
}

/* Timer alerts: a map by key, the candidate's and the stored ones. */

static void
tmap_unlink(struct bt *bt, struct bt_alert *a)
{
	struct bt_alert **pp = &bt->tbuckets[a->hash % TIMER_BUCKETS];

	while (*pp != a)
		pp = &(*pp)->next;
	*pp = a->next;
	if (a->lnext != NULL)
		a->lnext->lprev = a->lprev;
	else
		bt->tlist_tail = a->lprev;
	*a->lprev = a->lnext;
}

/* Pair a with the other side's of its key, or keep it waiting. */
static void
tmap_put(struct bt *bt, struct bt_alert *a)
{
	struct bt_alert	 *o;

	for (o = bt->tbuckets[a->hash % TIMER_BUCKETS]; o != NULL;
	    o = o->next)
		if (o->stored != a->stored && o->hash == a->hash &&
		    strcmp(o->key, a->key) == 0)
			break;
	if (o != NULL) {
		tmap_unlink(bt, o);
		pair(bt, a->stored ? a : o, a->stored ? o : a);
		alert_free(o);
		alert_free(a);
		return;
	}
	a->next = bt->tbuckets[a->hash % TIMER_BUCKETS];
	bt->tbuckets[a->hash % TIMER_BUCKETS] = a;
	a->lnext = NULL;
	a->lprev = bt->tlist_tail;
	*bt->tlist_tail = a;
	bt->tlist_tail = &a->lnext;
}

/* Timer alerts that found no pair by the clock before: differences. */
static void
tmap_settle(struct bt *bt, int64_t before)
{
	struct bt_alert *a, *next;

	for (a = bt->tlist; a != NULL; a = next) {
		next = a->lnext;
		if (a->evts >= before)
			continue;
		tmap_unlink(bt, a);
		differ(bt, a->stored ? D_REMOVED : D_ADDED,
		    a->stored ? a : NULL, a->stored ? NULL : a);
		alert_free(a);
	}
	bt->settled = before;
}

/* Move the queued stored timer alerts due before clock into the map. */
static void
queue_take(struct bt *bt, int64_t clock)
{
	struct bt_alert **pp = &bt->queue, *a;

	while ((a = *pp) != NULL) {
		if (a->evts < clock) {
			*pp = a->next;
			a->next = NULL;
			tmap_put(bt, a);
		} else
			pp = &a->next;
	}
	for (bt->queue_tail = &bt->queue; *bt->queue_tail != NULL;
	    bt->queue_tail = &(*bt->queue_tail)->next)
		;
}

/*
 * The timer alerts of one event's replay, against the stored queue: the
 * same ones in the same order at its head (a daemon on the event clock
 * fired them there) pass at once; else each goes to the map.
 */
static void
timers_compare(struct bt *bt, const struct batch *b, const size_t *idx,
    size_t n, int64_t clock)
{
	struct bt_alert	*q = bt->queue, *a;
	const struct alert_ref *r;
	size_t		 i;

	for (i = 0; i < n && q != NULL; i++, q = q->next) {
		r = &b->alerts[idx[i]];
		if (q->evts >= clock || !same_alert(q->json, strlen(q->json),
		    b->balerts.p + r->off, r->len))
			break;
	}
	if (i == n && (q == NULL || q->evts >= clock) && bt->tlist == NULL) {
		while (bt->queue != q) {
			a = bt->queue;
			bt->queue = a->next;
			alert_free(a);
		}
		if (bt->queue == NULL)
			bt->queue_tail = &bt->queue;
		return;
	}
	for (i = 0; i < n; i++) {
		r = &b->alerts[idx[i]];
		if ((a = alert_new(0, 0, 0, b->balerts.p + r->off,
		    r->len)) != NULL)
			tmap_put(bt, a);
	}
	queue_take(bt, clock);
	if (clock - TIMER_LAG > bt->settled + TIMER_LAG / 8)
		tmap_settle(bt, clock - TIMER_LAG);
}

/*
 * The alerts events raised, of one event (seq): the same ones in the same
 * order pass at once; else they pair by key.
 */
static void
events_compare(struct bt *bt, const struct batch *b, const size_t *idx,
    size_t n, const struct bt_chunk *c, const struct bt_sal *const *win,
    size_t nw, const struct bt_row *row)
{
	struct bt_alert	**was, **now;
	const struct alert_ref *r;
	int64_t		  seq = row->seq, evts = row->ts;
	size_t		  i, j;

	if (n == nw) {
		for (i = 0; i < n; i++) {
			r = &b->alerts[idx[i]];
			if (!same_alert(c->text.p + win[i]->off, win[i]->len,
			    b->balerts.p + r->off, r->len))
				break;
		}
		if (i == n)
			return;
	}
	was = xcalloc(nw + 1, sizeof *was);
	now = xcalloc(n + 1, sizeof *now);
	for (i = 0; i < nw; i++)
		was[i] = alert_new(1, seq, evts, c->text.p + win[i]->off,
		    win[i]->len);
	for (j = 0; j < n; j++) {
		r = &b->alerts[idx[j]];
		now[j] = alert_new(0, seq, evts, b->balerts.p + r->off,
		    r->len);
	}
	for (i = 0; i < nw; i++) {
		if (was[i] == NULL)
			continue;
		for (j = 0; j < n; j++)
			if (now[j] != NULL && strcmp(now[j]->key,
			    was[i]->key) == 0)
				break;
		if (j < n) {
			pair(bt, was[i], now[j]);
			alert_free(now[j]);
			now[j] = NULL;
		} else
			differ(bt, D_REMOVED, was[i], NULL);
		alert_free(was[i]);
	}
	for (j = 0; j < n; j++) {
		if (now[j] != NULL)
			differ(bt, D_ADDED, NULL, now[j]);
		alert_free(now[j]);
	}
	free(was);
	free(now);
}

static void
refused(struct bt *bt, int64_t seq, int64_t ts, enum errcode ec,
    const char *msg)
{
	char t[40];

	if (!in_range(bt, ts))
		return;
	bt->nrefused++;
	clock_format(ts, t, sizeof t);
	if (bt->json) {
		buf_reset(&bt->tmp);
		buf_addf(&bt->tmp, "{\"diff\":\"refused\",\"seq\":%" PRId64
		    ",\"ts\":\"%s\",\"error\":\"%s\",\"message\":", seq, t,
		    errcode_name(ec));
		buf_add_json_cstr(&bt->tmp, msg);
		buf_adds(&bt->tmp, "}\n");
		fwrite(BUF_DATA(&bt->tmp), 1, BUF_LEN(&bt->tmp), stdout);
	} else if (bt->nrefused <= (uint64_t)bt->limit)
		buf_addf(&bt->refused, "    event seq %" PRId64 " at %s: %s: "
		    "%s\n", seq, t, errcode_name(ec), msg);
}

static void
progress(struct bt *bt, int done)
{
	int64_t	 ms = elapsed_ms(&bt->t0);
	double	 rate = ms > 0 ? (double)bt->nevents * 1000.0 / (double)ms : 0;
	double	 left = bt->total > (int64_t)bt->nevents && rate > 0 ?
	    (double)(bt->total - (int64_t)bt->nevents) / rate : 0;

	fprintf(stderr, "\rbacktest: %" PRIu64 "/%" PRId64 " events, %.0f "
	    "events/s, ETA %.0fs   %s", bt->nevents, bt->total, rate, left,
	    done ? "\n" : "");
}

/* A row's stored timer alerts join the queue; the event's are its window. */
static size_t
row_stored(struct bt *bt, const struct bt_chunk *c, const struct bt_row *r,
    const struct bt_sal ***win, size_t *cap)
{
	const struct bt_sal	*sa;
	struct bt_alert		*a;
	size_t			 i, nw = 0;

	if (*cap < r->na + 1) {
		*cap = 2 * r->na + 16;
		*win = xreallocarray(*win, *cap, sizeof **win);
	}
	for (i = 0; i < r->na; i++) {
		sa = &c->al[r->a0 + i];
		if (sa->seq != 0) {
			(*win)[nw++] = sa;
			continue;
		}
		if ((a = alert_new(1, 0, sa->ts, c->text.p + sa->off,
		    sa->len)) != NULL) {
			*bt->queue_tail = a;
			bt->queue_tail = &a->next;
		}
	}
	return nw;
}

struct bt_scratch {
	size_t			 *idx, cap;	/* the candidate's alerts */
	const struct bt_sal	**win;		/* the stored ones */
	size_t			  wcap;
};

/* Replay one event of a chunk and compare its alerts. */
static void
replay_row(struct bt *bt, const struct bt_chunk *c, const struct bt_row *r,
    struct bt_scratch *sc)
{
	struct engine	*e = bt->eng;
	struct ev_result res;
	enum errcode	 ec;
	char		 msg[512];
	size_t		 i, ne = 0, nt = 0, nw;
	const struct batch *b;

	bt->nevents++;
	memset(&res, 0, sizeof res);
	/* the stored ts is the default: an event sent without one got it */
	ec = decode_line(bt->rs, r->ts, c->text.p + r->body, r->blen,
	    &bt->req, msg, sizeof msg);
	if (ec == E_OK && bt->req.what != REQ_EVENT) {
		ec = E_BAD_EVENT;
		snprintf(msg, sizeof msg, "a command, not an event");
	}
	if (ec == E_OK)
		ec = engine_apply(e, &bt->req.ev, &res, msg, sizeof msg);
	if (ec != E_OK)
		refused(bt, r->seq, r->ts, ec, msg);
	nw = row_stored(bt, c, r, &sc->win, &sc->wcap);
	b = e->cur;
	if (sc->cap < res.nalerts + 1) {
		sc->cap = 2 * res.nalerts + 16;
		sc->idx = xreallocarray(sc->idx, sc->cap, 2 * sizeof *sc->idx);
	}
	/* event alerts at the front of idx, timer alerts at its back half */
	for (i = 0; b != NULL && i < res.nalerts; i++) {
		if (b->alerts[res.first_alert + i].seq != 0)
			sc->idx[ne++] = res.first_alert + i;
		else
			sc->idx[sc->cap + nt++] = res.first_alert + i;
	}
	bt->ncand += res.nalerts;
	if (nt > 0 || bt->queue != NULL)
		timers_compare(bt, b, sc->idx + sc->cap, nt, e->clock);
	if (ne > 0 || nw > 0)
		events_compare(bt, b, sc->idx, ne, c, sc->win, nw, r);
	if (e->cur != NULL && e->cur->nevents >= SUBMIT_EVENTS)
		engine_submit(e);
}

/* After the last event: the stored timer alerts, and what still waits. */
static void
replay_end(struct bt *bt, const struct bt_chunk *c, const struct bt_row *r,
    struct bt_scratch *sc)
{
	struct bt_alert *a;

	row_stored(bt, c, r, &sc->win, &sc->wcap);
	queue_take(bt, bt->eng->clock);
	while ((a = bt->queue) != NULL) {	/* due past the last clock */
		bt->queue = a->next;
		bt->nbeyond++;
		alert_free(a);
	}
	bt->queue_tail = &bt->queue;
	tmap_settle(bt, INT64_MAX);
}

static int
replay(struct bt *bt)
{
	struct bt_scratch	 sc;
	struct bt_chunk		*c;
	size_t			 i;
	int			 end = 0, rc = 0;

	memset(&sc, 0, sizeof sc);
	clock_gettime(CLOCK_MONOTONIC, &bt->t0);
	if (pthread_create(&bt->reader, NULL, reader_main, bt) != 0) {
		ctl_warnx("backtest: cannot start a thread");
		return -1;
	}
	bt->reading = 1;
	while (!end) {
		c = chunk_take(bt);
		end = c->end;
		for (i = 0; i < c->nrows; i++) {
			if (end && c->err == NULL && i + 1 == c->nrows) {
				replay_end(bt, c, &c->rows[i], &sc);
				break;
			}
			replay_row(bt, c, &c->rows[i], &sc);
			if (bt->nevents % PROGRESS_EVERY != 0)
				continue;
			if (bt->progress)
				progress(bt, 0);
			/* timer alerts left waiting while no timer fires */
			if (bt->tlist != NULL)
				tmap_settle(bt, bt->eng->clock - TIMER_LAG);
		}
		if (c->err != NULL) {
			ctl_warnx("backtest: %s: %s", bt->db_path, c->err);
			rc = -1;
		}
		chunk_give(bt, c);
	}
	reader_stop(bt);
	free(sc.idx);
	free(sc.win);
	if (rc == 0 && bt->progress)
		progress(bt, 1);
	return rc;
}

/* Opening */

static int
db_open(struct bt *bt)
{
	struct stat	 st;
	sqlite3_stmt	*s;
	int		 rc;

	if (stat(bt->db_path, &st) != 0) {
		ctl_warnx("backtest: %s: %s", bt->db_path, strerror(errno));
		return -1;
	}
	/* one thread at a time uses the connection: the reader, after here */
	if (sqlite3_open_v2(bt->db_path, &bt->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(bt->db, 10000);
	/*
	 * One read transaction for the whole replay: the daemon's commits
	 * after it began are not seen, so events and alerts agree.
	 */
	if (sqlite3_exec(bt->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(bt->db, "SELECT e.seq, e.ts, e.body, "
	    "s.template, e.eid FROM events AS e LEFT JOIN shapes AS s ON "
	    "s.id = e.shape ORDER BY e.seq", -1, &bt->events, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(bt->db, "SELECT " CTL_ALERT_COLUMNS " FROM "
	    "alerts ORDER BY id", -1, &bt->alerts, NULL) != SQLITE_OK)
		goto fail;
	if (bt->progress) {
		if (sqlite3_prepare_v2(bt->db, "SELECT max(seq) - min(seq) + 1 "
		    "FROM events", -1, &s, NULL) != SQLITE_OK)
			goto fail;
		rc = sqlite3_step(s);
		bt->total = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		sqlite3_finalize(s);
	}
	return 0;
fail:
	ctl_warnx("backtest: %s: %s%s", bt->db_path, sqlite3_errmsg(bt->db),
	    strstr(sqlite3_errmsg(bt->db), "no such table") != NULL ?
	    " (not a zhilid database?)" : "");
	return -1;
}

static const char usage[] =
    "usage: zhilictl [-c CONF] backtest --rules FILE... [--db PATH] "
    "[--from TS] [--to TS]\n"
    "                [--json] [--limit N]\n";

static int
parse_args(struct bt *bt, int argc, char **argv, const char **db)
{
	int	 i, in_rules = 0;
	char	*end;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--rules") == 0) {
			in_rules = 1;
			continue;
		}
		if (a[0] != '-' && in_rules) {
			bt->rules = xreallocarray(bt->rules, bt->nrules + 1,
			    sizeof *bt->rules);
			bt->rules[bt->nrules++] = argv[i];
			continue;
		}
		in_rules = 0;
		if (strcmp(a, "--json") == 0) {
			bt->json = 1;
			continue;
		}
		if (strcmp(a, "--db") != 0 && strcmp(a, "--from") != 0 &&
		    strcmp(a, "--to") != 0 && strcmp(a, "--limit") != 0) {
			ctl_warnx("backtest: unexpected argument '%s'", a);
			goto usage;
		}
		if (v == NULL) {
			ctl_warnx("backtest: %s needs a value", a);
			goto usage;
		}
		i++;
		if (strcmp(a, "--db") == 0)
			*db = v;
		else if (strcmp(a, "--from") == 0) {
			if (ctl_parse_ts("backtest", a, v, &bt->from) != 0)
				return -1;
		} else if (strcmp(a, "--to") == 0) {
			if (ctl_parse_ts("backtest", a, v, &bt->to) != 0)
				return -1;
		} else {
			errno = 0;
			bt->limit = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || errno != 0 ||
			    bt->limit < 0) {
				ctl_warnx("backtest: --limit: expected a "
				    "number of examples (0 or more), got "
				    "'%s'", v);
				return -1;
			}
		}
	}
	if (bt->nrules == 0) {
		ctl_warnx("backtest: --rules: name the candidate rule files");
		goto usage;
	}
	if (bt->from > bt->to) {
		ctl_warnx("backtest: --from is after --to");
		return -1;
	}
	return 0;
usage:
	fputs(usage, stderr);
	return -1;
}

/*
 * The database and time zone: --db, else the config's `database`; the
 * config is -c CONF, else ./zhilid.conf if there is one.  A PostgreSQL
 * database is refused: the replay reads SQLite's file in one snapshot.
 */
static int
settle_conf(struct bt *bt, const char *db, char **dbcopy)
{
	*dbcopy = ctl_db_path("backtest", db);
	return *dbcopy != NULL && !ctl_db_is_pg("backtest", *dbcopy) ? 0 : -1;
}

static void
report(struct bt *bt)
{
	struct bt_rule	*r;
	size_t		 i;
	int		 d;

	if (bt->json) {
		buf_reset(&bt->tmp);
		buf_addf(&bt->tmp, "{\"summary\":{\"events\":%" PRIu64
		    ",\"refused\":%" PRIu64 ",\"stored\":%" PRIu64
		    ",\"candidate\":%" PRIu64 ",\"beyond\":%" PRIu64
		    ",\"skipped\":%" PRIu64 ",\"rules\":{", bt->nevents,
		    bt->nrefused, bt->nstored, bt->ncand, bt->nbeyond,
		    bt->nskipped);
		for (i = 0; i < bt->nbrules; i++) {
			r = &bt->brules[i];
			if (i > 0)
				buf_addc(&bt->tmp, ',');
			buf_add_json_cstr(&bt->tmp, r->name);
			buf_addf(&bt->tmp, ":{\"added\":%" PRIu64 ",\"removed\":"
			    "%" PRIu64 ",\"changed\":%" PRIu64 "}",
			    r->n[D_ADDED], r->n[D_REMOVED], r->n[D_CHANGED]);
		}
		buf_adds(&bt->tmp, "}}}\n");
		fwrite(BUF_DATA(&bt->tmp), 1, BUF_LEN(&bt->tmp), stdout);
		return;
	}
	printf("%" PRIu64 " events replayed, %" PRIu64 " refused; %" PRIu64
	    " alerts stored, %" PRIu64 " raised by the candidate\n",
	    bt->nevents, bt->nrefused, bt->nstored, bt->ncand);
	if (bt->nrefused > 0) {
		printf("refused: %" PRIu64 " events\n", bt->nrefused);
		fwrite(BUF_DATA(&bt->refused), 1, BUF_LEN(&bt->refused),
		    stdout);
	}
	for (i = 0; i < bt->nbrules; i++) {
		r = &bt->brules[i];
		printf("%s: %" PRIu64 " added, %" PRIu64 " removed, %" PRIu64
		    " changed\n", r->name, r->n[D_ADDED], r->n[D_REMOVED],
		    r->n[D_CHANGED]);
		for (d = 0; d < D_NKINDS; d++)
			fwrite(BUF_DATA(&r->ex[d]), 1, BUF_LEN(&r->ex[d]),
			    stdout);
	}
	if (bt->nbeyond > 0)
		printf("%" PRIu64 " stored timer alerts fall due after the "
		    "last event: not compared\n", bt->nbeyond);
	if (bt->nskipped > 0)
		printf("%" PRIu64 " stored alerts of events no longer in the "
		    "log (retention?): not compared\n", bt->nskipped);
	if (bt->nbrules == 0 && bt->nrefused == 0)
		printf("no differences\n");
}

static void
bt_free(struct bt *bt)
{
	struct bt_alert	*a;
	size_t		 i;
	int		 d;

	reader_stop(bt);
	pthread_mutex_destroy(&bt->mu);
	pthread_cond_destroy(&bt->cv);
	while ((a = bt->queue) != NULL) {
		bt->queue = a->next;
		alert_free(a);
	}
	while ((a = bt->tlist) != NULL) {	/* after an error */
		tmap_unlink(bt, a);
		alert_free(a);
	}
	for (i = 0; i < bt->nbrules; i++) {
		free(bt->brules[i].name);
		for (d = 0; d < D_NKINDS; d++)
			buf_free(&bt->brules[i].ex[d]);
	}
	free(bt->brules);
	request_free(&bt->req);
	if (bt->eng != NULL)
		engine_free(bt->eng);
	ruleset_free(bt->rs);
	sqlite3_finalize(bt->events);
	sqlite3_finalize(bt->alerts);
	if (bt->db != NULL) {
		sqlite3_exec(bt->db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(bt->db);
	}
	buf_free(&bt->tmp);
	buf_free(&bt->refused);
	free(bt->rules);
}

int
ctl_backtest(int argc, char **argv)
{
	struct bt	 bt;
	struct errs	 errs = { 0 };
	const char	*db = NULL;
	char		*dbpath = NULL;
	size_t		 i, r;
	int		 rc = BT_ERROR;

	memset(&bt, 0, sizeof bt);
	bt.limit = DEFAULT_LIMIT;
	bt.from = INT64_MIN;
	bt.to = INT64_MAX;
	bt.json = ctl_opt.json;
	bt.queue_tail = &bt.queue;
	bt.tlist_tail = &bt.tlist;
	bt.full_tail = &bt.full;
	bt.alerts_row = -1;
	pthread_mutex_init(&bt.mu, NULL);
	pthread_cond_init(&bt.cv, NULL);
	log_init(0, 0);
	if (parse_args(&bt, argc, argv, &db) != 0 ||
	    settle_conf(&bt, db, &dbpath) != 0)
		goto done;
	bt.db_path = dbpath;
	if ((bt.rs = ruleset_load(bt.rules, bt.nrules, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.v[i]);
		if (errs.n == 0)
			ctl_warnx("backtest: the rules did not load");
		goto done;
	}
	bt.progress = isatty(STDERR_FILENO);
	if (db_open(&bt) != 0)
		goto done;
	bt.eng = engine_new(bt.rs, NULL, CLOCK_EVENT, SIZE_MAX);
	if (replay(&bt) != 0)
		goto done;
	report(&bt);
	rc = bt.nrefused > 0 ? BT_DIFFER : BT_SAME;
	for (r = 0; r < bt.nbrules; r++)
		if (bt.brules[r].n[D_ADDED] + bt.brules[r].n[D_REMOVED] +
		    bt.brules[r].n[D_CHANGED] > 0)
			rc = BT_DIFFER;
done:
	bt_free(&bt);
	errs_free(&errs);
	free(dbpath);
	return rc;
}
