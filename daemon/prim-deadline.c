/*
 * The deadline primitive: after a start event, expect a stop event for
 * the same entity within a duration, or by the end of the start's local
 * day.  The deadline is a timer (it survives restarts); it fires once the
 * clock is strictly past it and raises the rule's alert.  A stop event
 * with a ts at or before the deadline is in time and ends it; one after
 * it fires the alert first, if the timer has not yet.  A new start re-arms.
 *
 *   deadline:
 *     start: work_order.created
 *     stop: [work_order.claimed, work_order.closed]
 *     within: 3h                   # or until: end_of_day
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct deadline {
	struct evtype	*start;
	int64_t		 within;	/* seconds; 0: end of the local day */
};

static const char *const vars[] = { "deadline", "start", NULL };

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "start", "stop", "within",
	    "until" };
	const struct ynode *v, *w, *u;
	struct deadline *d;
	size_t i, before = ld->errs->n;

	(void)def;
	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "deadline: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 4, "deadline", ld->errs);
	d = xcalloc(1, sizeof *d);
	r->data = d;
	if ((v = ynode_get(body, "start")) == NULL) {
		errs_add(ld->errs, ld->file, body->line, body->col, "deadline: "
		    "needs 'start', an event type");
		return -1;
	}
	if ((d->start = rules_on(r, v, ld)) == NULL)
		return -1;
	if ((v = ynode_get(body, "stop")) == NULL) {
		errs_add(ld->errs, ld->file, body->line, body->col, "deadline: "
		    "needs 'stop', one or more event types");
		return -1;
	}
	for (i = 0; i < (v->type == YN_SEQ ? v->n : 1); i++) {
		const struct ynode *s = v->type == YN_SEQ ? v->items[i] : v;

		if (s->type == YN_SCALAR && strcmp(s->str, d->start->name) == 0)
			errs_add(ld->errs, ld->file, s->line, s->col, "stop: %s "
			    "is the start event", s->str);
		else
			rules_on(r, s, ld);
	}
	for (i = 0; i < r->non; i++)
		if (r->on[i]->kind != ld->kind)
			errs_add(ld->errs, ld->file, body->line, body->col,
			    "deadline: event %s is not of kind %s",
			    r->on[i]->name, ld->kind->name);
	w = ynode_get(body, "within");
	u = ynode_get(body, "until");
	if ((w == NULL) == (u == NULL))
		errs_add(ld->errs, ld->file, body->line, body->col, "deadline: "
		    "needs 'within' (a duration) or 'until: end_of_day'");
	else if (w != NULL && (w->type != YN_SCALAR ||
	    duration_parse(w->str, &d->within) != 0))
		errs_add(ld->errs, ld->file, w->line, w->col, "within: "
		    "expected a duration such as 90s, 30m, 3h or 365d");
	else if (u != NULL && (u->type != YN_SCALAR ||
	    strcmp(u->str, "end_of_day") != 0))
		errs_add(ld->errs, ld->file, u->line, u->col, "until: expected "
		    "end_of_day");
	return ld->errs->n == before ? 0 : -1;
}

static void
raise(const struct rule *r, struct engine *e, const char *kind,
    const char *entity, int64_t due, int64_t start)
{
	struct kind *k = r->kind;
	char dl[40], st[40], data[64];
	struct alert_out a;

	clock_format(due, dl, sizeof dl);
	clock_format(start, st, sizeof st);
	snprintf(data, sizeof data, "{\"deadline\":\"%s\"}", dl);
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.kind = kind;
	a.entity = entity;
	a.ts = due;
	a.ent = engine_entity(e, k, entity);
	a.severity = r->severity;
	a.vars[0] = dl;
	a.vars[1] = st;
	a.data = data;
	engine_alert(e, 0, &a);
}

static void
eval(const struct rule *r, struct change *ch)
{
	const struct deadline *d = r->data;
	struct engine *e = ch->eng;
	const char *kind = r->kind->name, *id = ch->ent->id;
	struct timer *t;
	int64_t due;

	if (ch->ev->et == d->start) {
		due = d->within > 0 ? ch->ev->ts + d->within :
		    clock_next_midnight(ch->ev->ts);
		timers_set(&e->timers, engine_ops(e), r->name, kind, id, "",
		    due, ch->ev->ts);
		return;
	}
	if ((t = timers_find(&e->timers, r->name, kind, id, "")) == NULL)
		return;
	if (ch->ev->ts > t->due) {	/* late, and not fired yet */
		raise(r, e, kind, id, t->due, t->aux);
		e->n_timers_fired++;
	}
	timers_cancel(&e->timers, engine_ops(e), t);
}

static void
fire(const struct rule *r, struct engine *e, const struct timer *t)
{
	raise(r, e, TIMER_KIND(t), TIMER_ENTITY(t), t->due, t->aux);
}

/* For `get`: the entity's pending deadline, or -1. */
static int64_t
due(const struct rule *r, struct engine *e, const struct entity *ent)
{
	const struct timer *t = timers_find(&e->timers, r->name,
	    r->kind->name, ent->id, "");

	return t != NULL ? t->due : -1;
}

static void
deadline_free(void *p)
{
	free(p);
}

const struct prim prim_deadline = {
	.name = "deadline",
	.setup = setup,
	.eval = eval,
	.fire = fire,
	.due = due,
	.free = deadline_free,
	.vars = vars,
};
