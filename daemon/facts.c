/*
 * Facts: what the stateful primitives keep per rule, entity and period (a
 * score's parts and total, a rank's outcome, a band's level), the periods
 * closed per cycle and group, marks on entities that expire, and spans
 * (an entity held in a group, and the periods in which it did its duty).
 *
 * All of it is held in memory, loaded from the store at start and after a
 * failed commit, and written through as operations of the open batch: the
 * loop thread therefore reads its own uncommitted writes, and a reload of
 * the rules starts from what was committed.  There are few of them (one
 * per assessed party and period), unlike households or work orders.
 * Strings are interned so that keys compare by address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"
#include "store.h"

struct fent {
	struct kentry	 ke;		/* kind entity */
	struct fact	*facts;
};

/* The facts of a rule and period whose group is one, chained by gnext. */
struct fgroup {
	struct kentry	 ke;		/* rule grp - - period */
	struct fact	*facts;
};

struct closure {
	struct kentry	 ke;		/* cycle grp - - period */
};

static void
key_put(struct kentry *e)
{
	int i;

	for (i = 0; i < KMAP_KEYS; i++)
		intern_put(e->k[i]);
}

struct fact *
facts_find(struct facts *fs, const char *rule, const char *kind,
    const char *entity, int32_t period)
{
	const char *r = intern_find(rule), *k = intern_find(kind);
	const char *e = intern_find(entity);

	if (r == NULL || k == NULL || e == NULL)
		return NULL;
	return (struct fact *)kmap_find(&fs->facts, r, k, e, NULL, period);
}

/* The facts of one entity, chained through enext. */
struct fact *
facts_of(struct facts *fs, const char *kind, const char *entity)
{
	const char *k = intern_find(kind), *e = intern_find(entity);
	struct fent *fe;

	if (k == NULL || e == NULL)
		return NULL;
	fe = (struct fent *)kmap_find(&fs->ents, k, e, NULL, NULL, 0);
	return fe != NULL ? fe->facts : NULL;
}

static void
group_link(struct facts *fs, struct fact *f)
{
	struct fgroup *fg;

	if (f->grp == NULL)
		return;
	fg = (struct fgroup *)kmap_find(&fs->groups, FACT_RULE(f), f->grp,
	    NULL, NULL, FACT_PERIOD(f));
	if (fg == NULL) {
		fg = xcalloc(1, sizeof *fg);
		kentry_key(&fg->ke, intern_ref(FACT_RULE(f)),
		    intern_ref(f->grp), NULL, NULL, FACT_PERIOD(f));
		kmap_insert(&fs->groups, &fg->ke);
	}
	if ((f->gnext = fg->facts) != NULL)
		f->gnext->gprev = &f->gnext;
	fg->facts = f;
	f->gprev = &fg->facts;
}

/* Take a fact out of its group's chain; an empty chain goes. */
static void
group_unlink(struct facts *fs, struct fact *f)
{
	struct fgroup *fg;

	if (f->gprev == NULL)
		return;
	if ((*f->gprev = f->gnext) != NULL)
		f->gnext->gprev = f->gprev;
	f->gnext = NULL;
	f->gprev = NULL;
	fg = (struct fgroup *)kmap_find(&fs->groups, FACT_RULE(f), f->grp,
	    NULL, NULL, FACT_PERIOD(f));
	if (fg != NULL && fg->facts == NULL) {
		kmap_remove(&fs->groups, &fg->ke);
		key_put(&fg->ke);
		free(fg);
	}
}

/* The fact of (rule, kind, entity, period), created empty if need be. */
struct fact *
facts_put(struct facts *fs, const char *rule, const char *kind,
    const char *entity, int32_t period)
{
	struct fact *f;
	struct fent *fe;
	const char *k, *e;

	if ((f = facts_find(fs, rule, kind, entity, period)) != NULL)
		return f;
	f = xcalloc(1, sizeof *f);
	kentry_key(&f->ke, intern_get(rule), intern_get(kind),
	    intern_get(entity), NULL, period);
	kmap_insert(&fs->facts, &f->ke);
	k = FACT_KIND(f);
	e = FACT_ENTITY(f);
	if ((fe = (struct fent *)kmap_find(&fs->ents, k, e, NULL, NULL, 0)) ==
	    NULL) {
		fe = xcalloc(1, sizeof *fe);
		kentry_key(&fe->ke, intern_get(k), intern_get(e), NULL, NULL, 0);
		kmap_insert(&fs->ents, &fe->ke);
	}
	f->enext = fe->facts;
	fe->facts = f;
	return f;
}

