/*
 * Bloom filters over 64-bit key hashes: "certainly absent" or "maybe
 * present".  The engine keeps one of every entity key and one of every
 * event id in the database, so that a new household or a new event id
 * costs no database look-up.  A filter holds 16 bits a key (false
 * positives under 0.3%) up to its size limit; past it the false positive
 * rate rises and more look-ups happen, but memory stays bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"

#define BLOOM_K		4
#define BLOOM_MIN_BITS	((size_t)1 << 23)	/* 1 MiB */

/* Size f for nkeys keys and as many again, up to max_bytes. */
void
bloom_init(struct bloom *f, size_t nkeys, size_t max_bytes)
{
	size_t bits = BLOOM_MIN_BITS;

	free(f->bits);
	while (bits < nkeys * 32 && bits / 8 < max_bytes)
		bits *= 2;
	f->bits = xcalloc(bits / 64, sizeof *f->bits);
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

static uint64_t
second_hash(uint64_t h)
{
	return (h >> 33 | h << 31) * 0x9e3779b97f4a7c15ULL | 1;
}

void
bloom_add(struct bloom *f, uint64_t h)
{
	uint64_t h2 = second_hash(h);
	size_t i, bit;

	if (f->bits == NULL)
		return;
	for (i = 0; i < BLOOM_K; i++) {
		bit = (size_t)(h + i * h2) & (f->nbits - 1);
		f->bits[bit / 64] |= 1ULL << (bit % 64);
	}
	f->keys++;
}

/* 0 if h was certainly never added; 1 if it may have been (or no filter). */
int
bloom_may(const struct bloom *f, uint64_t h)
{
	uint64_t h2 = second_hash(h);
	size_t i, bit;

	if (f->bits == NULL)
		return 1;
	for (i = 0; i < BLOOM_K; i++) {
		bit = (size_t)(h + i * h2) & (f->nbits - 1);
		if (!(f->bits[bit / 64] & (1ULL << (bit % 64))))
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
