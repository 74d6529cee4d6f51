/*
 * The store's interface: the database value chooses the backend (a
 * PostgreSQL connection string, else a SQLite path), and everything above
 * goes through the functions of store.h, which do not say which one runs.
 *
 * Common to both: the serialisation of write operations into a job's
 * buffer (on the loop thread), their decoding (on the writer thread), the
 * queue of jobs and the writer thread, which takes the jobs of one epoch
 * that queued meanwhile and has the backend commit them in one
 * transaction.  If a job fails, the writer refuses every later job of the
 * same epoch (they were computed on top of it) until the loop thread
 * starts a new epoch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zhilid.h"
#include "store-impl.h"

/* Operation codes of a job's buffer. */
enum { OP_EVENT = 1, OP_ENTITY, OP_HISTORY, OP_ALERT, OP_ACK, OP_STMT,
    OP_ENTITY_MOVED };

/* Retention's pace (see prune_step). */
#define PRUNE_GAP_US	20000		/* between batches while jobs wait */
#define PRUNE_RETRY	60		/* seconds after a failure */

static void	*writer_main(void *);
static int	 prune_due(struct store *);
static void	 prune_step(struct store *);
static void	 note_max(uint64_t *, int64_t);

/*
 * A libpq connection string, as libpq itself tells them from a database
 * name: a URI, or keyword=value pairs.  A SQLite path with '=' in it must
 * be given with a '/' before the first '=' (./a=b.db).
 */
int
store_is_url(const char *db)
{
	const char *eq;

	if (strncmp(db, "postgresql://", 13) == 0 ||
	    strncmp(db, "postgres://", 11) == 0)
		return 1;
	if ((eq = strchr(db, '=')) == NULL)
		return 0;
	return memchr(db, '/', (size_t)(eq - db)) == NULL;
}

struct store *
store_open(const char *db, int durability, char **cause)
{
	if (store_is_url(db))
		return store_pg_open(db, durability, cause);
	return store_sqlite_open(db, durability, cause);
}

void
store_init(struct store *s, const struct store_backend *be)
{
	s->be = be;
	s->queue_tail = &s->queue;
	s->done_tail = &s->done;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->donecv, NULL);
	shapes_init(&s->shapes);
	s->role = STORE_STANDBY;	/* until the backend has the lock */
}

/*
 * The writer took the database's lock (a new term) or lost it; the loop
 * hears of it through wake, and store_role.
 */
void
store_set_role(struct store *s, int role)
{
	if (role == STORE_ACTIVE)
		__atomic_add_fetch(&s->term, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->role, role, __ATOMIC_SEQ_CST);
	if (s->wake != NULL)
		s->wake(s->wake_arg);
}

int
store_role(struct store *s, uint64_t *term)
{
	int role = __atomic_load_n(&s->role, __ATOMIC_SEQ_CST);

	if (term != NULL)
		*term = __atomic_load_n(&s->term, __ATOMIC_SEQ_CST);
	return role;
}

/* The loop has the state of term loaded (0: none, a standby's). */
void
store_serve(struct store *s, uint64_t term)
{
	s->serving = term;
}

void
store_fini(struct store *s)
{
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->donecv);
	shapes_free(&s->shapes);
	buf_free(&s->line);
	buf_free(&s->last);
	buf_free(&s->tmpl);
	buf_free(&s->vals);
}

