/*
 * load: pushes an NDJSON file of events to zhilid over its Unix socket and
 * measures it. `load -s SOCKET -c CONNS -w WINDOW FILE` deals the file's
 * lines round-robin over CONNS connections; each keeps up to WINDOW lines
 * sent and not yet answered (pipelining, zhilid(8): one answer
 * per line, in order), all driven by one poll() loop. A line's latency runs
 * from the moment its last byte was written to the moment its answer was
 * read (CLOCK_MONOTONIC). Prints a `key value` summary; any error answer,
 * a connection closed early or a stall fails the run (exit 1).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IOV_BATCH	256
#define RBUF_INIT	(256 * 1024)

struct line {
	size_t		off;
	size_t		len;	/* with its newline */
	size_t		lineno;	/* in the file, from 1 */
};

struct conn {
	int		fd;
	size_t		first;	/* this connection's lines: first + k*stride */
	size_t		n;
	size_t		sent;	/* lines written in full */
	size_t		part;	/* bytes written of line `sent` */
	size_t		acked;	/* lines answered */
	uint64_t       *sent_at;/* ring of WINDOW send times, by line index */
	char	       *rbuf;
	size_t		rlen, rcap;
};

static char		*data;
static struct line	*lines;
static size_t		 nlines, stride, window;
static uint64_t		*lat;	/* ns, one per answer */
static size_t		 nlat;
static size_t		 n_ok, n_dup, n_err, n_alerts;
static char		 first_err[512];

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "load: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		die("%s", "out of memory");
	return p;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads the file, ending it with a newline; indexes its non-blank lines. */
