/*
 * The stored form of an event line: its shape and its values.
 *
 * Lines of one event type from one client repeat the same keys in the same
 * order line after line ("type":"household.upsert", "household", "attrs",
 * "age", ...): in a ledger import of 320-byte lines, two thirds of each
 * line.  The event log stores a line as a template, kept once in the
 * shapes table, and the line's values alone: the template is the line's
 * keys and nesting with a placeholder byte where each value was, the
 * values are the value tokens as the client wrote them (strings without
 * their quotes), joined by EVLOG_SEP.  The event's id and integer ts are
 * in columns of their own, and their places in the template are marked
 * too.  A strict JSON line has no raw control character in or between
 * its tokens, so these bytes cannot be mistaken for the line's own.
 *
 * Decoding gives back the line's JSON value, compact: whitespace between
 * tokens is not kept, nor the escapes of the id (rewritten by the JSON
 * string writer).  Everything else, key order and number spelling
 * included, is as sent.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"

#define EVLOG_VALUE	'\x1f'	/* a value, from the values */
#define EVLOG_STRING	'\x1e'	/* a string value, its quotes in the template */
#define EVLOG_ID	'\x1d'	/* the id, from its column */
#define EVLOG_TS	'\x1c'	/* the ts, from its column */
#define EVLOG_SEP	'\x1f'	/* between two values */

struct enc {
	const char	*p, *end;
	struct buf	*tmpl, *vals;
	int		 nvals;
};

static void
ws(struct enc *e)
{
	while (e->p < e->end && (*e->p == ' ' || *e->p == '\t' ||
	    *e->p == '\r' || *e->p == '\n'))
		e->p++;
}

/*
 * The end of the string token at p (after its closing quote), or NULL: a
 * quote not escaped, that is after an even run of backslashes.  memchr
 * takes most of a line in a few instructions a byte.
 */
static const char *
string_end(const char *p, const char *end)
{
	const char *q, *b;

	for (p++; p < end; p = q + 1) {
		if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
			return NULL;
		for (b = q; b > p && b[-1] == '\\'; b--)
			;
		if ((q - b) % 2 == 0)
			return q + 1;
	}
	return NULL;
}

/* The end of the scalar or array token at p, or NULL. */
static const char *
token_end(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		switch (*p) {
		case '"':
			if ((p = string_end(p, end)) == NULL)
				return NULL;
			if (depth == 0)
				return p;
			continue;
		case '[':
		case '{':
			depth++;
			break;
		case ']':
		case '}':
			if (depth == 0)
				return p;	/* the enclosing object's */
			if (--depth == 0)
				return p + 1;
			break;
		case ',':
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			if (depth == 0)
				return p;
			break;
		}
		p++;
	}
	return depth == 0 ? p : NULL;
}

static void
add_value(struct enc *e, const char *s, size_t n)
{
	if (e->nvals++ > 0)
		buf_addc(e->vals, EVLOG_SEP);
	buf_add(e->vals, s, n);
}

