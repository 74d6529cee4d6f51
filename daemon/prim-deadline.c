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
 *
 * Chained: instead of a start event, the end of a mark (prim-band.c) on
 * an entity of the rule's kind opens the deadline, counted from the
 * mark's end however late its timer fired; the mark put again closes it
 * silently.  With `missed: wait` a missed deadline raises its alert once
 * and still awaits a stop, kept as a mark named after the rule (so that
 * it survives restarts and `get` shows it); with `unmatched: conflict` a
 * stop event for an entity that awaits none is refused.
 *
 *   deadline:
 *     after_mark: rectify
 *     stop: community.reinspection
 *     within: 30d
 *     missed: wait
 *     unmatched: conflict
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct deadline {
	struct evtype	*start;		/* NULL: after_mark */
	char		*mark;		/* whose end opens it */
	int64_t		 within;	/* seconds; 0: end of the local day */
	int		 wait;		/* missed: still awaits a stop */
	int		 strict;	/* unmatched: conflict */
};

static const char *const vars[] = { "deadline", "start", NULL };

/* key: no or dflt (0), or alt (1). */
static void
load_choice(int *out, const struct ynode *body, const char *key,
    const char *dflt, const char *alt, struct rule_load *ld)
{
	const struct ynode *v = ynode_get(body, key);

	if (v == NULL || (v->type == YN_SCALAR && strcmp(v->str, dflt) == 0))
		return;
	if (v->type == YN_SCALAR && strcmp(v->str, alt) == 0)
		*out = 1;
	else
		errs_add(ld->errs, ld->file, v->line, v->col, "%s: expected %s "
		    "or %s", key, dflt, alt);
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "start", "stop", "within",
	    "until", "after_mark", "missed", "unmatched" };
	const struct ynode *v, *w, *u;
	struct deadline *d;
	size_t i, before = ld->errs->n;

	(void)def;
	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "deadline: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 7, "deadline", ld->errs);
	d = xcalloc(1, sizeof *d);
	r->data = d;
	v = ynode_get(body, "start");
	w = ynode_get(body, "after_mark");
	if (v != NULL && w != NULL) {
		errs_add(ld->errs, ld->file, w->line, w->col, "after_mark: "
		    "either 'start' or 'after_mark', not both");
		return -1;
	}
	if (v == NULL && w == NULL) {
		errs_add(ld->errs, ld->file, body->line, body->col, "deadline: "
		    "needs 'start', an event type, or 'after_mark', a mark's "
		    "name");
		return -1;
	}
	if (w != NULL) {
		if (w->type != YN_SCALAR || w->len == 0) {
			errs_add(ld->errs, ld->file, w->line, w->col,
			    "after_mark: expected a mark's name");
			return -1;
		}
		d->mark = xstrdup(w->str);
		rules_mark_need(ld, r->kind->name, w->str, w);
	} else if ((d->start = rules_on(r, v, ld)) == NULL)
		return -1;
	load_choice(&d->wait, body, "missed", "close", "wait", ld);
	load_choice(&d->strict, body, "unmatched", "ignore", "conflict", ld);
	if ((v = ynode_get(body, "stop")) == NULL) {
		errs_add(ld->errs, ld->file, body->line, body->col, "deadline: "
		    "needs 'stop', one or more event types");
		return -1;
	}
	for (i = 0; i < (v->type == YN_SEQ ? v->n : 1); i++) {
		const struct ynode *s = v->type == YN_SEQ ? v->items[i] : v;

		if (s->type == YN_SCALAR && d->start != NULL &&
		    strcmp(s->str, d->start->name) == 0)
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
	ENGINE_REACH(e, r, 1);
}

static int64_t
due_after(const struct deadline *d, int64_t start)
{
	return d->within > 0 ? start + d->within : clock_next_midnight(start);
}

/* Open (or re-open) the deadline of kind/id from start. */
static void
open_at(const struct rule *r, struct engine *e, const char *id,
    int64_t start)
{
	const struct deadline *d = r->data;
	const char *kind = r->kind->name;
	int64_t due = due_after(d, start);

	timers_set(&e->timers, engine_ops(e), r->name, kind, id, "", due,
	    start);
	if (d->wait)
		facts_mark_put(&e->facts, engine_ops(e), r->name, kind, id,
		    start, due);
}

/* Close it, missed or not: the timer and the awaiting mark go. */
static void
close_it(const struct rule *r, struct engine *e, const char *id)
{
	struct timer *t;
	struct mark *m;

	if ((t = timers_find(&e->timers, r->name, r->kind->name, id, "")) !=
	    NULL)
		timers_cancel(&e->timers, engine_ops(e), t);
	if ((m = facts_mark(&e->facts, r->name, r->kind->name, id)) != NULL)
		facts_mark_del(&e->facts, engine_ops(e), m);
}

static void
eval(const struct rule *r, struct change *ch)
{
	const struct deadline *d = r->data;
	struct engine *e = ch->eng;
	const char *kind = r->kind->name, *id = ch->ent->id;
	struct timer *t;

	if (ch->ev->et == d->start) {
		open_at(r, e, id, ch->ev->ts);
		return;
	}
	if ((t = timers_find(&e->timers, r->name, kind, id, "")) != NULL &&
	    ch->ev->ts > t->due) {	/* late, and not fired yet */
		raise(r, e, kind, id, t->due, t->aux);
		e->n_timers_fired++;
	} else if (t != NULL)
		ENGINE_REACH(e, r, 0);
	else if (d->wait && facts_mark(&e->facts, r->name, kind, id) != NULL)
		ENGINE_REACH(e, r, 2);
	close_it(r, e, id);
}

