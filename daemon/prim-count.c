/*
 * The count primitive: live counts of the entities of another kind,
 * grouped by one of their fields whose value is the id of an entity of the
 * rule's kind, in all and per class of a classify rule.  The counts are
 * int attributes of the group's entity, so that `get` answers them, other
 * rules read them like any attribute, and they are written with the
 * entity in the transaction of the event that moved them.
 *
 * An event moves one entity between groups or classes.  The engine hands
 * the rule the entity's record as it was before the event (change.was),
 * and the rule settles after every other rule has run, so that a count is
 * kept by one decrement and one increment: never by counting again, and
 * nothing that grows with the group.  A removed entity counts nowhere; a
 * group that its last member left keeps its entity, with zero counts.
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
	if ((v = ynode_get(n, "total")) != NULL)
		c->total = int_attr(ld->kind, v->type == YN_SCALAR ? v->str :
		    "", v->line, v->col, "total", ld);
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
	k = classify_classes(cr, &c->ncls, &c->cslot);
	c->cattr = xcalloc(c->ncls, sizeof *c->cattr);
	for (i = 0; i < c->ncls; i++)
		c->cattr[i] = int_attr(r->kind, k[i].name, c->cline, c->ccol,
		    "each class", ld);
	return ld->errs->n == before ? 0 : -1;
}

/*
 * The group's entity, named by a member; NULL for an empty name, and
 * (with a log line, the count then being off) if the store cannot be read:
 * check has loaded it already, so that this only happens for a group
 * created in the same batch and then evicted, which pinning prevents.
 */
static struct entity *
group(const struct rule *r, struct change *ch, const char *id)
{
	struct entity *g;

	if (id == NULL || *id == '\0')
		return NULL;
	if ((g = engine_entity_open(ch->eng, r->kind, id, ch->ev->ts)) == NULL)
		log_warnx("count %s: %s %s cannot be read; its counts are off",
		    r->name, r->kind->name, id);
	return g;
}

static void
bump(const struct rule *r, struct change *ch, struct entity *g, size_t cls,
    int64_t delta)
{
	const struct count *c = r->data;

	if (c->total >= 0)
		g->vals[c->total].i += delta;
	if (c->cattr != NULL && c->cattr[cls] >= 0)
		g->vals[c->cattr[cls]].i += delta;
	entity_mark_dirty(&ch->eng->cache, g);
}

static void
copy_fields(const struct count *c, const struct entity *m, struct entity *g)
{
	size_t i;

	for (i = 0; i < c->ncopy; i++)
		if (m->vals[c->copy_from[i]].s != NULL &&
		    m->vals[c->copy_from[i]].s != g->vals[c->copy_to[i]].s)
			entity_set(g, c->copy_to[i], m->vals[c->copy_from[i]]);
}

static int
copies_changed(const struct count *c, const union val *was,
    const struct entity *m)
{
	size_t i;

	for (i = 0; i < c->ncopy; i++)
		if (was[c->copy_from[i]].s != m->vals[c->copy_from[i]].s)
			return 1;
	return 0;
}

/*
 * Load the groups the event may touch while it can still be refused, so
 * that a store that cannot be read refuses the event (unavailable) rather
 * than miscount it.
 */
static int
check(const struct rule *r, struct change *ch, char *msg, size_t msglen)
{
	const struct count *c = r->data;
	const char *ids[2];
	struct entity *g;
	size_t i;
	int err;

	ids[0] = ch->ent != NULL ? ch->ent->vals[c->by].s : NULL;
	ids[1] = ch->ev->fields != NULL ? ch->ev->fields[c->by -
	    c->of->nattrs] : NULL;
	for (i = 0; i < 2; i++) {
		if (ids[i] == NULL || *ids[i] == '\0')
			continue;
		g = ecache_get(&ch->eng->cache, ch->eng->store, r->kind, ids[i],
		    &err);
		if (g == NULL && err) {
			snprintf(msg, msglen, "storage cannot be read");
			return E_UNAVAILABLE;
		}
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
	struct entity *g;

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
	if (og == ng && oc == nc) {
		if (ng != NULL && ch->was != NULL &&
		    copies_changed(c, ch->was, m) && (g = group(r, ch, ng)) !=
		    NULL) {
			copy_fields(c, m, g);
			entity_mark_dirty(&ch->eng->cache, g);
		}
		return;
	}
	if ((g = group(r, ch, og)) != NULL)
		bump(r, ch, g, oc, -1);
	if ((g = group(r, ch, ng)) != NULL) {
		bump(r, ch, g, nc, 1);
		copy_fields(c, m, g);
	}
}

static void
count_free(void *p)
{
	struct count *c = p;

	if (c == NULL)
		return;
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
	.free = count_free,
};
