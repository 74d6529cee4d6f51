/*
 * The file output: ALERT JSON lines appended to a file, opened again on
 * SIGHUP so that logrotate can rename it.  Writes block on a slow disk,
 * which only holds up this output's thread.  A write that fails half way
 * (a full disk) is cut back to the last whole line, so that the file
 * never holds half an alert, and tried again later from there.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

static int
file_open(struct output *o)
{
	o->fd = open(o->conf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640);
	if (o->fd == -1) {
		output_error(o, "%s: %s", o->conf->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The stream offset where the last whole record before off ends. */
static uint64_t
line_start(const struct output *o, uint64_t off)
{
	uint64_t start = o->base;
	size_t i;

	for (i = o->head; i < o->head + o->nlines; i++) {
		if (o->lines[i].end > off)
			break;
		start = o->lines[i].end;
	}
	return start;
}

static int
file_write(struct output *o)
{
	uint64_t keep;
	off_t end;

	if (output_write_fd(o) == 0)
		return 0;
	output_error(o, "%s: %s", o->conf->path, strerror(errno));
	keep = line_start(o, o->sent);
	if (keep < o->sent && ((end = lseek(o->fd, 0, SEEK_END)) == -1 ||
	    ftruncate(o->fd, end - (off_t)(o->sent - keep)) == -1))
		log_warn("output %s: cannot cut half a line off %s", o->name,
		    o->conf->path);
	o->sent = keep;
	return -1;
}

static int
file_sync(struct output *o)
{
	if (!o->outs->sync || fdatasync(o->fd) == 0)
		return 0;
	output_error(o, "%s: cannot sync: %s", o->conf->path, strerror(errno));
	return -1;
}

static void
file_close(struct output *o, int stopping)
{
	if (o->fd != -1)
		close(o->fd);
	o->fd = -1;
}

const struct sink sink_file = {
	.type = "file",
	.backoff_max = 1,
	.format = output_format_json,
	.open = file_open,
	.write = file_write,
	.sync = file_sync,
	.close = file_close,
};
