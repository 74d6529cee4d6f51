/*
 * Rule files: YAML documents that declare an entity kind, its typed
 * attributes and string fields, the events that change it, and the rules
 * that run when it changes.  Loading is in stages (Falco rule_loader): read
 * each file into a position-keeping tree, collect kinds, attributes and
 * events across files, then compile the rules with their primitives.  Every
 * problem is collected; on any, the half-built ruleset is freed whole.
 *
 *   kind: household
 *   fields: [community, grid]
 *   attributes: {age: int, lives_alone: bool}
 *   events: {household.upsert: upsert, household.remove: remove}
 *   rules:
 *     four_color:
 *       classify: [{class: red, when: "...", severity: critical}, ...]
 *       alert: four_color.changed
 *       message: "..."
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"

static const struct prim *const prim_table[] = {
	&prim_classify,
	&prim_score,
	&prim_rank,
	&prim_streak,
	&prim_band,
	&prim_deadline,
	&prim_count,
	&prim_review,
	&prim_cadence,
};
#define NPRIM (sizeof prim_table / sizeof prim_table[0])

static const char *const reserved_fields[] = { "type", "cmd", "id", "ts",
    "attrs" };

static int
valid_name(const char *s, int dots)
{
	if (!islower((unsigned char)*s) && *s != '_')
		return 0;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    *s != '_' && !(dots && *s == '.' && s[1] != '.' &&
		    s[1] != '\0'))
			return 0;
	return 1;
}

/* FNV-1a, for content digests that reloads compare. */
static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A digest of a YAML subtree: its structure and its scalars. */
static uint64_t
ynode_digest(uint64_t h, const struct ynode *n)
{
	size_t i, m;

	h = fnv1a(h, &n->type, sizeof n->type);
	if (n->type == YN_SCALAR)
		return fnv1a(h, n->str, n->len + 1);
	m = n->type == YN_MAP ? 2 * n->n : n->n;
	for (i = 0; i < m; i++)
		h = ynode_digest(h, n->items[i]);
	return fnv1a(h, "}", 1);
}

/*
 * What a rule means: its definition, and the declarations it is compiled
 * against (the kind's attributes and fields, the fields of its events).
 */
static uint64_t
rule_digest(const struct rule *r, const struct ynode *def)
{
	uint64_t h = ynode_digest(0xcbf29ce484222325ULL, def);
	const struct kind *k = r->kind;
	size_t i, j;

	h = fnv1a(h, k->name, strlen(k->name) + 1);
	for (i = 0; i < k->nattrs; i++) {
		h = fnv1a(h, k->attrs[i].name, strlen(k->attrs[i].name) + 1);
		h = fnv1a(h, &k->attrs[i].type, sizeof k->attrs[i].type);
	}
	for (i = 0; i < k->nfields; i++)
		h = fnv1a(h, k->fields[i], strlen(k->fields[i]) + 1);
	for (i = 0; i < r->non; i++) {
		const struct evtype *et = r->on[i];

		h = fnv1a(h, et->name, strlen(et->name) + 1);
		h = fnv1a(h, &et->action, sizeof et->action);
		for (j = 0; j < et->nfields; j++) {
			const struct evfield *f = &et->fields[j];

			h = fnv1a(h, f->name, strlen(f->name) + 1);
			h = fnv1a(h, &f->type, sizeof f->type);
			h = fnv1a(h, &f->pkind, sizeof f->pkind);
			h = fnv1a(h, &f->min, sizeof f->min);
			h = fnv1a(h, &f->max, sizeof f->max);
		}
	}
	return h;
}

static void
diff_list(struct buf *b, const char *key, const struct ruleset *a,
    const struct ruleset *z, int what)
{
	const struct rule *r, *o;
	size_t i, n = 0;

	buf_addf(b, ",\"%s\":[", key);
	for (i = 0; i < z->nrules; i++) {
		r = z->rules[i];
		o = a != NULL ? ruleset_rule(a, r->name) : NULL;
		if ((what == 0 && o == NULL) ||
		    (what == 1 && o != NULL && o->digest != r->digest)) {
			buf_addf(b, "%s", n++ ? "," : "");
			buf_add_json_cstr(b, r->name);
		}
	}
	buf_addc(b, ']');
}

/*
 * The rules a reload from old to new adds, removes and changes, as JSON
 * keys ,"added":[...],"removed":[...],"changed":[...].
 */
void
ruleset_diff(const struct ruleset *old, const struct ruleset *new,
    struct buf *b)
{
	diff_list(b, "added", old, new, 0);
	diff_list(b, "removed", new, old, 0);
	diff_list(b, "changed", old, new, 1);
}

/* Expression names of a kind: attributes, then fields (strings). */
int
rules_resolve(void *arg, const char *name, enum vtype *t, int *slot)
{
	const struct kind *k = arg;
	size_t i;

	for (i = 0; i < k->nattrs; i++)
		if (strcmp(k->attrs[i].name, name) == 0) {
			*t = k->attrs[i].type;
			*slot = (int)i;
			return 0;
		}
	for (i = 0; i < k->nfields; i++)
		if (strcmp(k->fields[i], name) == 0) {
			*t = VT_STR;
			*slot = (int)(k->nattrs + i);
			return 0;
		}
	return -1;
}

/*
 * Report an expression error at the position of byte pos of scalar n: exact
 * for plain and quoted one-line scalars, the scalar's start otherwise.
 */
void
rules_compile_error(struct errs *errs, const char *file, const struct ynode *n,
    size_t pos, const char *cause)
{
	int line = n->line, col = n->col;

	if (n->style == 2 || n->style == 3)	/* single, double quoted */
		col++;
	if (n->style <= 3 && memchr(n->str, '\n', pos) == NULL)
		col += (int)pos;
	errs_add(errs, file, line, col, "%s", cause);
}

