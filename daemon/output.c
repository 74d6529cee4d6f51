/*
 * Alert outputs (zhilid.conf outputs:).  Each output has a thread of its
 * own and a connection of its own to the store, and reads the committed,
 * unsilenced alerts from the alerts table by id, a chunk at a time, as
 * its sink takes them.  Nothing is queued in memory for an output: the
 * table is the queue, so a slow or stuck output falls behind (its lag
 * grows) without slowing the loop or growing the daemon, and catches up
 * from the table when it can.  A thread rather than watchers on the loop,
 * because a file on a slow disk and journald block in write(2) and
 * sendmsg(2); a thread per output, so that a stuck one holds up no other.
 *
 * The loop tells the threads how far the alerts are committed (after the
 * WAL sync with durability full, so that no output sees an alert that a
 * power cut could still take back) and the threads tell the loop how far
 * they have delivered; the loop writes that position to the store with
 * the next batch, through the writer like everything else.  A position
 * moves only after the sink has taken the alerts (written to the file,
 * read by the program from its pipe, sent to journald), so after a kill
 * -9 an output repeats at most the alerts after its stored position.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "server.h"
#include "output.h"
#include "store.h"

#define CHUNK		256	/* alerts read at once */
#define PUBLISH_EVERY	0.2	/* seconds between positions, at most */
#define LAG_LOG_EVERY	60.0	/* seconds between lag lines */
#define ERR_LOG_EVERY	60.0	/* ... and between repeats of an error */

double
output_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Why the sink failed; logged by the thread, at most once a minute. */
void
output_error(struct output *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->err, sizeof o->err, fmt, ap);
	va_end(ap);
}

/* The ALERT of the socket, as raised (acked null), and a newline. */
void
output_format_json(struct buf *b, const struct store_alert *a)
{
	alert_json(b, a->id, a->rule, a->severity, a->kind, a->entity,
	    a->period, a->ts, a->message, a->msglen, a->data, a->event, NULL,
	    0);
	buf_addc(b, '\n');
}

/*
 * Write o->out from o->sent to o->fd: 0 when all is written, 1 if the fd
 * would block, -1 on an error (errno says which).
 */
