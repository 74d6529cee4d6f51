/* kmap.c: hash tables keyed by interned strings and an integer. */
#ifndef KMAP_H
#define KMAP_H

#include <stddef.h>
#include <stdint.h>

#define KMAP_KEYS	4

struct kentry {
	struct kentry	*hnext;
	uint64_t	 hash;
	const char	*k[KMAP_KEYS];
	int64_t		 n;
};
struct kmap {
	struct kentry	**buckets;
	size_t		  nbuckets;
	size_t		  count;
};

void		 kentry_key(struct kentry *, const char *, const char *,
		    const char *, const char *, int64_t);
struct kentry	*kmap_find(const struct kmap *, const char *, const char *,
		    const char *, const char *, int64_t);
void		 kmap_insert(struct kmap *, struct kentry *);
void		 kmap_remove(struct kmap *, struct kentry *);
void		 kmap_clear(struct kmap *, void (*)(struct kentry *));

#endif
