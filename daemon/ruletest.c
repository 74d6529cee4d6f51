/*
 * ruletest.c: rule unit tests in the manner of `promtool test rules`,
 * asserting entity state as well as alerts.  `zhilictl test FILE...` runs
 * them, and so do `zhilid -t` and every reload for the files the config's
 * `tests` key names.  They talk to no daemon: the rule files are loaded and
 * the daemon's own decoder and engine run in process, with no store and on
 * the event clock (DESIGN.md section 5).
 *
 * A test file:
 *
 *   rules: [../../rules/secretary.yaml]  # relative to this file's folder
 *   timezone: Asia/Shanghai              # optional (the default)
 *   tests:
 *     - name: bottom tenth of ten is one
 *       steps:
 *         - event: {type: secretary.score, ts: "2026-06-30T10:00:00+08:00",
 *                   secretary: S1, ..., score: 80}
 *           # no `alerts`: the event must be accepted and raise no alert
 *         - event: {type: period.close, ...}
 *           alerts:           # the event's alerts, in order
 *             - {rule: secretary.warning, entity: S1, data: {total: 57.5}}
 *         - event: {...}
 *           error: conflict   # the event must be refused with this code
 *         - state: {kind: secretary, id: S1}
 *           expect: {periods: {2026H1: {secretary.total: {total: 57.5}}}}
 *         - state: {kind: order, id: O9}
 *           absent: true      # no such entity: `get` is unknown_entity
 *         - state: {kind: household, id: H1}
 *           expect: {removed: "2026-07-01T10:00:00+08:00"}   # closed
 *
 * A state is the ENTITY that `get` answers, without the history (there is
 * no store).  A removed entity is not absent: its record stays, with
 * "removed" its removal's ts ("removed": null for a live one).
 *
 * Each test starts with a fresh engine, so state does not carry from one
 * test to the next; its steps run in order and it stops at the first step
 * that fails.
 *
 * An event map becomes one JSON line: plain scalars that are JSON numbers
 * become numbers (their text is kept, so decimals stay exact), true and
 * false booleans, null, ~ and an empty value null, and everything else,
 * every quoted scalar included, a string.  An event may also be a string,
 * the line exactly as a client sends it.
 *
 * Expected alerts and states match partially: an expected map matches if
 * each key it lists matches (recursively), except that {} matches only an
 * empty map and null also matches a missing key; lists match element by
 * element and must have the same length; numbers compare by value (57.5
 * equals 57.50), strings exactly.  Where the actual value is an RFC 3339
 * time (an alert's ts, data.until, a deadline), the expected one may be
 * RFC 3339 in any offset or integer Unix seconds, and they compare as
 * instants.
 *
 * Output: `PASS FILE: NAME` or `FAIL FILE: NAME` per test, a failure
 * followed by its step, the event line and a diff (`-` expected, `+`
 * actual, a space for alerts that match), then `N passed, M failed`.
 * Exit 0 if every test passed, 1 if one failed, 2 for bad arguments, a
 * test file that cannot be read or is malformed (FILE:LINE:COL: error:
 * MESSAGE on stderr), or rule files that do not load.
 */

#include <sys/stat.h>

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "zhilid.h"
#include "conf.h"
#include "engine.h"

#define TEST_ZONE	"Asia/Shanghai"
#define SHOW_MAX	2000	/* bytes of a value shown in a difference */


/* One test file: its document, checked, and its rules once loaded. */
struct tfile {
	const char		*path;
	struct ydoc		*doc;
	const struct ynode	*tests;
	const char		*zone;
	char			**rules;
	size_t			 nrules;
	struct ruleset		*rs;
	struct errs		 errs;
};

/* One test being run: the engine and the report of its failure. */
struct trun {
	struct tfile		*tf;
	struct coverage		*cov;		/* outcomes reached, or NULL */
	struct engine		*eng;
	struct request		 req;
	struct buf		 line;		/* the event line */
	struct buf		 tmp;
	struct buf		 rep;		/* why it failed */
};

static void
tf_error(struct tfile *tf, const struct ynode *n, const char *fmt, ...)
    PRINTFLIKE(3, 4);

static void
tf_error(struct tfile *tf, const struct ynode *n, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	errs_add(&tf->errs, tf->path, n != NULL ? n->line : 1,
	    n != NULL ? n->col : 1, "%s", msg);
	free(msg);
}

/* YAML to JSON */

enum sclass { SC_NULL, SC_BOOL, SC_NUMBER, SC_STRING };

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Is s exactly an RFC 8259 number? */
static int
json_number(const char *s, size_t len)
{
	const char	*p = s, *end = s + len;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && is_digit(*p))
			p++;
	else
		return 0;
	if (p < end && *p == '.') {
		if (++p == end || !is_digit(*p))
			return 0;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p))
			return 0;
		while (p < end && is_digit(*p))
			p++;
	}
	return p == end;
}

/* What a scalar becomes in JSON (the YAML 1.2 core schema's names). */
static enum sclass
scalar_class(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const bools[] = { "true", "True", "TRUE", "false",
	    "False", "FALSE" };
	size_t	 i;

	if (!n->plain)
		return SC_STRING;
	for (i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp(n->str, nulls[i]) == 0)
			return SC_NULL;
	for (i = 0; i < sizeof bools / sizeof bools[0]; i++)
		if (strcmp(n->str, bools[i]) == 0)
			return SC_BOOL;
	if (strlen(n->str) == n->len && json_number(n->str, n->len))
		return SC_NUMBER;
	return SC_STRING;
}

