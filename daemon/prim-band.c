/*
 * The band primitive: actions by value ranges.  The value is an event
 * field, or the total of a score rule once it is complete.  The first band
 * whose range holds the value applies: it raises its alert (or the rule's)
 * with its message (or the rule's), may give the entity a level for the
 * period (kept as a fact, so that a level below the latest earlier
 * period's raises `downgrade`), and may put a mark on an entity named by
 * an event field for a duration.  A mark that is active is not put again
 * (no repeat alert); when it ends, a timer raises the mark's `expire`
 * alert, and rules that watch the mark are told (a deadline may open).
 * A mark `on` the rule's own kind marks the event's entity.  The value may
 * also be a string field with a list of values, whose bands match one
 * value each (`is`).
 *
 *   band:
 *     on: secretary.stars          # with value: an event field
 *     value: stars                 # or value: a score rule (no `on`)
 *     period: period               # the field with the alerts' period
 *     value_key: stars             # the key of the value in data
 *     level_key: stars
 *     bands:
 *       - {min: 4, alert: secretary.reserve, severity: info, message: ..}
 *       - {min: 90, level: 5}
 *       - {min: 1, max: 2, mark: {on: community, name: rectify, for: 365d,
 *          alert: .., severity: .., message: .., expire: {alert: ..}}}
 *     downgrade: {alert: property.downgrade, severity: warning}
 *
 *   band:
 *     on: community.reinspection
 *     value: result                # a string field with values
 *     bands:
 *       - {is: pass, alert: community.rectified}
 *       - {is: rebound, alert: .., mark: {on: community, ..}}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct bmark {
	char		*field;		/* event field: the marked entity */
	int		 fidx;		/* -1: the event's own entity */
	char		*name;
	int64_t		 duration;
	struct alert_def put, expire;
};
struct band1 {
	int64_t		 min, max;
	int		 has_min, has_max, max_open;	/* max_open: below */
	int64_t		 level;
	int		 has_level;
	struct alert_def alert;		/* name NULL: the rule's, if any */
	struct bmark	*mark;
};
struct band {
	struct band1	*bands;
	size_t		 n;
	struct rule	*src;		/* the score rule, or NULL */
	int		 value, period;	/* field indexes, per `on` event */
	int		 is_int;
	char *const	*values;	/* a string value: its field's values */
	size_t		 nvalues;
	char		*value_key, *level_key;
	int		 rule_alert;	/* the rule has its own alert */
	int		 has_downgrade;
	struct alert_def downgrade;
};

static const char *const vars[] = { "value", "level", "previous",
    "previous_period", "until", "since", NULL };

static void
load_mark(struct band1 *b, const struct rule *r, const struct ynode *n,
    const struct evtype *et, struct rule_load *ld)
{
	static const char *const keys[] = { "on", "name", "for", "alert",
	    "severity", "message", "expire" };
	const struct ynode *on, *name, *dur, *ex;
	struct bmark *m;

	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "mark: expected "
		    "a map");
		return;
	}
	ynode_check_keys(n, ld->file, keys, 7, "mark", ld->errs);
	on = ynode_get(n, "on");
	name = ynode_get(n, "name");
	dur = ynode_get(n, "for");
	if (on == NULL || name == NULL || dur == NULL ||
	    on->type != YN_SCALAR || name->type != YN_SCALAR ||
	    dur->type != YN_SCALAR) {
		errs_add(ld->errs, ld->file, n->line, n->col, "mark: needs "
		    "'on' (the event field naming the entity), 'name' and "
		    "'for' (a duration such as 365d)");
		return;
	}
	if (et == NULL) {
		errs_add(ld->errs, ld->file, n->line, n->col, "mark: a band on "
		    "a score has no event field to mark");
		return;
	}
	m = xcalloc(1, sizeof *m);
	b->mark = m;
	m->field = xstrdup(on->str);
	m->name = xstrdup(name->str);
	if (strcmp(on->str, ld->kind->name) == 0 && et->kind == ld->kind)
		m->fidx = -1;	/* the event's own entity */
	else
		m->fidx = rules_field(et, on, on->str, 1 << FT_STRING, ld);
	if (duration_parse(dur->str, &m->duration) != 0)
		errs_add(ld->errs, ld->file, dur->line, dur->col, "for: "
		    "expected a duration such as 90s, 30m, 3h or 365d");
	rules_alert_def(&m->put, n, NULL, r, SEV_WARNING, ld);
	if (m->put.name == NULL)
		errs_add(ld->errs, ld->file, n->line, n->col, "mark: needs "
		    "'alert'");
	if ((ex = ynode_get(n, "expire")) != NULL) {
		static const char *const akeys[] = { "alert", "severity",
		    "message" };

		if (ex->type != YN_MAP)
			errs_add(ld->errs, ld->file, ex->line, ex->col, "expire:"
			    " expected a map of alert, severity, message");
		else {
			ynode_check_keys(ex, ld->file, akeys, 3, "expire",
			    ld->errs);
			rules_alert_def(&m->expire, ex, NULL, r, SEV_INFO, ld);
		}
	}
}