struct kind *
ruleset_kind(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nkinds; i++)
		if (strcmp(rs->kinds[i]->name, name) == 0)
			return rs->kinds[i];
	return NULL;
}

/* The description of the file that rule r comes from, or NULL. */
const char *
ruleset_desc(const struct ruleset *rs, const struct rule *r)
{
	size_t i;

	for (i = 0; i < rs->nfiles; i++)
		if (strcmp(rs->files[i], r->file) == 0)
			return rs->descs[i];
	return NULL;
}

const struct evtype *
ruleset_evtype(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nevtypes; i++)
		if (strcmp(rs->evtypes[i]->name, name) == 0)
			return rs->evtypes[i];
	return NULL;
}

struct rule *
ruleset_rule(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nrules; i++)
		if (strcmp(rs->rules[i]->name, name) == 0)
			return rs->rules[i];
	return NULL;
}

/* The index of a typed event's field, or -1. */
int
evtype_field(const struct evtype *et, const char *name)
{
	size_t i;

	for (i = 0; i < et->nfields; i++)
		if (strcmp(et->fields[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void
kind_names(struct kind *k)
{
	size_t i;

	free(k->names);
	k->names = xcalloc(k->nattrs + k->nfields + 1, sizeof *k->names);
	for (i = 0; i < k->nattrs; i++)
		k->names[i] = k->attrs[i].name;
	for (i = 0; i < k->nfields; i++)
		k->names[k->nattrs + i] = k->fields[i];
}

static int
has_name(const struct kind *k, const char *name)
{
	enum vtype t;
	int slot;

	return rules_resolve((void *)(uintptr_t)k, name, &t, &slot) == 0;
}

static void
load_attributes(struct kind *k, const struct ynode *n, const char *file,
    struct errs *errs)
{
	static const char *const types[] = { "int", "decimal", "bool",
	    "string" };
	size_t i, t;

	if (n->type != YN_MAP) {
		errs_add(errs, file, n->line, n->col, "attributes: expected a "
		    "map of name: type, got %s", ynode_type_name(n));
		return;
	}
	for (i = 0; i < n->n; i++) {
		const struct ynode *key = n->items[2 * i];
		const struct ynode *v = n->items[2 * i + 1];
		const char *hint;

		if (!valid_name(key->str, 0)) {
			errs_add(errs, file, key->line, key->col, "attributes: "
			    "bad name '%s' (lower case letters, digits, _)",
			    key->str);
			continue;
		}
		for (t = 0; t < 4; t++)
			if (v->type == YN_SCALAR && strcmp(v->str, types[t]) == 0)
				break;
		if (t == 4) {
			hint = v->type == YN_SCALAR ?
			    did_you_mean(v->str, types, 4) : NULL;
			errs_add(errs, file, v->line, v->col, "attributes.%s: "
			    "unknown type '%s', expected int, decimal, bool or "
			    "string%s%s%s", key->str, v->type == YN_SCALAR ?
			    v->str : "", hint ? " (did you mean '" : "",
			    hint ? hint : "", hint ? "'?)" : "");
			continue;
		}
		if (has_name(k, key->str)) {
			errs_add(errs, file, key->line, key->col, "attributes: "
			    "'%s' is already declared for kind %s", key->str,
			    k->name);
			continue;
		}
		k->attrs = xreallocarray(k->attrs, k->nattrs + 1,
		    sizeof *k->attrs);
		k->attrs[k->nattrs].name = xstrdup(key->str);
		k->attrs[k->nattrs].type = (enum vtype)t;
		k->attrs[k->nattrs].derived = 0;
		k->nattrs++;
	}
}

static void
load_fields(struct kind *k, const struct ynode *n, const char *file,
    struct errs *errs)
{
	size_t i, j;

	if (n->type != YN_SEQ) {
		errs_add(errs, file, n->line, n->col, "fields: expected a list "
		    "of names, got %s", ynode_type_name(n));
		return;
	}
	for (i = 0; i < n->n; i++) {
		const struct ynode *v = n->items[i];
		int bad = 0;

		if (v->type != YN_SCALAR || !valid_name(v->str, 0)) {
			errs_add(errs, file, v->line, v->col, "fields: bad name "
			    "(lower case letters, digits, _)");
			continue;
		}
		for (j = 0; j < sizeof reserved_fields / sizeof
		    reserved_fields[0]; j++)
			if (strcmp(v->str, reserved_fields[j]) == 0)
				bad = 1;
		if (bad || strcmp(v->str, k->name) == 0) {
			errs_add(errs, file, v->line, v->col, "fields: '%s' is "
			    "reserved", v->str);
			continue;
		}
		if (has_name(k, v->str)) {
			errs_add(errs, file, v->line, v->col, "fields: '%s' is "
			    "already declared for kind %s", v->str, k->name);
			continue;
		}
		k->fields = xreallocarray(k->fields, k->nfields + 1,
		    sizeof *k->fields);
		k->fields[k->nfields++] = xstrdup(v->str);
	}
}

/* The attribute type that a field of each type sets. */
static const enum vtype ftype_vtype[] = { VT_STR, VT_INT, VT_DEC, VT_BOOL,
    VT_INT };

static const char *const ftype_names[] = { "string", "int", "decimal",
    "bool", "half_year", "quarter", "period", "month" };
#define NFTYPES (sizeof ftype_names / sizeof ftype_names[0])

/* Decimal YAML scalar: 0.3, 90, -1.5; 0 or -1 with an error. */
int
rules_decimal(const struct ynode *n, int64_t *out, const char *what,
    struct rule_load *ld)
{
	if (n->type != YN_SCALAR || dec_parse(n->str, n->len, out) != 0) {
		errs_add(ld->errs, ld->file, n->line, n->col, "%s: expected a "
		    "decimal number", what);
		return -1;
	}
	return 0;
}

static int
field_type(struct evfield *f, const struct ynode *n, const char *what,
    struct rule_load *ld)
{
	const char *hint;
	size_t t;

	for (t = 0; t < NFTYPES; t++)
		if (n->type == YN_SCALAR && strcmp(n->str, ftype_names[t]) == 0)
			break;
	if (t == NFTYPES) {
		hint = n->type == YN_SCALAR ? did_you_mean(n->str, ftype_names,
		    NFTYPES) : NULL;
		errs_add(ld->errs, ld->file, n->line, n->col, "%s: unknown type"
		    " '%s', expected string, int, decimal, bool, half_year, "
		    "quarter, month or period%s%s%s", what, n->type == YN_SCALAR ?
		    n->str : "", hint ? " (did you mean '" : "", hint ? hint :
		    "", hint ? "'?)" : "");
		return -1;
	}
	f->type = t <= 3 ? (enum ftype)t : FT_PERIOD;
	f->pkind = t == 4 ? PERIOD_HALF : t == 5 ? PERIOD_QUARTER : t == 7 ?
	    PERIOD_MONTH : PK_ANY;
	return 0;
}

/* One typed field: "name: TYPE" or "name: {type: T, min, max, values}". */
static void
load_evfield(struct evtype *et, struct kind *k, const struct ynode *key,
    const struct ynode *v, struct rule_load *ld)
{
	static const char *const keys[] = { "type", "min", "max", "values",
	    "optional" };
	struct evfield f;
	const struct ynode *t, *x;
	size_t i;
	int bad = 0;

	memset(&f, 0, sizeof f);
	f.kslot = -1;
	if (!valid_name(key->str, 0)) {
		errs_add(ld->errs, ld->file, key->line, key->col, "fields: bad "
		    "name '%s' (lower case letters, digits, _)", key->str);
		return;
	}
	for (i = 0; i < sizeof reserved_fields / sizeof reserved_fields[0];
	    i++)
		if (strcmp(key->str, reserved_fields[i]) == 0)
			bad = 1;
	if (bad || strcmp(key->str, k->name) == 0) {
		errs_add(ld->errs, ld->file, key->line, key->col, "fields: '%s' "
		    "is reserved", key->str);
		return;
	}
	if (et->nfields == EV_FIELDS_MAX) {
		errs_add(ld->errs, ld->file, key->line, key->col, "fields: at "
		    "most %d fields per event", EV_FIELDS_MAX);
		return;
	}
	if (v->type == YN_MAP) {
		ynode_check_keys(v, ld->file, keys, 5, "field", ld->errs);
		if ((t = ynode_get(v, "type")) == NULL) {
			errs_add(ld->errs, ld->file, v->line, v->col, "%s: "
			    "missing key 'type'", key->str);
			return;
		}
	} else
		t = v;
	if (field_type(&f, t, key->str, ld) != 0)
		return;
	if (v->type == YN_MAP) {
		if ((x = ynode_get(v, "optional")) != NULL &&
		    ynode_bool(x, &f.optional) != 0)
			errs_add(ld->errs, ld->file, x->line, x->col, "optional: "
			    "expected true or false");
		if ((x = ynode_get(v, "min")) != NULL) {
			if (f.type != FT_INT && f.type != FT_DEC)
				errs_add(ld->errs, ld->file, x->line, x->col,
				    "min: only int and decimal fields have a "
				    "range");
			else if (rules_decimal(x, &f.min, "min", ld) == 0)
				f.has_min = 1;
		}
		if ((x = ynode_get(v, "max")) != NULL) {
			if (f.type != FT_INT && f.type != FT_DEC)
				errs_add(ld->errs, ld->file, x->line, x->col,
				    "max: only int and decimal fields have a "
				    "range");
			else if (rules_decimal(x, &f.max, "max", ld) == 0)
				f.has_max = 1;
		}
		if ((x = ynode_get(v, "values")) != NULL) {
			if (f.type != FT_STRING || x->type != YN_SEQ ||
			    x->n == 0)
				errs_add(ld->errs, ld->file, x->line, x->col,
				    "values: only a string field has a list of "
				    "values, and it may not be empty");
			else {
				f.values = xcalloc(x->n, sizeof *f.values);
				f.enumerated = 1;
				for (i = 0; i < x->n; i++)
					if (x->items[i]->type == YN_SCALAR)
						f.values[f.nvalues++] =
						    xstrdup(x->items[i]->str);
			}
		}
	}
	/* an event of no entity (action none) sets none of the kind's */
	for (i = 0; et->kind != NULL && i < k->nfields; i++)
		if (strcmp(k->fields[i], key->str) == 0)
			f.kslot = (int)i;
	if (f.kslot >= 0 && f.type != FT_STRING)
		errs_add(ld->errs, ld->file, t->line, t->col, "%s: the kind's "
		    "field '%s' is a string", key->str, key->str);
	/* a field named like an attribute sets it (grid.staff's members) */
	f.aslot = -1;
	for (i = 0; et->kind != NULL && i < k->nattrs; i++)
		if (strcmp(k->attrs[i].name, key->str) == 0)
			f.aslot = (int)i;
	if (f.aslot >= 0 && (f.type == FT_PERIOD ||
	    ftype_vtype[f.type] != k->attrs[f.aslot].type))
		errs_add(ld->errs, ld->file, t->line, t->col, "%s: the kind's "
		    "attribute '%s' is a%s %s", key->str, key->str,
		    k->attrs[f.aslot].type == VT_INT ? "n" : "",
		    vtype_name(k->attrs[f.aslot].type));
	if (f.type == FT_INT) {
		f.min /= DEC_ONE;
		f.max /= DEC_ONE;
	}
	f.name = xstrdup(key->str);
	et->fields = xreallocarray(et->fields, et->nfields + 1,
	    sizeof *et->fields);
	et->fields[et->nfields++] = f;
}

static void
evtype_free(struct evtype *et)
{
	size_t i, j;

	if (et == NULL)
		return;
	for (i = 0; i < et->nfields; i++) {
		for (j = 0; j < et->fields[i].nvalues; j++)
			free(et->fields[i].values[j]);
		free(et->fields[i].values);
		free(et->fields[i].name);
	}
	free(et->fields);
	free(et->rules);
	free(et->name);
	free(et);
}

/*
 * Number an alert name for the metrics.  One entry per definition, even
 * for a repeated name or a rule that fails to load: the count is small
 * and the metrics fold them by name.
 */
size_t
ruleset_alert_index(struct ruleset *rs, const char *name)
{
	rs->alerts = xreallocarray(rs->alerts, rs->nalerts + 1,
	    sizeof *rs->alerts);
	rs->alerts[rs->nalerts] = xstrdup(name);
	return rs->nalerts++;
}

static struct evtype *
evtype_add(struct ruleset *rs, const char *name, struct kind *k,
    enum ev_action a)
{
	struct evtype *et = xcalloc(1, sizeof *et);

	et->name = xstrdup(name);
	et->kind = a == EV_ALONE ? NULL : k;
	et->action = a;
	if (a == EV_REMOVE)
		k->removable = 1;
	rs->evtypes = xreallocarray(rs->evtypes, rs->nevtypes + 1,
	    sizeof *rs->evtypes);
	et->idx = rs->nevtypes;
	rs->evtypes[rs->nevtypes++] = et;
	return et;
}

/*
 * events: {NAME: ACTION} or {NAME: {action: ACTION, fields: {...}}}.
 * ACTION is upsert (create or change), update (change; the entity must
 * exist), remove, or none (no entity).
 */
static void
load_events(struct ruleset *rs, struct kind *k, const struct ynode *n,
    const char *file, struct errs *errs)
{
	static const char *const actions[] = { "upsert", "remove", "update",
	    "none" };
	static const char *const keys[] = { "action", "fields" };
	struct rule_load ld = { file, k, errs, rs };
	struct evtype *et;
	size_t i, j, a;

	if (n->type != YN_MAP) {
		errs_add(errs, file, n->line, n->col, "events: expected a map of "
		    "event type: action, got %s", ynode_type_name(n));
		return;
	}
	for (i = 0; i < n->n; i++) {
		const struct ynode *key = n->items[2 * i];
		const struct ynode *v = n->items[2 * i + 1], *act, *f;

		if (!valid_name(key->str, 1)) {
			errs_add(errs, file, key->line, key->col, "events: bad "
			    "event type '%s'", key->str);
			continue;
		}
		if (ruleset_evtype(rs, key->str) != NULL ||
		    strcmp(key->str, "clock.tick") == 0) {
			errs_add(errs, file, key->line, key->col, "events: "
			    "event type '%s' is already declared", key->str);
			continue;
		}
		act = v;
		if (v->type == YN_MAP) {
			ynode_check_keys(v, file, keys, 2, "event", errs);
			if ((act = ynode_get(v, "action")) == NULL) {
				errs_add(errs, file, v->line, v->col, "events.%s:"
				    " missing key 'action'", key->str);
				continue;
			}
		}
		for (a = 0; a < 4; a++)
			if (act->type == YN_SCALAR &&
			    strcmp(act->str, actions[a]) == 0)
				break;
		if (a == 4 || (v == act && a > 1)) {
			errs_add(errs, file, act->line, act->col, "events.%s: "
			    "expected action %s", key->str, v == act ?
			    "upsert or remove (or a map with action and fields)" :
			    "upsert, update, remove or none");
			continue;
		}
		et = evtype_add(rs, key->str, k, (enum ev_action)a);
		if (v->type != YN_MAP)
			continue;
		et->typed = 1;
		if ((f = ynode_get(v, "fields")) == NULL)
			continue;
		if (f->type != YN_MAP) {
			errs_add(errs, file, f->line, f->col, "events.%s.fields: "
			    "expected a map of name: type", key->str);
			continue;
		}
		for (j = 0; j < f->n; j++) {
			if (evtype_field(et, f->items[2 * j]->str) >= 0) {
				errs_add(errs, file, f->items[2 * j]->line,
				    f->items[2 * j]->col, "fields: '%s' is "
				    "declared twice", f->items[2 * j]->str);
				continue;
			}
			load_evfield(et, k, f->items[2 * j],
			    f->items[2 * j + 1], &ld);
		}
	}
}

/*
 * period.close {cycle, scope, period}: closes a period of a ranking cycle
 * for one group.  Built in, so that any rule file may rank; rank rules add
 * their cycles to the allowed values of `cycle`.
 */
static void
builtin_events(struct ruleset *rs)
{
	static const char *const names[] = { "cycle", "scope", "period" };
	struct evtype *et = evtype_add(rs, PERIOD_CLOSE, NULL, EV_ALONE);
	size_t i;

	et->typed = 1;
	et->fields = xcalloc(3, sizeof *et->fields);
	for (i = 0; i < 3; i++) {
		et->fields[i].name = xstrdup(names[i]);
		et->fields[i].kslot = -1;
		et->fields[i].aslot = -1;
		et->fields[i].type = i == 2 ? FT_PERIOD : FT_STRING;
		et->fields[i].pkind = PK_ANY;
		et->fields[i].enumerated = i == 0;	/* the cycles of ranks */
	}
	et->nfields = 3;
}

static const char *const severity_names[] = { "info", "warning",
    "critical" };

const char *
severity_name(int s)
{
	return severity_names[s];
}

int
rules_severity(const struct ynode *v, int *out, struct rule_load *ld)
{
	int s;

	for (s = 0; s < 3; s++)
		if (v->type == YN_SCALAR && strcmp(v->str, severity_names[s]) == 0) {
			*out = s;
			return 0;
		}
	errs_add(ld->errs, ld->file, v->line, v->col, "severity: expected "
	    "critical, warning or info");
	return -1;
}

/* The event type named by scalar n, or NULL with an error. */
struct evtype *
rules_on(struct rule *r, const struct ynode *n, struct rule_load *ld)
{
	const char *names[64], *hint;
	struct evtype *et = NULL;
	size_t i;

	if (n->type == YN_SCALAR)
		for (i = 0; i < ld->rs->nevtypes; i++)
			if (strcmp(ld->rs->evtypes[i]->name, n->str) == 0)
				et = ld->rs->evtypes[i];
	if (et == NULL) {
		for (i = 0; i < ld->rs->nevtypes && i < 64; i++)
			names[i] = ld->rs->evtypes[i]->name;
		hint = n->type == YN_SCALAR ? did_you_mean(n->str, names, i) :
		    NULL;
		errs_add(ld->errs, ld->file, n->line, n->col, "unknown event "
		    "type '%s'%s%s%s", n->type == YN_SCALAR ? n->str : "",
		    hint ? " (did you mean '" : "", hint ? hint : "",
		    hint ? "'?)" : "");
		return NULL;
	}
	for (i = 0; i < r->non; i++)
		if (r->on[i] == et)
			return et;
	r->on = xreallocarray(r->on, r->non + 1, sizeof *r->on);
	r->on[r->non++] = et;
	return et;
}

/*
 * The index of the field called name in a typed event, which must have
 * one of the types in the mask (1 << ftype); -1 with an error at n.
 */
int
rules_field(const struct evtype *et, const struct ynode *n, const char *name,
    int types, struct rule_load *ld)
{
	int i;

	if (!et->typed || (i = evtype_field(et, name)) < 0) {
		errs_add(ld->errs, ld->file, n->line, n->col, "event %s has no "
		    "field '%s'", et->name, name);
		return -1;
	}
	if (!(types & (1 << et->fields[i].type))) {
		static const char *const tn[] = { "a string", "an int",
		    "a decimal", "a bool", "a period" };
		struct buf want = { 0 };
		int t, nt = 0;

		for (t = 0; t <= FT_PERIOD; t++)
			if (types & (1 << t))
				buf_addf(&want, "%s%s", nt++ ? " or " : "", tn[t]);
		errs_add(ld->errs, ld->file, n->line, n->col, "field '%s' of %s "
		    "is %s, expected %s", name, et->name,
		    tn[et->fields[i].type], BUF_DATA(&want));
		buf_free(&want);
		return -1;
	}
	return i;
}

/* An earlier rule of primitive p named by scalar n, or NULL with an error. */
struct rule *
rules_ref(const struct ynode *n, const char *what, const struct prim *p,
    struct rule_load *ld)
{
	struct rule *r;

	if (n->type != YN_SCALAR || (r = ruleset_rule(ld->rs, n->str)) == NULL) {
		errs_add(ld->errs, ld->file, n->line, n->col, "%s: unknown rule "
		    "'%s' (a rule may only name rules defined before it)", what,
		    n->type == YN_SCALAR ? n->str : "");
		return NULL;
	}
	if (r->prim != p) {
		errs_add(ld->errs, ld->file, n->line, n->col, "%s: rule '%s' is "
		    "a %s rule, expected %s", what, r->name, r->prim->name,
		    p->name);
		return NULL;
	}
	return r;
}

/*
 * The template names a rule fills: its primitive's, or, for a primitive
 * that names them after the rule's own keys, those its setup chose.
 */
static const char *const *
rule_vars(const struct rule *r)
{
	return r->vars != NULL ? r->vars : r->prim->vars;
}

/*
 * An alert definition {alert, severity, message} from map n; name_dflt
 * and sev_dflt stand in for missing keys.
 */
int
rules_alert_def(struct alert_def *ad, const struct ynode *n,
    const char *name_dflt, const struct rule *r, int sev_dflt,
    struct rule_load *ld)
{
	const struct ynode *v;
	size_t before = ld->errs->n;

	memset(ad, 0, sizeof *ad);
	ad->severity = sev_dflt;
	if (n != NULL && (v = ynode_get(n, "alert")) != NULL) {
		if (v->type != YN_SCALAR || !valid_name(v->str, 1))
			errs_add(ld->errs, ld->file, v->line, v->col, "alert: bad "
			    "alert name");
		else
			ad->name = xstrdup(v->str);
	}
	if (ad->name == NULL && name_dflt != NULL)
		ad->name = xstrdup(name_dflt);
	ad->aidx = ad->name != NULL ? ruleset_alert_index(ld->rs, ad->name) :
	    AIDX_NONE;
	if (n != NULL && (v = ynode_get(n, "severity")) != NULL)
		rules_severity(v, &ad->severity, ld);
	if (n != NULL && (v = ynode_get(n, "message")) != NULL)
		ad->message = tmpl_compile(v, ld->file, r, rule_vars(r),
		    ld->errs);
	return ld->errs->n == before ? 0 : -1;
}

void
alert_def_free(struct alert_def *ad)
{
	free(ad->name);
	tmpl_free(ad->message);
	memset(ad, 0, sizeof *ad);
}

static void
rule_free(struct rule *r)
{
	if (r == NULL)
		return;
	if (r->prim != NULL && r->data != NULL)
		r->prim->free(r->data);
	tmpl_free(r->message);
	free(r->alert);
	free(r->on);
	free(r->follow);
	free(r->name);
	free(r->file);
	free(r);
}

static void
load_rule(struct ruleset *rs, struct kind *k, const struct ynode *key,
    const struct ynode *def, const char *file, struct errs *errs)
{
	const char *keys[NPRIM + 4];
	const struct ynode *body = NULL, *v;
	struct rule_load ld = { file, k, errs, rs };
	struct rule *r;
	size_t i, before = errs->n;

	if (!valid_name(key->str, 1)) {
		errs_add(errs, file, key->line, key->col, "rules: bad rule name "
		    "'%s'", key->str);
		return;
	}
	for (i = 0; i < rs->nrules; i++)
		if (strcmp(rs->rules[i]->name, key->str) == 0) {
			errs_add(errs, file, key->line, key->col, "rules: rule "
			    "'%s' is already defined in %s:%d", key->str,
			    rs->rules[i]->file, rs->rules[i]->line);
			return;
		}
	if (def->type != YN_MAP) {
		errs_add(errs, file, def->line, def->col, "rules.%s: expected a "
		    "map, got %s", key->str, ynode_type_name(def));
		return;
	}
	for (i = 0; i < NPRIM; i++)
		keys[i] = prim_table[i]->name;
	keys[NPRIM] = "alert";
	keys[NPRIM + 1] = "message";
	keys[NPRIM + 2] = "severity";
	keys[NPRIM + 3] = "data";
	ynode_check_keys(def, file, keys, NPRIM + 4, "rule", errs);

	r = xcalloc(1, sizeof *r);
	r->name = xstrdup(key->str);
	r->file = xstrdup(file);
	r->line = key->line;
	r->col = key->col;
	r->kind = k;
	for (i = 0; i < NPRIM; i++) {
		if ((v = ynode_get(def, prim_table[i]->name)) == NULL)
			continue;
		if (body != NULL) {
			errs_add(errs, file, v->line, v->col, "rules.%s: a rule "
			    "has exactly one primitive", key->str);
			continue;
		}
		body = v;
		r->prim = prim_table[i];
	}
	if (body == NULL) {
		struct buf names = { 0 };

		for (i = 0; i < NPRIM; i++)
			buf_addf(&names, "%s%s", i > 0 ? ", " : "",
			    prim_table[i]->name);
		errs_add(errs, file, def->line, def->col, "rules.%s: no "
		    "primitive (expected one of: %.*s)", key->str,
		    (int)BUF_LEN(&names), BUF_DATA(&names));
		buf_free(&names);
		rule_free(r);
		return;
	}
	if ((v = ynode_get(def, "alert")) != NULL) {
		if (v->type != YN_SCALAR || !valid_name(v->str, 1))
			errs_add(errs, file, v->line, v->col, "alert: bad alert "
			    "name");
		else
			r->alert = xstrdup(v->str);
	} else
		r->alert = xasprintf("%s%s", r->name, r->prim->alert_suffix !=
		    NULL ? r->prim->alert_suffix : "");
	r->aidx = r->alert != NULL ? ruleset_alert_index(rs, r->alert) :
	    AIDX_NONE;
	if ((v = ynode_get(def, "severity")) != NULL)
		rules_severity(v, &r->severity, &ld);
	if ((v = ynode_get(def, "data")) != NULL && !r->prim->takes_data)
		errs_add(errs, file, v->line, v->col, "rules.%s: data: a %s rule "
		    "takes no data", key->str, r->prim->name);
	r->prim->setup(r, def, body, &ld);
	if ((v = ynode_get(def, "message")) != NULL)
		r->message = tmpl_compile(v, file, r, rule_vars(r), errs);
	if (errs->n != before) {
		rule_free(r);
		return;
	}
	r->digest = rule_digest(r, def);
	rs->rules = xreallocarray(rs->rules, rs->nrules + 1, sizeof *rs->rules);
	rs->rules[rs->nrules++] = r;
	k->rules = xreallocarray(k->rules, k->nrules + 1, sizeof *k->rules);
	k->rules[k->nrules++] = r;
	for (i = 0; i < r->non; i++) {
		struct evtype *et = r->on[i];

		et->rules = xreallocarray(et->rules, et->nrules + 1,
		    sizeof *et->rules);
		et->rules[et->nrules++] = r;
	}
}

/*
 * data: {NAME: EXPRESSION, ...} over the kind's record; reserved names the
 * members the primitive writes itself (NULL-terminated).
 */
int
rules_data(struct rdata *d, const struct ynode *n,
    const struct expr_scope *scope, const char *const *reserved,
    struct rule_load *ld)
{
	size_t i, j, before = ld->errs->n;

	if (n->type != YN_MAP) {
		errs_add(ld->errs, ld->file, n->line, n->col, "data: expected a "
		    "map of name: expression");
		return -1;
	}
	d->names = xcalloc(n->n, sizeof *d->names);
	d->exprs = xcalloc(n->n, sizeof *d->exprs);
	for (i = 0; i < n->n; i++) {
		const struct ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
		char *cause;
		size_t pos;

		for (j = 0; reserved[j] != NULL; j++)
			if (strcmp(k->str, reserved[j]) == 0)
				break;
		if (reserved[j] != NULL) {
			errs_add(ld->errs, ld->file, k->line, k->col, "data: "
			    "'%s' is the alert's own", k->str);
			continue;
		}
		if (v->type != YN_SCALAR) {
			errs_add(ld->errs, ld->file, v->line, v->col, "data.%s: "
			    "expected an expression", k->str);
			continue;
		}
		d->exprs[d->n] = expr_compile(v->str, scope, VT_ANY, &cause,
		    &pos);
		if (d->exprs[d->n] == NULL) {
			rules_compile_error(ld->errs, ld->file, v, pos, cause);
			free(cause);
			continue;
		}
		d->names[d->n++] = xstrdup(k->str);
	}
	return ld->errs->n == before ? 0 : -1;
}

/*
 * The data's values for a record, as JSON members each led by a comma; a
 * string attribute that was never set is null.
 */
void
rules_data_json(const struct rdata *d, const union val *vals, struct buf *b)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		buf_addc(b, ',');
		buf_add_json_cstr(b, d->names[i]);
		buf_addc(b, ':');
		expr_value_json(b, expr_type(d->exprs[i]),
		    expr_eval(d->exprs[i], vals));
	}
}

void
rules_data_free(struct rdata *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->names[i]);
		expr_free(d->exprs[i]);
	}
	free(d->names);
	free(d->exprs);
	memset(d, 0, sizeof *d);
}

