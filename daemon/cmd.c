/*
 * Socket commands, one row each in cmd_table[] (Suricata's unix manager):
 * the name, the role a peer needs, the keys it accepts and the handler.
 * Every handler queues exactly one response line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "store.h"

#define ALERTS_LIMIT_MAX	10000
#define HISTORY_LIMIT		100

struct cmd {
	const char	*name;
	unsigned	 role;
	const char	*keys[6];	/* accepted besides "cmd" */
	void		 (*fn)(struct client *, const cJSON *);
};

static void	cmd_ping(struct client *, const cJSON *);
static void	cmd_stats(struct client *, const cJSON *);
static void	cmd_get(struct client *, const cJSON *);
static void	cmd_alerts(struct client *, const cJSON *);
static void	cmd_ack(struct client *, const cJSON *);
static void	cmd_reload(struct client *, const cJSON *);
static void	cmd_subscribe(struct client *, const cJSON *);
static void	cmd_metrics(struct client *, const cJSON *);
static void	cmd_explain(struct client *, const cJSON *);
static void	cmd_dry_run(struct client *, const cJSON *);

static const struct cmd cmd_table[] = {
	{ "ping",	ROLE_READ,	{ NULL },		cmd_ping },
	{ "stats",	ROLE_READ,	{ NULL },		cmd_stats },
	{ "get",	ROLE_READ,	{ "kind", "id", NULL },	cmd_get },
	{ "alerts",	ROLE_READ,	{ "after", "limit", "rule", "acked",
	    "silenced", NULL },	cmd_alerts },
	{ "subscribe",	ROLE_READ,	{ NULL },		cmd_subscribe },
	{ "ack",	ROLE_ADMIN,	{ "alert", NULL },	cmd_ack },
	{ "reload",	ROLE_ADMIN,	{ NULL },		cmd_reload },
	/* issue 13: metrics */
	{ "metrics",	ROLE_READ,	{ NULL },		cmd_metrics },
	/* explain and dry_run */
	{ "explain",	ROLE_READ,	{ "kind", "id", NULL },	cmd_explain },
	{ "dry_run",	ROLE_READ,	{ "event", NULL },	cmd_dry_run },
	{ "map",	ROLE_READ,	{ "rule", "group", "after", "limit",
	    NULL },	cmd_map },
	/* silences (cmd-silence.c) */
	{ "silence",	ROLE_ADMIN,	{ "match", "until", "comment", NULL },
	    cmd_silence },
	{ "silences",	ROLE_READ,	{ "all", NULL },	cmd_silences },
	{ "unsilence",	ROLE_ADMIN,	{ "silence", NULL },	cmd_unsilence },
};
#define NCMD (sizeof cmd_table / sizeof cmd_table[0])

static const char *const role_names[] = { "push", "read", "admin" };

static void
bad(struct client *c, const char *cmd, const char *key, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof msg, "%s: %s: %s", cmd, key, what);
	client_error(c, E_BAD_EVENT, msg);
}

/* A non-negative integer argument; -1 if absent, -2 if bad. */
static int64_t
int_arg(const cJSON *req, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
	double d;

	if (v == NULL)
		return -1;
	if (!cJSON_IsNumber(v))
		return -2;
	d = v->valuedouble;
	if (d < 0 || d > 9007199254740992.0 || d != (double)(int64_t)d)
		return -2;
	return (int64_t)d;
}

/* The helpers above, for the handlers in other files (cmd-silence.c). */
void
cmd_bad(struct client *c, const char *cmd, const char *key, const char *what)
{
	bad(c, cmd, key, what);
}

/* A boolean argument: 0 or 1; -1 if absent, -2 if not a boolean. */
int
cmd_bool_arg(const cJSON *req, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);

	if (v == NULL)
		return -1;
	if (!cJSON_IsBool(v))
		return -2;
	return cJSON_IsTrue(v);
}

/* A standby answers ping and stats; both say which it is. */
static const char *
role_name(const struct server *srv)
{
	return server_standby(srv) != NULL ? "standby" : "active";
}

static void
cmd_ping(struct client *c, const cJSON *req)
{
	buf_addf(&c->out, "{\"ok\":true,\"version\":\"" ZHILID_VERSION "\","
	    "\"role\":\"%s\"}\n", role_name(c->srv));
}

