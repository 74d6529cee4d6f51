/*
 * zhilictl explain KIND ID: the daemon's `explain` answer as an indented
 * tree a person reads in one go.  Each rule heads its block (name,
 * primitive, FILE:LINE); a condition shows its text, its value and the
 * attributes it read, its and/or/not operands one level deeper, and what
 * short-circuit left unread as "not evaluated".  Whatever else a
 * primitive says is shown as `key: value` lines, nested as it nests, so
 * that a new primitive's explanation needs nothing here.  --json prints
 * the answer as received.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"

static void
indent(int depth)
{
	int	i;

	for (i = 0; i < depth; i++)
		fputs("  ", stdout);
}

/* "age=82, lives_alone=true" */
static void
put_reads(const cJSON *reads)
{
	const cJSON	*v;
	int		 n = 0;

	if (cJSON_GetArraySize(reads) == 0)
		return;
	fputs("  [", stdout);
	cJSON_ArrayForEach(v, reads) {
		printf("%s%s=", n++ ? ", " : "", v->string);
		ctl_put_value(v, stdout);
	}
	putchar(']');
}

/* A condition and its operands, one per line. */
static void
put_cond(const cJSON *node, int depth)
{
	const cJSON	*ops, *op, *val;

	indent(depth);
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(node, "expr"), stdout);
	val = cJSON_GetObjectItemCaseSensitive(node, "value");
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(node, "evaluated")))
		fputs("  (not evaluated)", stdout);
	else {
		fputs("  => ", stdout);
		ctl_put_value(val, stdout);
	}
	ops = cJSON_GetObjectItemCaseSensitive(node, "operands");
	if (ops == NULL)
		put_reads(cJSON_GetObjectItemCaseSensitive(node, "reads"));
	putchar('\n');
	cJSON_ArrayForEach(op, ops)
		put_cond(op, depth + 1);
}

static void	put_any(const char *, const cJSON *, int);

/*
 * An item that carries a condition (a class, a check): its name and
 * where it is written, whether it held, then the condition's tree.
 */
static void
put_judged(const cJSON *it, int depth)
{
	const cJSON	*v, *when = cJSON_GetObjectItemCaseSensitive(it, "when");
	const char	*verdict = NULL;

	indent(depth);
	cJSON_ArrayForEach(v, it) {
		if (strcmp(v->string, "when") == 0)
			continue;
		if (strcmp(v->string, "matched") == 0 ||
		    strcmp(v->string, "raises") == 0) {
			verdict = cJSON_IsTrue(v) ? (strcmp(v->string,
			    "matched") == 0 ? "MATCHED" : "RAISES") : "no";
			continue;
		}
		if (cJSON_IsObject(v) || cJSON_IsArray(v))
			continue;
		if (strcmp(v->string, "default") == 0) {
			fputs("(default) ", stdout);
			continue;
		}
		ctl_put_value(v, stdout);
		putchar(' ');
	}
	if (verdict != NULL)
		printf("-> %s", verdict);
	putchar('\n');
	if (when != NULL)
		put_cond(when, depth + 1);
}

/* Any other member: `key: value`, objects and arrays nested. */
static void
put_any(const char *key, const cJSON *v, int depth)
{
	const cJSON	*e;
	int		 i = 0;

	if (cJSON_IsArray(v) && v->child != NULL &&
	    cJSON_GetObjectItemCaseSensitive(v->child, "when") != NULL) {
		indent(depth);
		printf("%s:\n", key);
		cJSON_ArrayForEach(e, v)
			put_judged(e, depth + 1);
		return;
	}
	indent(depth);
	if (key != NULL)
		printf("%s:", key);
	if (cJSON_IsObject(v) && v->child != NULL) {
		putchar('\n');
		cJSON_ArrayForEach(e, v)
			put_any(e->string, e, depth + 1);
	} else if (cJSON_IsArray(v) && v->child != NULL) {
		putchar('\n');
		cJSON_ArrayForEach(e, v) {
			char	 n[16];

			snprintf(n, sizeof n, "- %d", ++i);
			put_any(n, e, depth + 1);
		}
	} else {
		putchar(' ');
		if (cJSON_IsArray(v) || cJSON_IsObject(v))
			fputs("(none)", stdout);
		else
			ctl_put_value(v, stdout);
		putchar('\n');
	}
}

static void
put_rule(const cJSON *r)
{
	const cJSON	*v;

	ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "rule"), stdout);
	fputs(" (", stdout);
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "primitive"), stdout);
	fputs(", ", stdout);
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "at"), stdout);
	fputs(")\n", stdout);
	cJSON_ArrayForEach(v, r)
		if (strcmp(v->string, "rule") != 0 &&
		    strcmp(v->string, "primitive") != 0 &&
		    strcmp(v->string, "at") != 0)
			put_any(v->string, v, 1);
}

int
ctl_explain(int argc, char **argv)
{
	struct ctl_conn	*c;
	const cJSON	*v;
	cJSON		*req, *r;
	int		 rc = EXIT_SUCCESS;

	if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		fputs("zhilictl: usage: zhilictl explain KIND ID\n"
		    "Try 'zhilictl --help'.\n", stderr);
		return EXIT_USAGE;
	}
	req = ctl_new_cmd("explain");
	cJSON_AddStringToObject(req, "kind", argv[1]);
	cJSON_AddStringToObject(req, "id", argv[2]);
	c = ctl_conn_open();
	r = ctl_conn_request(c, req, ctl_opt.json);
	ctl_conn_close(c);
	if (ctl_check_ok(r) != 0)
		rc = EXIT_DAEMON;
	else if (!ctl_opt.json) {
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "kind"),
		    stdout);
		putchar(' ');
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "id"), stdout);
		v = cJSON_GetObjectItemCaseSensitive(r, "removed");
		if (cJSON_IsString(v)) {
			fputs(" (removed at ", stdout);
			ctl_put_value(v, stdout);
			putchar(')');
		}
		putchar('\n');
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(r,
		    "explain"))
			put_rule(v);
	}
	cJSON_Delete(r);
	return rc;
}
