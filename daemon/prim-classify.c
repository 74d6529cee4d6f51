/*
 * The classify primitive: ordered classes, the first whose condition holds
 * is the entity's class (a class without `when` matches always).  The class
 * is kept on the entity; a change is written to its history and raises the
 * rule's alert with the severity of the new class.  A new entity that lands
 * in the default class raises nothing.  The rule's `data` map adds
 * values computed from the entity's record to the alert's data:
 *
 *   data: {residents: residents, required: "ceil(18 * residents / 10000.0)"}
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

struct classify {
	struct klass	*classes;
	size_t		 n;
	size_t		 dflt;		/* class of an entity that matches none */
	size_t		 slot;		/* in the entity's record */
	struct rdata	 data;		/* data: names and their expressions */
	struct buf	 more;		/* the data's JSON, built per change */
};

static const char *const reserved[] = { "from", "to", NULL };

/* The data's values, as JSON members that follow "from" and "to". */
static const char *
data_json(struct classify *c, const union val *vals)
{
	if (c->data.n == 0)
		return NULL;
	buf_reset(&c->more);
	rules_data_json(&c->data, vals, &c->more);
	return BUF_DATA(&c->more);
}

static const char *const vars[] = { "from", "to", "from_label",
    "to_label", NULL };

/* A class's colour on the map: "#rrggbb", kept in lower case. */
static char *
setup_color(const struct ynode *v, struct rule_load *ld)
{
	char *c;
	size_t i;

	if (v->type != YN_SCALAR || v->len != 7 || v->str[0] != '#' ||
	    strspn(v->str + 1, "0123456789abcdefABCDEF") != 6) {
		if (v->type == YN_SCALAR)
			errs_add(ld->errs, ld->file, v->line, v->col,
			    "color: expected #RRGGBB (six hex digits), got "
			    "'%.*s%s'", CLIP(v->str));
		else
			errs_add(ld->errs, ld->file, v->line, v->col,
			    "color: expected #RRGGBB (six hex digits), got %s",
			    ynode_type_name(v));
		return NULL;
	}
	c = xstrdup(v->str);
	for (i = 1; c[i] != '\0'; i++)
		if (c[i] >= 'A' && c[i] <= 'F')
			c[i] = (char)(c[i] - 'A' + 'a');
	return c;
}

static int
setup(struct rule *r, const struct ynode *def, const struct ynode *n,
    struct rule_load *ld)
{
	static const char *const keys[] = { "class", "label", "severity",
	    "when", "color" };
	struct classify *c;
	const struct ynode *dv;
	struct expr_scope scope = { rules_resolve, ld->kind,
	    ld->kind->names, ld->kind->nattrs + ld->kind->nfields };
	size_t i, j, before = ld->errs->n;
	int dflt = -1;

	if (n->type != YN_SEQ || n->n == 0) {
		errs_add(ld->errs, ld->file, n->line, n->col, "classify: "
		    "expected a non-empty list of classes");
		return -1;
	}
	c = xcalloc(1, sizeof *c);
	r->data = c;
	c->classes = xcalloc(n->n, sizeof *c->classes);
	c->n = n->n;
	for (i = 0; i < n->n; i++) {
		const struct ynode *e = n->items[i], *v;
		struct klass *k = &c->classes[i];
		char *cause;
		size_t pos;

		if (e->type != YN_MAP) {
			errs_add(ld->errs, ld->file, e->line, e->col,
			    "classify: class must be a map, got %s",
			    ynode_type_name(e));
			continue;
		}
		ynode_check_keys(e, ld->file, keys, 5, "class", ld->errs);
		if ((v = ynode_get(e, "class")) == NULL ||
		    v->type != YN_SCALAR || v->len == 0) {
			errs_add(ld->errs, ld->file, e->line, e->col,
			    "classify: class needs a name ('class: NAME')");
			continue;
		}
		k->name = xstrdup(v->str);
		for (j = 0; j < i; j++)
			if (c->classes[j].name != NULL &&
			    strcmp(c->classes[j].name, k->name) == 0)
				errs_add(ld->errs, ld->file, v->line, v->col,
				    "classify: duplicate class '%s'", k->name);
		v = ynode_get(e, "label");
		k->label = xstrdup(v != NULL && v->type == YN_SCALAR ? v->str :
		    k->name);
		if ((v = ynode_get(e, "color")) != NULL)
			k->color = setup_color(v, ld);
		k->severity = SEV_INFO;
		if ((v = ynode_get(e, "severity")) != NULL)
			rules_severity(v, &k->severity, ld);
		if ((v = ynode_get(e, "when")) == NULL) {
			if (dflt >= 0)
				errs_add(ld->errs, ld->file, e->line, e->col,
				    "classify: class '%s' has no 'when', but "
				    "'%s' is already the default", k->name,
				    c->classes[dflt].name);
			else
				dflt = (int)i;
			continue;
		}
		if (dflt >= 0) {
			errs_add(ld->errs, ld->file, e->line, e->col,
			    "classify: class '%s' can never match: it follows "
			    "the default class '%s'", k->name,
			    c->classes[dflt].name);
			continue;
		}
		if (v->type != YN_SCALAR) {
			errs_add(ld->errs, ld->file, v->line, v->col,
			    "when: expected an expression, got %s",
			    ynode_type_name(v));
			continue;
		}
		k->line = v->line;
		k->when = expr_compile(v->str, &scope, VT_BOOL, &cause, &pos);
		if (k->when == NULL) {
			rules_compile_error(ld->errs, ld->file, v, pos, cause);
			free(cause);
		}
	}
	if (dflt < 0) {
		/* an implicit default class, "none" */
		c->classes = xreallocarray(c->classes, c->n + 1,
		    sizeof *c->classes);
		memset(&c->classes[c->n], 0, sizeof c->classes[c->n]);
		c->classes[c->n].name = xstrdup("none");
		c->classes[c->n].label = xstrdup("none");
		dflt = (int)c->n++;
	}
	c->dflt = (size_t)dflt;
	c->slot = rules_class_slot(ld->kind, c->dflt);
	ld->kind->grouped = 1;		/* on a map: `map` reads it by group */
	if ((dv = ynode_get(def, "data")) != NULL)
		rules_data(&c->data, dv, &scope, reserved, ld);
	/* it runs whenever an entity of its kind changes */
	for (i = 0; i < ld->rs->nevtypes; i++) {
		struct evtype *et = ld->rs->evtypes[i];

		if (et->kind == ld->kind && et->action != EV_ALONE) {
			r->on = xreallocarray(r->on, r->non + 1,
			    sizeof *r->on);
			r->on[r->non++] = et;
		}
	}
	return ld->errs->n == before ? 0 : -1;
}

