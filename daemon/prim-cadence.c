/*
 * The cadence primitive: at least one event of a kind per local calendar
 * period (month, quarter or half year) per entity, while the entity is
 * held in one group from the period's first instant to its end.
 *
 * A start event holds the entity in the group its group field names,
 * from the event's ts, replacing any earlier hold (a start naming the
 * group the entity is already in changes nothing); a stop event ends the
 * hold.  A count event counts in the local period of its ts when its
 * group field names the entity's group at that ts.  When a period ends,
 * each entity held in the same group since the period's first instant or
 * earlier, with no counted event in it, gets the rule's alert, with the
 * group and the period in its data.
 *
 * What the rule keeps of an entity is a span (facts.c: the group, since
 * when, the periods with a counted event), written through.  One timer
 * per rule, not per entity, judges every span at each period's end: it
 * fires once the clock is strictly past the end, like any timer, and the
 * next one is armed as it fires.  Its key alternates between two tags by
 * the parity of the period, since a timer that fires is cancelled after
 * its rule's fire hook, so the next cannot take the same key.
 *
 *   cadence:
 *     every: month                 # month, quarter or half_year
 *     group: community             # the field naming the group
 *     start: leader.assign
 *     stop: leader.release         # optional
 *     count: leader.visit
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

enum role { R_START, R_STOP, R_COUNT };

struct cev {
	const struct evtype *et;
	enum role	 role;
	int		 group;		/* the group field's index, or -1 */
};

struct cadence {
	enum period_kind every;
	struct cev	*evs;
	size_t		 nevs;
	const char	*vars[3];	/* the group field's name, every's */
	char		*group;
};

static const char *const every_names[] = { "half_year", "quarter",
    "month" };

static const char *const vars_none[] = { NULL };

/* One event type in a role; its group field unless it is a stop. */
static void
add_event(struct rule *r, struct cadence *c, const struct ynode *n,
    enum role role, struct rule_load *ld)
{
	static const char *const what[] = { "start", "stop", "count" };
	struct evtype *et;
	size_t i, before = r->non;
	int g = -1;

	if ((et = rules_on(r, n, ld)) == NULL)
		return;
	if (r->non == before) {
		for (i = 0; i < c->nevs; i++)
			if (c->evs[i].et == et)
				errs_add(ld->errs, ld->file, n->line, n->col,
				    "%s: event %s is already a %s event of the "
				    "rule", what[role], et->name,
				    what[c->evs[i].role]);
		return;
	}
	if (et->kind != ld->kind) {
		errs_add(ld->errs, ld->file, n->line, n->col, "%s: event %s is "
		    "not of kind %s", what[role], et->name, ld->kind->name);
		return;
	}
	if (role != R_STOP && c->group != NULL &&
	    (g = rules_field(et, n, c->group, 1 << FT_STRING, ld)) < 0)
		return;
	if (g >= 0 && et->fields[g].optional) {
		errs_add(ld->errs, ld->file, n->line, n->col, "%s: field '%s' "
		    "of %s names the group and may not be optional",
		    what[role], c->group, et->name);
		return;
	}
	c->evs = xreallocarray(c->evs, c->nevs + 1, sizeof *c->evs);
	c->evs[c->nevs].et = et;
	c->evs[c->nevs].role = role;
	c->evs[c->nevs].group = g;
	c->nevs++;
}

/* start, stop, count: one event type or a list of them. */
static void
load_events(struct rule *r, struct cadence *c, const struct ynode *body,
    const char *key, enum role role, struct rule_load *ld)
{
	const struct ynode *v = ynode_get(body, key);
	size_t i;

	if (v == NULL) {
		if (role != R_STOP)
			errs_add(ld->errs, ld->file, body->line, body->col,
			    "cadence: needs '%s', one or more event types",
			    key);
		return;
	}
	if (v->type == YN_MAP || (v->type == YN_SEQ && v->n == 0)) {
		errs_add(ld->errs, ld->file, v->line, v->col, "%s: expected an "
		    "event type or a list of them", key);
		return;
	}
	for (i = 0; i < (v->type == YN_SEQ ? v->n : 1); i++)
		add_event(r, c, v->type == YN_SEQ ? v->items[i] : v, role, ld);
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "every", "group", "start", "stop",
	    "count" };
	const struct ynode *v;
	struct cadence *c;
	size_t i, before = ld->errs->n;

	(void)def;
	r->vars = vars_none;
	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "cadence: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 5, "cadence", ld->errs);
	c = xcalloc(1, sizeof *c);
	r->data = c;
	if ((v = ynode_get(body, "every")) == NULL)
		errs_add(ld->errs, ld->file, body->line, body->col, "cadence: "
		    "needs 'every': month, quarter or half_year");
	else {
		for (i = 0; i < 3; i++)
			if (v->type == YN_SCALAR &&
			    strcmp(v->str, every_names[i]) == 0)
				break;
		if (i == 3)
			errs_add(ld->errs, ld->file, v->line, v->col, "every: "
			    "expected month, quarter or half_year");
		c->every = i < 3 ? (enum period_kind)i : PERIOD_MONTH;
	}
	if ((v = ynode_get(body, "group")) == NULL)
		errs_add(ld->errs, ld->file, body->line, body->col, "cadence: "
		    "needs 'group', the field of the start and count events "
		    "that names the group");
	else if (v->type != YN_SCALAR || v->len == 0)
		errs_add(ld->errs, ld->file, v->line, v->col, "group: expected "
		    "a field name");
	else
		c->group = xstrdup(v->str);
	load_events(r, c, body, "start", R_START, ld);
	load_events(r, c, body, "stop", R_STOP, ld);
	load_events(r, c, body, "count", R_COUNT, ld);
	/* the alert's data and template name both after the rule's keys */
	c->vars[0] = c->group != NULL ? c->group : "group";
	c->vars[1] = every_names[c->every];
	r->vars = c->vars;
	return ld->errs->n == before ? 0 : -1;
}

