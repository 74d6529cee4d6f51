/*
 * The listener and the batch.  Lines read in one loop iteration are
 * applied as they arrive; just before the loop sleeps again (an ev_prepare
 * watcher) the batch goes to the store's writer thread, which commits it
 * in one transaction; when it is back (an ev_async watcher) its
 * acknowledgements are queued: group commit, with the next batch built
 * while the last one commits.  The listener is defensive in the
 * manner of OpenSMTPD control.c: it refuses to start over a live socket,
 * removes a stale one, binds under a narrow umask, keeps a spare fd for
 * EMFILE, and caps clients.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "store.h"

#define BATCH_MAX	8192	/* events per transaction at most */
#define FIRE_MAX	4096	/* rule timers fired per loop iteration */
#define BATCH_EARLY	1024	/* ... and at least, to start an idle writer */
#define DRAIN_SECONDS	5.0	/* time to write answers when stopping */

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int
listen_unix(const char *path)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		log_warnx("socket %s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	/* another daemon answering here wins; a dead one's file goes */
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
		log_warnx("socket %s: another zhilid is listening there", path);
		close(fd);
		return -1;
	}
	if (errno == ECONNREFUSED || errno == ENOTSOCK) {
		struct stat st;

		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			log_info("socket %s: removing stale socket", path);
			unlink(path);
		}
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		log_warn("socket %s: bind", path);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0660) == -1)
		log_warn("socket %s: chmod", path);
	if (listen(fd, 128) == -1) {
		log_warn("socket %s: listen", path);
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static void
refuse(struct server *srv, int fd, const char *why)
{
	char line[256];
	ssize_t n;

	srv->metrics.errors[E_UNAVAILABLE]++;
	snprintf(line, sizeof line, "{\"ok\":false,\"error\":{\"code\":"
	    "\"unavailable\",\"message\":\"%s\"}}\n", why);
	n = write(fd, line, strlen(line));
	(void)n;
	close(fd);
}

static unsigned
clients_of(struct server *srv, uid_t uid)
{
	struct client *c;
	unsigned n = 0;

	for (c = srv->clients.next; c != &srv->clients; c = c->next)
		if (c->uid == uid)
			n++;
	return n;
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = container_of(w, struct server, lw);
	struct ucred cred;
	socklen_t len = sizeof cred;
	int fd;

	fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			/* free the spare fd to take the client and refuse it */
			close(srv->reserve_fd);
			if ((fd = accept(srv->lfd, NULL, NULL)) != -1)
				refuse(srv, fd, "out of file descriptors");
			srv->reserve_fd = open("/dev/null", O_RDONLY |
			    O_CLOEXEC);
			log_warnx("accept: out of file descriptors");
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(fd);
		return;
	}
	if (srv->nclients >= (unsigned)srv->conf->max_clients) {
		log_notice("refusing a client: limits.max_clients (%lld) "
		    "reached", srv->conf->max_clients);
		refuse(srv, fd, "too many clients (limits.max_clients)");
		return;
	}
	if (clients_of(srv, cred.uid) >=
	    (unsigned)srv->conf->max_clients_per_uid) {
		log_notice("refusing a client of uid %u: "
		    "limits.max_clients_per_uid (%lld) reached",
		    (unsigned)cred.uid, srv->conf->max_clients_per_uid);
		refuse(srv, fd, "too many clients of this uid "
		    "(limits.max_clients_per_uid)");
		return;
	}
	client_new(srv, fd, cred.uid, cred.gid);
	srv->metrics.accepted++;
}

void
server_pend(struct server *srv, struct client *c, const struct ev_result *res,
    int ack)
{
	size_t n;

	engine_pend(srv->eng, c, res, ack);
	c->npending++;
	/*
	 * Group commit without waiting: an idle writer gets the batch as
	 * soon as it is worth a transaction, so that committing overlaps
	 * reading the rest; a busy writer lets the batch grow.
	 */
	n = srv->eng->cur->npend;
	if (n % BATCH_EARLY == 0)
		engine_reap(srv->eng, 0);	/* answer what is done, now */
	if (n >= BATCH_MAX || (n % BATCH_EARLY == 0 &&
	    engine_writer_idle(srv->eng)))
		engine_submit(srv->eng);
}