/*
 * A class slot in the record of the kind's entities, for a rule that
 * keeps a class there; dflt is its value in a new entity, which is copied
 * rather than asked of the rule, since entities are created at the rate
 * of events.
 */
size_t
rules_class_slot(struct kind *k, size_t dflt)
{
	k->cls_new = xreallocarray(k->cls_new, k->nclass + 1,
	    sizeof *k->cls_new);
	k->cls_new[k->nclass] = (uint16_t)dflt;
	return k->nclass++;
}

/* The slot of the kind's field named by scalar n, or -1 with an error. */
int
rules_kind_field(const struct ynode *n, const char *what,
    struct rule_load *ld)
{
	size_t i;

	for (i = 0; i < ld->kind->nfields; i++)
		if (n->type == YN_SCALAR && strcmp(ld->kind->fields[i], n->str)
		    == 0)
			return (int)i;
	errs_add(ld->errs, ld->file, n->line, n->col, "%s: '%s' is not a "
	    "field of kind %s", what, n->type == YN_SCALAR ? n->str : "",
	    ld->kind->name);
	return -1;
}

/* A rule that follows another: r gets told of src's outcomes. */
void
rules_follow(struct rule *src, struct rule *r)
{
	src->follow = xreallocarray(src->follow, src->nfollow + 1,
	    sizeof *src->follow);
	src->follow[src->nfollow++] = r;
}

