/*
 * Time: RFC 3339 parsing and formatting in the configured time zone, and
 * the wall clock.  Parsing does its own calendar arithmetic (the offset is
 * in the text), so it does not depend on the process time zone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zhilid.h"
#include "engine.h"

/*
 * The hour whose offset is zone_off, per thread: zhilictl backtest formats
 * times on two threads.  The zone is set before any other thread starts;
 * clock_set_zone forgets the calling thread's hour only.
 */
static _Thread_local int64_t	zone_hour = -1;
static _Thread_local long	zone_off;

int
clock_set_zone(const char *zone)
{
	char *tz = xasprintf(":%s", zone);

	setenv("TZ", tz, 1);
	free(tz);
	tzset();
	zone_hour = -1;
	return 0;
}

int64_t
clock_wall(void)
{
	return (int64_t)time(NULL);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Parse "2026-12-31T12:00:00+08:00" (fractions of a second are dropped,
 * Z or z is UTC).  Returns -1 unless s is exactly such a timestamp.
 */
int
clock_parse(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, leap;
	size_t i = 19;
	int64_t t;

	if (strlen(s) < 20)
		return -1;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	if (s[i] == '.') {
		i++;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (s[i] == 'Z' || s[i] == 'z')
		i++;
	else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '-' ? -1 : 1;
		if (digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
		    digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		i += 6;
	} else
		return -1;
	if (s[i] != '\0')
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second counts as the second before */
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	if (t < 0 || t > TS_MAX)
		return -1;
	*out = t;
	return 0;
}

/* The civil date of a day number since 1970-01-01 (H. Hinnant). */
static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* The zone's UTC offset at t, remembered per hour: zones change on hours. */
static long
zone_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t / 3600 == zone_hour)
		return zone_off;
	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	zone_hour = t / 3600;
	zone_off = tm.tm_gmtoff;
	return zone_off;
}

static void
put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* Format t as RFC 3339 in the configured zone: 2026-12-31T12:00:00+08:00. */
void
clock_format(int64_t t, char *buf, size_t len)
{
	long off = zone_offset(t), a = off < 0 ? -off : off;
	int64_t local = t + off, days, secs;
	int y, m, d;

	days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	secs = local - days * 86400;
	civil_from_days(days, &y, &m, &d);
	if (len < 26 || y < 0 || y > 9999) {
		snprintf(buf, len, "%lld", (long long)t);
		return;
	}
	/* by hand: this runs for every alert */
	put2(buf, y / 100);
	put2(buf + 2, y % 100);
	buf[4] = '-';
	put2(buf + 5, m);
	buf[7] = '-';
	put2(buf + 8, d);
	buf[10] = 'T';
	put2(buf + 11, (int)(secs / 3600));
	buf[13] = ':';
	put2(buf + 14, (int)(secs / 60 % 60));
	buf[16] = ':';
	put2(buf + 17, (int)(secs % 60));
	buf[19] = off < 0 ? '-' : '+';
	put2(buf + 20, (int)(a / 3600));
	buf[22] = ':';
	put2(buf + 23, (int)(a % 3600 / 60));
	buf[25] = '\0';
}

/* The first local midnight after t, in the configured zone. */
int64_t
clock_next_midnight(int64_t t)
{
	long off = zone_offset(t);
	int64_t local = t + off, days, m;

	days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	m = (days + 1) * 86400 - off;
	/* an offset change during the day (summer time) moves midnight */
	if ((off = zone_offset(m)) != zone_offset(t))
		m = (days + 1) * 86400 - off;
	return m;
}

/* "90s", "30m", "3h", "365d": a whole number of one unit, in seconds. */
int
duration_parse(const char *s, int64_t *out)
{
	int64_t v = 0, unit;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 1000000000)
			return -1;
	}
	switch (*p) {
	case 's':	unit = 1; break;
	case 'm':	unit = 60; break;
	case 'h':	unit = 3600; break;
	case 'd':	unit = 86400; break;
	default:	return -1;
	}
	if (p[1] != '\0' || v == 0)
		return -1;
	*out = v * unit;
	return 0;
}