static void
yjson(struct buf *b, const struct ynode *n)
{
	size_t	 i;

	switch (n->type) {
	case YN_MAP:
		buf_addc(b, '{');
		for (i = 0; i < n->n; i++) {
			if (i > 0)
				buf_addc(b, ',');
			buf_add_json_str(b, n->items[2 * i]->str,
			    n->items[2 * i]->len);
			buf_addc(b, ':');
			yjson(b, n->items[2 * i + 1]);
		}
		buf_addc(b, '}');
		break;
	case YN_SEQ:
		buf_addc(b, '[');
		for (i = 0; i < n->n; i++) {
			if (i > 0)
				buf_addc(b, ',');
			yjson(b, n->items[i]);
		}
		buf_addc(b, ']');
		break;
	case YN_SCALAR:
		switch (scalar_class(n)) {
		case SC_NULL:
			buf_adds(b, "null");
			break;
		case SC_BOOL:
			buf_adds(b, n->str[0] == 't' || n->str[0] == 'T' ?
			    "true" : "false");
			break;
		case SC_NUMBER:
			buf_add(b, n->str, n->len);
			break;
		case SC_STRING:
			buf_add_json_str(b, n->str, n->len);
			break;
		}
		break;
	}
}

/* Matching expected YAML against actual JSON */

static void
show_json(struct buf *b, const cJSON *v)
{
	char	*s = cJSON_PrintUnformatted(v);

	if (s == NULL) {
		buf_adds(b, "?");
		return;
	}
	if (strlen(s) > SHOW_MAX)	/* cut between characters */
		buf_addf(b, "%.*s...", (int)utf8_prefix(s, SHOW_MAX), s);
	else
		buf_adds(b, s);
	free(s);
}

static void
show_yaml(struct buf *b, const struct ynode *n)
{
	struct buf	 t = { 0 };

	yjson(&t, n);
	if (BUF_LEN(&t) > SHOW_MAX)
		buf_addf(b, "%.*s...", (int)utf8_prefix(BUF_DATA(&t),
		    SHOW_MAX), BUF_DATA(&t));
	else
		buf_add(b, BUF_DATA(&t), BUF_LEN(&t));
	buf_free(&t);
}

/* A difference at path: "PATH: expected X, got Y" into why. */
static void
differ(struct buf *why, const struct buf *path, const struct ynode *exp,
    const cJSON *act, const char *what)
{
	if (why == NULL)
		return;
	if (BUF_LEN(path) > 0)
		buf_add(why, BUF_DATA(path), BUF_LEN(path));
	else
		buf_adds(why, "(top)");
	if (what != NULL) {
		buf_addf(why, ": %s", what);
		return;
	}
	buf_adds(why, ": expected ");
	show_yaml(why, exp);
	buf_adds(why, ", got ");
	if (act == NULL)
		buf_adds(why, "nothing (no such key)");
	else
		show_json(why, act);
}

/*
 * Numbers compare by value.  Both sides are decimal text read with
 * correct rounding (strtod here, in cJSON), so equal decimals (57.5,
 * 57.50) become the same double, and the doubles of different ones differ
 * unless they agree to 16 digits: no tolerance that would hide an engine
 * computing in binary floating point (69.32000000000001).
 */
static int
same_number(const struct ynode *exp, double act)
{
	return strtod(exp->str, NULL) == act;
}

/* Does the expected scalar name the instant t (RFC 3339 or Unix seconds)? */
static int
same_time(const struct ynode *exp, enum sclass sc, int64_t t)
{
	long long	 v;
	int64_t		 u;

	if (sc == SC_NUMBER)
		return ynode_int(exp, 0, TS_MAX, &v) == 0 && v == t;
	if (sc == SC_STRING)
		return clock_parse(exp->str, &u) == 0 && u == t;
	return 0;
}

static int	match(const struct ynode *, const cJSON *, struct buf *,
		    struct buf *);

static int
match_map(const struct ynode *exp, const cJSON *act, struct buf *path,
    struct buf *why)
{
	const struct ynode	*k;
	const cJSON		*v;
	size_t			 i, plen = path->len;
	int			 ok = 1;

	if (!cJSON_IsObject(act)) {
		differ(why, path, exp, act, NULL);
		return 0;
	}
	if (exp->n == 0 && act->child != NULL) {
		differ(why, path, exp, act, NULL);
		return 0;
	}
	for (i = 0; i < exp->n && ok; i++) {
		k = exp->items[2 * i];
		v = cJSON_GetObjectItemCaseSensitive(act, k->str);
		if (plen > 0)
			buf_addc(path, '.');
		buf_add(path, k->str, k->len);
		if (v == NULL) {
			if (exp->items[2 * i + 1]->type != YN_SCALAR ||
			    scalar_class(exp->items[2 * i + 1]) != SC_NULL) {
				differ(why, path, exp->items[2 * i + 1], NULL,
				    NULL);
				ok = 0;
			}
		} else
			ok = match(exp->items[2 * i + 1], v, path, why);
		path->len = plen;
	}
	return ok;
}

