/*
 * Assessment periods: half years (2026H1, 2026H2) and quarters (2026Q1 ..
 * 2026Q4).  A period knows the one before and after it across year ends
 * (2026H1 follows 2025H2), so that "twice in a row" can follow the
 * calendar, and which period a moment falls in, in the configured zone.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "zhilid.h"

static int
per_year(enum period_kind k)
{
	return k == PERIOD_HALF ? 2 : 4;
}

/* Parse "2026H2" or "2026Q3"; years 1000..9999.  0, or -1 if malformed. */
int
period_parse(const char *s, struct period *p)
{
	int year = 0, i;

	if (strlen(s) != 6)
		return -1;
	for (i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		year = year * 10 + (s[i] - '0');
	}
	if (year < 1000)
		return -1;
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
	snprintf(buf, len, "%04d%c%d", p->year,
	    p->kind == PERIOD_HALF ? 'H' : 'Q', p->n);
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
	p.n = k == PERIOD_HALF ? tm.tm_mon / 6 + 1 : tm.tm_mon / 3 + 1;
	return p;
}

/*
 * A period as one integer, as events and facts carry it: year * 8, plus
 * 0..1 for halves or 2..5 for quarters.  Codes of one kind order as the
 * periods do.
 */
int32_t
period_code(const struct period *p)
{
	return p->year * 8 + (p->kind == PERIOD_HALF ? 0 : 2) + (p->n - 1);
}

struct period
period_decode(int32_t c)
{
	struct period p;
	int r = c % 8;

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
