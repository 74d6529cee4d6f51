/*
 * zhilictl's side of the wire: messages and exits, buffers, connecting to
 * the Unix socket (any path length), reading lines of any length, one
 * request and its answer, and JSON values as text. Everything here is for
 * zhilictl alone; the daemon's library does not use it.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"

struct ctl_opt ctl_opt;
volatile sig_atomic_t ctl_interrupted;

/* Messages and exits. */

static void
vwarnx(const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs("zhilictl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
}

void
ctl_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	/* What is still allocated dies with the process. */
	fflush(stderr);
	_exit(code);
}

/*
 * Flush stdout, and stop if nobody reads it: SIGPIPE is ignored (for the
 * socket's sake), so `zhilictl alerts --follow | head` ends here, quietly.
 */
void
ctl_flush(void)
{
	if (fflush(stdout) != EOF && !ferror(stdout))
		return;
	if (errno == EPIPE)
		_exit(EXIT_SUCCESS);
	ctl_die(EXIT_DAEMON, "stdout: %s", strerror(errno));
}

void *
ctl_xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL) {
		fputs("zhilictl: out of memory\n", stderr);
		abort();
	}
	return p;
}

char *
ctl_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(ctl_xrealloc(NULL, n), s, n);
}

void
ctl_buf_reserve(struct ctl_buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len >= n)
		return;
	while (b->cap - b->len < n)
		b->cap = b->cap ? b->cap * 2 : CTL_READ_CHUNK;
	b->data = ctl_xrealloc(b->data, b->cap);
}

void
ctl_buf_append(struct ctl_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	ctl_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

size_t
ctl_buf_used(const struct ctl_buf *b)
{
	return b->len - b->off;
}

void
ctl_buf_consume(struct ctl_buf *b, size_t n)
{
	b->off += n;
	b->scan = b->scan > n ? b->scan - n : 0;
	if (b->off == b->len)
		b->off = b->len = b->scan = 0;
}

/*
 * The next complete line in b, without its newline (and a CR before it),
 * NUL-terminated in place; NULL if none. The caller consumes *used bytes.
 */
char *
ctl_buf_line(struct ctl_buf *b, size_t *len, size_t *used)
{
	char	*s = b->data + b->off, *nl;

	if (ctl_buf_used(b) == b->scan)
		return NULL;
	nl = memchr(s + b->scan, '\n', ctl_buf_used(b) - b->scan);
	if (nl == NULL) {
		b->scan = ctl_buf_used(b);
		return NULL;
	}
	*used = (size_t)(nl - s) + 1;
	*nl = '\0';
	if (nl > s && nl[-1] == '\r')
		*--nl = '\0';
	*len = (size_t)(nl - s);
	return s;
}

/* Connections. */

static int
sock_connect(const char *path)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	int			 fd, dfd = -1, err, n;
	socklen_t		 len = sizeof err;
	char			*dir, *slash;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) < sizeof sun.sun_path)
		strcpy(sun.sun_path, path);
	else {
		/* Too long for sun_path: reach it through its folder. */
		dir = ctl_xstrdup(path);
		if ((slash = strrchr(dir, '/')) == NULL) {
			free(dir);
			errno = ENAMETOOLONG;
			return -1;
		}
		*slash = '\0';
		dfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		n = dfd == -1 ? 0 : snprintf(sun.sun_path, sizeof sun.sun_path,
		    "/proc/self/fd/%d/%s", dfd, slash + 1);
		free(dir);
		if (dfd == -1)
			return -1;
		if ((size_t)n >= sizeof sun.sun_path) {
			close(dfd);
			errno = ENAMETOOLONG;
			return -1;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno != EINTR)
			goto fail;
		/* Interrupted: the connection completes on its own. */
		pfd.fd = fd;
		pfd.events = POLLOUT;
		while (poll(&pfd, 1, -1) == -1)
			if (errno != EINTR)
				goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	if (dfd != -1)
		close(dfd);
	return fd;
fail:
	err = errno;
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	errno = err;
	return -1;
}

struct ctl_conn *
ctl_conn_open(void)
{
	struct ctl_conn	*c;
	int		 fd;

	if ((fd = sock_connect(ctl_opt.path)) == -1)
		ctl_die(EXIT_CONN, "cannot connect to %s: %s", ctl_opt.path,
		    strerror(errno));
	c = ctl_xrealloc(NULL, sizeof *c);
	memset(c, 0, sizeof *c);
	c->fd = fd;
	return c;
}