/*
 * Set a fact's group, and keep the index of facts by rule, period and
 * group, so that a review of one group reads only its own facts.
 */
void
fact_set_group(struct facts *fs, struct fact *f, const char *grp)
{
	const char *g = grp != NULL ? intern_get(grp) : NULL;

	if (g == f->grp) {
		intern_put(g);
		return;
	}
	group_unlink(fs, f);
	intern_put(f->grp);
	f->grp = g;
	group_link(fs, f);
}

/* The facts of rule and period in group grp, chained through gnext. */
struct fact *
facts_group(struct facts *fs, const char *rule, const char *grp,
    int32_t period)
{
	const char *r = intern_find(rule), *g = intern_find(grp);
	struct fgroup *fg;

	if (r == NULL || g == NULL)
		return NULL;
	fg = (struct fgroup *)kmap_find(&fs->groups, r, g, NULL, NULL, period);
	return fg != NULL ? fg->facts : NULL;
}

/*
 * The parts of a fact that are there, by the names its rule's primitive
 * gives them: {"street":80,"community":75.5}.
 */
void
fact_parts_json(const struct fact *f, const struct rule *r, struct buf *b)
{
	const char *const *names;
	char num[32];
	size_t n, i, start = b->len;

	names = r->prim->parts(r, &n);
	buf_addc(b, '{');
	for (i = 0; i < n; i++) {
		if (!(f->mask & (1u << i)))
			continue;
		if (b->len > start + 1)
			buf_addc(b, ',');
		buf_add_json_cstr(b, names[i]);
		dec_format(f->parts[i], num, sizeof num);
		buf_addf(b, ":%s", num);
	}
	buf_addc(b, '}');
}

/* Write a fact through; r names its parts, if it has any. */
void
fact_write(const struct fact *f, const struct rule *r, struct buf *ops)
{
	struct buf parts = { 0 };
	char per[16];

	if (ops == NULL)
		return;
	if (f->mask != 0 && r != NULL && r->prim->parts != NULL)
		fact_parts_json(f, r, &parts);
	period_code_format(FACT_PERIOD(f), per, sizeof per);
	if (f->has_value)
		store_op(ops, ST_FACT, "sssssisi", FACT_RULE(f), FACT_KIND(f),
		    FACT_ENTITY(f), per, f->grp, f->value,
		    parts.len ? BUF_DATA(&parts) : NULL, f->ts);
	else
		store_op(ops, ST_FACT, "sssssssi", FACT_RULE(f), FACT_KIND(f),
		    FACT_ENTITY(f), per, f->grp, (const char *)NULL,
		    parts.len ? BUF_DATA(&parts) : NULL, f->ts);
	buf_free(&parts);
}

/* The entity's fact of rule with the latest period before period. */
struct fact *
facts_latest_before(struct facts *fs, const char *rule, const char *kind,
    const char *entity, int32_t period)
{
	const char *r = intern_find(rule);
	struct fact *f, *best = NULL;

	for (f = facts_of(fs, kind, entity); f != NULL; f = f->enext)
		if (FACT_RULE(f) == r && FACT_PERIOD(f) < period &&
		    (best == NULL || FACT_PERIOD(f) > FACT_PERIOD(best)))
			best = f;
	return best;
}

void
facts_each(struct facts *fs, void (*fn)(void *, struct fact *), void *arg)
{
	struct kentry *e, *next;
	size_t i;

	for (i = 0; i < fs->facts.nbuckets; i++)
		for (e = fs->facts.buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			fn(arg, (struct fact *)e);
		}
}

size_t
facts_count(const struct facts *fs)
{
	return fs->facts.count;
}

int
facts_closed(struct facts *fs, const char *cycle, const char *grp,
    int32_t period)
{
	const char *c = intern_find(cycle), *g = intern_find(grp);

	return c != NULL && g != NULL &&
	    kmap_find(&fs->closures, c, g, NULL, NULL, period) != NULL;
}

