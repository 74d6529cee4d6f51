/*
 * coverage.c: which outcomes of each rule the rule unit tests reached
 * (`zhilictl test --coverage`, and the warnings of `zhilid -t`), in the
 * manner of a branch coverage tool: each primitive names the outcomes a
 * rule of it can reach (struct prim's outcome hook: each class of a
 * classify, each band, in and out of a rank, a deadline met and missed,
 * ...) and says which it reaches as it decides (engine_reach), which
 * costs one test of a NULL pointer when nobody asks.
 *
 * A rule is known by its name and its file (the real path), so that test
 * files that load the same rule file by other paths add up.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "engine.h"

struct covrule {
	char		*name;
	char		*file;		/* the real path */
	int		 line, col;
	const char	*prim;
	char		**names;	/* by outcome index; NULL: none */
	unsigned char	*hit;
	size_t		 n;
};

struct coverage {
	struct covrule	*v;
	size_t		 n;
	const struct ruleset *rs;	/* the rules being run */
	size_t		*map;		/* rs->rules[i] is v[map[i]] */
};

struct coverage *
coverage_new(void)
{
	return xcalloc(1, sizeof(struct coverage));
}

void
coverage_free(struct coverage *cov)
{
	size_t i, j;

	if (cov == NULL)
		return;
	for (i = 0; i < cov->n; i++) {
		for (j = 0; j < cov->v[i].n; j++)
			free(cov->v[i].names[j]);
		free(cov->v[i].names);
		free(cov->v[i].hit);
		free(cov->v[i].name);
		free(cov->v[i].file);
	}
	free(cov->v);
	free(cov->map);
	free(cov);
}

static size_t
covrule_of(struct coverage *cov, const struct rule *r)
{
	char real[PATH_MAX];
	struct covrule *c;
	struct buf b = { 0 };
	size_t i;
	int rc;

	if (realpath(r->file, real) == NULL)
		snprintf(real, sizeof real, "%s", r->file);
	for (i = 0; i < cov->n; i++)
		if (strcmp(cov->v[i].name, r->name) == 0 &&
		    strcmp(cov->v[i].file, real) == 0)
			return i;
	cov->v = xreallocarray(cov->v, cov->n + 1, sizeof *cov->v);
	c = &cov->v[cov->n];
	memset(c, 0, sizeof *c);
	c->name = xstrdup(r->name);
	c->file = xstrdup(real);
	c->line = r->line;
	c->col = r->col;
	c->prim = r->prim->name;
	for (i = 0; r->prim->outcome != NULL; i++) {
		buf_reset(&b);
		if ((rc = r->prim->outcome(r, i, &b)) < 0)
			break;
		c->names = xreallocarray(c->names, i + 1, sizeof *c->names);
		c->names[i] = rc > 0 ? xstrdup(BUF_DATA(&b)) : NULL;
		c->n = i + 1;
	}
	c->hit = xcalloc(c->n + 1, 1);
	buf_free(&b);
	return cov->n++;
}

/*
 * The rules about to run: known from now on, and bound for reaching
 * (NULL: none, before they are freed).
 */
void
coverage_rules(struct coverage *cov, const struct ruleset *rs)
{
	size_t i;

	cov->rs = rs;
	free(cov->map);
	cov->map = NULL;
	if (rs == NULL)
		return;
	cov->map = xreallocarray(NULL, rs->nrules + 1, sizeof *cov->map);
	for (i = 0; i < rs->nrules; i++)
		cov->map[i] = covrule_of(cov, rs->rules[i]);
}

void
coverage_reach(struct coverage *cov, const struct rule *r, size_t outcome)
{
	struct covrule *c;
	size_t i;

	if (cov->rs == NULL)
		return;
	for (i = 0; i < cov->rs->nrules; i++)
		if (cov->rs->rules[i] == r)
			break;
	if (i == cov->rs->nrules)
		return;
	c = &cov->v[cov->map[i]];
	if (outcome < c->n)
		c->hit[outcome] = 1;
}

/*
 * An outcome hook for a fixed list of outcomes: the name of outcome i into
 * name and 1, or -1 past the last.
 */
int
coverage_fixed(const char *const *names, size_t n, size_t i,
    struct buf *name)
{
	if (i >= n)
		return -1;
	buf_adds(name, names[i]);
	return 1;
}

/* Rules' outcomes: how many there are and how many were reached. */
static void
counts(const struct covrule *c, size_t *total, size_t *reached)
{
	size_t i;

	*total = *reached = 0;
	for (i = 0; i < c->n; i++)
		if (c->names[i] != NULL) {
			(*total)++;
			*reached += c->hit[i];
		}
}

static void
names_of(const struct covrule *c, int hit, struct buf *b, int json)
{
	size_t i, k = 0;

	for (i = 0; i < c->n; i++) {
		if (c->names[i] == NULL || c->hit[i] != hit)
			continue;
		if (k++ > 0)
			buf_adds(b, json ? "," : ", ");
		if (json)
			buf_add_json_cstr(b, c->names[i]);
		else
			buf_adds(b, c->names[i]);
	}
}

