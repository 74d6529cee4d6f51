/*
 * The condition language of rule files: literals (integer, decimal, bool,
 * string), names resolved at load time, comparisons, and/or/not, arithmetic,
 * parentheses, `in [ ... ]` and ceil(x), the least integer >= x.
 *
 * An expression is parsed once, type-checked against the names its scope
 * declares, and compiled into a small postfix program over a fixed stack.
 * Evaluating it reads slot values and allocates nothing.  Decimals are
 * scaled integers (millionths, DEC_ONE) so that sums and comparisons are
 * exact: 0.3 * 76 + 0.7 * 96 is 90, not 89.99999999999999.
 */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"

#define EXPR_STACK	64

enum tok {
	TK_END, TK_INT, TK_DEC, TK_STR, TK_NAME, TK_TRUE, TK_FALSE,
	TK_AND, TK_OR, TK_NOT, TK_IN, TK_LP, TK_RP, TK_LB, TK_RB, TK_COMMA,
	TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
	TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PCT, TK_ERR
};

enum op {
	OP_PUSH, OP_PUSHS, OP_LOAD, OP_I2D, OP_NEG,
	OP_ADD, OP_SUB, OP_MULI, OP_MULD, OP_DIVI, OP_DIVD, OP_MOD,
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_SEQ, OP_SNE,
	OP_NOT, OP_JF, OP_JT, OP_POP, OP_IN, OP_INS, OP_CEIL
};

struct insn {
	enum op		 op;
	int64_t		 arg;		/* literal, slot, jump target, count */
	const char	*s;		/* OP_PUSHS */
	int64_t		*set;		/* OP_IN: arg values */
	char		**sset;		/* OP_INS: arg strings */
};

/*
 * The expression's tree, for explain: one node per name read, comparison,
 * and/or chain (one node for `a and b and c`), not, and each operand of a
 * chain, in post-order, each with its source text and the instructions
 * [first, end) that compute it.  Evaluating never looks at it.
 */
enum nkind { N_LOAD, N_LEAF, N_AND, N_OR, N_NOT };
struct enode {
	uint32_t	 from, to;	/* bytes of src */
	uint32_t	 first, end;	/* instructions */
	int32_t		 parent;	/* -1: the root */
	uint8_t		 kind;		/* enum nkind */
	uint8_t		 type;		/* N_LOAD: enum vtype */
};

struct expr {
	struct insn	*code;
	size_t		 n;
	char		**strs;		/* owned string literals */
	size_t		 nstrs;
	enum vtype	 type;
	char		*src;		/* as written, for explain */
	struct enode	*nodes;
	size_t		 nnodes;
};

struct parser {
	const char		*src;
	size_t			 pos, tokpos;
	size_t			 lastend;	/* of the token before tok */
	enum tok		 tok;
	int64_t			 ival;
	char			*sval;		/* TK_STR and TK_NAME text */
	const struct expr_scope	*scope;
	struct expr		*e;
	char			*err;		/* first error */
	size_t			 errpos;
	int			 depth, maxdepth;
	int			 nest;
};

static const char *const type_names[] = { "integer", "decimal", "bool",
    "string" };

const char *
vtype_name(enum vtype t)
{
	return type_names[t];
}

static void
perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (p->err != NULL)
		return;
	va_start(ap, fmt);
	p->err = xvasprintf(fmt, ap);
	va_end(ap);
	p->errpos = pos;
}

/* Parse a decimal literal "123", "-1.5", "0.000001" into millionths. */
int
dec_parse(const char *s, size_t n, int64_t *out)
{
	int64_t ip = 0, fp = 0;
	size_t i = 0, fd = 0;
	int neg = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i >= n || !isdigit((unsigned char)s[i]))
		return -1;
	for (; i < n && isdigit((unsigned char)s[i]); i++) {
		if (ip > (INT64_MAX / DEC_ONE - 9) / 10)
			return -1;
		ip = ip * 10 + (s[i] - '0');
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !isdigit((unsigned char)s[i]))
			return -1;
		for (; i < n && isdigit((unsigned char)s[i]); i++) {
			if (fd >= 6)
				return -1;	/* finer than a millionth */
			fp = fp * 10 + (s[i] - '0');
			fd++;
		}
		for (; fd < 6; fd++)
			fp *= 10;
	}
	if (i != n)
		return -1;
	*out = (ip * DEC_ONE + fp) * (neg ? -1 : 1);
	return 0;
}