static int
match_list(const struct ynode *exp, const cJSON *act, struct buf *path,
    struct buf *why)
{
	const cJSON	*v;
	size_t		 i, plen = path->len;
	int		 ok = 1, n;
	char		 what[64];

	if (!cJSON_IsArray(act)) {
		differ(why, path, exp, act, NULL);
		return 0;
	}
	if ((n = cJSON_GetArraySize(act)) < 0 || (size_t)n != exp->n) {
		if (why != NULL) {
			snprintf(what, sizeof what, "expected %zu item%s, got "
			    "%d: ", exp->n, exp->n == 1 ? "" : "s", n);
			differ(why, path, exp, act, what);
			show_json(why, act);
		}
		return 0;
	}
	v = act->child;
	for (i = 0; i < exp->n && ok; i++, v = v->next) {
		buf_addf(path, "[%zu]", i);
		ok = match(exp->items[i], v, path, why);
		path->len = plen;
	}
	return ok;
}

/*
 * Does act match exp (see the top of the file)?  1 if it does; 0 if not,
 * with the first difference appended to why unless why is NULL.  path is
 * where exp is, as a key path (data.periods[1]), restored on return.
 */
static int
match(const struct ynode *exp, const cJSON *act, struct buf *path,
    struct buf *why)
{
	enum sclass	 sc;
	int64_t		 t;
	int		 ok;

	if (exp->type == YN_MAP)
		return match_map(exp, act, path, why);
	if (exp->type == YN_SEQ)
		return match_list(exp, act, path, why);
	sc = scalar_class(exp);
	if (cJSON_IsString(act) && clock_parse(act->valuestring, &t) == 0 &&
	    (sc == SC_NUMBER || sc == SC_STRING))
		ok = same_time(exp, sc, t);
	else {
		switch (sc) {
		case SC_NULL:
			ok = cJSON_IsNull(act);
			break;
		case SC_BOOL:
			ok = cJSON_IsBool(act) && (cJSON_IsTrue(act) != 0) ==
			    (exp->str[0] == 't' || exp->str[0] == 'T');
			break;
		case SC_NUMBER:
			ok = cJSON_IsNumber(act) &&
			    same_number(exp, act->valuedouble);
			break;
		default:
			ok = cJSON_IsString(act) &&
			    strcmp(exp->str, act->valuestring) == 0;
			break;
		}
	}
	if (!ok)
		differ(why, path, exp, act, NULL);
	return ok;
}

static int
match_top(const struct ynode *exp, const cJSON *act, struct buf *why)
{
	struct buf	 path = { 0 };
	int		 ok;

	buf_reserve(&path, 64);
	ok = match(exp, act, &path, why);
	buf_free(&path);
	return ok;
}

/* Checking a test file */

static const char *const file_keys[] = { "rules", "timezone", "tests" };
static const char *const test_keys[] = { "name", "steps" };
static const char *const step_keys[] = { "event", "alerts", "error",
    "state", "expect", "absent" };
static const char *const state_keys[] = { "kind", "id" };

static const char *
str_scalar(struct tfile *tf, const struct ynode *n, const char *key)
{
	if (n->type != YN_SCALAR || n->len == 0 ||
	    strlen(n->str) != n->len) {
		tf_error(tf, n, "%s: expected a non-empty string, got %s", key,
		    n->type == YN_SCALAR ? "an empty value" :
		    ynode_type_name(n));
		return NULL;
	}
	return n->str;
}

static void
check_error_code(struct tfile *tf, const struct ynode *n)
{
	const char	*names[E_INTERNAL], *hint;
	size_t		 i;

	if (str_scalar(tf, n, "error") == NULL)
		return;
	for (i = 0; i < E_INTERNAL; i++) {
		names[i] = errcode_name((enum errcode)(i + 1));
		if (strcmp(n->str, names[i]) == 0)
			return;
	}
	hint = did_you_mean(n->str, names, E_INTERNAL);
	tf_error(tf, n, "error: unknown error code '%s'%s%s%s", n->str,
	    hint ? " (did you mean '" : "", hint ? hint : "",
	    hint ? "'?)" : "");
}

static void
check_state(struct tfile *tf, const struct ynode *step,
    const struct ynode *state)
{
	const struct ynode	*expect = ynode_get(step, "expect");
	const struct ynode	*absent = ynode_get(step, "absent");
	const struct ynode	*n;
	int			 b;

	if (state->type != YN_MAP) {
		tf_error(tf, state, "state: expected a map {kind: KIND, id: "
		    "ID}, got %s", ynode_type_name(state));
		return;
	}
	ynode_check_keys(state, tf->path, state_keys, 2, "state", &tf->errs);
	if ((n = ynode_get(state, "kind")) == NULL)
		tf_error(tf, state, "state: missing 'kind'");
	else
		str_scalar(tf, n, "kind");
	if ((n = ynode_get(state, "id")) == NULL)
		tf_error(tf, state, "state: missing 'id'");
	else
		str_scalar(tf, n, "id");
	if (expect == NULL && absent == NULL)
		tf_error(tf, step, "a state step needs 'expect' or 'absent'");
	else if (expect != NULL && absent != NULL)
		tf_error(tf, step, "a state step has either 'expect' or "
		    "'absent', not both");
	if (expect != NULL && expect->type != YN_MAP)
		tf_error(tf, expect, "expect: expected a map, got %s",
		    ynode_type_name(expect));
	if (absent != NULL && ynode_bool(absent, &b) != 0)
		tf_error(tf, absent, "absent: expected true or false");
	if ((n = ynode_get(step, "alerts")) != NULL ||
	    (n = ynode_get(step, "error")) != NULL)
		tf_error(tf, n, "'alerts' and 'error' go with 'event', not "
		    "'state'");
}

