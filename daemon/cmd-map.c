/*
 * The map command: what `zhilictl map` draws for a classify rule, in
 * pages.  The rule's kind groups its entities by its first declared field
 * (a household's community) and, within a group, by its second (its grid).
 *
 * Without "group", the overview: every group with live entities, in id
 * order, with their count in all and per class, read from the count rule
 * that keeps them (count of: KIND, by: FIRST FIELD, classes: RULE), so
 * that nothing is scanned however many entities there are.  With "group":
 * the group's live entities in id order, each with its second field, its
 * class and the attributes that its class's condition read, through the
 * store's index on the first field (schema 005).
 *
 * A page ends after "limit" entries (default and most 10000) or before its
 * answer passes a quarter of limits.max_output_bytes, whichever comes
 * first; "next" is the id to pass as "after" for the next page, null after
 * the last.  The rule's default is the one classify rule that a count rule
 * counts in that way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "store.h"

#define MAP_LIMIT_MAX	10000
#define MAP_WHY_MAX	32	/* attributes shown per entity */

struct map_page {
	struct buf	*out;
	const struct rule *rule;
	const struct klass *cls;
	size_t		 ncls;
	const char	*within;	/* the second field, or NULL */
	size_t		 budget;	/* bytes the page may take */
	int64_t		 limit, n;
	char		*last;		/* id of the last entry written */
	int		 more;		/* an entry was left for the next page */
	int		 bad;		/* a stored state could not be read */
};

/* A JSON value as it is stored (a number, bool, string or null). */
static void
value_json(struct buf *b, const cJSON *v)
{
	char num[64];

	if (cJSON_IsString(v))
		buf_add_json_cstr(b, v->valuestring);
	else if (cJSON_IsNumber(v) && cJSON_PrintPreallocated((cJSON *)v,
	    num, sizeof num, 0))
		buf_adds(b, num);
	else if (cJSON_IsBool(v))
		buf_adds(b, cJSON_IsTrue(v) ? "true" : "false");
	else
		buf_adds(b, "null");
}

/* Whether one more entry fits the page; if not, note that more follow. */
static int
page_full(struct map_page *p)
{
	if (p->n >= p->limit || (p->n > 0 && BUF_LEN(p->out) > p->budget)) {
		p->more = 1;
		return 1;
	}
	return 0;
}

static void
page_entry(struct map_page *p, const char *id)
{
	if (p->n++ > 0)
		buf_addc(p->out, ',');
	free(p->last);
	p->last = xstrdup(id);
}

/* One live entity of the group: id, second field, class and why. */
static int
entity_row(void *arg, const char *id, const char *state)
{
	struct map_page *p = arg;
	const struct kind *k = p->rule->kind;
	const cJSON *attrs, *fields, *cname;
	int slots[MAP_WHY_MAX];
	size_t i, n = 0, c;
	cJSON *root;

	if (page_full(p))
		return 1;
	if ((root = cJSON_Parse(state)) == NULL) {
		p->bad = 1;
		return 1;
	}
	attrs = cJSON_GetObjectItemCaseSensitive(root, "attrs");
	fields = cJSON_GetObjectItemCaseSensitive(root, "fields");
	cname = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    root, "classes"), p->rule->name);
	for (c = 0; c < p->ncls; c++)	/* a class no longer known: the last */
		if (cJSON_IsString(cname) &&
		    strcmp(p->cls[c].name, cname->valuestring) == 0)
			break;
	if (c == p->ncls)
		c = p->ncls - 1;
	page_entry(p, id);
	buf_adds(p->out, "{\"id\":");
	buf_add_json_cstr(p->out, id);
	if (p->within != NULL) {
		buf_addc(p->out, ',');
		buf_add_json_cstr(p->out, p->within);
		buf_addc(p->out, ':');
		value_json(p->out, cJSON_GetObjectItemCaseSensitive(fields,
		    p->within));
	}
	buf_adds(p->out, ",\"class\":");
	buf_add_json_cstr(p->out, p->cls[c].name);
	buf_adds(p->out, ",\"why\":{");
	if (p->cls[c].when != NULL)
		n = expr_reads(p->cls[c].when, slots, MAP_WHY_MAX);
	for (i = 0; i < n; i++) {
		const char *name = k->names[slots[i]];
		size_t slot = (size_t)slots[i];

		if (i > 0)
			buf_addc(p->out, ',');
		buf_add_json_cstr(p->out, name);
		buf_addc(p->out, ':');
		value_json(p->out, cJSON_GetObjectItemCaseSensitive(
		    slot < k->nattrs ? attrs : fields, name));
	}
	buf_adds(p->out, "}}");
	cJSON_Delete(root);
	return 0;
}

