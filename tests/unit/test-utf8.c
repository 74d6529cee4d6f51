/*
 * Unit tests of utf8.c: cutting a client's string for a message at a
 * character boundary (1- to 4-byte sequences, a cut exactly at a
 * boundary, a string that fits), the validator behind the last line of
 * defence, a formatted message cut to its buffer, and that defence in the
 * error answer (decode.c error_json).
 */
#include <stdio.h>

#include "zhilid.h"
#include "engine.h"
#include "unit.h"

#define E_ACUTE	"\xc3\xa9"		/* U+00E9, 2 bytes */
#define ZHONG	"\xe4\xb8\xad"		/* U+4E2D, 3 bytes */
#define GRIN	"\xf0\x9f\x98\x80"	/* U+1F600, 4 bytes */

static void
test_prefix_ascii(void)
{
	CHECK(utf8_prefix("", 0) == 0);
	CHECK(utf8_prefix("", 5) == 0);
	CHECK(utf8_prefix("a", 0) == 0);
	CHECK(utf8_prefix("abc", 3) == 3);
	CHECK(utf8_prefix("abc", 5) == 3);
	CHECK(utf8_prefix("abcdef", 3) == 3);
}

static void
test_prefix_multibyte(void)
{
	const char *e = E_ACUTE E_ACUTE E_ACUTE;	/* 6 bytes */
	const char *z = ZHONG ZHONG;			/* 6 bytes */

	CHECK(utf8_prefix(e, 5) == 4);
	CHECK(utf8_prefix(e, 4) == 4);
	CHECK(utf8_prefix(e, 1) == 0);
	CHECK(utf8_prefix("a" E_ACUTE, 2) == 1);
	CHECK(utf8_prefix(z, 5) == 3);
	CHECK(utf8_prefix(z, 4) == 3);
	CHECK(utf8_prefix(z, 2) == 0);
	CHECK(utf8_prefix(z, 6) == 6);
}

static void
test_prefix_four_bytes(void)
{
	const char *g = GRIN GRIN;			/* 8 bytes */

	CHECK(utf8_prefix(g, 8) == 8);
	CHECK(utf8_prefix(g, 7) == 4);
	CHECK(utf8_prefix(g, 6) == 4);
	CHECK(utf8_prefix(g, 5) == 4);
	CHECK(utf8_prefix(g, 4) == 4);
	CHECK(utf8_prefix(g, 3) == 0);
	CHECK(utf8_prefix(g, 0) == 0);
	/* a cut exactly at a boundary keeps everything before it */
	CHECK(utf8_prefix("ab" GRIN "c", 6) == 6);
	CHECK(utf8_prefix("ab" GRIN "c", 5) == 2);
	CHECK(utf8_prefix("ab" GRIN "c", 2) == 2);
}

/* Every cut of a mixed string is valid UTF-8 and as long as it may be. */
static void
test_prefix_every_cut(void)
{
	const char *s = "a" E_ACUTE ZHONG GRIN "b" GRIN ZHONG E_ACUTE "c";
	size_t n = strlen(s), max, p;

	for (max = 0; max <= n + 1; max++) {
		p = utf8_prefix(s, max);
		CHECK(p <= max && p <= n);
		CHECK(utf8_valid(s, p) == p);
		CHECK(p + 4 > max || p == n);	/* no character fits more */
	}
}

static void
test_valid(void)
{
	CHECK(utf8_valid("", 0) == 0);
	CHECK(utf8_valid("abc", 3) == 3);
	CHECK(utf8_valid(E_ACUTE ZHONG GRIN, 9) == 9);
	CHECK(utf8_valid("\xf4\x8f\xbf\xbf", 4) == 4);	/* U+10FFFF */
	CHECK(utf8_valid("\xee\x80\x80", 3) == 3);	/* U+E000 */
	/* a sequence cut short */
	CHECK(utf8_valid("a" ZHONG, 3) == 1);
	CHECK(utf8_valid("a" GRIN, 4) == 1);
	CHECK(utf8_valid("a" GRIN, 2) == 1);
	/* never valid anywhere */
	CHECK(utf8_valid("a\x80", 2) == 1);		/* stray continuation */
	CHECK(utf8_valid("\xc0\xaf", 2) == 0);		/* overlong '/' */
	CHECK(utf8_valid("\xe0\x9f\xbf", 3) == 0);	/* overlong */
	CHECK(utf8_valid("\xf0\x8f\xbf\xbf", 4) == 0);	/* overlong */
	CHECK(utf8_valid("\xed\xa0\x80", 3) == 0);	/* a surrogate */
	CHECK(utf8_valid("\xf4\x90\x80\x80", 4) == 0);	/* past U+10FFFF */
	CHECK(utf8_valid("\xf5\x80\x80\x80", 4) == 0);
	CHECK(utf8_valid("\xe4\x28\xad", 3) == 0);	/* bad continuation */
	CHECK(utf8_valid("ab\xff", 3) == 2);
}

