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

#include "zhilid.h"

static int log_verbose;
static int log_prefix = 1;

void
log_init(int verbose, int prefix)
{
	log_verbose = verbose;
	log_prefix = prefix;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *err)
{
	char buf[4096];

	vsnprintf(buf, sizeof buf, fmt, ap);
	if (log_prefix)
		fprintf(stderr, "<%d>", pri);
	if (err != NULL)
		fprintf(stderr, "%s: %s\n", buf, err);
	else
		fprintf(stderr, "%s\n", buf);
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