static void
check_event(struct tfile *tf, const struct ynode *step,
    const struct ynode *ev)
{
	const struct ynode	*alerts = ynode_get(step, "alerts");
	const struct ynode	*err = ynode_get(step, "error");
	const struct ynode	*n;
	size_t			 i;

	if (ev->type == YN_SEQ || (ev->type == YN_SCALAR &&
	    scalar_class(ev) != SC_STRING))
		tf_error(tf, ev, "event: expected a map (or the line as a "
		    "string), got %s", ynode_type_name(ev));
	if (alerts != NULL && err != NULL)
		tf_error(tf, err, "a refused event raises no alerts: "
		    "'error' and 'alerts' exclude each other");
	if (err != NULL)
		check_error_code(tf, err);
	if (alerts != NULL) {
		if (alerts->type != YN_SEQ)
			tf_error(tf, alerts, "alerts: expected a list, got %s",
			    ynode_type_name(alerts));
		else
			for (i = 0; i < alerts->n; i++) {
				n = alerts->items[i];
				if (n->type != YN_MAP)
					tf_error(tf, n, "alerts: expected a "
					    "map per alert, got %s",
					    ynode_type_name(n));
			}
	}
	if ((n = ynode_get(step, "expect")) != NULL ||
	    (n = ynode_get(step, "absent")) != NULL)
		tf_error(tf, n, "'expect' and 'absent' go with 'state', not "
		    "'event'");
}

static void
check_test(struct tfile *tf, const struct ynode *test, size_t idx)
{
	const struct ynode	*name, *steps, *step, *ev, *st, *other;
	size_t			 i, j;

	if (test->type != YN_MAP) {
		tf_error(tf, test, "tests: expected a map {name, steps} per "
		    "test, got %s", ynode_type_name(test));
		return;
	}
	ynode_check_keys(test, tf->path, test_keys, 2, "test", &tf->errs);
	if ((name = ynode_get(test, "name")) == NULL)
		tf_error(tf, test, "test: missing 'name'");
	else if (str_scalar(tf, name, "name") != NULL)
		for (j = 0; j < idx; j++) {
			other = ynode_get(tf->tests->items[j], "name");
			if (other != NULL && other->type == YN_SCALAR &&
			    strcmp(other->str, name->str) == 0) {
				tf_error(tf, name, "name: a test named '%s' "
				    "is at line %d already", name->str,
				    other->line);
				break;
			}
		}
	if ((steps = ynode_get(test, "steps")) == NULL) {
		tf_error(tf, test, "test: missing 'steps'");
		return;
	}
	if (steps->type != YN_SEQ || steps->n == 0) {
		tf_error(tf, steps, "steps: expected a non-empty list");
		return;
	}
	for (i = 0; i < steps->n; i++) {
		step = steps->items[i];
		if (step->type != YN_MAP) {
			tf_error(tf, step, "steps: expected a map per step, "
			    "got %s", ynode_type_name(step));
			continue;
		}
		ynode_check_keys(step, tf->path, step_keys,
		    sizeof step_keys / sizeof step_keys[0], "step", &tf->errs);
		ev = ynode_get(step, "event");
		st = ynode_get(step, "state");
		if (ev != NULL && st != NULL)
			tf_error(tf, st, "a step has either 'event' or "
			    "'state', not both");
		else if (ev != NULL)
			check_event(tf, step, ev);
		else if (st != NULL)
			check_state(tf, step, st);
		else
			tf_error(tf, step, "a step needs 'event' or 'state'");
	}
}

static void
check_zone(struct tfile *tf, const struct ynode *n)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	if ((tf->zone = str_scalar(tf, n, "timezone")) == NULL)
		return;
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tf->zone);
	if (tf->zone[0] == '/' || strstr(tf->zone, "..") != NULL ||
	    stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		tf_error(tf, n, "timezone: unknown time zone '%s' (is tzdata "
		    "installed?)", tf->zone);
		tf->zone = NULL;
	}
}

static void
add_rule_file(struct tfile *tf, const char *path)
{
	tf->rules = xreallocarray(tf->rules, tf->nrules + 1,
	    sizeof *tf->rules);
	tf->rules[tf->nrules++] = xstrdup(path);
}

