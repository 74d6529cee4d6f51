/*
 * The review primitive: an event (action none) that inspects every entity
 * of the rule's kind in a group and raises, for each, the alert of every
 * check whose condition holds over its record (derived attributes such as
 * a count's included), at every review.  All of them come back in the
 * review's answer; a review changes no entity.
 *
 * The entities inspected are those of the group (the kind's field `by`
 * equals the event's field of the same name; without it, every one) that
 * have live members in a count of the kind, or a record of their own (an
 * attribute set by an event of their kind), as of the review: after the
 * timers its ts made due.  Both are known in memory, so that listing a
 * group reads nothing from the store: the count's groups, and an index of
 * the entities with a record of their own (id -> group), built at start in
 * one pass over the kind's stored records and kept by every event of the
 * kind.  Alerts are raised in id order.
 *
 *   grid.review:
 *     review:
 *       on: grid.review            # an event type with action none
 *       by: community              # the kind's field; the event's selects
 *       count: grid.households     # a count rule of the kind
 *       checks:
 *         - alert: grid.oversized
 *           severity: warning
 *           when: households > 500
 *           data: {households: households}
 *           message: "..."
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct rcheck {
	struct alert_def alert;
	struct expr	*when;
	struct rdata	 data;
};

/* An entity with a record of its own, and its group. */
struct owned {
	struct kentry	 ke;		/* its id */
	const char	*grp;		/* interned, or NULL */
};

struct review {
	struct evtype	*on;
	int		 evfield;	/* the event's field, or -1 */
	size_t		 by;		/* the kind's field's slot */
	char		*count;		/* the count rule, linked later */
	int		 cline, ccol;
	const struct rule *cr;
	struct rcheck	*checks;
	size_t		 n;
	struct kmap	 owned;		/* id -> struct owned */
	const char	**ids;		/* one review's entities */
	size_t		 nids, idcap;
	const char	*want;		/* its group, interned; NULL: all */
	int		 none;		/* a group that nothing names */
};

static const char *const noreserved[] = { NULL };
#define NO_FIELD	((size_t)-1)	/* no `by`: one group, every entity */

/* The entity's group, interned, or NULL. */
static const char *
group_of(const struct review *rv, const struct entity *e)
{
	return rv->by != NO_FIELD ? e->vals[rv->by].s : NULL;
}

static int
setup_check(struct rcheck *ck, const struct ynode *n, const struct rule *r,
    struct rule_load *ld)
{
	static const char *const keys[] = { "alert", "severity", "when",
	    "data", "message" };
	struct expr_scope scope = { rules_resolve, ld->kind, ld->kind->names,
	    ld->kind->nattrs + ld->kind->nfields };
	const struct ynode *v;
	size_t before = ld->errs->n, pos;
	char *cause;

	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "review: a check "
		    "must be a map with alert, severity, when, data, message");
		return -1;
	}
	ynode_check_keys(n, ld->file, keys, 5, "check", ld->errs);
	if (ynode_get(n, "alert") == NULL)
		errs_add(ld->errs, ld->file, n->line, n->col, "review: a check "
		    "needs an alert");
	rules_alert_def(&ck->alert, n, NULL, r, SEV_WARNING, ld);
	if ((v = ynode_get(n, "when")) == NULL || v->type != YN_SCALAR)
		errs_add(ld->errs, ld->file, (v ? v : n)->line,
		    (v ? v : n)->col, "review: a check needs a condition "
		    "('when: EXPRESSION')");
	else if ((ck->when = expr_compile(v->str, &scope, VT_BOOL, &cause,
	    &pos)) == NULL) {
		rules_compile_error(ld->errs, ld->file, v, pos, cause);
		free(cause);
	}
	if ((v = ynode_get(n, "data")) != NULL)
		rules_data(&ck->data, v, &scope, noreserved, ld);
	return ld->errs->n == before ? 0 : -1;
}

/* on: the review event; by: its field and the kind's, of the same name. */
static void
setup_on(struct rule *r, struct review *rv, const struct ynode *n,
    struct rule_load *ld)
{
	const struct ynode *v;
	size_t i;

