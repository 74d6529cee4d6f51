/*
 * Silences (zhilid(8), "Acknowledging and silencing"): an operator's
 * matcher over the alerts raised until a moment.  A silenced alert is
 * still committed and answered to the event that raised it; it carries
 * the silence's id, and is not published to subscribers.
 *
 * Every alert raised is checked, so the check must cost nothing without
 * silences and little with thousands.  Each silence is indexed by one of
 * its exact values (its entity, else its first field value, else its exact
 * rule, else the part before the first '.' of its rule prefix, as in
 * "four_color.*") in one hash table keyed by the value alone; an alert
 * probes the table with each of those of its own that some silence is
 * indexed by, and then tests every silence that has none of them (a short
 * rule prefix, a kind or a severity alone).  A probe may find a silence
 * whose value only collides; the full test of every candidate sorts that
 * out.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

enum { SIX_ENTITY, SIX_FIELD, SIX_RULE, SIX_FAMILY, SIX_NONE };

void
silence_free(struct silence *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nfields; i++) {
		free(s->fields[i]);
		free(s->values[i]);
	}
	free(s->fields);
	free(s->values);
	free(s->rule);
	free(s->kind);
	free(s->entity);
	free(s);
}

/* Is name a field that some kind of the rules declares? */
static int
declared_field(const struct ruleset *rs, const struct kind *only,
    const char *name)
{
	size_t i, j;

	for (i = 0; i < rs->nkinds; i++) {
		if (only != NULL && rs->kinds[i] != only)
			continue;
		for (j = 0; j < rs->kinds[i]->nfields; j++)
			if (strcmp(rs->kinds[i]->fields[j], name) == 0)
				return 1;
	}
	return 0;
}

#define SBAD(...) do { utf8_snprintf(msg, msglen, __VA_ARGS__); \
	goto fail; } while (0)

/*
 * A silence from the `silence` command's match object, or NULL with msg
 * saying which key is wrong and how.  With rs, kind must name one of its
 * kinds and every other key a field declared by that kind (by any kind
 * if none is given); without (a stored silence, read back at start under
 * rules that may have changed since), any key is taken as a field.
 */
struct silence *
silence_parse(const cJSON *match, const struct ruleset *rs, char *msg,
    size_t msglen)
{
	struct silence *s;
	const struct kind *k = NULL;
	const cJSON *v;
	const char *str, *star;
	size_t n = 0;
	int sev;

	if (!cJSON_IsObject(match)) {
		utf8_snprintf(msg, msglen, "silence: match: %s",
		    match == NULL ? "missing" : "expected an object");
		return NULL;
	}
	s = xcalloc(1, sizeof *s);
	s->severity = -1;
	cJSON_ArrayForEach(v, match)
		n++;
	if (n == 0)
		SBAD("silence: match: expected at least one key (rule, kind, "
		    "entity, severity or a field)");
	s->fields = xcalloc(n, sizeof *s->fields);
	s->values = xcalloc(n, sizeof *s->values);
	cJSON_ArrayForEach(v, match) {
		if (!cJSON_IsString(v) || *v->valuestring == '\0')
			SBAD("silence: match.%.*s%s: expected a non-empty "
			    "string", CLIP(v->string));
		str = v->valuestring;
		if (strcmp(v->string, "rule") == 0) {
			star = strchr(str, '*');
			if (star != NULL && star[1] != '\0')
				SBAD("silence: match.rule: '*' may only end "
				    "the rule (a prefix), in '%.*s%s'",
				    CLIP(str));
			s->rule = xstrdup(str);
			s->rule_len = star != NULL ? (size_t)(star - str) :
			    strlen(str);
			s->prefix = star != NULL;
		} else if (strcmp(v->string, "kind") == 0) {
			if (rs != NULL && (k = ruleset_kind(rs, str)) == NULL)
				SBAD("silence: match.kind: unknown kind "
				    "'%.*s%s'", CLIP(str));
			s->kind = xstrdup(str);
		} else if (strcmp(v->string, "entity") == 0)
			s->entity = xstrdup(str);
		else if (strcmp(v->string, "severity") == 0) {
			for (sev = 0; sev < 3; sev++)
				if (strcmp(str, severity_name(sev)) == 0)
					s->severity = sev;
			if (s->severity < 0)
				SBAD("silence: match.severity: expected "
				    "critical, warning or info, got '%.*s%s'",
				    CLIP(str));
		} else {
			s->fields[s->nfields] = xstrdup(v->string);
			s->values[s->nfields++] = xstrdup(str);
		}
	}
	/* fields are checked once the kind, wherever it came, is known */
	for (n = 0; rs != NULL && n < s->nfields; n++)
		if (!declared_field(rs, k, s->fields[n]))
			SBAD("silence: match.%.*s%s: not rule, kind, entity, "
			    "severity or a field that %s%s declares",
			    CLIP(s->fields[n]), k != NULL ? "kind " :
			    "any kind", k != NULL ? k->name : "");
	return s;
fail:
	silence_free(s);
	return NULL;
}

