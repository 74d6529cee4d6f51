/*
 * The silence commands (zhilid(8)): `silence` starts one, `silences` lists
 * them, `unsilence` ends one.  Like `ack`, a change is answered only once
 * the batch that records it is committed; the engine applies it at once,
 * so that every line read after it is judged with it.
 *
 * Times are on the daemon's clock, as timers are: the event clock in event
 * mode (so tests and replays are deterministic), the wall clock otherwise.
 * A silence covers the alerts raised while that clock is at or before its
 * `until`; one whose until is already past would cover nothing and is
 * refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "store.h"

void
cmd_silence(struct client *c, const cJSON *req)
{
	struct engine *e = c->srv->eng;
	const cJSON *until = cJSON_GetObjectItemCaseSensitive(req, "until");
	const cJSON *comment = cJSON_GetObjectItemCaseSensitive(req, "comment");
	struct silence *s;
	struct ev_result res;
	int64_t ts, now;
	char msg[512], t[40], *match;

	if (until == NULL || json_ts(until, &ts) != 0) {
		cmd_bad(c, "silence", "until", until == NULL ? "missing" :
		    "expected RFC 3339 with offset or Unix seconds");
		return;
	}
	if ((now = engine_now(e)) > ts) {
		clock_format(now, t, sizeof t);
		snprintf(msg, sizeof msg, "silence: until: already past (the "
		    "daemon's clock is at %s)", t);
		client_error(c, E_BAD_EVENT, msg);
		return;
	}
	if (comment != NULL && !cJSON_IsString(comment)) {
		cmd_bad(c, "silence", "comment", "expected string");
		return;
	}
	if ((s = silence_parse(cJSON_GetObjectItemCaseSensitive(req, "match"),
	    c->srv->rs, msg, sizeof msg)) == NULL) {
		client_error(c, E_BAD_EVENT, msg);
		return;
	}
	s->until = ts;
	if ((match = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(
	    req, "match"))) == NULL) {
		silence_free(s);
		client_error(c, E_INTERNAL, "out of memory");
		return;
	}
	memset(&res, 0, sizeof res);
	res.seq = engine_silence(e, s, match, comment != NULL ?
	    comment->valuestring : NULL, (int64_t)c->uid);
	cJSON_free(match);
	if (res.seq < 0) {
		silence_free(s);
		client_error(c, E_UNAVAILABLE, "database cannot be read; "
		    "resend the silence");
		return;
	}
	server_pend(c->srv, c, &res, PEND_SILENCE);
}

void
cmd_silences(struct client *c, const cJSON *req)
{
	int all = cmd_bool_arg(req, "all");
	size_t mark;

	if (all == -2) {
		cmd_bad(c, "silences", "all", "expected true or false");
		return;
	}
	server_sync(c->srv);
	mark = c->out.len;
	buf_adds(&c->out, "{\"ok\":true,\"silences\":");
	if (store_silences_json(c->srv->store, all == 1,
	    engine_now(c->srv->eng), &c->out) != 0) {
		c->out.len = mark;
		client_error(c, E_INTERNAL, "database read failed");
		return;
	}
	buf_adds(&c->out, "}\n");
}

/* Ending a silence that has ended or expired changes nothing. */
void
cmd_unsilence(struct client *c, const cJSON *req)
{
	cmd_mark(c, req, "unsilence", "silence", engine_unsilence);
}
