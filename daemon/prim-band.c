/*
 * The band primitive: actions by value ranges.  The value is an event
 * field, or the total of a score rule once it is complete.  The first band
 * whose range holds the value applies: it raises its alert (or the rule's)
 * with its message (or the rule's), may give the entity a level for the
 * period (kept as a fact, so that a level below the latest earlier
 * period's raises `downgrade`, one above it `upgrade`), and may put a mark
 * on an entity named by an event field for a duration.  Levels may have
 * names (`levels`, each with its ordinal), so that an ordered enumerated
 * field (model > advanced > basic) is a value, and bounds and levels are
 * written, and levels reported, by name.  A mark that is active is not put again
 * (no repeat alert); when it ends, a timer raises the mark's `expire`
 * alert, and rules that watch the mark are told (a deadline may open).
 * A mark `on` the rule's own kind marks the event's entity.  The value may
 * also be a string field with a list of values and no levels, whose bands
 * match one value each (`is`).
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
 *     upgrade: {alert: ..., severity: info}
 *     levels: {basic: 1, advanced: 2, model: 3}   # names of ordinals
 *     group: scope                 # the kind's field kept with a level
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
struct blevel {
	char		*name;
	char		*label;		/* for messages; NULL: the name */
	int64_t		 ord;
};
struct band {
	struct band1	*bands;
	size_t		 n;
	struct blevel	*levels;	/* named levels */
	size_t		 nlevels;
	int		 is_name;	/* the value is a level's name */
	int		 gslot;		/* the kind's group field, or -1 */
	struct rule	*src;		/* the score rule, or NULL */
	int		 value, period;	/* field indexes, per `on` event */
	int		 is_int;
	char *const	*values;	/* a string value: its field's values */
	size_t		 nvalues;
	char		*value_key, *level_key;
	int		 rule_alert;	/* the rule has its own alert */
	int		 has_downgrade, has_upgrade;
	struct alert_def downgrade, upgrade;
};

static const char *const vars[] = { "value", "level", "previous",
    "previous_period", "until", "since", "level_label", "previous_label",
    NULL };

/*
 * levels: {NAME: ORDINAL, ...} or {NAME: {ordinal: N, label: TEXT}, ...},
 * distinct names and ordinals.
 */
static void
load_levels(struct band *bd, const struct ynode *n, struct rule_load *ld)
{
	static const char *const lkeys[] = { "ordinal", "label" };
	const struct ynode *key, *v, *lab;
	long long ord;
	size_t i, j;

	if (n->type != YN_MAP || n->n == 0) {
		errs_add(ld->errs, ld->file, n->line, n->col, "levels: expected "
		    "a map of name: integer ordinal");
		return;
	}
	bd->levels = xcalloc(n->n, sizeof *bd->levels);
	for (i = 0; i < n->n; i++) {
		key = n->items[2 * i];
		v = n->items[2 * i + 1];
		lab = NULL;
		if (v->type == YN_MAP) {
			ynode_check_keys(v, ld->file, lkeys, 2, "level",
			    ld->errs);
			lab = ynode_get(v, "label");
			if ((v = ynode_get(v, "ordinal")) == NULL)
				v = n->items[2 * i + 1];
		}
		if (ynode_int(v, -1000000, 1000000, &ord) != 0) {
			errs_add(ld->errs, ld->file, v->line, v->col, "levels.%s: "
			    "expected an integer ordinal", key->str);
			continue;
		}
		if (lab != NULL && (lab->type != YN_SCALAR || lab->len == 0)) {
			errs_add(ld->errs, ld->file, lab->line, lab->col,
			    "levels.%s.label: expected a text", key->str);
			continue;
		}
		for (j = 0; j < bd->nlevels; j++)
			if (bd->levels[j].ord == ord)
				break;
		if (j < bd->nlevels) {
			errs_add(ld->errs, ld->file, v->line, v->col, "levels.%s: "
			    "ordinal %lld is also '%s'", key->str, ord,
			    bd->levels[j].name);
			continue;
		}
		bd->levels[bd->nlevels].name = xstrdup(key->str);
		if (lab != NULL)
			bd->levels[bd->nlevels].label = xstrdup(lab->str);
		bd->levels[bd->nlevels++].ord = ord;
	}
}