static void
publish(struct server *srv, const struct batch *b)
{
	struct client *c;
	size_t i;

	if (b->nalerts == 0)
		return;
	for (c = srv->clients.next; c != &srv->clients; c = c->next) {
		if (!c->subscriber || c->doomed)
			continue;
		for (i = 0; i < b->nalerts; i++) {
			if (b->alerts[i].silenced)	/* kept, not sent */
				continue;
			buf_adds(&c->out, "{\"alert\":");
			buf_add(&c->out, b->balerts.p + b->alerts[i].off,
			    b->alerts[i].len);
			buf_adds(&c->out, "}\n");
		}
		client_kick(c);
	}
}

/*
 * Whether a batch committed is unknown: its clients get no answer and are
 * disconnected, as at a stop, so that they resend (ids make that safe);
 * any answer would be a guess.
 */
static void
batch_doubt(struct batch *b)
{
	struct client *c;
	size_t i;

	for (i = 0; i < b->npend; i++) {
		if ((c = b->pend[i].c) == NULL)
			continue;
		c->npending--;
		if (c->doomed)
			continue;
		log_warnx("client fd %d (uid %u): whether its events were "
		    "committed is unknown; disconnected without an answer",
		    c->fd, (unsigned)c->uid);
		c->doomed = 1;
		ev_io_stop(c->srv->loop, &c->r);
		ev_io_stop(c->srv->loop, &c->w);
	}
}

/*
 * A batch came back from the writer: queue its answers, the
 * acknowledgements if it committed, `unavailable` for every event if not;
 * then its alerts to the subscribers.
 */
static void
batch_done(void *arg, struct batch *b, int ok)
{
	struct server *srv = arg;
	struct buf *o;
	size_t i;

	if (ok < 0) {
		batch_doubt(b);
		return;
	}
	if (ok)
		metrics_batch(&srv->metrics, b);
	for (i = 0; i < b->npend; i++) {
		struct pending *p = &b->pend[i];

		if (p->c == NULL)
			continue;
		p->c->npending--;
		if (!ok) {
			client_error(p->c, E_UNAVAILABLE, "storage cannot "
			    "commit; nothing of this line was applied, resend it");
			continue;
		}
		o = &p->c->out;
		if (p->ack == PEND_ACK) {
			buf_adds(o, "{\"ok\":true}\n");
			continue;
		}
		if (p->ack == PEND_SILENCE) {
			buf_adds(o, "{\"ok\":true,\"silence\":");
			buf_add_int(o, p->res.seq);
			buf_adds(o, "}\n");
			continue;
		}
		buf_adds(o, "{\"ok\":true,\"seq\":");
		buf_add_int(o, p->res.seq);
		buf_addc(o, ',');
		if (p->res.duplicate)
			buf_adds(o, "\"duplicate\":true,");
		buf_adds(o, "\"alerts\":[");
		engine_alerts_json(b, &p->res, o);
		buf_adds(o, "]}\n");
	}
	if (ok) {
		publish(srv, b);
		outputs_committed(&srv->outputs, b);
	}
	for (i = 0; i < b->npend; i++)
		if (b->pend[i].c != NULL)
			client_kick(b->pend[i].c);
}

/* Wait until every event read so far is committed and answered. */
void
server_sync(struct server *srv)
{
	engine_sync(srv->eng);
}

/* The writer thread finished a job: wake the loop (any thread may). */
static void
writer_wake(void *arg)
{
	struct server *srv = arg;

	ev_async_send(srv->loop, &srv->async);
}

static void	role_check(struct server *);

static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct server *srv = container_of(w, struct server, async);

	engine_reap(srv->eng, 0);
	role_check(srv);
	server_sweep(srv);
}

/* Free the clients doomed while their own callbacks were running. */
void
server_sweep(struct server *srv)
{
	struct client *c, *next;

	for (c = srv->clients.next; c != &srv->clients; c = next) {
		next = c->next;
		if (c->doomed)
			client_free(c);
	}
}

