/*
 * Unit tests of the hand-written pieces under the socket decoder: the
 * strict JSON check and the one-pass parser held to it and to cJSON, JSON
 * string escaping, integers, RFC 3339 parsing and formatting, and the
 * string interner.
 */
#include <dirent.h>
#include <stdlib.h>

#include "zhilid.h"
#include "engine.h"
#include "unit.h"
#include "jsontree.h"

static int
valid(const char *s)
{
	char err[128];

	return json_check(s, strlen(s), err, sizeof err) == 0;
}

static void
test_json_check_accepts(void)
{
	CHECK(valid("{}"));
	CHECK(valid(" {\"a\" : [1, -2.5e+3, true, false, null]} "));
	CHECK(valid("\"\\u00e9\\n\\\"\""));
	CHECK(valid("\"中文 и ü\""));
	CHECK(valid("0"));
	CHECK(valid("[[[]]]"));
	CHECK(valid("\"\x7f\""));
}

static void
test_json_check_rejects(void)
{
	CHECK(!valid(""));
	CHECK(!valid("{} x"));
	CHECK(!valid("01"));
	CHECK(!valid("1."));
	CHECK(!valid(".5"));
	CHECK(!valid("+1"));
	CHECK(!valid("1e"));
	CHECK(!valid("{\"a\":1,}"));
	CHECK(!valid("[1,]"));
	CHECK(!valid("{'a':1}"));
	CHECK(!valid("\"\t\""));		/* raw control character */
	CHECK(!valid("\"\\x\""));		/* bad escape */
	CHECK(!valid("\"\\u12\""));
	CHECK(!valid("\"\xc3\x28\""));		/* bad continuation */
	CHECK(!valid("\"\xed\xa0\x80\""));	/* a surrogate in UTF-8 */
	CHECK(!valid("\"\xc0\xaf\""));		/* overlong */
	CHECK(!valid("\"\xf4\x90\x80\x80\""));	/* past U+10FFFF */
	CHECK(!valid("tru"));
	CHECK(!valid("{\"a\" 1}"));
	CHECK(!valid("\"abc"));
	CHECK(json_check("\"a\0b\"", 5, (char[64]){ 0 }, 64) != 0);
}

static void
test_json_check_depth(void)
{
	char s[1024];
	int i;

	for (i = 0; i < 128; i++)
		s[i] = '[';
	for (i = 0; i < 128; i++)
		s[128 + i] = ']';
	s[256] = '\0';
	CHECK(valid(s));
	for (i = 0; i < 129; i++)
		s[i] = '[';
	for (i = 0; i < 129; i++)
		s[129 + i] = ']';
	s[258] = '\0';
	CHECK(!valid(s));
}

#define AGREES(lit) do {						\
	const char *why_;						\
	CHECK(json_parse_agrees(lit, sizeof lit - 1, &why_));		\
} while (0)

static void
test_json_parse_cases(void)
{
	AGREES("{}");
	AGREES("[]");
	AGREES(" {\"a\" : [1, -2.5e+3, true, false, null, {}, []]} ");
	AGREES("{\"type\":\"household.upsert\",\"attrs\":{\"age\":70}}");
	AGREES("\"\\u00e9\\n\\\"\\/\\b\\f\\r\\t\"");
	AGREES("\"\\ud83d\\ude00 \\u4e2d\"");	/* a pair; a BMP */
	AGREES("[\"\\ud800\"]");		/* lone high surrogate */
	AGREES("[\"\\udc00\"]");		/* lone low surrogate */
	AGREES("[\"\\ud800\\u0041\"]");	/* high, then no low */
	AGREES("\"\\ud800\"");			/* lone, at top level */
	AGREES("[\"a\\u0000b\"]");
	AGREES("\"中文 и ü\"");
	AGREES("[0, -0, 1, -1, 123456789012345, 1234567890123456, "
	    "12345678901234567890, 9007199254740993, 1.5, 1e2, 1E-2, "
	    "-0.0, 2147483647, 2147483648, -2147483649, 1e400, -1e400, "
	    "1e-400]");
	AGREES("[1234567890123456789012345678901234567890123456789012345678"
	    "90123]");			/* 63 digits */
	AGREES("[1234567890123456789012345678901234567890123456789012345678"
	    "901234.5e-3]");		/* past the stack copy */
	AGREES("");
	AGREES("{} x");
	AGREES("01");
	AGREES("[01]");
	AGREES("1.");
	AGREES("[-]");
	AGREES("1e");
	AGREES("{\"a\":1,}");
	AGREES("[1,]");
	AGREES("[1 2]");
	AGREES("{\"a\" 1}");
	AGREES("{\"a\":}");
	AGREES("{1:2}");
	AGREES("{\"a\":1");
	AGREES("[");
	AGREES("\"\t\"");
	AGREES("\"\\x\"");
	AGREES("\"\\u12\"");
	AGREES("\"\xc3\x28\"");
	AGREES("\"abc");
	AGREES("tru");
	AGREES("nul");
	AGREES("\xef\xbb\xbf{}");		/* a byte order mark */
}

