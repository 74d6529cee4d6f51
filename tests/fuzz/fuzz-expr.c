/*
 * libFuzzer target: the expression compiler and evaluator (expr.c), the
 * `when:` of classify rules.  The scope holds a name of each type (those
 * of tests/unit/test-expr.c) and the household attributes of
 * rules/four_color.yaml.  The input is compiled for a bool, as rules do;
 * when it is well formed but of another type, again for that type, so
 * that every result type is evaluated.  A compiled expression is run on a
 * few sets of slot values, zero, ordinary and extreme: evaluation must
 * never fail, and a bool must come out 0 or 1.
 */
#include <string.h>

#include "zhilid.h"
#include "fuzz.h"

static const struct {
	const char	*name;
	enum vtype	 type;
} vars[] = {
	{ "age", VT_INT }, { "score", VT_DEC }, { "alone", VT_BOOL },
	{ "name", VT_STR }, { "lives_alone", VT_BOOL }, { "disabled", VT_BOOL },
	{ "low_income", VT_BOOL }, { "chronic_ill", VT_BOOL },
	{ "key_person", VT_BOOL }, { "mental_risk", VT_BOOL },
	{ "petition_active", VT_BOOL }, { "dispute_open", VT_BOOL },
	{ "left_behind_child", VT_BOOL }, { "community", VT_STR },
	{ "grid", VT_STR }, { "total", VT_DEC }, { "stars", VT_INT },
	{ "secretary.total", VT_DEC },
};
#define NVARS (sizeof vars / sizeof vars[0])

static const char *names[NVARS];
static volatile size_t sink;

static int
resolve(void *arg, const char *name, enum vtype *t, int *slot)
{
	size_t i;

	(void)arg;
	for (i = 0; i < NVARS; i++)
		if (strcmp(name, vars[i].name) == 0) {
			*t = vars[i].type;
			*slot = (int)i;
			return 0;
		}
	return -1;
}

static const struct expr_scope scope = { resolve, NULL, names, NVARS };

#define NSETS	3
static union val slots[NSETS][NVARS];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const int64_t ints[NSETS] = { 0, 80, INT64_MAX };
	static const int64_t decs[NSETS] = { 0, 89500000, INT64_MIN };
	static const char *const strs[NSETS] = { "", "east", "\xe4\xb8\xad" };
	size_t s, i;

	(void)argc;
	(void)argv;
	for (i = 0; i < NVARS; i++)
		names[i] = vars[i].name;
	for (s = 0; s < NSETS; s++)
		for (i = 0; i < NVARS; i++)
			switch (vars[i].type) {
			case VT_INT:	slots[s][i].i = ints[s]; break;
			case VT_DEC:	slots[s][i].i = decs[s]; break;
			case VT_BOOL:	slots[s][i].i = (int64_t)((s + i) % 2);
					break;
			case VT_STR:	slots[s][i].s = strs[s]; break;
			}
	return 0;
}

/* The type a compile error says the expression has, or -1. */
static int
got_type(const char *cause)
{
	static const char *const got[] = { ", got integer", ", got decimal",
	    ", got bool", ", got string" };
	size_t i, n = strlen(cause);

	if (strncmp(cause, "expression must be ", 19) != 0)
		return -1;
	for (i = 0; i < 4; i++)
		if (n >= strlen(got[i]) &&
		    strcmp(cause + n - strlen(got[i]), got[i]) == 0)
			return (int)i;
	return -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = xmalloc(size + 1), *cause = NULL;
	enum vtype want = VT_BOOL;
	struct expr *e;
	union val v;
	size_t pos = (size_t)-1, s;
	int t;

	memcpy(src, data, size);
	src[size] = '\0';
	e = expr_compile(src, &scope, want, &cause, &pos);
	if (e == NULL && (t = got_type(cause)) >= 0) {
		free(cause);
		cause = NULL;
		want = (enum vtype)t;
		e = expr_compile(src, &scope, want, &cause, &pos);
		FUZZ_CHECK(e != NULL, "compiled as %s, it says: %s",
		    vtype_name(want), cause);
	}
	if (e == NULL) {
		FUZZ_CHECK(cause != NULL && cause[0] != '\0',
		    "an error without a cause");
		FUZZ_CHECK(pos <= strlen(src), "error at %zu, past the end (%zu)",
		    pos, strlen(src));
		free(cause);
		free(src);
		return 0;
	}
	FUZZ_CHECK(expr_type(e) == want, "compiled for %s, typed %s",
	    vtype_name(want), vtype_name(expr_type(e)));
	for (s = 0; s < NSETS; s++) {
		v = expr_eval(e, slots[s]);
		FUZZ_CHECK(want != VT_BOOL || v.i == 0 || v.i == 1,
		    "a bool evaluated to %lld", (long long)v.i);
		if (want == VT_STR && v.s != NULL)
			sink += strlen(v.s);
		/* explain runs the same evaluator, with a trace */
		{
			struct buf b = { 0 };

			FUZZ_CHECK(expr_explain(e, slots[s], names, &b).i == v.i,
			    "explain evaluated otherwise");
			FUZZ_CHECK(b.len > 0 && b.p[0] == '{' &&
			    b.p[b.len - 1] == '}', "explain wrote no object");
			buf_free(&b);
		}
	}
	expr_free(e);
	free(src);
	return 0;
}
