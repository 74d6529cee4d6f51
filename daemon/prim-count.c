/*
 * The count primitive: live counts of the entities of another kind,
 * grouped by one of their fields whose value is the id of an entity of the
 * rule's kind, in all and per class of a classify rule.  The counts are
 * int attributes of the group's entity, so that `get` answers them and
 * other rules read them like any attribute.
 *
 * The counts are an index of the members' committed state, like an SQL
 * index: kept in memory only (a map of group id to counts), built at start
 * in one pass over the members' stored records, and never written.  An
 * event moves one entity between groups or classes.  The engine hands the
 * rule the entity's record as it was before the event (change.was), and
 * the rule settles after every other rule has run, so that a count is kept
 * by one decrement and one increment: never by counting again, and
 * nothing that grows with the group.  The attributes of a group's entity
 * in the cache follow the map; they are not stored, and moving a count
 * does not write the group's record.
 *
 * A group is an entity: the first member that names it creates its record
 * (once; a rare write), so that `get` knows it across restarts and a group
 * that its last member left answers zero counts.  A removed entity counts
 * nowhere.  copy: fields the group's record takes from its members, written
 * only when they change.
 *
 *   grid.households:
 *     count:
 *       of: household          # the kind counted
 *       by: grid               # its field naming the group (default:
 *                              # the rule's kind)
 *       total: households      # an int attribute: all live members
 *       classes: four_color    # per class, into the int attribute of
 *                              # the class's name
 *       copy: [community]      # fields the group takes from its members
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct count {
	struct kind	*of;
	size_t		 by;		/* the field's slot in of's records */
	int		 total;		/* attribute slot in the group, or -1 */
	char		*classes;	/* the classify rule, linked later */
	int		 cline, ccol;
	size_t		 cslot;		/* its class slot in of's records */
	int		*cattr;		/* per class: attribute slot, or -1 */
	size_t		 ncls;
	size_t		*copy_from;	/* field slots in of's records */
	size_t		*copy_to;	/* and in the group's */
	size_t		 ncopy;
	struct rule	*cr;		/* the classify rule, or NULL */
	struct kmap	 groups;	/* group id -> struct cgroup */
};

/* A group's counts: [0] all live members, [1 + c] those of class c. */
struct cgroup {
	struct kentry	 ke;		/* the group's id */
	const char	**copy;		/* the members' copy fields, interned */
	int64_t		 n[];
};

/* The slot of an int attribute of kind k, or -1 with an error. */
static int
int_attr(const struct kind *k, const char *name, int line, int col,
    const char *what, struct rule_load *ld)
{
	size_t i;

	for (i = 0; i < k->nattrs; i++)
		if (strcmp(k->attrs[i].name, name) == 0 &&
		    k->attrs[i].type == VT_INT)
			return (int)i;
	errs_add(ld->errs, ld->file, line, col, "count: %s needs an int "
	    "attribute '%s' of kind %s", what, name, k->name);
	return -1;
}

/* The slot of field name of kind k in its records, or -1. */
static int
field_slot(const struct kind *k, const char *name)
{
	size_t i;

	for (i = 0; i < k->nfields; i++)
		if (strcmp(k->fields[i], name) == 0)
			return (int)(k->nattrs + i);
	return -1;
}

static int
setup_copy(struct count *c, const struct kind *k, const struct ynode *n,
    struct rule_load *ld)
{
	size_t i;
	int from, to;