static int
all_digits(const char *s, const char *end)
{
	if (s == end)
		return 0;
	for (; s < end; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

#define KEY_IS(k, kend, name) \
	((size_t)((kend) - (k)) == sizeof(name) + 1 && \
	memcmp((k) + 1, name, sizeof(name) - 1) == 0)

/* The object at e->p, into template and values; top: the line itself. */
static int
enc_object(struct enc *e, int top, int has_id)
{
	const char *k, *kend, *v, *vend;
	int n = 0;

	buf_addc(e->tmpl, '{');
	e->p++;
	for (;;) {
		ws(e);
		if (e->p < e->end && *e->p == '}' && n == 0)
			break;
		if (e->p >= e->end || *e->p != '"' ||
		    (kend = string_end(e->p, e->end)) == NULL)
			return -1;
		k = e->p;
		e->p = kend;
		ws(e);
		if (e->p >= e->end || *e->p++ != ':')
			return -1;
		ws(e);
		if (n++ > 0)
			buf_addc(e->tmpl, ',');
		buf_add(e->tmpl, k, (size_t)(kend - k));
		buf_addc(e->tmpl, ':');
		if (e->p < e->end && *e->p == '{') {
			if (enc_object(e, 0, 0) != 0)
				return -1;
		} else {
			v = e->p;
			if ((vend = token_end(v, e->end)) == NULL)
				return -1;
			e->p = vend;
			if (top && has_id && *v == '"' && KEY_IS(k, kend, "id"))
				buf_addc(e->tmpl, EVLOG_ID);
			else if (top && KEY_IS(k, kend, "ts") &&
			    all_digits(v, vend))
				buf_addc(e->tmpl, EVLOG_TS);
			else if (top && KEY_IS(k, kend, "type"))
				buf_add(e->tmpl, v, (size_t)(vend - v));
			else if (*v == '"') {
				buf_addc(e->tmpl, EVLOG_STRING);
				add_value(e, v + 1, (size_t)(vend - v) - 2);
			} else {
				buf_addc(e->tmpl, EVLOG_VALUE);
				add_value(e, v, (size_t)(vend - v));
			}
		}
		ws(e);
		if (e->p < e->end && *e->p == ',') {
			e->p++;
			continue;
		}
		break;
	}
	if (e->p >= e->end || *e->p != '}')
		return -1;
	e->p++;
	buf_addc(e->tmpl, '}');
	return 0;
}

/*
 * Split a checked JSON object line into template and values (appended);
 * has_id: the line's "id" is stored in a column.  -1 if the line is not
 * one object (the caller then stores it whole).
 */
int
evlog_encode(const char *line, size_t len, int has_id, struct buf *tmpl,
    struct buf *vals)
{
	struct enc e = { line, line + len, tmpl, vals, 0 };

	ws(&e);
	if (e.p >= e.end || *e.p != '{' || enc_object(&e, 1, has_id) != 0)
		return -1;
	ws(&e);
	return e.p == e.end ? 0 : -1;
}

/*
 * The values of a line that has the shape of tmpl, as evlog_encode would
 * give them, in one pass that compares the template's keys with memcmp
 * instead of taking the line apart (a run of lines of one shape); -1 if
 * the line differs from tmpl anywhere, whitespace included (vals then
 * holds garbage).
 */
int
evlog_match(const char *line, size_t len, const char *tmpl, size_t tlen,
    struct buf *vals)
{
	const char *p = line, *end = line + len, *t = tmpl, *tend = tmpl + tlen;
	const char *lit, *v;
	struct enc e = { NULL, NULL, NULL, vals, 0 };

	while (t < tend) {
		for (lit = t; t < tend && (unsigned char)*t >= 0x20; t++)
			;
		if ((size_t)(end - p) < (size_t)(t - lit) ||
		    memcmp(p, lit, (size_t)(t - lit)) != 0)
			return -1;
		p += t - lit;
		if (t == tend)
			break;
		v = p;
		switch (*t++) {
		case EVLOG_STRING:	/* the value without its quotes */
			if (p >= end || *p != '"' ||
			    (p = string_end(p, end)) == NULL)
				return -1;
			v++;
			add_value(&e, v, (size_t)(p - 1 - v));
			continue;
		case EVLOG_VALUE:
			if (p >= end || *p == '"' || *p == '{' ||
			    (p = token_end(p, end)) == NULL || p == v)
				return -1;
			break;
		case EVLOG_ID:
			if (p >= end || *p != '"' ||
			    (p = string_end(p, end)) == NULL)
				return -1;
			continue;
		case EVLOG_TS:
			while (p < end && *p >= '0' && *p <= '9')
				p++;
			if (p == v)
				return -1;
			continue;
		default:
			return -1;
		}
		add_value(&e, v, (size_t)(p - v));
	}
	return p == end ? 0 : -1;
}

/* Has the template a "ts" key at the top? */
static int
has_ts(const char *t)
{
	const char *end = t + strlen(t), *s;
	int depth = 0;

	for (; t < end; t++) {
		if (*t == '{')
			depth++;
		else if (*t == '}')
			depth--;
		else if (*t == '"') {
			if ((s = string_end(t, end)) == NULL)
				return 0;
			if (depth == 1 && s - t == 4 && memcmp(t, "\"ts\"", 4)
			    == 0 && *s == ':')
				return 1;
			t = s - 1;
		}
	}
	return 0;
}

/*
 * Append the line of a template, its values, id and ts.  with_ts: start
 * with "ts" when the line had none (the wall clock stamped it).
 */
void
evlog_decode(struct buf *out, const char *tmpl, const char *vals,
    size_t vlen, const char *id, int64_t ts, int with_ts)
{
	const char *t, *v, *vend, *sep;

	if (vals == NULL)	/* none */
		vals = "";
	v = vals;
	vend = vals + vlen;
	if (with_ts && !has_ts(tmpl) && tmpl[0] == '{') {
		buf_adds(out, "{\"ts\":");
		buf_add_int(out, ts);
		if (tmpl[1] != '}')
			buf_addc(out, ',');
		tmpl++;
	}
	for (t = tmpl; *t != '\0'; t++) {
		switch (*t) {
		case EVLOG_VALUE:
		case EVLOG_STRING:
			if ((sep = memchr(v, EVLOG_SEP, (size_t)(vend - v))) ==
			    NULL)
				sep = vend;
			if (*t == EVLOG_STRING)
				buf_addc(out, '"');
			buf_add(out, v, (size_t)(sep - v));
			if (*t == EVLOG_STRING)
				buf_addc(out, '"');
			v = sep < vend ? sep + 1 : vend;
			break;
		case EVLOG_ID:
			buf_add_json_cstr(out, id != NULL ? id : "");
			break;
		case EVLOG_TS:
			buf_add_int(out, ts);
			break;
		default:
			buf_addc(out, *t);
		}
	}
}

/* The shapes in memory: an open-addressing table, bounded. */
#define SHAPES_SLOTS	(2 * EVLOG_SHAPES_MAX)

static uint64_t
shape_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h | 1;	/* 0 marks a free slot */
}

void
shapes_init(struct shapes *sh)
{
	sh->v = xcalloc(SHAPES_SLOTS, sizeof *sh->v);
	sh->last = NULL;
	sh->n = 0;
	sh->next = 1;
}

void
shapes_free(struct shapes *sh)
{
	size_t i;

	for (i = 0; sh->v != NULL && i < SHAPES_SLOTS; i++)
		free(sh->v[i].tmpl);
	free(sh->v);
	sh->v = NULL;
}

static struct shape *
shapes_slot(const struct shapes *sh, const char *tmpl, size_t len,
    uint64_t h)
{
	size_t i = h % SHAPES_SLOTS;

	for (;; i = (i + 1) % SHAPES_SLOTS) {
		struct shape *s = &sh->v[i];

		if (s->hash == 0 || (s->hash == h && s->len == len &&
		    memcmp(s->tmpl, tmpl, len) == 0))
			return s;
	}
}

/*
 * The id of a template, 0 if unknown.  Lines come in runs of one shape (a
 * client's import): the last one found is tried first, without hashing.
 */
int64_t
shapes_find(struct shapes *sh, const char *tmpl, size_t len)
{
	struct shape *s = sh->last;

	if (s != NULL && s->len == len && memcmp(s->tmpl, tmpl, len) == 0)
		return s->id;
	s = shapes_slot(sh, tmpl, len, shape_hash(tmpl, len));
	if (s->hash != 0)
		sh->last = s;
	return s->id;
}

/* Remember a template under id; -1 if the table or template is too big. */
int
shapes_add(struct shapes *sh, int64_t id, const char *tmpl, size_t len)
{
	uint64_t h = shape_hash(tmpl, len);
	struct shape *s;

	if (sh->n >= EVLOG_SHAPES_MAX || len > EVLOG_SHAPE_MAX_BYTES)
		return -1;
	s = shapes_slot(sh, tmpl, len, h);
	if (s->hash == 0) {
		s->hash = h;
		s->tmpl = xmalloc(len + 1);
		memcpy(s->tmpl, tmpl, len);
		s->tmpl[len] = '\0';
		s->len = len;
		sh->n++;
	}
	s->id = id;
	sh->last = s;
	if (id >= sh->next)
		sh->next = id + 1;
	return 0;
}

/* A stored template: kept if there is room, numbered after either way. */
void
shapes_stored(struct shapes *sh, int64_t id, const char *tmpl, size_t len)
{
	shapes_add(sh, id, tmpl, len);
	if (id >= sh->next)
		sh->next = id + 1;
}

/*
 * Forget the templates of id first and after (their transaction rolled
 * back): the table is rebuilt from what stays.
 */
void
shapes_drop(struct shapes *sh, int64_t first)
{
	struct shape *old = sh->v;
	size_t i;

	shapes_init(sh);
	for (i = 0; i < SHAPES_SLOTS; i++) {
		if (old[i].hash != 0 && old[i].id < first)
			shapes_add(sh, old[i].id, old[i].tmpl, old[i].len);
		free(old[i].tmpl);
	}
	free(old);
	sh->next = first;
}