static const char *const file_keys[] = { "kind", "fields", "attributes",
    "events", "rules", "description" };

static struct kind *
file_kind(struct ruleset *rs, const struct ydoc *d, struct errs *errs)
{
	const struct ynode *v;
	struct kind *k;

	if (d->root->type != YN_MAP) {
		errs_add(errs, d->file, d->root->line, d->root->col, "a rule "
		    "file must be a map, got %s", ynode_type_name(d->root));
		return NULL;
	}
	ynode_check_keys(d->root, d->file, file_keys,
	    sizeof file_keys / sizeof file_keys[0], "rule file", errs);
	if ((v = ynode_get(d->root, "kind")) == NULL) {
		errs_add(errs, d->file, d->root->line, d->root->col, "missing "
		    "key 'kind'");
		return NULL;
	}
	if (v->type != YN_SCALAR || !valid_name(v->str, 0)) {
		errs_add(errs, d->file, v->line, v->col, "kind: bad name "
		    "(lower case letters, digits, _)");
		return NULL;
	}
	if ((k = ruleset_kind(rs, v->str)) != NULL)
		return k;
	k = xcalloc(1, sizeof *k);
	k->name = xstrdup(v->str);
	rs->kinds = xreallocarray(rs->kinds, rs->nkinds + 1, sizeof *rs->kinds);
	rs->kinds[rs->nkinds++] = k;
	return k;
}