	if (n->type != YN_SEQ) {
		errs_add(ld->errs, ld->file, n->line, n->col, "copy: expected "
		    "a list of field names");
		return -1;
	}
	c->copy_from = xcalloc(n->n + 1, sizeof *c->copy_from);
	c->copy_to = xcalloc(n->n + 1, sizeof *c->copy_to);
	for (i = 0; i < n->n; i++) {
		const struct ynode *v = n->items[i];

		if (v->type != YN_SCALAR || (from = field_slot(c->of,
		    v->str)) < 0 || (to = field_slot(k, v->str)) < 0) {
			errs_add(ld->errs, ld->file, v->line, v->col, "copy: "
			    "'%s' must be a field of kinds %s and %s",
			    v->type == YN_SCALAR ? v->str : "", c->of->name,
			    k->name);
			return -1;
		}
		c->copy_from[c->ncopy] = (size_t)from;
		c->copy_to[c->ncopy++] = (size_t)to;
	}
	return 0;
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *n,
    struct rule_load *ld)
{
	static const char *const keys[] = { "of", "by", "total", "classes",
	    "copy" };
	const struct ynode *v;
	struct count *c;
	size_t i, before = ld->errs->n;
	int slot;

	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "count: expected "
		    "a map with of, by, total, classes, copy");
		return -1;
	}
	ynode_check_keys(n, ld->file, keys, 5, "count", ld->errs);
	c = xcalloc(1, sizeof *c);
	r->data = c;
	c->total = -1;
	if ((v = ynode_get(n, "of")) == NULL || v->type != YN_SCALAR ||
	    (c->of = ruleset_kind(ld->rs, v->str)) == NULL) {
		errs_add(ld->errs, ld->file, (v ? v : n)->line,
		    (v ? v : n)->col, "count: 'of' must name a kind declared in "
		    "a rule file");
		return -1;
	}
	if (c->of == ld->kind) {
		errs_add(ld->errs, ld->file, v->line, v->col, "count: a kind "
		    "cannot count its own entities");
		return -1;
	}
	v = ynode_get(n, "by");
	if ((slot = field_slot(c->of, v != NULL && v->type == YN_SCALAR ?
	    v->str : ld->kind->name)) < 0) {
		errs_add(ld->errs, ld->file, (v ? v : n)->line,
		    (v ? v : n)->col, "count: by: kind %s has no field '%s'",
		    c->of->name, v != NULL && v->type == YN_SCALAR ? v->str :
		    ld->kind->name);
		return -1;
	}
	c->by = (size_t)slot;
	if ((v = ynode_get(n, "total")) != NULL &&
	    (c->total = int_attr(ld->kind, v->type == YN_SCALAR ? v->str :
	    "", v->line, v->col, "total", ld)) >= 0)
		ld->kind->attrs[c->total].derived = 1;
	if ((v = ynode_get(n, "classes")) != NULL) {
		if (v->type != YN_SCALAR)
			errs_add(ld->errs, ld->file, v->line, v->col, "count: "
			    "classes: expected the name of a classify rule");
		else {
			c->classes = xstrdup(v->str);
			c->cline = v->line;
			c->ccol = v->col;
		}
	}
	if ((v = ynode_get(n, "copy")) != NULL)
		setup_copy(c, ld->kind, v, ld);
	if (c->total < 0 && c->classes == NULL && ld->errs->n == before)
		errs_add(ld->errs, ld->file, n->line, n->col, "count: nothing "
		    "to count (expected total, classes or both)");
	/* it settles on every event that changes an entity it counts */
	c->of->keep_was = 1;
	for (i = 0; i < ld->rs->nevtypes; i++) {
		struct evtype *et = ld->rs->evtypes[i];

		if (et->kind == c->of && et->action != EV_ALONE) {
			r->on = xreallocarray(r->on, r->non + 1, sizeof *r->on);
			r->on[r->non++] = et;
		}
	}
	(void)def;
	return ld->errs->n == before ? 0 : -1;
}

/* The classify rule may be in a later file: found once all are loaded. */
static int
link(struct rule *r, struct rule_load *ld)
{
	struct count *c = r->data;
	const struct klass *k;
	struct rule *cr;
	size_t i, before = ld->errs->n;

	if (c->classes == NULL)
		return 0;
	if ((cr = ruleset_rule(ld->rs, c->classes)) == NULL ||
	    cr->prim != &prim_classify || cr->kind != c->of) {
		errs_add(ld->errs, ld->file, c->cline, c->ccol, "count: "
		    "classes: '%s' is not a classify rule of kind %s",
		    c->classes, c->of->name);
		return -1;
	}
	c->cr = cr;
	k = classify_classes(cr, &c->ncls, &c->cslot);
	c->cattr = xcalloc(c->ncls, sizeof *c->cattr);
	for (i = 0; i < c->ncls; i++)
		if ((c->cattr[i] = int_attr(r->kind, k[i].name, c->cline,
		    c->ccol, "each class", ld)) >= 0)
			r->kind->attrs[c->cattr[i]].derived = 1;
	return ld->errs->n == before ? 0 : -1;
}