/*
 * A band on a string value matches one of its field's values, `is: V`;
 * it is kept as the range [i, i] of the value's index.
 */
static void
load_is(const struct band *bd, struct band1 *b, const struct ynode *n,
    const struct evtype *et, struct rule_load *ld)
{
	static const char *const ranges[] = { "min", "max", "below" };
	const struct ynode *v;
	size_t i;

	for (i = 0; i < 3; i++)
		if ((v = ynode_get(n, ranges[i])) != NULL)
			errs_add(ld->errs, ld->file, v->line, v->col, "%s: a band "
			    "on a string field matches a value with 'is'",
			    ranges[i]);
	if ((v = ynode_get(n, "is")) == NULL) {
		errs_add(ld->errs, ld->file, n->line, n->col, "band: needs "
		    "'is', a value of the string field");
		return;
	}
	if (bd->values == NULL) {
		errs_add(ld->errs, ld->file, v->line, v->col, "is: only a band "
		    "on a string field with values matches one; use min and "
		    "max");
		return;
	}
	for (i = 0; i < bd->nvalues; i++)
		if (v->type == YN_SCALAR && strcmp(v->str, bd->values[i]) == 0)
			break;
	if (i == bd->nvalues) {
		struct buf vals = { 0 };

		for (i = 0; i < bd->nvalues; i++)
			buf_addf(&vals, "%s%s", i ? ", " : "", bd->values[i]);
		if (v->type == YN_SCALAR)
			errs_add(ld->errs, ld->file, v->line, v->col, "is: '%s' "
			    "is not a value of field %s of %s (%s)", v->str,
			    bd->value_key, et->name, BUF_DATA(&vals));
		else
			errs_add(ld->errs, ld->file, v->line, v->col, "is: "
			    "expected one value of field %s of %s (%s)",
			    bd->value_key, et->name, BUF_DATA(&vals));
		buf_free(&vals);
		return;
	}
	b->min = b->max = (int64_t)i;
	b->has_min = b->has_max = 1;
}

static void
load_range(struct band1 *b, const struct ynode *n, struct rule_load *ld)
{
	const struct ynode *v;

	if ((v = ynode_get(n, "min")) != NULL &&
	    rules_decimal(v, &b->min, "min", ld) == 0)
		b->has_min = 1;
	if ((v = ynode_get(n, "max")) != NULL &&
	    rules_decimal(v, &b->max, "max", ld) == 0)
		b->has_max = 1;
	if ((v = ynode_get(n, "below")) != NULL) {
		if (b->has_max)
			errs_add(ld->errs, ld->file, v->line, v->col, "below: "
			    "either 'max' or 'below', not both");
		else if (rules_decimal(v, &b->max, "below", ld) == 0)
			b->has_max = b->max_open = 1;
	}
}