static const struct blevel *
level_named(const struct band *bd, const char *name)
{
	size_t i;

	for (i = 0; i < bd->nlevels; i++)
		if (strcmp(bd->levels[i].name, name) == 0)
			return &bd->levels[i];
	return NULL;
}

static const char *
level_name(const struct band *bd, int64_t ord)
{
	size_t i;

	for (i = 0; i < bd->nlevels; i++)
		if (bd->levels[i].ord == ord)
			return bd->levels[i].name;
	return NULL;
}

/* A bound (min, max, below): a level's name, or a decimal. */
static int
load_bound(const struct band *bd, const struct ynode *v, int64_t *out,
    const char *what, struct rule_load *ld)
{
	const struct blevel *l;

	if (v->type == YN_SCALAR && (l = level_named(bd, v->str)) != NULL) {
		*out = l->ord * DEC_ONE;
		return 0;
	}
	if (bd->nlevels == 0)
		return rules_decimal(v, out, what, ld);
	if (v->type != YN_SCALAR || dec_parse(v->str, v->len, out) != 0) {
		errs_add(ld->errs, ld->file, v->line, v->col, "%s: expected a "
		    "decimal number or the name of one of the levels", what);
		return -1;
	}
	return 0;
}

/* A level: a level's name, or an integer. */
static int
load_level(const struct band *bd, const struct ynode *v, int64_t *out,
    struct rule_load *ld)
{
	const struct blevel *l;
	long long lv;

	if (v->type == YN_SCALAR && (l = level_named(bd, v->str)) != NULL) {
		*out = l->ord;
		return 0;
	}
	if (ynode_int(v, -1000000, 1000000, &lv) != 0) {
		errs_add(ld->errs, ld->file, v->line, v->col, "level: expected "
		    "an integer%s", bd->nlevels > 0 ? " or the name of one of "
		    "the levels" : "");
		return -1;
	}
	*out = lv;
	return 0;
}

/* A level as text: its name if it has one, else its number. */
static const char *
level_text(const struct band *bd, int64_t lv, char *buf, size_t len)
{
	const char *name = level_name(bd, lv);

	if (name != NULL)
		return name;
	snprintf(buf, len, "%lld", (long long)lv);
	return buf;
}

/* A level for a message: its label, else its name, else its number. */
static const char *
level_label(const struct band *bd, int64_t lv, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < bd->nlevels; i++)
		if (bd->levels[i].ord == lv && bd->levels[i].label != NULL)
			return bd->levels[i].label;
	return level_text(bd, lv, buf, len);
}

/* Append "KEY":LEVEL to data: a name as a string, else a number. */
static void
add_level(struct buf *b, const struct band *bd, const char *key, int64_t lv)
{
	char num[24];

	buf_add_json_cstr(b, key);
	buf_addc(b, ':');
	if (level_name(bd, lv) != NULL)
		buf_add_json_cstr(b, level_name(bd, lv));
	else
		buf_adds(b, level_text(bd, lv, num, sizeof num));
}

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
	rules_mark_put(ld, on->str, name->str);
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
		    "'is', a value of string field %s (or the rule needs "
		    "'levels' to compare its values)", bd->value_key);
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
load_range(const struct band *bd, struct band1 *b, const struct ynode *n,
    struct rule_load *ld)
{
	const struct ynode *v;

	if ((v = ynode_get(n, "min")) != NULL &&
	    load_bound(bd, v, &b->min, "min", ld) == 0)
		b->has_min = 1;
	if ((v = ynode_get(n, "max")) != NULL &&
	    load_bound(bd, v, &b->max, "max", ld) == 0)
		b->has_max = 1;
	if ((v = ynode_get(n, "below")) != NULL) {
		if (b->has_max)
			errs_add(ld->errs, ld->file, v->line, v->col, "below: "
			    "either 'max' or 'below', not both");
		else if (load_bound(bd, v, &b->max, "below", ld) == 0)
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

	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "bands: each band "
		    "is a map");
		return;
	}
	ynode_check_keys(n, ld->file, keys, 9, "band", ld->errs);
	if (bd->values != NULL || ynode_get(n, "is") != NULL)
		load_is(bd, b, n, et, ld);
	else
		load_range(bd, b, n, ld);
	if ((v = ynode_get(n, "level")) != NULL &&
	    load_level(bd, v, &b->level, ld) == 0)
		b->has_level = 1;
	rules_alert_def(&b->alert, n, NULL, r, r->severity, ld);
	if ((v = ynode_get(n, "mark")) != NULL)
		load_mark(b, r, v, et, ld);
}

