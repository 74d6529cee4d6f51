/*
 * Growable byte buffers: response and output queues, JSON text built by hand.
 * A buffer owns its bytes; buf_free releases them.  Consumed bytes at the
 * front are dropped lazily so that draining an output queue is O(1) amortised.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"

void
buf_reserve(struct buf *b, size_t more)
{
	size_t need;

	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	need = b->len + more + 1;
	if (need <= b->cap)
		return;
	if (b->off > 0 && b->off >= b->len / 2) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more + 1 <= b->cap)
			return;
		need = b->len + more + 1;
	}
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < need)
		b->cap *= 2;
	b->p = xreallocarray(b->p, 1, b->cap);
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	/* one formatting pass when it fits, which is nearly always */
	buf_reserve(b, 64);
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->p[b->len] = '\0';
		return;
	}
	if ((size_t)n >= room) {
		buf_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Bytes that a JSON string cannot hold as they are. */
static const unsigned char json_special[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1,
};

/* Append s as a JSON string literal, quotes included. s is valid UTF-8. */
void
buf_add_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start;
	char u[7];

	buf_reserve(b, n + 2);
	buf_addc(b, '"');
	while (i < n) {
		start = i;
		while (i < n && !json_special[p[i]])
			i++;
		buf_add(b, s + start, i - start);
		if (i == n)
			break;
		switch (p[i]) {
		case '"':  buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		default:
			memcpy(u, "\\u00", 4);
			u[4] = hex[p[i] >> 4];
			u[5] = hex[p[i] & 15];
			buf_add(b, u, 6);
		}
		i++;
	}
	buf_addc(b, '"');
}

/* Append the decimal digits of v. */
void
buf_add_int(struct buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

void
buf_add_json_cstr(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_adds(b, "null");
	else
		buf_add_json_str(b, s, strlen(s));
}

void
buf_drop(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

char *
buf_steal(struct buf *b)
{
	char *p;

	if (b->p == NULL)
		return xstrdup("");
	if (b->off > 0)
		memmove(b->p, b->p + b->off, b->len - b->off + 1);
	p = b->p;
	memset(b, 0, sizeof *b);
	return p;
}

/* Problems collected while loading: "FILE:LINE:COL: error: MESSAGE". */
void
errs_add(struct errs *e, const char *file, int line, int col,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	e->v = xreallocarray(e->v, e->n + 1, sizeof *e->v);
	e->v[e->n++] = xasprintf("%s:%d:%d: error: %s", file, line, col, msg);
	free(msg);
}

void
errs_free(struct errs *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	memset(e, 0, sizeof *e);
}

/* Levenshtein distance, for "did you mean" suggestions. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, tmp;
	size_t row[64];

	if (lb >= sizeof row / sizeof row[0] || la >= 64)
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The closest of names[] to word, or NULL if none is close enough. */
const char *
did_you_mean(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t d, bestd = (size_t)-1, i, limit;

	limit = strlen(word) < 4 ? 1 : strlen(word) / 3 + 1;
	for (i = 0; i < n; i++) {
		d = edit_distance(word, names[i]);
		if (d < bestd) {
			bestd = d;
			best = names[i];
		}
	}
	return bestd <= limit ? best : NULL;
}
