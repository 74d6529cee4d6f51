/*
 * The score primitive: a weighted sum of named parts per entity and
 * period.  Each event carries one part's value; a resent part replaces the
 * earlier one.  The parts are kept as a fact of the rule, with the group
 * the entity was in (a street, for ranking); once every part is there the
 * total (sum of weight x part, in exact decimals) goes to the rules that
 * follow this one.  Once a rank rule has closed the period for the group,
 * its parts are immutable: a new one is a conflict.
 *
 *   score:
 *     on: secretary.score        # or {property.evaluation: evaluation, ...}
 *     part: part                 # the field naming the part (list form)
 *     period: period
 *     value: score
 *     group: scope               # a field of the kind, optional
 *     weights: {street: 0.3, community: 0.5, residents: 0.2}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct score_on {
	struct evtype	*et;
	int		 period, value, part;	/* field indexes */
	int		 fixed;		/* the part, when part < 0 */
};
struct score {
	char		**parts;
	int64_t		 *weights;
	size_t		  nparts;
	struct score_on	 *on;
	size_t		  non;
	int		  gslot;	/* the kind's group field, or -1 */
	int		  pkind;
	char		 *cycle;	/* of the rank that closes its periods */
};

static const char *const vars[] = { "total", NULL };

static int
part_index(const struct score *sc, const char *name)
{
	size_t i;

	for (i = 0; i < sc->nparts; i++)
		if (strcmp(sc->parts[i], name) == 0)
			return (int)i;
	return -1;
}

static void
bind_on(struct rule *r, struct score *sc, const struct ynode *evn,
    const struct ynode *partn, const struct ynode *body, struct rule_load *ld)
{
	const struct ynode *pn = ynode_get(body, "period");
	const struct ynode *vn = ynode_get(body, "value");
	const struct ynode *fn = ynode_get(body, "part");
	struct score_on so;
	size_t j;

	memset(&so, 0, sizeof so);
	if ((so.et = rules_on(r, evn, ld)) == NULL)
		return;
	if (so.et->kind != ld->kind) {
		errs_add(ld->errs, ld->file, evn->line, evn->col, "score: event "
		    "%s is not of kind %s", so.et->name, ld->kind->name);
		return;
	}
	if (pn == NULL || vn == NULL || pn->type != YN_SCALAR ||
	    vn->type != YN_SCALAR) {
		errs_add(ld->errs, ld->file, body->line, body->col, "score: "
		    "needs 'period' and 'value', the event fields that carry "
		    "them");
		return;
	}
	so.period = rules_field(so.et, pn, pn->str, 1 << FT_PERIOD, ld);
	so.value = rules_field(so.et, vn, vn->str, 1 << FT_INT | 1 << FT_DEC,
	    ld);
	if (so.period >= 0) {
		int pk = so.et->fields[so.period].pkind;

		if (pk == PK_ANY)
			errs_add(ld->errs, ld->file, pn->line, pn->col, "period: "
			    "field '%s' must be a half_year or a quarter",
			    pn->str);
		else if (sc->pkind != PK_ANY && sc->pkind != pk)
			errs_add(ld->errs, ld->file, pn->line, pn->col, "period: "
			    "the events of one score must use one kind of "
			    "period");
		sc->pkind = pk;
	}
	so.part = -1;
	if (partn != NULL) {
		if ((so.fixed = part_index(sc, partn->str)) < 0)
			errs_add(ld->errs, ld->file, partn->line, partn->col,
			    "score: part '%s' has no weight", partn->str);
	} else if (fn == NULL || fn->type != YN_SCALAR) {
		errs_add(ld->errs, ld->file, body->line, body->col, "score: "
		    "needs 'part', the event field naming the part (or 'on' "
		    "as a map of event: part)");
		return;
	} else if ((so.part = rules_field(so.et, fn, fn->str, 1 << FT_STRING,
	    ld)) >= 0) {
		const struct evfield *f = &so.et->fields[so.part];

		if (f->nvalues == 0)
			errs_add(ld->errs, ld->file, fn->line, fn->col, "part: "
			    "field '%s' must list its values", fn->str);
		for (j = 0; j < f->nvalues; j++)
			if (part_index(sc, f->values[j]) < 0)
				errs_add(ld->errs, ld->file, fn->line, fn->col,
				    "part: value '%s' of field '%s' has no "
				    "weight", f->values[j], fn->str);
	}
	sc->on = xreallocarray(sc->on, sc->non + 1, sizeof *sc->on);
	sc->on[sc->non++] = so;
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *body,
    struct rule_load *ld)
{
	static const char *const keys[] = { "on", "part", "period", "value",
	    "group", "weights" };
	const struct ynode *on, *w, *g;
	struct score *sc;
	size_t i, before = ld->errs->n;