static const struct cev *
role_of(const struct cadence *c, const struct evtype *et)
{
	size_t i;

	for (i = 0; i < c->nevs; i++)
		if (c->evs[i].et == et)
			return &c->evs[i];
	return NULL;
}

static int32_t
period_at(const struct cadence *c, int64_t t)
{
	struct period p = period_of(c->every, t);

	return period_code(&p);
}

/* Did an event count in period p? */
static int
seen(const struct span *sp, int32_t p)
{
	long d;

	if (sp->seen == 0)
		return 0;
	d = period_code_index(sp->seen) - period_code_index(p);
	return d >= 0 && d < 64 && (sp->mask >> d & 1);
}

static void
count(struct span *sp, int32_t p)
{
	long d;

	if (sp->seen == 0) {
		sp->seen = p;
		sp->mask = 1;
	} else if ((d = period_code_index(p) -
	    period_code_index(sp->seen)) > 0) {
		sp->mask = d >= 64 ? 1 : sp->mask << d | 1;
		sp->seen = p;
	} else if (-d < 64)
		sp->mask |= (uint64_t)1 << -d;
}

/* The rule's pending timer: it judges the period in its aux. */
static struct timer *
rule_timer(const struct rule *r, struct engine *e)
{
	struct timer *t;

	if ((t = timers_find(&e->timers, r->name, r->kind->name, "", "0")) ==
	    NULL)
		t = timers_find(&e->timers, r->name, r->kind->name, "", "1");
	return t;
}

static void
arm(const struct rule *r, struct engine *e, int32_t p)
{
	timers_set(&e->timers, engine_ops(e), r->name, r->kind->name, "",
	    period_code_index(p) & 1 ? "1" : "0", period_code_end(p), p);
}

/*
 * Judge a span for period p, which ended at its timer's due: the entity
 * was held in the group from p's first instant on, and nothing counted.
 */
static void
judge(const struct rule *r, struct engine *e, const struct span *sp,
    int32_t p, int64_t due)
{
	const struct cadence *c = r->data;
	struct buf *data = &e->scratch;
	struct alert_out a;
	char per[16];

	if (sp->since > period_code_start(p))
		return;
	if (seen(sp, p)) {
		ENGINE_REACH(e, r, 0);
		return;
	}
	ENGINE_REACH(e, r, 1);
	period_code_format(p, per, sizeof per);
	buf_reset(data);
	buf_addc(data, '{');
	buf_add_json_cstr(data, c->vars[0]);
	buf_addc(data, ':');
	buf_add_json_cstr(data, sp->grp);
	buf_addc(data, ',');
	buf_add_json_cstr(data, c->vars[1]);
	buf_addf(data, ":\"%s\"}", per);
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.kind = SPAN_KIND(sp);
	a.entity = SPAN_ENTITY(sp);
	a.period = p;
	a.ts = due;
	a.severity = r->severity;
	a.vars[0] = sp->grp;
	a.vars[1] = per;
	a.data = BUF_DATA(data);
	engine_alert(e, 0, &a);
}

/*
 * A hold ends at ts (a stop, or a start in another group).  Held until
 * the end of the pending period, it is judged for that period now: the
 * timer would no longer find it.  Under the event clock that is an end
 * at exactly the period's end, which the timer has not passed yet.
 */
static void
end_hold(const struct rule *r, struct engine *e, const struct span *sp,
    int64_t ts)
{
	const struct timer *t = rule_timer(r, e);

	if (t != NULL && t->due <= ts)
		judge(r, e, sp, (int32_t)t->aux, t->due);
}