/* An escaped U+0000 is told apart from a backslash before "u0000". */
static void
test_json_parse_nul(void)
{
	char err[128];
	int nul = -1;

	CHECK(json_parse("[\"a\\u0000b\"]", 12, &nul, err, sizeof err) !=
	    NULL);
	CHECK(nul == 1);
	CHECK(json_parse("[\"a\\\\u0000b\"]", 13, &nul, err, sizeof err) !=
	    NULL);
	CHECK(nul == 0);
	json_arena_reset();
}

static void
test_json_parse_depth(void)
{
	char s[1024];
	const char *why;
	int i, n;

	for (n = 127; n <= 129; n++) {
		for (i = 0; i < n; i++)
			s[i] = '[';
		for (i = 0; i < n; i++)
			s[n + i] = ']';
		CHECK(json_parse_agrees(s, 2 * (size_t)n, &why));
	}
}

/*
 * Lines whose trees take several arena chunks, each read three times: the
 * chunks become one for the next line, or are let go past ARENA_KEEP.
 */
static void
test_json_parse_large(void)
{
	const size_t sizes[] = { 3000, 30000 };
	const char *why;
	size_t i, j, n, len;
	char *s;
	int round;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		n = sizes[i];
		s = xmalloc(2 * n + 2);
		len = 0;
		s[len++] = '[';
		for (j = 0; j < n; j++) {
			s[len++] = (char)('0' + j % 10);
			s[len++] = j + 1 < n ? ',' : ']';
		}
		for (round = 0; round < 3; round++)
			CHECK(json_parse_agrees(s, len, &why));
		free(s);
	}
}

/*
 * Every file of JSONTestSuite's test_parsing (the outside world's input),
 * vendored in the checkout; the unit tests run from its top folder.
 */
static void
test_json_parse_suite(void)
{
	const char *dir = "tests/conformance/JSONTestSuite/test_parsing", *why;
	char path[1024], *buf;
	struct dirent *de;
	size_t len, files = 0;
	DIR *d;
	FILE *f;

	CHECK((d = opendir(dir)) != NULL);
	if (d == NULL)
		return;
	buf = xmalloc(1 << 20);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".json") == NULL)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		len = fread(buf, 1, 1 << 20, f);
		fclose(f);
		files++;
		if (!json_parse_agrees(buf, len, &why) && !unit_failed) {
			unit_failed = 1;
			snprintf(unit_why, sizeof unit_why, "%s: %s",
			    de->d_name, why);
		}
	}
	closedir(d);
	free(buf);
	CHECK(files > 300);
}

static void
test_json_escaping(void)
{
	struct buf b = { 0 };
	const char in[] = "a\"b\\c\nd\x01\xe4\xb8\xad";

	buf_add_json_str(&b, in, sizeof in - 1);
	CHECK_STR(b.p, "\"a\\\"b\\\\c\\nd\\u0001\xe4\xb8\xad\"");
	CHECK(valid(b.p));
	buf_reset(&b);
	buf_add_json_cstr(&b, NULL);
	CHECK_STR(b.p, "null");
	buf_reset(&b);
	buf_add_int(&b, 0);
	buf_addc(&b, ' ');
	buf_add_int(&b, -9223372036854775807LL - 1);
	buf_addc(&b, ' ');
	buf_add_int(&b, 1234567890123LL);
	CHECK_STR(b.p, "0 -9223372036854775808 1234567890123");
	buf_free(&b);
}