	if ((v = ynode_get(n, "on")) == NULL) {
		errs_add(ld->errs, ld->file, n->line, n->col, "review: missing "
		    "key 'on' (the review's event type)");
		return;
	}
	if ((rv->on = rules_on(r, v, ld)) == NULL)
		return;
	if (rv->on->action != EV_ALONE) {
		errs_add(ld->errs, ld->file, v->line, v->col, "review: event %s "
		    "must have action none", rv->on->name);
		return;
	}
	if ((v = ynode_get(n, "by")) == NULL)
		return;
	for (i = 0; i < ld->kind->nfields; i++)
		if (v->type == YN_SCALAR && strcmp(ld->kind->fields[i],
		    v->str) == 0)
			break;
	if (i == ld->kind->nfields) {
		errs_add(ld->errs, ld->file, v->line, v->col, "review: by: kind "
		    "%s has no field '%s'", ld->kind->name, v->type ==
		    YN_SCALAR ? v->str : "");
		return;
	}
	rv->by = ld->kind->nattrs + i;
	rv->evfield = rules_field(rv->on, v, v->str, 1 << FT_STRING, ld);
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *n,
    struct rule_load *ld)
{
	static const char *const keys[] = { "on", "by", "count", "checks" };
	const struct ynode *v;
	struct review *rv;
	size_t i, before = ld->errs->n;

	(void)def;
	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "review: expected "
		    "a map with on, by, count, checks");
		return -1;
	}
	ynode_check_keys(n, ld->file, keys, 4, "review", ld->errs);
	rv = xcalloc(1, sizeof *rv);
	r->data = rv;
	rv->evfield = -1;
	rv->by = NO_FIELD;
	setup_on(r, rv, n, ld);
	if ((v = ynode_get(n, "count")) != NULL) {
		if (v->type != YN_SCALAR)
			errs_add(ld->errs, ld->file, v->line, v->col, "review: "
			    "count: expected the name of a count rule");
		else {
			rv->count = xstrdup(v->str);
			rv->cline = v->line;
			rv->ccol = v->col;
		}
	}
	if ((v = ynode_get(n, "checks")) == NULL || v->type != YN_SEQ ||
	    v->n == 0) {
		errs_add(ld->errs, ld->file, (v ? v : n)->line,
		    (v ? v : n)->col, "review: checks: expected a non-empty "
		    "list of checks");
		return -1;
	}
	rv->checks = xcalloc(v->n, sizeof *rv->checks);
	for (rv->n = 0; rv->n < v->n; rv->n++)
		setup_check(&rv->checks[rv->n], v->items[rv->n], r, ld);
	/* every event of the kind keeps the index of records of their own */
	for (i = 0; i < ld->rs->nevtypes; i++) {
		struct evtype *et = ld->rs->evtypes[i];

		if (et->kind == ld->kind && et->action != EV_ALONE) {
			r->on = xreallocarray(r->on, r->non + 1, sizeof *r->on);
			r->on[r->non++] = et;
		}
	}
	return ld->errs->n == before ? 0 : -1;
}

/* The count rule may be in a later file: found once all are loaded. */
static int
link(struct rule *r, struct rule_load *ld)
{
	struct review *rv = r->data;
	const struct rule *cr;

	if (rv->count == NULL)
		return 0;
	if ((cr = ruleset_rule(ld->rs, rv->count)) == NULL ||
	    cr->prim != &prim_count || cr->kind != r->kind) {
		errs_add(ld->errs, ld->file, rv->cline, rv->ccol, "review: "
		    "count: '%s' is not a count rule of kind %s", rv->count,
		    r->kind->name);
		return -1;
	}
	rv->cr = cr;
	return 0;
}

static void
owned_free(struct kentry *ke)
{
	intern_put(ke->k[0]);
	intern_put(((struct owned *)(void *)ke)->grp);
	free(ke);
}