static void
file_digest(uint64_t *h, const char *path)
{
	char chunk[8192];
	size_t n;
	FILE *f;

	*h = fnv1a(*h, path, strlen(path) + 1);
	if ((f = fopen(path, "rb")) == NULL)
		return;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		*h = fnv1a(*h, chunk, n);
	fclose(f);
}

static void
mark_use_add(struct mark_use **v, size_t *n, struct rule_load *ld,
    const char *kind, const char *name, int line, int col)
{
	struct mark_use *u;
	size_t i;

	*v = xreallocarray(*v, *n + 1, sizeof **v);
	u = &(*v)[(*n)++];
	u->kind = xstrdup(kind);
	u->name = xstrdup(name);
	u->file = ld->file;
	for (i = 0; i < ld->rs->nfiles; i++)	/* outlives ld */
		if (strcmp(ld->rs->files[i], ld->file) == 0)
			u->file = ld->rs->files[i];
	u->line = line;
	u->col = col;
}

/* A rule puts marks called name on entities of kind. */
void
rules_mark_put(struct rule_load *ld, const char *kind, const char *name)
{
	mark_use_add(&ld->rs->mputs, &ld->rs->nmputs, ld, kind, name, 0, 0);
}

/*
 * A rule waits for marks called name (the value of node n) on entities of
 * kind; once every file is compiled, some rule must put them.
 */
