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

static void
follow(const struct rule *r, struct change *ch, const struct outcome *o)
{
	const struct streak *st = r->data;
	struct facts *fs = &ch->eng->facts;
	const char *cycle = rank_cycle(st->of);
	struct buf data = { 0 }, periods = { 0 };
	char total[32], count[16], per[16];
	struct alert_out a;
	const struct fact *f;
	int32_t p;
	int i;

	for (i = 1; i < st->count; i++) {
		p = period_code_step(o->period, -i);
		f = facts_closed(fs, cycle, o->grp, p) ? facts_find(fs,
		    st->of->name, o->kind, o->entity, p) : NULL;
		if (f == NULL || f->grp != o->grp) {
			ENGINE_REACH(ch->eng, r, 1);
			return;
		}
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
};
