/*
 * Cutting text at character boundaries.  Error messages quote what a client
 * sent (a type, a field name, an id), and a quote must be short; a cut by
 * bytes (a "%.64s" or a full snprintf buffer) can end inside a UTF-8
 * sequence, and then the answer is not UTF-8 and a strict client cannot
 * read it.  Strings from json_parse are valid UTF-8 (json.c refuses the
 * rest), so cutting is the only way to break them, and cutting here never
 * does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "zhilid.h"

#define CONT(c)	(((unsigned char)(c) & 0xc0) == 0x80)

/*
 * The byte length of the longest prefix of the valid UTF-8 string s that
 * has at most max bytes and ends at a character boundary.  Reads at most
 * max + 1 bytes of s.
 */
size_t
utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1), back;

	if (n <= max)
		return n;
	/* s[max] starts the first character left out, or continues one */
	for (n = max, back = 0; n > 0 && back < 3 && CONT(s[n]); n--, back++)
		;
	return n;
}

/*
 * The length of the longest prefix of s[0..n) that is valid UTF-8 (RFC
 * 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
 */
size_t
utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len, j;
	unsigned lo, hi;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		/* the second byte's range depends on the first (RFC 3629 4) */
		lo = 0x80, hi = 0xbf;
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			len = 2;
		else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			len = 3;
			if (p[i] == 0xe0)
				lo = 0xa0;
			else if (p[i] == 0xed)
				hi = 0x9f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			len = 4;
			if (p[i] == 0xf0)
				lo = 0x90;
			else if (p[i] == 0xf4)
				hi = 0x8f;
		} else
			return i;
		if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
			return i;
		for (j = 2; j < len; j++)
			if (!CONT(p[i + j]))
				return i;
		i += len;
	}
	return n;
}

/*
 * snprintf, but a message too long for buf is cut at a character boundary
 * and ends with "..." to say so.  Returns what snprintf returns.
 */
int
utf8_snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= len && len > 3)
		memcpy(buf + utf8_prefix(buf, len - 4), "...", 4);
	return n;
}