void
ctl_conn_close(struct ctl_conn *c)
{
	close(c->fd);
	free(c->in.data);
	free(c);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = send(fd, p, n, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read more bytes into c->in: 1 read, 0 end of file, -1 error. */
int
ctl_conn_fill(struct ctl_conn *c)
{
	ssize_t	 r;

	ctl_buf_reserve(&c->in, CTL_READ_CHUNK);
	for (;;) {
		r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
		if (r > 0) {
			c->in.len += (size_t)r;
			return 1;
		}
		if (r == 0)
			return 0;
		if (errno == EINTR && ctl_interrupted) {
			/* Only --follow catches signals: a clean stop. */
			fflush(stdout);
			exit(EXIT_SUCCESS);
		}
		if (errno != EINTR)
			return -1;
	}
}

/* The next line from the daemon, blocking; dies if the connection ends. */
char *
ctl_conn_line(struct ctl_conn *c, size_t *len)
{
	char		*line;
	int		 r;

	ctl_buf_consume(&c->in, c->pending);
	c->pending = 0;
	while ((line = ctl_buf_line(&c->in, len, &c->pending)) == NULL) {
		if ((r = ctl_conn_fill(c)) == 0)
			ctl_die(EXIT_CONN, "connection closed by the daemon");
		if (r == -1)
			ctl_die(EXIT_CONN, "read from %s: %s", ctl_opt.path,
			    strerror(errno));
	}
	return line;
}

/* A response line as JSON: an object, or NULL. */
cJSON *
ctl_parse_object(const char *line)
{
	cJSON	*j = cJSON_ParseWithOpts(line, NULL, 1);

	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static cJSON *
parse_response(const char *line)
{
	cJSON	*j = ctl_parse_object(line);

	if (j == NULL || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j,
	    "ok")))
		ctl_die(EXIT_CONN, "protocol error: unexpected response: %.200s",
		    line);
	return j;
}

/*
 * Send one request and read its answer. With raw set, the answer is
 * printed as received (--json).
 */
cJSON *
ctl_conn_request(struct ctl_conn *c, cJSON *req, int raw)
{
	char	*s, *line;
	size_t	 len;

	s = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (s == NULL)
		ctl_die(EXIT_CONN, "cannot encode the request");
	if (write_all(c->fd, s, strlen(s)) == -1 ||
	    write_all(c->fd, "\n", 1) == -1)
		ctl_die(EXIT_CONN, "write to %s: %s", ctl_opt.path, strerror(errno));
	free(s);
	line = ctl_conn_line(c, &len);
	if (raw) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
	}
	return parse_response(line);
}

cJSON *
ctl_new_cmd(const char *cmd)
{
	cJSON	*req = cJSON_CreateObject();

	if (req == NULL || cJSON_AddStringToObject(req, "cmd", cmd) == NULL)
		ctl_die(EXIT_CONN, "out of memory");
	return req;
}

const char *
ctl_str_item(const cJSON *o, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 0 if the response says ok; else reports the error and returns -1. */
int
ctl_check_ok(const cJSON *resp)
{
	const cJSON	*err;
	const char	*code, *msg;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "ok")))
		return 0;
	err = cJSON_GetObjectItemCaseSensitive(resp, "error");
	code = ctl_str_item(err, "code");
	msg = ctl_str_item(err, "message");
	ctl_warnx("%s: %s", code ? code : "error", msg ? msg : "(no message)");
	return -1;
}
/* JSON values as text. */

static void
put_clean(const char *s, FILE *f)
{
	/* One record per line: control characters become spaces. */
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, f);
}

void
ctl_put_value(const cJSON *v, FILE *f)
{
	char	*s;
	double	 d;

	if (v == NULL || cJSON_IsNull(v))
		fputc('-', f);
	else if (cJSON_IsString(v))
		put_clean(v->valuestring, f);
	else if (cJSON_IsBool(v))
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	else if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
		if (d == (double)(long long)d && d > -9e15 && d < 9e15)
			fprintf(f, "%lld", (long long)d);
		else
			fprintf(f, "%.15g", d);
	} else if ((s = cJSON_PrintUnformatted(v)) != NULL) {
		put_clean(s, f);
		free(s);
	}
}

