/*
 * The rank primitive: when period.close closes a period of its cycle for
 * a group, the entities of the group whose score (the `by` rule) is
 * complete for the period are ranked by total; the bottom (or top)
 * fraction, k = n x fraction rounded as configured, is everyone at or
 * beyond the k-th total (ties at the boundary are in; with `ties: out`
 * they are out when they do not all fit in k).
 * Each of them gets the rule's alert and an outcome fact (its position),
 * which the rules that follow (streak) read.  Entities with parts missing
 * get the `incomplete` alert and are not ranked.  Entities removed by then
 * are left out altogether.  The closure is recorded: closing again, or
 * scoring the closed period, is a conflict.
 *
 *   rank:
 *     cycle: secretary
 *     by: secretary.total
 *     bottom: 0.1                 # or top: 0.1
 *     rounding: ceil              # ceil, floor or round
 *     ties: in                    # in or out
 *     incomplete: {alert: secretary.incomplete, severity: info, message: ..}
 *     data: {score: total, position: position, n: n}   # key: variable
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

enum { ROUND_CEIL, ROUND_FLOOR, ROUND_NEAREST };
#define NDATA	4	/* total, position, n, k */

struct rank {
	char		*cycle;
	struct rule	*by;
	int64_t		 fraction;	/* millionths */
	int		 top;
	int		 rounding;
	int		 ties_in;
	struct alert_def incomplete;
	int		 has_incomplete;
	char		*dkeys[NDATA];	/* the alert's data: key, */
	int		 dvars[NDATA];	/* and the variable it holds */
	size_t		 ndata;
};

static const char *const vars[] = { "total", "position", "n", "k",
    "missing", NULL };

/*
 * data: {KEY: VARIABLE, ...}, the keys of a ranked entity's alert data in
 * order, each holding total, position, n or k; by default all four under
 * their own names.
 */