/* Wakes the loop when a rule timer comes due; the work is in commit_cb. */
static void
due_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/*
 * With the wall clock, fire the rule timers that came due, a bounded
 * number per loop iteration so that a million deadlines at once make many
 * batches rather than one huge one, and set the wakeup for the next.
 */
static void
fire_due(struct server *srv)
{
	int64_t now = clock_wall(), due;

	if (srv->conf->clock != CLOCK_WALL || srv->stopping || srv->term == 0)
		return;
	if (engine_fire(srv->eng, now, FIRE_MAX) == FIRE_MAX) {
		ev_timer_stop(srv->loop, &srv->due);
		ev_timer_set(&srv->due, 0., 0.);
		ev_timer_start(srv->loop, &srv->due);
		return;
	}
	if ((due = engine_next_due(srv->eng)) < 0)
		return;
	/* a timer fires once the clock is strictly past its second */
	ev_timer_stop(srv->loop, &srv->due);
	ev_timer_set(&srv->due, (double)(due + 1 - now) -
	    (ev_now(srv->loop) - (double)now) + 0.001, 0.);
	ev_timer_start(srv->loop, &srv->due);
}

/*
 * Retention: hand the writer the cutoff, DAYS before the daemon's clock
 * (the wall clock, or the event clock as of the last commit), so that the
 * event clock deletes the same events on every run.  The writer does the
 * deleting, between commits; here it is only a comparison.
 */
static void
retain(struct server *srv)
{
	int64_t now;

	if (srv->conf->retention_events == 0 || srv->store == NULL ||
	    srv->term == 0)
		return;		/* a standby deletes nothing */
	now = srv->conf->clock == CLOCK_WALL ? clock_wall() :
	    srv->eng->committed_clock;
	store_prune(srv->store, now - srv->conf->retention_events * 86400);
}

/* With the wall clock the cutoff moves while no event comes. */
static void
retain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	retain(container_of(w, struct server, retain));
}

static void
commit_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct server *srv = container_of(w, struct server, commit);

	fire_due(srv);
	retain(srv);
	engine_submit(srv->eng);
	engine_reap(srv->eng, 0);
	server_sweep(srv);
}

static void
status(struct server *srv)
{
	notify_send("STATUS=generation %llu, %u clients, %llu events; %s",
	    (unsigned long long)srv->eng->generation, srv->nclients,
	    (unsigned long long)srv->eng->n_events, srv->term != 0 ? "active" :
	    "standby (another zhilid holds the database's lock)");
}

/*
 * Why a request other than ping and stats is refused, or NULL if this
 * daemon serves.
 */
const char *
server_standby(const struct server *srv)
{
	if (srv->term != 0)
		return NULL;
	return "this zhilid is a standby: it does not hold the database's "
	    "lock (another zhilid does, and serves); nothing was applied: "
	    "send it to the active one, or here again once this one is";
}

/*
 * Active/standby (store.h): follow the store's role.  A lost lock drops
 * the state at once; a lock taken (a new term) loads it as at a start,
 * and the daemon serves once that is done: jobs of the new term commit
 * only then.  If the database cannot be read yet, the role timer tries
 * again in a second.
 */
static void
role_check(struct server *srv)
{
	uint64_t term;
	int role;

	if (srv->store == NULL || srv->stopping)
		return;
	role = store_role(srv->store, &term);
	if (role == STORE_ACTIVE && term == srv->term)
		return;
	if (srv->term != 0) {
		log_warnx("standby: this zhilid no longer holds the database's "
		    "lock; its state is dropped, and events are answered "
		    "unavailable");
		srv->term = 0;
		/* the active delivers alerts, from the positions stored */
		outputs_stop(srv);
		store_serve(srv->store, 0);
		engine_standby(srv->eng);
		status(srv);
	}
	if (role != STORE_ACTIVE)
		return;
	if (engine_takeover(srv->eng) != 0) {
		log_warnx("database: cannot read the state to take over; "
		    "trying again in a second");
		return;
	}
	srv->term = term;
	store_serve(srv->store, term);
	engine_sync(srv->eng);	/* what the load queued without an event */
	if (outputs_start(srv) != 0)
		log_warnx("outputs: not started; alerts are delivered from "
		    "their stored positions once this zhilid starts again");
	log_info("active: this zhilid holds the database's lock and serves, "
	    "from seq %lld", (long long)(srv->eng->next_seq - 1));
	status(srv);
}