static void
test_buf_addf_grows(void)
{
	struct buf b = { 0 };
	char big[1000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	buf_addf(&b, "%s|%d", big, 42);
	CHECK(b.len == 1002);
	CHECK(strcmp(b.p + 999, "|42") == 0);
	buf_drop(&b, 999);
	CHECK(BUF_LEN(&b) == 3);
	buf_free(&b);
}

static void
test_clock_parse(void)
{
	int64_t t;

	CHECK(clock_parse("2026-12-31T12:00:00+08:00", &t) == 0 &&
	    t == 1798689600);
	CHECK(clock_parse("2026-12-31T04:00:00Z", &t) == 0 && t == 1798689600);
	CHECK(clock_parse("2026-12-31t04:00:00.999z", &t) == 0 &&
	    t == 1798689600);
	CHECK(clock_parse("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
	CHECK(clock_parse("9999-12-31T23:59:59Z", &t) == 0 && t == TS_MAX);
	CHECK(clock_parse("2024-02-29T00:00:00Z", &t) == 0);
	CHECK(clock_parse("2023-02-29T00:00:00Z", &t) != 0);
	CHECK(clock_parse("2026-13-01T00:00:00Z", &t) != 0);
	CHECK(clock_parse("2026-12-31T24:00:00Z", &t) != 0);
	CHECK(clock_parse("2026-12-31 12:00:00Z", &t) != 0);
	CHECK(clock_parse("2026-12-31T12:00:00", &t) != 0);
	CHECK(clock_parse("2026-12-31T12:00:00+0800", &t) != 0);
	CHECK(clock_parse("1969-12-31T23:59:59Z", &t) != 0);
	CHECK(clock_parse("2026-12-31T12:00:00+08:00x", &t) != 0);
}

static void
test_clock_format(void)
{
	char buf[40];

	clock_set_zone("Asia/Shanghai");
	clock_format(1798689600, buf, sizeof buf);
	CHECK_STR(buf, "2026-12-31T12:00:00+08:00");
	clock_format(0, buf, sizeof buf);
	CHECK_STR(buf, "1970-01-01T08:00:00+08:00");
	clock_format(1798732799, buf, sizeof buf);	/* last second of 12-31 */
	CHECK_STR(buf, "2026-12-31T23:59:59+08:00");
	clock_set_zone("America/New_York");
	clock_format(1798689600, buf, sizeof buf);
	CHECK_STR(buf, "2026-12-30T23:00:00-05:00");
	clock_format(1783000000, buf, sizeof buf);	/* summer time */
	CHECK_STR(buf, "2026-07-02T09:46:40-04:00");
	clock_set_zone("Asia/Shanghai");
}

static void
test_intern_shares(void)
{
	const char *a = intern_get("C0018"), *b, *c;
	char copy[] = "C0018";

	b = intern_get(copy);
	c = intern_get("G1");
	CHECK(a == b);
	CHECK(a != c);
	CHECK_STR(a, "C0018");
	intern_put(a);
	intern_put(b);
	intern_put(c);
	intern_put(NULL);
}

static const struct unit_test tests[] = {
	{ "json_check_accepts", test_json_check_accepts },
	{ "json_check_rejects", test_json_check_rejects },
	{ "json_check_depth", test_json_check_depth },
	{ "json_parse_cases", test_json_parse_cases },
	{ "json_parse_nul", test_json_parse_nul },
	{ "json_parse_depth", test_json_parse_depth },
	{ "json_parse_large", test_json_parse_large },
	{ "json_parse_suite", test_json_parse_suite },
	{ "json_escaping", test_json_escaping },
	{ "buf_addf_grows", test_buf_addf_grows },
	{ "clock_parse", test_clock_parse },
	{ "clock_format", test_clock_format },
	{ "intern_shares", test_intern_shares },
};

UNIT_MAIN(tests)