static void
load_file(const char *path)
{
	struct stat st;
	size_t len = 0, cap, i, start, lineno = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		die("%s: cannot open", path);
	cap = (size_t)st.st_size + 2;
	data = xmalloc(cap);
	while ((r = read(fd, data + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	if (r == -1)
		die("%s: read error", path);
	close(fd);
	if (len > 0 && data[len - 1] != '\n')
		data[len++] = '\n';

	cap = 1024;
	lines = xmalloc(cap * sizeof(*lines));
	for (start = 0, i = 0; i < len; i++) {
		size_t j;

		if (data[i] != '\n')
			continue;
		lineno++;
		/* A blank line is no request and gets no answer: skip it. */
		for (j = start; j < i && (data[j] == ' ' || data[j] == '\t' ||
		    data[j] == '\r'); j++)
			;
		if (j < i) {
			if (nlines == cap) {
				cap *= 2;
				if ((lines = realloc(lines, cap * sizeof(*lines))) == NULL)
					die("%s", "out of memory");
			}
			lines[nlines].off = start;
			lines[nlines].len = i + 1 - start;
			lines[nlines].lineno = lineno;
			nlines++;
		}
		start = i + 1;
	}
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		die("%s: socket path too long", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("%s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "load: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		die("%s", strerror(errno));
	return fd;
}

static struct line *
conn_line(struct conn *c, size_t k)
{
	return &lines[c->first + k * stride];
}

/* Writes what the window allows; returns -1 when the peer is gone. */
static int
do_send(struct conn *c)
{
	struct iovec iov[IOV_BATCH];
	struct msghdr msg;
	size_t limit, k, niov, left;
	ssize_t w;
	uint64_t t;

	for (;;) {
		limit = c->acked + window < c->n ? c->acked + window : c->n;
		if (c->sent >= limit)
			return 0;
		for (niov = 0, k = c->sent; k < limit && niov < IOV_BATCH; k++) {
			struct line *l = conn_line(c, k);
			size_t skip = k == c->sent ? c->part : 0;

			iov[niov].iov_base = data + l->off + skip;
			iov[niov].iov_len = l->len - skip;
			niov++;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = niov;
		w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			return -1;
		}
		t = now_ns();
		left = (size_t)w;
		while (left > 0) {
			size_t rest = conn_line(c, c->sent)->len - c->part;

			if (left < rest) {
				c->part += left;
				break;
			}
			left -= rest;
			c->part = 0;
			c->sent_at[c->sent % window] = t;
			c->sent++;
		}
	}
}

static void
answer(struct conn *c, const char *s, size_t n, uint64_t t)
{
	const char *ok, *p;

	if (c->acked >= c->sent) {
		n_err++;
		if (first_err[0] == '\0')
			snprintf(first_err, sizeof(first_err),
			    "answer before its line was sent: %.*s", (int)(n > 300 ? 300 : n), s);
		return;
	}
	lat[nlat++] = t - c->sent_at[c->acked % window];
	c->acked++;
	ok = memmem(s, n, "\"ok\":", 5);
	if (ok != NULL && (size_t)(ok + 5 - s) < n && ok[5] == 't') {
		if (memmem(s, n, "\"duplicate\":true", 16) != NULL)
			n_dup++;
		else
			n_ok++;
		for (p = s; (p = memmem(p, n - (size_t)(p - s), "\"rule\":", 7)) != NULL; p += 7)
			n_alerts++;
		return;
	}
	n_err++;
	if (first_err[0] == '\0') {
		struct line *l = conn_line(c, c->acked - 1);

		snprintf(first_err, sizeof(first_err), "line %zu: %.*s",
		    l->lineno, (int)(n > 400 ? 400 : n), s);
	}
}

/* Reads and handles answers; returns -1 on EOF or error. */
static int
do_recv(struct conn *c)
{
	ssize_t r;
	char *p, *nl;
	uint64_t t;

	for (;;) {
		if (c->rcap - c->rlen < 4096) {
			c->rcap *= 2;
			if ((c->rbuf = realloc(c->rbuf, c->rcap)) == NULL)
				die("%s", "out of memory");
		}
		r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (r == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			return -1;
		}
		if (r == 0)
			return -1;
		t = now_ns();
		c->rlen += (size_t)r;
		p = c->rbuf;
		while ((nl = memchr(p, '\n', c->rlen - (size_t)(p - c->rbuf))) != NULL) {
			answer(c, p, (size_t)(nl - p), t);
			p = nl + 1;
		}
		c->rlen -= (size_t)(p - c->rbuf);
		memmove(c->rbuf, p, c->rlen);
		if ((size_t)r < 4096)
			return 0;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_ms(double q)
{
	size_t i;

	if (nlat == 0)
		return 0;
	i = (size_t)(q * (double)nlat + 0.999999);
	if (i > 0)
		i--;
	if (i >= nlat)
		i = nlat - 1;
	return lat[i] / 1e6;
}

static void
usage(void)
{
	fprintf(stderr, "usage: load -s SOCKET [-c CONNS] [-w WINDOW] "
	    "[-t STALL_SECONDS] FILE\n");
	exit(2);
}

static unsigned long
num(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *s == '\0' || *s == '-' || v == 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	struct conn *conns;
	struct pollfd *pfd;
	unsigned long nconn = 4, stall = 60;
	size_t i, done = 0, np, *map;
	uint64_t t0, t_end, last_progress;
	int ch, failed = 0;

	window = 1000;
	while ((ch = getopt(argc, argv, "s:c:w:t:")) != -1) {
		switch (ch) {
		case 's': sock = optarg; break;
		case 'c': nconn = num(optarg); break;
		case 'w': window = num(optarg); break;
		case 't': stall = num(optarg); break;
		default: usage();
		}
	}
	if (sock == NULL || optind != argc - 1)
		usage();
	load_file(argv[optind]);
	lat = xmalloc(nlines * sizeof(*lat));

	stride = nconn;
	conns = xmalloc(nconn * sizeof(*conns));
	pfd = xmalloc(nconn * sizeof(*pfd));
	map = xmalloc(nconn * sizeof(*map));
	for (i = 0; i < nconn; i++) {
		struct conn *c = &conns[i];

		memset(c, 0, sizeof(*c));
		c->first = i;
		c->n = i < nlines ? (nlines - i + nconn - 1) / nconn : 0;
		c->fd = c->n > 0 ? connect_to(sock) : -1;
		c->sent_at = xmalloc(window * sizeof(*c->sent_at));
		c->rcap = RBUF_INIT;
		c->rbuf = xmalloc(c->rcap);
		if (c->n == 0)
			done++;
	}

	t0 = last_progress = now_ns();
	t_end = t0;
	for (i = 0; i < nconn; i++)
		if (conns[i].n > 0 && do_send(&conns[i]) == -1)
			die("%s", "connection lost while sending");
	while (done < nconn && !failed) {
		int r;

		for (np = 0, i = 0; i < nconn; i++) {
			struct conn *c = &conns[i];

			if (c->acked >= c->n)
				continue;
			pfd[np].fd = c->fd;
			pfd[np].events = POLLIN;
			if (c->sent < c->n && c->sent < c->acked + window)
				pfd[np].events |= POLLOUT;
			pfd[np].revents = 0;
			map[np++] = i;
		}
		if ((r = poll(pfd, np, 1000)) == -1) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (r == 0) {
			if (now_ns() - last_progress > (uint64_t)stall * 1000000000u) {
				fprintf(stderr, "load: stalled: no answer for %lu s\n", stall);
				failed = 1;
			}
			continue;
		}
		for (i = 0; i < np; i++) {
			struct conn *c = &conns[map[i]];
			size_t before = c->acked;

			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (do_recv(c) == -1 && c->acked < c->n) {
					fprintf(stderr, "load: connection %zu closed after "
					    "%zu of %zu answers\n", map[i], c->acked, c->n);
					failed = 1;
					break;
				}
			}
			if (c->acked != before) {
				last_progress = t_end = now_ns();
				if (c->acked >= c->n)
					done++;
			}
			if (c->acked < c->n && do_send(c) == -1) {
				fprintf(stderr, "load: connection %zu: send: %s\n",
				    map[i], strerror(errno));
				failed = 1;
				break;
			}
		}
	}

	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	{
		double secs = (t_end - t0) / 1e9;

		printf("events %zu\n", nlines);
		printf("connections %lu\n", nconn);
		printf("window %zu\n", window);
		printf("seconds %.3f\n", secs);
		printf("events_per_sec %.0f\n", secs > 0 ? nlat / secs : 0);
		printf("p50_ms %.3f\n", pct_ms(0.50));
		printf("p99_ms %.3f\n", pct_ms(0.99));
		printf("max_ms %.3f\n", nlat ? lat[nlat - 1] / 1e6 : 0);
		printf("ok %zu\n", n_ok);
		printf("duplicate %zu\n", n_dup);
		printf("error %zu\n", n_err);
		printf("alerts %zu\n", n_alerts);
	}
	if (first_err[0] != '\0')
		fprintf(stderr, "load: first error: %s\n", first_err);
	if (nlat < nlines && !failed)
		failed = 1;
	return failed || n_err > 0 ? 1 : 0;
}