/* FNV-1a of the first len bytes of v, as bloom_hash of a string. */
static uint64_t
key_hash(const char *v, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)v[i]) * 0x100000001b3ULL;
	return h;
}

/* The length of a rule's family: its name up to the first '.', or 0. */
static size_t
family_len(const char *rule, size_t len)
{
	const char *dot = memchr(rule, '.', len);

	return dot != NULL ? (size_t)(dot - rule) : 0;
}

/* The hash of the value a silence is indexed by, and which key it is. */
static uint64_t
silence_key(const struct silence *s, int *which)
{
	size_t n;

	*which = SIX_NONE;
	if (s->entity != NULL) {
		*which = SIX_ENTITY;
		return key_hash(s->entity, strlen(s->entity));
	}
	if (s->nfields > 0) {
		*which = SIX_FIELD;
		return key_hash(s->values[0], strlen(s->values[0]));
	}
	if (s->rule != NULL && !s->prefix) {
		*which = SIX_RULE;
		return key_hash(s->rule, s->rule_len);
	}
	if (s->rule != NULL && (n = family_len(s->rule, s->rule_len)) > 0) {
		*which = SIX_FAMILY;
		return key_hash(s->rule, n);
	}
	return 0;
}

/* Put s in its bucket, or at the end of the rest (in id order). */
static void
index_one(struct silences *ss, struct silence *s)
{
	int which;

	s->hnext = NULL;
	s->hash = silence_key(s, &which);
	ss->nindex[which]++;
	if (which == SIX_NONE) {
		*ss->rest_tail = s;
		ss->rest_tail = &s->hnext;
		return;
	}
	s->hnext = ss->buckets[s->hash & (ss->nbuckets - 1)];
	ss->buckets[s->hash & (ss->nbuckets - 1)] = s;
}

/*
 * Index the silences again, leaving out those past now: they can match
 * nothing more (the clock does not go back).  Silences change seldom:
 * a new one is indexed alone while the table has room, and the rest
 * rebuilds it.
 */
static void
silences_index(struct silences *ss, int64_t now)
{
	size_t i, n = 0, nb;

	for (i = 0; i < ss->n; i++) {
		if (ss->all[i]->until >= now) {
			ss->all[n++] = ss->all[i];
			continue;
		}
		silence_free(ss->all[i]);
	}
	ss->n = n;
	for (nb = 16; nb < 2 * n; nb *= 2)
		;
	if (nb != ss->nbuckets) {
		free(ss->buckets);
		ss->buckets = xcalloc(nb, sizeof *ss->buckets);
		ss->nbuckets = nb;
	} else
		memset(ss->buckets, 0, nb * sizeof *ss->buckets);
	memset(ss->nindex, 0, sizeof ss->nindex);
	ss->rest = NULL;
	ss->rest_tail = &ss->rest;
	for (i = 0; i < n; i++)
		index_one(ss, ss->all[i]);
}

/* ids only grow: the set stays in id order */
static void
silences_put(struct silences *ss, struct silence *s)
{
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? ss->cap * 2 : 16;
		ss->all = xreallocarray(ss->all, ss->cap, sizeof *ss->all);
	}
	ss->all[ss->n++] = s;
}

/* Take s (its id set) into the set. */
void
silences_add(struct silences *ss, struct silence *s, int64_t now)
{
	silences_put(ss, s);
	if (2 * ss->n > ss->nbuckets)
		silences_index(ss, now);
	else
		index_one(ss, s);
}

/* End silence id if the set holds it. */
void
silences_end(struct silences *ss, int64_t id, int64_t now)
{
	size_t i;

	for (i = 0; i < ss->n; i++)
		if (ss->all[i]->id == id) {
			ss->all[i]->until = -1;	/* left out by the index */
			break;
		}
	silences_index(ss, now);
}

/* How many silences can still cover an alert. */
size_t
silences_active(const struct silences *ss, int64_t now)
{
	size_t i, n = 0;

	for (i = 0; i < ss->n; i++)
		if (ss->all[i]->until >= now)
			n++;
	return n;
}

void
silences_clear(struct silences *ss)
{
	size_t i;

	for (i = 0; i < ss->n; i++)
		silence_free(ss->all[i]);
	free(ss->all);
	free(ss->buckets);
	ss->all = ss->buckets = NULL;
	ss->n = ss->cap = ss->nbuckets = 0;
	ss->rest = NULL;
	ss->rest_tail = &ss->rest;
	memset(ss->nindex, 0, sizeof ss->nindex);
}

static void
load_row(void *arg, const struct store_row *row)
{
	struct silences *ss = arg;
	struct silence *s;
	cJSON *m;
	char msg[256];

	m = row->s[0] != NULL ? cJSON_Parse(row->s[0]) : NULL;
	if ((s = silence_parse(m, NULL, msg, sizeof msg)) == NULL) {
		log_warnx("database: silence %lld: %s; it is left out",
		    (long long)row->i[1], msg);
		cJSON_Delete(m);
		return;
	}
	cJSON_Delete(m);
	s->id = row->i[1];
	s->until = row->i[2];
	silences_put(ss, s);
}

