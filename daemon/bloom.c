/*
 * Bloom filters over 64-bit key hashes: "certainly absent" or "maybe
 * present".  The engine keeps one of every entity key and one of every
 * event id in the database, so that a new household or a new event id
 * costs no database look-up.
 *
 * The filters are blocked: a key's bits all lie in one 64-byte block, so
 * adding or testing a key reads one cache line.  A filter of millions of
 * keys is megabytes, far past the processor's caches, and a classic
 * filter's four scattered bits were four cache misses per add on the
 * loop thread's path (the most expensive line of its profile under make
 * bench).  Blocking costs a little accuracy: at 16 bits a key, the most a
 * filter holds before it is rebuilt larger, under 1% false positives
 * (tests/unit/test-bloom.c measures it), against 0.24% unblocked; past
 * its size limit the rate rises and more look-ups happen, but memory
 * stays bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"

#define BLOOM_K		4
#define BLOOM_BLOCK	512			/* bits: one cache line */
#define BLOOM_MIN_BITS	((size_t)1 << 23)	/* 1 MiB */

/* Size f for nkeys keys and as many again, up to max_bytes. */
void
bloom_init(struct bloom *f, size_t nkeys, size_t max_bytes)
{
	size_t bits = BLOOM_MIN_BITS;

	free(f->bits);
	while (bits < nkeys * 32 && bits / 8 < max_bytes)
		bits *= 2;
	if ((f->bits = aligned_alloc(64, bits / 8)) == NULL)
		fatal("bloom filter of %zu bytes", bits / 8);
	memset(f->bits, 0, bits / 8);
	f->nbits = bits;
	f->keys = 0;
	f->max_bytes = max_bytes;
}

void
bloom_free(struct bloom *f)
{
	free(f->bits);
	memset(f, 0, sizeof *f);
}

/* The block of h: its low bits pick it, the rest of the mix the bits. */
static uint64_t *
block(const struct bloom *f, uint64_t h, uint64_t *mix)
{
	*mix = (h >> 33 | h << 31) * 0x9e3779b97f4a7c15ULL;
	return f->bits + (h & (f->nbits / BLOOM_BLOCK - 1)) *
	    (BLOOM_BLOCK / 64);
}

void
bloom_add(struct bloom *f, uint64_t h)
{
	uint64_t *b, mix;
	unsigned i, bit;

	if (f->bits == NULL)
		return;
	b = block(f, h, &mix);
	for (i = 0; i < BLOOM_K; i++) {
		bit = (unsigned)(mix >> (64 - 9 * (i + 1))) & (BLOOM_BLOCK - 1);
		b[bit / 64] |= 1ULL << (bit % 64);
	}
	f->keys++;
}

/* 0 if h was certainly never added; 1 if it may have been (or no filter). */
int
bloom_may(const struct bloom *f, uint64_t h)
{
	const uint64_t *b;
	uint64_t mix;
	unsigned i, bit;

	if (f->bits == NULL)
		return 1;
	b = block(f, h, &mix);
	for (i = 0; i < BLOOM_K; i++) {
		bit = (unsigned)(mix >> (64 - 9 * (i + 1))) & (BLOOM_BLOCK - 1);
		if (!(b[bit / 64] & (1ULL << (bit % 64))))
			return 0;
	}
	return 1;
}

/* Should the filter be rebuilt larger?  Not past its size limit. */
int
bloom_crowded(const struct bloom *f)
{
	return f->bits != NULL && f->keys * 16 >= f->nbits &&
	    f->nbits / 8 < f->max_bytes;
}

/* FNV-1a of a string, continuing from h (start with BLOOM_SEED). */
uint64_t
bloom_hash(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}