/* Rule files: relative to the test file's folder; globs expand, sorted. */
static void
check_rules(struct tfile *tf, const struct ynode *n)
{
	const struct ynode *const *items = (const struct ynode *const *)&n;
	const char	*s, *slash = strrchr(tf->path, '/');
	size_t		 i, j, count = 1;
	struct stat	 st;
	glob_t		 g;
	char		*path;

	if (n->type == YN_SEQ) {
		items = (const struct ynode *const *)n->items;
		count = n->n;
		if (count == 0)
			tf_error(tf, n, "rules: expected at least one file");
	}
	for (i = 0; i < count; i++) {
		if ((s = str_scalar(tf, items[i], "rules")) == NULL)
			continue;
		if (s[0] == '/' || slash == NULL)
			path = xstrdup(s);
		else
			path = xasprintf("%.*s/%s", (int)(slash - tf->path),
			    tf->path, s);
		if (strpbrk(s, "*?[") != NULL) {
			memset(&g, 0, sizeof g);
			if (glob(path, 0, NULL, &g) != 0 || g.gl_pathc == 0)
				tf_error(tf, items[i], "rules: %s: no file "
				    "matches", s);
			else
				for (j = 0; j < g.gl_pathc; j++)
					add_rule_file(tf, g.gl_pathv[j]);
			globfree(&g);
		} else if (stat(path, &st) != 0)
			tf_error(tf, items[i], "rules: %s: %s", s,
			    strerror(errno));
		else
			add_rule_file(tf, path);
		free(path);
	}
}

/* Read and check a test file; 0, or -1 with errors in tf->errs. */
static int
tfile_check(struct tfile *tf)
{
	const struct ynode	*root, *n;
	size_t			 i;

	if ((tf->doc = ydoc_load(tf->path, &tf->errs)) == NULL)
		return -1;
	root = tf->doc->root;
	if (root->type != YN_MAP) {
		tf_error(tf, root, "expected a map with 'rules' and 'tests', "
		    "got %s", ynode_type_name(root));
		return -1;
	}
	ynode_check_keys(root, tf->path, file_keys, 3, "test file",
	    &tf->errs);
	if ((n = ynode_get(root, "rules")) == NULL)
		tf_error(tf, root, "missing 'rules' (the rule files to load)");
	else
		check_rules(tf, n);
	tf->zone = TEST_ZONE;
	if ((n = ynode_get(root, "timezone")) != NULL)
		check_zone(tf, n);
	if ((n = ynode_get(root, "tests")) == NULL)
		tf_error(tf, root, "missing 'tests'");
	else if (n->type != YN_SEQ || n->n == 0)
		tf_error(tf, n, "tests: expected a non-empty list");
	else {
		tf->tests = n;
		for (i = 0; i < n->n; i++)
			check_test(tf, n->items[i], i);
	}
	return tf->errs.n > 0 ? -1 : 0;
}

/* The kinds that state steps name must be the rules' kinds. */
static int
tfile_check_kinds(struct tfile *tf)
{
	const struct ynode	*test, *steps, *n;
	const char		**names, *hint;
	size_t			 i, j, k;

	names = xreallocarray(NULL, tf->rs->nkinds + 1, sizeof *names);
	for (k = 0; k < tf->rs->nkinds; k++)
		names[k] = tf->rs->kinds[k]->name;
	for (i = 0; i < tf->tests->n; i++) {
		test = tf->tests->items[i];
		steps = ynode_get(test, "steps");
		for (j = 0; j < steps->n; j++) {
			n = ynode_get(ynode_get(steps->items[j], "state"),
			    "kind");
			if (n == NULL || ruleset_kind(tf->rs, n->str) != NULL)
				continue;
			hint = did_you_mean(n->str, names, tf->rs->nkinds);
			tf_error(tf, n, "kind: no rule file defines kind '%s'"
			    "%s%s%s", n->str, hint ? " (did you mean '" : "",
			    hint ? hint : "", hint ? "'?)" : "");
		}
	}
	free(names);
	return tf->errs.n > 0 ? -1 : 0;
}

static void
tfile_free(struct tfile *tf)
{
	size_t	 i;

	for (i = 0; i < tf->nrules; i++)
		free(tf->rules[i]);
	free(tf->rules);
	ruleset_free(tf->rs);
	ydoc_free(tf->doc);
	errs_free(&tf->errs);
}

/* Running a test */

static void
step_header(struct trun *tr, size_t i, const struct ynode *step,
    const char *what)
{
	buf_addf(&tr->rep, "    step %zu (%s:%d): %s", i + 1, tr->tf->path,
	    step->line, what);
}

static void
event_header(struct trun *tr, size_t i, const struct ynode *step)
{
	step_header(tr, i, step, "event ");
	buf_add(&tr->rep, BUF_DATA(&tr->line), BUF_LEN(&tr->line));
	buf_addc(&tr->rep, '\n');
}

/* How many of the keys that exp lists does act match? */
static size_t
likeness(const struct ynode *exp, const cJSON *act)
{
	struct buf	 path = { 0 };
	const cJSON	*v;
	size_t		 i, n = 0;

	for (i = 0; i < exp->n; i++) {
		v = cJSON_GetObjectItemCaseSensitive(act,
		    exp->items[2 * i]->str);
		if (v != NULL && match(exp->items[2 * i + 1], v, &path, NULL))
			n++;
	}
	buf_free(&path);
	return n;
}

/*
 * Show a run of expected alerts that found no match (dels) and of actual
 * ones that found none (adds).  Each expected one is paired with the
 * actual one most like it (the same rule and entity, say; else the next),
 * shown under it with the first key where they differ; the actual ones
 * left over follow.
 */
