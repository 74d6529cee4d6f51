/*
 * Unit tests of evlog.c: a line split into template and values and put
 * back together gives the same line (compact lines: byte for byte; with
 * whitespace: the same without it), the id and the integer ts taken from
 * their columns, a ts in RFC 3339 kept as a value, "ts" put first where
 * the line had none, nested objects and arrays, escapes, lines that are
 * not one object refused; and the table of shapes (find, add, the bound,
 * dropping a rolled-back transaction's).
 */
#include <stdio.h>
#include <string.h>

#include "zhilid.h"
#include "unit.h"

/* Encode then decode line; the result (static). */
static const char *
roundtrip(const char *line, const char *id, int64_t ts, int with_ts,
    size_t *vlen)
{
	static char out[4096];
	struct buf t = { 0 }, v = { 0 }, o = { 0 };

	out[0] = '\0';
	if (evlog_encode(line, strlen(line), id != NULL, &t, &v) != 0) {
		buf_free(&t);
		buf_free(&v);
		return NULL;
	}
	buf_addc(&t, '\0');
	if (vlen != NULL)
		*vlen = BUF_LEN(&v);
	evlog_decode(&o, BUF_DATA(&t), BUF_DATA(&v), BUF_LEN(&v), id, ts,
	    with_ts);
	snprintf(out, sizeof out, "%.*s", (int)BUF_LEN(&o), BUF_DATA(&o));
	buf_free(&t);
	buf_free(&v);
	buf_free(&o);
	return out;
}

#define LINE	"{\"type\":\"household.upsert\",\"id\":\"b-1\"," \
	"\"ts\":1767196801,\"household\":\"H0000001\",\"community\":" \
	"\"C0018\",\"grid\":\"G0018-01\",\"attrs\":{\"age\":43," \
	"\"lives_alone\":false,\"disabled\":true}}"

static void
test_compact_lines(void)
{
	size_t n;

	CHECK_STR(roundtrip(LINE, "b-1", 1767196801, 0, &n), LINE);
	/* the values alone: H0000001 C0018 G0018-01 43 false true */
	CHECK(n == strlen("H0000001C0018G0018-0143falsetrue") + 5);
	CHECK_STR(roundtrip(LINE, "b-1", 1767196801, 1, NULL), LINE);
	CHECK_STR(roundtrip("{\"type\":\"x\",\"a\":-1.50e+3,\"b\":null,"
	    "\"c\":[1,{\"d\":\"]\"},\"e,f\"],\"g\":{}}", NULL, 5, 0, NULL),
	    "{\"type\":\"x\",\"a\":-1.50e+3,\"b\":null,\"c\":[1,{\"d\":\"]\"},"
	    "\"e,f\"],\"g\":{}}");
	/* escapes in values and keys stay as written */
	CHECK_STR(roundtrip("{\"type\":\"x\",\"a\\\"b\":\"q\\\"\\u00e9\\\\\"}",
	    NULL, 5, 0, NULL), "{\"type\":\"x\",\"a\\\"b\":\"q\\\"\\u00e9\\\\\"}");
	/* an id or ts key deeper down is a value like any other */
	CHECK_STR(roundtrip("{\"type\":\"x\",\"o\":{\"id\":\"i\",\"ts\":1}}",
	    "top", 9, 1, NULL), "{\"ts\":9,\"type\":\"x\",\"o\":{\"id\":\"i\","
	    "\"ts\":1}}");
}

static void
test_whitespace_dropped(void)
{
	CHECK_STR(roundtrip(" { \"type\" : \"x\" ,\t\"a\" : [ 1 , 2 ] , "
	    "\"b\" : { } } ", NULL, 5, 0, NULL),
	    "{\"type\":\"x\",\"a\":[ 1 , 2 ],\"b\":{}}");
}

static void
test_id_and_ts(void)
{
	/* the id is written from its column, the integer ts too */
	CHECK_STR(roundtrip("{\"id\":\"old\",\"type\":\"x\",\"ts\":7}", "new",
	    8, 0, NULL), "{\"id\":\"new\",\"type\":\"x\",\"ts\":8}");
	/* RFC 3339: a value */
	CHECK_STR(roundtrip("{\"type\":\"x\",\"ts\":\"2026-01-01T00:00:00+08:00\""
	    "}", NULL, 8, 1, NULL), "{\"type\":\"x\",\"ts\":"
	    "\"2026-01-01T00:00:00+08:00\"}");
	/* none: put first on demand */
	CHECK_STR(roundtrip("{\"type\":\"x\"}", NULL, 8, 0, NULL),
	    "{\"type\":\"x\"}");
	CHECK_STR(roundtrip("{\"type\":\"x\",\"a\":1}", NULL, 8, 1, NULL),
	    "{\"ts\":8,\"type\":\"x\",\"a\":1}");
	/* the type's value is no key */
	CHECK_STR(roundtrip("{\"type\":\"ts\",\"a\":1}", NULL, 8, 1, NULL),
	    "{\"ts\":8,\"type\":\"ts\",\"a\":1}");
}

