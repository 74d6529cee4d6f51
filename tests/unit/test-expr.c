/* Unit tests of expr.c: lexer, parser, type checker and evaluator. */
#include <stdlib.h>

#include "zhilid.h"
#include "unit.h"

/* A scope of four slots: age int, score decimal, alone bool, name string. */
static const char *const names[] = { "age", "score", "alone", "name" };
static const enum vtype types[] = { VT_INT, VT_DEC, VT_BOOL, VT_STR };

static int
resolve(void *arg, const char *name, enum vtype *t, int *slot)
{
	size_t i;

	for (i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0) {
			*t = types[i];
			*slot = (int)i;
			return 0;
		}
	return -1;
}

static const struct expr_scope scope = { resolve, NULL, names, 4 };
static union val slots[4];

static void
set(int64_t age, const char *score, int alone, const char *name)
{
	slots[0].i = age;
	dec_parse(score, strlen(score), &slots[1].i);
	slots[2].i = alone;
	slots[3].s = name;
}

/* Compile src as want and evaluate; -99 on a compile error. */
static int64_t
eval(const char *src, enum vtype want)
{
	char *cause = NULL;
	size_t pos;
	struct expr *e = expr_compile(src, &scope, want, &cause, &pos);
	int64_t v;

	if (e == NULL) {
		free(cause);
		return -99;
	}
	v = expr_eval(e, slots).i;
	expr_free(e);
	return v;
}

/* The compile error of src, or NULL; *pos its offset. */
static char *
error_of(const char *src, enum vtype want, size_t *pos)
{
	char *cause = NULL;
	struct expr *e = expr_compile(src, &scope, want, &cause, pos);

	expr_free(e);
	return cause;
}

static void
test_literals_and_precedence(void)
{
	set(0, "0", 0, "");
	CHECK(eval("1 + 2 * 3", VT_INT) == 7);
	CHECK(eval("(1 + 2) * 3", VT_INT) == 9);
	CHECK(eval("10 - 4 - 3", VT_INT) == 3);
	CHECK(eval("7 / 2", VT_INT) == 3);
	CHECK(eval("7 % 4", VT_INT) == 3);
	CHECK(eval("-3 + 5", VT_INT) == 2);
	CHECK(eval("true", VT_BOOL) == 1);
	CHECK(eval("not false and false", VT_BOOL) == 0);
	CHECK(eval("true or false and false", VT_BOOL) == 1);
	CHECK(eval("not (true or false)", VT_BOOL) == 0);
}

static void
test_decimals_are_exact(void)
{
	/* 0.3 x 76 + 0.7 x 96 is 90 exactly, not 89.999... */
	CHECK(eval("0.3 * 76 + 0.7 * 96 >= 90", VT_BOOL) == 1);
	CHECK(eval("0.3 * 76 + 0.7 * 96", VT_DEC) == 90 * DEC_ONE);
	CHECK(eval("0.1 + 0.2 == 0.3", VT_BOOL) == 1);
	CHECK(eval("1 / 4.0", VT_DEC) == 250000);
	CHECK(eval("2 * 0.5 == 1", VT_BOOL) == 1);
	set(0, "89.5", 0, "");
	CHECK(eval("score < 90", VT_BOOL) == 1);
	CHECK(eval("score + 0.5 >= 90", VT_BOOL) == 1);
}

static void
test_names_and_comparisons(void)
{
	set(80, "0", 1, "east");
	CHECK(eval("age >= 80 and alone", VT_BOOL) == 1);
	CHECK(eval("age > 80", VT_BOOL) == 0);
	CHECK(eval("age == 80", VT_BOOL) == 1);
	CHECK(eval("age != 80", VT_BOOL) == 0);
	CHECK(eval("name == 'east'", VT_BOOL) == 1);
	CHECK(eval("name != \"east\"", VT_BOOL) == 0);
	set(69, "0", 0, "west");
	CHECK(eval("age >= 70", VT_BOOL) == 0);
	CHECK(eval("age + 1 >= 70", VT_BOOL) == 1);
}

