/*
 * gen: a deterministic generator of events for the benchmarks. The same
 * arguments give the same bytes on every machine: the PRNG is xorshift64*
 * and nothing depends on the C library's rand().
 *
 *   gen N [SEED]
 *	N household.upsert lines of about 330 bytes, like the updates of a
 *	household ledger import (一户一档): distinct households H0000001..,
 *	increasing Unix-second timestamps, all ten attributes of
 *	rules/four_color.yaml, drawn so that the four-colour classes come
 *	out in a plausible
 *	mix (most households none or yellow, a few red/blue/orange).
 *   gen -e E N [SEED]
 *	the same lines over E households only (H0000001..E, in turn), so
 *	that the log grows and the entities do not (N may then pass
 *	9999999): the backtest benchmark's long logs.
 *   gen -k secretary [-t TS] N [SEED]
 *	3N secretary.score lines: secretaries S0000001.. of one scope (J1),
 *	community C<n % 300>, period 2026H1, the parts street, community and
 *	residents in turn, scores with one decimal around a per-secretary
 *	level; every line at TS (default 2026-06-30T12:00:00+08:00).
 *   gen -k order [-t TS] N [SEED]
 *	N work_order.created lines: orders O1..ON spread over 20
 *	communities, 8 grids each and 6 categories, every one at TS (default
 *	2026-01-01T00:00:00+08:00), so that their deadlines all fall due in
 *	the same second.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SEED	20260101u
#define BASE_TS		1767196800	/* 2026-01-01T00:00:00+08:00 */
#define SCORE_TS	1782792000	/* 2026-06-30T12:00:00+08:00 */
#define COMMUNITIES	500
#define GRIDS		12		/* per community */
#define SEC_COMMUNITIES	300
#define WO_COMMUNITIES	20
#define WO_GRIDS	8		/* per community */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* 1 with probability per_mille / 1000. */
static int
chance(unsigned per_mille)
{
	return (rng() >> 11) % 1000 < per_mille;
}

static unsigned
uniform(unsigned lo, unsigned hi)
{
	return lo + (unsigned)((rng() >> 11) % (hi - lo + 1));
}