static void
cmd_stats(struct client *c, const cJSON *req)
{
	struct server *srv = c->srv;
	struct engine *e = srv->eng;
	uint64_t commits = 0, syncs = 0, pruned = 0, prune_us = 0;
	uint64_t commit_us = 0;

	if (e->store != NULL)
		store_counts(e->store, &commits, &syncs);
	buf_addf(&c->out, "{\"ok\":true,\"stats\":{"
	    "\"version\":\"%s\",\"uptime\":%lld,\"generation\":%llu,"
	    "\"rules\":%zu,\"clients\":%u,\"lines\":%llu,\"events\":%llu,"
	    "\"duplicates\":%llu,\"errors\":%llu,\"alerts\":%llu,"
	    "\"batches\":%llu,\"commits\":%llu,\"syncs\":%llu,"
	    "\"commit_failures\":%llu,\"reloads\":%llu,"
	    "\"subscribers_dropped\":%llu,\"seq\":%lld,"
	    "\"entities_cached\":%zu,\"facts\":%zu,\"timers\":%zu,"
	    "\"timers_fired\":%llu",
	    ZHILID_VERSION, (long long)(clock_wall() - srv->started),
	    (unsigned long long)e->generation, srv->rs->nrules, srv->nclients,
	    (unsigned long long)srv->n_lines,
	    (unsigned long long)e->n_events,
	    (unsigned long long)e->n_duplicates,
	    (unsigned long long)srv->n_errors,
	    (unsigned long long)e->n_alerts,
	    (unsigned long long)e->n_batches, (unsigned long long)commits,
	    (unsigned long long)syncs,
	    (unsigned long long)e->n_commit_failures,
	    (unsigned long long)srv->n_reloads,
	    (unsigned long long)srv->n_dropped,
	    (long long)(e->next_seq - 1), e->cache.count,
	    facts_count(&e->facts), e->timers.n,
	    (unsigned long long)e->n_timers_fired);
	/* retention: events deleted, the longest deleting transaction */
	if (e->store != NULL)
		store_prune_counts(e->store, &pruned, &prune_us, &commit_us);
	buf_addf(&c->out, ",\"events_pruned\":%llu,\"prune_max_us\":%llu,"
	    "\"commit_max_us\":%llu", (unsigned long long)pruned,
	    (unsigned long long)prune_us, (unsigned long long)commit_us);
	/* active/standby */
	buf_addf(&c->out, ",\"role\":\"%s\"}}\n", role_name(srv));
}

/*
 * The entity that a command's kind and id name, after everything read so
 * far is committed; NULL with the error answered if there is none.  A
 * removed one is found: its file stays.
 */
static struct entity *
entity_arg(struct client *c, const cJSON *req, const char *cmd)
{
	struct server *srv = c->srv;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(req, "kind");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	struct entity *ent;
	struct kind *k;
	char msg[512];
	int err;

	if (!cJSON_IsString(kind))
		{
		bad(c, cmd, "kind", kind ? "expected string" :
		    "missing");
		return NULL;
	}
	if (!cJSON_IsString(id))
		{
		bad(c, cmd, "id", id ? "expected string" : "missing");
		return NULL;
	}
	server_sync(srv);	/* state and history of the same moment */
	if ((k = ruleset_kind(srv->rs, kind->valuestring)) == NULL) {
		utf8_snprintf(msg, sizeof msg, "%s: kind: unknown kind "
		    "'%.*s%s'", cmd, CLIP(kind->valuestring));
		client_error(c, E_BAD_EVENT, msg);
		return NULL;
	}
	ent = ecache_get(&srv->eng->cache, srv->store, k, id->valuestring,
	    &err);
	if (err) {
		client_error(c, E_UNAVAILABLE, "storage cannot be read");
		return NULL;
	}
	if (ent == NULL) {
		utf8_snprintf(msg, sizeof msg, "%s: unknown %s '%.*s%s'",
		    cmd, k->name, CLIP(id->valuestring));
		client_error(c, E_UNKNOWN_ENTITY, msg);
		return NULL;
	}
	return ent;
}

static void
cmd_get(struct client *c, const cJSON *req)
{
	struct server *srv = c->srv;
	struct entity *ent;
	struct kind *k;
	size_t mark;

	if ((ent = entity_arg(c, req, "get")) == NULL)
		return;
	k = ent->kind;
	mark = c->out.len;
	buf_adds(&c->out, "{\"ok\":true,\"entity\":");
	entity_json(ent, &c->out);
	engine_entity_json(srv->eng, ent, &c->out);
	buf_adds(&c->out, ",\"history\":");
	if (store_history_json(srv->store, k->name, ent->id, HISTORY_LIMIT,
	    &c->out) != 0) {
		c->out.len = mark;
		client_error(c, E_UNAVAILABLE, "storage cannot be read");
		return;
	}
	buf_adds(&c->out, "}}\n");
	engine_trim(srv->eng);
}