	(void)def;
	if (body->type != YN_MAP) {
		errs_add(ld->errs, ld->file, body->line, body->col, "score: "
		    "expected a map");
		return -1;
	}
	ynode_check_keys(body, ld->file, keys, 6, "score", ld->errs);
	sc = xcalloc(1, sizeof *sc);
	r->data = sc;
	sc->gslot = -1;
	sc->pkind = PK_ANY;
	if ((w = ynode_get(body, "weights")) == NULL || w->type != YN_MAP ||
	    w->n == 0 || w->n > FACT_PARTS) {
		errs_add(ld->errs, ld->file, body->line, body->col, "score: "
		    "needs 'weights', a map of 1..%d part: weight",
		    FACT_PARTS);
		return -1;
	}
	sc->parts = xcalloc(w->n, sizeof *sc->parts);
	sc->weights = xcalloc(w->n, sizeof *sc->weights);
	for (i = 0; i < w->n; i++) {
		sc->parts[i] = xstrdup(w->items[2 * i]->str);
		rules_decimal(w->items[2 * i + 1], &sc->weights[i], "weights",
		    ld);
	}
	sc->nparts = w->n;
	if ((g = ynode_get(body, "group")) != NULL)
		sc->gslot = rules_kind_field(g, "group", ld);
	if ((on = ynode_get(body, "on")) == NULL) {
		errs_add(ld->errs, ld->file, body->line, body->col, "score: "
		    "needs 'on', the events that carry parts");
		return -1;
	}
	if (on->type == YN_MAP)
		for (i = 0; i < on->n; i++)
			bind_on(r, sc, on->items[2 * i], on->items[2 * i + 1],
			    body, ld);
	else if (on->type == YN_SEQ)
		for (i = 0; i < on->n; i++)
			bind_on(r, sc, on->items[i], NULL, body, ld);
	else
		bind_on(r, sc, on, NULL, body, ld);
	return ld->errs->n == before ? 0 : -1;
}

static const struct score_on *
find_on(const struct score *sc, const struct evtype *et)
{
	size_t i;

	for (i = 0; i < sc->non; i++)
		if (sc->on[i].et == et)
			return &sc->on[i];
	return NULL;
}

static int
check(const struct rule *r, struct change *ch, char *msg, size_t msglen)
{
	const struct score *sc = r->data;
	const struct score_on *so = find_on(sc, ch->ev->et);
	const char *grp = change_field(ch, sc->gslot);
	char per[16];
	int32_t p;

	if (so == NULL || sc->cycle == NULL || grp == NULL)
		return E_OK;
	p = (int32_t)ch->ev->vals[so->period].i;
	if (!facts_closed(&ch->eng->facts, sc->cycle, grp, p))
		return E_OK;
	period_code_format(p, per, sizeof per);
	utf8_snprintf(msg, msglen, "%s: period %s is closed for %s '%.*s%s'",
	    ch->ev->type, per, r->kind->fields[sc->gslot], CLIP(grp));
	return E_CONFLICT;
}

/* The total of a fact's parts under the current weights: 0, -1 if some
 * part is missing. */
int
score_total(const struct rule *r, const struct fact *f, int64_t *out)
{
	const struct score *sc = r->data;
	__int128 sum = 0;
	size_t i;

	for (i = 0; i < sc->nparts; i++) {
		if (!(f->mask & (1u << i)))
			return -1;
		sum += (__int128)sc->weights[i] * f->parts[i];
	}
	/* millionths times millionths: round half away from zero */
	*out = (int64_t)((sum + (sum < 0 ? -DEC_ONE / 2 : DEC_ONE / 2)) /
	    DEC_ONE);
	return 0;
}