static void
load_data(struct rank *rk, const struct ynode *n, struct rule_load *ld)
{
	const struct ynode *key, *v;
	const char *hint;
	size_t i, j;

	if (n->type != YN_MAP || n->n == 0 || n->n > NDATA) {
		errs_add(ld->errs, ld->file, n->line, n->col, "data: expected a "
		    "map of 1 to %d key: variable (total, position, n, k)",
		    NDATA);
		return;
	}
	for (i = 0; i < n->n; i++) {
		key = n->items[2 * i];
		v = n->items[2 * i + 1];
		for (j = 0; j < NDATA; j++)
			if (v->type == YN_SCALAR && strcmp(v->str, vars[j]) == 0)
				break;
		if (j == NDATA) {
			hint = v->type == YN_SCALAR ? did_you_mean(v->str, vars,
			    NDATA) : NULL;
			errs_add(ld->errs, ld->file, v->line, v->col, "data.%s: "
			    "unknown variable '%s', expected total, position, n "
			    "or k%s%s%s", key->str, v->type == YN_SCALAR ?
			    v->str : "", hint ? " (did you mean '" : "",
			    hint ? hint : "", hint ? "'?)" : "");
			continue;
		}
		rk->dkeys[rk->ndata] = xstrdup(key->str);
		rk->dvars[rk->ndata++] = (int)j;
	}
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "cycle", "by", "bottom", "top",
	    "rounding", "ties", "incomplete", "data" };
	static const char *const roundings[] = { "ceil", "floor", "round" };
	const struct ynode *v, *frac;
	struct evtype *close;
	struct evfield *cf;
	struct rank *rk;
	size_t i, before = ld->errs->n;

	(void)def;
	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "rank: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 8, "rank", ld->errs);
	rk = xcalloc(1, sizeof *rk);
	r->data = rk;
	rk->ties_in = 1;
	if ((v = ynode_get(body, "cycle")) == NULL || v->type != YN_SCALAR ||
	    v->len == 0) {
		errs_add(ld->errs, ld->file, body->line, body->col, "rank: "
		    "needs 'cycle', the name period.close uses");
		return -1;
	}
	rk->cycle = xstrdup(v->str);
	if ((v = ynode_get(body, "by")) == NULL) {
		errs_add(ld->errs, ld->file, body->line, body->col, "rank: "
		    "needs 'by', a score rule");
		return -1;
	}
	if ((rk->by = rules_ref(v, "by", &prim_score, ld)) == NULL)
		return -1;
	if (rk->by->kind != ld->kind)
		errs_add(ld->errs, ld->file, v->line, v->col, "by: rule '%s' "
		    "scores kind %s, not %s", rk->by->name, rk->by->kind->name,
		    ld->kind->name);
	if (score_group(rk->by) == NULL)
		errs_add(ld->errs, ld->file, v->line, v->col, "by: rule '%s' "
		    "has no group to rank within", rk->by->name);
	frac = ynode_get(body, "bottom");
	if ((v = ynode_get(body, "top")) != NULL) {
		if (frac != NULL)
			errs_add(ld->errs, ld->file, v->line, v->col, "rank: "
			    "either 'bottom' or 'top', not both");
		frac = v;
		rk->top = 1;
	}
	if (frac == NULL)
		errs_add(ld->errs, ld->file, body->line, body->col, "rank: "
		    "needs 'bottom' or 'top', a fraction");
	else if (rules_decimal(frac, &rk->fraction, rk->top ? "top" :
	    "bottom", ld) == 0 && (rk->fraction <= 0 ||
	    rk->fraction > DEC_ONE))
		errs_add(ld->errs, ld->file, frac->line, frac->col, "%s: "
		    "expected a fraction in (0, 1]", rk->top ? "top" : "bottom");
	if ((v = ynode_get(body, "rounding")) != NULL) {
		for (i = 0; i < 3; i++)
			if (v->type == YN_SCALAR && strcmp(v->str, roundings[i])
			    == 0)
				break;
		if (i == 3)
			errs_add(ld->errs, ld->file, v->line, v->col, "rounding: "
			    "expected ceil, floor or round");
		rk->rounding = (int)i;
	}
	if ((v = ynode_get(body, "ties")) != NULL) {
		if (v->type != YN_SCALAR || (strcmp(v->str, "in") != 0 &&
		    strcmp(v->str, "out") != 0))
			errs_add(ld->errs, ld->file, v->line, v->col, "ties: "
			    "expected in or out");
		else
			rk->ties_in = strcmp(v->str, "in") == 0;
	}
	/* it runs on period.close, whose cycle may now name it */
	close = (struct evtype *)ruleset_evtype(ld->rs, PERIOD_CLOSE);
	r->on = xreallocarray(r->on, r->non + 1, sizeof *r->on);
	r->on[r->non++] = close;
	cf = &close->fields[evtype_field(close, "cycle")];
	for (i = 0; i < cf->nvalues; i++)
		if (strcmp(cf->values[i], rk->cycle) == 0)
			break;
	if (i == cf->nvalues) {
		cf->values = xreallocarray(cf->values, cf->nvalues + 1,
		    sizeof *cf->values);
		cf->values[cf->nvalues++] = xstrdup(rk->cycle);
	}
	if ((v = ynode_get(body, "incomplete")) != NULL) {
		if (v->type != YN_MAP)
			errs_add(ld->errs, ld->file, v->line, v->col,
			    "incomplete: expected a map of alert, severity, "
			    "message");
		else {
			static const char *const akeys[] = { "alert",
			    "severity", "message" };

			ynode_check_keys(v, ld->file, akeys, 3, "incomplete",
			    ld->errs);
			rules_alert_def(&rk->incomplete, v, NULL, r, SEV_INFO,
			    ld);
			rk->has_incomplete = rk->incomplete.name != NULL;
			if (!rk->has_incomplete)
				errs_add(ld->errs, ld->file, v->line, v->col,
				    "incomplete: needs 'alert'");
		}
	}
	if ((v = ynode_get(body, "data")) != NULL)
		load_data(rk, v, ld);
	else
		for (; rk->ndata < NDATA; rk->ndata++) {
			rk->dkeys[rk->ndata] = xstrdup(vars[rk->ndata]);
			rk->dvars[rk->ndata] = (int)rk->ndata;
		}
	if (ld->errs->n != before)
		return -1;
	score_check_cycle(rk->by, rk->cycle);
	return 0;
}

struct ranked {
	struct fact	*f;
	int64_t		 total;
};

struct collect {
	const struct rank *rk;
	struct engine	*eng;
	struct kind	*kind;
	const char	*rule, *grp;
	int32_t		 period;
	struct ranked	*v;
	size_t		 n, cap;
	struct fact	**inc;
	size_t		 ninc, inccap;
};