static void
role_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	role_check(container_of(w, struct server, role));
}

/*
 * Build the rules again beside the running ones and swap between two
 * events; on any problem keep the old rules and put the problems in
 * problems (one per line).  The config file is read again for its rules
 * list; its other keys take effect at the next start.
 */
int
server_reload(struct server *srv, struct buf *problems)
{
	struct errs errs = { 0 };
	struct conf *c;
	struct ruleset *rs = NULL;
	struct timespec now;
	size_t i;
	int passed = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)
	    now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000);
	if ((c = conf_load(srv->conf_path, &errs)) != NULL) {
		rs = ruleset_load(c->rules, c->nrules, &errs);
		/* the rules' own unit tests must pass too */
		if (rs != NULL && ruletest_all(c->tests, c->ntests, &errs,
		    &passed, NULL) != 0) {
			ruleset_free(rs);
			rs = NULL;
		}
		clock_set_zone(srv->conf->timezone);
		conf_free(c);
	}
	if (rs == NULL) {
		for (i = 0; i < errs.n; i++) {
			log_warnx("%s", errs.v[i]);
			buf_adds(problems, errs.v[i]);
			buf_addc(problems, '\n');
		}
		log_warnx("reload failed: %zu problems; the old rules (generation "
		    "%llu) keep running", errs.n,
		    (unsigned long long)srv->eng->generation);
		errs_free(&errs);
		srv->metrics.reloads_failed++;
		notify_send("READY=1");
		status(srv);
		return -1;
	}
	server_sync(srv);	/* no batch spans two generations */
	buf_reset(&srv->diff);
	ruleset_diff(srv->rs, rs, &srv->diff);
	/* before the new rules raise anything: the rebuild may */
	metrics_bind(&srv->metrics, rs);
	srv->metrics.reloads_ok++;
	engine_set_rules(srv->eng, rs);
	ruleset_free(srv->rs);
	srv->rs = rs;
	srv->n_reloads++;
	log_info("rules reloaded: generation %llu, %zu rules from %zu files, "
	    "digest %s; %s", (unsigned long long)srv->eng->generation,
	    rs->nrules, rs->nfiles, rs->digest, BUF_DATA(&srv->diff) + 1);
	notify_send("READY=1");
	status(srv);
	return 0;
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *srv = w->data;
	struct buf b = { 0 };

	if (w->signum == SIGHUP) {
		log_info("SIGHUP: reloading rules");
		outputs_reopen(&srv->outputs);
		server_reload(srv, &b);
		buf_free(&b);
		return;
	}
	log_info("%s: stopping", w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	server_stop(srv);
}

static void
drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = container_of(w, struct server, drain);

	if (srv->nclients > 0 && ev_now(loop) < srv->drain_deadline)
		return;		/* the timer repeats */
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Stop reading, commit and answer the batch in hand, then give clients a
 * few seconds to take their answers before the loop ends.
 */
void
server_stop(struct server *srv)
{
	struct client *c, *next;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	notify_send("STOPPING=1");
	ev_io_stop(srv->loop, &srv->lw);
	server_sync(srv);
	if (srv->own_socket)
		unlink(srv->conf->socket);
	for (c = srv->clients.next; c != &srv->clients; c = next) {
		next = c->next;
		if (c->doomed)
			client_free(c);
		else
			client_shutdown(c);
	}
	srv->drain_deadline = ev_now(srv->loop) + DRAIN_SECONDS;
	ev_timer_init(&srv->drain, drain_cb, 0., 0.05);
	ev_timer_again(srv->loop, &srv->drain);
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	notify_send("WATCHDOG=1");
}

int
server_init(struct server *srv, struct ev_loop *loop, struct conf *conf,
    const char *conf_path, struct ruleset *rs, struct engine *eng,
    struct store *store)
{
	uint64_t wd;

