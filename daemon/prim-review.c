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
 *
 * A review of facts (`facts`) has as its members, instead, the facts with
 * a value of a rule that keeps facts (band, rank, score) for the event's
 * period (`period`, its field) whose group is the event's `by` field.  It
 * counts them into named totals, one per member whose condition over the
 * fact holds (`value`, its integer; `level`, its band level's name or ""),
 * and `total`, the members; its checks are over the totals and raise at
 * most one alert each, of kind the `by` field's name, the group's value
 * as entity and the event's period; with no members, none.  The facts are
 * read through the index by rule, period and group that facts.c keeps.
 *
 *   branch.review:
 *     review:
 *       on: branch.review
 *       by: scope                  # the event's field: the facts' group
 *       facts: branch.grade        # a band that keeps levels by period
 *       period: period             # the event's field with the period
 *       totals: {model: level == "model", basic: level == "basic"}
 *       checks:
 *         - {alert: scope.model_share, when: 2 * model < total,
 *            data: {model: model, total: total}, message: "..."}
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
	int		 line;		/* of `when`, for explain */
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
	/* a review of facts */
	int		 byfacts;
	char		*facts;		/* the rule whose facts are members */
	int		 fline, fcol;
	const struct rule *fr;
	int		 evperiod;	/* the event's period field */
	char		*gname;		/* the group field: the alerts' kind */
	char		**tnames;	/* totals, "total", NULL: the rule's vars */
	struct expr	**tconds;	/* a member counts in total i */
	size_t		 nt;
};

/* A member's names in the totals' conditions. */
static const char *const member_names[] = { "value", "level" };
#define MAX_TOTALS	(ALERT_VARS - 1)	/* and `total` */

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
    const struct expr_scope *scope, struct rule_load *ld)
{
	static const char *const keys[] = { "alert", "severity", "when",
	    "data", "message" };
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
	else if ((ck->line = v->line), (ck->when = expr_compile(v->str, scope,
	    VT_BOOL, &cause, &pos)) == NULL) {
		rules_compile_error(ld->errs, ld->file, v, pos, cause);
		free(cause);
	}
	if ((v = ynode_get(n, "data")) != NULL)
		rules_data(&ck->data, v, scope, noreserved, ld);
	return ld->errs->n == before ? 0 : -1;
}

/*
 * on: the review event; by: its field and the kind's, of the same name (in
 * a review of facts, the event's field only).
 */
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
	if ((v = ynode_get(n, "by")) == NULL) {
		if (rv->byfacts)
			errs_add(ld->errs, ld->file, n->line, n->col, "review: "
			    "a review of facts needs 'by', the event's field "
			    "that names the group");
		return;
	}
	if (rv->byfacts) {	/* the event's field alone: facts keep groups */
		if (v->type != YN_SCALAR || v->len == 0) {
			errs_add(ld->errs, ld->file, v->line, v->col, "review: "
			    "by: expected a field name");
			return;
		}
		rv->evfield = rules_field(rv->on, v, v->str, 1 << FT_STRING, ld);
		rv->gname = xstrdup(v->str);
		return;
	}
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
member_resolve(void *arg, const char *name, enum vtype *t, int *slot)
{
	size_t i;

	(void)arg;
	for (i = 0; i < 2; i++)
		if (strcmp(name, member_names[i]) == 0) {
			*t = i == 0 ? VT_INT : VT_STR;
			*slot = (int)i;
			return 0;
		}
	return -1;
}

/* The names of a review of facts' checks: its totals, then `total`. */
static int
total_resolve(void *arg, const char *name, enum vtype *t, int *slot)
{
	const struct review *rv = arg;
	size_t i;

	for (i = 0; i <= rv->nt; i++)
		if (strcmp(name, rv->tnames[i]) == 0) {
			*t = VT_INT;
			*slot = (int)i;
			return 0;
		}
	return -1;
}

/*
 * totals: {NAME: CONDITION, ...} over a member; the names, and `total`,
 * are the checks' names and the messages' placeholders.
 */
static void
setup_totals(struct rule *r, struct review *rv, const struct ynode *n,
    struct rule_load *ld)
{
	struct expr_scope scope = { member_resolve, NULL, member_names, 2 };
	const struct ynode *key, *v;
	size_t i, cnt = 0, pos;
	char *cause;