static void
test_in_lists(void)
{
	set(3, "2.5", 0, "b");
	CHECK(eval("age in [1, 2, 3]", VT_BOOL) == 1);
	CHECK(eval("age not in [1, 2, 3]", VT_BOOL) == 0);
	CHECK(eval("name in ['a', 'b']", VT_BOOL) == 1);
	CHECK(eval("name in ['a']", VT_BOOL) == 0);
	CHECK(eval("score in [2.5, 3]", VT_BOOL) == 1);
	CHECK(eval("age in [-1, 4]", VT_BOOL) == 0);
}

static void
test_short_circuit_with_promotion(void)
{
	set(5, "1.5", 1, "");
	/* promotion inserts a conversion; jumps after it must still land */
	CHECK(eval("(alone and age > 1) and age + score > 6", VT_BOOL) == 1);
	CHECK(eval("alone or age * score > 100", VT_BOOL) == 1);
	CHECK(eval("not alone or age < score", VT_BOOL) == 0);
}

static void
test_division_by_zero_is_zero(void)
{
	set(0, "0", 0, "");
	CHECK(eval("5 / age", VT_INT) == 0);
	CHECK(eval("5 % age", VT_INT) == 0);
	CHECK(eval("1.5 / score", VT_DEC) == 0);
}

static void
test_unknown_name_suggests(void)
{
	size_t pos = 0;
	char *e = error_of("agee >= 80", VT_BOOL, &pos);

	CHECK_STR(e, "unknown name 'agee' (did you mean 'age'?)");
	CHECK(pos == 0);
	free(e);
	e = error_of("alone and xyzzy", VT_BOOL, &pos);
	CHECK_STR(e, "unknown name 'xyzzy'");
	CHECK(pos == 10);
	free(e);
}

static void
test_type_errors(void)
{
	size_t pos;
	char *e;

	e = error_of("age and alone", VT_BOOL, &pos);
	CHECK_STR(e, "'and' needs bools, got integer and bool");
	free(e);
	e = error_of("name > 3", VT_BOOL, &pos);
	CHECK_STR(e, "cannot compare string with integer");
	free(e);
	e = error_of("age + 1", VT_BOOL, &pos);
	CHECK_STR(e, "expression must be a bool, got integer");
	free(e);
	e = error_of("alone < true", VT_BOOL, &pos);
	CHECK_STR(e, "bools can only be compared with == and !=");
	free(e);
	e = error_of("not age", VT_BOOL, &pos);
	CHECK_STR(e, "'not' needs a bool, got integer");
	free(e);
	e = error_of("age in ['x']", VT_BOOL, &pos);
	CHECK_STR(e, "list item must be a integer literal");
	free(e);
	e = error_of("score % 2 == 0", VT_BOOL, &pos);
	CHECK_STR(e, "'%' needs integers");
	free(e);
}

static void
test_syntax_errors(void)
{
	size_t pos;
	char *e;

	e = error_of("age = 80", VT_BOOL, &pos);
	CHECK_STR(e, "unexpected '=' (did you mean '=='?)");
	CHECK(pos == 4);
	free(e);
	e = error_of("(age > 1", VT_BOOL, &pos);
	CHECK_STR(e, "expected ')'");
	free(e);
	e = error_of("age > ", VT_BOOL, &pos);
	CHECK_STR(e, "unexpected end of expression");
	free(e);
	e = error_of("", VT_BOOL, &pos);
	CHECK_STR(e, "empty expression");
	free(e);
	e = error_of("age > 1 alone", VT_BOOL, &pos);
	CHECK_STR(e, "unexpected 'alone' after expression");
	CHECK(pos == 8);
	free(e);
	e = error_of("name == 'x", VT_BOOL, &pos);
	CHECK_STR(e, "unterminated string");
	free(e);
	e = error_of("0.0000001 > 0", VT_BOOL, &pos);
	CHECK(e != NULL);
	free(e);
	e = error_of("12abc > 0", VT_BOOL, &pos);
	CHECK_STR(e, "malformed number");
	free(e);
}