/* Start the writer; wake(arg) is called from it after each job. */
void
store_start(struct store *s, void (*wake)(void *), void *arg)
{
	s->wake = wake;
	s->wake_arg = arg;
	if (s->be->start != NULL)
		s->be->start(s);
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0)
		fatalx("cannot start the writer thread");
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
	if (s == NULL)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	if (s->be->stop != NULL)
		s->be->stop(s);
	while (store_done(s, 0) != NULL)
		;	/* owners free their jobs; here none should be left */
	s->be->free(s);
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
	j->term = s->serving;
	j->submitted = store_mono_ns();
	pthread_mutex_lock(&s->mu);
	*s->queue_tail = j;
	s->queue_tail = &j->next;
	s->inflight++;
	__atomic_store_n(&s->busy, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/*
 * The oldest finished job, or NULL; with wait, block until there is one.
 * While the writer waits on the network (a database server to connect
 * to, or to tell whether a commit in doubt committed), wait at most a
 * tenth of a second: the loop goes on answering what needs no commit.
 */
struct wjob *
store_done(struct store *s, int wait)
{
	struct timespec ts;
	struct wjob *j;

	pthread_mutex_lock(&s->mu);
	while (wait && s->done == NULL && s->inflight > 0) {
		if (!__atomic_load_n(&s->stalled, __ATOMIC_RELAXED)) {
			pthread_cond_wait(&s->donecv, &s->mu);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		if ((ts.tv_nsec += 100000000) >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&s->donecv, &s->mu, &ts) ==
		    ETIMEDOUT)
			break;
	}
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

/* Jobs first..end (exclusive) are done; with s->mu held. */
void
store_hand_back(struct store *s, struct wjob *first, struct wjob *end)
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
 * Wait for work, with s->mu held; with a backend's tick, call it about
 * once a second meanwhile (PostgreSQL's: poll for the lock, or check the
 * session that holds it).
 */
static void
writer_wait(struct store *s, struct timespec *next)
{
	struct timespec now;

	if (s->be->tick == NULL) {
		pthread_cond_wait(&s->cv, &s->mu);
		return;
	}
	if (pthread_cond_timedwait(&s->cv, &s->mu, next) != ETIMEDOUT)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec < next->tv_sec || (now.tv_sec == next->tv_sec &&
	    now.tv_nsec < next->tv_nsec))
		return;
	pthread_mutex_unlock(&s->mu);
	s->be->tick(s);
	pthread_mutex_lock(&s->mu);
	clock_gettime(CLOCK_REALTIME, next);
	next->tv_sec++;
}

/* Whether the writer may commit jobs of this term: it holds the lock. */
static int
store_may_commit(struct store *s, uint64_t term)
{
	uint64_t held;

	return store_role(s, &held) == STORE_ACTIVE && term == held;
}

/*
 * The writer: commit the queued jobs of one epoch at once, in order.  The
 * jobs that queued while the writer was busy share a commit; on failure
 * all of them fail, which the engine handles as for one.
 */
static void *
writer_main(void *arg)
{
	struct store *s = arg;
	struct wjob *first, *end, *j;
	struct timespec next;
	uint64_t t0;
	int rc, prune;

	clock_gettime(CLOCK_REALTIME, &next);
	next.tv_sec++;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->queue == NULL && !s->stop && !prune_due(s))
			writer_wait(s, &next);
		if ((first = s->queue) == NULL) {
			prune = !s->stop;
			pthread_mutex_unlock(&s->mu);
			if (!prune)
				break;
			prune_step(s);
			continue;
		}
		/* take every queued job of the first one's epoch and term */
		for (end = first; end != NULL && end->epoch == first->epoch &&
		    end->term == first->term; end = end->next)
			;
		if ((s->queue = end) == NULL)
			s->queue_tail = &s->queue;
		pthread_mutex_unlock(&s->mu);

		t0 = store_mono_ns();
		if (first->epoch <= s->bad_epoch)
			rc = -1;	/* built on a job that failed */
		else if (!store_may_commit(s, first->term)) {
			rc = -1;	/* built on another term's state */
			s->bad_epoch = first->epoch;
		} else if ((rc = s->be->commit(s, first, end)) != 0)
			s->bad_epoch = first->epoch;
		else {
			note_max(&s->commit_max_us, store_elapsed_us(t0));
			__atomic_add_fetch(&s->n_commits, 1, __ATOMIC_RELAXED);
			s->pruned_to = 0;	/* they may hold late events */
		}

		for (j = first; j != end; j = j->next)
			j->rc = rc;
		pthread_mutex_lock(&s->mu);
		if (s->queue == NULL)
			__atomic_store_n(&s->busy, 0, __ATOMIC_RELAXED);
		if (s->be->committed == NULL)
			store_hand_back(s, first, end);
		pthread_mutex_unlock(&s->mu);
		if (s->be->committed != NULL)
			s->be->committed(s, first, end);
		else if (s->wake != NULL)
			s->wake(s->wake_arg);
		/* one batch of deletion between two group commits */
		pthread_mutex_lock(&s->mu);
		prune = !s->stop && prune_due(s) && (s->queue == NULL ||
		    store_elapsed_us(s->prune_last) >= PRUNE_GAP_US);
		pthread_mutex_unlock(&s->mu);
		if (prune)
			prune_step(s);
	}
	return NULL;
}

/*
 * Retention.  The writer deletes the events older than the cutoff that the
 * loop thread hands it, a batch at a time, each batch in a transaction of
 * its own between two group commits (the backend's prune): the writer owns
 * the connection, so the deletion never waits for a lock of its own
 * daemon, and a commit waits for at most one batch, which stops at
 * PRUNE_ROWS events or PRUNE_BUDGET_US of deleting, whichever comes first
 * (a backend that deletes a batch in one statement, which cannot stop in
 * the middle, makes the next one smaller instead).  While jobs are waiting, a batch runs at most every
 * PRUNE_GAP_US, so that deleting a long backlog takes a bounded share of
 * the writer; an idle writer deletes without a pause.  Alerts and history
 * keep their seq.
 */