static void
cmd_alerts(struct client *c, const cJSON *req)
{
	const cJSON *rule = cJSON_GetObjectItemCaseSensitive(req, "rule");
	int64_t after = int_arg(req, "after");
	int64_t limit = int_arg(req, "limit");
	int64_t last = 0;
	int acked = cmd_bool_arg(req, "acked");
	int silenced = cmd_bool_arg(req, "silenced");
	size_t mark;

	if (after == -2)
		{
		bad(c, "alerts", "after", "expected a non-negative "
		    "integer");
		return;
	}
	if (limit == -2 || limit == 0 || limit > ALERTS_LIMIT_MAX)
		{
		bad(c, "alerts", "limit", "expected an integer in "
		    "1..10000");
		return;
	}
	if (rule != NULL && !cJSON_IsString(rule))
		{
		bad(c, "alerts", "rule", "expected string");
		return;
	}
	if (acked == -2 || silenced == -2) {
		bad(c, "alerts", acked == -2 ? "acked" : "silenced",
		    "expected true or false");
		return;
	}
	server_sync(c->srv);
	mark = c->out.len;
	buf_adds(&c->out, "{\"ok\":true,\"alerts\":[");
	if (store_alerts_json(c->srv->store, after < 0 ? 0 : after,
	    limit < 0 ? 1000 : limit, rule ? rule->valuestring : NULL,
	    acked, silenced == 1, &c->out, &last) != 0) {
		c->out.len = mark;
		client_error(c, E_UNAVAILABLE, "storage cannot be read");
		return;
	}
	buf_adds(&c->out, "]}\n");
}

/*
 * An admin's mark on one numbered record (ack: an alert; unsilence: a
 * silence), named by its id in key: fn makes it for the peer's uid in the
 * open batch, or answers -1 if there is no such record.  The answer waits
 * for the batch that records the mark.
 */
void
cmd_mark(struct client *c, const cJSON *req, const char *cmd,
    const char *key, int (*fn)(struct engine *, int64_t, int64_t))
{
	int64_t id = int_arg(req, key);
	struct ev_result res;
	char msg[128];

	if (id < 0) {
		snprintf(msg, sizeof msg, "expected %s %s id",
		    key[0] == 'a' ? "an" : "a", key);
		bad(c, cmd, key, id == -1 ? "missing" : msg);
		return;
	}
	if (fn(c->srv->eng, id, (int64_t)c->uid) != 0) {
		snprintf(msg, sizeof msg, "%s: unknown %s %lld", cmd, key,
		    (long long)id);
		client_error(c, E_UNKNOWN_ENTITY, msg);
		return;
	}
	memset(&res, 0, sizeof res);
	server_pend(c->srv, c, &res, PEND_ACK);
}

static void
cmd_ack(struct client *c, const cJSON *req)
{
	cmd_mark(c, req, "ack", "alert", engine_ack);
}