static void
eval(const struct rule *r, struct change *ch)
{
	struct classify *c = r->data;
	size_t old = ch->ent->cls[c->slot], cls = c->dflt, i;

	if (!ch->removing) {
		for (i = 0; i < c->n; i++)
			if (c->classes[i].when == NULL ||
			    expr_eval(c->classes[i].when, ch->ent->vals).i) {
				cls = i;
				break;
			}
	}
	ENGINE_REACH(ch->eng, r, cls);
	if (cls == old)
		return;
	ch->ent->cls[c->slot] = (uint16_t)cls;
	engine_class_changed(ch, r, &c->classes[old], &c->classes[cls],
	    data_json(c, ch->ent->vals));
}

/* Outcomes: each class, the default one (a removal's) included. */
static int
outcome(const struct rule *r, size_t i, struct buf *name)
{
	const struct classify *c = r->data;

	if (i >= c->n)
		return -1;
	buf_addf(name, "class %s", c->classes[i].name);
	return 1;
}

static void
classify_free(void *p)
{
	struct classify *c = p;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->classes[i].name);
		free(c->classes[i].label);
		free(c->classes[i].color);
		expr_free(c->classes[i].when);
	}
	free(c->classes);
	rules_data_free(&c->data);
	buf_free(&c->more);
	free(c);
}

/*
 * The entity's class from the name stored, so that a reload may reorder
 * the classes; the default class if the name is no longer one of them.
 */
static void
restore(const struct rule *r, struct entity *e, const cJSON *v)
{
	const struct classify *c = r->data;
	size_t i, cls = c->dflt;

	if (cJSON_IsString(v))
		for (i = 0; i < c->n; i++)
			if (strcmp(c->classes[i].name, v->valuestring) == 0) {
				cls = i;
				break;
			}
	e->cls[c->slot] = (uint16_t)cls;
}

static void
state_json(const struct rule *r, const struct entity *e, struct buf *b)
{
	const struct classify *c = r->data;

	buf_add_json_cstr(b, c->classes[e->cls[c->slot]].name);
}

/*
 * Each class in order up to the one the entity's record matches, with its
 * condition's evaluation; and the class the entity is in (they differ
 * only while a rule that settles has yet to move it, or once removed).
 */
static void
explain(const struct rule *r, struct engine *e, const struct entity *ent,
    struct buf *b)
{
	const struct classify *c = r->data;
	const struct klass *k;
	size_t i;
	int hit = 0;

	k = &c->classes[ent->cls[c->slot]];
	buf_adds(b, ",\"class\":");
	buf_add_json_cstr(b, k->name);
	buf_adds(b, ",\"label\":");
	buf_add_json_cstr(b, k->label);
	if (ent->removed) {
		buf_adds(b, ",\"removed\":true,\"classes\":[]");
		return;
	}
	buf_adds(b, ",\"classes\":[");
	for (i = 0; i < c->n && !hit; i++) {
		k = &c->classes[i];
		buf_adds(b, i > 0 ? ",{\"class\":" : "{\"class\":");
		buf_add_json_cstr(b, k->name);
		buf_adds(b, ",\"label\":");
		buf_add_json_cstr(b, k->label);
		if (k->when == NULL) {
			buf_adds(b, ",\"default\":true,\"matched\":true}");
			break;
		}
		buf_adds(b, ",\"at\":");
		rules_at(r, k->line, b);
		buf_adds(b, ",\"when\":");
		hit = expr_explain(k->when, ent->vals, ent->kind->names,
		    b).i != 0;
		buf_addf(b, ",\"matched\":%s}", hit ? "true" : "false");
	}
	buf_addc(b, ']');
}

/* A classify rule's classes, and its slot in its kind's records. */
const struct klass *
classify_classes(const struct rule *r, size_t *n, size_t *slot)
{
	const struct classify *c = r->data;

	*n = c->n;
	*slot = c->slot;
	return c->classes;
}

const struct prim prim_classify = {
	.name = "classify",
	.alert_suffix = ".changed",
	.setup = setup,
	.eval = eval,
	.restore = restore,
	.state_json = state_json,
	.free = classify_free,
	.vars = vars,
	.takes_data = 1,
	.outcome = outcome,
	.explain = explain,
};
