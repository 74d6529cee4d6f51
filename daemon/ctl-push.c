/*
 * zhilictl push: stream NDJSON events to the daemon, pipelined. Input
 * bytes go to the socket while answers come back, with at most PUSH_WINDOW
 * lines unanswered and PUSH_OUT_HIGH bytes queued, so neither side can
 * deadlock on full socket buffers and memory stays bounded whatever the
 * input's size or line length: lines are streamed, never held whole.
 * Answers come in order, so a ring of input line numbers maps each answer
 * to its line for the FILE:LINE: CODE: MESSAGE report.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"

#define PUSH_WINDOW	1000		/* request lines in flight */
#define PUSH_OUT_HIGH	(256 * 1024)	/* queued bytes: stop reading input */
#define PUSH_BLANK_MAX	4096		/* leading blanks kept for a line */
#define DRY_OPEN	"{\"cmd\":\"dry_run\",\"event\":"

struct push {
	int		 fd;
	const char	*name;
	char		 in[CTL_READ_CHUNK];
	size_t		 in_pos, in_len;
	int		 in_eof;
	int		 in_line;	/* inside a non-blank line */
	char		 blank[PUSH_BLANK_MAX];
	size_t		 blank_len;
	unsigned long	 lineno;
	unsigned long	 ring[PUSH_WINDOW];
	size_t		 ring_head, ring_count;
	unsigned long	 sent, answered;
	unsigned long	 accepted, duplicates, errors, alerts;
	int		 dry;		/* --dry-run: each line as a dry_run */
	struct ctl_buf	 out;
};

/*
 * Move input bytes to the output queue while the window has room. Lines
 * are streamed, not held whole, so a huge line costs no memory; leading
 * blanks are held back until the line proves not blank, because the daemon
 * answers no blank line.  With --dry-run each line is wrapped, as it
 * streams, into {"cmd":"dry_run","event":LINE}.
 */
static void
push_feed(struct push *p)
{
	char	*s, *nl;
	size_t	 n, take;

	while (p->in_pos < p->in_len && ctl_buf_used(&p->out) < PUSH_OUT_HIGH) {
		s = p->in + p->in_pos;
		n = p->in_len - p->in_pos;
		if (p->in_line) {
			nl = memchr(s, '\n', n);
			take = nl != NULL ? (size_t)(nl - s) + 1 : n;
			ctl_buf_append(&p->out, s, take - (nl != NULL && p->dry));
			if (nl != NULL && p->dry)
				ctl_buf_append(&p->out, "}\n", 2);
			p->in_pos += take;
			if (nl != NULL) {
				p->in_line = 0;
				p->lineno++;
			}
		} else if (*s == '\n') {
			p->lineno++;
			p->blank_len = 0;
			p->in_pos++;
		} else if (*s == ' ' || *s == '\t' || *s == '\r') {
			if (p->blank_len < sizeof p->blank)
				p->blank[p->blank_len++] = *s;
			p->in_pos++;
		} else {
			if (p->ring_count == PUSH_WINDOW)
				break;
			p->ring[(p->ring_head + p->ring_count++) % PUSH_WINDOW] =
			    p->lineno;
			p->sent++;
			ctl_buf_append(&p->out, p->blank, p->blank_len);
			if (p->dry)
				ctl_buf_append(&p->out, DRY_OPEN,
				    sizeof DRY_OPEN - 1);
			p->blank_len = 0;
			p->in_line = 1;
		}
	}
	if (p->in_eof && p->in_pos == p->in_len && p->in_line) {
		/* The last line had no newline. */
		if (p->dry)
			ctl_buf_append(&p->out, "}", 1);
		ctl_buf_append(&p->out, "\n", 1);
		p->in_line = 0;
	}
}

static int
push_response(struct push *p, const char *line, size_t len)
{
	cJSON		*r, *err, *al;
	const char	*code, *msg;
	unsigned long	 ln;

	if (ctl_opt.json) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
	}
	r = ctl_parse_object(line);
	if (r == NULL || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(r,
	    "ok"))) {
		ctl_warnx("protocol error: unexpected response: %.200s", line);
		cJSON_Delete(r);
		return -1;
	}
	if (p->ring_count == 0) {
		err = cJSON_GetObjectItemCaseSensitive(r, "error");
		code = ctl_str_item(err, "code");
		msg = ctl_str_item(err, "message");
		ctl_warnx("protocol error: response to no request: %s: %s",
		    code ? code : "ok", msg ? msg : "");
		cJSON_Delete(r);
		return -1;
	}
	ln = p->ring[p->ring_head];
	p->ring_head = (p->ring_head + 1) % PUSH_WINDOW;
	p->ring_count--;
	p->answered++;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r,
		    "duplicate")))
			p->duplicates++;
		else
			p->accepted++;
		al = cJSON_GetObjectItemCaseSensitive(r, "alerts");
		if (cJSON_IsArray(al))
			p->alerts += (unsigned long)cJSON_GetArraySize(al);
	} else {
		p->errors++;
		err = cJSON_GetObjectItemCaseSensitive(r, "error");
		code = ctl_str_item(err, "code");
		msg = ctl_str_item(err, "message");
		fflush(stdout);
		fprintf(stderr, "%s:%lu: %s: %s\n", p->name, ln,
		    code ? code : "error", msg ? msg : "(no message)");
	}
	cJSON_Delete(r);
	return 0;
}