static void
test_deep_nesting_is_bounded(void)
{
	char src[4096];
	size_t pos, i;
	char *e;

	for (i = 0; i < 1000; i++)
		src[i] = '(';
	strcpy(src + 1000, "true");
	e = error_of(src, VT_BOOL, &pos);
	CHECK_STR(e, "expression too deeply nested");
	free(e);
	for (i = 0; i < 1000; i++)
		src[i] = '-';
	strcpy(src + 1000, "1");
	e = error_of(src, VT_INT, &pos);
	CHECK_STR(e, "expression too deeply nested");
	free(e);
}

static void
test_decimal_parse_format(void)
{
	int64_t v;
	char buf[32];

	CHECK(dec_parse("76.5", 4, &v) == 0 && v == 76500000);
	CHECK(dec_parse("-0.000001", 9, &v) == 0 && v == -1);
	CHECK(dec_parse("1.", 2, &v) == -1);
	CHECK(dec_parse(".5", 2, &v) == -1);
	CHECK(dec_parse("0.0000001", 9, &v) == -1);
	dec_format(90 * DEC_ONE, buf, sizeof buf);
	CHECK_STR(buf, "90");
	dec_format(76500000, buf, sizeof buf);
	CHECK_STR(buf, "76.5");
	dec_format(-1, buf, sizeof buf);
	CHECK_STR(buf, "-0.000001");
}

/* ceil(x): rounds a decimal up to an integer; an integer stays. */
static void
test_ceil(void)
{
	size_t pos;
	char *cause;

	set(10000, "0", 0, "");
	CHECK(eval("ceil(18 * age / 10000.0)", VT_INT) == 18);
	set(10001, "0", 0, "");
	CHECK(eval("ceil(18 * age / 10000.0)", VT_INT) == 19);
	set(0, "0", 0, "");
	CHECK(eval("ceil(18 * age / 10000.0)", VT_INT) == 0);
	CHECK(eval("ceil(0.000001)", VT_INT) == 1);
	CHECK(eval("ceil(-1.5)", VT_INT) == -1);
	CHECK(eval("ceil(-0.5) == 0", VT_BOOL) == 1);
	CHECK(eval("ceil(7)", VT_INT) == 7);
	CHECK(eval("ceil (2.5) + 1", VT_INT) == 4);
	cause = error_of("ceil(alone)", VT_INT, &pos);
	CHECK(cause != NULL && strstr(cause, "ceil() needs a number") != NULL);
	CHECK(pos == 4);	/* at the argument's ( */
	free(cause);
	cause = error_of("ceil(1.5", VT_INT, &pos);
	CHECK(cause != NULL);
	free(cause);
	/* without a parenthesis, ceil is a name like any other */
	cause = error_of("ceil + 1", VT_INT, &pos);
	CHECK(cause != NULL && strstr(cause, "unknown name 'ceil'") != NULL);
	free(cause);
}

/* The explanation of src over the slots, as JSON text; NULL on error. */
static char *
explain(const char *src, int64_t *value)
{
	char *cause = NULL, *out;
	size_t pos;
	struct expr *e = expr_compile(src, &scope, VT_ANY, &cause, &pos);
	struct buf b = { 0 };

	if (e == NULL) {
		free(cause);
		return NULL;
	}
	*value = expr_explain(e, slots, names, &b).i;
	CHECK(*value == expr_eval(e, slots).i);	/* the same evaluation */
	buf_addc(&b, '\0');
	out = xstrdup(b.p);
	buf_free(&b);
	expr_free(e);
	return out;
}

/*
 * explain runs the evaluator with a trace: each operand of and/or/not
 * with its text and value, the names read with theirs, and operands that
 * short-circuit left out as not evaluated.
 */
