/*
 * The streak primitive: an entity has the same outcome of another rule
 * (a rank) in `count` consecutive periods of the same group.  Consecutive
 * follows the period calendar (2026H1 follows 2025H2), and every earlier
 * period of the streak must have been closed for the group: a period that
 * was never closed breaks it.
 *
 *   streak:
 *     of: secretary.warning
 *     count: 2
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct streak {
	struct rule	*of;
	int		 count;
};

static const char *const vars[] = { "total", "periods", "count", NULL };

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "of", "count" };
	const struct ynode *v;
	struct streak *st;
	long long n;

	(void)def;
	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "streak: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 2, "streak", ld->errs);
	st = xcalloc(1, sizeof *st);
	r->data = st;
	if ((v = ynode_get(body, "of")) == NULL) {
		errs_add(ld->errs, ld->file, body->line, body->col, "streak: "
		    "needs 'of', a rank rule");
		return -1;
	}
	if ((st->of = rules_ref(v, "of", &prim_rank, ld)) == NULL)
		return -1;
	if ((v = ynode_get(body, "count")) == NULL ||
	    ynode_int(v, 2, 100, &n) != 0) {
		errs_add(ld->errs, ld->file, v != NULL ? v->line : body->line,
		    v != NULL ? v->col : body->col, "count: expected an "
		    "integer in 2..100");
		return -1;
	}
	st->count = (int)n;
	rules_follow(st->of, r);
	return 0;
}

/*
 * How many consecutive periods, up to max, ending with period the entity
 * had the outcome in group grp (interned), each earlier one closed for it.
 */
static int
streak_run(const struct streak *st, struct facts *fs, const char *kind,
    const char *entity, int32_t period, const char *grp, int max)
{
	const char *cycle = rank_cycle(st->of);
	const struct fact *f;
	int32_t p;
	int i;

	for (i = 1; i < max; i++) {
		p = period_code_step(period, -i);
		if (!facts_closed(fs, cycle, grp, p))
			break;
		f = facts_find(fs, st->of->name, kind, entity, p);
		if (f == NULL || f->grp != grp)
			break;
	}
	return i;
}

static void
follow(const struct rule *r, struct change *ch, const struct outcome *o)
{
	const struct streak *st = r->data;
	struct buf data = { 0 }, periods = { 0 };
	char total[32], count[16], per[16];
	struct alert_out a;
	int i;

	if (streak_run(st, &ch->eng->facts, o->kind, o->entity, o->period,
	    o->grp, st->count) < st->count) {
		ENGINE_REACH(ch->eng, r, 1);
		return;
	}
	ENGINE_REACH(ch->eng, r, 0);
	dec_format(o->value, total, sizeof total);
	snprintf(count, sizeof count, "%d", st->count);
	buf_addf(&data, "{\"total\":%s,\"periods\":[", total);
	for (i = st->count - 1; i >= 0; i--) {
		period_code_format(period_code_step(o->period, -i), per,
		    sizeof per);
		buf_addf(&data, "\"%s\"%s", per, i ? "," : "");
		buf_addf(&periods, "%s%s", per, i ? "、" : "");
	}
	buf_adds(&data, "]}");
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.kind = o->kind;
	a.entity = o->entity;
	a.period = o->period;
	a.ts = o->ts;
	a.ev = ch->ev;
	a.ent = engine_entity(ch->eng, r->kind, o->entity);
	a.severity = r->severity;
	a.vars[0] = total;
	a.vars[1] = BUF_DATA(&periods);
	a.vars[2] = count;
	a.data = BUF_DATA(&data);
	engine_alert(ch->eng, ch->seq, &a);
	buf_free(&data);
	buf_free(&periods);
}

static void
eval(const struct rule *r, struct change *ch)
{
	(void)r;
	(void)ch;
}

/* Outcomes: the streak reached, and an outcome short of one. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	static const char *const names[] = { "reached", "short" };

	(void)r;
	return coverage_fixed(names, 2, i, name);
}

/*
 * The periods counted: the run of consecutive periods that ends with the
 * latest in which the entity had the outcome, against the count needed.
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct streak *st = r->data;
	const struct fact *f, *last = NULL;
	char per[16];
	int i, run = 0;

	for (f = facts_of(&e->facts, ent->kind->name, ent->id); f != NULL;
	    f = f->enext)
		if (strcmp(FACT_RULE(f), st->of->name) == 0 && (last == NULL ||
		    FACT_PERIOD(f) > FACT_PERIOD(last)))
			last = f;
	buf_adds(b, ",\"of\":");
	buf_add_json_cstr(b, st->of->name);
	buf_addf(b, ",\"count\":%d,\"periods\":[", st->count);
	if (last != NULL) {
		run = streak_run(st, &e->facts, ent->kind->name, ent->id,
		    FACT_PERIOD(last), last->grp, st->count > 64 ? st->count :
		    64);
		for (i = run - 1; i >= 0; i--) {
			period_code_format(period_code_step(FACT_PERIOD(last),
			    -i), per, sizeof per);
			buf_addf(b, "\"%s\"%s", per, i ? "," : "");
		}
	}
	buf_addf(b, "],\"run\":%d,\"reached\":%s", run, run >= st->count ?
	    "true" : "false");
}

static void
streak_free(void *p)
{
	free(p);
}

const struct prim prim_streak = {
	.name = "streak",
	.setup = setup,
	.eval = eval,
	.follow = follow,
	.free = streak_free,
	.vars = vars,
	.outcome = outcome,
	.explain = explain,
};