	if (n != NULL && n->type != YN_MAP)
		errs_add(ld->errs, ld->file, n->line, n->col, "review: totals: "
		    "expected a map of name: condition");
	else if (n != NULL && (cnt = n->n) > MAX_TOTALS) {
		errs_add(ld->errs, ld->file, n->line, n->col, "review: totals: "
		    "at most %d", MAX_TOTALS);
		cnt = MAX_TOTALS;
	}
	rv->tnames = xcalloc(cnt + 2, sizeof *rv->tnames);
	rv->tconds = xcalloc(cnt + 1, sizeof *rv->tconds);
	for (i = 0; i < cnt; i++) {
		key = n->items[2 * i];
		v = n->items[2 * i + 1];
		if (strcmp(key->str, "total") == 0) {
			errs_add(ld->errs, ld->file, key->line, key->col, "review: "
			    "totals: 'total' is the number of members");
			continue;
		}
		rv->tnames[rv->nt] = xstrdup(key->str);
		if (v->type != YN_SCALAR)
			errs_add(ld->errs, ld->file, v->line, v->col, "review: "
			    "totals.%s: expected a condition", key->str);
		else if ((rv->tconds[rv->nt] = expr_compile(v->str, &scope,
		    VT_BOOL, &cause, &pos)) == NULL) {
			rules_compile_error(ld->errs, ld->file, v, pos, cause);
			free(cause);
		}
		rv->nt++;
	}
	rv->tnames[rv->nt] = xstrdup("total");
	r->vars = (const char *const *)rv->tnames;
}

/* A rule named by scalar v, found by link once every file is loaded. */
static void
later_rule(const struct ynode *v, char **name, int *line, int *col,
    const char *what, struct rule_load *ld)
{
	if (v->type != YN_SCALAR || v->len == 0) {
		errs_add(ld->errs, ld->file, v->line, v->col, "review: %s", what);
		return;
	}
	*name = xstrdup(v->str);
	*line = v->line;
	*col = v->col;
}

/* facts, period, totals: a review of facts; count is for entities. */
static void
setup_facts(struct rule *r, struct review *rv, const struct ynode *n,
    struct rule_load *ld)
{
	const struct ynode *v;

	later_rule(ynode_get(n, "facts"), &rv->facts, &rv->fline, &rv->fcol,
	    "facts: expected the name of a rule that keeps facts", ld);
	if ((v = ynode_get(n, "count")) != NULL)
		errs_add(ld->errs, ld->file, v->line, v->col, "review: count: "
		    "not with facts (the facts are the members)");
	if ((v = ynode_get(n, "period")) == NULL)
		errs_add(ld->errs, ld->file, n->line, n->col, "review: a review "
		    "of facts needs 'period', the event's field with the period");
	else if (v->type != YN_SCALAR)
		errs_add(ld->errs, ld->file, v->line, v->col, "review: period: "
		    "expected a field name");
	else if (rv->on != NULL)
		rv->evperiod = rules_field(rv->on, v, v->str, 1 << FT_PERIOD,
		    ld);
	setup_totals(r, rv, ynode_get(n, "totals"), ld);
}

/* count: the count rule whose groups' entities are reviewed too. */
static void
setup_count(struct review *rv, const struct ynode *n, struct rule_load *ld)
{
	static const char *const only[] = { "period", "totals" };
	const struct ynode *v;
	size_t i;

	for (i = 0; i < 2; i++)
		if ((v = ynode_get(n, only[i])) != NULL)
			errs_add(ld->errs, ld->file, v->line, v->col, "review: "
			    "%s: only in a review of facts ('facts: RULE')",
			    only[i]);
	if ((v = ynode_get(n, "count")) != NULL)
		later_rule(v, &rv->count, &rv->cline, &rv->ccol, "count: "
		    "expected the name of a count rule", ld);
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *n,
    struct rule_load *ld)
{
	static const char *const keys[] = { "on", "by", "count", "checks",
	    "facts", "period", "totals" };
	struct expr_scope scope = { rules_resolve, ld->kind, ld->kind->names,
	    ld->kind->nattrs + ld->kind->nfields };
	const struct ynode *v;
	struct review *rv;
	size_t i, before = ld->errs->n;

