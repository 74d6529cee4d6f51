/*
 * Alert message templates: text with {name} placeholders, resolved when the
 * rule file is loaded (an unknown name is a load error at its position) and
 * filled in when an alert is raised.  "{{" and "}}" stand for braces.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"

static const struct {
	const char	*name;
	enum tseg_kind	 kind;
} tmpl_vars[] = {
	{ "id",		TS_ID },
	{ "from",	TS_FROM },
	{ "to",		TS_TO },
	{ "from_label",	TS_FROM_LABEL },
	{ "to_label",	TS_TO_LABEL },
	{ "rule",	TS_RULE },
	{ "event",	TS_EVENT },
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

static int
resolve(const struct kind *k, const char *name, enum tseg_kind *kind,
    int *idx)
{
	size_t i;

	for (i = 0; i < NVARS; i++)
		if (strcmp(name, tmpl_vars[i].name) == 0) {
			*kind = tmpl_vars[i].kind;
			return 0;
		}
	if (strcmp(name, k->name) == 0) {
		*kind = TS_ID;
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
	return -1;
}

struct tmpl *
tmpl_compile(const struct ynode *n, const char *file, const struct kind *k,
    struct errs *errs)
{
	struct tmpl *t;
	struct buf text = { 0 };
	const char *s, *end, *names[NVARS + 65];
	size_t nnames = 0, i, before = errs->n;
	enum tseg_kind kind;
	int idx = 0;

	if (n->type != YN_SCALAR) {
		errs_add(errs, file, n->line, n->col, "message: expected a "
		    "string, got %s", ynode_type_name(n));
		return NULL;
	}
	for (i = 0; i < NVARS; i++)
		names[nnames++] = tmpl_vars[i].name;
	names[nnames++] = k->name;
	for (i = 0; i < k->nattrs + k->nfields && nnames < NVARS + 64; i++)
		names[nnames++] = k->names[i];
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
		if (resolve(k, name, &kind, &idx) != 0) {
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
			seg_add(t, kind, NULL, 0, idx);
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
