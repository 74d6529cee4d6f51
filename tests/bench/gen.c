/*
 * gen: a deterministic generator of household.upsert events for the
 * benchmarks. `gen N [SEED]` writes N NDJSON lines of about 330 bytes, like
 * the updates of a household ledger import (一户一档): distinct households
 * H0000001.., increasing Unix-second timestamps, all ten attributes of
 * DESIGN.md 4.1, drawn so that the four-colour classes come out in a
 * plausible mix (most households none or yellow, a few red/blue/orange).
 * The same N and SEED give the same bytes on every machine: the PRNG is
 * xorshift64* and nothing depends on the C library's rand().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SEED	20260101u
#define BASE_TS		1767196800	/* 2026-01-01T00:00:00+08:00 */
#define COMMUNITIES	500
#define GRIDS		12		/* per community */

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

int
main(int argc, char **argv)
{
	uint64_t n, seed = DEFAULT_SEED, i;
	static char obuf[1 << 20];

	if (argc < 2 || argc > 3 || parse_u64(argv[1], &n) == -1 ||
	    (argc == 3 && parse_u64(argv[2], &seed) == -1)) {
		fprintf(stderr, "usage: gen N [SEED]\n");
		return 2;
	}
	if (n > 9999999) {
		fprintf(stderr, "gen: N is at most 9999999 (7-digit household ids)\n");
		return 2;
	}
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;	/* never 0 */
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));

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

		printf("{\"type\":\"household.upsert\",\"id\":\"b-%" PRIu64 "\","
		    "\"ts\":%" PRIu64 ",\"household\":\"H%07" PRIu64 "\","
		    "\"community\":\"C%04u\",\"grid\":\"G%04u-%02u\","
		    "\"attrs\":{\"age\":%u,\"lives_alone\":%s,\"disabled\":%s,"
		    "\"low_income\":%s,\"chronic_ill\":%s,\"key_person\":%s,"
		    "\"mental_risk\":%s,\"petition_active\":%s,"
		    "\"dispute_open\":%s,\"left_behind_child\":%s}}\n",
		    i, (uint64_t)BASE_TS + i, i, comm, comm, grid, age,
		    b(lives_alone), b(disabled), b(low_income), b(chronic_ill),
		    b(key_person), b(mental_risk), b(petition), b(dispute),
		    b(left_behind));
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("gen: stdout");
		return 1;
	}
	return 0;
}
