/*
 * YAML documents as trees that remember where each node came from.  The
 * config and rule loaders work on these trees, so that every problem they
 * find can be reported at FILE:LINE:COL.  libyaml's marks are 0-based; they
 * become 1-based in ydoc_mark() and nowhere else.
 *
 * All nodes of a document are owned by the document (aliases share nodes),
 * and ydoc_free releases them at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "zhilid.h"

#define YDOC_MAX_DEPTH	64
#define YDOC_MAX_NODES	1000000

struct anchor {
	char		*name;
	struct ynode	*node;
};

struct ybuild {
	struct ydoc	*doc;
	struct anchor	*anchors;
	size_t		 nanchors;
	size_t		 nnodes;
	struct errs	*errs;
};

static void
ydoc_mark(const yaml_mark_t *m, int *line, int *col)
{
	*line = (int)m->line + 1;
	*col = (int)m->column + 1;
}

static struct ynode *
ynode_new(struct ybuild *b, enum ynode_type type, const yaml_mark_t *m)
{
	struct ydoc *d = b->doc;
	struct ynode *n = xcalloc(1, sizeof *n);

	n->type = type;
	ydoc_mark(m, &n->line, &n->col);
	d->nodes = xreallocarray(d->nodes, d->nnodes + 1, sizeof *d->nodes);
	d->nodes[d->nnodes++] = n;
	b->nnodes++;
	return n;
}

static void
ynode_push(struct ynode *parent, struct ynode *child)
{
	parent->items = xreallocarray(parent->items, parent->n + 1,
	    sizeof *parent->items);
	parent->items[parent->n++] = child;
}

static void
anchor_add(struct ybuild *b, const yaml_char_t *name, struct ynode *n)
{
	b->anchors = xreallocarray(b->anchors, b->nanchors + 1,
	    sizeof *b->anchors);
	b->anchors[b->nanchors].name = xstrdup((const char *)name);
	b->anchors[b->nanchors].node = n;
	b->nanchors++;
}

static struct ynode *
anchor_find(struct ybuild *b, const yaml_char_t *name)
{
	size_t i;

	for (i = b->nanchors; i > 0; i--)
		if (strcmp(b->anchors[i - 1].name, (const char *)name) == 0)
			return b->anchors[i - 1].node;
	return NULL;
}

static void
parse_error(struct ybuild *b, yaml_parser_t *p)
{
	int line, col;

	ydoc_mark(&p->problem_mark, &line, &col);
	if (p->context != NULL)
		errs_add(b->errs, b->doc->file, line, col, "%s %s",
		    p->problem ? p->problem : "syntax error", p->context);
	else
		errs_add(b->errs, b->doc->file, line, col, "%s",
		    p->problem ? p->problem : "syntax error");
}

/*
 * Read one node (and its children) starting with the event in ev.  Returns
 * NULL after recording an error.
 */