/* Record that entity id (interned) has a record of its own in group grp. */
static void
owned_put(struct review *rv, const char *id, const char *grp)
{
	struct owned *o;

	o = (struct owned *)(void *)kmap_find(&rv->owned, id, NULL, NULL,
	    NULL, 0);
	if (o == NULL) {
		o = xcalloc(1, sizeof *o);
		kentry_key(&o->ke, intern_ref(id), NULL, NULL, NULL, 0);
		kmap_insert(&rv->owned, &o->ke);
	}
	if (o->grp != grp) {
		intern_put(o->grp);
		o->grp = intern_ref(grp);
	}
}

static void
owned_del(struct review *rv, const char *id)
{
	struct kentry *ke;

	if ((ke = kmap_find(&rv->owned, id, NULL, NULL, NULL, 0)) != NULL) {
		kmap_remove(&rv->owned, ke);
		owned_free(ke);
	}
}

/* Has the record an attribute that an event set (not a derived one)? */
static int
has_own(const struct entity *e)
{
	const struct kind *k = e->kind;
	size_t i;

	for (i = 0; i < k->nattrs; i++)
		if (!k->attrs[i].derived && (k->attrs[i].type == VT_STR ?
		    e->vals[i].s != NULL : e->vals[i].i != 0))
			return 1;
	return 0;
}

/* An event of the kind: keep the index of records of their own. */
static void
settle(const struct rule *r, struct change *ch)
{
	struct review *rv = r->data;
	const struct entity *e = ch->ent;
	const char *id;

	if (e == NULL || e->kind != r->kind)
		return;
	if (ch->removing || !has_own(e)) {
		if ((id = intern_find(e->id)) != NULL)
			owned_del(rv, id);
		return;
	}
	id = intern_get(e->id);
	owned_put(rv, id, group_of(rv, e));
	intern_put(id);
}

struct load_arg {
	struct review	*rv;
	const struct kind *k;
	const char	*by;
};

static void
load_row(void *arg, const char *id, const char *state, int removed)
{
	struct load_arg *la = arg;
	const cJSON *attrs, *v, *a;
	const char *iid, *grp = NULL;
	cJSON *root;
	size_t i;

	if (removed || (root = cJSON_Parse(state)) == NULL)
		return;
	attrs = cJSON_GetObjectItemCaseSensitive(root, "attrs");
	for (i = 0; i < la->k->nattrs; i++)
		if (!la->k->attrs[i].derived && (a =
		    cJSON_GetObjectItemCaseSensitive(attrs,
		    la->k->attrs[i].name)) != NULL && !cJSON_IsNull(a))
			break;
	if (i < la->k->nattrs) {
		v = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(root, "fields"), la->by);
		if (cJSON_IsString(v))
			grp = intern_get(v->valuestring);
		iid = intern_get(id);
		owned_put(la->rv, iid, grp);
		intern_put(iid);
		intern_put(grp);
	}
	cJSON_Delete(root);
}

/*
 * The index of records of their own, from the kind's stored records; or,
 * after a reload that did not change the rule, its predecessor's.
 */
static int
load(struct rule *r, struct engine *e, struct rule *prev)
{
	struct review *rv = r->data, *pv;
	struct load_arg la;

	kmap_clear(&rv->owned, owned_free);
	if (prev != NULL && prev->digest == r->digest) {
		pv = prev->data;
		rv->owned = pv->owned;
		memset(&pv->owned, 0, sizeof pv->owned);
		return 0;
	}
	if (e->store == NULL)
		return 0;
	la.rv = rv;
	la.k = r->kind;
	la.by = rv->by != NO_FIELD ? r->kind->fields[rv->by -
	    r->kind->nattrs] : "";
	if (store_entity_rows(e->store, r->kind->name, load_row, &la) != 0) {
		kmap_clear(&rv->owned, owned_free);
		return -1;
	}
	return 0;
}

static void
id_add(struct review *rv, const char *id, const char *grp)
{
	if (rv->want != NULL && grp != rv->want)
		return;
	if (rv->nids == rv->idcap) {
		rv->idcap = rv->idcap ? rv->idcap * 2 : 64;
		rv->ids = xreallocarray(rv->ids, rv->idcap, sizeof *rv->ids);
	}
	rv->ids[rv->nids++] = id;
}