void
rules_mark_need(struct rule_load *ld, const char *kind, const char *name,
    const struct ynode *n)
{
	mark_use_add(&ld->rs->mneeds, &ld->rs->nmneeds, ld, kind, name,
	    n->line, n->col);
}

static void
mark_uses_free(struct mark_use *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].kind);
		free(v[i].name);
	}
	free(v);
}

/* A mark waited for that no rule puts is a typo, reported where it is. */
static void
check_marks(struct ruleset *rs, struct errs *errs)
{
	const char **names = xcalloc(rs->nmputs + 1, sizeof *names);
	const char *hint;
	size_t i, j, n;

	for (i = 0; i < rs->nmneeds; i++) {
		const struct mark_use *u = &rs->mneeds[i];

		for (j = n = 0; j < rs->nmputs; j++) {
			if (strcmp(rs->mputs[j].kind, u->kind) != 0)
				continue;
			if (strcmp(rs->mputs[j].name, u->name) == 0)
				break;
			names[n++] = rs->mputs[j].name;
		}
		if (j < rs->nmputs)
			continue;
		hint = did_you_mean(u->name, names, n);
		errs_add(errs, u->file, u->line, u->col, "no rule puts a mark "
		    "'%s' on %s%s%s%s", u->name, u->kind, hint ?
		    " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
	}
	free(names);
	mark_uses_free(rs->mputs, rs->nmputs);
	mark_uses_free(rs->mneeds, rs->nmneeds);
	rs->mputs = rs->mneeds = NULL;
	rs->nmputs = rs->nmneeds = 0;
}

struct ruleset *
ruleset_load(char *const *files, size_t nfiles, struct errs *errs)
{
	struct ruleset *rs = xcalloc(1, sizeof *rs);
	struct ydoc **docs = xcalloc(nfiles + 1, sizeof *docs);
	struct kind **kinds = xcalloc(nfiles + 1, sizeof *kinds);
	const struct ynode *v;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i, j, before = errs->n;

	/* stage 1: read; stage 2: declarations across files */
	builtin_events(rs);
	for (i = 0; i < nfiles; i++) {
		rs->files = xreallocarray(rs->files, rs->nfiles + 1,
		    sizeof *rs->files);
		rs->descs = xreallocarray(rs->descs, rs->nfiles + 1,
		    sizeof *rs->descs);
		rs->descs[rs->nfiles] = NULL;
		rs->files[rs->nfiles++] = xstrdup(files[i]);
		file_digest(&h, files[i]);
		if ((docs[i] = ydoc_load(files[i], errs)) == NULL)
			continue;
		if ((v = ynode_get(docs[i]->root, "description")) != NULL &&
		    v->type == YN_SCALAR)
			rs->descs[i] = xstrdup(v->str);
		if ((kinds[i] = file_kind(rs, docs[i], errs)) == NULL)
			continue;
		if ((v = ynode_get(docs[i]->root, "fields")) != NULL)
			load_fields(kinds[i], v, files[i], errs);
		if ((v = ynode_get(docs[i]->root, "attributes")) != NULL)
			load_attributes(kinds[i], v, files[i], errs);
		if ((v = ynode_get(docs[i]->root, "events")) != NULL)
			load_events(rs, kinds[i], v, files[i], errs);
	}
	for (i = 0; i < rs->nkinds; i++)
		kind_names(rs->kinds[i]);
	/* stage 3: compile rules */
	for (i = 0; i < nfiles; i++) {
		if (kinds[i] == NULL)
			continue;
		if ((v = ynode_get(docs[i]->root, "rules")) == NULL)
			continue;
		if (v->type != YN_MAP) {
			errs_add(errs, files[i], v->line, v->col, "rules: "
			    "expected a map of rule name: definition, got %s",
			    ynode_type_name(v));
			continue;
		}
		for (j = 0; j < v->n; j++)
			load_rule(rs, kinds[i], v->items[2 * j],
			    v->items[2 * j + 1], files[i], errs);
	}
	/* stage 4: references that may point at later files */
	for (i = 0; i < rs->nrules; i++) {
		struct rule *r = rs->rules[i];
		struct rule_load ld = { r->file, r->kind, errs, rs };

		if (r->prim->link != NULL)
			r->prim->link(r, &ld);
	}
	check_marks(rs, errs);
	for (i = 0; i < nfiles; i++)
		ydoc_free(docs[i]);
	free(docs);
	free(kinds);
	snprintf(rs->digest, sizeof rs->digest, "%016llx",
	    (unsigned long long)h);
	if (nfiles == 0)
		log_notice("no rule files loaded");
	if (errs->n != before) {
		ruleset_free(rs);
		return NULL;
	}
	return rs;
}

void
ruleset_free(struct ruleset *rs)
{
	size_t i, j;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nrules; i++)
		rule_free(rs->rules[i]);
	for (i = 0; i < rs->nkinds; i++) {
		struct kind *k = rs->kinds[i];

		for (j = 0; j < k->nattrs; j++)
			free(k->attrs[j].name);
		for (j = 0; j < k->nfields; j++)
			free(k->fields[j]);
		free(k->attrs);
		free(k->fields);
		free(k->names);
		free(k->rules);
		free(k->cls_new);
		free(k->name);
		free(k);
	}
	for (i = 0; i < rs->nevtypes; i++)
		evtype_free(rs->evtypes[i]);
	for (i = 0; i < rs->nfiles; i++) {
		free(rs->files[i]);
		free(rs->descs[i]);
	}
	free(rs->files);
	free(rs->descs);
	mark_uses_free(rs->mputs, rs->nmputs);
	mark_uses_free(rs->mneeds, rs->nmneeds);
	for (i = 0; i < rs->nalerts; i++)
		free(rs->alerts[i]);
	free(rs->alerts);
	free(rs->evtypes);
	free(rs->rules);
	free(rs->kinds);
	free(rs);
}

/* A line of the rule's file, as the JSON string "FILE:LINE" (explain). */
void
rules_at(const struct rule *r, int line, struct buf *b)
{
	struct buf at = { 0 };

	buf_addf(&at, "%s:%d", r->file, line);
	buf_add_json_str(b, at.p, at.len);
	buf_free(&at);
}