/* The group of id, which is interned. */
static struct cgroup *
group_find(const struct count *c, const char *id)
{
	return (struct cgroup *)(void *)kmap_find(&c->groups, id, NULL, NULL,
	    NULL, 0);
}

/* The group of any copy of id. */
static struct cgroup *
group_named(const struct count *c, const char *id)
{
	const char *s = intern_find(id);

	return s != NULL ? group_find(c, s) : NULL;
}

/* A group with zero counts, for id (interned). */
static struct cgroup *
group_add(struct count *c, const char *id)
{
	struct cgroup *g;

	g = xcalloc(1, sizeof *g + (1 + c->ncls) * sizeof *g->n +
	    c->ncopy * sizeof *g->copy);
	g->copy = (const char **)(void *)(g->n + 1 + c->ncls);
	kentry_key(&g->ke, intern_ref(id), NULL, NULL, NULL, 0);
	kmap_insert(&c->groups, &g->ke);
	return g;
}

static void
group_free(struct kentry *ke)
{
	struct cgroup *g = (struct cgroup *)(void *)ke;

	intern_put(ke->k[0]);
	free(g);
}

static void
groups_clear(struct count *c)
{
	struct kentry *ke;
	size_t i, j;

	for (i = 0; i < c->groups.nbuckets; i++)
		for (ke = c->groups.buckets[i]; ke != NULL; ke = ke->hnext)
			for (j = 0; j < c->ncopy; j++)
				intern_put(((struct cgroup *)(void *)ke)->copy[j]);
	kmap_clear(&c->groups, group_free);
}

/* The counts into the derived attributes of the group's record. */
static void
view_counts(const struct count *c, const struct cgroup *g, struct entity *ent)
{
	size_t i;

	if (c->total >= 0)
		ent->vals[c->total].i = g != NULL ? g->n[0] : 0;
	for (i = 0; c->cattr != NULL && i < c->ncls; i++)
		if (c->cattr[i] >= 0)
			ent->vals[c->cattr[i]].i = g != NULL ? g->n[1 + i] : 0;
}

static void
view(const struct rule *r, struct entity *ent)
{
	const struct count *c = r->data;

	view_counts(c, group_named(c, ent->id), ent);
}

/*
 * The group's record, named by a member for the first time since start:
 * created if nothing named it before, else loaded (check did, so that a
 * store that cannot be read refused the event).
 */
static void
group_open(const struct rule *r, struct change *ch, const char *id)
{
	if (engine_entity_open(ch->eng, r->kind, id, ch->ev->ts) == NULL)
		log_warnx("count %s: %s %s cannot be read", r->name,
		    r->kind->name, id);
}

/*
 * Move one member in or out of group id (interned; NULL or empty: none),
 * and the group's record in the cache with it, which stays clean.
 */
static struct cgroup *
bump(const struct rule *r, struct change *ch, const char *id, size_t cls,
    int64_t delta)
{
	struct count *c = r->data;
	struct cgroup *g;
	struct entity *ent;

	if (id == NULL || *id == '\0')
		return NULL;
	if ((g = group_find(c, id)) == NULL) {
		g = group_add(c, id);
		group_open(r, ch, id);
	}
	g->n[0] += delta;
	if (c->cattr != NULL)
		g->n[1 + cls] += delta;
	if ((ent = ecache_peek(&ch->eng->cache, r->kind, id)) != NULL)
		view_counts(c, g, ent);
	return g;
}

/*
 * The group's record takes the member's copy fields when they differ from
 * what the group last took: a write only when a group is first named or a
 * member says otherwise.
 */
