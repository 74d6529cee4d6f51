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

const struct evtype *
ruleset_evtype(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nevtypes; i++)
		if (strcmp(rs->evtypes[i].name, name) == 0)
			return &rs->evtypes[i];
	return NULL;
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

static void
load_events(struct ruleset *rs, struct kind *k, const struct ynode *n,
    const char *file, struct errs *errs)
{
	static const char *const actions[] = { "upsert", "remove" };
	size_t i, a;

	if (n->type != YN_MAP) {
		errs_add(errs, file, n->line, n->col, "events: expected a map of "
		    "event type: action, got %s", ynode_type_name(n));
		return;
	}
	for (i = 0; i < n->n; i++) {
		const struct ynode *key = n->items[2 * i];
		const struct ynode *v = n->items[2 * i + 1];

		if (!valid_name(key->str, 1)) {
			errs_add(errs, file, key->line, key->col, "events: bad "
			    "event type '%s'", key->str);
			continue;
		}
		if (ruleset_evtype(rs, key->str) != NULL) {
			errs_add(errs, file, key->line, key->col, "events: "
			    "event type '%s' is already declared", key->str);
			continue;
		}
		for (a = 0; a < 2; a++)
			if (v->type == YN_SCALAR && strcmp(v->str, actions[a]) == 0)
				break;
		if (a == 2) {
			errs_add(errs, file, v->line, v->col, "events.%s: "
			    "expected action upsert or remove", key->str);
			continue;
		}
		rs->evtypes = xreallocarray(rs->evtypes, rs->nevtypes + 1,
		    sizeof *rs->evtypes);
		rs->evtypes[rs->nevtypes].name = xstrdup(key->str);
		rs->evtypes[rs->nevtypes].kind = k;
		rs->evtypes[rs->nevtypes].action = (enum ev_action)a;
		rs->nevtypes++;
	}
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
	free(r->name);
	free(r->file);
	free(r);
}

static void
load_rule(struct ruleset *rs, struct kind *k, const struct ynode *key,
    const struct ynode *def, const char *file, struct errs *errs)
{
	const char *keys[NPRIM + 2];
	const struct ynode *body = NULL, *v;
	struct rule_load ld = { file, k, errs };
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
	ynode_check_keys(def, file, keys, NPRIM + 2, "rule", errs);

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
		errs_add(errs, file, def->line, def->col, "rules.%s: no "
		    "primitive (expected one of: classify)", key->str);
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
		r->alert = xasprintf("%s.changed", r->name);
	r->prim->setup(r, def, body, &ld);
	if ((v = ynode_get(def, "message")) != NULL)
		r->message = tmpl_compile(v, file, k, errs);
	if (errs->n != before) {
		rule_free(r);
		return;
	}
	rs->rules = xreallocarray(rs->rules, rs->nrules + 1, sizeof *rs->rules);
	rs->rules[rs->nrules++] = r;
	k->rules = xreallocarray(k->rules, k->nrules + 1, sizeof *k->rules);
	k->rules[k->nrules++] = r;
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
	for (i = 0; i < nfiles; i++) {
		rs->files = xreallocarray(rs->files, rs->nfiles + 1,
		    sizeof *rs->files);
		rs->files[rs->nfiles++] = xstrdup(files[i]);
		file_digest(&h, files[i]);
		if ((docs[i] = ydoc_load(files[i], errs)) == NULL)
			continue;
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
		free(k->name);
		free(k);
	}
	for (i = 0; i < rs->nevtypes; i++)
		free(rs->evtypes[i].name);
	for (i = 0; i < rs->nfiles; i++)
		free(rs->files[i]);
	free(rs->files);
	free(rs->evtypes);
	free(rs->rules);
	free(rs->kinds);
	free(rs);
}
