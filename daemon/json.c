/*
 * A socket line read as JSON.  RFC 8259 is held to strictly (cJSON alone
 * accepts "01", "1.", raw control characters and invalid UTF-8), and the
 * tree is built in the same pass, as cJSON nodes, so that the decoder
 * reads it with cJSON's accessors: one walk over the bytes instead of a
 * check and then cJSON's own parse.  The tree is the one cJSON would build
 * (same nodes, strings and numbers), and a line cJSON would refuse (a lone
 * surrogate escape) is refused here.
 *
 * json_check is the same grammar without a tree: the reference that the
 * unit tests and the decoder fuzzer hold json_parse to.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "engine.h"

#define JSON_MAX_DEPTH	128

/*
 * Trees live only until the next line is decoded, so their nodes and
 * strings come from a bump arena, reset per line: reading a line allocates
 * nothing once the arena has grown to the largest line seen (up to
 * ARENA_KEEP), and freeing a tree is resetting a counter.
 */
#define ARENA_CHUNK	(64 * 1024)
#define ARENA_KEEP	(1024 * 1024)

struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 size, used;
	max_align_t		 data[];
};

static struct arena_chunk *arena;

static void *
arena_alloc(size_t n)
{
	struct arena_chunk *c = arena;
	size_t need = (n + 15) & ~(size_t)15, size;

	if (c == NULL || c->size - c->used < need) {
		size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
		c = xmalloc(sizeof *c + size);
		c->size = size;
		c->used = 0;
		c->next = arena;
		arena = c;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

/*
 * Forget every tree.  One chunk stays for the next line; if the last line
 * took several, they become one of their total size, so that a line as
 * large takes no malloc the next time, up to ARENA_KEEP: a rare huge line
 * (a long array is 64 bytes a number) is not held on to for ever.
 */
void
json_arena_reset(void)
{
	struct arena_chunk *c, *next;
	size_t total = 0;

	if (arena == NULL)
		return;
	if (arena->next == NULL && arena->size <= ARENA_KEEP) {
		arena->used = 0;
		return;
	}
	for (c = arena; c != NULL; c = next) {
		next = c->next;
		total += c->size;
		free(c);
	}
	if (total > ARENA_KEEP) {
		arena = NULL;
		return;
	}
	arena = xmalloc(sizeof *arena + total);
	arena->size = total;
	arena->used = 0;
	arena->next = NULL;
}

void
json_arena_free(void)
{
	struct arena_chunk *next;

	for (; arena != NULL; arena = next) {
		next = arena->next;
		free(arena);
	}
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned c = s[0];
	size_t n, i;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	if ((size_t)(end - s) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* ASCII bytes that stand for themselves inside a JSON string. */
static const unsigned char json_plain[256] = {
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
	R16(0), R16(0),				/* control characters */
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* '"' */
	R16(1), R16(1),
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,	/* '\\' */
	R16(1), R16(1),
	/* 0x80..0xff: UTF-8, checked byte by byte */
#undef R16
};

/* Past one or more digits at s, or NULL if there is none. */
static const unsigned char *
skip_digits(const unsigned char *s, const unsigned char *end)
{
	if (s == end || *s < '0' || *s > '9')
		return NULL;
	while (s < end && *s >= '0' && *s <= '9')
		s++;
	return s;
}

#define JERR(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/*
 * Is s exactly one RFC 8259 JSON value, with optional white space around
 * it?  Returns 0, or -1 with a reason in err.  json_parse walks the same
 * grammar (jp_string, jp_number): keep the two in step.
 */
int
json_check(const char *str, size_t len, char *err, size_t errlen)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len;
	const unsigned char *start = s;
	char stack[JSON_MAX_DEPTH];
	const char *lit;
	size_t litlen;
	int depth = 0;
	enum { VALUE, AFTER_VALUE, KEY_OR_END, VALUE_OR_END, KEY } st = VALUE;

	for (;;) {
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' ||
		    *s == '\r'))
			s++;
		if (st == AFTER_VALUE) {
			if (depth == 0) {
				if (s != end)
					JERR("trailing bytes at offset %zu",
					    (size_t)(s - start));
				return 0;
			}
			if (s == end)
				JERR("unexpected end of input");
			if (*s == ',') {
				s++;
				st = stack[depth - 1] == '{' ? KEY : VALUE;
				continue;
			}
			if (*s == (stack[depth - 1] == '{' ? '}' : ']')) {
				s++;
				depth--;
				continue;
			}
			JERR("expected ',' or '%c' at offset %zu",
			    stack[depth - 1] == '{' ? '}' : ']',
			    (size_t)(s - start));
		}
		if (s == end)
			JERR("unexpected end of input");
		if ((st == KEY_OR_END && *s == '}') ||
		    (st == VALUE_OR_END && *s == ']')) {
			s++;
			depth--;
			st = AFTER_VALUE;
			continue;
		}
		if ((st == KEY || st == KEY_OR_END) && *s != '"')
			JERR("expected a string key at offset %zu",
			    (size_t)(s - start));
		switch (*s) {
		case '{':
		case '[':
			if (depth == JSON_MAX_DEPTH)
				JERR("nested deeper than %d", JSON_MAX_DEPTH);
			stack[depth++] = (char)*s;
			st = *s == '{' ? KEY_OR_END : VALUE_OR_END;
			s++;
			continue;
		case '"':
			s++;
			for (;;) {
				size_t n;

				/* the common case: a run of plain ASCII */
				while (s < end && json_plain[*s])
					s++;
				if (s == end)
					JERR("unterminated string");
				if (*s == '"')
					break;
				if (*s < 0x20)
					JERR("raw control character in string at "
					    "offset %zu", (size_t)(s - start));
				if (*s == '\\') {
					s++;
					if (s == end)
						JERR("unterminated string");
					if (*s == 'u') {
						if (end - s < 5 || !is_hex(s[1]) ||
						    !is_hex(s[2]) ||
						    !is_hex(s[3]) || !is_hex(s[4]))
							JERR("bad \\u escape at "
							    "offset %zu",
							    (size_t)(s - start));
						s += 5;
						continue;
					}
					if (strchr("\"\\/bfnrt", *s) == NULL ||
					    *s == '\0')
						JERR("bad escape at offset %zu",
						    (size_t)(s - start));
					s++;
					continue;
				}
				if ((n = utf8_len(s, end)) == 0)
					JERR("invalid UTF-8 at offset %zu",
					    (size_t)(s - start));
				s += n;
			}
			s++;
			if (st == KEY || st == KEY_OR_END) {
				while (s < end && (*s == ' ' || *s == '\t' ||
				    *s == '\n' || *s == '\r'))
					s++;
				if (s == end || *s != ':')
					JERR("expected ':' at offset %zu",
					    (size_t)(s - start));
				s++;
				st = VALUE;
				continue;
			}
			st = AFTER_VALUE;
			continue;
		case 't':
		case 'f':
		case 'n':
			lit = *s == 't' ? "true" : *s == 'f' ? "false" : "null";
			litlen = strlen(lit);
			if ((size_t)(end - s) < litlen ||
			    memcmp(s, lit, litlen) != 0)
				JERR("bad literal at offset %zu",
				    (size_t)(s - start));
			s += litlen;
			st = AFTER_VALUE;
			continue;
		default:
			break;
		}
		/* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
		if (*s == '-')
			s++;
		if (s == end || *s < '0' || *s > '9')
			JERR("unexpected character at offset %zu",
			    (size_t)(s - start));
		if (*s == '0')
			s++;
		else
			while (s < end && *s >= '0' && *s <= '9')
				s++;
		if (s < end && *s == '.' && (s = skip_digits(s + 1, end)) == NULL)
			JERR("bad fraction in a number");
		if (s < end && (*s == 'e' || *s == 'E')) {
			s++;
			if (s < end && (*s == '+' || *s == '-'))
				s++;
			if ((s = skip_digits(s, end)) == NULL)
				JERR("bad exponent in a number");
		}
		st = AFTER_VALUE;
	}
}

/*
 * json_parse: the grammar of json_check, walked by recursive descent, with
 * the same error for the same first fault.
 */
struct jp {
	const unsigned char	*s, *end, *start;
	char			*err;
	size_t			 errlen;
	int			 refused;	/* valid, but cJSON refuses it */
	int			 nul;		/* a \u0000 escape */
};

#define PERR(p, ...) do {						\
	snprintf((p)->err, (p)->errlen, __VA_ARGS__);			\
	return NULL;							\
} while (0)
#define OFF(p)	((size_t)((p)->s - (p)->start))

static cJSON	*jp_value(struct jp *, int);

static void
jp_ws(struct jp *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' ||
	    *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static cJSON *
jp_node(int type)
{
	cJSON *n = arena_alloc(sizeof *n);

	memset(n, 0, sizeof *n);
	n->type = type;
	return n;
}

static unsigned
hex4(const unsigned char *s)
{
	unsigned v = 0, i, c;

	for (i = 0; i < 4; i++) {
		c = s[i];
		v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* The character a checked one-character escape stands for. */
static int
unescaped(int c)
{
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return c;	/* " \ / */
	}
}

/*
 * Unescape the checked string body [s, end) into out as cJSON does: a
 * surrogate pair is one code point, a lone surrogate is refused.
 */
static void
jp_unescape(struct jp *p, const unsigned char *s, const unsigned char *end,
    char *out)
{
	unsigned char *o = (unsigned char *)out;
	unsigned cp, lo;

	while (s < end) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		if (s[1] != 'u') {
			*o++ = (unsigned char)unescaped(s[1]);
			s += 2;
			continue;
		}
		cp = hex4(s + 2);
		s += 6;
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			p->refused = 1;
			continue;
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - s < 6 || s[0] != '\\' || s[1] != 'u' ||
			    (lo = hex4(s + 2)) < 0xdc00 || lo > 0xdfff) {
				p->refused = 1;
				continue;
			}
			cp = 0x10000 + ((cp & 0x3ff) << 10 | (lo & 0x3ff));
			s += 6;
		}
		if (cp == 0)
			p->nul = 1;
		if (cp < 0x80)
			*o++ = (unsigned char)cp;
		else if (cp < 0x800) {
			*o++ = (unsigned char)(0xc0 | cp >> 6);
			*o++ = (unsigned char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			*o++ = (unsigned char)(0xe0 | cp >> 12);
			*o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
			*o++ = (unsigned char)(0x80 | (cp & 0x3f));
		} else {
			*o++ = (unsigned char)(0xf0 | cp >> 18);
			*o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
			*o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
			*o++ = (unsigned char)(0x80 | (cp & 0x3f));
		}
	}
	*o = '\0';
}

/* The string at p->s (its opening quote), decoded into the arena. */
static char *
jp_string(struct jp *p)
{
	const unsigned char *s = p->s + 1, *from = s, *end = p->end;
	int escaped = 0;
	size_t n;
	char *out;

	/* the grammar of json_check's string: keep the two in step */
	for (;;) {
		/* the common case: a run of plain ASCII */
		while (s < end && json_plain[*s])
			s++;
		if (s == end)
			PERR(p, "unterminated string");
		if (*s == '"')
			break;
		if (*s < 0x20) {
			p->s = s;
			PERR(p, "raw control character in string at offset "
			    "%zu", OFF(p));
		}
		if (*s == '\\') {
			escaped = 1;
			if (++s == end)
				PERR(p, "unterminated string");
			if (*s == 'u') {
				if (end - s < 5 || !is_hex(s[1]) ||
				    !is_hex(s[2]) || !is_hex(s[3]) ||
				    !is_hex(s[4])) {
					p->s = s;
					PERR(p, "bad \\u escape at offset %zu",
					    OFF(p));
				}
				s += 5;
				continue;
			}
			if (strchr("\"\\/bfnrt", *s) == NULL || *s == '\0') {
				p->s = s;
				PERR(p, "bad escape at offset %zu", OFF(p));
			}
			s++;
			continue;
		}
		if ((n = utf8_len(s, end)) == 0) {
			p->s = s;
			PERR(p, "invalid UTF-8 at offset %zu", OFF(p));
		}
		s += n;
	}
	n = (size_t)(s - from);
	out = arena_alloc(n + 1);
	if (escaped)
		jp_unescape(p, from, s, out);
	else {
		memcpy(out, from, n);
		out[n] = '\0';
	}
	p->s = s + 1;
	return out;
}

/*
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as cJSON reads it: with
 * strtod, or exactly without when it is an integer of 15 digits or fewer.
 */
static cJSON *
jp_number(struct jp *p)
{
	const unsigned char *s = p->s, *b = s, *end = p->end, *digits;
	char copy[64], *text;
	uint64_t u = 0;
	double d;
	size_t n;
	int exact;
	cJSON *v;

	/* the grammar of json_check's number: keep the two in step */
	if (*s == '-')
		s++;
	if (s == end || *s < '0' || *s > '9') {
		p->s = s;
		PERR(p, "unexpected character at offset %zu", OFF(p));
	}
	digits = s;
	if (*s == '0')
		s++;
	else
		while (s < end && *s >= '0' && *s <= '9')
			u = u * 10 + (uint64_t)(*s++ - '0');
	/* below 10^15, an integer is exact in a double: no strtod needed */
	exact = s - digits <= 15;
	if (s < end && (*s == '.' || *s == 'e' || *s == 'E')) {
		if (*s == '.' && (s = skip_digits(s + 1, end)) == NULL)
			PERR(p, "bad fraction in a number");
		if (s < end && (*s == 'e' || *s == 'E')) {
			s++;
			if (s < end && (*s == '+' || *s == '-'))
				s++;
			if ((s = skip_digits(s, end)) == NULL)
				PERR(p, "bad exponent in a number");
		}
		exact = 0;
	}
	p->s = s;
	if (exact)
		d = *b == '-' ? -(double)u : (double)u;
	else {
		/*
		 * strtod wants a terminated string; the line is not one.  It
		 * reads '.' as the point in the C locale, which zhilid never
		 * leaves (cJSON swaps in the locale's point instead).
		 */
		n = (size_t)(s - b);
		text = n < sizeof copy ? copy : arena_alloc(n + 1);
		memcpy(text, b, n);
		text[n] = '\0';
		d = strtod(text, NULL);
	}
	v = jp_node(cJSON_Number);
	v->valuedouble = d;
	if (d >= INT_MAX)
		v->valueint = INT_MAX;
	else if (d <= (double)INT_MIN)
		v->valueint = INT_MIN;
	else
		v->valueint = (int)d;
	return v;
}

/* Link child after *last under parent, as cJSON does (head->prev = tail). */
static void
jp_append(cJSON *parent, cJSON **last, cJSON *child)
{
	if (*last == NULL)
		parent->child = child;
	else {
		(*last)->next = child;
		child->prev = *last;
	}
	*last = child;
	parent->child->prev = child;
}

/*
 * Past the opening bracket (first) or a member or element (!first): 1 at
 * the container's close, 0 where the next one starts, -1 on a fault.
 */
static int
jp_next(struct jp *p, int close, int first)
{
	jp_ws(p);
	if (p->s == p->end) {
		snprintf(p->err, p->errlen, "unexpected end of input");
		return -1;
	}
	if (*p->s == close) {
		p->s++;
		return 1;
	}
	if (first)
		return 0;
	if (*p->s != ',') {
		snprintf(p->err, p->errlen, "expected ',' or '%c' at offset %zu",
		    close, OFF(p));
		return -1;
	}
	p->s++;
	return 0;
}

static cJSON *
jp_object(struct jp *p, int depth)
{
	cJSON *o = jp_node(cJSON_Object), *last = NULL, *v;
	char *key;
	int r;

	p->s++;
	for (r = jp_next(p, '}', 1); r == 0; r = jp_next(p, '}', 0)) {
		jp_ws(p);
		if (p->s == p->end)
			PERR(p, "unexpected end of input");
		if (*p->s != '"')
			PERR(p, "expected a string key at offset %zu", OFF(p));
		if ((key = jp_string(p)) == NULL)
			return NULL;
		jp_ws(p);
		if (p->s == p->end || *p->s != ':')
			PERR(p, "expected ':' at offset %zu", OFF(p));
		p->s++;
		if ((v = jp_value(p, depth + 1)) == NULL)
			return NULL;
		v->string = key;
		jp_append(o, &last, v);
	}
	return r > 0 ? o : NULL;
}

static cJSON *
jp_array(struct jp *p, int depth)
{
	cJSON *a = jp_node(cJSON_Array), *last = NULL, *v;
	int r;

	p->s++;
	for (r = jp_next(p, ']', 1); r == 0; r = jp_next(p, ']', 0)) {
		if ((v = jp_value(p, depth + 1)) == NULL)
			return NULL;
		jp_append(a, &last, v);
	}
	return r > 0 ? a : NULL;
}

/* A value at p->s; depth is the number of containers open around it. */
static cJSON *
jp_value(struct jp *p, int depth)
{
	const char *lit;
	size_t litlen;
	cJSON *v;

	jp_ws(p);
	if (p->s == p->end)
		PERR(p, "unexpected end of input");
	switch (*p->s) {
	case '{':
	case '[':
		if (depth == JSON_MAX_DEPTH)
			PERR(p, "nested deeper than %d", JSON_MAX_DEPTH);
		return *p->s == '{' ? jp_object(p, depth) : jp_array(p, depth);
	case '"':
		v = jp_node(cJSON_String);
		return (v->valuestring = jp_string(p)) != NULL ? v : NULL;
	case 't':
	case 'f':
	case 'n':
		lit = *p->s == 't' ? "true" : *p->s == 'f' ? "false" : "null";
		litlen = strlen(lit);
		if ((size_t)(p->end - p->s) < litlen ||
		    memcmp(p->s, lit, litlen) != 0)
			PERR(p, "bad literal at offset %zu", OFF(p));
		p->s += litlen;
		v = jp_node(*lit == 't' ? cJSON_True : *lit == 'f' ?
		    cJSON_False : cJSON_NULL);
		v->valueint = *lit == 't';
		return v;
	default:
		return jp_number(p);
	}
}

/*
 * The tree of the JSON text [str, str + len), or NULL with the reason in
 * err.  The tree lives in the arena until json_arena_reset.  *nul tells
 * whether a string held an escaped U+0000 (cut short in the tree).
 */
cJSON *
json_parse(const char *str, size_t len, int *nul, char *err, size_t errlen)
{
	struct jp p;
	cJSON *root;

	p.s = p.start = (const unsigned char *)str;
	p.end = p.s + len;
	p.err = err;
	p.errlen = errlen;
	p.refused = p.nul = 0;
	if ((root = jp_value(&p, 0)) != NULL) {
		jp_ws(&p);
		if (p.s != p.end) {
			snprintf(err, errlen, "trailing bytes at offset %zu",
			    OFF(&p));
			root = NULL;
		} else if (p.refused) {
			snprintf(err, errlen, "cannot parse JSON");
			root = NULL;
		}
	}
	if (root == NULL)
		json_arena_reset();
	*nul = p.nul;
	return root;
}