static void
count_one(void *arg, const char *id, const char *grp)
{
	id_add(arg, id, grp);
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The review's entities, in id order, from memory alone. */
static void
collect(struct review *rv, const struct event *ev)
{
	const char *g = rv->evfield >= 0 && EV_HAS(ev, rv->evfield) ?
	    ev->vals[rv->evfield].s : NULL;
	struct kentry *ke;
	size_t i, j;

	rv->nids = 0;
	rv->want = NULL;
	if (g != NULL && (rv->want = intern_find(g)) == NULL)
		return;		/* nothing names the group */
	if (rv->cr != NULL)
		count_groups(rv->cr, rv->by, count_one, rv);
	for (i = 0; i < rv->owned.nbuckets; i++)
		for (ke = rv->owned.buckets[i]; ke != NULL; ke = ke->hnext)
			id_add(rv, ke->k[0], ((struct owned *)(void *)ke)->grp);
	qsort(rv->ids, rv->nids, sizeof *rv->ids, by_id);
	for (i = j = 0; i < rv->nids; i++)
		if (j == 0 || rv->ids[j - 1] != rv->ids[i])
			rv->ids[j++] = rv->ids[i];
	rv->nids = j;
}

/*
 * Load the entities reviewed while the event can still be refused, so
 * that a store that cannot be read refuses it (unavailable).
 */
static int
check(const struct rule *r, struct change *ch, char *msg, size_t msglen)
{
	struct review *rv = r->data;
	size_t i;
	int err;

	if (ch->ev->et != rv->on)
		return E_OK;
	collect(rv, ch->ev);
	for (i = 0; i < rv->nids; i++) {
		(void)ecache_get(&ch->eng->cache, ch->eng->store, r->kind,
		    rv->ids[i], &err);
		if (err) {
			snprintf(msg, msglen, "storage cannot be read");
			return E_UNAVAILABLE;
		}
	}
	return E_OK;
}

static void
raise_check(const struct rule *r, struct change *ch, const struct rcheck *ck,
    const struct entity *e, struct buf *data)
{
	struct alert_out a;

	buf_reset(data);
	rules_data_json(&ck->data, e->vals, data);	/* ",k":v... */
	if (BUF_LEN(data) == 0)
		buf_addc(data, '{');
	else
		BUF_DATA(data)[0] = '{';
	buf_addc(data, '}');
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.def = &ck->alert;
	a.kind = r->kind->name;
	a.entity = e->id;
	a.ts = ch->ev->ts;
	a.ev = ch->ev;
	a.ent = e;
	a.data = BUF_DATA(data);
	engine_alert(ch->eng, ch->seq, &a);
}

static void
eval(const struct rule *r, struct change *ch)
{
	struct review *rv = r->data;
	struct buf data = { 0 };
	struct entity *e;
	size_t i, j;

	if (ch->ev->et != rv->on)
		return;
	collect(rv, ch->ev);	/* again: the timers may have moved some */
	for (i = 0; i < rv->nids; i++) {
		if ((e = engine_entity(ch->eng, r->kind, rv->ids[i])) == NULL ||
		    (rv->want != NULL && group_of(rv, e) != NULL &&
		    group_of(rv, e) != rv->want))
			continue;
		for (j = 0; j < rv->n; j++)
			if (expr_eval(rv->checks[j].when, e->vals).i)
				raise_check(r, ch, &rv->checks[j], e, &data);
	}
	buf_free(&data);
}

static void
review_free(void *p)
{
	struct review *rv = p;
	size_t i;

	if (rv == NULL)
		return;
	for (i = 0; i < rv->n; i++) {
		alert_def_free(&rv->checks[i].alert);
		expr_free(rv->checks[i].when);
		rules_data_free(&rv->checks[i].data);
	}
	free(rv->checks);
	kmap_clear(&rv->owned, owned_free);
	free(rv->ids);
	free(rv->count);
	free(rv);
}

const struct prim prim_review = {
	.name = "review",
	.setup = setup,
	.check = check,
	.eval = eval,
	.link = link,
	.settle = settle,
	.load = load,
	.free = review_free,
};