/* Remember a closed period (the caller writes it to the store). */
void
facts_close(struct facts *fs, const char *cycle, const char *grp,
    int32_t period)
{
	struct closure *c;

	if (facts_closed(fs, cycle, grp, period))
		return;
	c = xcalloc(1, sizeof *c);
	kentry_key(&c->ke, intern_get(cycle), intern_get(grp), NULL, NULL,
	    period);
	kmap_insert(&fs->closures, &c->ke);
}

struct mark *
facts_mark(struct facts *fs, const char *name, const char *kind,
    const char *entity)
{
	const char *n = intern_find(name), *k = intern_find(kind);
	const char *e = intern_find(entity);

	if (n == NULL || k == NULL || e == NULL)
		return NULL;
	return (struct mark *)kmap_find(&fs->marks, n, k, e, NULL, 0);
}

void
facts_mark_put(struct facts *fs, struct buf *ops, const char *name,
    const char *kind, const char *entity, int64_t since, int64_t until)
{
	struct mark *m;

	if ((m = facts_mark(fs, name, kind, entity)) == NULL) {
		m = xcalloc(1, sizeof *m);
		kentry_key(&m->ke, intern_get(name), intern_get(kind),
		    intern_get(entity), NULL, 0);
		kmap_insert(&fs->marks, &m->ke);
	}
	m->since = since;
	m->until = until;
	if (ops != NULL)
		store_op(ops, ST_MARK_PUT, "sssii", name, kind, entity, since,
		    until);
}

void
facts_mark_del(struct facts *fs, struct buf *ops, struct mark *m)
{
	if (ops != NULL)
		store_op(ops, ST_MARK_DEL, "sss", m->ke.k[0], m->ke.k[1],
		    m->ke.k[2]);
	kmap_remove(&fs->marks, &m->ke);
	key_put(&m->ke);
	free(m);
}

struct span *
facts_span(struct facts *fs, const char *rule, const char *kind,
    const char *entity)
{
	const char *r = intern_find(rule), *k = intern_find(kind);
	const char *e = intern_find(entity);

	if (r == NULL || k == NULL || e == NULL)
		return NULL;
	return (struct span *)kmap_find(&fs->spans, r, k, e, NULL, 0);
}

/*
 * Open a span (the entity now held in grp since a moment), replacing the
 * entity's earlier one under the rule; the caller writes it through.
 */
struct span *
facts_span_put(struct facts *fs, const char *rule, const char *kind,
    const char *entity, const char *grp, int64_t since)
{
	struct span *sp;

	if ((sp = facts_span(fs, rule, kind, entity)) == NULL) {
		sp = xcalloc(1, sizeof *sp);
		kentry_key(&sp->ke, intern_get(rule), intern_get(kind),
		    intern_get(entity), NULL, 0);
		kmap_insert(&fs->spans, &sp->ke);
	}
	intern_put(sp->grp);
	sp->grp = intern_get(grp);
	sp->since = since;
	sp->seen = 0;
	sp->mask = 0;
	return sp;
}

void
facts_span_write(const struct span *sp, struct buf *ops)
{
	char per[16];

	if (ops == NULL)
		return;
	if (sp->seen != 0)
		period_code_format(sp->seen, per, sizeof per);
	store_op(ops, ST_SPAN_PUT, "ssssisi", SPAN_RULE(sp), SPAN_KIND(sp),
	    SPAN_ENTITY(sp), sp->grp, sp->since, sp->seen != 0 ? per :
	    (const char *)NULL, (int64_t)sp->mask);
}

void
facts_span_del(struct facts *fs, struct buf *ops, struct span *sp)
{
	if (ops != NULL)
		store_op(ops, ST_SPAN_DEL, "sss", SPAN_RULE(sp), SPAN_KIND(sp),
		    SPAN_ENTITY(sp));
	kmap_remove(&fs->spans, &sp->ke);
	intern_put(sp->grp);
	key_put(&sp->ke);
	free(sp);
}

static void
span_free(struct kentry *e)
{
	intern_put(((struct span *)e)->grp);
	key_put(e);
	free(e);
}

static void
fact_free(struct kentry *e)
{
	struct fact *f = (struct fact *)e;

	intern_put(f->grp);
	key_put(e);
	free(f);
}

static void
entry_free(struct kentry *e)
{
	key_put(e);
	free(e);
}