/* The silences not ended, read again from the store. */
int
silences_load(struct silences *ss, struct store *st, int64_t now)
{
	silences_clear(ss);
	if (store_select(st, TB_SILENCES, load_row, ss) != 0)
		return -1;
	silences_index(ss, now);
	return 0;
}

/* What a silence is tested against: the alert, its entity once looked up. */
struct probe {
	struct engine		*eng;
	const char		*rule, *kind, *entity;
	int			 severity;
	const struct entity	*ent;
	int			 looked;
};

/* The alert's entity, whose fields some silences name; NULL if none. */
static const struct entity *
probe_entity(struct probe *p, const struct alert_out *a)
{
	struct kind *k;
	int err = 0;

	if (p->looked)
		return p->ent;
	p->looked = 1;
	if (a->ent != NULL && strcmp(a->ent->id, p->entity) == 0 &&
	    strcmp(a->ent->kind->name, p->kind) == 0)
		return p->ent = a->ent;
	if ((k = ruleset_kind(p->eng->rs, p->kind)) != NULL)
		p->ent = ecache_get(&p->eng->cache, p->eng->store, k,
		    p->entity, &err);
	return p->ent;
}

static const char *
field_value(const struct entity *ent, const char *name)
{
	const struct kind *k = ent->kind;
	size_t i;

	for (i = 0; i < k->nfields; i++)
		if (strcmp(k->fields[i], name) == 0)
			return ent->vals[k->nattrs + i].s;
	return NULL;
}

static int
covers(const struct silence *s, struct probe *p, const struct alert_out *a,
    int64_t now)
{
	const struct entity *ent = NULL;
	const char *v;
	size_t i;

	if (s->until < now)
		return 0;
	if (s->severity >= 0 && s->severity != p->severity)
		return 0;
	if (s->rule != NULL && (s->prefix ? strncmp(p->rule, s->rule,
	    s->rule_len) : strcmp(p->rule, s->rule)) != 0)
		return 0;
	if (s->kind != NULL && strcmp(p->kind, s->kind) != 0)
		return 0;
	if (s->entity != NULL && strcmp(p->entity, s->entity) != 0)
		return 0;
	if (s->nfields > 0 && (ent = probe_entity(p, a)) == NULL)
		return 0;
	for (i = 0; i < s->nfields; i++)
		if ((v = field_value(ent, s->fields[i])) == NULL ||
		    strcmp(v, s->values[i]) != 0)
			return 0;
	return 1;
}

/*
 * The lowest id of the silences that cover the alert in the bucket of the
 * first len bytes of key, or best if lower.
 */
static int64_t
probe_bucket(const struct silences *ss, const char *key, size_t len,
    struct probe *p, const struct alert_out *a, int64_t now, int64_t best)
{
	const struct silence *s;
	uint64_t h;

	if (key == NULL)
		return best;
	h = key_hash(key, len);
	for (s = ss->buckets[h & (ss->nbuckets - 1)]; s != NULL; s = s->hnext)
		if (s->hash == h && (best == 0 || s->id < best) &&
		    covers(s, p, a, now))
			best = s->id;
	return best;
}

/*
 * The id of the silence that covers an alert being raised (the lowest,
 * if several do), or 0.  The caller has seen that there are silences.
 */
int64_t
silences_match(struct engine *e, const struct alert_out *a,
    const char *rule, int severity)
{
	struct silences *ss = &e->silences;
	struct probe p = { e, rule, a->kind, a->entity, severity, NULL, 0 };
	const struct entity *ent;
	const struct silence *s;
	const char *v;
	int64_t now = engine_now(e), best = 0;
	size_t i, n = strlen(rule);

	if (ss->nindex[SIX_ENTITY] > 0)
		best = probe_bucket(ss, a->entity, strlen(a->entity), &p, a,
		    now, best);
	if (ss->nindex[SIX_RULE] > 0)
		best = probe_bucket(ss, rule, n, &p, a, now, best);
	if (ss->nindex[SIX_FAMILY] > 0 && (n = family_len(rule, n)) > 0)
		best = probe_bucket(ss, rule, n, &p, a, now, best);
	if (ss->nindex[SIX_FIELD] > 0 && (ent = probe_entity(&p, a)) != NULL)
		for (i = 0; i < ent->kind->nfields; i++)
			if ((v = ent->vals[ent->kind->nattrs + i].s) != NULL)
				best = probe_bucket(ss, v, strlen(v), &p, a,
				    now, best);
	for (s = ss->rest; s != NULL && (best == 0 || s->id < best);
	    s = s->hnext)
		if (covers(s, &p, a, now))
			best = s->id;
	return best;
}