static void
load_band(struct band *bd, struct band1 *b, const struct rule *r,
    const struct ynode *n, const struct evtype *et, struct rule_load *ld)
{
	static const char *const keys[] = { "min", "max", "below", "level",
	    "alert", "severity", "message", "mark", "is" };
	const struct ynode *v;
	long long lv;

	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "bands: each band "
		    "is a map");
		return;
	}
	ynode_check_keys(n, ld->file, keys, 9, "band", ld->errs);
	if (bd->values != NULL || ynode_get(n, "is") != NULL)
		load_is(bd, b, n, et, ld);
	else
		load_range(b, n, ld);
	if ((v = ynode_get(n, "level")) != NULL) {
		if (ynode_int(v, -1000000, 1000000, &lv) != 0)
			errs_add(ld->errs, ld->file, v->line, v->col, "level: "
			    "expected an integer");
		b->level = lv;
		b->has_level = 1;
	}
	rules_alert_def(&b->alert, n, NULL, r, r->severity, ld);
	if ((v = ynode_get(n, "mark")) != NULL)
		load_mark(b, r, v, et, ld);
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "on", "value", "period",
	    "value_key", "level_key", "bands", "downgrade" };
	const struct ynode *on, *val, *per, *bands, *v;
	struct evtype *et = NULL;
	struct band *bd;
	size_t i, before = ld->errs->n;

	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "band: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 7, "band", ld->errs);
	bd = xcalloc(1, sizeof *bd);
	r->data = bd;
	bd->value = bd->period = -1;
	bd->rule_alert = ynode_get(def, "alert") != NULL;
	on = ynode_get(body, "on");
	val = ynode_get(body, "value");
	per = ynode_get(body, "period");
	if (val == NULL || val->type != YN_SCALAR) {
		errs_add(ld->errs, ld->file, body->line, body->col, "band: "
		    "needs 'value', an event field or a score rule");
		return -1;
	}
	if (on != NULL) {
		if ((et = rules_on(r, on, ld)) == NULL)
			return -1;
		/* a string field is a value if it lists its values */
		i = (size_t)evtype_field(et, val->str);
		bd->value = rules_field(et, val, val->str, 1 << FT_INT |
		    1 << FT_DEC | (i < et->nfields && et->fields[i].enumerated ?
		    1 << FT_STRING : 0), ld);
		if (bd->value >= 0)
			bd->is_int = et->fields[bd->value].type == FT_INT;
		if (bd->value >= 0 && et->fields[bd->value].type == FT_STRING) {
			bd->values = et->fields[bd->value].values;
			bd->nvalues = et->fields[bd->value].nvalues;
		}
		if (per != NULL)
			bd->period = rules_field(et, per, per->type ==
			    YN_SCALAR ? per->str : "", 1 << FT_PERIOD, ld);
		bd->value_key = xstrdup(val->str);
	} else {
		if ((bd->src = rules_ref(val, "value", &prim_score, ld)) ==
		    NULL)
			return -1;
		if (bd->src->kind != ld->kind)
			errs_add(ld->errs, ld->file, val->line, val->col,
			    "value: rule '%s' scores kind %s, not %s",
			    bd->src->name, bd->src->kind->name, ld->kind->name);
		if (per != NULL)
			errs_add(ld->errs, ld->file, per->line, per->col,
			    "period: a band on a score has the score's period");
		rules_follow(bd->src, r);
		/*
		 * Its templates may name the fields of the score's events, so
		 * it is listed on them; its eval leaves them to the score.
		 */
		r->on = xreallocarray(r->on, bd->src->non, sizeof *r->on);
		memcpy(r->on, bd->src->on, bd->src->non * sizeof *r->on);
		r->non = bd->src->non;
		bd->value_key = xstrdup("value");
	}
	if ((v = ynode_get(body, "value_key")) != NULL && v->type == YN_SCALAR) {
		free(bd->value_key);
		bd->value_key = xstrdup(v->str);
	}
	bd->level_key = xstrdup("level");
	if ((v = ynode_get(body, "level_key")) != NULL && v->type == YN_SCALAR) {
		free(bd->level_key);
		bd->level_key = xstrdup(v->str);
	}
	if ((bands = ynode_get(body, "bands")) == NULL ||
	    bands->type != YN_SEQ || bands->n == 0) {
		errs_add(ld->errs, ld->file, body->line, body->col, "band: "
		    "needs 'bands', a non-empty list");
		return -1;
	}
	bd->bands = xcalloc(bands->n, sizeof *bd->bands);
	bd->n = bands->n;
	for (i = 0; i < bands->n; i++)
		load_band(bd, &bd->bands[i], r, bands->items[i], et, ld);
	if ((v = ynode_get(body, "downgrade")) != NULL) {
		static const char *const akeys[] = { "alert", "severity",
		    "message" };

		if (v->type != YN_MAP) {
			errs_add(ld->errs, ld->file, v->line, v->col,
			    "downgrade: expected a map of alert, severity, "
			    "message");
			return -1;
		}
		ynode_check_keys(v, ld->file, akeys, 3, "downgrade", ld->errs);
		rules_alert_def(&bd->downgrade, v, NULL, r, SEV_WARNING, ld);
		bd->has_downgrade = bd->downgrade.name != NULL;
		if (!bd->has_downgrade)
			errs_add(ld->errs, ld->file, v->line, v->col,
			    "downgrade: needs 'alert'");
	}
	return ld->errs->n == before ? 0 : -1;
}