/* Format millionths the way a person writes them: 90, 76.5, 0.000001. */
void
dec_format(int64_t v, char *buf, size_t len)
{
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t ip = a / DEC_ONE, fp = a % DEC_ONE;
	char frac[8];
	int i;

	if (fp == 0) {
		snprintf(buf, len, "%s%llu", v < 0 ? "-" : "",
		    (unsigned long long)ip);
		return;
	}
	snprintf(frac, sizeof frac, "%06llu", (unsigned long long)fp);
	for (i = 5; i > 0 && frac[i] == '0'; i--)
		frac[i] = '\0';
	snprintf(buf, len, "%s%llu.%s", v < 0 ? "-" : "",
	    (unsigned long long)ip, frac);
}

static enum tok
lex(struct parser *p)
{
	const char *s = p->src;
	size_t i = p->pos, start;

	p->lastend = i;
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
		i++;
	p->tokpos = i;
	free(p->sval);
	p->sval = NULL;
	if (s[i] == '\0') {
		p->pos = i;
		return p->tok = TK_END;
	}
	start = i;
	if (isdigit((unsigned char)s[i])) {
		int isdec = 0;

		while (isdigit((unsigned char)s[i]))
			i++;
		if (s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
			isdec = 1;
			i++;
			while (isdigit((unsigned char)s[i]))
				i++;
		}
		if (isalpha((unsigned char)s[i]) || s[i] == '_') {
			perr(p, start, "malformed number");
			p->pos = i;
			return p->tok = TK_ERR;
		}
		p->pos = i;
		if (isdec) {
			if (dec_parse(s + start, i - start, &p->ival) != 0) {
				perr(p, start, "decimal literal out of range "
				    "or finer than a millionth");
				return p->tok = TK_ERR;
			}
			return p->tok = TK_DEC;
		}
		errno = 0;
		p->ival = strtoll(s + start, NULL, 10);
		if (errno != 0 || p->ival > INT64_MAX / DEC_ONE) {
			perr(p, start, "integer literal out of range");
			return p->tok = TK_ERR;
		}
		return p->tok = TK_INT;
	}
	if (isalpha((unsigned char)s[i]) || s[i] == '_') {
		while (isalnum((unsigned char)s[i]) || s[i] == '_' ||
		    s[i] == '.')
			i++;
		p->pos = i;
		p->sval = xstrndup(s + start, i - start);
		if (strcmp(p->sval, "and") == 0) return p->tok = TK_AND;
		if (strcmp(p->sval, "or") == 0) return p->tok = TK_OR;
		if (strcmp(p->sval, "not") == 0) return p->tok = TK_NOT;
		if (strcmp(p->sval, "in") == 0) return p->tok = TK_IN;
		if (strcmp(p->sval, "true") == 0) return p->tok = TK_TRUE;
		if (strcmp(p->sval, "false") == 0) return p->tok = TK_FALSE;
		return p->tok = TK_NAME;
	}
	if (s[i] == '"' || s[i] == '\'') {
		char q = s[i++];
		struct buf b = { 0 };

		while (s[i] != q) {
			if (s[i] == '\0') {
				buf_free(&b);
				perr(p, start, "unterminated string");
				p->pos = i;
				return p->tok = TK_ERR;
			}
			if (s[i] == '\\' && (s[i + 1] == q || s[i + 1] == '\\'))
				i++;
			buf_addc(&b, s[i++]);
		}
		p->pos = i + 1;
		p->sval = b.p != NULL ? buf_steal(&b) : xstrdup("");
		return p->tok = TK_STR;
	}
	p->pos = i + 1;
	switch (s[i]) {
	case '(': return p->tok = TK_LP;
	case ')': return p->tok = TK_RP;
	case '[': return p->tok = TK_LB;
	case ']': return p->tok = TK_RB;
	case ',': return p->tok = TK_COMMA;
	case '+': return p->tok = TK_PLUS;
	case '-': return p->tok = TK_MINUS;
	case '*': return p->tok = TK_STAR;
	case '/': return p->tok = TK_SLASH;
	case '%': return p->tok = TK_PCT;
	case '=':
		if (s[i + 1] == '=') {
			p->pos++;
			return p->tok = TK_EQ;
		}
		perr(p, start, "unexpected '=' (did you mean '=='?)");
		return p->tok = TK_ERR;
	case '!':
		if (s[i + 1] == '=') {
			p->pos++;
			return p->tok = TK_NE;
		}
		perr(p, start, "unexpected '!' (use 'not')");
		return p->tok = TK_ERR;
	case '<':
		if (s[i + 1] == '=') {
			p->pos++;
			return p->tok = TK_LE;
		}
		return p->tok = TK_LT;
	case '>':
		if (s[i + 1] == '=') {
			p->pos++;
			return p->tok = TK_GE;
		}
		return p->tok = TK_GT;
	}
	perr(p, start, "unexpected character '%c'", isprint((unsigned char)s[i])
	    ? s[i] : '?');
	return p->tok = TK_ERR;
}

