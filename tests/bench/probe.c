/*
 * probe: the measuring client of the close and deadline benchmarks
 * (close.sh, deadlines.sh). Prints a `key value` summary; exit 1 on an
 * error answer, a lost connection or a timeout.
 *
 *   probe -s SOCKET close LINE
 *	Sends LINE (an event, such as a period.close) on a connection of its
 *	own and reads its one answer line, whatever its size. Reports the
 *	time from the write to the answer's last byte, the answer's size,
 *	and its alerts, in all and by rule.
 *   probe -s SOCKET [-S] [-p MS] [-T SECONDS] [-d DUE] fire N
 *	Sends {"cmd":"stats"} every MS (50) milliseconds until the daemon's
 *	timers_fired (counted as timers fire) and then its alerts (counted
 *	as they commit) have both grown by N, or SECONDS (300) have passed.
 *	Fire and commit times run from the last stats answer before
 *	timers_fired moved (so they err long by up to a poll). DUE, the
 *	second at which the timers fall due (Unix seconds), gives how late
 *	the firing started: a timer fires once the clock is strictly past
 *	its second, that is at DUE + 1. With -S it also subscribes, and
 *	counts the alerts that the subscription delivers.
 *   probe -s SOCKET alerts
 *	Reads every alert with the alerts command, 10,000 a page, and
 *	counts them by rule.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES	32

struct rbuf {
	char	*p;
	size_t	 len, cap;
};

struct tally {
	char	 name[64];
	size_t	 n;
};

static const char *sockpath;

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "probe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
connect_to(void)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sockpath) >= sizeof(sun.sun_path))
		die("%s: socket path too long", sockpath);
	strcpy(sun.sun_path, sockpath);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "probe: %s: %s\n", sockpath, strerror(errno));
		exit(1);
	}
	return fd;
}

static void
write_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = send(fd, s, n, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("send: %s", strerror(errno));
		}
		s += w;
		n -= (size_t)w;
	}
}

/* Reads what is there into b; returns -1 on EOF or error. */
static int
fill(int fd, struct rbuf *b, int block)
{
	ssize_t r;

	if (b->cap - b->len < 65536) {
		b->cap = b->cap ? b->cap * 2 : 1 << 20;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			die("%s", "out of memory");
	}
	r = recv(fd, b->p + b->len, b->cap - b->len, block ? 0 : MSG_DONTWAIT);
	if (r == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	b->len += (size_t)r;
	return 0;
}

/* Drops the first n bytes of b. */
static void
consume(struct rbuf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Counts the alerts of s[0..n) by rule into t; returns their number. */
static size_t
count_rules(const char *s, size_t n, struct tally *t, size_t *nt)
{
	const char *p = s, *q, *end = s + n;
	size_t total = 0, i, len;

	while ((p = memmem(p, (size_t)(end - p), "\"rule\":\"", 8)) != NULL) {
		p += 8;
		if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
			break;
		len = (size_t)(q - p);
		total++;
		for (i = 0; i < *nt; i++)
			if (strlen(t[i].name) == len && memcmp(t[i].name, p, len) == 0)
				break;
		if (i == *nt && *nt < MAX_RULES && len < sizeof(t[0].name)) {
			memcpy(t[i].name, p, len);
			t[i].name[len] = '\0';
			t[i].n = 0;
			(*nt)++;
		}
		if (i < *nt)
			t[i].n++;
		p = q;
	}
	return total;
}

static int
do_close(const char *line)
{
	struct rbuf b = { NULL, 0, 0 };
	struct tally t[MAX_RULES];
	size_t nt = 0, n, i;
	char *nl = NULL, *req;
	double t0, t1;
	int fd, ok;

	fd = connect_to();
	n = strlen(line);
	if ((req = malloc(n + 2)) == NULL)
		die("%s", "out of memory");
	memcpy(req, line, n);
	req[n++] = '\n';
	t0 = now_mono();
	write_all(fd, req, n);
	while (nl == NULL) {
		size_t old = b.len;

		if (fill(fd, &b, 1) == -1)
			die("%s", "connection closed before the answer");
		nl = memchr(b.p + old, '\n', b.len - old);
	}
	t1 = now_mono();
	n = (size_t)(nl - b.p);
	ok = n > 10 && memcmp(b.p, "{\"ok\":true", 10) == 0;
	printf("seconds %.3f\n", t1 - t0);
	printf("bytes %zu\n", n + 1);
	printf("ok %d\n", ok);
	printf("alerts %zu\n", count_rules(b.p, n, t, &nt));
	for (i = 0; i < nt; i++)
		printf("rule %s %zu\n", t[i].name, t[i].n);
	if (!ok)
		fprintf(stderr, "probe: answer: %.*s\n", (int)(n > 400 ? 400 : n),
		    b.p);
	close(fd);
	return ok ? 0 : 1;
}

/* The value of "key": in a stats answer, or -1. */
static long long
stat_of(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(s, pat)) == NULL)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* Sends a one-line request and reads its one answer line into b. */
static size_t
request(int fd, const char *req, struct rbuf *b)
{
	char *nl = NULL;
	size_t old;

	write_all(fd, req, strlen(req));
	b->len = 0;
	while (nl == NULL) {
		old = b->len;
		if (fill(fd, b, 1) == -1)
			die("%s", "connection closed before the answer");
		nl = memchr(b->p + old, '\n', b->len - old);
	}
	*nl = '\0';
	if (strncmp(b->p, "{\"ok\":true", 10) != 0)
		die("answer: %.400s", b->p);
	return (size_t)(nl - b->p);
}

/* Reads every alert with `alerts`, 10,000 a page, and counts them. */
static int
do_alerts(void)
{
	struct rbuf b = { NULL, 0, 0 };
	struct tally t[MAX_RULES];
	size_t nt = 0, n, i, page, total = 0;
	long long after = 0;
	char req[128];
	const char *p;
	double t0 = now_mono();
	int fd;

	fd = connect_to();
	do {
		snprintf(req, sizeof(req), "{\"cmd\":\"alerts\",\"after\":%lld,"
		    "\"limit\":10000}\n", after);
		n = request(fd, req, &b);
		page = count_rules(b.p, n, t, &nt);
		total += page;
		/* the next page starts after the last id of this one */
		for (p = b.p; (p = strstr(p, "{\"id\":")) != NULL; p += 6)
			after = strtoll(p + 6, NULL, 10);
	} while (page > 0);
	printf("seconds %.3f\n", now_mono() - t0);
	printf("alerts %zu\n", total);
	printf("last_id %lld\n", after);
	for (i = 0; i < nt; i++)
		printf("rule %s %zu\n", t[i].name, t[i].n);
	close(fd);
	return 0;
}

static int
do_fire(long long n, unsigned poll_ms, unsigned limit, long long due,
    int with_sub)
{
	static const char subscribe[] = "{\"cmd\":\"subscribe\"}\n";
	static const char stats[] = "{\"cmd\":\"stats\"}\n";
	struct rbuf sb = { NULL, 0, 0 }, qb = { NULL, 0, 0 };
	struct tally t[MAX_RULES];
	struct pollfd pfd[2];
	size_t nt = 0, i;
	long long fbase = -1, abase = 0, fired = 0, committed = 0;
	long long pending = -1, before = -1, received = 0;
	double start, next_poll, t_zero = 0, t_done = 0, c_done = 0;
	double w_first = 0, s_first = 0, s_done = 0;
	int sub = -1, st, waiting = 0, subscribed = 0, sub_open = with_sub;
	int failed = 0;
	char *nl, *p;

	if (with_sub) {
		sub = connect_to();
		write_all(sub, subscribe, sizeof(subscribe) - 1);
	}
	st = connect_to();
	start = next_poll = now_mono();
	for (;;) {
		double now = now_mono();
		int timeout;

		if (t_done > 0 && c_done > 0 && (received >= n || !sub_open))
			break;
		if (now - start > limit) {
			fprintf(stderr, "probe: timed out after %u s: %lld of %lld "
			    "timers fired, %lld alerts committed\n", limit, fired,
			    n, committed);
			failed = 1;
			break;
		}
		if (!waiting && now >= next_poll) {
			write_all(st, stats, sizeof(stats) - 1);
			waiting = 1;
			next_poll += poll_ms / 1000.0;
			if (next_poll < now)
				next_poll = now;
		}
		timeout = waiting ? 1000 : (int)((next_poll - now) * 1000) + 1;
		pfd[0].fd = st;
		pfd[0].events = POLLIN;
		pfd[1].fd = sub_open ? sub : -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, timeout) == -1) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd[1].revents) {
			if (fill(sub, &sb, 0) == -1) {
				fprintf(stderr, "probe: the subscription was closed "
				    "after %lld alerts\n", received);
				sub_open = 0;
			}
			for (p = sb.p; (nl = memchr(p, '\n', sb.len -
			    (size_t)(p - sb.p))) != NULL; p = nl + 1) {
				size_t len = (size_t)(nl - p);

				if (!subscribed) {
					if (len < 10 || memcmp(p, "{\"ok\":true", 10) != 0)
						die("subscribe: %s", "refused");
					subscribed = 1;
				} else if (count_rules(p, len, t, &nt) > 0) {
					if (received++ == 0)
						s_first = now_mono();
					if (received == n)
						s_done = now_mono();
				}
			}
			consume(&sb, (size_t)(p - sb.p));
		}
		if (pfd[0].revents) {
			if (fill(st, &qb, 0) == -1)
				die("%s", "the stats connection was closed");
			while ((nl = memchr(qb.p, '\n', qb.len)) != NULL) {
				long long f, a;

				*nl = '\0';
				f = stat_of(qb.p, "timers_fired");
				a = stat_of(qb.p, "alerts");
				pending = stat_of(qb.p, "timers");
				if (f < 0 || a < 0)
					die("stats: %s", qb.p);
				now = now_mono();
				if (fbase < 0) {
					fbase = f;
					abase = a;
					before = pending;
				}
				fired = f - fbase;
				committed = a - abase;
				if (fired == 0)
					t_zero = now;
				else if (w_first == 0)
					w_first = now_wall();
				if (fired >= n && t_done == 0)
					t_done = now;
				if (committed >= n && c_done == 0)
					c_done = now;
				consume(&qb, (size_t)(nl - qb.p) + 1);
				waiting = 0;
			}
		}
	}
	printf("pending_before %lld\n", before);
	printf("fired %lld\n", fired);
	printf("committed %lld\n", committed);
	printf("pending_after %lld\n", pending);
	if (due > 0 && w_first > 0)
		printf("start_late_seconds %.3f\n", w_first - (double)(due + 1));
	if (t_done > 0) {
		printf("fire_seconds %.3f\n", t_done - t_zero);
		printf("fired_per_sec %.0f\n", n / (t_done - t_zero));
	}
	if (c_done > 0) {
		printf("commit_seconds %.3f\n", c_done - t_zero);
		printf("committed_per_sec %.0f\n", n / (c_done - t_zero));
	}
	if (with_sub) {
		printf("subscriber_received %lld\n", received);
		printf("subscriber_dropped %d\n", !sub_open);
		for (i = 0; i < nt; i++)
			printf("subscriber_rule %s %zu\n", t[i].name, t[i].n);
		if (s_done > 0)
			printf("subscriber_seconds %.3f\n", s_done - s_first);
	}
	return failed ? 1 : 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: probe -s SOCKET close LINE\n"
	    "       probe -s SOCKET [-S] [-p MS] [-T SECONDS] [-d DUE] fire N\n"
	    "       probe -s SOCKET alerts\n");
	exit(2);
}

static long long
num(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || *s == '\0' || v <= 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	unsigned poll_ms = 50, limit = 300;
	long long due = 0;
	int ch, with_sub = 0;

	while ((ch = getopt(argc, argv, "s:Sp:T:d:")) != -1) {
		switch (ch) {
		case 's': sockpath = optarg; break;
		case 'S': with_sub = 1; break;
		case 'p': poll_ms = (unsigned)num(optarg); break;
		case 'T': limit = (unsigned)num(optarg); break;
		case 'd': due = num(optarg); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (sockpath == NULL || argc < 1)
		usage();
	if (strcmp(argv[0], "close") == 0 && argc == 2)
		return do_close(argv[1]);
	if (strcmp(argv[0], "fire") == 0 && argc == 2)
		return do_fire(num(argv[1]), poll_ms, limit, due, with_sub);
	if (strcmp(argv[0], "alerts") == 0 && argc == 1)
		return do_alerts();
	usage();
	return 2;
}