/* Microseconds since t0, a store_mono_ns() reading. */
int64_t
store_elapsed_us(uint64_t t0)
{
	return (int64_t)(store_mono_ns() - t0) / 1000;
}

/* Keep the longest of the writer's transactions, for stats (atomic). */
static void
note_max(uint64_t *max, int64_t us)
{
	if ((uint64_t)us > __atomic_load_n(max, __ATOMIC_RELAXED))
		__atomic_store_n(max, (uint64_t)us, __ATOMIC_RELAXED);
}

/* Is there deletion to do?  With s->mu held. */
static int
prune_due(struct store *s)
{
	if (s->prune_cutoff <= s->pruned_to || s->be->prune == NULL)
		return 0;
	/* the holder of the database's lock deletes, a standby never */
	if (store_role(s, NULL) != STORE_ACTIVE)
		return 0;
	return store_mono_ns() >= s->prune_retry;
}

/*
 * Delete one batch of old events; done for this cutoff when the backend
 * found no more.  Finding none costs no write, which lets every group
 * commit look for late events (an old ts arriving now) below the same
 * cutoff.
 */
static void
prune_step(struct store *s)
{
	char err[512];
	uint64_t t0 = store_mono_ns();
	int64_t cutoff, n;
	int more = 0;

	pthread_mutex_lock(&s->mu);
	cutoff = s->prune_cutoff;
	pthread_mutex_unlock(&s->mu);

	err[0] = '\0';
	if ((n = s->be->prune(s, cutoff, &more, err, sizeof err)) < 0) {
		log_warnx("database: retention: cannot delete old events: %s; "
		    "trying again in %d s", err, PRUNE_RETRY);
		pthread_mutex_lock(&s->mu);
		s->prune_retry = store_mono_ns() + PRUNE_RETRY * 1000000000ULL;
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (!more)
		s->pruned_to = cutoff;
	/* a look that found nothing counts too: one a gap under load */
	s->prune_last = store_mono_ns();
	if (n == 0)
		return;
	note_max(&s->prune_max_us, store_elapsed_us(t0));
	__atomic_add_fetch(&s->n_pruned, (uint64_t)n, __ATOMIC_RELAXED);
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
 * Events deleted by retention so far, the longest deleting batch and the
 * longest group commit, to compare it with (µs).
 */
void
store_prune_counts(struct store *s, uint64_t *n, uint64_t *max_us,
    uint64_t *commit_max_us)
{
	*n = __atomic_load_n(&s->n_pruned, __ATOMIC_RELAXED);
	*max_us = __atomic_load_n(&s->prune_max_us, __ATOMIC_RELAXED);
	*commit_max_us = __atomic_load_n(&s->commit_max_us, __ATOMIC_RELAXED);
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

/*
 * A write through one of the statements of store.h: fmt has one letter per
 * parameter, 's' a string (NULL binds NULL) and 'i' an int64_t.
 */
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

/* Decoding, on the writer thread. */
void
store_cursor_init(struct store_cursor *c, struct store *s,
    const struct buf *ops)
{
	c->s = s;
	c->p = BUF_DATA(ops);
	c->end = BUF_DATA(ops) + BUF_LEN(ops);
}

static int64_t
get_i64(struct store_cursor *c)
{
	int64_t v;

	memcpy(&v, c->p, sizeof v);
	c->p += sizeof v;
	return v;
}

/* The next field, an integer, as parameter i (1-based). */
static void
take_int(struct store_cursor *c, struct store_wop *w, int i)
{
	w->p[i - 1].is_int = 1;
	w->p[i - 1].i = get_i64(c);
	w->p[i - 1].s = NULL;
}

/* The next field, a string or NULL, as parameter i. */
static void
take_str(struct store_cursor *c, struct store_wop *w, int i)
{
	struct store_param *p = &w->p[i - 1];
	uint32_t len;

	memcpy(&len, c->p, sizeof len);
	c->p += sizeof len;
	p->is_int = 0;
	p->s = NULL;
	if (len == UINT32_MAX)
		return;
	p->s = c->p;
	p->len = len;
	c->p += len + 1;
}

/*
 * The fixed operations: their statement and, for each field in the order
 * store_op_* wrote them, 's' (a string) or 'i' (an integer) and the
 * parameter it binds, 'a' for the first.
 */
static const struct {
	int		 stmt;
	const char	*fields;
} fixed[] = {
	/* the template (g) is no parameter: take_event makes it the shape */
	[OP_EVENT] = { SW_EVENT, "iasbscidsgse" },
	[OP_ENTITY] = { SW_ENTITY, "sasbshscidieifig" },
	[OP_HISTORY] = { SW_HISTORY, "sasbicsdsesfsgih" },
	[OP_ALERT] = { SW_ALERT, "iasbscsdsesfigihsisjskil" },
	[OP_ACK] = { SW_ACK, "iaibic" },
	[OP_ENTITY_MOVED] = { SW_ENTITY_MOVED, "sasbshscidieifig" },
};

static void
take_fixed(struct store_cursor *c, struct store_wop *w, int op)
{
	const char *f;
	int i;

	w->stmt = fixed[op].stmt;
	w->n = 0;
	for (f = fixed[op].fields; *f != '\0'; f += 2) {
		i = f[1] - 'a' + 1;
		if (f[0] == 's')
			take_str(c, w, i);
		else
			take_int(c, w, i);
		w->n = i > w->n ? i : w->n;
	}
	/* an entity's removal ts is NULL while it is live (removed 0) */
	if ((op == OP_ENTITY || op == OP_ENTITY_MOVED) && w->p[3].i == 0)
		w->p[6].s = NULL, w->p[6].is_int = 0;
	/* a timer's alert has no event seq; an alert no silence matched */
	if (op == OP_ALERT && w->p[7].i <= 0)
		w->p[7].s = NULL, w->p[7].is_int = 0;
	if (op == OP_ALERT && w->p[11].i <= 0)
		w->p[11].s = NULL, w->p[11].is_int = 0;
}

/* A template as an operation of its own: SW_SHAPE (id, template). */
static void
take_shape(struct store_wop *w, int64_t id, const struct store_param *tmpl)
{
	w->stmt = SW_SHAPE;
	w->n = 2;
	w->p[0].is_int = 1;
	w->p[0].i = id;
	w->p[0].s = NULL;
	w->p[1] = *tmpl;
}

/*
 * An event's body (5) and shape (6): its values and its template's id, or
 * (no template, or no room in memory for one) the line whole and NULL.  A
 * template new to the log comes first as an operation of its own, and the
 * event (at op in the buffer) is taken again after it, in the same
 * transaction.  The writer's shapes are rolled back with it (backends).
 */
static void
take_event(struct store_cursor *c, struct store_wop *w, const char *op)
{
	struct store_param *tmpl = &w->p[6], *body = &w->p[4];
	struct shapes *sh = &c->s->shapes;
	struct buf *line = &c->s->line;
	int64_t id;

	w->n = 6;
	w->p[5].is_int = 0;
	w->p[5].s = NULL;
	if (tmpl->s == NULL)
		return;
	if ((id = shapes_find(sh, tmpl->s, tmpl->len)) > 0) {
		w->p[5].is_int = 1;
		w->p[5].i = id;
		return;
	}
	id = sh->next;
	if (shapes_add(sh, id, tmpl->s, tmpl->len) == 0) {
		take_shape(w, id, tmpl);
		c->p = op;
		return;
	}
	buf_reset(line);
	evlog_decode(line, tmpl->s, body->s, body->len, w->p[1].s, w->p[3].i,
	    0);
	body->len = (uint32_t)BUF_LEN(line);
	buf_addc(line, '\0');		/* PostgreSQL's text parameters */
	body->s = BUF_DATA(line);
}

/*
 * The next operation of a job, its parameters in the order of its
 * statement's SQL: 1, 0 at the end, -1 if the buffer is corrupt.
 */
int
store_wop_next(struct store_cursor *c, struct store_wop *w)
{
	const char *start = c->p;
	int i, op;

	if (c->p >= c->end)
		return 0;
	op = (unsigned char)*c->p++;
	if ((op >= OP_EVENT && op <= OP_ACK) || op == OP_ENTITY_MOVED) {
		take_fixed(c, w, op);
		if (op == OP_EVENT)
			take_event(c, w, start);
		return 1;
	}
	if (op != OP_STMT) {
		log_warnx("database: corrupt job");
		return -1;
	}
	w->stmt = (unsigned char)*c->p++;
	w->n = (unsigned char)*c->p++;
	if (w->stmt >= SW_EVENT || w->n > STORE_PARAMS_MAX) {
		log_warnx("database: corrupt job");
		return -1;
	}
	for (i = 1; i <= w->n; i++)
		if (*c->p++ == 's')
			take_str(c, w, i);
		else
			take_int(c, w, i);
	return 1;
}

/* Reads, on the loop thread: the backend's. */
int64_t
store_max_seq(struct store *s)
{
	return s->be->max_seq(s);
}

int64_t
store_max_alert(struct store *s)
{
	return s->be->max_alert(s);
}

int64_t
store_max_silence(struct store *s)
{
	return s->be->max_silence(s);
}

int
store_event_find(struct store *s, const char *eid, int64_t *seq)
{
	return s->be->event_find(s, eid, seq);
}

int
store_entity_count(struct store *s, int64_t *n)
{
	return s->be->entity_count(s, n);
}

int
store_event_id_count(struct store *s, int64_t *n)
{
	return s->be->event_id_count(s, n);
}

int
store_event_ids(struct store *s, void (*fn)(void *, const char *), void *arg)
{
	return s->be->event_ids(s, fn, arg);
}

int
store_entity_keys(struct store *s, void (*fn)(void *, const char *,
    const char *), void *arg)
{
	return s->be->entity_keys(s, fn, arg);
}

int
store_group_rows(struct store *s, const char *kind, const char *grp,
    const char *after, int64_t limit, int (*fn)(void *, const char *,
    const char *), void *arg)
{
	return s->be->group_rows(s, kind, grp, after, limit, fn, arg);
}

int
store_entity_rows(struct store *s, const char *kind, void (*fn)(void *,
    const char *, const char *, int), void *arg)
{
	return s->be->entity_rows(s, kind, fn, arg);
}

int
store_entity_load(struct store *s, const char *kind, const char *id,
    char **state, int *removed, int64_t *removed_ts, int64_t *created)
{
	return s->be->entity_load(s, kind, id, state, removed, removed_ts,
	    created);
}

int
store_history_json(struct store *s, const char *kind, const char *entity,
    int limit, struct buf *out)
{
	return s->be->history_json(s, kind, entity, limit, out);
}

int
store_select(struct store *s, enum store_table t,
    void (*fn)(void *, const struct store_row *), void *arg)
{
	return s->be->select(s, t, fn, arg);
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
	return s->be->alerts_json(s, after, limit, rule, acked, silenced, out,
	    last);
}

/*
 * Append the silences as a JSON array: with all, every one ever made,
 * else those not ended whose until is not before now.
 */
int
store_silences_json(struct store *s, int all, int64_t now, struct buf *out)
{
	return s->be->silences_json(s, all, now, out);
}

/* The unsilenced alerts with after < id <= upto, or -1 on error. */
int64_t
store_unsilenced_count(struct store *s, int64_t after, int64_t upto)
{
	return s->be->unsilenced_count(s, after, upto);
}

struct store_reader *
store_reader_open(struct store *s, char **cause)
{
	return s->be->reader_open(s, cause);
}

/*
 * Call fn(arg, alert) for the unsilenced alerts with after < id <= upto,
 * in id order, at most limit of them; 0, or -1 (store_reader_error).
 */
int
store_reader_alerts(struct store_reader *r, int64_t after, int64_t upto,
    int limit, void (*fn)(void *, const struct store_alert *), void *arg)
{
	return r->be->reader_alerts(r, after, upto, limit, fn, arg);
}

const char *
store_reader_error(struct store_reader *r)
{
	return r->be->reader_error(r);
}

void
store_reader_close(struct store_reader *r)
{
	if (r != NULL)
		r->be->reader_close(r);
}

/* "by" and "ts" of a record: a uid and a moment. */
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
 * One silence row as JSON, for the backends: match is stored as the JSON
 * object it was given as; ended is -1 while it has not ended.
 */
void
store_silence_json(struct buf *out, const struct store_silence *r,
    int64_t now)
{
	char t[40];

	buf_adds(out, "{\"id\":");
	buf_add_int(out, r->id);
	buf_adds(out, ",\"match\":");
	buf_adds(out, r->match);
	clock_format(r->until, t, sizeof t);
	buf_adds(out, ",\"until\":");
	buf_add_json_cstr(out, t);
	buf_adds(out, ",\"comment\":");
	buf_add_json_cstr(out, r->comment);
	buf_adds(out, ",\"created\":");
	by_ts_json(out, r->uid, r->created);
	buf_adds(out, ",\"ended\":");
	if (r->ended >= 0)
		by_ts_json(out, r->ended_by, r->ended);
	else
		buf_adds(out, "null");
	buf_adds(out, ",\"active\":");
	buf_adds(out, r->ended < 0 && r->until >= now ? "true" : "false");
	buf_addc(out, '}');
}