static struct insn *
emit(struct parser *p, enum op op, int64_t arg)
{
	struct expr *e = p->e;
	struct insn *in;

	e->code = xreallocarray(e->code, e->n + 1, sizeof *e->code);
	in = &e->code[e->n++];
	memset(in, 0, sizeof *in);
	in->op = op;
	in->arg = arg;
	return in;
}

static void
push_depth(struct parser *p, int delta)
{
	p->depth += delta;
	if (p->depth > p->maxdepth)
		p->maxdepth = p->depth;
}

/*
 * Record the node of kind whose code is [first, here) and whose text
 * starts at byte from and ends with the last token read.  An operand
 * that is already a node (the last one recorded, over the same code) is
 * not recorded twice.
 */
static void
node_add(struct parser *p, enum nkind kind, size_t first, size_t from,
    enum vtype t)
{
	struct expr *e = p->e;
	struct enode *nd;

	if (kind == N_LEAF && e->nnodes > 0 &&
	    e->nodes[e->nnodes - 1].first == first &&
	    e->nodes[e->nnodes - 1].end == e->n)
		return;
	e->nodes = xreallocarray(e->nodes, e->nnodes + 1, sizeof *e->nodes);
	nd = &e->nodes[e->nnodes++];
	nd->from = (uint32_t)from;
	nd->to = (uint32_t)(p->lastend > from ? p->lastend : from);
	nd->first = (uint32_t)first;
	nd->end = (uint32_t)e->n;
	nd->parent = -1;
	nd->kind = kind;
	nd->type = t == VT_ANY ? VT_BOOL : t;
}

static int parse_or(struct parser *, enum vtype *);
static int parse_primary(struct parser *, enum vtype *);

/* Bound the parser's recursion: rule files are outside input. */
static int
nest_enter(struct parser *p)
{
	if (++p->nest > EXPR_STACK) {
		p->nest--;
		perr(p, p->tokpos, "expression too deeply nested");
		return -1;
	}
	return 0;
}

static int
is_num(enum vtype t)
{
	return t == VT_INT || t == VT_DEC;
}

/*
 * ceil(x): an integer from a number, rounded up; what a staffing norm
 * such as "18 per 10,000 residents" needs (ceil(18 * r / 10000.0)).
 */
static int
parse_ceil(struct parser *p, enum vtype *t)
{
	size_t pos;

	lex(p);		/* ( */
	pos = p->tokpos;
	if (parse_primary(p, t) != 0)
		return -1;
	if (!is_num(*t)) {
		perr(p, pos, "ceil() needs a number, got %s", vtype_name(*t));
		return -1;
	}
	if (*t == VT_DEC)
		emit(p, OP_CEIL, 0);
	*t = VT_INT;
	return 0;
}

static int
parse_primary(struct parser *p, enum vtype *t)
{
	size_t pos = p->tokpos;
	struct insn *in;
	int slot;

	switch (p->tok) {
	case TK_INT:
	case TK_DEC:
		*t = p->tok == TK_INT ? VT_INT : VT_DEC;
		emit(p, OP_PUSH, p->ival);
		push_depth(p, 1);
		lex(p);
		return 0;
	case TK_TRUE:
	case TK_FALSE:
		*t = VT_BOOL;
		emit(p, OP_PUSH, p->tok == TK_TRUE);
		push_depth(p, 1);
		lex(p);
		return 0;
	case TK_STR:
		*t = VT_STR;
		p->e->strs = xreallocarray(p->e->strs, p->e->nstrs + 1,
		    sizeof *p->e->strs);
		p->e->strs[p->e->nstrs++] = p->sval;
		in = emit(p, OP_PUSHS, 0);
		in->s = p->sval;
		p->sval = NULL;
		push_depth(p, 1);
		lex(p);
		return 0;
	case TK_NAME:
		if (strcmp(p->sval, "ceil") == 0 && p->src[p->pos +
		    strspn(p->src + p->pos, " \t\r\n")] == '(')
			return parse_ceil(p, t);
		if (p->scope->resolve(p->scope->arg, p->sval, t, &slot) != 0) {
			const char *hint = NULL;

			if (p->scope->names != NULL)
				hint = did_you_mean(p->sval, p->scope->names,
				    p->scope->nnames);
			if (hint != NULL)
				perr(p, pos, "unknown name '%s' (did you mean "
				    "'%s'?)", p->sval, hint);
			else
				perr(p, pos, "unknown name '%s'", p->sval);
			return -1;
		}
		emit(p, OP_LOAD, slot);
		push_depth(p, 1);
		lex(p);
		node_add(p, N_LOAD, p->e->n - 1, pos, *t);
		return 0;
	case TK_LP:
		lex(p);
		if (parse_or(p, t) != 0)
			return -1;
		if (p->tok != TK_RP) {
			perr(p, p->tokpos, "expected ')'");
			return -1;
		}
		lex(p);
		return 0;
	case TK_END:
		perr(p, pos, "unexpected end of expression");
		return -1;
	case TK_ERR:
		return -1;
	default:
		perr(p, pos, "expected a value");
		return -1;
	}
}