	(void)def;
	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "review: expected "
		    "a map with on, by, count, checks");
		return -1;
	}
	ynode_check_keys(n, ld->file, keys, 7, "review", ld->errs);
	rv = xcalloc(1, sizeof *rv);
	r->data = rv;
	rv->evfield = rv->evperiod = -1;
	rv->by = NO_FIELD;
	rv->byfacts = ynode_get(n, "facts") != NULL;
	setup_on(r, rv, n, ld);
	if (rv->byfacts) {
		setup_facts(r, rv, n, ld);
		scope.resolve = total_resolve;
		scope.arg = rv;
		scope.names = (const char *const *)rv->tnames;
		scope.nnames = rv->nt + 1;
	} else
		setup_count(rv, n, ld);
	if ((v = ynode_get(n, "checks")) == NULL || v->type != YN_SEQ ||
	    v->n == 0) {
		errs_add(ld->errs, ld->file, (v ? v : n)->line,
		    (v ? v : n)->col, "review: checks: expected a non-empty "
		    "list of checks");
		return -1;
	}
	rv->checks = xcalloc(v->n, sizeof *rv->checks);
	for (rv->n = 0; rv->n < v->n; rv->n++)
		setup_check(&rv->checks[rv->n], v->items[rv->n], r, &scope, ld);
	/* every event of the kind keeps the index of records of their own */
	for (i = 0; !rv->byfacts && i < ld->rs->nevtypes; i++) {
		struct evtype *et = ld->rs->evtypes[i];

		if (et->kind == ld->kind && et->action != EV_ALONE) {
			r->on = xreallocarray(r->on, r->non + 1, sizeof *r->on);
			r->on[r->non++] = et;
		}
	}
	return ld->errs->n == before ? 0 : -1;
}