int
output_write_fd(struct output *o)
{
	size_t left = o->base + o->out.len - o->sent;
	ssize_t n;

	while (left > 0) {
		n = write(o->fd, o->out.p + (o->sent - o->base), left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EAGAIN ? 1 : -1;
		o->sent += (size_t)n;
		left -= (size_t)n;
	}
	return 0;
}

int64_t
output_lag(const struct output *o)
{
	return __atomic_load_n(&o->backlog, __ATOMIC_RELAXED);
}

static void
log_error(struct output *o, double now)
{
	if (strcmp(o->err, o->last_err) == 0 &&
	    now - o->last_err_log < ERR_LOG_EVERY)
		return;
	log_warnx("output %s: %s", o->name, o->err);
	snprintf(o->last_err, sizeof o->last_err, "%s", o->err);
	o->last_err_log = now;
}

static void
push_line(struct output *o, int64_t id, uint64_t end)
{
	if (o->head + o->nlines == o->cap) {
		if (o->head > 0) {
			memmove(o->lines, o->lines + o->head, o->nlines *
			    sizeof *o->lines);
			o->head = 0;
		} else {
			o->cap = o->cap ? o->cap * 2 : CHUNK * 2;
			o->lines = xreallocarray(o->lines, o->cap,
			    sizeof *o->lines);
		}
	}
	o->lines[o->head + o->nlines].id = id;
	o->lines[o->head + o->nlines].end = end;
	o->nlines++;
}

static void
add_record(void *arg, const struct store_alert *a)
{
	struct output *o = arg;

	o->sink->format(&o->out, a);
	push_line(o, a->id, o->base + o->out.len);
	o->cursor = a->id;
	o->fetched++;
}

/*
 * Read the next chunk of committed, unsilenced alerts into o->out (which
 * is all written): 1 if some, 0 if none is left, -1 on error.
 */
static int
fetch(struct output *o)
{
	int64_t upto = __atomic_load_n(&o->outs->committed, __ATOMIC_ACQUIRE);

	if (upto <= o->cursor)
		return 0;
	o->base += o->out.len;
	buf_reset(&o->out);
	o->fetched = 0;
	if (store_reader_alerts(o->reader, o->cursor, upto, CHUNK, add_record,
	    o) != 0) {
		output_error(o, "reading the alerts: %s",
		    store_reader_error(o->reader));
		return -1;
	}
	if (o->fetched < CHUNK)
		o->cursor = upto;	/* the rest up to it was silenced */
	return o->fetched > 0;
}

/*
 * Take the delivered records off the front, and hand the position to the
 * loop: at once when nothing is left, else at most every PUBLISH_EVERY,
 * after the sink made the records durable.
 */
static void
settle(struct output *o, int force)
{
	uint64_t done = o->sent;
	int64_t n = 0;
	double now = output_now();

	if (o->ready && o->sink->unread != NULL)
		done -= o->sink->unread(o);
	while (o->nlines > 0 && o->lines[o->head].end <= done) {
		o->pos = o->lines[o->head].id;
		o->head++;
		o->nlines--;
		n++;
	}
	if (o->nlines == 0) {
		o->head = 0;
		o->pos = o->cursor;
		if (o->cursor >= __atomic_load_n(&o->outs->committed,
		    __ATOMIC_ACQUIRE))
			o->caught_up = now;
	}
	if (n > 0)
		__atomic_sub_fetch(&o->backlog, n, __ATOMIC_RELAXED);
	if (o->pos == __atomic_load_n(&o->published, __ATOMIC_RELAXED) ||
	    (!force && o->nlines > 0 && now - o->last_publish < PUBLISH_EVERY))
		return;
	if (o->ready && o->sink->sync != NULL && o->sink->sync(o) != 0) {
		log_error(o, now);
		return;
	}
	__atomic_store_n(&o->published, o->pos, __ATOMIC_RELEASE);
	o->last_publish = now;
	ev_async_send(o->outs->loop, &o->outs->async);
}

/*
 * The sink failed (o->err says why): keep what it took, close it, and
 * read again from there when it is tried again, after a backoff.
 */
static void
fail(struct output *o)
{
	double now = output_now();

	settle(o, 1);
	log_error(o, now);
	o->sink->close(o, 0);
	o->ready = 0;
	o->head = o->nlines = 0;
	buf_reset(&o->out);
	o->base = o->sent = 0;
	o->cursor = o->pos;
	o->retry_at = now + o->backoff;
	o->backoff *= 2;
	if (o->backoff > o->sink->backoff_max)
		o->backoff = o->sink->backoff_max;
}

/* Write chunks until the sink would block or nothing is left. */
static void
step(struct output *o)
{
	int rc;

	while (!__atomic_load_n(&o->stop, __ATOMIC_RELAXED)) {
		if (o->sent == o->base + o->out.len) {
			if (__atomic_exchange_n(&o->reopen, 0,
			    __ATOMIC_ACQ_REL)) {
				settle(o, 1);
				o->sink->close(o, 0);
				o->ready = 0;
				o->retry_at = 0;
				return;
			}
			if (output_now() < o->fetch_at)
				return;
			if ((rc = fetch(o)) < 0) {
				/* the sink is fine: keep it, read again later */
				log_error(o, output_now());
				o->fetch_at = output_now() + 1;
				return;
			}
			if (rc == 0)
				return;
		}
		if ((rc = o->sink->write(o)) < 0) {
			fail(o);
			return;
		}
		settle(o, 0);
		if (rc > 0)
			return;
	}
}

/* Every minute that an output has not caught up, a line says so. */
static void
lag_log(struct output *o, double now)
{
	int64_t lag = output_lag(o);

	if (lag <= 0 || now - o->caught_up < LAG_LOG_EVERY ||
	    now - o->last_lag_log < LAG_LOG_EVERY)
		return;
	o->last_lag_log = now;
	log_warnx("output %s: %lld alerts behind, not caught up for %.0f s%s%s",
	    o->name, (long long)lag, now - o->caught_up,
	    o->err[0] != '\0' ? "; last error: " : "", o->err);
}

static int
poll_timeout(struct output *o, double now)
{
	double t = 1.0;

	if (!o->ready && o->retry_at - now < t)
		t = o->retry_at - now;
	if (o->nlines > 0 && t > PUBLISH_EVERY / 2)
		t = PUBLISH_EVERY / 2;	/* the far side may take them */
	return t <= 0 ? 0 : (int)(t * 1000) + 1;
}

static void *
output_main(void *arg)
{
	struct output *o = arg;
	struct pollfd pfd[1 + SINK_FDS];
	uint64_t v;
	double now;
	int n, busy;

	o->caught_up = o->last_publish = output_now();
	while (!__atomic_load_n(&o->stop, __ATOMIC_ACQUIRE)) {
		now = output_now();
		if (!o->ready && now >= o->retry_at) {
			if (o->sink->open(o) == 0) {
				o->ready = 1;
				o->err[0] = '\0';
			} else
				fail(o);
		}
		if (o->ready)
			step(o);
		settle(o, 0);
		lag_log(o, now);
		memset(pfd, 0, sizeof pfd);
		pfd[0].fd = o->wakefd;
		pfd[0].events = POLLIN;
		n = 1;
		if (o->ready && o->sink->fds != NULL)
			n += o->sink->fds(o, pfd + 1);
		/* sleeping first: a commit after this check wakes the poll */
		__atomic_store_n(&o->sleeping, 1, __ATOMIC_SEQ_CST);
		busy = (o->ready && o->sent == o->base + o->out.len &&
		    now >= o->fetch_at && __atomic_load_n(&o->outs->committed,
		    __ATOMIC_SEQ_CST) > o->cursor) ||
		    __atomic_load_n(&o->stop, __ATOMIC_SEQ_CST);
		if (!busy && poll(pfd, (nfds_t)n, poll_timeout(o, now)) == -1 &&
		    errno != EINTR)
			fatal("output %s: poll", o->name);
		__atomic_store_n(&o->sleeping, 0, __ATOMIC_SEQ_CST);
		if (read(o->wakefd, &v, sizeof v) == -1 && errno != EAGAIN)
			log_warn("output %s: eventfd", o->name);
		if (o->ready && n > 1 && o->sink->events(o, pfd + 1,
		    n - 1) != 0)
			fail(o);
	}
	settle(o, 1);
	if (o->ready)
		o->sink->close(o, 1);
	return NULL;
}

static void
wake(struct output *o)
{
	uint64_t one = 1;

	if (__atomic_exchange_n(&o->sleeping, 0, __ATOMIC_SEQ_CST) &&
	    write(o->wakefd, &one, sizeof one) == -1 && errno != EAGAIN)
		log_warn("output %s: eventfd", o->name);
}

/*
 * A batch committed (and synced): its unsilenced alerts are each
 * output's to deliver.
 */
void
outputs_committed(struct outputs *outs, const struct batch *b)
{
	size_t i;
	int64_t n = 0;

	if (outs->n == 0 || b->last_alert == 0)
		return;
	for (i = 0; i < b->nalerts; i++)
		n += b->alerts[i].silenced == 0;
	for (i = 0; i < outs->n; i++)
		__atomic_add_fetch(&outs->v[i].backlog, n, __ATOMIC_RELAXED);
	__atomic_store_n(&outs->committed, b->last_alert, __ATOMIC_SEQ_CST);
	if (n > 0)
		for (i = 0; i < outs->n; i++)
			wake(&outs->v[i]);
}

/* SIGHUP: files are opened again (logrotate renamed them). */
void
outputs_reopen(struct outputs *outs)
{
	size_t i;

	for (i = 0; i < outs->n; i++) {
		if (outs->v[i].conf->type != OUTPUT_FILE)
			continue;
		__atomic_store_n(&outs->v[i].reopen, 1, __ATOMIC_RELEASE);
		wake(&outs->v[i]);
	}
}

/* Write the positions that moved into the open batch. */
static void
store_positions(struct server *srv)
{
	struct outputs *outs = &srv->outputs;
	struct output *o;
	int64_t pos;
	size_t i;

	for (i = 0; i < outs->n; i++) {
		o = &outs->v[i];
		pos = __atomic_load_n(&o->published, __ATOMIC_ACQUIRE);
		if (pos == o->stored)
			continue;
		store_op(engine_ops(srv->eng), ST_OUTPUT_POS, "si", o->name,
		    pos);
		o->stored = pos;
	}
}

/* An output moved: its position goes with the batch the loop submits. */
static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct server *srv = w->data;

	if (!srv->stopping)
		store_positions(srv);
}

