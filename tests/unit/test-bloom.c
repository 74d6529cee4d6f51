/* Unit tests of bloom.c: no false negatives; the false positive rate. */
#include <stdio.h>
#include <stdlib.h>

#include "zhilid.h"
#include "unit.h"

static uint64_t
key_hash(const char *prefix, int i)
{
	char s[32];

	snprintf(s, sizeof s, "%s%07d", prefix, i);
	return bloom_hash(BLOOM_SEED, s);
}

/*
 * Filled to 16 bits a key (the most before bloom_crowded asks for a larger
 * filter): every added key is found, and keys never added are taken for
 * present under 1% of the time.
 */
static void
test_crowded(void)
{
	struct bloom f = { 0 };
	int i, n, missed = 0, fp = 0, probes = 200000;

	bloom_init(&f, 0, (size_t)1 << 20);	/* 2^23 bits */
	n = (int)(f.nbits / 16);
	for (i = 0; i < n; i++)
		bloom_add(&f, key_hash("H", i));
	CHECK(bloom_crowded(&f) || f.nbits / 8 >= f.max_bytes);
	for (i = 0; i < n; i++)
		missed += !bloom_may(&f, key_hash("H", i));
	for (i = 0; i < probes; i++)
		fp += bloom_may(&f, key_hash("X", i));
	CHECK(missed == 0);
	CHECK(fp * 100 < probes);
	printf("# bloom: %d keys in %zu bits, %.3f%% false positives\n", n,
	    f.nbits, 100.0 * fp / probes);
	bloom_free(&f);
}

/* An empty filter finds nothing; no filter at all answers "maybe". */
static void
test_empty(void)
{
	struct bloom f = { 0 };
	int i, fp = 0;

	CHECK(bloom_may(&f, key_hash("H", 1)) == 1);
	bloom_init(&f, 1000, (size_t)1 << 20);
	for (i = 0; i < 10000; i++)
		fp += bloom_may(&f, key_hash("H", i));
	CHECK(fp == 0);
	bloom_free(&f);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "bloom_crowded", test_crowded },
		{ "bloom_empty", test_empty },
	};

	return unit_run(tests, sizeof tests / sizeof tests[0]);
}