static void
collect(void *arg, struct fact *f)
{
	struct collect *c = arg;
	int64_t total;

	if (FACT_RULE(f) != c->rule || FACT_PERIOD(f) != c->period ||
	    f->grp != c->grp)
		return;
	/* one that moved out is neither ranked nor counted in n */
	if (c->kind->removable && engine_removed(c->eng, c->kind,
	    FACT_ENTITY(f)))
		return;
	if (score_total(c->rk->by, f, &total) == 0) {
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 64;
			c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
		}
		c->v[c->n].f = f;
		c->v[c->n++].total = total;
	} else {
		if (c->ninc == c->inccap) {
			c->inccap = c->inccap ? c->inccap * 2 : 16;
			c->inc = xreallocarray(c->inc, c->inccap,
			    sizeof *c->inc);
		}
		c->inc[c->ninc++] = f;
	}
}

static int
by_total(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->total != y->total)
		return x->total < y->total ? -1 : 1;
	return strcmp(FACT_ENTITY(x->f), FACT_ENTITY(y->f));
}

static int
by_entity(const void *a, const void *b)
{
	const struct fact *const *x = a, *const *y = b;

	return strcmp(FACT_ENTITY(*x), FACT_ENTITY(*y));
}

static int
is_mine(const struct rank *rk, const struct change *ch, int *fc, int *fs,
    int *fp)
{
	const struct evtype *et = ch->ev->et;

	*fc = evtype_field(et, "cycle");
	*fs = evtype_field(et, "scope");
	*fp = evtype_field(et, "period");
	return strcmp(ch->ev->vals[*fc].s, rk->cycle) == 0;
}

static int
check(const struct rule *r, struct change *ch, char *msg, size_t msglen)
{
	const struct rank *rk = r->data;
	int fc, fs, fp, pk = score_period_kind(rk->by);
	char per[16];
	int32_t p;

	if (!is_mine(rk, ch, &fc, &fs, &fp))
		return E_OK;
	p = (int32_t)ch->ev->vals[fp].i;
	period_code_format(p, per, sizeof per);
	if ((int)period_decode(p).kind != pk) {
		snprintf(msg, msglen, "%s: period: expected %s for cycle %s, "
		    "got '%s'", ch->ev->type, period_kind_example(pk),
		    rk->cycle, per);
		return E_BAD_EVENT;
	}
	if (facts_closed(&ch->eng->facts, rk->cycle, ch->ev->vals[fs].s, p)) {
		utf8_snprintf(msg, msglen, "%s: %s period %s of scope '%.*s%s' "
		    "is already closed", ch->ev->type, rk->cycle, per,
		    CLIP(ch->ev->vals[fs].s));
		return E_CONFLICT;
	}
	return E_OK;
}

static void
raise_one(const struct rule *r, struct change *ch, const struct ranked *x,
    size_t position, size_t n, size_t k)
{
	struct engine *e = ch->eng;
	const struct rank *rk = r->data;
	struct buf data = { 0 };
	char total[32], pos[24], ns[24], ks[24];
	const char *val[NDATA] = { total, pos, ns, ks };
	struct alert_out a;
	struct outcome o;
	struct fact *f;
	size_t i;

	dec_format(x->total, total, sizeof total);
	snprintf(pos, sizeof pos, "%zu", position);
	snprintf(ns, sizeof ns, "%zu", n);
	snprintf(ks, sizeof ks, "%zu", k);
	buf_addc(&data, '{');
	for (i = 0; i < rk->ndata; i++) {
		if (i > 0)
			buf_addc(&data, ',');
		buf_add_json_cstr(&data, rk->dkeys[i]);
		buf_addf(&data, ":%s", val[rk->dvars[i]]);
	}
	buf_addc(&data, '}');
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.kind = r->kind->name;
	a.entity = FACT_ENTITY(x->f);
	a.period = FACT_PERIOD(x->f);
	a.ts = ch->ev->ts;
	a.ev = ch->ev;
	a.ent = engine_entity(e, r->kind, a.entity);
	a.severity = r->severity;
	a.vars[0] = total;
	a.vars[1] = pos;
	a.vars[2] = ns;
	a.vars[3] = ks;
	a.data = BUF_DATA(&data);
	engine_alert(e, ch->seq, &a);
	buf_free(&data);

	f = facts_put(&e->facts, r->name, r->kind->name, a.entity, a.period);
	fact_set_group(&e->facts, f, x->f->grp);
	f->value = (int64_t)position;
	f->has_value = 1;
	f->ts = ch->ev->ts;
	fact_write(f, r, engine_ops(e));

	memset(&o, 0, sizeof o);
	o.kind = r->kind->name;
	o.entity = a.entity;
	o.grp = x->f->grp;
	o.period = a.period;
	o.value = x->total;
	o.ts = ch->ev->ts;
	engine_follow(r, ch, &o);
}