struct stored {
	struct outputs	*outs;
	int64_t		*pos;
};

static void
load_position(void *arg, const struct store_row *row)
{
	struct stored *s = arg;
	size_t i;

	for (i = 0; i < s->outs->n; i++)
		if (row->s[0] != NULL && strcmp(row->s[0],
		    s->outs->v[i].name) == 0)
			s->pos[i] = row->i[1];
}

/*
 * Set an output up at its stored position (a new one at the last alert:
 * it gets the alerts raised from now on) and start its thread, whose
 * signals are blocked: the loop takes them.
 */
static int
output_start(struct server *srv, struct output *o, int64_t pos)
{
	struct outputs *outs = &srv->outputs;
	sigset_t all, old;
	char *cause = NULL;

	o->outs = outs;
	o->fd = o->errfd = o->pidfd = -1;
	o->pid = -1;
	o->backoff = 1;
	if (pos > outs->committed)
		pos = outs->committed;	/* the alerts after it are gone */
	o->cursor = o->pos = o->published = o->stored = pos;
	o->backlog = store_unsilenced_count(srv->store, pos,
	    outs->committed);
	if (o->backlog < 0 ||
	    (o->reader = store_reader_open(srv->store, &cause)) == NULL) {
		log_warnx("output %s: %s", o->name, cause != NULL ? cause :
		    "cannot count its alerts");
		free(cause);
		return -1;
	}
	if ((o->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("output %s: eventfd", o->name);
		return -1;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&o->thread, NULL, output_main, o) != 0)
		fatalx("output %s: cannot start its thread", o->name);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	o->started = 1;
	log_info("output %s: from alert %lld, %lld alerts to deliver", o->name,
	    (long long)pos, (long long)o->backlog);
	return 0;
}

