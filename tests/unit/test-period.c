/*
 * Unit tests of period.c: half years, quarters and months, their order and
 * calendar.
 */
#include "zhilid.h"
#include "unit.h"

static struct period
P(const char *s)
{
	struct period p = { PERIOD_HALF, 0, 0 };

	period_parse(s, &p);
	return p;
}

static const char *
fmt(struct period p)
{
	static char buf[16];

	period_format(&p, buf, sizeof buf);
	return buf;
}

static void
test_parse(void)
{
	struct period p;

	CHECK(period_parse("2026H2", &p) == 0 && p.kind == PERIOD_HALF &&
	    p.year == 2026 && p.n == 2);
	CHECK(period_parse("2026Q4", &p) == 0 && p.kind == PERIOD_QUARTER &&
	    p.n == 4);
	CHECK(period_parse("2026H3", &p) != 0);
	CHECK(period_parse("2026Q0", &p) != 0);
	CHECK(period_parse("2026Q5", &p) != 0);
	CHECK(period_parse("2026h1", &p) != 0);
	CHECK(period_parse("26H1", &p) != 0);
	CHECK(period_parse("0999H1", &p) != 0);
	CHECK(period_parse("2026H1 ", &p) != 0);
	CHECK(period_parse("", &p) != 0);
	CHECK_STR(fmt(P("2025Q1")), "2025Q1");
}

static void
test_steps_cross_years(void)
{
	struct period p = P("2025H2"), q;

	q = period_step(&p, 1);
	CHECK_STR(fmt(q), "2026H1");
	q = period_step(&q, -1);
	CHECK_STR(fmt(q), "2025H2");
	p = P("2026Q1");
	CHECK_STR(fmt(period_step(&p, -1)), "2025Q4");
	CHECK_STR(fmt(period_step(&p, 4)), "2027Q1");
	CHECK(period_index(&(struct period){ PERIOD_HALF, 2026, 1 }) -
	    period_index(&(struct period){ PERIOD_HALF, 2025, 2 }) == 1);
}

static void
test_order(void)
{
	struct period a = P("2025H2"), b = P("2026H1"), c = P("2026H1");

	CHECK(period_cmp(&a, &b) < 0);
	CHECK(period_cmp(&b, &a) > 0);
	CHECK(period_cmp(&b, &c) == 0);
}

static void
test_period_of_local_time(void)
{
	clock_set_zone("Asia/Shanghai");
	/* 2026-06-30T23:30:00+08:00 is still H1 and Q2 in Shanghai */
	CHECK_STR(fmt(period_of(PERIOD_HALF, 1782833400)), "2026H1");
	CHECK_STR(fmt(period_of(PERIOD_QUARTER, 1782833400)), "2026Q2");
	/* 2026-07-01T00:00:00+08:00 */
	CHECK_STR(fmt(period_of(PERIOD_HALF, 1782835200)), "2026H2");
	CHECK_STR(fmt(period_of(PERIOD_QUARTER, 1782835200)), "2026Q3");
}

static void
test_codes(void)
{
	struct period h = P("2025H2"), q = P("2025Q4");
	char buf[16];
	int32_t c;

	/* codes round-trip, step across years and order within a kind */
	c = period_code(&h);
	period_code_format(c, buf, sizeof buf);
	CHECK_STR(buf, "2025H2");
	period_code_format(period_code_step(c, 1), buf, sizeof buf);
	CHECK_STR(buf, "2026H1");
	period_code_format(period_code_step(c, -3), buf, sizeof buf);
	CHECK_STR(buf, "2024H1");
	CHECK(period_code_step(c, 1) > c);
	c = period_code(&q);
	period_code_format(period_code_step(c, 1), buf, sizeof buf);
	CHECK_STR(buf, "2026Q1");
	CHECK(period_code_step(c, 1) > c);
	CHECK(period_decode(c).kind == PERIOD_QUARTER);
	CHECK(period_decode(period_code(&h)).kind == PERIOD_HALF);
	CHECK(period_code(&h) != 0);	/* 0 means "no period" */
}

static void
test_durations(void)
{
	int64_t d = 0;

	CHECK(duration_parse("3h", &d) == 0 && d == 10800);
	CHECK(duration_parse("365d", &d) == 0 && d == 31536000);
	CHECK(duration_parse("90s", &d) == 0 && d == 90);
	CHECK(duration_parse("30m", &d) == 0 && d == 1800);
	CHECK(duration_parse("0h", &d) != 0);
	CHECK(duration_parse("3 h", &d) != 0);
	CHECK(duration_parse("3hours", &d) != 0);
	CHECK(duration_parse("h", &d) != 0);
	CHECK(duration_parse("1y", &d) != 0);
	CHECK(duration_parse("-3h", &d) != 0);
	CHECK(duration_parse("99999999999d", &d) != 0);
}