static struct ynode *
build_node(struct ybuild *b, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
	struct ynode *n = NULL, *child;
	yaml_event_t cev;
	const yaml_char_t *anchor = NULL;
	int line, col;

	if (b->nnodes >= YDOC_MAX_NODES || depth > YDOC_MAX_DEPTH) {
		ydoc_mark(&ev->start_mark, &line, &col);
		errs_add(b->errs, b->doc->file, line, col,
		    depth > YDOC_MAX_DEPTH ? "document nested too deeply" :
		    "document too large");
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		n = anchor_find(b, ev->data.alias.anchor);
		if (n == NULL) {
			ydoc_mark(&ev->start_mark, &line, &col);
			errs_add(b->errs, b->doc->file, line, col,
			    "unknown anchor '%s'", ev->data.alias.anchor);
		}
		return n;
	case YAML_SCALAR_EVENT:
		n = ynode_new(b, YN_SCALAR, &ev->start_mark);
		n->str = xstrndup((const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		n->len = ev->data.scalar.length;
		n->style = (int)ev->data.scalar.style;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n = ynode_new(b, ev->type == YAML_MAPPING_START_EVENT ?
		    YN_MAP : YN_SEQ, &ev->start_mark);
		anchor = ev->type == YAML_MAPPING_START_EVENT ?
		    ev->data.mapping_start.anchor :
		    ev->data.sequence_start.anchor;
		if (anchor != NULL)
			anchor_add(b, anchor, n);
		anchor = NULL;
		for (;;) {
			if (!yaml_parser_parse(p, &cev)) {
				parse_error(b, p);
				return NULL;
			}
			if (cev.type == YAML_SEQUENCE_END_EVENT ||
			    cev.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&cev);
				break;
			}
			child = build_node(b, p, &cev, depth + 1);
			yaml_event_delete(&cev);
			if (child == NULL)
				return NULL;
			ynode_push(n, child);
		}
		if (n->type == YN_MAP)
			n->n /= 2;	/* items holds key, value pairs */
		break;
	default:
		ydoc_mark(&ev->start_mark, &line, &col);
		errs_add(b->errs, b->doc->file, line, col,
		    "unexpected YAML event");
		return NULL;
	}
	if (anchor != NULL)
		anchor_add(b, anchor, n);
	return n;
}

/* Map keys must be scalars and unique: the loaders look keys up by name. */
static void
check_keys(struct ybuild *b, struct ynode *n, int depth)
{
	size_t i, j;

	if (n->checked || depth > YDOC_MAX_DEPTH)
		return;
	n->checked = 1;
	if (n->type == YN_SEQ) {
		for (i = 0; i < n->n; i++)
			check_keys(b, n->items[i], depth + 1);
		return;
	}
	if (n->type != YN_MAP)
		return;
	for (i = 0; i < n->n; i++) {
		struct ynode *k = n->items[2 * i];

		if (k->type != YN_SCALAR) {
			errs_add(b->errs, b->doc->file, k->line, k->col,
			    "map key must be a scalar");
			continue;
		}
		for (j = 0; j < i; j++) {
			struct ynode *o = n->items[2 * j];

			if (o->type == YN_SCALAR && strcmp(o->str, k->str) == 0) {
				errs_add(b->errs, b->doc->file, k->line,
				    k->col, "duplicate key '%s'", k->str);
				break;
			}
		}
		check_keys(b, n->items[2 * i + 1], depth + 1);
	}
}

struct ydoc *
ydoc_load(const char *path, struct errs *errs)
{
	struct ybuild b;
	struct ydoc *d;
	yaml_parser_t p;
	yaml_event_t ev;
	FILE *f;
	size_t before = errs->n, i;
	int done = 0, ndocs = 0, line, col;

	if ((f = fopen(path, "rb")) == NULL) {
		errs_add(errs, path, 1, 1, "cannot open: %s", strerror(errno));
		return NULL;
	}
	d = xcalloc(1, sizeof *d);
	d->file = xstrdup(path);
	memset(&b, 0, sizeof b);
	b.doc = d;
	b.errs = errs;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			parse_error(&b, &p);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				ydoc_mark(&ev.start_mark, &line, &col);
				errs_add(errs, path, line, col,
				    "expected a single YAML document");
				done = 1;
			}
			break;
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		default:
			d->root = build_node(&b, &p, &ev, 0);
			if (d->root == NULL)
				done = 1;
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	fclose(f);
	for (i = 0; i < b.nanchors; i++)
		free(b.anchors[i].name);
	free(b.anchors);
	if (errs->n == before && d->root != NULL)
		check_keys(&b, d->root, 0);
	if (errs->n == before && d->root == NULL)
		errs_add(errs, path, 1, 1, "empty document");
	if (errs->n != before) {
		ydoc_free(d);
		return NULL;
	}
	return d;
}

void
ydoc_free(struct ydoc *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nnodes; i++) {
		free(d->nodes[i]->str);
		free(d->nodes[i]->items);
		free(d->nodes[i]);
	}
	free(d->nodes);
	free(d->file);
	free(d);
}

/* The value under key in map m, or NULL. */
struct ynode *
ynode_get(const struct ynode *m, const char *key)
{
	size_t i;

	if (m == NULL || m->type != YN_MAP)
		return NULL;
	for (i = 0; i < m->n; i++)
		if (strcmp(m->items[2 * i]->str, key) == 0)
			return m->items[2 * i + 1];
	return NULL;
}

const char *
ynode_type_name(const struct ynode *n)
{
	switch (n->type) {
	case YN_MAP:	return "a map";
	case YN_SEQ:	return "a list";
	default:	return "a scalar";
	}
}

/*
 * Check that every key of map m is one of names[]; report the others with a
 * suggestion.  Returns the number of unknown keys.
 */
int
ynode_check_keys(const struct ynode *m, const char *file,
    const char *const *names, size_t nnames, const char *what,
    struct errs *errs)
{
	size_t i, j;
	int bad = 0;

	if (m->type != YN_MAP)
		return 0;	/* the caller reports what it expected */
	for (i = 0; i < m->n; i++) {
		const struct ynode *k = m->items[2 * i];
		const char *hint;

		for (j = 0; j < nnames; j++)
			if (strcmp(k->str, names[j]) == 0)
				break;
		if (j < nnames)
			continue;
		bad++;
		hint = did_you_mean(k->str, names, nnames);
		if (hint != NULL)
			errs_add(errs, file, k->line, k->col,
			    "unknown %s key '%s' (did you mean '%s'?)", what,
			    k->str, hint);
		else
			errs_add(errs, file, k->line, k->col,
			    "unknown %s key '%s'", what, k->str);
	}
	return bad;
}

/* Scalar conversions; each returns 0 on success, -1 if n is not one. */
int
ynode_bool(const struct ynode *n, int *out)
{
	if (n->type != YN_SCALAR || !n->plain)
		return -1;
	if (strcmp(n->str, "true") == 0 || strcmp(n->str, "yes") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(n->str, "false") == 0 || strcmp(n->str, "no") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

int
ynode_int(const struct ynode *n, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (n->type != YN_SCALAR || !n->plain || n->len == 0)
		return -1;
	errno = 0;
	v = strtoll(n->str, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