static int
parse_unary(struct parser *p, enum vtype *t)
{
	size_t pos = p->tokpos;
	int rc;

	if (p->tok == TK_MINUS) {
		lex(p);
		if (nest_enter(p) != 0)
			return -1;
		rc = parse_unary(p, t);
		p->nest--;
		if (rc != 0)
			return -1;
		if (!is_num(*t)) {
			perr(p, pos, "'-' needs a number, got %s",
			    vtype_name(*t));
			return -1;
		}
		emit(p, OP_NEG, 0);
		return 0;
	}
	return parse_primary(p, t);
}

/* Promote the two numeric operands on the stack to a common type. */
static enum vtype
promote(struct parser *p, enum vtype l, enum vtype r, size_t lhs_end)
{
	struct insn conv = { .op = OP_I2D };
	size_t i;

	if (l == r)
		return l;
	if (r == VT_INT) {
		emit(p, OP_I2D, 0);
		return VT_DEC;
	}
	/* convert the left operand: insert after its code */
	emit(p, OP_POP, 0);	/* grow by one, then shift */
	memmove(&p->e->code[lhs_end + 1], &p->e->code[lhs_end],
	    (p->e->n - 1 - lhs_end) * sizeof conv);
	p->e->code[lhs_end] = conv;
	for (i = 0; i < p->e->n; i++)
		if ((p->e->code[i].op == OP_JF || p->e->code[i].op == OP_JT) &&
		    p->e->code[i].arg > (int64_t)lhs_end)
			p->e->code[i].arg++;
	/* and the nodes' code: the conversion is no part of the left's */
	for (i = 0; i < p->e->nnodes; i++) {
		if (p->e->nodes[i].first >= lhs_end)
			p->e->nodes[i].first++;
		if (p->e->nodes[i].end > lhs_end)
			p->e->nodes[i].end++;
	}
	return VT_DEC;
}

static int
parse_binary_num(struct parser *p, enum vtype *t,
    int (*sub)(struct parser *, enum vtype *), const enum tok *toks)
{
	enum vtype r;
	size_t pos, lhs_end;
	enum tok op;
	int i, found;

	if (sub(p, t) != 0)
		return -1;
	for (;;) {
		found = 0;
		for (i = 0; toks[i] != TK_END; i++)
			if (p->tok == toks[i])
				found = 1;
		if (!found)
			return 0;
		op = p->tok;
		pos = p->tokpos;
		lhs_end = p->e->n;
		lex(p);
		if (sub(p, &r) != 0)
			return -1;
		if (!is_num(*t) || !is_num(r)) {
			perr(p, pos, "arithmetic needs numbers, got %s and %s",
			    vtype_name(*t), vtype_name(r));
			return -1;
		}
		if (op == TK_PCT && (*t != VT_INT || r != VT_INT)) {
			perr(p, pos, "'%%' needs integers");
			return -1;
		}
		*t = promote(p, *t, r, lhs_end);
		switch (op) {
		case TK_PLUS:	emit(p, OP_ADD, 0); break;
		case TK_MINUS:	emit(p, OP_SUB, 0); break;
		case TK_STAR:	emit(p, *t == VT_INT ? OP_MULI : OP_MULD, 0);
				break;
		case TK_SLASH:	emit(p, *t == VT_INT ? OP_DIVI : OP_DIVD, 0);
				break;
		default:	emit(p, OP_MOD, 0); break;
		}
		push_depth(p, -1);
	}
}

static int
parse_mul(struct parser *p, enum vtype *t)
{
	static const enum tok toks[] = { TK_STAR, TK_SLASH, TK_PCT, TK_END };

	return parse_binary_num(p, t, parse_unary, toks);
}

static int
parse_add(struct parser *p, enum vtype *t)
{
	static const enum tok toks[] = { TK_PLUS, TK_MINUS, TK_END };

	return parse_binary_num(p, t, parse_mul, toks);
}