static void
diff_block(struct trun *tr, const struct ynode *const *ev, const size_t *dels,
    size_t nd, const cJSON **av, const size_t *adds, size_t na)
{
	unsigned char	*used = xcalloc(na + 1, 1);
	size_t		 p, q, best, score, top;

	for (p = 0; p < nd; p++) {
		buf_adds(&tr->rep, "      - ");
		show_yaml(&tr->rep, ev[dels[p]]);
		buf_addc(&tr->rep, '\n');
		best = na;
		top = 0;
		for (q = 0; q < na; q++) {
			if (used[q])
				continue;
			score = likeness(ev[dels[p]], av[adds[q]]);
			if (best == na || score > top) {
				best = q;
				top = score;
			}
		}
		if (best == na)
			continue;
		used[best] = 1;
		buf_adds(&tr->rep, "      + ");
		show_json(&tr->rep, av[adds[best]]);
		buf_adds(&tr->rep, "\n        ^ ");
		if (match_top(ev[dels[p]], av[adds[best]], &tr->rep))
			buf_adds(&tr->rep, "matches (the order or the count "
			    "differs)");
		buf_addc(&tr->rep, '\n');
	}
	for (q = 0; q < na; q++)
		if (!used[q]) {
			buf_adds(&tr->rep, "      + ");
			show_json(&tr->rep, av[adds[q]]);
			buf_addc(&tr->rep, '\n');
		}
	free(used);
}

/*
 * Line up expected and actual alerts by their longest common subsequence
 * under match(), and show the difference: matched alerts with a space,
 * the others with - and + and, for each pair, the first key that differs.
 */
static void
alerts_diff(struct trun *tr, const struct ynode *exp, const cJSON *act)
{
	const struct ynode	*const *ev = exp != NULL ?
	    (const struct ynode *const *)exp->items : NULL;
	const cJSON		**av, *a;
	size_t			 n = exp != NULL ? exp->n : 0, m = 0;
	size_t			 i, j, nd, na, *lcs, *dels, *adds;
	unsigned char		*eq;

	cJSON_ArrayForEach(a, act)
		m++;
	av = xreallocarray(NULL, m + 1, sizeof *av);
	j = 0;
	cJSON_ArrayForEach(a, act)
		av[j++] = a;
	dels = xcalloc(n + 1, sizeof *dels);
	adds = xcalloc(m + 1, sizeof *adds);
	eq = xcalloc((n + 1) * (m + 1), 1);
	lcs = xcalloc((n + 1) * (m + 1), sizeof *lcs);
#define LCS(i, j)	lcs[(i) * (m + 1) + (j)]
#define EQ(i, j)	eq[(i) * (m + 1) + (j)]
	for (i = n; i-- > 0;)
		for (j = m; j-- > 0;) {
			EQ(i, j) = match_top(ev[i], av[j], NULL);
			if (EQ(i, j))
				LCS(i, j) = LCS(i + 1, j + 1) + 1;
			else
				LCS(i, j) = LCS(i + 1, j) > LCS(i, j + 1) ?
				    LCS(i + 1, j) : LCS(i, j + 1);
		}
	buf_addf(&tr->rep, "    alerts: expected %zu, got %zu\n", n, m);
	i = j = 0;
	while (i < n || j < m) {
		/* a block of unmatched ones, then one matched pair */
		nd = na = 0;
		while ((i < n || j < m) && !(i < n && j < m && EQ(i, j))) {
			if (j >= m || (i < n && LCS(i + 1, j) >= LCS(i, j + 1)))
				dels[nd++] = i++;
			else
				adds[na++] = j++;
		}
		diff_block(tr, ev, dels, nd, av, adds, na);
		if (i < n && j < m) {
			buf_adds(&tr->rep, "        ");
			show_json(&tr->rep, av[j]);
			buf_addc(&tr->rep, '\n');
			i++;
			j++;
		}
	}
#undef LCS
#undef EQ
	free(lcs);
	free(eq);
	free(dels);
	free(adds);
	free(av);
}

/* Does the list of actual alerts match the expected, in order? */
static int
alerts_match(const struct ynode *exp, const cJSON *act)
{
	const cJSON	*a;
	size_t		 i = 0, n = exp != NULL ? exp->n : 0;

	cJSON_ArrayForEach(a, act) {
		if (i >= n || !match_top(exp->items[i], a, NULL))
			return 0;
		i++;
	}
	return i == n;
}