void
facts_clear(struct facts *fs)
{
	kmap_clear(&fs->facts, fact_free);
	kmap_clear(&fs->ents, entry_free);
	kmap_clear(&fs->groups, entry_free);
	kmap_clear(&fs->closures, entry_free);
	kmap_clear(&fs->marks, entry_free);
	kmap_clear(&fs->spans, span_free);
}

struct load {
	struct facts		*fs;
	const struct ruleset	*rs;
};

/* Parts are kept by name, so that a reload may reorder or drop them. */
static void
load_parts(struct fact *f, const struct rule *r, const char *json)
{
	const char *const *names;
	const cJSON *v;
	cJSON *root;
	size_t n, i;
	int64_t d;

	if (r->prim->parts == NULL || json == NULL ||
	    (root = cJSON_Parse(json)) == NULL)
		return;
	names = r->prim->parts(r, &n);
	for (v = root->child; v != NULL; v = v->next)
		for (i = 0; i < n; i++)
			if (strcmp(v->string, names[i]) == 0 &&
			    cJSON_IsNumber(v)) {
				char num[64];

				snprintf(num, sizeof num, "%.6f", v->valuedouble);
				if (dec_parse(num, strlen(num), &d) == 0) {
					f->parts[i] = d;
					f->mask |= 1u << i;
				}
			}
	cJSON_Delete(root);
}

static void
load_fact(void *arg, const struct store_row *row)
{
	struct load *l = arg;
	const struct rule *r;
	struct period p;
	struct fact *f;

	/* rule kind entity period grp parts | value ts value-is-null */
	if (row->s[0] == NULL || row->s[1] == NULL || row->s[2] == NULL ||
	    row->s[3] == NULL || period_parse(row->s[3], &p) != 0)
		return;
	if ((r = ruleset_rule(l->rs, row->s[0])) == NULL)
		return;		/* a rule no longer loaded: kept on disk */
	f = facts_put(l->fs, row->s[0], row->s[1], row->s[2], period_code(&p));
	fact_set_group(l->fs, f, row->s[4]);
	load_parts(f, r, row->s[5]);
	f->has_value = row->i[8] == 0;
	f->value = row->i[6];
	f->ts = row->i[7];
}

static void
load_closure(void *arg, const struct store_row *row)
{
	struct load *l = arg;
	struct period p;

	if (row->s[0] != NULL && row->s[1] != NULL && row->s[2] != NULL &&
	    period_parse(row->s[2], &p) == 0)
		facts_close(l->fs, row->s[0], row->s[1], period_code(&p));
}

static void
load_mark(void *arg, const struct store_row *row)
{
	struct load *l = arg;

	if (row->s[0] != NULL && row->s[1] != NULL && row->s[2] != NULL)
		facts_mark_put(l->fs, NULL, row->s[0], row->s[1], row->s[2],
		    row->i[3], row->i[4]);
}

static void
load_span(void *arg, const struct store_row *row)
{
	struct load *l = arg;
	struct span *sp;
	struct period p;

	/* rule kind entity grp seen | since seen_mask */
	if (row->s[0] == NULL || row->s[1] == NULL || row->s[2] == NULL ||
	    row->s[3] == NULL)
		return;
	if (ruleset_rule(l->rs, row->s[0]) == NULL)
		return;		/* a rule no longer loaded: kept on disk */
	sp = facts_span_put(l->fs, row->s[0], row->s[1], row->s[2], row->s[3],
	    row->i[5]);
	if (row->s[4] != NULL && period_parse(row->s[4], &p) == 0) {
		sp->seen = period_code(&p);
		sp->mask = (uint64_t)row->i[6];
	}
}

/* Replace what is in memory by what the store holds. */
int
facts_load(struct facts *fs, struct store *s, const struct ruleset *rs)
{
	struct load l = { fs, rs };

	facts_clear(fs);
	if (s == NULL)
		return 0;
	if (store_select(s, TB_FACTS, load_fact, &l) != 0 ||
	    store_select(s, TB_CLOSURES, load_closure, &l) != 0 ||
	    store_select(s, TB_MARKS, load_mark, &l) != 0 ||
	    store_select(s, TB_SPANS, load_span, &l) != 0)
		return -1;
	return 0;
}