struct group_ref {
	const char	*id;
	const int64_t	*n;
};

struct groups {
	struct group_ref *v;
	size_t		  n, cap;
};

static void
group_add(void *arg, const char *id, const int64_t *n)
{
	struct groups *g = arg;

	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		g->v = xreallocarray(g->v, g->cap, sizeof *g->v);
	}
	g->v[g->n].id = id;
	g->v[g->n++].n = n;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct group_ref *)a)->id,
	    ((const struct group_ref *)b)->id);
}

/* The overview's page: groups after `after`, from the count rule cr. */
static void
overview(struct map_page *p, const struct rule *cr, const char *after)
{
	struct groups g = { NULL, 0, 0 };
	size_t i, c;

	count_each(cr, group_add, &g);
	if (g.n > 0)
		qsort(g.v, g.n, sizeof *g.v, by_id);
	for (i = 0; i < g.n; i++) {
		if (strcmp(g.v[i].id, after) <= 0)
			continue;
		if (page_full(p))
			break;
		page_entry(p, g.v[i].id);
		buf_adds(p->out, "{\"id\":");
		buf_add_json_cstr(p->out, g.v[i].id);
		buf_addf(p->out, ",\"total\":%lld,\"counts\":{",
		    (long long)g.v[i].n[0]);
		for (c = 0; c < p->ncls; c++) {
			if (c > 0)
				buf_addc(p->out, ',');
			buf_add_json_cstr(p->out, p->cls[c].name);
			buf_addf(p->out, ":%lld", (long long)g.v[i].n[1 + c]);
		}
		buf_adds(p->out, "}}");
	}
	free(g.v);
}

/* The count rule that keeps r's overview, or NULL. */
static const struct rule *
overview_rule(const struct ruleset *rs, const struct rule *r)
{
	if (r->kind->nfields == 0)
		return NULL;
	return count_find(rs, r->kind, r->kind->nattrs, r);
}

/*
 * The rule asked for, or the default; NULL with msg set if there is none.
 */
static const struct rule *
map_rule(const struct ruleset *rs, const cJSON *name, char *msg, size_t len)
{
	const struct rule *r, *found = NULL;
	size_t i, n = 0;

	if (name != NULL) {
		if ((r = ruleset_rule(rs, name->valuestring)) == NULL ||
		    r->prim != &prim_classify) {
			utf8_snprintf(msg, len, "map: rule: no classify rule "
			    "'%.*s%s'", CLIP(name->valuestring));
			return NULL;
		}
		if (r->kind->nfields == 0) {
			snprintf(msg, len, "map: rule: %s classifies %s, "
			    "whose kind declares no field to group by",
			    r->name, r->kind->name);
			return NULL;
		}
		return r;
	}
	for (i = 0; i < rs->nrules; i++)
		if (rs->rules[i]->prim == &prim_classify &&
		    overview_rule(rs, rs->rules[i]) != NULL) {
			found = rs->rules[i];
			n++;
		}
	if (n == 1)
		return found;
	snprintf(msg, len, "map: rule: missing, and %s", n == 0 ? "no "
	    "classify rule has its classes counted by a count rule" :
	    "more than one classify rule could be meant");
	return NULL;
}

static void
header(struct map_page *p, const struct server *srv, const char *group)
{
	const struct rule *r = p->rule;
	const char *desc = ruleset_desc(srv->rs, r);
	char ts[40];
	size_t c;

	clock_format(clock_wall(), ts, sizeof ts);
	buf_adds(p->out, "{\"ok\":true,\"map\":{\"rule\":");
	buf_add_json_cstr(p->out, r->name);
	buf_adds(p->out, ",\"kind\":");
	buf_add_json_cstr(p->out, r->kind->name);
	buf_adds(p->out, ",\"title\":");
	if (desc != NULL)
		buf_add_json_cstr(p->out, desc);
	else
		buf_adds(p->out, "null");
	buf_addf(p->out, ",\"generation\":%llu,\"read\":",
	    (unsigned long long)srv->eng->generation);
	buf_add_json_cstr(p->out, ts);
	buf_adds(p->out, ",\"by\":");
	buf_add_json_cstr(p->out, r->kind->fields[0]);
	buf_adds(p->out, ",\"within\":");
	if (p->within != NULL)
		buf_add_json_cstr(p->out, p->within);
	else
		buf_adds(p->out, "null");
	buf_adds(p->out, ",\"classes\":[");
	for (c = 0; c < p->ncls; c++) {
		buf_adds(p->out, c > 0 ? ",{\"class\":" : "{\"class\":");
		buf_add_json_cstr(p->out, p->cls[c].name);
		buf_adds(p->out, ",\"label\":");
		buf_add_json_cstr(p->out, p->cls[c].label);
		buf_adds(p->out, ",\"color\":");
		if (p->cls[c].color != NULL)
			buf_add_json_cstr(p->out, p->cls[c].color);
		else
			buf_adds(p->out, "null");
		buf_addc(p->out, '}');
	}
	buf_addc(p->out, ']');
	if (group != NULL) {
		buf_adds(p->out, ",\"group\":");
		buf_add_json_cstr(p->out, group);
	}
	buf_adds(p->out, group != NULL ? ",\"entities\":[" : ",\"groups\":[");
}