static void
eval(const struct rule *r, struct change *ch)
{
	const struct score *sc = r->data;
	const struct score_on *so = find_on(sc, ch->ev->et);
	struct facts *fs = &ch->eng->facts;
	struct outcome o;
	struct fact *f;
	int part;

	if (so == NULL)
		return;
	part = so->part >= 0 ? part_index(sc, ch->ev->vals[so->part].s) :
	    so->fixed;
	f = facts_put(fs, r->name, r->kind->name, ch->ent->id,
	    (int32_t)ch->ev->vals[so->period].i);
	fact_set_group(fs, f, change_field(ch, sc->gslot));
	f->parts[part] = ch->ev->vals[so->value].i;
	if (ch->ev->et->fields[so->value].type == FT_INT)
		f->parts[part] *= DEC_ONE;
	f->mask |= 1u << part;
	f->ts = ch->ev->ts;
	f->has_value = score_total(r, f, &f->value) == 0;
	fact_write(f, r, engine_ops(ch->eng));
	ENGINE_REACH(ch->eng, r, f->has_value ? 0 : 1);
	if (!f->has_value)
		return;
	memset(&o, 0, sizeof o);
	o.kind = r->kind->name;
	o.entity = ch->ent->id;
	o.grp = f->grp;
	o.period = FACT_PERIOD(f);
	o.value = f->value;
	o.ts = ch->ev->ts;
	engine_follow(r, ch, &o);
}

/* A fact of the rule in `get`: its parts, and the total once complete. */
static void
fact_json(const struct rule *r, const struct fact *f, struct buf *b)
{
	char num[32];

	buf_adds(b, ",\"parts\":");
	fact_parts_json(f, r, b);
	if (f->has_value) {
		dec_format(f->value, num, sizeof num);
		buf_addf(b, ",\"total\":%s", num);
	}
}

/*
 * Per period: each part with its weight and value (null while missing),
 * and the total once every part is there, all in exact decimals.
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct score *sc = r->data;
	const struct fact *f;
	char per[16], num[32];
	int64_t total;
	size_t i, n = 0;

	buf_adds(b, ",\"periods\":[");
	for (f = facts_of(&e->facts, ent->kind->name, ent->id); f != NULL;
	    f = f->enext) {
		if (strcmp(FACT_RULE(f), r->name) != 0)
			continue;
		period_code_format(FACT_PERIOD(f), per, sizeof per);
		buf_addf(b, "%s{\"period\":\"%s\",\"group\":", n++ ? "," : "",
		    per);
		buf_add_json_cstr(b, f->grp);
		buf_adds(b, ",\"parts\":[");
		for (i = 0; i < sc->nparts; i++) {
			buf_adds(b, i ? ",{\"part\":" : "{\"part\":");
			buf_add_json_cstr(b, sc->parts[i]);
			dec_format(sc->weights[i], num, sizeof num);
			buf_addf(b, ",\"weight\":%s,\"value\":", num);
			if (f->mask & (1u << i)) {
				dec_format(f->parts[i], num, sizeof num);
				buf_adds(b, num);
			} else
				buf_adds(b, "null");
			buf_addc(b, '}');
		}
		buf_adds(b, "],\"total\":");
		if (score_total(r, f, &total) == 0) {
			dec_format(total, num, sizeof num);
			buf_adds(b, num);
		} else
			buf_adds(b, "null");
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}

const char *const *
score_parts(const struct rule *r, size_t *n)
{
	const struct score *sc = r->data;

	*n = sc->nparts;
	return (const char *const *)sc->parts;
}

int
score_period_kind(const struct rule *r)
{
	return ((const struct score *)r->data)->pkind;
}

/* A rank rule closes this score's periods per group, in its cycle. */
void
score_check_cycle(struct rule *r, const char *cycle)
{
	struct score *sc = r->data;

	if (sc->cycle == NULL)
		sc->cycle = xstrdup(cycle);
}

const char *
score_group(const struct rule *r)
{
	const struct score *sc = r->data;

	return sc->gslot >= 0 ? r->kind->fields[sc->gslot] : NULL;
}

/* Outcomes: a total complete, and with several parts one still partial. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	const struct score *sc = r->data;
	static const char *const names[] = { "complete", "partial" };

	if (i >= 2)
		return -1;
	buf_adds(name, names[i]);
	return i == 0 || sc->nparts > 1;
}

static void
score_free(void *p)
{
	struct score *sc = p;
	size_t i;

	if (sc == NULL)
		return;
	for (i = 0; i < sc->nparts; i++)
		free(sc->parts[i]);
	free(sc->parts);
	free(sc->weights);
	free(sc->on);
	free(sc->cycle);
	free(sc);
}

const struct prim prim_score = {
	.name = "score",
	.setup = setup,
	.check = check,
	.eval = eval,
	.fact_json = fact_json,
	.parts = score_parts,
	.free = score_free,
	.vars = vars,
	.outcome = outcome,
	.explain = explain,
};