static void
copy_fields(const struct rule *r, struct change *ch, struct cgroup *g)
{
	const struct count *c = r->data;
	const struct entity *m = ch->ent;
	struct entity *ent = NULL;
	const char *v;
	size_t i;
	int err;

	for (i = 0; i < c->ncopy; i++) {
		if ((v = m->vals[c->copy_from[i]].s) == NULL || v == g->copy[i])
			continue;
		intern_put(g->copy[i]);
		g->copy[i] = intern_ref(v);
		if (ent == NULL && (ent = ecache_get(&ch->eng->cache,
		    ch->eng->store, r->kind, g->ke.k[0], &err)) == NULL)
			return;
		if (ent->vals[c->copy_to[i]].s != v) {
			entity_set(ent, c->copy_to[i], m->vals[c->copy_from[i]]);
			entity_mark_dirty(&ch->eng->cache, ent);
		}
	}
}

/*
 * Load, while the event can still be refused, the record of a group named
 * for the first time since start (the only one the rule may write), so
 * that a store that cannot be read refuses the event (unavailable) rather
 * than lose the group.
 */
static int
check(const struct rule *r, struct change *ch, char *msg, size_t msglen)
{
	const struct count *c = r->data;
	const struct cgroup *g;
	const char *id, *v;
	size_t i;
	int err, load;

	id = ch->ev->fields != NULL ? ch->ev->fields[c->by - c->of->nattrs] :
	    NULL;
	if (id == NULL && ch->ent != NULL)
		id = ch->ent->vals[c->by].s;
	if (id == NULL || *id == '\0')
		return E_OK;
	load = (g = group_named(c, id)) == NULL;
	for (i = 0; !load && i < c->ncopy; i++) {
		v = ch->ev->fields != NULL ? ch->ev->fields[c->copy_from[i] -
		    c->of->nattrs] : NULL;
		if (v == NULL && ch->ent != NULL)
			v = ch->ent->vals[c->copy_from[i]].s;
		load = v != NULL && (g->copy[i] == NULL ||
		    strcmp(v, g->copy[i]) != 0);
	}
	if (!load)
		return E_OK;
	(void)ecache_get(&ch->eng->cache, ch->eng->store, r->kind, id, &err);
	if (err) {
		snprintf(msg, msglen, "storage cannot be read");
		return E_UNAVAILABLE;
	}
	return E_OK;
}

static void
settle(const struct rule *r, struct change *ch)
{
	const struct count *c = r->data;
	const struct entity *m = ch->ent;
	const char *og = NULL, *ng = NULL;
	size_t oc = 0, nc = 0;
	struct cgroup *g;

	if (m == NULL)
		return;
	if (ch->was != NULL) {
		og = ch->was[c->by].s;
		oc = c->cattr != NULL ? ch->was_cls[c->cslot] : 0;
	}
	if (!ch->removing) {
		ng = m->vals[c->by].s;
		nc = c->cattr != NULL ? m->cls[c->cslot] : 0;
	}
	/* strings are interned: the same group is the same pointer */
	if (og != ng || oc != nc) {
		if (og != NULL && *og != '\0')
			ENGINE_REACH(ch->eng, r, 1);
		if (ng != NULL && *ng != '\0')
			ENGINE_REACH(ch->eng, r, 0);
		bump(r, ch, og, oc, -1);
		g = bump(r, ch, ng, nc, 1);
	} else
		g = ng != NULL && *ng != '\0' ? group_find(c, ng) : NULL;
	if (g != NULL && c->ncopy > 0)
		copy_fields(r, ch, g);
}

/* One stored member, for the rebuild. */
struct rebuild {
	struct count	*c;
	const char	*by;		/* its field's name */
	const char	*cname;		/* the classify rule's name */
	const struct klass *classes;
	size_t		 dflt;
	size_t		 nrows;
};