static void
eval(const struct rule *r, struct change *ch)
{
	const struct cadence *c = r->data;
	struct engine *e = ch->eng;
	const struct event *ev = ch->ev;
	const struct cev *ce = role_of(c, ev->et);
	const char *kind = r->kind->name, *id = ch->ent->id, *g;
	struct span *sp;

	if (ce == NULL)
		return;
	/* the first event of a rule arms its timer, for the current period */
	if (rule_timer(r, e) == NULL)
		arm(r, e, period_at(c, engine_now(e)));
	sp = facts_span(&e->facts, r->name, kind, id);
	g = ce->group >= 0 ? ev->vals[ce->group].s : NULL;
	switch (ce->role) {
	case R_START:
		if (sp != NULL && strcmp(sp->grp, g) == 0)
			return;		/* still held there: since stays */
		if (sp != NULL)
			end_hold(r, e, sp, ev->ts);
		sp = facts_span_put(&e->facts, r->name, kind, id, g, ev->ts);
		facts_span_write(sp, engine_ops(e));
		break;
	case R_STOP:
		if (sp == NULL)
			return;
		end_hold(r, e, sp, ev->ts);
		facts_span_del(&e->facts, engine_ops(e), sp);
		break;
	case R_COUNT:
		if (sp == NULL || strcmp(sp->grp, g) != 0 || ev->ts < sp->since)
			return;
		count(sp, period_at(c, ev->ts));
		facts_span_write(sp, engine_ops(e));
		break;
	}
}

static int
by_entity(const void *a, const void *b)
{
	const struct span *const *x = a, *const *y = b;

	return strcmp(SPAN_ENTITY(*x), SPAN_ENTITY(*y));
}

/*
 * The end of the timer's period: judge every span of the rule, in entity
 * order, and arm the timer of the next period.
 */
static void
fire(const struct rule *r, struct engine *e, const struct timer *t)
{
	const struct cadence *c = r->data;
	const char *name = intern_find(r->name);
	struct kmap *m = &e->facts.spans;
	struct span **v = NULL;
	struct kentry *ke;
	size_t i, n = 0;
	int32_t p = (int32_t)t->aux;

	/*
	 * A reload changed the rule's period kind: the timer's period is
	 * not the rule's.  The rule's next event arms one of its kind.
	 */
	if ((int)period_decode(p).kind != (int)c->every)
		return;
	for (i = 0; name != NULL && i < m->nbuckets; i++)
		for (ke = m->buckets[i]; ke != NULL; ke = ke->hnext)
			if (ke->k[0] == name) {
				if ((n & (n - 1)) == 0)
					v = xreallocarray(v, n ? 2 * n : 1,
					    sizeof *v);
				v[n++] = (struct span *)ke;
			}
	if (n > 1)
		qsort(v, n, sizeof *v, by_entity);
	for (i = 0; i < n; i++)
		judge(r, e, v[i], p, t->due);
	free(v);
	arm(r, e, period_code_step(p, 1));
}

/* For `get`: the end of the first period the entity's hold is judged for. */
static int64_t
due(const struct rule *r, struct engine *e, const struct entity *ent)
{
	const struct cadence *c = r->data;
	const struct timer *t = rule_timer(r, e);
	const struct span *sp;
	int32_t p, first;

	if (t == NULL || (sp = facts_span(&e->facts, r->name, r->kind->name,
	    ent->id)) == NULL)
		return -1;
	p = (int32_t)t->aux;
	first = period_at(c, sp->since);
	if (period_code_start(first) < sp->since)
		first = period_code_step(first, 1);
	if (period_code_index(first) < period_code_index(p))
		first = p;
	return period_code_end(first);
}

/* Outcomes: a period with its event, one without. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	static const char *const names[] = { "met", "missed" };

	(void)r;
	return coverage_fixed(names, 2, i, name);
}

/*
 * What the rule keeps for the entity: the group it is held in and since
 * when, the periods (of the last 64) with a counted event, and the period
 * being judged next: when, and whether it has one yet.
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct cadence *c = r->data;
	const struct timer *t = rule_timer(r, e);
	const struct span *sp = facts_span(&e->facts, r->name, r->kind->name,
	    ent->id);
	char per[16], num[40];
	int64_t d;
	int i, n = 0;

	buf_addf(b, ",\"every\":\"%s\",\"held\":", every_names[c->every]);
	if (sp == NULL) {
		buf_adds(b, "null");
		return;
	}
	buf_adds(b, "{\"group\":");
	buf_add_json_cstr(b, sp->grp);
	clock_format(sp->since, num, sizeof num);
	buf_addf(b, ",\"since\":\"%s\"},\"seen\":[", num);
	for (i = 63; sp->seen != 0 && i >= 0; i--)
		if (sp->mask >> i & 1) {
			period_code_format(period_code_step(sp->seen, -i), per,
			    sizeof per);
			buf_addf(b, "%s\"%s\"", n++ ? "," : "", per);
		}
	buf_addc(b, ']');
	if ((d = due(r, e, ent)) < 0 || t == NULL)
		return;
	period_code_format(period_at(c, d - 1), per, sizeof per);
	clock_format(d, num, sizeof num);
	buf_addf(b, ",\"next\":{\"period\":\"%s\",\"judged\":\"%s\","
	    "\"met\":%s}", per, num, seen(sp, period_at(c, d - 1)) ? "true" :
	    "false");
}

static void
cadence_free(void *p)
{
	struct cadence *c = p;

	free(c->evs);
	free(c->group);
	free(c);
}

const struct prim prim_cadence = {
	.name = "cadence",
	.setup = setup,
	.eval = eval,
	.fire = fire,
	.due = due,
	.free = cadence_free,
	.vars = vars_none,
	.outcome = outcome,
	.explain = explain,
};