static void
test_next_midnight(void)
{
	clock_set_zone("Asia/Shanghai");
	/* 2026-03-05T23:59:00+08:00 -> 2026-03-06T00:00:00+08:00 */
	CHECK(clock_next_midnight(1772726340) == 1772726400);
	/* exactly midnight: the next one */
	CHECK(clock_next_midnight(1772726400) == 1772726400 + 86400);
	/* 2026-03-05T00:00:01+08:00 */
	CHECK(clock_next_midnight(1772640001) == 1772726400);
	/* 2026-03-05T07:59:59+08:00 is the day before in UTC */
	CHECK(clock_next_midnight(1772668799) == 1772726400);
}

static void
test_months(void)
{
	struct period p, q;
	char buf[16];
	int32_t c;

	CHECK(period_parse("2026-05", &p) == 0 && p.kind == PERIOD_MONTH &&
	    p.year == 2026 && p.n == 5);
	CHECK(period_parse("2026-12", &p) == 0 && p.n == 12);
	CHECK(period_parse("2026-01", &p) == 0 && p.n == 1);
	CHECK(period_parse("2026-00", &p) != 0);
	CHECK(period_parse("2026-13", &p) != 0);
	CHECK(period_parse("2026-5", &p) != 0);
	CHECK(period_parse("2026-1a", &p) != 0);
	CHECK(period_parse("2026/05", &p) != 0);
	CHECK(period_parse("2026-05-01", &p) != 0);
	CHECK(period_parse("0999-05", &p) != 0);
	CHECK_STR(fmt(P("2026-03")), "2026-03");
	/* steps across years, both ways */
	p = P("2026-12");
	CHECK_STR(fmt(period_step(&p, 1)), "2027-01");
	p = P("2027-01");
	CHECK_STR(fmt(period_step(&p, -1)), "2026-12");
	CHECK_STR(fmt(period_step(&p, 25)), "2029-02");
	/* order */
	p = P("2026-12");
	q = P("2027-01");
	CHECK(period_cmp(&p, &q) < 0 && period_cmp(&q, &p) > 0);
	CHECK(period_index(&q) - period_index(&p) == 1);
	/* codes: consecutive months differ by 1, across years too */
	c = period_code(&p);
	CHECK(c != 0 && period_code(&q) == c + 1);
	CHECK(period_decode(c).kind == PERIOD_MONTH);
	period_code_format(period_code_step(c, 1), buf, sizeof buf);
	CHECK_STR(buf, "2027-01");
	period_code_format(period_code_step(c, -12), buf, sizeof buf);
	CHECK_STR(buf, "2025-12");
	/* no month code is a half year's or a quarter's */
	q = P("9999Q4");
	CHECK(period_code(&q) < period_code(&(struct period){ PERIOD_MONTH,
	    1000, 1 }));
	CHECK(period_decode(period_code(&q)).kind == PERIOD_QUARTER);
}

static void
test_month_instants(void)
{
	struct period p;

	clock_set_zone("Asia/Shanghai");
	/* 2026-05-01T00:00:00+08:00 .. 2026-06-01T00:00:00+08:00 */
	p = P("2026-05");
	CHECK(period_start(&p) == 1777564800);
	CHECK(period_end(&p) == 1780243200);
	/* the first instant belongs to the month, the one before does not */
	CHECK_STR(fmt(period_of(PERIOD_MONTH, 1777564800)), "2026-05");
	CHECK_STR(fmt(period_of(PERIOD_MONTH, 1777564799)), "2026-04");
	/* 2026-12 ends at 2027-01-01T00:00:00+08:00 */
	p = P("2026-12");
	CHECK(period_end(&p) == 1798732800);
	CHECK_STR(fmt(period_of(PERIOD_MONTH, 1798732800)), "2027-01");
	/* quarters and halves start on their first month */
	p = P("2026Q3");
	CHECK(period_start(&p) == 1782835200);
	p = P("2026H2");
	CHECK(period_start(&p) == 1782835200);
	/* other zones: the local month, with summer time */
	clock_set_zone("UTC");
	p = P("2026-05");
	CHECK(period_start(&p) == 1777593600);
	clock_set_zone("Europe/Berlin");
	/* 2026-04-01T00:00:00+02:00 (CEST) and 2026-03-01T00:00:00+01:00 */
	p = P("2026-04");
	CHECK(period_start(&p) == 1774994400);
	p = P("2026-03");
	CHECK(period_start(&p) == 1772319600);
	clock_set_zone("Asia/Shanghai");
}

static const struct unit_test tests[] = {
	{ "months", test_months },
	{ "month_instants", test_month_instants },
	{ "codes", test_codes },
	{ "durations", test_durations },
	{ "next_midnight", test_next_midnight },
	{ "parse", test_parse },
	{ "steps_cross_years", test_steps_cross_years },
	{ "order", test_order },
	{ "period_of_local_time", test_period_of_local_time },
};

UNIT_MAIN(tests)