/* Read what the daemon sent: 1 more to come, 0 closed, -1 failure. */
static int
push_read(struct push *p, struct ctl_conn *c)
{
	char	*line;
	size_t	 len, used;
	int	 r;

	if ((r = ctl_conn_fill(c)) == -1 && errno == EAGAIN)
		return 1;
	if (r == -1) {
		/* A reset is a lost connection like any other. */
		ctl_warnx("read from %s: %s", ctl_opt.path, strerror(errno));
		return 0;
	}
	if (r == 0)
		return 0;
	while ((line = ctl_buf_line(&c->in, &len, &used)) != NULL) {
		r = push_response(p, line, len);
		ctl_buf_consume(&c->in, used);
		if (r == -1)
			return -1;
	}
	return 1;
}

static int
push_run(struct push *p)
{
	struct ctl_conn	*c = ctl_conn_open();
	struct pollfd	 pfd[2];
	ssize_t		 r;
	int		 wfail = 0, status, done;

	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) == -1)
		ctl_die(EXIT_CONN, "fcntl: %s", strerror(errno));
	for (;;) {
		push_feed(p);
		done = p->in_eof && p->in_pos == p->in_len && !p->in_line &&
		    ctl_buf_used(&p->out) == 0 && p->ring_count == 0;
		if (done) {
			status = 1;
			break;
		}
		pfd[0].fd = c->fd;
		pfd[0].events = POLLIN;
		if (ctl_buf_used(&p->out) > 0 && !wfail)
			pfd[0].events |= POLLOUT;
		pfd[1].fd = p->fd;
		pfd[1].events = 0;
		if (!p->in_eof && p->in_pos == p->in_len &&
		    p->ring_count < PUSH_WINDOW &&
		    ctl_buf_used(&p->out) < PUSH_OUT_HIGH)
			pfd[1].events = POLLIN;
		if (poll(pfd, pfd[1].events ? 2 : 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			ctl_die(EXIT_CONN, "poll: %s", strerror(errno));
		}
		if (pfd[1].events && pfd[1].revents) {
			p->in_pos = p->in_len = 0;
			r = read(p->fd, p->in, sizeof p->in);
			if (r > 0)
				p->in_len = (size_t)r;
			else if (r == 0)
				p->in_eof = 1;
			else if (errno != EINTR && errno != EAGAIN)
				ctl_die(EXIT_USAGE, "read %s: %s", p->name,
				    strerror(errno));
		}
		if (pfd[0].revents & POLLOUT) {
			r = send(c->fd, p->out.data + p->out.off,
			    ctl_buf_used(&p->out), MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r > 0)
				ctl_buf_consume(&p->out, (size_t)r);
			else if (r == -1 && errno != EINTR && errno != EAGAIN) {
				/* Keep reading: answers may still be there. */
				ctl_warnx("write to %s: %s", ctl_opt.path,
				    strerror(errno));
				wfail = 1;
			}
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((status = push_read(p, c)) != 1)
				break;
		}
	}
	ctl_conn_close(c);
	return status;
}

/*
 * Push the NDJSON lines of file ("-": stdin); returns the exit status.
 */
int
ctl_push(const char *file, int dry)
{
	static struct push	 p;
	int			 status;

	p.dry = dry;
	if (strcmp(file, "-") == 0) {
		p.fd = STDIN_FILENO;
		p.name = "<stdin>";
	} else {
		if ((p.fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
			ctl_die(EXIT_USAGE, "%s: %s", file, strerror(errno));
		p.name = file;
	}
	p.lineno = 1;
	status = push_run(&p);
	fflush(stdout);
	fprintf(ctl_opt.json ? stderr : stdout,
	    "%s%lu accepted, %lu duplicates, %lu errors, %lu alerts\n",
	    p.dry ? "dry run: " : "", p.accepted, p.duplicates, p.errors,
	    p.alerts);
	fflush(stdout);
	if (status == 0)
		ctl_warnx("connection closed by the daemon: %lu of %lu lines sent "
		    "were answered; resend from %s:%lu", p.answered, p.sent,
		    p.name, p.ring_count > 0 ? p.ring[p.ring_head] : p.lineno);
	if (status != 1)
		return EXIT_CONN;
	return p.errors > 0 ? EXIT_DAEMON : EXIT_SUCCESS;
}