/*
 * A value read by name: an enumerated string field whose every value is
 * one of the levels.
 */
static void
check_named_value(const struct evtype *et, int fi, const struct ynode *val,
    const struct band *bd, struct rule_load *ld)
{
	const struct evfield *f = &et->fields[fi];
	size_t i;

	if (!f->enumerated)
		errs_add(ld->errs, ld->file, val->line, val->col, "value: "
		    "field '%s' must list its values", f->name);
	else
		for (i = 0; i < f->nvalues; i++)
			if (level_named(bd, f->values[i]) == NULL)
				errs_add(ld->errs, ld->file, val->line,
				    val->col, "value: '%s' of field '%s' is not "
				    "one of the levels", f->values[i], f->name);
}

/* downgrade or upgrade: {alert, severity, message}, alert required. */
static int
load_change(struct alert_def *ad, const struct ynode *v, const char *what,
    const struct rule *r, int sev, struct rule_load *ld)
{
	static const char *const akeys[] = { "alert", "severity", "message" };

	if (v->type != YN_MAP) {
		errs_add(ld->errs, ld->file, v->line, v->col, "%s: expected a "
		    "map of alert, severity, message", what);
		return 0;
	}
	ynode_check_keys(v, ld->file, akeys, 3, what, ld->errs);
	rules_alert_def(ad, v, NULL, r, sev, ld);
	if (ad->name == NULL)
		errs_add(ld->errs, ld->file, v->line, v->col, "%s: needs "
		    "'alert'", what);
	return ad->name != NULL;
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "on", "value", "period",
	    "value_key", "level_key", "bands", "downgrade", "upgrade",
	    "levels", "group" };
	const struct ynode *on, *val, *per, *bands, *v;
	struct evtype *et = NULL;
	struct band *bd;
	size_t i, before = ld->errs->n;

	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "band: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 10, "band", ld->errs);
	bd = xcalloc(1, sizeof *bd);
	r->data = bd;
	bd->value = bd->period = bd->gslot = -1;
	if ((v = ynode_get(body, "levels")) != NULL)
		load_levels(bd, v, ld);
	if ((v = ynode_get(body, "group")) != NULL)
		bd->gslot = rules_kind_field(v, "group", ld);
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
		    1 << FT_DEC | (bd->nlevels > 0 || (i < et->nfields &&
		    et->fields[i].enumerated) ? 1 << FT_STRING : 0), ld);
		if (bd->value >= 0) {
			bd->is_int = et->fields[bd->value].type == FT_INT;
			bd->is_name = et->fields[bd->value].type == FT_STRING &&
			    bd->nlevels > 0;
		}
		if (bd->is_name)
			check_named_value(et, bd->value, val, bd, ld);
		else if (bd->value >= 0 &&
		    et->fields[bd->value].type == FT_STRING) {
			/* without levels: its bands match a value each */
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
	if ((v = ynode_get(body, "downgrade")) != NULL)
		bd->has_downgrade = load_change(&bd->downgrade, v, "downgrade",
		    r, SEV_WARNING, ld);
	if ((v = ynode_get(body, "upgrade")) != NULL)
		bd->has_upgrade = load_change(&bd->upgrade, v, "upgrade", r,
		    SEV_INFO, ld);
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
	else if (bd->is_name)
		snprintf(buf, len, "%s", level_name(bd, v / DEC_ONE));
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

/*
 * Keep the band's level for the entity and period, and compare it with the
 * level of the latest earlier period: below it, downgrade; above, upgrade.
 */
static void
keep_level(const struct rule *r, struct change *ch, struct alert_out *a,
    int64_t level)
{
	const struct band *bd = r->data;
	struct engine *e = ch->eng;
	const struct alert_def *ad = NULL;
	struct buf data = { 0 };
	struct fact *f, *prev;
	char ps[24], pl[24], pp[16];

	prev = facts_latest_before(&e->facts, r->name, r->kind->name,
	    a->entity, a->period);
	f = facts_put(&e->facts, r->name, r->kind->name, a->entity, a->period);
	fact_set_group(&e->facts, f, change_field(ch, bd->gslot));
	f->value = level;
	f->has_value = 1;
	f->ts = ch->ev->ts;
	fact_write(f, r, engine_ops(e));
	if (prev == NULL || !prev->has_value || level == prev->value)
		return;
	if (level < prev->value && bd->has_downgrade)
		ad = &bd->downgrade;
	else if (level > prev->value && bd->has_upgrade)
		ad = &bd->upgrade;
	if (ad == NULL)
		return;
	ENGINE_REACH(e, r, bd->n + (ad == &bd->upgrade));
	period_code_format(FACT_PERIOD(prev), pp, sizeof pp);
	buf_addc(&data, '{');
	add_level(&data, bd, bd->level_key, level);
	buf_addc(&data, ',');
	add_level(&data, bd, "previous", prev->value);
	buf_addf(&data, ",\"previous_period\":\"%s\"}", pp);
	a->def = ad;
	a->vars[2] = level_text(bd, prev->value, ps, sizeof ps);
	a->vars[7] = level_label(bd, prev->value, pl, sizeof pl);
	a->vars[3] = pp;
	a->data = BUF_DATA(&data);
	engine_alert(e, ch->seq, a);
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
	char vs[32], ls[24], ll[24];
	struct alert_def own;
	struct alert_out a;

	if (b == NULL)
		return;
	ENGINE_REACH(e, r, (size_t)(b - bd->bands));
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
	if (bd->values != NULL || bd->is_name)
		buf_add_json_cstr(&data, vs);
	else
		buf_adds(&data, vs);
	if (b->has_level) {
		a.vars[1] = level_text(bd, b->level, ls, sizeof ls);
		a.vars[6] = level_label(bd, b->level, ll, sizeof ll);
		buf_addc(&data, ',');
		add_level(&data, bd, bd->level_key, b->level);
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
	if (b->has_level && period != 0)
		keep_level(r, ch, &a, b->level);
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
	} else if (bd->is_name)
		v = level_named(bd, ch->ev->vals[bd->value].s)->ord * DEC_ONE;
	else if (bd->is_int)
		v = ch->ev->vals[bd->value].i * DEC_ONE;
	else
		v = ch->ev->vals[bd->value].i;
	apply(r, ch, ch->ent != NULL ? ch->ent->id : "", bd->period >= 0 &&
	    EV_HAS(ch->ev, bd->period) ? (int32_t)ch->ev->vals[bd->period].i :
	    0, v);
}

static void
follow(const struct rule *r, struct change *ch, const struct outcome *o)
{
	apply(r, ch, o->entity, o->period, o->value);
}

/* A level in `get`: its ordinal, and its name if it has one. */
static void
fact_json(const struct rule *r, const struct fact *f, struct buf *b)
{
	const struct band *bd = r->data;

	if (!f->has_value)
		return;
	buf_addf(b, ",\"value\":%lld", (long long)f->value);
	if (level_name(bd, f->value) != NULL) {
		buf_addc(b, ',');
		add_level(b, bd, "level", f->value);
	}
}

/* A band as the rule file bounds it: {"band":N,"min":..,"max":..}. */
static void
band_json(const struct band *bd, const struct band1 *b, struct buf *out)
{
	char num[32];

	buf_addf(out, "{\"band\":%zu", (size_t)(b - bd->bands) + 1);
	if (bd->values != NULL && b->has_min) {
		buf_adds(out, ",\"is\":");
		buf_add_json_cstr(out, bd->values[b->min]);
	} else {
		if (b->has_min) {
			dec_format(b->min, num, sizeof num);
			buf_addf(out, ",\"min\":%s", num);
		}
		if (b->has_max) {
			dec_format(b->max, num, sizeof num);
			buf_addf(out, ",\"%s\":%s", b->max_open ? "below" :
			    "max", num);
		}
	}
	if (b->has_level) {
		buf_addc(out, ',');
		add_level(out, bd, "level", b->level);
	}
	buf_addc(out, '}');
}

/*
 * The band matched: per period the level kept, and with a score as the
 * value each complete total and the band it falls in; then the marks the
 * rule's bands put on the entity, with their expiry.
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct band *bd = r->data;
	const struct fact *f;
	const struct band1 *m;
	const struct mark *mk;
	char per[16], num[40];
	int64_t total;
	size_t i, n = 0;

	buf_adds(b, ",\"periods\":[");
	for (f = facts_of(&e->facts, ent->kind->name, ent->id); f != NULL;
	    f = f->enext) {
		if (strcmp(FACT_RULE(f), r->name) == 0 && f->has_value) {
			period_code_format(FACT_PERIOD(f), per, sizeof per);
			buf_addf(b, "%s{\"period\":\"%s\",", n++ ? "," : "",
			    per);
			add_level(b, bd, "level", f->value);
			buf_addc(b, '}');
		}
		if (bd->src == NULL || strcmp(FACT_RULE(f), bd->src->name) != 0 ||
		    score_total(bd->src, f, &total) != 0)
			continue;
		period_code_format(FACT_PERIOD(f), per, sizeof per);
		dec_format(total, num, sizeof num);
		buf_addf(b, "%s{\"period\":\"%s\",\"value\":%s,\"matched\":",
		    n++ ? "," : "", per, num);
		if ((m = match(bd, total)) != NULL)
			band_json(bd, m, b);
		else
			buf_adds(b, "null");
		buf_addc(b, '}');
	}
	buf_adds(b, "],\"marks\":[");
	for (i = 0, n = 0; i < bd->n; i++) {
		if (bd->bands[i].mark == NULL || strcmp(bd->bands[i].mark->field,
		    ent->kind->name) != 0 || (mk = facts_mark(&e->facts,
		    bd->bands[i].mark->name, ent->kind->name, ent->id)) == NULL)
			continue;
		buf_adds(b, n++ ? ",{\"mark\":" : "{\"mark\":");
		buf_add_json_cstr(b, bd->bands[i].mark->name);
		buf_adds(b, ",\"band\":");
		band_json(bd, &bd->bands[i], b);
		clock_format(mk->since, num, sizeof num);
		buf_addf(b, ",\"since\":\"%s\"", num);
		clock_format(mk->until, num, sizeof num);
		buf_addf(b, ",\"until\":\"%s\",\"expired\":%s}", num,
		    mk->until <= engine_now(e) ? "true" : "false");
	}
	buf_addc(b, ']');
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
	if (m != NULL)
		ENGINE_REACH(e, r, bd->n + 2);
	if (m != NULL && m->expire.name != NULL)
		expire(r, e, t, m);
	if (mk != NULL)
		engine_mark_end(e, mk);
}

/*
 * Outcomes: each band (by its alert, else its level), then a downgrade,
 * an upgrade and a mark's end, for the rules that have them.
 */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	const struct band *bd = r->data;
	const struct band1 *b;
	char lv[24];
	size_t j;

	if (i < bd->n) {
		b = &bd->bands[i];
		buf_addf(name, "band %zu", i + 1);
		if (b->alert.name != NULL)
			buf_addf(name, " (%s)", b->alert.name);
		else if (b->has_level)
			buf_addf(name, " (level %s)", level_text(bd, b->level,
			    lv, sizeof lv));
		return 1;
	}
	if (i == bd->n) {
		buf_adds(name, "downgrade");
		return bd->has_downgrade;
	}
	if (i == bd->n + 1) {
		buf_adds(name, "upgrade");
		return bd->has_upgrade;
	}
	if (i > bd->n + 2)
		return -1;
	buf_adds(name, "mark ended");
	for (j = 0; j < bd->n; j++)
		if (bd->bands[j].mark != NULL)
			return 1;
	return 0;
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
	alert_def_free(&bd->upgrade);
	for (i = 0; i < bd->nlevels; i++) {
		free(bd->levels[i].name);
		free(bd->levels[i].label);
	}
	free(bd->levels);
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
	.fact_json = fact_json,
	.free = band_free,
	.vars = vars,
	.outcome = outcome,
	.explain = explain,
};

/* The name of a band rule's level, or NULL: for the rules that read one. */
const char *
band_level_name(const struct rule *r, int64_t ord)
{
	return level_name(r->data, ord);
}