/* Run an event step; 0 if it went as expected, -1 (and a report) if not. */
static int
run_event(struct trun *tr, size_t idx, const struct ynode *step)
{
	const struct ynode	*ev = ynode_get(step, "event");
	const struct ynode	*exp = ynode_get(step, "alerts");
	const struct ynode	*err = ynode_get(step, "error");
	struct engine		*e = tr->eng;
	struct ev_result	 res;
	enum errcode		 ec;
	const cJSON		*a;
	cJSON			*act = NULL;
	char			 msg[512];
	int			 rc = 0;

	buf_reset(&tr->line);
	if (ev->type == YN_SCALAR)
		buf_add(&tr->line, ev->str, ev->len);
	else
		yjson(&tr->line, ev);
	msg[0] = '\0';
	ec = decode_line(tr->tf->rs, engine_now(e), BUF_DATA(&tr->line),
	    BUF_LEN(&tr->line), &tr->req, msg, sizeof msg);
	if (ec == E_OK && tr->req.what != REQ_EVENT) {
		ec = E_BAD_EVENT;
		snprintf(msg, sizeof msg, "a command, not an event: tests "
		    "send events only");
	}
	if (ec == E_OK)
		ec = engine_apply(e, &tr->req.ev, &res, msg, sizeof msg);
	if (ec == E_OK && e->cur != NULL) {
		buf_reset(&tr->tmp);
		buf_addc(&tr->tmp, '[');
		engine_alerts_json(e->cur, &res, &tr->tmp);
		buf_addc(&tr->tmp, ']');
		act = cJSON_ParseWithLength(BUF_DATA(&tr->tmp),
		    BUF_LEN(&tr->tmp));
	} else if (ec == E_OK)
		act = cJSON_CreateArray();
	if (ec == E_OK && act == NULL) {
		event_header(tr, idx, step);
		buf_adds(&tr->rep, "    the engine's alerts are not valid "
		    "JSON\n");
		return -1;
	}
	if (err != NULL && ec == E_OK) {
		event_header(tr, idx, step);
		buf_addf(&tr->rep, "    expected error %s, got ok%s\n",
		    err->str, act->child != NULL ? ", with alerts:" : "");
		cJSON_ArrayForEach(a, act) {
			buf_adds(&tr->rep, "      + ");
			show_json(&tr->rep, a);
			buf_addc(&tr->rep, '\n');
		}
		rc = -1;
	} else if (err != NULL && strcmp(err->str, errcode_name(ec)) != 0) {
		event_header(tr, idx, step);
		buf_addf(&tr->rep, "    expected error %s, got %s: %s\n",
		    err->str, errcode_name(ec), msg);
		rc = -1;
	} else if (err == NULL && ec != E_OK) {
		event_header(tr, idx, step);
		buf_addf(&tr->rep, "    expected ok, got error %s: %s\n",
		    errcode_name(ec), msg);
		rc = -1;
	} else if (err == NULL && !alerts_match(exp, act)) {
		event_header(tr, idx, step);
		alerts_diff(tr, exp, act);
		rc = -1;
	}
	cJSON_Delete(act);
	return rc;
}

/* Run a state step; 0 if the entity is as expected, -1 if not. */
static int
run_state(struct trun *tr, size_t idx, const struct ynode *step)
{
	const struct ynode	*st = ynode_get(step, "state");
	const struct ynode	*exp = ynode_get(step, "expect");
	const struct ynode	*absent = ynode_get(step, "absent");
	const char		*kname = ynode_get(st, "kind")->str;
	const char		*id = ynode_get(st, "id")->str;
	struct kind		*k = ruleset_kind(tr->tf->rs, kname);
	struct entity		*ent;
	cJSON			*act = NULL;
	char			 what[256];
	int			 gone = 0, rc = 0, err;

	/* as `get` sees it: a removed record too */
	ent = ecache_get(&tr->eng->cache, tr->eng->store, k, id, &err);

	if (absent != NULL)
		ynode_bool(absent, &gone);
	snprintf(what, sizeof what, "state %s '%s'\n", kname, id);
	if (ent != NULL) {
		buf_reset(&tr->tmp);
		entity_json(ent, &tr->tmp);
		engine_entity_json(tr->eng, ent, &tr->tmp);
		buf_addc(&tr->tmp, '}');
		act = cJSON_ParseWithLength(BUF_DATA(&tr->tmp),
		    BUF_LEN(&tr->tmp));
		if (act == NULL) {
			step_header(tr, idx, step, what);
			buf_adds(&tr->rep, "    the entity's JSON is not "
			    "valid: ");
			buf_add(&tr->rep, BUF_DATA(&tr->tmp),
			    BUF_LEN(&tr->tmp));
			buf_addc(&tr->rep, '\n');
			return -1;
		}
	}
	if (ent == NULL && (exp != NULL || !gone)) {
		step_header(tr, idx, step, what);
		buf_addf(&tr->rep, "    expected %s '%s' to exist: there is "
		    "none\n", kname, id);
		rc = -1;
	} else if (ent != NULL && absent != NULL && gone) {
		step_header(tr, idx, step, what);
		buf_addf(&tr->rep, "    expected no %s '%s', got\n      + ",
		    kname, id);
		show_json(&tr->rep, act);
		buf_addc(&tr->rep, '\n');
		if (ent->removed)
			buf_adds(&tr->rep, "    (a removed entity is not "
			    "absent: its record stays; expect {removed: TS} "
			    "instead)\n");
		rc = -1;
	} else if (ent != NULL && exp != NULL &&
	    !match_top(exp, act, NULL)) {
		step_header(tr, idx, step, what);
		buf_adds(&tr->rep, "      - ");
		show_yaml(&tr->rep, exp);
		buf_adds(&tr->rep, "\n      + ");
		show_json(&tr->rep, act);
		buf_adds(&tr->rep, "\n        ^ ");
		match_top(exp, act, &tr->rep);
		buf_addc(&tr->rep, '\n');
		rc = -1;
	}
	cJSON_Delete(act);
	return rc;
}