static void
rebuild_row(void *arg, const char *id, const char *state, int removed)
{
	struct rebuild *rb = arg;
	struct count *c = rb->c;
	const cJSON *fields, *v;
	struct cgroup *g;
	const char *gid;
	cJSON *root;
	size_t cls = rb->dflt, i;

	if (removed)
		return;
	if ((root = cJSON_Parse(state)) == NULL) {
		log_warnx("entity %s %s: unreadable state; not counted",
		    c->of->name, id);
		return;
	}
	fields = cJSON_GetObjectItemCaseSensitive(root, "fields");
	v = cJSON_GetObjectItemCaseSensitive(fields, rb->by);
	if (!cJSON_IsString(v) || *v->valuestring == '\0')
		goto done;
	if (rb->cname != NULL) {
		v = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(root, "classes"),
		    rb->cname);
		for (i = 0; cJSON_IsString(v) && i < c->ncls; i++)
			if (strcmp(rb->classes[i].name, v->valuestring) == 0) {
				cls = i;
				break;
			}
	}
	gid = intern_get(cJSON_GetObjectItemCaseSensitive(fields,
	    rb->by)->valuestring);
	if ((g = group_find(c, gid)) == NULL)
		g = group_add(c, gid);
	intern_put(gid);
	g->n[0]++;
	if (c->cattr != NULL)
		g->n[1 + cls]++;
	for (i = 0; i < c->ncopy; i++) {
		v = cJSON_GetObjectItemCaseSensitive(fields,
		    c->of->fields[c->copy_from[i] - c->of->nattrs]);
		if (cJSON_IsString(v) && (g->copy[i] == NULL ||
		    strcmp(g->copy[i], v->valuestring) != 0)) {
			intern_put(g->copy[i]);
			g->copy[i] = intern_get(v->valuestring);
		}
	}
	rb->nrows++;
done:
	cJSON_Delete(root);
}

/*
 * Every group a member names has its record: those that members named
 * before the rule was loaded get theirs now, in the cache, written with
 * the next batch (and made again by the next rebuild if none comes).
 */
static int
groups_open(const struct rule *r, struct engine *e)
{
	const struct count *c = r->data;
	struct entity *ent;
	struct kentry *ke;
	size_t i;
	int err;

	for (i = 0; i < c->groups.nbuckets; i++)
		for (ke = c->groups.buckets[i]; ke != NULL; ke = ke->hnext) {
			ent = ecache_get(&e->cache, e->store, r->kind, ke->k[0],
			    &err);
			if (err)
				return -1;
			if (ent == NULL)
				engine_entity_open(e, r->kind, ke->k[0],
				    e->clock);
		}
	return 0;
}

/*
 * The counts from the members' committed records, in one pass; or, after
 * a reload that changed neither the rule nor its classes, those of the
 * rule it replaces.
 */