static void
raise_incomplete(const struct rule *r, struct change *ch, struct fact *f)
{
	const struct rank *rk = r->data;
	const char *const *parts;
	struct buf data = { 0 }, missing = { 0 };
	struct alert_out a;
	size_t n, i;

	parts = score_parts(rk->by, &n);
	buf_adds(&data, "{\"missing\":[");
	for (i = 0; i < n; i++)
		if (!(f->mask & (1u << i))) {
			if (BUF_LEN(&missing) > 0) {
				buf_addc(&data, ',');
				buf_adds(&missing, "、");
			}
			buf_add_json_cstr(&data, parts[i]);
			buf_adds(&missing, parts[i]);
		}
	buf_adds(&data, "]}");
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.def = &rk->incomplete;
	a.kind = r->kind->name;
	a.entity = FACT_ENTITY(f);
	a.period = FACT_PERIOD(f);
	a.ts = ch->ev->ts;
	a.ev = ch->ev;
	a.ent = engine_entity(ch->eng, r->kind, a.entity);
	a.vars[4] = BUF_DATA(&missing);
	a.data = BUF_DATA(&data);
	engine_alert(ch->eng, ch->seq, &a);
	buf_free(&data);
	buf_free(&missing);
}

/*
 * Rank the group's complete scores for the period: c holds them best
 * (with bottom: worst) first, *k the fraction's count, *edge the k-th
 * total; returns how many are in.  eval raises on it and explain shows it.
 */
static size_t
rank_group(const struct rule *r, struct engine *e, const char *grp,
    int32_t period, struct collect *c, size_t *k, int64_t *edge)
{
	const struct rank *rk = r->data;
	size_t in = 0, i;

	memset(c, 0, sizeof *c);
	c->rk = rk;
	c->eng = e;
	c->kind = r->kind;
	c->rule = intern_find(rk->by->name);
	c->grp = intern_find(grp);
	c->period = period;
	*k = 0;
	*edge = 0;
	if (c->rule != NULL && c->grp != NULL)
		facts_each(&e->facts, collect, c);
	if (c->n == 0)
		return 0;
	for (i = 0; rk->top && i < c->n; i++)
		c->v[i].total = -c->v[i].total;	/* best first */
	qsort(c->v, c->n, sizeof *c->v, by_total);
	switch (rk->rounding) {
	case ROUND_CEIL:
		*k = (size_t)(((int64_t)c->n * rk->fraction + DEC_ONE - 1) /
		    DEC_ONE);
		break;
	case ROUND_FLOOR:
		*k = (size_t)((int64_t)c->n * rk->fraction / DEC_ONE);
		break;
	default:
		*k = (size_t)(((int64_t)c->n * rk->fraction + DEC_ONE / 2) /
		    DEC_ONE);
		break;
	}
	/*
	 * The k-th total is the edge: with ties in, everyone at it is in;
	 * with ties out, they are in only if they all fit in k, else
	 * everyone at the edge is out.
	 */
	if (*k > 0) {
		*edge = c->v[*k - 1].total;
		while (in < c->n && c->v[in].total <= *edge)
			in++;
		if (!rk->ties_in && in > *k)
			while (in > 0 && c->v[in - 1].total == *edge)
				in--;
	}
	return in;
}

/* The position of c->v[i], ties sharing the best. */
static size_t
rank_position(const struct collect *c, size_t i)
{
	while (i > 0 && c->v[i - 1].total == c->v[i].total)
		i--;
	return i + 1;
}

