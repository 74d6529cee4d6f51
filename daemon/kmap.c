/*
 * kmap: a chained hash table whose keys are up to four interned strings
 * (compared by pointer: intern.c gives each distinct string one address)
 * and an integer.  Entries are embedded in the caller's structs, which own
 * them (the Linux hlist way); the table only links them.  It holds the
 * primitives' per-period facts, closed periods, marks and timers.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "kmap.h"

static uint64_t
key_hash(const void *const *k, int64_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
	int i;

	for (i = 0; i < KMAP_KEYS; i++) {
		h ^= (uint64_t)(uintptr_t)k[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	return h;
}

static void
grow(struct kmap *m)
{
	size_t nb = m->nbuckets ? m->nbuckets * 2 : 64, i;
	struct kentry **nt = xcalloc(nb, sizeof *nt), *e, *next;

	for (i = 0; i < m->nbuckets; i++)
		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = nt[e->hash & (nb - 1)];
			nt[e->hash & (nb - 1)] = e;
		}
	free(m->buckets);
	m->buckets = nt;
	m->nbuckets = nb;
}

/* Set an entry's key; NULL pads unused strings. */
void
kentry_key(struct kentry *e, const char *a, const char *b, const char *c,
    const char *d, int64_t n)
{
	e->k[0] = a;
	e->k[1] = b;
	e->k[2] = c;
	e->k[3] = d;
	e->n = n;
	e->hash = key_hash((const void *const *)e->k, n);
}

struct kentry *
kmap_find(const struct kmap *m, const char *a, const char *b, const char *c,
    const char *d, int64_t n)
{
	const char *k[KMAP_KEYS] = { a, b, c, d };
	uint64_t h;
	struct kentry *e;

	if (m->nbuckets == 0)
		return NULL;
	h = key_hash((const void *const *)k, n);
	for (e = m->buckets[h & (m->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->n == n && e->k[0] == a && e->k[1] == b &&
		    e->k[2] == c && e->k[3] == d)
			return e;
	return NULL;
}

/* Link e (its key set, not already present). */
void
kmap_insert(struct kmap *m, struct kentry *e)
{
	if (m->count >= m->nbuckets)
		grow(m);
	e->hnext = m->buckets[e->hash & (m->nbuckets - 1)];
	m->buckets[e->hash & (m->nbuckets - 1)] = e;
	m->count++;
}

void
kmap_remove(struct kmap *m, struct kentry *e)
{
	struct kentry **pp;

	for (pp = &m->buckets[e->hash & (m->nbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			m->count--;
			return;
		}
}

/* Call fn on every entry (which may free it), then empty the table. */
void
kmap_clear(struct kmap *m, void (*fn)(struct kentry *))
{
	struct kentry *e, *next;
	size_t i;

	for (i = 0; i < m->nbuckets; i++)
		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			if (fn != NULL)
				fn(e);
		}
	free(m->buckets);
	memset(m, 0, sizeof *m);
}
