/*
 * Alert message templates: text with {name} placeholders, resolved when the
 * rule file is loaded (an unknown name is a load error at its position) and
 * filled in when an alert is raised.  "{{" and "}}" stand for braces.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"

static const struct {
	const char	*name;
	enum tseg_kind	 kind;
} tmpl_vars[] = {
	{ "id",		TS_ID },
	{ "rule",	TS_RULE },
	{ "event",	TS_EVENT },
	{ "period",	TS_PERIOD },
	{ "ts",		TS_TS },
};
#define NVARS (sizeof tmpl_vars / sizeof tmpl_vars[0])

static void
seg_add(struct tmpl *t, enum tseg_kind kind, const char *text, size_t n,
    int idx)
{
	t->segs = xreallocarray(t->segs, t->n + 1, sizeof *t->segs);
	t->segs[t->n].kind = kind;
	t->segs[t->n].text = text != NULL ? xstrndup(text, n) : NULL;
	t->segs[t->n].idx = idx;
	t->n++;
}

/*
 * A placeholder is, in this order: a built-in name ({id} is the alert's
 * entity), the rule's kind's name (the id of the entity of that kind the
 * alert is about: a mark on a community names its secretary), a variable
 * of the primitive, an attribute or field of the
 * kind, or a field of an event the rule runs on.
 */
static int
resolve(const struct rule *r, const char *const *vars, const char *name,
    enum tseg_kind *kind, int *idx)
{
	const struct kind *k = r->kind;
	size_t i;

	for (i = 0; i < NVARS; i++)
		if (strcmp(name, tmpl_vars[i].name) == 0) {
			*kind = tmpl_vars[i].kind;
			return 0;
		}
	if (strcmp(name, k->name) == 0) {
		*kind = TS_KINDID;
		return 0;
	}
	for (i = 0; vars != NULL && vars[i] != NULL; i++)
		if (strcmp(name, vars[i]) == 0) {
			*kind = TS_VAR;
			*idx = (int)i;
			return 0;
		}
	for (i = 0; i < k->nattrs; i++)
		if (strcmp(name, k->attrs[i].name) == 0) {
			*kind = TS_ATTR;
			*idx = (int)i;
			return 0;
		}
	for (i = 0; i < k->nfields; i++)
		if (strcmp(name, k->fields[i]) == 0) {
			*kind = TS_FIELD;
			*idx = (int)i;
			return 0;
		}
	for (i = 0; i < r->non; i++)
		if (evtype_field(r->on[i], name) >= 0) {
			*kind = TS_EVFIELD;
			return 0;
		}
	return -1;
}

#define MAX_NAMES	128

static size_t
all_names(const struct rule *r, const char *const *vars, const char **names)
{
	const struct kind *k = r->kind;
	size_t n = 0, i, j;

	for (i = 0; i < NVARS; i++)
		names[n++] = tmpl_vars[i].name;
	names[n++] = k->name;
	for (i = 0; vars != NULL && vars[i] != NULL && n < MAX_NAMES; i++)
		names[n++] = vars[i];
	for (i = 0; i < k->nattrs + k->nfields && n < MAX_NAMES; i++)
		names[n++] = k->names[i];
	for (i = 0; i < r->non; i++)
		for (j = 0; j < r->on[i]->nfields && n < MAX_NAMES; j++)
			names[n++] = r->on[i]->fields[j].name;
	return n;
}

struct tmpl *
tmpl_compile(const struct ynode *n, const char *file, const struct rule *r,
    const char *const *vars, struct errs *errs)
{
	struct tmpl *t;
	struct buf text = { 0 };
	const char *s, *end, *names[MAX_NAMES];
	size_t nnames, before = errs->n;
	enum tseg_kind kind;
	int idx = 0;

	if (n->type != YN_SCALAR) {
		errs_add(errs, file, n->line, n->col, "message: expected a "
		    "string, got %s", ynode_type_name(n));
		return NULL;
	}
	nnames = all_names(r, vars, names);
	t = xcalloc(1, sizeof *t);
	for (s = n->str; *s != '\0'; s++) {
		if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
			buf_addc(&text, *s++);
			continue;
		}
		if (*s == '}') {
			errs_add(errs, file, n->line, n->col, "message: "
			    "unmatched '}' (write '}}' for a brace)");
			break;
		}
		if (*s != '{') {
			buf_addc(&text, *s);
			continue;
		}
		if ((end = strchr(s, '}')) == NULL) {
			errs_add(errs, file, n->line, n->col, "message: "
			    "unterminated '{'");
			break;
		}
		char *name = xstrndup(s + 1, (size_t)(end - s - 1));
		if (resolve(r, vars, name, &kind, &idx) != 0) {
			const char *hint = did_you_mean(name, names, nnames);

			errs_add(errs, file, n->line, n->col, "message: unknown "
			    "field '{%s}'%s%s%s", name, hint ?
			    " (did you mean '" : "", hint ? hint : "",
			    hint ? "'?)" : "");
		} else {
			if (BUF_LEN(&text) > 0)
				seg_add(t, TS_TEXT, BUF_DATA(&text),
				    BUF_LEN(&text), 0);
			buf_reset(&text);
			seg_add(t, kind, kind == TS_EVFIELD ? name : NULL,
			    kind == TS_EVFIELD ? strlen(name) : 0, idx);
		}
		free(name);
		s = end;
	}
	if (BUF_LEN(&text) > 0)
		seg_add(t, TS_TEXT, BUF_DATA(&text), BUF_LEN(&text), 0);
	buf_free(&text);
	if (errs->n != before) {
		tmpl_free(t);
		return NULL;
	}
	return t;
}

