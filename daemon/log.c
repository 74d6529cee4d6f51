/*
 * Logging to stderr with sd-daemon "<N>" priority prefixes, so that journald
 * keeps the level (OpenSMTPD log.c, sd-daemon(3)).  log_warn appends
 * strerror(errno); the x variants do not.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zhilid.h"

static int log_verbose;
static int log_prefix = 1;

void
log_init(int verbose, int prefix)
{
	log_verbose = verbose;
	log_prefix = prefix;
}

/*
 * One write(2) per line: the writer thread logs too, and a line split
 * between two writes could lose its priority prefix to the other's.
 */
static void
vlog(int pri, const char *fmt, va_list ap, const char *err)
{
	char msg[4096], line[4200];
	ssize_t w;
	int n;

	/* a long message (a quoted rule line, say) is cut between characters */
	if (vsnprintf(msg, sizeof msg, fmt, ap) >= (int)sizeof msg)
		memcpy(msg + utf8_prefix(msg, sizeof msg - 4), "...", 4);
	n = snprintf(line, sizeof line, "%.*s%s%s%s\n", log_prefix ? 3 : 0,
	    (const char[]){ '<', (char)('0' + pri), '>' }, msg,
	    err != NULL ? ": " : "", err != NULL ? err : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

#define LOGFN(name, pri, witherr)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
	int saved = errno;					\
								\
	va_start(ap, fmt);					\
	vlog(pri, fmt, ap, witherr ? strerror(saved) : NULL);	\
	va_end(ap);						\
	errno = saved;						\
}

LOGFN(log_warn, 4, 1)
LOGFN(log_warnx, 4, 0)
LOGFN(log_info, 6, 0)
LOGFN(log_notice, 5, 0)

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(7, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(2, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(2, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