static const struct band1 *
match(const struct band *bd, int64_t v)
{
	size_t i;

	for (i = 0; i < bd->n; i++) {
		const struct band1 *b = &bd->bands[i];

		if (b->has_min && v < b->min)
			continue;
		if (b->has_max && (b->max_open ? v >= b->max : v > b->max))
			continue;
		return b;
	}
	return NULL;
}

static void
fmt_value(const struct band *bd, int64_t v, char *buf, size_t len)
{
	if (bd->values != NULL)
		snprintf(buf, len, "%s", bd->values[v]);
	else if (bd->is_int)
		snprintf(buf, len, "%lld", (long long)(v / DEC_ONE));
	else
		dec_format(v, buf, len);
}

static void
put_mark(const struct rule *r, struct change *ch, const struct band1 *b,
    int32_t period)
{
	const struct bmark *m = b->mark;
	struct engine *e = ch->eng;
	const char *who = m->fidx >= 0 ? ch->ev->vals[m->fidx].s : NULL;
	struct buf data = { 0 };
	char until[40];
	struct alert_out a;
	struct mark *old;
	int64_t end = ch->ev->ts + m->duration;

	if (m->fidx < 0)
		who = ch->ent != NULL ? ch->ent->id : NULL;
	else if (!EV_HAS(ch->ev, m->fidx))
		return;
	if (who == NULL)
		return;
	if ((old = facts_mark(&e->facts, m->name, m->field, who)) != NULL &&
	    old->until >= ch->ev->ts)
		return;		/* already marked: no repeat */
	engine_mark_put(e, m->name, m->field, who, ch->ev->ts, end);
	timers_set(&e->timers, engine_ops(e), r->name, m->field, who, m->name,
	    end, ch->ev->ts);
	clock_format(end, until, sizeof until);
	buf_addf(&data, "{\"until\":\"%s\"}", until);
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.def = &m->put;
	a.kind = m->field;
	a.entity = who;
	a.period = period;
	a.ts = ch->ev->ts;
	a.ev = ch->ev;
	a.ent = ch->ent;
	a.vars[4] = until;
	a.data = BUF_DATA(&data);
	engine_alert(e, ch->seq, &a);
	buf_free(&data);
}

static void
apply(const struct rule *r, struct change *ch, const char *entity,
    int32_t period, int64_t v)
{
	const struct band *bd = r->data;
	const struct band1 *b = match(bd, v);
	struct engine *e = ch->eng;
	struct buf data = { 0 };
	char vs[32], ls[24], ps[24], pp[16];
	struct alert_def own;
	struct alert_out a;
	struct fact *f, *prev;

	if (b == NULL)
		return;
	fmt_value(bd, v, vs, sizeof vs);
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.kind = r->kind->name;
	a.entity = entity;
	a.period = period;
	a.ts = ch->ev->ts;
	a.ev = ch->ev;
	a.ent = ch->ent;
	a.severity = r->severity;
	a.vars[0] = vs;
	buf_addc(&data, '{');
	buf_add_json_cstr(&data, bd->value_key);
	buf_addc(&data, ':');
	if (bd->values != NULL)
		buf_add_json_cstr(&data, vs);
	else
		buf_adds(&data, vs);
	if (b->has_level) {
		snprintf(ls, sizeof ls, "%lld", (long long)b->level);
		a.vars[1] = ls;
		buf_addc(&data, ',');
		buf_add_json_cstr(&data, bd->level_key);
		buf_addf(&data, ":%s", ls);
	}
	buf_addc(&data, '}');
	if (b->alert.name != NULL || bd->rule_alert) {
		a.def = b->alert.name != NULL ? &b->alert : NULL;
		if (a.def != NULL && a.def->message == NULL) {
			/* the band's alert has no text of its own: the rule's */
			own = b->alert;
			own.message = r->message;
			a.def = &own;
		}
		a.data = BUF_DATA(&data);
		engine_alert(e, ch->seq, &a);
	}
	if (b->has_level && period != 0) {
		prev = facts_latest_before(&e->facts, r->name, r->kind->name,
		    entity, period);
		f = facts_put(&e->facts, r->name, r->kind->name, entity, period);
		f->value = b->level;
		f->has_value = 1;
		f->ts = ch->ev->ts;
		fact_write(f, r, engine_ops(e));
		if (bd->has_downgrade && prev != NULL && prev->has_value &&
		    b->level < prev->value) {
			period_code_format(FACT_PERIOD(prev), pp, sizeof pp);
			snprintf(ps, sizeof ps, "%lld", (long long)prev->value);
			buf_reset(&data);
			buf_addc(&data, '{');
			buf_add_json_cstr(&data, bd->level_key);
			buf_addf(&data, ":%s,\"previous\":%s,"
			    "\"previous_period\":\"%s\"}", ls, ps, pp);
			a.def = &bd->downgrade;
			a.vars[2] = ps;
			a.vars[3] = pp;
			a.data = BUF_DATA(&data);
			engine_alert(e, ch->seq, &a);
		}
	}
	if (b->mark != NULL)
		put_mark(r, ch, b, period);
	buf_free(&data);
}