/*
 * Does the event's entity await a stop, as the event will find it, after
 * the timers that its ts passes have fired?
 */
static int
awaits(const struct rule *r, struct engine *e, const struct event *ev)
{
	const struct deadline *d = r->data;
	const char *kind = r->kind->name;
	const struct timer *t;
	const struct mark *m;

	if (d->wait && facts_mark(&e->facts, r->name, kind, ev->entity) !=
	    NULL)
		return 1;
	if ((t = timers_find(&e->timers, r->name, kind, ev->entity, "")) !=
	    NULL && !engine_fires_before(e, ev, t->due))
		return 1;
	/* a mark whose end opens it, ending before the event */
	return d->mark != NULL && (m = facts_mark(&e->facts, d->mark, kind,
	    ev->entity)) != NULL && engine_fires_before(e, ev, m->until) &&
	    (d->wait || !engine_fires_before(e, ev, due_after(d, m->until)));
}

static int
check(const struct rule *r, struct change *ch, char *msg, size_t msglen)
{
	const struct deadline *d = r->data;
	const struct event *ev = ch->ev;

	if (!d->strict || ev->et == d->start || ev->entity == NULL ||
	    awaits(r, ch->eng, ev))
		return E_OK;
	utf8_snprintf(msg, msglen, "%s: %s '%.*s%s' awaits none (no open "
	    "deadline of rule %s)", ev->type, r->kind->name, CLIP(ev->entity),
	    r->name);
	return E_CONFLICT;
}

/*
 * A mark of the kind: its end opens the deadline, from the end itself
 * (the timer that announced it may have fired late); putting it again
 * closes the deadline, since the entity is under the mark once more.
 */
static void
mark(const struct rule *r, struct engine *e, const struct mark *m,
    int ended)
{
	const struct deadline *d = r->data;

	if (d->mark == NULL || strcmp(MARK_NAME(m), d->mark) != 0 ||
	    strcmp(MARK_KIND(m), r->kind->name) != 0)
		return;
	if (!ended) {
		close_it(r, e, MARK_ENTITY(m));
		return;
	}
	engine_entity_open(e, r->kind, MARK_ENTITY(m), m->until);
	open_at(r, e, MARK_ENTITY(m), m->until);
}

static void
fire(const struct rule *r, struct engine *e, const struct timer *t)
{
	raise(r, e, TIMER_KIND(t), TIMER_ENTITY(t), t->due, t->aux);
}

/*
 * For `get`: the entity's pending deadline, or one missed that still
 * awaits a stop; -1 if none.
 */
static int64_t
due(const struct rule *r, struct engine *e, const struct entity *ent)
{
	const struct timer *t = timers_find(&e->timers, r->name,
	    r->kind->name, ent->id, "");
	const struct mark *m;

	if (t != NULL)
		return t->due;
	m = facts_mark(&e->facts, r->name, r->kind->name, ent->id);
	return m != NULL ? m->until : -1;
}

/* Outcomes: met, missed, and with missed: wait a stop after it. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	const struct deadline *d = r->data;
	static const char *const names[] = { "met", "missed",
	    "stopped after missed" };

	if (i >= 3)
		return -1;
	buf_adds(name, names[i]);
	return i < 2 || d->wait;
}

/*
 * The pending timer with its due time and start; a missed deadline that
 * still awaits its stop; for one opened by a mark's end, that mark.
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct deadline *d = r->data;
	const struct timer *t = timers_find(&e->timers, r->name,
	    r->kind->name, ent->id, "");
	const struct mark *m = facts_mark(&e->facts, r->name, r->kind->name,
	    ent->id);
	char num[40];

	buf_adds(b, ",\"timers\":[");
	if (t != NULL) {
		clock_format(t->due, num, sizeof num);
		buf_addf(b, "{\"due\":\"%s\"", num);
		clock_format(t->aux, num, sizeof num);
		buf_addf(b, ",\"start\":\"%s\"}", num);
	}
	buf_adds(b, "],\"awaiting\":");
	if (m != NULL && t == NULL) {
		clock_format(m->until, num, sizeof num);
		buf_addf(b, "{\"missed\":\"%s\"}", num);
	} else
		buf_adds(b, t != NULL ? "true" : "false");
	if (d->mark != NULL && (m = facts_mark(&e->facts, d->mark,
	    r->kind->name, ent->id)) != NULL) {
		buf_adds(b, ",\"after_mark\":{\"mark\":");
		buf_add_json_cstr(b, d->mark);
		clock_format(m->until, num, sizeof num);
		buf_addf(b, ",\"opens\":\"%s\"}", num);
	}
}

static void
deadline_free(void *p)
{
	struct deadline *d = p;

	if (d == NULL)
		return;
	free(d->mark);
	free(d);
}

const struct prim prim_deadline = {
	.name = "deadline",
	.setup = setup,
	.check = check,
	.eval = eval,
	.fire = fire,
	.due = due,
	.free = deadline_free,
	.vars = vars,
	.mark = mark,
	.outcome = outcome,
	.explain = explain,
};