static const char *
b(int v)
{
	return v ? "true" : "false";
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (*s == '-' || *s == '\0')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static void
gen_households(uint64_t n, uint64_t entities)
{
	uint64_t i, h;

	for (i = 1; i <= n; i++) {
		unsigned age, comm, grid;
		int lives_alone, disabled, low_income, chronic_ill, key_person;
		int mental_risk, petition, dispute, left_behind;

		/* Household heads: mostly of working age, a fifth elderly. */
		if (chance(200))
			age = uniform(60, 99);
		else
			age = uniform(22, 64);
		/* Living alone is much more common among the old. */
		lives_alone = age >= 70 ? chance(300) : chance(60);
		disabled = chance(40);
		low_income = chance(50);
		chronic_ill = age >= 60 ? chance(350) : chance(60);
		key_person = chance(8);
		mental_risk = chance(6);
		petition = chance(12);
		dispute = chance(20);
		left_behind = age < 60 ? chance(30) : chance(10);
		comm = uniform(1, COMMUNITIES);
		grid = uniform(1, GRIDS);
		h = entities > 0 ? 1 + (i - 1) % entities : i;

		printf("{\"type\":\"household.upsert\",\"id\":\"b-%" PRIu64 "\","
		    "\"ts\":%" PRIu64 ",\"household\":\"H%07" PRIu64 "\","
		    "\"community\":\"C%04u\",\"grid\":\"G%04u-%02u\","
		    "\"attrs\":{\"age\":%u,\"lives_alone\":%s,\"disabled\":%s,"
		    "\"low_income\":%s,\"chronic_ill\":%s,\"key_person\":%s,"
		    "\"mental_risk\":%s,\"petition_active\":%s,"
		    "\"dispute_open\":%s,\"left_behind_child\":%s}}\n",
		    i, (uint64_t)BASE_TS + i, h, comm, comm, grid, age,
		    b(lives_alone), b(disabled), b(low_income), b(chronic_ill),
		    b(key_person), b(mental_risk), b(petition), b(dispute),
		    b(left_behind));
	}
}

/* A score of 0.0..100.0 in tenths, near a secretary's level. */
static unsigned
score_near(unsigned level)
{
	int v = (int)level + (int)uniform(0, 200) - 100;

	return v < 0 ? 0 : v > 1000 ? 1000 : (unsigned)v;
}

static void
gen_secretaries(uint64_t n, uint64_t ts)
{
	static const char *const parts[] = { "street", "community",
	    "residents" };
	uint64_t i;
	unsigned level, s;
	int p;

	for (i = 1; i <= n; i++) {
		level = uniform(550, 950);	/* the secretary's own level */
		for (p = 0; p < 3; p++) {
			s = score_near(level);
			printf("{\"type\":\"secretary.score\",\"id\":\"s-%" PRIu64
			    "-%d\",\"ts\":%" PRIu64 ",\"secretary\":\"S%07" PRIu64
			    "\",\"community\":\"C%" PRIu64 "\",\"scope\":\"J1\","
			    "\"period\":\"2026H1\",\"part\":\"%s\","
			    "\"score\":%u.%u}\n", i, p, ts, i,
			    i % SEC_COMMUNITIES, parts[p], s / 10, s % 10);
		}
	}
}

static void
gen_orders(uint64_t n, uint64_t ts)
{
	static const char *const categories[] = { "环境卫生", "噪音扰民",
	    "物业服务", "道路设施", "供水供暖", "邻里纠纷" };
	uint64_t i;
	unsigned comm, grid, cat;

	for (i = 1; i <= n; i++) {
		comm = uniform(1, WO_COMMUNITIES);
		grid = uniform(1, WO_GRIDS);
		cat = uniform(0, 5);
		printf("{\"type\":\"work_order.created\",\"id\":\"w-%" PRIu64
		    "\",\"ts\":%" PRIu64 ",\"order\":\"O%" PRIu64 "\","
		    "\"community\":\"C%02u\",\"grid\":\"G%02u-%u\","
		    "\"category\":\"%s\"}\n", i, ts, i, comm, comm, grid,
		    categories[cat]);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: gen [-k household|secretary|order] [-t TS] "
	    "[-e ENTITIES] N [SEED]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	enum { HOUSEHOLD, SECRETARY, ORDER } kind = HOUSEHOLD;
	uint64_t n, seed = DEFAULT_SEED, ts = 0, entities = 0;
	int ch, have_ts = 0;
	static char obuf[1 << 20];

	while ((ch = getopt(argc, argv, "k:t:e:")) != -1) {
		switch (ch) {
		case 'e':
			if (parse_u64(optarg, &entities) == -1 ||
			    entities == 0 || entities > 9999999)
				usage();
			break;
		case 'k':
			if (strcmp(optarg, "household") == 0)
				kind = HOUSEHOLD;
			else if (strcmp(optarg, "secretary") == 0)
				kind = SECRETARY;
			else if (strcmp(optarg, "order") == 0)
				kind = ORDER;
			else
				usage();
			break;
		case 't':
			if (parse_u64(optarg, &ts) == -1 || ts > 253402300799u)
				usage();
			have_ts = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2 || parse_u64(argv[0], &n) == -1 ||
	    (argc == 2 && parse_u64(argv[1], &seed) == -1) ||
	    (have_ts && kind == HOUSEHOLD) ||
	    (entities > 0 && kind != HOUSEHOLD))
		usage();
	if (n > 9999999 && entities == 0) {
		fprintf(stderr, "gen: N is at most 9999999 (7-digit ids)\n");
		return 2;
	}
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;	/* never 0 */
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));

	switch (kind) {
	case HOUSEHOLD:
		gen_households(n, entities);
		break;
	case SECRETARY:
		gen_secretaries(n, have_ts ? ts : SCORE_TS);
		break;
	case ORDER:
		gen_orders(n, have_ts ? ts : BASE_TS);
		break;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("gen: stdout");
		return 1;
	}
	return 0;
}