/* The count or facts rule may be in a later file: found once all are. */
static int
link(struct rule *r, struct rule_load *ld)
{
	struct review *rv = r->data;
	const struct rule *cr;

	if (rv->facts != NULL) {
		if ((cr = ruleset_rule(ld->rs, rv->facts)) == NULL ||
		    (cr->prim != &prim_band && cr->prim != &prim_rank &&
		    cr->prim != &prim_score)) {
			errs_add(ld->errs, ld->file, rv->fline, rv->fcol,
			    "review: facts: '%s' is not a rule that keeps facts "
			    "(band, rank or score)", rv->facts);
			return -1;
		}
		rv->fr = cr;
	}
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

	if (rv->byfacts || e == NULL || e->kind != r->kind)
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
	if (e->store == NULL || rv->byfacts)
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

	if (ch->ev->et != rv->on || rv->byfacts)
		return E_OK;	/* facts are all in memory */
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

/* A check's alert: a is the alert but for its definition and data. */
static void
raise_check(struct change *ch, const struct rcheck *ck, struct alert_out *a,
    const union val *vals, struct buf *data)
{
	buf_reset(data);
	rules_data_json(&ck->data, vals, data);	/* ",k":v... */
	if (BUF_LEN(data) == 0)
		buf_addc(data, '{');
	else
		BUF_DATA(data)[0] = '{';
	buf_addc(data, '}');
	a->def = &ck->alert;
	a->ts = ch->ev->ts;
	a->ev = ch->ev;
	a->data = BUF_DATA(data);
	engine_alert(ch->eng, ch->seq, a);
}

static void
review_entities(const struct rule *r, struct change *ch)
{
	struct review *rv = r->data;
	struct buf data = { 0 };
	struct alert_out a;
	struct entity *e;
	size_t i, j;

	collect(rv, ch->ev);	/* again: the timers may have moved some */
	for (i = 0; i < rv->nids; i++) {
		if ((e = engine_entity(ch->eng, r->kind, rv->ids[i])) == NULL ||
		    (rv->want != NULL && group_of(rv, e) != NULL &&
		    group_of(rv, e) != rv->want))
			continue;
		for (j = 0; j < rv->n; j++)
			if (expr_eval(rv->checks[j].when, e->vals).i) {
				ENGINE_REACH(ch->eng, r, j);
				memset(&a, 0, sizeof a);
				a.rule = r;
				a.kind = r->kind->name;
				a.entity = e->id;
				a.ent = e;
				raise_check(ch, &rv->checks[j], &a, e->vals,
				    &data);
			}
	}
	buf_free(&data);
}

/*
 * Count the group's facts for the period into the totals (the last one
 * all of them), and raise the checks that hold over them, if any.
 */
static void
review_facts(const struct rule *r, struct change *ch)
{
	const struct review *rv = r->data;
	const struct event *ev = ch->ev;
	char num[ALERT_VARS][24];
	union val tv[ALERT_VARS], mv[2];
	struct buf data = { 0 };
	const struct fact *f;
	struct alert_out a;
	size_t i;

	if (rv->fr == NULL || !EV_HAS(ev, rv->evfield) ||
	    !EV_HAS(ev, rv->evperiod))
		return;
	memset(tv, 0, sizeof tv);
	for (f = facts_group(&ch->eng->facts, rv->fr->name,
	    ev->vals[rv->evfield].s, (int32_t)ev->vals[rv->evperiod].i);
	    f != NULL; f = f->gnext) {
		if (!f->has_value)
			continue;	/* a score not yet complete */
		mv[0].i = f->value;
		mv[1].s = rv->fr->prim == &prim_band ?
		    band_level_name(rv->fr, f->value) : NULL;
		for (i = 0; i < rv->nt; i++)
			tv[i].i += expr_eval(rv->tconds[i], mv).i != 0;
		tv[rv->nt].i++;
	}
	if (tv[rv->nt].i == 0)
		return;		/* no members: nothing to find */
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.kind = rv->gname;
	a.entity = ev->vals[rv->evfield].s;
	a.period = (int32_t)ev->vals[rv->evperiod].i;
	for (i = 0; i <= rv->nt; i++) {
		snprintf(num[i], sizeof num[i], "%lld", (long long)tv[i].i);
		a.vars[i] = num[i];
	}
	for (i = 0; i < rv->n; i++)
		if (expr_eval(rv->checks[i].when, tv).i) {
			ENGINE_REACH(ch->eng, r, i);
			raise_check(ch, &rv->checks[i], &a, tv, &data);
		}
	buf_free(&data);
}

static void
eval(const struct rule *r, struct change *ch)
{
	const struct review *rv = r->data;

	if (ch->ev->et != rv->on)
		return;
	if (rv->byfacts)
		review_facts(r, ch);
	else
		review_entities(r, ch);
}

/* Outcomes: each check holding for a member. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	const struct review *rv = r->data;

	if (i >= rv->n)
		return -1;
	buf_addf(name, "check %s", rv->checks[i].alert.name);
	return 1;
}

/*
 * For an entity a review inspects: each check's condition over its record
 * as it is now, which the next review would raise on.  A review of facts
 * judges a group's totals, not an entity: it names what it reads.
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct review *rv = r->data;
	size_t i;
	int hit;

	buf_adds(b, ",\"on\":");
	buf_add_json_cstr(b, rv->on->name);
	if (rv->byfacts) {
		buf_adds(b, ",\"facts\":");
		buf_add_json_cstr(b, rv->facts);
		return;
	}
	buf_adds(b, ",\"checks\":[");
	for (i = 0; i < rv->n; i++) {
		buf_adds(b, i ? ",{\"alert\":" : "{\"alert\":");
		buf_add_json_cstr(b, rv->checks[i].alert.name);
		buf_adds(b, ",\"at\":");
		rules_at(r, rv->checks[i].line, b);
		buf_adds(b, ",\"when\":");
		hit = expr_explain(rv->checks[i].when, ent->vals,
		    ent->kind->names, b).i != 0;
		buf_addf(b, ",\"raises\":%s}", hit ? "true" : "false");
	}
	buf_addc(b, ']');
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
	for (i = 0; rv->tnames != NULL && rv->tnames[i] != NULL; i++)
		free(rv->tnames[i]);
	for (i = 0; i < rv->nt; i++)
		expr_free(rv->tconds[i]);
	free(rv->tnames);
	free(rv->tconds);
	free(rv->facts);
	free(rv->gname);
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
	.outcome = outcome,
	.explain = explain,
};