	memset(srv, 0, sizeof *srv);
	srv->lfd = srv->reserve_fd = -1;
	srv->loop = loop;
	srv->conf = conf;
	srv->conf_path = xstrdup(conf_path);
	srv->rs = rs;
	srv->eng = eng;
	srv->store = store;
	srv->started = clock_wall();
	srv->clients.next = srv->clients.prev = &srv->clients;
	metrics_init(&srv->metrics);
	metrics_bind(&srv->metrics, rs);
	signal(SIGPIPE, SIG_IGN);

	if ((srv->lfd = notify_listen_fd()) != -1)
		log_info("using the socket passed by systemd (fd %d)",
		    srv->lfd);
	else if ((srv->lfd = listen_unix(conf->socket)) == -1)
		return -1;
	else
		srv->own_socket = 1;
	set_nonblock(srv->lfd);
	srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ev_io_init(&srv->lw, accept_cb, srv->lfd, EV_READ);
	ev_io_start(loop, &srv->lw);
	ev_prepare_init(&srv->commit, commit_cb);
	ev_prepare_start(loop, &srv->commit);
	ev_timer_init(&srv->due, due_cb, 0., 0.);
	ev_async_init(&srv->async, async_cb);
	ev_async_start(loop, &srv->async);
	engine_on_done(eng, batch_done, srv);
	if (store != NULL) {
		store_start(store, writer_wake, srv);
		/* main loaded the state if the store was active then */
		if (store_role(store, &srv->term) != STORE_ACTIVE ||
		    eng->standby)
			srv->term = 0;
		store_serve(store, srv->term);
		ev_timer_init(&srv->role, role_cb, 1., 1.);
		ev_timer_start(loop, &srv->role);
		role_check(srv);
		/*
		 * What the start queued without an event (the group column
		 * filled again, records of count's groups) is committed
		 * before the first client is read.
		 */
		engine_sync(eng);
		/* a standby's outputs start when it takes over (role_check) */
		if (srv->term != 0 && srv->outputs.loop == NULL &&
		    outputs_start(srv) != 0)
			return -1;
	}
	if (conf->retention_events > 0) {
		ev_timer_init(&srv->retain, retain_cb, 0., 60.);
		ev_timer_again(loop, &srv->retain);
	}
	ev_signal_init(&srv->sigterm, signal_cb, SIGTERM);
	ev_signal_init(&srv->sigint, signal_cb, SIGINT);
	ev_signal_init(&srv->sighup, signal_cb, SIGHUP);
	srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv;
	ev_signal_start(loop, &srv->sigterm);
	ev_signal_start(loop, &srv->sigint);
	ev_signal_start(loop, &srv->sighup);
	if ((wd = notify_watchdog_usec()) > 0) {
		/* from the loop itself: a stuck loop stops the pings */
		ev_timer_init(&srv->watchdog, watchdog_cb, 0.,
		    (double)wd / 2e6);
		ev_timer_again(loop, &srv->watchdog);
	}
	metrics_start(srv);
	return 0;
}

void
server_free(struct server *srv)
{
	struct client *c, *next;

	outputs_stop(srv);
	for (c = srv->clients.next; c != &srv->clients; c = next) {
		next = c->next;
		client_free(c);
	}
	ev_io_stop(srv->loop, &srv->lw);
	ev_prepare_stop(srv->loop, &srv->commit);
	ev_async_stop(srv->loop, &srv->async);
	ev_signal_stop(srv->loop, &srv->sigterm);
	ev_signal_stop(srv->loop, &srv->sigint);
	ev_signal_stop(srv->loop, &srv->sighup);
	ev_timer_stop(srv->loop, &srv->watchdog);
	ev_timer_stop(srv->loop, &srv->drain);
	ev_timer_stop(srv->loop, &srv->due);
	ev_timer_stop(srv->loop, &srv->retain);
	ev_timer_stop(srv->loop, &srv->role);
	metrics_stop(srv);
	metrics_free(&srv->metrics);
	if (srv->lfd != -1)
		close(srv->lfd);
	if (srv->reserve_fd != -1)
		close(srv->reserve_fd);
	request_free(&srv->req);
	buf_free(&srv->diff);
	free(srv->conf_path);
}