/*
 * Start the outputs of the config, after the store's writer: their
 * stored positions are read, those of outputs no longer configured
 * dropped, the others written again, and the threads started.
 */
int
outputs_start(struct server *srv)
{
	static const struct sink *const sinks[] = {
		[OUTPUT_FILE] = &sink_file,
		[OUTPUT_EXEC] = &sink_exec,
		[OUTPUT_JOURNAL] = &sink_journal,
	};
	struct outputs *outs = &srv->outputs;
	struct conf *conf = srv->conf;
	struct stored s;
	struct buf *ops;
	size_t i;

	outs->loop = srv->loop;
	outs->sync = conf->durability == DURABILITY_FULL;
	ev_async_init(&outs->async, async_cb);
	outs->async.data = srv;
	ev_async_start(srv->loop, &outs->async);
	if (conf->noutputs == 0 || srv->store == NULL)
		return 0;
	outs->v = xcalloc(conf->noutputs, sizeof *outs->v);
	outs->n = conf->noutputs;
	s.outs = outs;
	s.pos = xcalloc(outs->n, sizeof *s.pos);
	outs->committed = store_max_alert(srv->store);
	for (i = 0; i < outs->n; i++) {
		outs->v[i].conf = &conf->outputs[i];
		outs->v[i].name = conf->outputs[i].name;
		outs->v[i].sink = sinks[conf->outputs[i].type];
		s.pos[i] = outs->committed;
	}
	if (outs->committed < 0 ||
	    store_select(srv->store, TB_OUTPUTS, load_position, &s) != 0) {
		log_warnx("outputs: cannot read their positions from %s",
		    conf->database);
		free(s.pos);
		return -1;
	}
	ops = engine_ops(srv->eng);
	store_op(ops, ST_OUTPUT_CLEAR, "");
	for (i = 0; i < outs->n; i++)
		store_op(ops, ST_OUTPUT_POS, "si", outs->v[i].name, s.pos[i]);
	engine_sync(srv->eng);
	for (i = 0; i < outs->n; i++)
		if (output_start(srv, &outs->v[i], s.pos[i]) != 0) {
			free(s.pos);
			return -1;
		}
	free(s.pos);
	return 0;
}

/*
 * Stop the threads (each gives its last position, an exec output's
 * program gets end of file on its stdin) and store where they are.
 */
void
outputs_stop(struct server *srv)
{
	struct outputs *outs = &srv->outputs;
	struct output *o;
	size_t i;

	if (outs->loop == NULL)
		return;
	for (i = 0; i < outs->n; i++) {
		o = &outs->v[i];
		__atomic_store_n(&o->stop, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&o->sleeping, 1, __ATOMIC_SEQ_CST);
		if (o->started)
			wake(o);
	}
	for (i = 0; i < outs->n; i++) {
		o = &outs->v[i];
		if (o->started)
			pthread_join(o->thread, NULL);
	}
	if (outs->n > 0 && srv->store != NULL) {
		store_positions(srv);
		engine_sync(srv->eng);
	}
	for (i = 0; i < outs->n; i++) {
		o = &outs->v[i];
		store_reader_close(o->reader);
		if (o->wakefd != -1 && o->started)
			close(o->wakefd);
		buf_free(&o->out);
		buf_free(&o->errline);
		free(o->lines);
	}
	ev_async_stop(outs->loop, &outs->async);
	free(outs->v);
	memset(outs, 0, sizeof *outs);
}