static void
eval(const struct rule *r, struct change *ch)
{
	const struct band *bd = r->data;
	int64_t v;

	if (bd->src != NULL || bd->value < 0 || !EV_HAS(ch->ev, bd->value))
		return;
	if (bd->values != NULL) {	/* the decoder checked it is one */
		for (v = 0; v < (int64_t)bd->nvalues; v++)
			if (strcmp(bd->values[v], ch->ev->vals[bd->value].s) == 0)
				break;
		if (v == (int64_t)bd->nvalues)
			return;
	} else
		v = ch->ev->vals[bd->value].i;
	if (bd->is_int)
		v *= DEC_ONE;
	apply(r, ch, ch->ent != NULL ? ch->ent->id : "", bd->period >= 0 &&
	    EV_HAS(ch->ev, bd->period) ? (int32_t)ch->ev->vals[bd->period].i :
	    0, v);
}

static void
follow(const struct rule *r, struct change *ch, const struct outcome *o)
{
	apply(r, ch, o->entity, o->period, o->value);
}

/* The mark's `expire` alert. */
static void
expire(const struct rule *r, struct engine *e, const struct timer *t,
    const struct bmark *m)
{
	struct buf data = { 0 };
	char since[40];
	struct alert_out a;

	clock_format(t->aux, since, sizeof since);
	buf_addf(&data, "{\"since\":\"%s\"}", since);
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.def = &m->expire;
	a.kind = TIMER_KIND(t);
	a.entity = TIMER_ENTITY(t);
	a.ts = t->due;
	a.vars[5] = since;
	a.data = BUF_DATA(&data);
	engine_alert(e, 0, &a);
	buf_free(&data);
}

/*
 * A mark ended: say so, then tell the rules that watch it and forget it.
 * A mark put again since by another rule (a late timer) is not this
 * timer's: that rule's own timer ends it.
 */
static void
fire(const struct rule *r, struct engine *e, const struct timer *t)
{
	const struct band *bd = r->data;
	const struct bmark *m = NULL;
	struct mark *mk;
	size_t i;

	for (i = 0; i < bd->n && m == NULL; i++)
		if (bd->bands[i].mark != NULL &&
		    strcmp(bd->bands[i].mark->name, TIMER_TAG(t)) == 0)
			m = bd->bands[i].mark;
	if ((mk = facts_mark(&e->facts, TIMER_TAG(t), TIMER_KIND(t),
	    TIMER_ENTITY(t))) != NULL && mk->until != t->due)
		return;
	if (m != NULL && m->expire.name != NULL)
		expire(r, e, t, m);
	if (mk != NULL)
		engine_mark_end(e, mk);
}

static void
band_free(void *p)
{
	struct band *bd = p;
	size_t i;

	if (bd == NULL)
		return;
	for (i = 0; i < bd->n; i++) {
		struct band1 *b = &bd->bands[i];

		alert_def_free(&b->alert);
		if (b->mark != NULL) {
			alert_def_free(&b->mark->put);
			alert_def_free(&b->mark->expire);
			free(b->mark->field);
			free(b->mark->name);
			free(b->mark);
		}
	}
	alert_def_free(&bd->downgrade);
	free(bd->bands);
	free(bd->value_key);
	free(bd->level_key);
	free(bd);
}

const struct prim prim_band = {
	.name = "band",
	.setup = setup,
	.eval = eval,
	.follow = follow,
	.fire = fire,
	.free = band_free,
	.vars = vars,
};
