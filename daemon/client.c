/*
 * One connected client: a bounded input buffer split into lines, and an
 * output queue with a bound.  A client that does not read its replies is
 * not read from until they drain; a subscriber that falls behind is
 * dropped.  Every request line gets exactly one response, in order, which
 * for events means after the batch holding them has committed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

#define IN_INITIAL	4096

static void	client_read_cb(struct ev_loop *, ev_io *, int);
static void	client_write_cb(struct ev_loop *, ev_io *, int);
static void	client_idle_cb(struct ev_loop *, ev_timer *, int);
static int	handle_input(struct client *);

void
client_new(struct server *srv, int fd, uid_t uid, gid_t gid)
{
	struct client *c = xcalloc(1, sizeof *c);

	c->srv = srv;
	c->fd = fd;
	c->uid = uid;
	c->gid = gid;
	c->roles = conf_roles(srv->conf, uid, gid);
	c->incap = IN_INITIAL;
	c->in = xmalloc(c->incap);
	ev_io_init(&c->r, client_read_cb, fd, EV_READ);
	ev_io_init(&c->w, client_write_cb, fd, EV_WRITE);
	ev_io_start(srv->loop, &c->r);
	if (srv->conf->idle_timeout > 0) {
		ev_timer_init(&c->idle, client_idle_cb, 0.,
		    (double)srv->conf->idle_timeout);
		ev_timer_again(srv->loop, &c->idle);
	}
	c->next = srv->clients.next;
	c->prev = &srv->clients;
	srv->clients.next->prev = c;
	srv->clients.next = c;
	srv->nclients++;
	log_debug("client fd %d: uid %u gid %u roles %#x", fd, (unsigned)uid,
	    (unsigned)gid, c->roles);
}

void
client_free(struct client *c)
{
	struct server *srv = c->srv;

	/* answers still owed go nowhere */
	if (c->npending > 0)
		engine_forget(srv->eng, c);
	ev_io_stop(srv->loop, &c->r);
	ev_io_stop(srv->loop, &c->w);
	ev_timer_stop(srv->loop, &c->idle);
	close(c->fd);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	srv->nclients--;
	buf_free(&c->out);
	free(c->in);
	free(c);
}

/* Drop a client now, with a reason in the log. */
void
client_drop(struct client *c, const char *why)
{
	log_info("client fd %d (uid %u): %s", c->fd, (unsigned)c->uid, why);
	client_free(c);
}

static void
pause_reading(struct client *c)
{
	if (c->paused)
		return;
	c->paused = 1;
	ev_io_stop(c->srv->loop, &c->r);
}

static void
resume_reading(struct client *c)
{
	if (!c->paused || c->eof || c->closing)
		return;
	c->paused = 0;
	ev_io_start(c->srv->loop, &c->r);
}

/*
 * New output is queued: arrange for it to be written, and apply the bound.
 * This never writes or frees, so it is safe anywhere, even while the
 * client's own input is being handled; a subscriber that is too slow is
 * doomed here and freed by server_sweep.
 */
void
client_kick(struct client *c)
{
	struct server *srv = c->srv;

	if (c->doomed || BUF_LEN(&c->out) == 0)
		return;
	ev_io_start(srv->loop, &c->w);
	if (BUF_LEN(&c->out) <= (size_t)srv->conf->max_output_bytes)
		return;
	if (c->subscriber) {
		srv->n_dropped++;
		log_info("client fd %d (uid %u): subscriber too slow: output "
		    "queue over limits.max_output_bytes, disconnected; its "
		    "alerts stay readable with 'alerts'", c->fd,
		    (unsigned)c->uid);
		c->doomed = 1;
		ev_io_stop(srv->loop, &c->r);
		ev_io_stop(srv->loop, &c->w);
		return;
	}
	pause_reading(c);
}

/* Write what can be written now.  May free c: call it last. */
static void
client_write(struct client *c)
{
	struct server *srv = c->srv;
	ssize_t n;

	if (c->doomed)
		return;
	while (BUF_LEN(&c->out) > 0) {
		n = write(c->fd, BUF_DATA(&c->out), BUF_LEN(&c->out));
		if (n > 0) {
			buf_drop(&c->out, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		client_drop(c, n == 0 ? "closed" : strerror(errno));
		return;
	}
	if (BUF_LEN(&c->out) > 0) {
		ev_io_start(srv->loop, &c->w);
		return;
	}
	ev_io_stop(srv->loop, &c->w);
	if (c->closing && c->npending == 0) {
		client_free(c);
		return;
	}
	if (!c->paused || c->closing ||
	    BUF_LEN(&c->out) >= (size_t)srv->conf->max_output_bytes / 2)
		return;
	/* lines left in the buffer go first; they may fill the queue again */
	if (handle_input(c)) {
		client_kick(c);
		return;
	}
	if (c->eof) {
		client_shutdown(c);
		return;
	}
	resume_reading(c);
	client_kick(c);
}

static void
client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = container_of(w, struct client, w);

	client_write(c);
}

static void
client_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = container_of(w, struct client, idle);

	if (c->subscriber || c->npending > 0 || BUF_LEN(&c->out) > 0) {
		ev_timer_again(loop, w);
		return;
	}
	client_drop(c, "idle timeout");
}

/* Stop reading; close once every answer owed has been written. */
void
client_shutdown(struct client *c)
{
	c->closing = 1;
	ev_io_stop(c->srv->loop, &c->r);
	if (c->doomed)
		return;
	if (c->npending == 0 && BUF_LEN(&c->out) == 0) {
		client_free(c);
		return;
	}
	if (BUF_LEN(&c->out) > 0)
		ev_io_start(c->srv->loop, &c->w);
}