static const char *
str_arg(struct client *c, const cJSON *req, const char *key, int *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
	char msg[128];

	if (v == NULL)
		return NULL;
	if (!cJSON_IsString(v)) {
		snprintf(msg, sizeof msg, "map: %s: expected string, got %s",
		    key, cJSON_IsNumber(v) ? "number" : cJSON_IsBool(v) ?
		    "boolean" : cJSON_IsNull(v) ? "null" : cJSON_IsArray(v) ?
		    "array" : "object");
		client_error(c, E_BAD_EVENT, msg);
		*bad = 1;
		return NULL;
	}
	return v->valuestring;
}

void
cmd_map(struct client *c, const cJSON *req)
{
	struct server *srv = c->srv;
	const cJSON *limit = cJSON_GetObjectItemCaseSensitive(req, "limit");
	const char *group, *after;
	const struct rule *cr = NULL;
	struct map_page p;
	size_t slot, mark;
	char msg[512];
	int bad = 0;

	memset(&p, 0, sizeof p);
	group = str_arg(c, req, "group", &bad);
	after = bad ? NULL : str_arg(c, req, "after", &bad);
	if (!bad)
		(void)str_arg(c, req, "rule", &bad);
	if (bad)
		return;
	p.limit = MAP_LIMIT_MAX;
	if (limit != NULL) {
		if (!cJSON_IsNumber(limit) || limit->valuedouble < 1 ||
		    limit->valuedouble > MAP_LIMIT_MAX ||
		    limit->valuedouble != (double)(int64_t)limit->valuedouble) {
			client_error(c, E_BAD_EVENT, "map: limit: expected an "
			    "integer in 1..10000");
			return;
		}
		p.limit = (int64_t)limit->valuedouble;
	}
	if ((p.rule = map_rule(srv->rs, cJSON_GetObjectItemCaseSensitive(req,
	    "rule"), msg, sizeof msg)) == NULL) {
		client_error(c, E_BAD_EVENT, msg);
		return;
	}
	if (group == NULL && (cr = overview_rule(srv->rs, p.rule)) == NULL) {
		snprintf(msg, sizeof msg, "map: the overview of %s needs a "
		    "count rule with of: %s, by: %s, classes: %s",
		    p.rule->name, p.rule->kind->name, p.rule->kind->fields[0],
		    p.rule->name);
		client_error(c, E_BAD_EVENT, msg);
		return;
	}
	p.cls = classify_classes(p.rule, &p.ncls, &slot);
	p.within = p.rule->kind->nfields > 1 ? p.rule->kind->fields[1] : NULL;
	p.out = &c->out;
	server_sync(srv);	/* the counts and the store of one moment */
	mark = BUF_LEN(&c->out);
	p.budget = mark + (size_t)srv->conf->max_output_bytes / 4;
	header(&p, srv, group);
	if (group == NULL)
		overview(&p, cr, after != NULL ? after : "");
	else if (store_group_rows(srv->store, p.rule->kind->name, group,
	    after != NULL ? after : "", p.limit + 1, entity_row, &p) != 0 ||
	    p.bad) {
		c->out.len = mark;
		free(p.last);
		client_error(c, E_UNAVAILABLE, "storage cannot be read");
		return;
	}
	buf_adds(&c->out, "],\"next\":");
	if (p.more)
		buf_add_json_cstr(&c->out, p.last);
	else
		buf_adds(&c->out, "null");
	buf_adds(&c->out, "}}\n");
	free(p.last);
	engine_trim(srv->eng);
}