/* `x in [a, b, c]`: the list holds literals of x's type. */
static int
parse_in(struct parser *p, enum vtype t, size_t pos)
{
	struct insn *in;
	int64_t *set = NULL;
	char **sset = NULL;
	size_t n = 0;
	int64_t v;

	if (p->tok != TK_LB) {
		perr(p, p->tokpos, "expected '[' after 'in'");
		return -1;
	}
	lex(p);
	while (p->tok != TK_RB) {
		int neg = 0;

		if (n > 0) {
			if (p->tok != TK_COMMA) {
				perr(p, p->tokpos, "expected ',' or ']'");
				goto fail;
			}
			lex(p);
		}
		if (p->tok == TK_MINUS) {
			neg = 1;
			lex(p);
		}
		if (t == VT_STR && p->tok == TK_STR && !neg) {
			sset = xreallocarray(sset, n + 1, sizeof *sset);
			sset[n++] = p->sval;
			p->sval = NULL;
		} else if ((t == VT_INT && p->tok == TK_INT) ||
		    (t == VT_DEC && (p->tok == TK_DEC || p->tok == TK_INT))) {
			v = p->ival;
			if (t == VT_DEC && p->tok == TK_INT)
				v *= DEC_ONE;
			set = xreallocarray(set, n + 1, sizeof *set);
			set[n++] = neg ? -v : v;
		} else if (t == VT_BOOL && (p->tok == TK_TRUE ||
		    p->tok == TK_FALSE) && !neg) {
			set = xreallocarray(set, n + 1, sizeof *set);
			set[n++] = p->tok == TK_TRUE;
		} else {
			perr(p, p->tokpos, "list item must be a %s literal",
			    vtype_name(t));
			goto fail;
		}
		lex(p);
	}
	lex(p);
	in = emit(p, t == VT_STR ? OP_INS : OP_IN, (int64_t)n);
	in->set = set;
	in->sset = sset;
	(void)pos;
	return 0;
fail:
	free(set);
	while (n > 0 && sset != NULL)
		free(sset[--n]);
	free(sset);
	return -1;
}

static int
parse_cmp(struct parser *p, enum vtype *t)
{
	enum vtype r;
	enum tok op;
	size_t pos, lhs_end, first = p->e->n, from = p->tokpos;
	int negate = 0;

	if (parse_add(p, t) != 0)
		return -1;
	pos = p->tokpos;
	if (p->tok == TK_NOT || p->tok == TK_IN) {
		if (p->tok == TK_NOT) {
			lex(p);
			if (p->tok != TK_IN) {
				perr(p, p->tokpos, "expected 'in' after 'not'");
				return -1;
			}
			negate = 1;
		}
		lex(p);
		if (parse_in(p, *t, pos) != 0)
			return -1;
		if (negate)
			emit(p, OP_NOT, 0);
		*t = VT_BOOL;
		node_add(p, N_LEAF, first, from, VT_BOOL);
		return 0;
	}
	if (p->tok < TK_EQ || p->tok > TK_GE)
		return 0;
	op = p->tok;
	lhs_end = p->e->n;
	lex(p);
	if (parse_add(p, &r) != 0)
		return -1;
	if (is_num(*t) && is_num(r)) {
		promote(p, *t, r, lhs_end);
	} else if (*t != r) {
		perr(p, pos, "cannot compare %s with %s", vtype_name(*t),
		    vtype_name(r));
		return -1;
	} else if ((*t == VT_STR || *t == VT_BOOL) &&
	    op != TK_EQ && op != TK_NE) {
		perr(p, pos, "%ss can only be compared with == and !=",
		    vtype_name(*t));
		return -1;
	}
	if (*t == VT_STR)
		emit(p, op == TK_EQ ? OP_SEQ : OP_SNE, 0);
	else
		emit(p, (enum op)(OP_EQ + (op - TK_EQ)), 0);
	push_depth(p, -1);
	*t = VT_BOOL;
	node_add(p, N_LEAF, first, from, VT_BOOL);
	return 0;
}

static int
parse_not(struct parser *p, enum vtype *t)
{
	size_t pos = p->tokpos, first = p->e->n;
	int rc;

	if (p->tok == TK_NOT) {
		lex(p);
		if (nest_enter(p) != 0)
			return -1;
		rc = parse_not(p, t);
		p->nest--;
		if (rc != 0)
			return -1;
		if (*t != VT_BOOL) {
			perr(p, pos, "'not' needs a bool, got %s",
			    vtype_name(*t));
			return -1;
		}
		emit(p, OP_NOT, 0);
		node_add(p, N_NOT, first, pos, VT_BOOL);
		return 0;
	}
	return parse_cmp(p, t);
}