void
client_error(struct client *c, enum errcode code, const char *msg)
{
	c->srv->n_errors++;
	c->srv->metrics.errors[code]++;
	error_json(&c->out, code, msg);
}

/* Responses owed for earlier events go out before anything else. */
static void
ordered(struct client *c)
{
	if (c->npending > 0)
		server_sync(c->srv);
}

static int
blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

static void
handle_line(struct client *c, char *line, size_t len)
{
	struct server *srv = c->srv;
	struct request *req = &srv->req;
	struct ev_result res;
	char msg[512];
	enum errcode e;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (blank(line, len))
		return;
	srv->n_lines++;
	if (len > (size_t)srv->conf->max_line_bytes) {
		ordered(c);
		snprintf(msg, sizeof msg, "line longer than "
		    "limits.max_line_bytes (%lld)", srv->conf->max_line_bytes);
		client_error(c, E_TOO_LARGE, msg);
		return;
	}
	e = decode_line(srv->rs, engine_now(srv->eng), line, len, req, msg,
	    sizeof msg);
	if (e != E_OK) {
		ordered(c);
		client_error(c, e, msg);
		return;
	}
	if (req->what == REQ_CMD) {
		ordered(c);
		cmd_dispatch(c, req);
		return;
	}
	if (!(c->roles & ROLE_PUSH)) {
		ordered(c);
		client_error(c, E_FORBIDDEN, "this peer may not push events "
		    "(role push)");
		return;
	}
	e = engine_apply(srv->eng, &req->ev, &res, msg, sizeof msg);
	if (e != E_OK) {
		ordered(c);
		client_error(c, e, msg);
		return;
	}
	server_pend(srv, c, &res, PEND_EVENT);
}

/*
 * Split the input into lines and handle them; keep a partial line for the
 * next read.  Stops early, leaving lines in the buffer, once the answers
 * waiting to be written pass limits.max_output_bytes: one short command
 * can produce megabytes, so the bound is checked per line.  Returns 1 if
 * it stopped early.
 */
static int
handle_input(struct client *c)
{
	struct server *srv = c->srv;
	size_t start = 0, max = (size_t)srv->conf->max_line_bytes;
	size_t limit = (size_t)srv->conf->max_output_bytes;
	int stopped = 0;
	char *nl;

	while (start < c->inlen && !c->closing) {
		if (BUF_LEN(&c->out) > limit) {
			stopped = 1;
			break;
		}
		nl = memchr(c->in + start, '\n', c->inlen - start);
		if (nl == NULL)
			break;
		if (c->skipping)
			c->skipping = 0;	/* the oversize line ends here */
		else
			handle_line(c, c->in + start,
			    (size_t)(nl - (c->in + start)));
		start = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
	if (stopped)
		return 1;
	if (c->skipping) {
		c->inlen = 0;
	} else if (c->inlen > max + 1) {
		/* no newline within the limit (+1 for a CR): too large */
		ordered(c);
		client_error(c, E_TOO_LARGE, "line longer than "
		    "limits.max_line_bytes");
		srv->n_lines++;
		c->skipping = 1;
		c->inlen = 0;
	}
	return 0;
}

/*
 * Read what the peer has sent, up to READ_BUDGET bytes per wakeup, so that
 * a pipelining client fills a batch (and a commit) with many events rather
 * than a few, without starving the other clients.
 */
#define READ_BUDGET	(256 * 1024)

static void
client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = container_of(w, struct client, r);
	struct server *srv = c->srv;
	size_t max = (size_t)srv->conf->max_line_bytes + 2, budget = 0;
	size_t room, top = max > 65536 ? max : 65536;
	ssize_t n;

	while (budget < READ_BUDGET && !c->closing && !c->paused &&
	    !c->doomed) {
		if (c->inlen == c->incap) {
			c->incap = c->incap * 2 > top ? top : c->incap * 2;
			if (c->incap <= c->inlen)
				c->incap = c->inlen + 1;
			c->in = xreallocarray(c->in, 1, c->incap);
		}
		room = c->incap - c->inlen;
		n = read(c->fd, c->in + c->inlen, room);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (n == -1 && errno != ECONNRESET)
				log_debug("client fd %d: %s", c->fd,
				    strerror(errno));
			c->eof = 1;
			/* a last line without a newline is still a line */
			if (n == 0 && c->inlen > 0 && !c->skipping &&
			    c->inlen <= max - 1 &&
			    memchr(c->in, '\n', c->inlen) == NULL) {
				if (c->inlen == c->incap)
					c->in = xreallocarray(c->in, 1,
					    ++c->incap);
				c->in[c->inlen++] = '\n';
			}
			if (handle_input(c)) {
				/* the rest once the answers drain */
				pause_reading(c);
				client_kick(c);
				return;
			}
			client_shutdown(c);
			return;
		}
		budget += (size_t)n;
		c->inlen += (size_t)n;
		if (handle_input(c)) {
			pause_reading(c);
			break;
		}
		if ((size_t)n < room)
			break;		/* drained the socket */
		if (c->incap < top && c->inlen + 4096 > c->incap) {
			c->incap = c->incap * 2 > top ? top : c->incap * 2;
			c->in = xreallocarray(c->in, 1, c->incap);
		}
	}
	if (srv->conf->idle_timeout > 0)
		ev_timer_again(loop, &c->idle);
	if (c->doomed)
		return;
	client_kick(c);
	if (BUF_LEN(&c->out) > 0 && !c->paused)
		client_write(c);
}