static void
test_explain_tree(void)
{
	char *j;
	int64_t v;
	int s[4];

	set(82, "75.5", 1, "Li");
	j = explain("age >= 80 and (alone or score < 60)", &v);
	CHECK(v == 1);
	CHECK_STR(j, "{\"expr\":\"age >= 80 and (alone or score < 60)\","
	    "\"op\":\"and\",\"value\":true,\"reads\":{\"age\":82,"
	    "\"alone\":true},\"operands\":[{\"expr\":\"age >= 80\","
	    "\"value\":true,\"reads\":{\"age\":82}},{\"expr\":"
	    "\"alone or score < 60\",\"op\":\"or\",\"value\":true,"
	    "\"operands\":[{\"expr\":\"alone\",\"value\":true,\"reads\":"
	    "{\"alone\":true}},{\"expr\":\"score < 60\",\"value\":null,"
	    "\"evaluated\":false,\"reads\":{}}]}]}");
	free(j);
	set(70, "59.5", 0, "Li");
	j = explain("not (age >= 80) and score < 60 and name == \"Li\"", &v);
	CHECK(v == 1);
	CHECK(strstr(j, "\"op\":\"not\",\"value\":true") != NULL);
	CHECK(strstr(j, "{\"expr\":\"score < 60\",\"value\":true,"
	    "\"reads\":{\"score\":59.5}}") != NULL);
	CHECK(strstr(j, "\"reads\":{\"name\":\"Li\"}") != NULL);
	free(j);
	/* a decimal left operand converted after its code: reads stay right */
	j = explain("age + 0.5 * score > score and alone == false", &v);
	CHECK(v == 1);
	CHECK(strstr(j, "\"reads\":{\"age\":70,\"score\":59.5}") != NULL);
	CHECK(strstr(j, "{\"expr\":\"alone == false\",\"value\":true,"
	    "\"reads\":{\"alone\":false}}") != NULL);
	free(j);
	j = explain("score * 2 > age", &v);
	CHECK(v == 1);
	CHECK_STR(j, "{\"expr\":\"score * 2 > age\",\"value\":true,"
	    "\"reads\":{\"score\":59.5,\"age\":70}}");
	free(j);
	/* a bare comparison: no operands; a number: its value */
	j = explain("age * 2 + age", &v);
	CHECK(v == 210);
	CHECK_STR(j, "{\"expr\":\"age * 2 + age\",\"value\":210,"
	    "\"reads\":{\"age\":70}}");
	free(j);
	{
		char *cause = NULL;
		size_t pos;
		struct expr *e = expr_compile("score > 1 or age in [1, 2] or "
		    "score < 0", &scope, VT_BOOL, &cause, &pos);

		CHECK(e != NULL && expr_reads(e, s, 4) == 2);
		CHECK(s[0] == 1 && s[1] == 0);
		CHECK(expr_reads(e, s, 1) == 1);
		CHECK_STR(expr_src(e), "score > 1 or age in [1, 2] or score < 0");
		expr_free(e);
	}
}

static const struct unit_test tests[] = {
	{ "explain_tree", test_explain_tree },
	{ "ceil", test_ceil },
	{ "literals_and_precedence", test_literals_and_precedence },
	{ "decimals_are_exact", test_decimals_are_exact },
	{ "names_and_comparisons", test_names_and_comparisons },
	{ "in_lists", test_in_lists },
	{ "short_circuit_with_promotion", test_short_circuit_with_promotion },
	{ "division_by_zero_is_zero", test_division_by_zero_is_zero },
	{ "unknown_name_suggests", test_unknown_name_suggests },
	{ "type_errors", test_type_errors },
	{ "syntax_errors", test_syntax_errors },
	{ "deep_nesting_is_bounded", test_deep_nesting_is_bounded },
	{ "decimal_parse_format", test_decimal_parse_format },
};

UNIT_MAIN(tests)