void
tmpl_free(struct tmpl *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->segs[i].text);
	free(t->segs);
	free(t);
}

static void
add_val(struct buf *b, enum vtype t, const union val *v)
{
	char num[32];

	switch (t) {
	case VT_INT:
		buf_add_int(b, v->i);
		break;
	case VT_DEC:
		dec_format(v->i, num, sizeof num);
		buf_adds(b, num);
		break;
	case VT_BOOL:
		buf_adds(b, v->i ? "是" : "否");
		break;
	case VT_STR:
		buf_adds(b, v->s != NULL ? v->s : "");
		break;
	}
}

/* An event field's value as text ("" if the event lacks it). */
void
tmpl_evfield(struct buf *b, const struct event *ev, const char *name)
{
	const struct evfield *f;
	char num[32];
	int i;

	if (ev == NULL || ev->et == NULL || (i = evtype_field(ev->et, name)) < 0
	    || !(ev->present & (1u << i)))
		return;
	f = &ev->et->fields[i];
	switch (f->type) {
	case FT_STRING:	buf_adds(b, ev->vals[i].s); break;
	case FT_INT:	add_val(b, VT_INT, &ev->vals[i]); break;
	case FT_DEC:	add_val(b, VT_DEC, &ev->vals[i]); break;
	case FT_BOOL:	add_val(b, VT_BOOL, &ev->vals[i]); break;
	case FT_PERIOD:
		period_code_format((int32_t)ev->vals[i].i, num, sizeof num);
		buf_adds(b, num);
		break;
	}
}

void
tmpl_render(const struct tmpl *t, const struct alert_out *a, struct buf *b)
{
	const struct entity *ent = a->ent;
	const struct kind *k = a->rule->kind;
	char num[40];
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct tseg *s = &t->segs[i];

		switch (s->kind) {
		case TS_TEXT:	buf_adds(b, s->text); break;
		case TS_ID:		/* the alert's entity */
			buf_adds(b, a->entity);
			break;
		case TS_KINDID:		/* the id of the rule's kind */
			buf_adds(b, ent != NULL && ent->kind == k ? ent->id :
			    a->entity);
			break;
		case TS_RULE:	buf_adds(b, a->rule->name); break;
		case TS_EVENT:
			if (a->ev != NULL && a->ev->id != NULL)
				buf_adds(b, a->ev->id);
			break;
		case TS_PERIOD:
			if (a->period != 0) {
				period_code_format(a->period, num, sizeof num);
				buf_adds(b, num);
			}
			break;
		case TS_TS:
			clock_format(a->ts, num, sizeof num);
			buf_adds(b, num);
			break;
		case TS_VAR:
			if (a->vars[s->idx] != NULL)
				buf_adds(b, a->vars[s->idx]);
			break;
		case TS_FIELD:
			if (ent != NULL && ent->kind == k &&
			    ent->vals[k->nattrs + (size_t)s->idx].s != NULL)
				buf_adds(b, ent->vals[k->nattrs +
				    (size_t)s->idx].s);
			else
				tmpl_evfield(b, a->ev, k->fields[s->idx]);
			break;
		case TS_ATTR:
			if (ent != NULL && ent->kind == k)
				add_val(b, k->attrs[s->idx].type,
				    &ent->vals[s->idx]);
			break;
		case TS_EVFIELD:
			tmpl_evfield(b, a->ev, s->text);
			break;
		}
	}
}