/* Is every outcome of every rule reached? */
int
coverage_full(const struct coverage *cov)
{
	size_t i, t, r;

	for (i = 0; i < cov->n; i++) {
		counts(&cov->v[i], &t, &r);
		if (r < t)
			return 0;
	}
	return 1;
}

/*
 * The report: per rule, in file and line order of first sight, its
 * outcomes reached and never reached; with json, a line per rule and a
 * summary line.
 */
void
coverage_report(const struct coverage *cov, FILE *out, int json)
{
	const struct covrule *c;
	struct buf b = { 0 };
	size_t i, t, r, all = 0, got = 0, partial = 0;

	for (i = 0; i < cov->n; i++) {
		c = &cov->v[i];
		counts(c, &t, &r);
		all += t;
		got += r;
		partial += r < t;
		buf_reset(&b);
		if (json) {
			buf_adds(&b, "{\"rule\":");
			buf_add_json_cstr(&b, c->name);
			buf_adds(&b, ",\"file\":");
			buf_add_json_cstr(&b, c->file);
			buf_addf(&b, ",\"line\":%d,\"primitive\":\"%s\","
			    "\"reached\":[", c->line, c->prim);
			names_of(c, 1, &b, 1);
			buf_adds(&b, "],\"never\":[");
			names_of(c, 0, &b, 1);
			buf_adds(&b, "]}\n");
		} else {
			buf_addf(&b, "%s (%s, %s:%d): %zu/%zu\n", c->name,
			    c->prim, c->file, c->line, r, t);
			if (r > 0) {
				buf_adds(&b, "  reached: ");
				names_of(c, 1, &b, 0);
				buf_addc(&b, '\n');
			}
			if (r < t) {
				buf_adds(&b, "  never:   ");
				names_of(c, 0, &b, 0);
				buf_addc(&b, '\n');
			}
		}
		fwrite(BUF_DATA(&b), 1, BUF_LEN(&b), out);
	}
	if (json)
		fprintf(out, "{\"coverage\":{\"rules\":%zu,\"outcomes\":%zu,"
		    "\"reached\":%zu,\"full\":%s}}\n", cov->n, all, got,
		    partial == 0 ? "true" : "false");
	else
		fprintf(out, "coverage: %zu of %zu outcomes of %zu rules "
		    "reached; %zu rules not fully covered\n", got, all,
		    cov->n, partial);
	buf_free(&b);
}

static void
warn_add(struct errs *warn, const struct rule *r, const char *what,
    const char *names)
{
	warn->v = xreallocarray(warn->v, warn->n + 1, sizeof *warn->v);
	warn->v[warn->n++] = xasprintf("%s:%d:%d: warning: rule %s: %s%s",
	    r->file, r->line, r->col, r->name, what, names);
}

/*
 * What the configured tests leave untested of the daemon's rules, as
 * warnings FILE:LINE:COL: warning: rule R: ...: a rule no test loads (by
 * name), or one with outcomes no test reached.
 */
/* Did a test reach the outcome so named of a rule so named? */
static int
reached(const struct coverage *cov, const char *rule, const char *outcome)
{
	const struct covrule *c;
	size_t i, j;

	for (i = 0; i < cov->n; i++) {
		c = &cov->v[i];
		if (strcmp(c->name, rule) != 0)
			continue;
		for (j = 0; j < c->n; j++)
			if (c->hit[j] && c->names[j] != NULL &&
			    strcmp(c->names[j], outcome) == 0)
				return 1;
	}
	return 0;
}

void
coverage_unreached(const struct coverage *cov, const struct ruleset *rs,
    struct errs *warn)
{
	const struct rule *r;
	struct buf name = { 0 }, never = { 0 };
	size_t i, j, k, loaded;
	int rc;

	for (i = 0; i < rs->nrules; i++) {
		r = rs->rules[i];
		for (j = loaded = 0; j < cov->n; j++)
			loaded += strcmp(cov->v[j].name, r->name) == 0;
		if (loaded == 0) {
			warn_add(warn, r, "no configured test loads it", "");
			continue;
		}
		/* by name: the tests may load the rule from another path */
		buf_reset(&never);
		for (k = 0; r->prim->outcome != NULL; k++) {
			buf_reset(&name);
			if ((rc = r->prim->outcome(r, k, &name)) < 0)
				break;
			if (rc == 0 || reached(cov, r->name, BUF_DATA(&name)))
				continue;
			if (BUF_LEN(&never) > 0)
				buf_adds(&never, ", ");
			buf_adds(&never, BUF_DATA(&name));
		}
		if (BUF_LEN(&never) > 0)
			warn_add(warn, r, "the configured tests never reach ",
			    BUF_DATA(&never));
	}
	buf_free(&name);
	buf_free(&never);
}
