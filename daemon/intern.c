/*
 * Interned strings: one shared, reference-counted copy of each distinct
 * string value that entities hold.  A district has a few dozen communities
 * and grids and a million households; each household's community and grid
 * then cost a pointer, not an allocation.  Used by the loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"

struct istr {
	struct istr	*hnext;
	uint64_t	 hash;
	size_t		 refs;
	char		 s[];
};

static struct istr	**itab;
static size_t		  nbuckets, count;

static void
grow(void)
{
	struct istr **nt, *n, *next;
	size_t nb = nbuckets ? nbuckets * 2 : 256, i;

	nt = xcalloc(nb, sizeof *nt);
	for (i = 0; i < nbuckets; i++)
		for (n = itab[i]; n != NULL; n = next) {
			next = n->hnext;
			n->hnext = nt[n->hash & (nb - 1)];
			nt[n->hash & (nb - 1)] = n;
		}
	free(itab);
	itab = nt;
	nbuckets = nb;
}

/* The shared copy of s, with one more reference. */
const char *
intern_get(const char *s)
{
	uint64_t h = bloom_hash(BLOOM_SEED, s);
	struct istr *n;
	size_t len;

	if (nbuckets != 0)
		for (n = itab[h & (nbuckets - 1)]; n != NULL; n = n->hnext)
			if (n->hash == h && strcmp(n->s, s) == 0) {
				n->refs++;
				return n->s;
			}
	if (count >= nbuckets)
		grow();
	len = strlen(s);
	n = xmalloc(sizeof *n + len + 1);
	memcpy(n->s, s, len + 1);
	n->hash = h;
	n->refs = 1;
	n->hnext = itab[h & (nbuckets - 1)];
	itab[h & (nbuckets - 1)] = n;
	count++;
	return n->s;
}

/* One more reference to a shared copy (NULL is ignored), without a look-up. */
const char *
intern_ref(const char *s)
{
	if (s != NULL)
		((struct istr *)(void *)(s - offsetof(struct istr, s)))->refs++;
	return s;
}

/* Drop a reference taken by intern_get; NULL is ignored. */
void
intern_put(const char *s)
{
	struct istr *n, **pp;

	if (s == NULL)
		return;
	n = (struct istr *)(void *)(s - offsetof(struct istr, s));
	if (--n->refs > 0)
		return;
	for (pp = &itab[n->hash & (nbuckets - 1)]; *pp != n;
	    pp = &(*pp)->hnext)
		;
	*pp = n->hnext;
	count--;
	free(n);
	if (count == 0) {
		free(itab);
		itab = NULL;
		nbuckets = 0;
	}
}

/* The shared copy of s if there is one, without a new reference. */
const char *
intern_find(const char *s)
{
	uint64_t h;
	struct istr *n;

	if (s == NULL || nbuckets == 0)
		return NULL;
	h = bloom_hash(BLOOM_SEED, s);
	for (n = itab[h & (nbuckets - 1)]; n != NULL; n = n->hnext)
		if (n->hash == h && strcmp(n->s, s) == 0)
			return n->s;
	return NULL;
}