static void
cmd_reload(struct client *c, const cJSON *req)
{
	struct server *srv = c->srv;
	struct buf problems = { 0 };
	char *line, *save = NULL;
	int n = 0;

	if (server_reload(srv, &problems) == 0) {
		buf_addf(&c->out, "{\"ok\":true,\"generation\":%llu,"
		    "\"digest\":\"%s\",\"rules\":%zu,\"files\":%zu",
		    (unsigned long long)srv->eng->generation, srv->rs->digest,
		    srv->rs->nrules, srv->rs->nfiles);
		buf_add(&c->out, BUF_DATA(&srv->diff), BUF_LEN(&srv->diff));
		buf_adds(&c->out, "}\n");
		buf_free(&problems);
		return;
	}
	srv->n_errors++;
	srv->metrics.errors[E_BAD_RULES]++;
	buf_adds(&c->out, "{\"ok\":false,\"error\":{\"code\":\"bad_rules\","
	    "\"message\":\"reload failed; the old rules keep running\","
	    "\"problems\":[");
	for (line = strtok_r(problems.p, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (n++ > 0)
			buf_addc(&c->out, ',');
		buf_add_json_cstr(&c->out, line);
	}
	buf_adds(&c->out, "]}}\n");
	buf_free(&problems);
}

/*
 * Why the entity stands where it does under each rule of its kind; a
 * removed one is explained as removed (the rules have let go of it).
 */
static void
cmd_explain(struct client *c, const cJSON *req)
{
	struct entity *ent;
	char ts[40];

	if ((ent = entity_arg(c, req, "explain")) == NULL)
		return;
	buf_adds(&c->out, "{\"ok\":true,\"kind\":");
	buf_add_json_cstr(&c->out, ent->kind->name);
	buf_adds(&c->out, ",\"id\":");
	buf_add_json_cstr(&c->out, ent->id);
	buf_adds(&c->out, ",\"removed\":");
	if (ent->removed) {
		clock_format(ent->removed_ts, ts, sizeof ts);
		buf_addf(&c->out, "\"%s\"", ts);
	} else
		buf_adds(&c->out, "null");
	buf_adds(&c->out, ",\"explain\":");
	engine_explain(c->srv->eng, ent, &c->out);
	buf_adds(&c->out, "}\n");
	engine_trim(c->srv->eng);
}

/*
 * The answer that pushing the event would get, taken back (engine.c).
 * Like get, it first has everything read so far committed and answered:
 * it runs between batches, on the state a push would meet.
 */
static void
cmd_dry_run(struct client *c, const cJSON *req)
{
	struct server *srv = c->srv;
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(req, "event");
	struct request dr;
	enum errcode e;
	char msg[512], *line;

	if (!cJSON_IsObject(ev)) {
		bad(c, "dry_run", "event", ev ? "expected an event object" :
		    "missing");
		return;
	}
	if ((line = cJSON_PrintUnformatted(ev)) == NULL) {
		client_error(c, E_INTERNAL, "out of memory");
		return;
	}
	server_sync(srv);
	/* its tree joins the request's in the arena, reset with the next line */
	memset(&dr, 0, sizeof dr);
	e = decode_line(srv->rs, engine_now(srv->eng), line, strlen(line), &dr,
	    msg, sizeof msg);
	if (e == E_OK && dr.what != REQ_EVENT) {
		snprintf(msg, sizeof msg, "dry_run: event: expected an event "
		    "('type'), got a command");
		e = E_BAD_EVENT;
	}
	if (e == E_OK)
		e = engine_dry_run(srv->eng, &dr.ev, &c->out, msg, sizeof msg);
	if (e != E_OK)
		client_error(c, e, msg);
	free(dr.ev.fields);
	free(dr.ev.attrs);
	cJSON_free(line);
}

static void
cmd_subscribe(struct client *c, const cJSON *req)
{
	c->subscriber = 1;
	buf_adds(&c->out, "{\"ok\":true}\n");
}

/*
 * The OpenMetrics text, as of the last committed batch (the counters move
 * when batches come back from the writer).
 */
static void
cmd_metrics(struct client *c, const cJSON *req)
{
	struct buf text = { 0 };

	metrics_text(c->srv, &text, METRICS_OPENMETRICS);
	buf_adds(&c->out, "{\"ok\":true,\"text\":");
	buf_add_json_str(&c->out, BUF_DATA(&text), BUF_LEN(&text));
	buf_adds(&c->out, "}\n");
	buf_free(&text);
}

void
cmd_dispatch(struct client *c, const struct request *req)
{
	const struct cmd *cmd = NULL;
	const cJSON *v;
	char msg[256];
	size_t i, j;
	int role;

	for (i = 0; i < NCMD; i++)
		if (strcmp(cmd_table[i].name, req->cmd) == 0)
			cmd = &cmd_table[i];
	if (cmd == NULL) {
		utf8_snprintf(msg, sizeof msg, "unknown command '%.*s%s'",
		    CLIP(req->cmd));
		client_error(c, E_UNKNOWN_TYPE, msg);
		return;
	}
	for (v = req->root->child; v != NULL; v = v->next) {
		if (strcmp(v->string, "cmd") == 0)
			continue;
		for (j = 0; cmd->keys[j] != NULL; j++)
			if (strcmp(v->string, cmd->keys[j]) == 0)
				break;
		if (cmd->keys[j] == NULL) {
			utf8_snprintf(msg, sizeof msg, "%s: unknown field "
			    "'%.*s%s'", cmd->name, CLIP(v->string));
			client_error(c, E_BAD_EVENT, msg);
			return;
		}
	}
	if (!(c->roles & cmd->role)) {
		for (role = 0; (1u << role) != cmd->role; role++)
			;
		snprintf(msg, sizeof msg, "%s: this peer lacks role %s",
		    cmd->name, role_names[role]);
		client_error(c, E_FORBIDDEN, msg);
		return;
	}
	if (server_standby(c->srv) != NULL && cmd->fn != cmd_ping &&
	    cmd->fn != cmd_stats) {
		client_error(c, E_UNAVAILABLE, server_standby(c->srv));
		return;
	}
	cmd->fn(c, req->root);
}