/* Run one test on a fresh engine; 0 if it passed, -1 (report) if not. */
static int
run_test(struct trun *tr, const struct ynode *test)
{
	const struct ynode	*steps = ynode_get(test, "steps");
	size_t			 i;
	int			 rc = 0;

	/*
	 * No store behind the cache: an evicted entity would be lost, so
	 * nothing is evicted.  The whole test is one batch, never submitted
	 * until the end: without a store, the engine finds a resent event
	 * id only among the ids of batches not yet committed.
	 */
	tr->eng = engine_new(tr->tf->rs, NULL, CLOCK_EVENT, SIZE_MAX);
	tr->eng->cov = tr->cov;
	memset(&tr->req, 0, sizeof tr->req);
	buf_reset(&tr->rep);
	for (i = 0; i < steps->n && rc == 0; i++) {
		if (ynode_get(steps->items[i], "event") != NULL)
			rc = run_event(tr, i, steps->items[i]);
		else
			rc = run_state(tr, i, steps->items[i]);
	}
	request_free(&tr->req);
	engine_free(tr->eng);
	tr->eng = NULL;
	return rc;
}

static void
problems_add(struct errs *e, const char *line)
{
	e->v = xreallocarray(e->v, e->n + 1, sizeof *e->v);
	e->v[e->n++] = xstrdup(line);
}

/* A failed test as one problem line: its position and the first reason. */
static void
test_problem(struct errs *e, const char *path, const struct ynode *test,
    const char *name, const struct buf *rep)
{
	const char *why = rep->len > 0 ? BUF_DATA(rep) : "";
	size_t n;

	while (*why == ' ')
		why++;
	n = strcspn(why, "\n");
	if (n > 300)
		n = utf8_prefix(why, 300);
	errs_add(e, path, test->line, test->col, "test '%s' failed: %.*s",
	    name, (int)n, why);
}

/*
 * Run the test files of a config quietly; their problems go to problems,
 * the outcomes they reach to cov unless NULL.  0 if every test passed, -1
 * if not.  The caller restores its time zone.
 */
int
ruletest_all(char *const *files, size_t n, struct errs *problems,
    int *passed, struct coverage *cov)
{
	int failed = 0, broken = 0;
	size_t i;

	*passed = 0;
	for (i = 0; i < n; i++)
		if (ruletest_file(files[i], NULL, NULL, problems, passed,
		    &failed, cov) != 0)
			broken++;
	return failed == 0 && broken == 0 ? 0 : -1;
}

/*
 * One test file: check it, load its rules, run its tests, writing the
 * report to out and the file's problems to err (either may be NULL), and
 * adding both to problems if not NULL: the file's own as they are, each
 * failed test as FILE:LINE:COL: error: test 'NAME' failed: WHY.  Adds to
 * *passed and *failed; returns -1 if the file or its rules are broken.
 * With cov, the outcomes its tests reach are added to it.  It sets the
 * process's time zone to the file's: a caller with its own restores it.
 */
int
ruletest_file(const char *path, FILE *out, FILE *err, struct errs *problems,
    int *passed, int *failed, struct coverage *cov)
{
	struct tfile	 tf;
	struct trun	 tr;
	const char	*name;
	size_t		 i;
	int		 rc = -1;

	memset(&tf, 0, sizeof tf);
	tf.path = path;
	if (tfile_check(&tf) != 0)
		goto fail;
	clock_set_zone(tf.zone);
	if ((tf.rs = ruleset_load(tf.rules, tf.nrules, &tf.errs)) == NULL ||
	    tfile_check_kinds(&tf) != 0)
		goto fail;
	memset(&tr, 0, sizeof tr);
	tr.tf = &tf;
	tr.cov = cov;
	if (cov != NULL)
		coverage_rules(cov, tf.rs);
	for (i = 0; i < tf.tests->n; i++) {
		name = ynode_get(tf.tests->items[i], "name")->str;
		if (run_test(&tr, tf.tests->items[i]) == 0) {
			if (out != NULL)
				fprintf(out, "PASS %s: %s\n", path, name);
			(*passed)++;
		} else {
			if (out != NULL) {
				fprintf(out, "FAIL %s: %s\n", path, name);
				fwrite(BUF_DATA(&tr.rep), 1, BUF_LEN(&tr.rep),
				    out);
			}
			if (problems != NULL)
				test_problem(problems, path,
				    tf.tests->items[i], name, &tr.rep);
			(*failed)++;
		}
	}
	buf_free(&tr.line);
	buf_free(&tr.tmp);
	buf_free(&tr.rep);
	rc = 0;
fail:
	if (out != NULL)
		fflush(out);
	for (i = 0; i < tf.errs.n; i++) {
		if (err != NULL)
			fprintf(err, "%s\n", tf.errs.v[i]);
		if (problems != NULL)
			problems_add(problems, tf.errs.v[i]);
	}
	if (rc != 0 && tf.errs.n == 0) {
		if (err != NULL)
			fprintf(err, "%s: error: the rules did not load\n",
			    path);
		if (problems != NULL)
			errs_add(problems, path, 1, 1, "the rules did not load");
	}
	if (cov != NULL)
		coverage_rules(cov, NULL);	/* its rules are freed here */
	tfile_free(&tf);
	return rc;
}