static void
test_refused(void)
{
	CHECK(roundtrip("[1]", NULL, 0, 0, NULL) == NULL);
	CHECK(roundtrip("{\"a\":1} x", NULL, 0, 0, NULL) == NULL);
	CHECK(roundtrip("{\"a\":1", NULL, 0, 0, NULL) == NULL);
	CHECK(roundtrip("{\"a\":\"1}", NULL, 0, 0, NULL) == NULL);
	CHECK(roundtrip("", NULL, 0, 0, NULL) == NULL);
}

/*
 * evlog_match is a fast path of evlog_encode: for every pair of lines, it
 * fits the first one's template exactly when encoding the second gives
 * that template, and then gives the same values.
 */
static void
test_match(void)
{
	static const char *lines[] = {
		LINE,
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":\"H\\\"2\",\"community\":\"\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":-4.5e1,"
		    "\"lives_alone\":null,\"disabled\":[1,\"]\"]}}",
		/* ts a string, a value where a string was, an object */
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":\"5\","
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true,\"disabled\":true}}",
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":1,\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true,\"disabled\":true}}",
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":{},"
		    "\"lives_alone\":true,\"disabled\":true}}",
		/* whitespace, one key more, one less, another type */
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5, "
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true,\"disabled\":true}}",
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true,\"disabled\":true,\"x\":1}}",
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true}}",
		"{\"type\":\"household.remove\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true,\"disabled\":true}}",
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true,\"disabled\":true}} ",
		"{\"type\":\"household.upsert\",\"id\":\"b-2\",\"ts\":5,"
		    "\"household\":\"H\",\"community\":\"C\","
		    "\"grid\":\"G\",\"attrs\":{\"age\":1,"
		    "\"lives_alone\":true,\"disabled\":true}",
	};
	size_t i, j, n = sizeof lines / sizeof lines[0];
	struct buf ta = { 0 }, va = { 0 }, tb = { 0 }, vb = { 0 }, vm = { 0 };
	int same, enc, matched;

	for (i = 0; i < n; i++) {
		buf_reset(&ta);
		buf_reset(&va);
		if (evlog_encode(lines[i], strlen(lines[i]), 1, &ta, &va) != 0)
			continue;
		for (j = 0; j < n; j++) {
			buf_reset(&tb);
			buf_reset(&vb);
			buf_reset(&vm);
			enc = evlog_encode(lines[j], strlen(lines[j]), 1, &tb,
			    &vb);
			same = enc == 0 && BUF_LEN(&ta) == BUF_LEN(&tb) &&
			    memcmp(BUF_DATA(&ta), BUF_DATA(&tb),
			    BUF_LEN(&ta)) == 0 && !strchr(lines[j], ' ');
			matched = evlog_match(lines[j], strlen(lines[j]),
			    BUF_DATA(&ta), BUF_LEN(&ta), &vm) == 0;
			CHECK(matched == same);
			if (matched)
				CHECK(BUF_LEN(&vm) == BUF_LEN(&vb) &&
				    memcmp(BUF_DATA(&vm), BUF_DATA(&vb),
				    BUF_LEN(&vb)) == 0);
			/* 0 and 1: one shape; 2, 3, 4, 6, 7, 8, 10 others */
			if (i <= 1 && j <= 1)
				CHECK(matched);
			if (i == 0 && j != 1 && j != 5 && j != 9 && j != 0)
				CHECK(!matched);
		}
	}
	buf_free(&ta);
	buf_free(&va);
	buf_free(&tb);
	buf_free(&vb);
	buf_free(&vm);
}

static void
test_shapes(void)
{
	struct shapes sh;
	char t[32];
	int i;

	shapes_init(&sh);
	CHECK(shapes_find(&sh, "{a}", 3) == 0);
	CHECK(shapes_add(&sh, 1, "{a}", 3) == 0);
	CHECK(shapes_add(&sh, 2, "{b}", 3) == 0);
	CHECK(shapes_find(&sh, "{a}", 3) == 1);
	CHECK(shapes_find(&sh, "{b}", 3) == 2);
	CHECK(shapes_find(&sh, "{a", 2) == 0);
	CHECK(sh.next == 3);
	shapes_drop(&sh, 2);
	CHECK(shapes_find(&sh, "{b}", 3) == 0);
	CHECK(shapes_find(&sh, "{a}", 3) == 1);
	CHECK(sh.next == 2 && sh.n == 1);
	for (i = 2; i <= EVLOG_SHAPES_MAX; i++) {
		snprintf(t, sizeof t, "{%d}", i);
		CHECK(shapes_add(&sh, i, t, strlen(t)) == 0);
	}
	CHECK(shapes_add(&sh, i, "{full}", 6) == -1);
	CHECK(shapes_find(&sh, "{777}", 5) == 777);
	shapes_free(&sh);
}

static const struct unit_test tests[] = {
	{ "compact_lines", test_compact_lines },
	{ "whitespace_dropped", test_whitespace_dropped },
	{ "id_and_ts", test_id_and_ts },
	{ "refused", test_refused },
	{ "match", test_match },
	{ "shapes", test_shapes },
};

UNIT_MAIN(tests)