static void
test_clip(void)
{
	char s[210], msg[128], want[128];
	size_t i;

	snprintf(msg, sizeof msg, "'%.*s%s'", CLIP("H1"));
	CHECK_STR(msg, "'H1'");
	/* exactly CLIP_BYTES: all of it, no "..." */
	memset(s, 'x', CLIP_BYTES);
	s[CLIP_BYTES] = '\0';
	snprintf(msg, sizeof msg, "'%.*s%s'", CLIP(s));
	snprintf(want, sizeof want, "'%.*s'", CLIP_BYTES, s);
	CHECK_STR(msg, want);
	/* one more byte is cut */
	s[CLIP_BYTES] = 'y';
	s[CLIP_BYTES + 1] = '\0';
	snprintf(msg, sizeof msg, "'%.*s%s'", CLIP(s));
	snprintf(want, sizeof want, "'%.*s...'", CLIP_BYTES, s);
	CHECK_STR(msg, want);
	/* "a" then e-acutes: the cut falls inside one, which is left out */
	s[0] = 'a';
	for (i = 0; i < 100; i++)
		memcpy(s + 1 + 2 * i, E_ACUTE, 2);
	s[201] = '\0';
	snprintf(msg, sizeof msg, "%.*s%s", CLIP(s));
	CHECK(strlen(msg) == CLIP_BYTES - 1 + 3);
	CHECK(utf8_valid(msg, strlen(msg)) == strlen(msg));
	CHECK(strcmp(msg + CLIP_BYTES - 1, "...") == 0);
}

static void
test_snprintf(void)
{
	char buf[10];
	int n;

	n = utf8_snprintf(buf, sizeof buf, "%s", "abc");
	CHECK(n == 3);
	CHECK_STR(buf, "abc");
	/* 9 bytes fit a buffer of 10 as they are */
	utf8_snprintf(buf, sizeof buf, "%s", "abc" ZHONG ZHONG);
	CHECK_STR(buf, "abc" ZHONG ZHONG);
	/* 10 do not: cut at a boundary, then "..." */
	n = utf8_snprintf(buf, sizeof buf, "%s", E_ACUTE E_ACUTE E_ACUTE
	    E_ACUTE E_ACUTE);
	CHECK(n == 10);
	CHECK_STR(buf, E_ACUTE E_ACUTE E_ACUTE "...");
	utf8_snprintf(buf, sizeof buf, "%s%s", "ab", GRIN GRIN);
	CHECK_STR(buf, "ab" GRIN "...");
	utf8_snprintf(buf, sizeof buf, "%s%s", "abc", GRIN GRIN);
	CHECK_STR(buf, "abc...");
	utf8_snprintf(buf, sizeof buf, "%s", "abcdefghijk");
	CHECK_STR(buf, "abcdef...");
}

static void
test_error_json(void)
{
	struct buf b = { 0 };

	error_json(&b, E_UNKNOWN_TYPE, "unknown event type 'H\"1'");
	CHECK_STR(BUF_DATA(&b), "{\"ok\":false,\"error\":{\"code\":"
	    "\"unknown_type\",\"message\":\"unknown event type 'H\\\"1'\"}}\n");
	buf_reset(&b);
	/* a message a plain snprintf cut inside a character */
	error_json(&b, E_BAD_EVENT, "got 'a" E_ACUTE "\xe4\xb8");
	CHECK_STR(BUF_DATA(&b), "{\"ok\":false,\"error\":{\"code\":"
	    "\"bad_event\",\"message\":\"got 'a" E_ACUTE "...\"}}\n");
	buf_free(&b);
}

static const struct unit_test tests[] = {
	{ "prefix_ascii", test_prefix_ascii },
	{ "prefix_multibyte", test_prefix_multibyte },
	{ "prefix_four_bytes", test_prefix_four_bytes },
	{ "prefix_every_cut", test_prefix_every_cut },
	{ "valid", test_valid },
	{ "clip", test_clip },
	{ "snprintf", test_snprintf },
	{ "error_json", test_error_json },
};

UNIT_MAIN(tests)