/* and/or short-circuit: JF/JT leave the deciding value on the stack. */
static int
parse_logic(struct parser *p, enum vtype *t, enum tok tok,
    int (*sub)(struct parser *, enum vtype *))
{
	enum vtype r;
	size_t pos, jump, first = p->e->n, from = p->tokpos, ofirst, ofrom;

	if (sub(p, t) != 0)
		return -1;
	if (p->tok == tok)	/* each operand is a node of the chain */
		node_add(p, N_LEAF, first, from, *t);
	while (p->tok == tok) {
		pos = p->tokpos;
		lex(p);
		jump = p->e->n;
		emit(p, tok == TK_AND ? OP_JF : OP_JT, 0);
		emit(p, OP_POP, 0);
		ofirst = p->e->n;
		ofrom = p->tokpos;
		if (sub(p, &r) != 0)
			return -1;
		node_add(p, N_LEAF, ofirst, ofrom, r);
		if (*t != VT_BOOL || r != VT_BOOL) {
			perr(p, pos, "'%s' needs bools, got %s and %s",
			    tok == TK_AND ? "and" : "or", vtype_name(*t),
			    vtype_name(r));
			return -1;
		}
		p->e->code[jump].arg = (int64_t)p->e->n;
		push_depth(p, -1);
		if (p->tok != tok)
			node_add(p, tok == TK_AND ? N_AND : N_OR, first, from,
			    VT_BOOL);
	}
	return 0;
}

static int
parse_and(struct parser *p, enum vtype *t)
{
	return parse_logic(p, t, TK_AND, parse_not);
}

static int
parse_or(struct parser *p, enum vtype *t)
{
	int rc;

	if (nest_enter(p) != 0)
		return -1;
	rc = parse_logic(p, t, TK_OR, parse_and);
	p->nest--;
	return rc;
}

/*
 * Each node's parent: nodes come in post-order, so the nodes a node holds
 * are those recorded before it, not yet taken, whose code lies in its own.
 */
static void
nodes_link(struct expr *e)
{
	int32_t *stack = xcalloc(e->nnodes + 1, sizeof *stack);
	size_t i, sp = 0;

	for (i = 0; i < e->nnodes; i++) {
		while (sp > 0 && e->nodes[stack[sp - 1]].first >=
		    e->nodes[i].first && e->nodes[stack[sp - 1]].end <=
		    e->nodes[i].end)
			e->nodes[stack[--sp]].parent = (int32_t)i;
		stack[sp++] = (int32_t)i;
	}
	free(stack);
}

/*
 * Compile src in scope.  On error returns NULL, sets *cause (caller frees)
 * and *errpos to the byte offset of the problem in src.
 */
struct expr *
expr_compile(const char *src, const struct expr_scope *scope,
    enum vtype want, char **cause, size_t *errpos)
{
	struct parser p;
	enum vtype t;

	memset(&p, 0, sizeof p);
	p.src = src;
	p.scope = scope;
	p.e = xcalloc(1, sizeof *p.e);
	lex(&p);
	if (p.tok == TK_END)
		perr(&p, 0, "empty expression");
	else if (parse_or(&p, &t) == 0) {
		if (p.tok != TK_END)
			perr(&p, p.tokpos, "unexpected '%.*s' after expression",
			    (int)(p.pos - p.tokpos), src + p.tokpos);
		else if (p.maxdepth > EXPR_STACK)
			perr(&p, 0, "expression too complex");
		else if (want != VT_ANY && t != want)
			perr(&p, 0, "expression must be %s %s, got %s",
			    want == VT_INT ? "an" : "a", vtype_name(want),
			    vtype_name(t));
	}
	free(p.sval);
	if (p.err != NULL) {
		*cause = p.err;
		*errpos = p.errpos;
		expr_free(p.e);
		return NULL;
	}
	p.e->type = t;
	p.lastend = strlen(src);
	while (p.lastend > 0 && strchr(" \t\r\n", src[p.lastend - 1]) != NULL)
		p.lastend--;
	node_add(&p, N_LEAF, 0, strspn(src, " \t\r\n"), t);
	nodes_link(p.e);
	p.e->src = xstrdup(src);
	return p.e;
}

void
expr_free(struct expr *e)
{
	size_t i;
	int64_t j;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++) {
		free(e->code[i].set);
		if (e->code[i].sset != NULL) {
			for (j = 0; j < e->code[i].arg; j++)
				free(e->code[i].sset[j]);
			free(e->code[i].sset);
		}
	}
	for (i = 0; i < e->nstrs; i++)
		free(e->strs[i]);
	free(e->strs);
	free(e->code);
	free(e->nodes);
	free(e->src);
	free(e);
}

static int64_t
dec_mul(int64_t a, int64_t b)
{
	__int128 r = (__int128)a * b / DEC_ONE;

	if (r > INT64_MAX)
		return INT64_MAX;
	if (r < INT64_MIN)
		return INT64_MIN;
	return (int64_t)r;
}

