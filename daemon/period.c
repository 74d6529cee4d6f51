/*
 * Assessment periods: half years (2026H1, 2026H2), quarters (2026Q1 ..
 * 2026Q4) and months (2026-01 .. 2026-12).  A period knows the one before
 * and after it across year ends (2026H1 follows 2025H2, 2027-01 follows
 * 2026-12), so that "twice in a row" can follow the calendar, which period
 * a moment falls in and when it starts and ends, in the configured zone.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "zhilid.h"

static int
per_year(enum period_kind k)
{
	return k == PERIOD_HALF ? 2 : k == PERIOD_QUARTER ? 4 : 12;
}

/* Months in one period of kind k. */
static int
months(enum period_kind k)
{
	return 12 / per_year(k);
}

/*
 * Parse "2026H2", "2026Q3" or "2026-07"; years 1000..9999.  0, or -1 if
 * malformed.
 */
int
period_parse(const char *s, struct period *p)
{
	size_t len = strlen(s);
	int year = 0, i;

	if (len != 6 && len != 7)
		return -1;
	for (i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		year = year * 10 + (s[i] - '0');
	}
	if (year < 1000)
		return -1;
	if (len == 7) {
		if (s[4] != '-' || s[5] < '0' || s[5] > '1' || s[6] < '0' ||
		    s[6] > '9')
			return -1;
		p->n = (s[5] - '0') * 10 + (s[6] - '0');
		if (p->n < 1 || p->n > 12)
			return -1;
		p->kind = PERIOD_MONTH;
		p->year = year;
		return 0;
	}
	if (s[4] == 'H' && (s[5] == '1' || s[5] == '2'))
		p->kind = PERIOD_HALF;
	else if (s[4] == 'Q' && s[5] >= '1' && s[5] <= '4')
		p->kind = PERIOD_QUARTER;
	else
		return -1;
	p->year = year;
	p->n = s[5] - '0';
	return 0;
}

void
period_format(const struct period *p, char *buf, size_t len)
{
	if (p->kind == PERIOD_MONTH)
		snprintf(buf, len, "%04d-%02d", p->year, p->n);
	else
		snprintf(buf, len, "%04d%c%d", p->year,
		    p->kind == PERIOD_HALF ? 'H' : 'Q', p->n);
}

/* What a period of kind k (or any, -1) looks like, for messages. */
const char *
period_kind_example(int k)
{
	switch (k) {
	case PERIOD_HALF:	return "a half year such as 2026H1";
	case PERIOD_QUARTER:	return "a quarter such as 2026Q1";
	case PERIOD_MONTH:	return "a month such as 2026-01";
	default:
		return "a period such as 2026H1, 2026Q1 or 2026-01";
	}
}

/* A number that orders periods of one kind: consecutive ones differ by 1. */
long
period_index(const struct period *p)
{
	return (long)p->year * per_year(p->kind) + (p->n - 1);
}

struct period
period_step(const struct period *p, int delta)
{
	struct period q = *p;
	long i = period_index(p) + delta;
	int k = per_year(p->kind);

	q.year = (int)(i / k);
	q.n = (int)(i % k) + 1;
	return q;
}

/* <0, 0, >0 as a is before, the same as, or after b (of one kind). */
int
period_cmp(const struct period *a, const struct period *b)
{
	long x = period_index(a), y = period_index(b);

	return x < y ? -1 : x > y;
}

/* The period of kind k that holds moment t, in the configured zone. */
struct period
period_of(enum period_kind k, int64_t t)
{
	time_t tt = (time_t)t;
	struct period p;
	struct tm tm;

	localtime_r(&tt, &tm);
	p.kind = k;
	p.year = tm.tm_year + 1900;
	p.n = tm.tm_mon / months(k) + 1;
	return p;
}

/*
 * The first instant of a period: local midnight of its first day in the
 * configured zone (mktime follows the zone's offset on that day).
 */
int64_t
period_start(const struct period *p)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = p->year - 1900;
	tm.tm_mon = (p->n - 1) * months(p->kind);
	tm.tm_mday = 1;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

/* The end of a period: the first instant of the next one. */
int64_t
period_end(const struct period *p)
{
	struct period q = period_step(p, 1);

	return period_start(&q);
}

/*
 * A period as one integer, as events and facts carry it: year * 8, plus
 * 0..1 for halves or 2..5 for quarters; months from MONTH_BASE on, year *
 * 12 plus 0..11, so that consecutive months differ by 1.  Codes of one
 * kind order as the periods do.
 */
#define MONTH_BASE	(1 << 20)	/* above 9999 * 8 */

int32_t
period_code(const struct period *p)
{
	if (p->kind == PERIOD_MONTH)
		return MONTH_BASE + p->year * 12 + (p->n - 1);
	return p->year * 8 + (p->kind == PERIOD_HALF ? 0 : 2) + (p->n - 1);
}

struct period
period_decode(int32_t c)
{
	struct period p;
	int r = c % 8;

	if (c >= MONTH_BASE) {
		p.kind = PERIOD_MONTH;
		p.year = (c - MONTH_BASE) / 12;
		p.n = (c - MONTH_BASE) % 12 + 1;
		return p;
	}
	p.year = c / 8;
	p.kind = r < 2 ? PERIOD_HALF : PERIOD_QUARTER;
	p.n = r < 2 ? r + 1 : r - 1;
	return p;
}

/* The code of the period n steps from the one of code c. */
int32_t
period_code_step(int32_t c, int n)
{
	struct period p = period_decode(c);

	p = period_step(&p, n);
	return period_code(&p);
}

void
period_code_format(int32_t c, char *buf, size_t len)
{
	struct period p = period_decode(c);

	period_format(&p, buf, len);
}

/* Periods as consecutive numbers (period_index) from their codes. */
long
period_code_index(int32_t c)
{
	struct period p = period_decode(c);

	return period_index(&p);
}

int64_t
period_code_start(int32_t c)
{
	struct period p = period_decode(c);

	return period_start(&p);
}

int64_t
period_code_end(int32_t c)
{
	struct period p = period_decode(c);

	return period_end(&p);
}