static void
eval(const struct rule *r, struct change *ch)
{
	const struct rank *rk = r->data;
	struct engine *e = ch->eng;
	struct collect c;
	struct buf *ops;
	size_t k, i, in;
	int fc, fs, fp;
	int64_t edge;
	char per[16];

	if (!is_mine(rk, ch, &fc, &fs, &fp))
		return;
	in = rank_group(r, e, ch->ev->vals[fs].s, (int32_t)ch->ev->vals[fp].i,
	    &c, &k, &edge);
	if (in > 0)
		ENGINE_REACH(e, r, 0);
	if (in < c.n)
		ENGINE_REACH(e, r, 1);
	for (i = 0; i < in; i++) {
		struct ranked x = c.v[i];

		if (rk->top)
			x.total = -x.total;
		raise_one(r, ch, &x, rank_position(&c, i), c.n, k);
	}
	if (rk->has_incomplete && c.ninc > 0) {
		ENGINE_REACH(e, r, 2);
		qsort(c.inc, c.ninc, sizeof *c.inc, by_entity);
		for (i = 0; i < c.ninc; i++)
			raise_incomplete(r, ch, c.inc[i]);
	}
	free(c.v);
	free(c.inc);
	if (!facts_closed(&e->facts, rk->cycle, ch->ev->vals[fs].s, c.period)) {
		facts_close(&e->facts, rk->cycle, ch->ev->vals[fs].s, c.period);
		if ((ops = engine_ops(e)) != NULL) {
			period_code_format(c.period, per, sizeof per);
			store_op(ops, ST_CLOSE, "sssii", rk->cycle,
			    ch->ev->vals[fs].s, per, ch->ev->ts, ch->seq);
		}
	}
}

/*
 * Per period of the entity's score under `by`: its total, and once the
 * period is closed for its group the ranking it was judged by: n, k, the
 * boundary total and its position, in or out.
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct rank *rk = r->data;
	const struct fact *f;
	struct collect c;
	size_t in, k, i, n = 0;
	int64_t edge, total;
	char per[16], num[32];

	buf_adds(b, ",\"by\":");
	buf_add_json_cstr(b, rk->by->name);
	buf_addf(b, ",\"%s\":", rk->top ? "top" : "bottom");
	dec_format(rk->fraction, num, sizeof num);
	buf_addf(b, "%s,\"periods\":[", num);
	for (f = facts_of(&e->facts, ent->kind->name, ent->id); f != NULL;
	    f = f->enext) {
		if (strcmp(FACT_RULE(f), rk->by->name) != 0 || f->grp == NULL)
			continue;
		period_code_format(FACT_PERIOD(f), per, sizeof per);
		buf_addf(b, "%s{\"period\":\"%s\",\"group\":", n++ ? "," : "",
		    per);
		buf_add_json_cstr(b, f->grp);
		if (score_total(rk->by, f, &total) == 0) {
			dec_format(total, num, sizeof num);
			buf_addf(b, ",\"total\":%s", num);
		} else
			buf_adds(b, ",\"total\":null,\"complete\":false");
		if (!facts_closed(&e->facts, rk->cycle, f->grp,
		    FACT_PERIOD(f))) {
			buf_adds(b, ",\"closed\":false}");
			continue;
		}
		in = rank_group(r, e, f->grp, FACT_PERIOD(f), &c, &k, &edge);
		dec_format(rk->top ? -edge : edge, num, sizeof num);
		buf_addf(b, ",\"closed\":true,\"n\":%zu,\"k\":%zu,"
		    "\"boundary\":%s", c.n, k, k > 0 ? num : "null");
		for (i = 0; i < c.n && c.v[i].f != f; i++)
			;
		if (i < c.n)
			buf_addf(b, ",\"position\":%zu,\"in\":%s}",
			    rank_position(&c, i), i < in ? "true" : "false");
		else
			buf_adds(b, ",\"position\":null,\"in\":false}");
		free(c.v);
		free(c.inc);
	}
	buf_addc(b, ']');
}

const char *
rank_cycle(const struct rule *r)
{
	return ((const struct rank *)r->data)->cycle;
}

/* Outcomes: an entity in the fraction, one out of it, one incomplete. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	const struct rank *rk = r->data;
	static const char *const names[] = { "in", "out", "incomplete" };

	if (i >= 3)
		return -1;
	buf_adds(name, names[i]);
	return i < 2 || rk->has_incomplete;
}

static void
rank_free(void *p)
{
	struct rank *rk = p;
	size_t i;

	if (rk == NULL)
		return;
	alert_def_free(&rk->incomplete);
	for (i = 0; i < rk->ndata; i++)
		free(rk->dkeys[i]);
	free(rk->cycle);
	free(rk);
}

const struct prim prim_rank = {
	.name = "rank",
	.setup = setup,
	.check = check,
	.eval = eval,
	.free = rank_free,
	.vars = vars,
	.outcome = outcome,
	.explain = explain,
};
