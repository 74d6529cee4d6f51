/*
 * The journal output: each alert a native journal entry with its fields
 * (ZHILID_RULE=, ZHILID_ENTITY=, ...), so that journalctl selects them by
 * field, sent with sd_journal_sendv(3).  PRIORITY follows the severity:
 * critical 2, warning 4, info 6.  libsystemd drops entries silently when
 * no journald listens; the output checks for its socket first, so that
 * a system without one shows a lag and a log line rather than nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <systemd/sd-journal.h>

#include "output.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"
#define JOURNAL_FIELDS	16

/* A field of a record: its length, then "NAME=value". */
static void
field(struct buf *b, const char *name, const char *v, size_t len)
{
	uint32_t n = (uint32_t)(strlen(name) + 1 + len);

	buf_add(b, &n, sizeof n);
	buf_adds(b, name);
	buf_addc(b, '=');
	buf_add(b, v, len);
}

static void
cfield(struct buf *b, const char *name, const char *v)
{
	if (v != NULL)
		field(b, name, v, strlen(v));
}

static void
journal_format(struct buf *b, const struct store_alert *a)
{
	char n[24], ts[40];

	field(b, "MESSAGE", a->message, a->msglen);
	cfield(b, "PRIORITY", strcmp(a->severity, "critical") == 0 ? "2" :
	    strcmp(a->severity, "warning") == 0 ? "4" : "6");
	cfield(b, "SYSLOG_IDENTIFIER", "zhilid");
	snprintf(n, sizeof n, "%lld", (long long)a->id);
	cfield(b, "ZHILID_ALERT_ID", n);
	cfield(b, "ZHILID_RULE", a->rule);
	cfield(b, "ZHILID_SEVERITY", a->severity);
	cfield(b, "ZHILID_KIND", a->kind);
	cfield(b, "ZHILID_ENTITY", a->entity);
	cfield(b, "ZHILID_PERIOD", a->period);
	cfield(b, "ZHILID_EVENT", a->event);
	clock_format(a->ts, ts, sizeof ts);
	cfield(b, "ZHILID_TS", ts);
	cfield(b, "ZHILID_DATA", a->data);
}

static int
journal_open(struct output *o)
{
	struct stat st;

	if (stat(JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode))
		return 0;
	output_error(o, "no journal listens on %s", JOURNAL_SOCKET);
	return -1;
}

/* Send the records from o->sent, one entry each. */
static int
journal_write(struct output *o)
{
	struct iovec iov[JOURNAL_FIELDS];
	const char *p, *end = o->out.p + o->out.len;
	uint32_t len;
	int n, rc;

	p = o->out.p + (o->sent - o->base);
	while (p < end) {
		/* a record ends where the next starts with MESSAGE */
		n = 0;
		do {
			memcpy(&len, p, sizeof len);
			iov[n].iov_base = (void *)(uintptr_t)(p + sizeof len);
			iov[n].iov_len = len;
			p += sizeof len + len;
			n++;
		} while (p < end && n < JOURNAL_FIELDS &&
		    memcmp(p + sizeof len, "MESSAGE=", 8) != 0);
		if ((rc = sd_journal_sendv(iov, n)) < 0) {
			output_error(o, "sd_journal_sendv: %s", strerror(-rc));
			return -1;
		}
		o->sent = o->base + (uint64_t)(p - o->out.p);
	}
	return 0;
}

static void
journal_close(struct output *o, int stopping)
{
}

const struct sink sink_journal = {
	.type = "journal",
	.backoff_max = 1,
	.format = journal_format,
	.open = journal_open,
	.write = journal_write,
	.close = journal_close,
};