static int64_t
dec_div(int64_t a, int64_t b)
{
	__int128 r;

	if (b == 0)
		return 0;
	r = (__int128)a * DEC_ONE / b;
	if (r > INT64_MAX)
		return INT64_MAX;
	if (r < INT64_MIN)
		return INT64_MIN;
	return (int64_t)r;
}

/* Wrapping arithmetic: rule values are small, and overflow must not be UB. */
static int64_t
wrap_add(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t
wrap_sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

/*
 * What an evaluation did, for explain: per instruction, whether it ran and
 * the value it left on top of the stack.
 */
struct expr_trace {
	unsigned char	*ran;
	union val	*val;
};

/*
 * Evaluate e over slots.  Integer and decimal division by zero give 0,
 * and so does x % 0: a condition never fails at run time.  The one
 * evaluator: expr_eval calls it with a constant NULL trace, which the
 * compiler folds away, so that the engine's evaluations pay nothing for
 * explain's.
 */
static inline __attribute__((always_inline)) union val
eval_core(const struct expr *e, const union val *slots,
    struct expr_trace *tr)
{
	union val st[EXPR_STACK];
	size_t pc = 0;
	int sp = -1;
	int64_t a, b, k;

	while (pc < e->n) {
		const struct insn *in = &e->code[pc++];

		if (tr != NULL)
			tr->ran[pc - 1] = 1;

		switch (in->op) {
		case OP_PUSH:	st[++sp].i = in->arg; break;
		case OP_PUSHS:	st[++sp].s = in->s; break;
		case OP_LOAD:	st[++sp] = slots[in->arg]; break;
		case OP_I2D:	st[sp].i = (int64_t)((uint64_t)st[sp].i *
				    DEC_ONE);
				break;
		case OP_NEG:	st[sp].i = wrap_sub(0, st[sp].i); break;
		case OP_NOT:	st[sp].i = !st[sp].i; break;
		case OP_CEIL:	st[sp].i = st[sp].i / DEC_ONE +
				    (st[sp].i % DEC_ONE > 0); break;
		case OP_POP:	sp--; break;
		case OP_JF:	if (!st[sp].i) pc = (size_t)in->arg; break;
		case OP_JT:	if (st[sp].i) pc = (size_t)in->arg; break;
		case OP_IN:
			for (a = st[sp].i, b = 0, k = 0; k < in->arg; k++)
				if (in->set[k] == a)
					b = 1;
			st[sp].i = b;
			break;
		case OP_INS:
			for (b = 0, k = 0; k < in->arg; k++)
				if (strcmp(in->sset[k], st[sp].s ? st[sp].s :
				    "") == 0)
					b = 1;
			st[sp].i = b;
			break;
		case OP_SEQ:
		case OP_SNE:
			sp--;
			b = strcmp(st[sp].s ? st[sp].s : "",
			    st[sp + 1].s ? st[sp + 1].s : "") == 0;
			st[sp].i = in->op == OP_SEQ ? b : !b;
			break;
		default:
			b = st[sp--].i;
			a = st[sp].i;
			switch (in->op) {
			case OP_ADD:	a = wrap_add(a, b); break;
			case OP_SUB:	a = wrap_sub(a, b); break;
			case OP_MULI:	a = (int64_t)((uint64_t)a *
					    (uint64_t)b); break;
			case OP_MULD:	a = dec_mul(a, b); break;
			case OP_DIVI:	a = b == 0 || (a == INT64_MIN &&
					    b == -1) ? 0 : a / b; break;
			case OP_DIVD:	a = dec_div(a, b); break;
			case OP_MOD:	a = b == 0 || b == -1 ? 0 : a % b;
					break;
			case OP_EQ:	a = a == b; break;
			case OP_NE:	a = a != b; break;
			case OP_LT:	a = a < b; break;
			case OP_LE:	a = a <= b; break;
			case OP_GT:	a = a > b; break;
			case OP_GE:	a = a >= b; break;
			default:	abort();
			}
			st[sp].i = a;
		}
		if (tr != NULL && sp >= 0)
			tr->val[in - e->code] = st[sp];
	}
	assert(sp == 0);
	return st[0];
}

union val
expr_eval(const struct expr *e, const union val *slots)
{
	return eval_core(e, slots, NULL);
}

/* The value of node i; 0 if the evaluation did not reach it. */
static int
node_value(const struct expr *e, const struct expr_trace *tr, size_t i,
    union val *v)
{
	const struct enode *nd = &e->nodes[i];
	size_t j;
	int any = 0;

	if (nd->kind != N_AND && nd->kind != N_OR) {
		if (!tr->ran[nd->end - 1])
			return 0;
		*v = tr->val[nd->end - 1];
		return 1;
	}
	/* a chain's value is that of the last operand it evaluated */
	for (j = 0; j < i; j++)
		if (e->nodes[j].parent == (int32_t)i && node_value(e, tr, j, v))
			any = 1;
		else if (e->nodes[j].parent == (int32_t)i)
			break;
	return any;
}

/* A value of type t as JSON: a decimal exactly, a missing string null. */
void
expr_value_json(struct buf *b, enum vtype t, union val v)
{
	char num[32];

	switch (t) {
	case VT_INT:
		buf_add_int(b, v.i);
		break;
	case VT_DEC:
		dec_format(v.i, num, sizeof num);
		buf_adds(b, num);
		break;
	case VT_BOOL:
		buf_adds(b, v.i ? "true" : "false");
		break;
	default:
		buf_add_json_cstr(b, v.s);
	}
}

/* The names node i reads, each once, with their values, as "reads". */
static void
reads_json(const struct expr *e, const struct expr_trace *tr, size_t i,
    const char *const *names, struct buf *b)
{
	const struct enode *nd = &e->nodes[i], *m;
	size_t j, k, n = 0;

	buf_adds(b, ",\"reads\":{");
	for (j = 0; j <= i; j++) {
		m = &e->nodes[j];
		if (m->kind != N_LOAD || m->first < nd->first ||
		    m->end > nd->end || !tr->ran[m->first])
			continue;
		for (k = 0; k < j; k++)
			if (e->nodes[k].kind == N_LOAD && tr->ran[e->nodes[k].first]
			    && e->nodes[k].first >= nd->first &&
			    e->code[e->nodes[k].first].arg ==
			    e->code[m->first].arg)
				break;
		if (k < j)
			continue;
		if (n++ > 0)
			buf_addc(b, ',');
		buf_add_json_cstr(b, names[e->code[m->first].arg]);
		buf_addc(b, ':');
		expr_value_json(b, m->type, tr->val[m->first]);
	}
	buf_addc(b, '}');
}

static void
node_json(const struct expr *e, const struct expr_trace *tr, size_t i,
    const char *const *names, struct buf *b)
{
	static const char *const ops[] = { NULL, NULL, "and", "or", "not" };
	const struct enode *nd = &e->nodes[i];
	union val v;
	size_t j, n = 0;

	buf_adds(b, "{\"expr\":");
	buf_add_json_str(b, e->src + nd->from, nd->to - nd->from);
	if (ops[nd->kind] != NULL)
		buf_addf(b, ",\"op\":\"%s\"", ops[nd->kind]);
	buf_adds(b, ",\"value\":");
	if (node_value(e, tr, i, &v))
		expr_value_json(b, nd->kind == N_LOAD ? nd->type : i + 1 ==
		    e->nnodes ? e->type : VT_BOOL, v);
	else
		buf_adds(b, "null,\"evaluated\":false");
	if (ops[nd->kind] == NULL || nd->parent < 0)
		reads_json(e, tr, i, names, b);
	if (ops[nd->kind] != NULL) {
		buf_adds(b, ",\"operands\":[");
		for (j = 0; j < i; j++)
			if (e->nodes[j].parent == (int32_t)i) {
				if (n++ > 0)
					buf_addc(b, ',');
				node_json(e, tr, j, names, b);
			}
		buf_addc(b, ']');
	}
	buf_addc(b, '}');
}

/*
 * Evaluate e over slots as expr_eval does, and write what it did as a
 * JSON object: its text, value and the values of the names it read
 * (names: by slot), and for and/or/not the same of each operand, one
 * that the evaluation did not reach with "value":null.
 */
union val
expr_explain(const struct expr *e, const union val *slots,
    const char *const *names, struct buf *b)
{
	struct expr_trace tr;
	union val v;

	tr.ran = xcalloc(e->n, 1);
	tr.val = xcalloc(e->n, sizeof *tr.val);
	v = eval_core(e, slots, &tr);
	node_json(e, &tr, e->nnodes - 1, names, b);
	free(tr.ran);
	free(tr.val);
	return v;
}

/*
 * The slots e reads, each once, in the order it first reads them: at most
 * max of them into slots; returns how many it wrote.
 */
size_t
expr_reads(const struct expr *e, int *slots, size_t max)
{
	size_t i, j, n = 0;

	for (i = 0; i < e->n && n < max; i++) {
		if (e->code[i].op != OP_LOAD)
			continue;
		for (j = 0; j < n; j++)
			if (slots[j] == (int)e->code[i].arg)
				break;
		if (j == n)
			slots[n++] = (int)e->code[i].arg;
	}
	return n;
}

/* The expression as written. */
const char *
expr_src(const struct expr *e)
{
	return e->src;
}

enum vtype
expr_type(const struct expr *e)
{
	return e->type;
}