static int
load(struct rule *r, struct engine *e, struct rule *prev)
{
	struct count *c = r->data, *pc;
	struct rebuild rb;
	struct timespec t0, t1;
	size_t slot;
	int rc;

	groups_clear(c);
	if (prev != NULL && prev->digest == r->digest &&
	    (pc = prev->data)->ncls == c->ncls && pc->ncopy == c->ncopy &&
	    (c->cr == NULL) == (pc->cr == NULL) && (c->cr == NULL ||
	    c->cr->digest == pc->cr->digest)) {
		c->groups = pc->groups;
		memset(&pc->groups, 0, sizeof pc->groups);
		return 0;
	}
	if (e->store == NULL)
		return 0;
	memset(&rb, 0, sizeof rb);
	rb.c = c;
	rb.by = c->of->fields[c->by - c->of->nattrs];
	if (c->cr != NULL) {
		rb.cname = c->cr->name;
		rb.classes = classify_classes(c->cr, &c->ncls, &slot);
		rb.dflt = c->of->cls_new[slot];
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = store_entity_rows(e->store, c->of->name, rebuild_row, &rb);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != 0 || groups_open(r, e) != 0) {
		groups_clear(c);
		return -1;
	}
	log_info("count %s: %zu %s in %zu groups, counted in %.3f s", r->name,
	    rb.nrows, c->of->name, c->groups.count, (double)(t1.tv_sec -
	    t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

/*
 * What the rule keeps for a group: its members in all and per class, as
 * the index holds them (the entity's count attributes show the same).
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct count *c = r->data;
	const struct cgroup *g = group_named(c, ent->id);
	size_t i, n = 0;

	buf_adds(b, ",\"of\":");
	buf_add_json_cstr(b, c->of->name);
	buf_adds(b, ",\"by\":");
	buf_add_json_cstr(b, c->of->fields[c->by - c->of->nattrs]);
	buf_addf(b, ",\"total\":%lld", (long long)(g != NULL ? g->n[0] : 0));
	if (c->cr == NULL || c->cattr == NULL)
		return;
	buf_adds(b, ",\"classify\":");	/* "classes" is classify's own */
	buf_add_json_cstr(b, c->cr->name);
	buf_adds(b, ",\"by_class\":{");
	for (i = 0; i < c->ncls; i++) {
		size_t nc, slot;
		const struct klass *k = classify_classes(c->cr, &nc, &slot);

		buf_adds(b, n++ ? "," : "");
		buf_add_json_cstr(b, k[i].name);
		buf_addf(b, ":%lld", (long long)(g != NULL ? g->n[1 + i] : 0));
	}
	buf_addc(b, '}');
}

/*
 * The groups with live members, for a rule that reviews them: fn(arg, id,
 * value) with the value the group took from its members for the field
 * slot of the rule's kind (NULL if it takes none).
 */
void
count_groups(const struct rule *r, size_t slot, void (*fn)(void *,
    const char *, const char *), void *arg)
{
	const struct count *c = r->data;
	const struct cgroup *g;
	struct kentry *ke;
	size_t i, j, cp = c->ncopy;

	for (j = 0; j < c->ncopy; j++)
		if (c->copy_to[j] == slot)
			cp = j;
	for (i = 0; i < c->groups.nbuckets; i++)
		for (ke = c->groups.buckets[i]; ke != NULL; ke = ke->hnext) {
			g = (const struct cgroup *)(void *)ke;
			if (g->n[0] > 0)
				fn(arg, ke->k[0], cp < c->ncopy ? g->copy[cp] :
				    NULL);
		}
}

/* Outcomes: a member counted in a group (or class), one leaving it. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	static const char *const names[] = { "counted", "left" };

	(void)r;
	return coverage_fixed(names, 2, i, name);
}

/*
 * The count rule that counts kind `of` grouped by its field slot `by`, per
 * class of the classify rule cr; NULL if the rules have none.
 */
const struct rule *
count_find(const struct ruleset *rs, const struct kind *of, size_t by,
    const struct rule *cr)
{
	const struct count *c;
	size_t i;

	for (i = 0; i < rs->nrules; i++) {
		if (rs->rules[i]->prim != &prim_count)
			continue;
		c = rs->rules[i]->data;
		if (c->of == of && c->by == by && c->cr == cr)
			return rs->rules[i];
	}
	return NULL;
}

/*
 * fn(arg, id, n) for every group with live members, in no order: n[0] is
 * the count of all, n[1 + i] that of class i of the rule's classify rule.
 */
void
count_each(const struct rule *r, void (*fn)(void *, const char *,
    const int64_t *), void *arg)
{
	const struct count *c = r->data;
	const struct cgroup *g;
	struct kentry *ke;
	size_t i;

	for (i = 0; i < c->groups.nbuckets; i++)
		for (ke = c->groups.buckets[i]; ke != NULL; ke = ke->hnext) {
			g = (const struct cgroup *)(void *)ke;
			if (g->n[0] > 0)
				fn(arg, ke->k[0], g->n);
		}
}

static void
count_free(void *p)
{
	struct count *c = p;

	if (c == NULL)
		return;
	groups_clear(c);
	free(c->classes);
	free(c->cattr);
	free(c->copy_from);
	free(c->copy_to);
	free(c);
}

const struct prim prim_count = {
	.name = "count",
	.setup = setup,
	.check = check,
	.link = link,
	.settle = settle,
	.load = load,
	.view = view,
	.free = count_free,
	.outcome = outcome,
	.explain = explain,
};
