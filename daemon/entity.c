/*
 * The entity cache: the state of recently used entities in memory, in
 * front of the entities table.  Memory stays bounded whatever the number
 * of households: clean entities are evicted least recently used first;
 * entities changed by the batch in hand sit on a dirty list until the
 * batch's transaction writes them.  If that transaction fails, the cache
 * is emptied and refills from the database, which holds the truth.
 *
 * A Bloom filter of every key in the database (built at start, kept up to
 * date as entities are created, rebuilt larger as they grow) lets a new
 * entity skip the database look-up that would find nothing: importing a
 * district's ledger is mostly new households.  It costs two bytes per
 * entity.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "engine.h"
#include "store.h"

static uint64_t
entity_hash(const struct kind *k, const char *id)
{
	uint64_t h = bloom_hash(BLOOM_SEED, k->name);

	h = (h ^ 0xff) * 0x100000001b3ULL;
	return bloom_hash(h, id);
}

static void
list_unlink(struct entity *e)
{
	if (e->prev == NULL)
		return;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void
list_push(struct entity *head, struct entity *e)
{
	e->next = head->next;
	e->prev = head;
	head->next->prev = e;
	head->next = e;
}

#define KNOWN_MAX_BYTES	(32u << 20)	/* 16M entities at full precision */

static void
known_key(void *arg, const char *kind, const char *id)
{
	struct ecache *c = arg;
	uint64_t h;

	/* the same hash as entity_hash, from names */
	h = bloom_hash(BLOOM_SEED, kind);
	h = (h ^ 0xff) * 0x100000001b3ULL;
	bloom_add(&c->known, bloom_hash(h, id));
}

/*
 * (Re)build the filter of keys in the database, and of those in the cache
 * that may not be there yet.  On a read error there is no filter, and
 * every miss asks the database.
 */
static int
known_build(struct ecache *c)
{
	struct bloom old = c->known;
	struct entity *e;
	int64_t n = 0;
	size_t i;

	memset(&c->known, 0, sizeof c->known);
	if (store_entity_count(c->store, &n) != 0)
		goto fail;
	bloom_init(&c->known, (size_t)n + c->count, KNOWN_MAX_BYTES);
	if (store_entity_keys(c->store, known_key, c) != 0) {
		bloom_free(&c->known);
		goto fail;
	}
	for (i = 0; i < c->nbuckets; i++)
		for (e = c->buckets[i]; e != NULL; e = e->hnext)
			bloom_add(&c->known, e->hash);
	bloom_free(&old);
	return 0;
fail:
	/* keep the old filter (it only ever grows): still true, less sharp */
	c->known = old;
	return -1;
}

/* Use the store behind the cache, and learn which keys it holds. */
int
ecache_attach(struct ecache *c, struct store *s)
{
	c->store = s;
	return known_build(c);
}

void
ecache_init(struct ecache *c, size_t capacity)
{
	memset(c, 0, sizeof *c);
	c->capacity = capacity;
	c->nbuckets = 1024;
	c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
	c->lru.next = c->lru.prev = &c->lru;
	c->dirty.next = c->dirty.prev = &c->dirty;
}

static int
slot_is_string(const struct kind *k, size_t slot)
{
	return slot >= k->nattrs || k->attrs[slot].type == VT_STR;
}

/*
 * Evicting and creating entities at the same rate (an import larger than
 * the cache) would churn malloc; freed entities wait on spare lists by
 * size class for the next ones.
 */
#define SPARE_MAX	1024

static void
entity_free(struct ecache *c, struct entity *e)
{
	size_t i, cls = e->size / 64;

	for (i = 0; i < e->kind->nattrs + e->kind->nfields; i++)
		if (slot_is_string(e->kind, i))
			intern_put(e->vals[i].s);
	if (cls < ECACHE_CLASSES && c->nspare[cls] < SPARE_MAX) {
		e->hnext = c->spare[cls];
		c->spare[cls] = e;
		c->nspare[cls]++;
		return;
	}
	free(e);	/* vals, cls and id share its allocation */
}

static struct entity *
entity_alloc(struct ecache *c, size_t size)
{
	size_t cls = (size + 63) / 64;
	struct entity *e;

	if (cls < ECACHE_CLASSES && (e = c->spare[cls]) != NULL) {
		c->spare[cls] = e->hnext;
		c->nspare[cls]--;
		memset(e, 0, cls * 64);
	} else
		e = xcalloc(1, cls * 64);
	e->size = cls * 64;
	return e;
}

static void
spare_free(struct ecache *c)
{
	struct entity *e;
	size_t i;

	for (i = 0; i < ECACHE_CLASSES; i++) {
		while ((e = c->spare[i]) != NULL) {
			c->spare[i] = e->hnext;
			free(e);
		}
		c->nspare[i] = 0;
	}
}

/* Forget every entity; after a failed commit or a change of rules. */
void
ecache_clear(struct ecache *c)
{
	struct entity *e, *next;
	size_t i;

	for (i = 0; i < c->nbuckets; i++) {
		for (e = c->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			entity_free(c, e);
		}
		c->buckets[i] = NULL;
	}
	c->count = 0;
	spare_free(c);
	c->lru.next = c->lru.prev = &c->lru;
	c->dirty.next = c->dirty.prev = &c->dirty;
}

static void
grow(struct ecache *c)
{
	struct entity **nb, *e, *next;
	size_t n = c->nbuckets * 2, i;

	nb = xcalloc(n, sizeof *nb);
	for (i = 0; i < c->nbuckets; i++)
		for (e = c->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

/* The classes of a new entity, in the slots of the kind's rules. */
static void
classes_new(struct entity *e)
{
	const struct kind *k = e->kind;
	size_t i;

	for (i = 0; i < k->nclass; i++)
		e->cls[i] = k->cls_new[i];
}

static struct entity *
entity_new(struct ecache *c, struct kind *k, const char *id, uint64_t h)
{
	size_t nvals = k->nattrs + k->nfields + 1, idlen = strlen(id);
	size_t ncls = k->nclass + 1, b;
	struct entity *e;

	/* one allocation: the entity, its values, its classes, its id */
	e = entity_alloc(c, sizeof *e + nvals * sizeof *e->vals +
	    ncls * sizeof *e->cls + idlen + 1);
	e->vals = (union val *)(void *)(e + 1);
	e->cls = (uint16_t *)(void *)(e->vals + nvals);
	e->id = (char *)(e->cls + ncls);
	memcpy(e->id, id, idlen + 1);
	e->kind = k;
	e->hash = h;
	classes_new(e);
	if (c->count >= c->nbuckets)
		grow(c);
	b = h & (c->nbuckets - 1);
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	c->count++;
	list_push(&c->lru, e);
	return e;
}

/* The derived attributes that rules keep in memory (a count's). */
static void
entity_view(struct entity *e)
{
	const struct kind *k = e->kind;
	size_t i;

	for (i = 0; i < k->nrules; i++)
		if (k->rules[i]->prim->view != NULL)
			k->rules[i]->prim->view(k->rules[i], e);
}

/* Attributes back to unset, classes to their defaults. */
void
entity_reset(struct entity *e)
{
	const struct kind *k = e->kind;
	size_t i;

	for (i = 0; i < k->nattrs + k->nfields; i++) {
		if (slot_is_string(k, i))
			intern_put(e->vals[i].s);
		memset(&e->vals[i], 0, sizeof e->vals[i]);
	}
	classes_new(e);
	entity_view(e);
}

void
entity_set(struct entity *e, size_t slot, union val v)
{
	if (slot_is_string(e->kind, slot)) {
		v.s = v.s != NULL ? intern_get(v.s) : NULL;
		/* interned: the same text is the same pointer */
		if (slot == e->kind->nattrs && v.s != e->vals[slot].s)
			e->moved = 1;
		intern_put(e->vals[slot].s);
	}
	e->vals[slot] = v;
}

/* Restore an entity from its stored state JSON under the current rules. */
static void
entity_load_state(struct entity *e, const char *state)
{
	const struct kind *k = e->kind;
	cJSON *root, *attrs, *fields, *classes, *v;
	union val val;
	size_t i;

	if ((root = cJSON_Parse(state)) == NULL) {
		log_warnx("entity %s %s: unreadable state; starting empty",
		    k->name, e->id);
		return;
	}
	attrs = cJSON_GetObjectItemCaseSensitive(root, "attrs");
	fields = cJSON_GetObjectItemCaseSensitive(root, "fields");
	classes = cJSON_GetObjectItemCaseSensitive(root, "classes");
	for (i = 0; i < k->nattrs; i++) {
		v = cJSON_GetObjectItemCaseSensitive(attrs, k->attrs[i].name);
		if (v == NULL)
			continue;
		memset(&val, 0, sizeof val);
		switch (k->attrs[i].type) {
		case VT_INT:
			if (!cJSON_IsNumber(v))
				continue;
			val.i = (int64_t)v->valuedouble;
			break;
		case VT_DEC:
			if (!cJSON_IsString(v) || dec_parse(v->valuestring,
			    strlen(v->valuestring), &val.i) != 0)
				continue;
			break;
		case VT_BOOL:
			val.i = cJSON_IsTrue(v);
			break;
		case VT_STR:
			if (!cJSON_IsString(v))
				continue;
			val.s = v->valuestring;
			break;
		}
		entity_set(e, i, val);
	}
	for (i = 0; i < k->nfields; i++) {
		v = cJSON_GetObjectItemCaseSensitive(fields, k->fields[i]);
		if (cJSON_IsString(v)) {
			val.s = v->valuestring;
			entity_set(e, k->nattrs + i, val);
		}
	}
	/* what each rule keeps in the record, stored under its name */
	for (i = 0; i < k->nrules; i++) {
		const struct rule *r = k->rules[i];

		if (r->prim->restore != NULL && (v =
		    cJSON_GetObjectItemCaseSensitive(classes, r->name)) != NULL)
			r->prim->restore(r, e, v);
	}
	e->moved = 0;		/* as stored */
	cJSON_Delete(root);
}

/*
 * The entity kind/id from the cache or the store, removed ones included;
 * NULL if there is none, with *err set if the store failed.
 */
struct entity *
ecache_get(struct ecache *c, struct store *s, struct kind *k, const char *id,
    int *err)
{
	uint64_t h = entity_hash(k, id);
	struct entity *e;
	char *state = NULL;
	int64_t created = 0, removed_ts = 0;
	int removed = 0, rc;

	*err = 0;
	for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->kind == k && strcmp(e->id, id) == 0) {
			if (!e->dirty) {
				list_unlink(e);
				list_push(&c->lru, e);
			}
			return e;
		}
	if (s == NULL || !bloom_may(&c->known, h))
		return NULL;
	rc = store_entity_load(s, k->name, id, &state, &removed, &removed_ts,
	    &created);
	if (rc <= 0) {
		*err = rc < 0;
		return NULL;
	}
	e = entity_new(c, k, id, h);
	e->removed = removed;
	e->removed_ts = removed_ts;
	e->created = created;
	/* a removed record keeps its attributes as they were at removal */
	entity_load_state(e, state);
	free(state);
	entity_view(e);
	return e;
}

/* The entity kind/id if it is in the cache, without touching the LRU. */
struct entity *
ecache_peek(const struct ecache *c, const struct kind *k, const char *id)
{
	uint64_t h = entity_hash(k, id);
	struct entity *e;

	for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->kind == k && strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

struct entity *
ecache_create(struct ecache *c, struct kind *k, const char *id)
{
	uint64_t h = entity_hash(k, id);
	struct entity *e;

	if (bloom_crowded(&c->known))
		known_build(c);		/* grown: rebuild larger */
	bloom_add(&c->known, h);
	e = entity_new(c, k, id, h);
	entity_view(e);
	return e;
}

void
entity_mark_dirty(struct ecache *c, struct entity *e)
{
	if (e->dirty)
		return;
	list_unlink(e);
	list_push(&c->dirty, e);
	e->dirty = 1;
}

static void
vals_json(const struct entity *e, int all, struct buf *b)
{
	const struct kind *k = e->kind;
	char num[32];
	size_t i;
	int n = 0;

	buf_addc(b, '{');
	for (i = 0; i < k->nattrs; i++) {
		const union val *v = &e->vals[i];

		if (!all && ((k->attrs[i].type == VT_STR && v->s == NULL) ||
		    (k->attrs[i].type != VT_STR && v->i == 0) ||
		    k->attrs[i].derived))
			continue;
		if (n++ > 0)
			buf_addc(b, ',');
		buf_add_json_cstr(b, k->attrs[i].name);
		buf_addc(b, ':');
		switch (k->attrs[i].type) {
		case VT_INT:
			buf_add_int(b, v->i);
			break;
		case VT_DEC:
			/* stored as text so that no float touches it */
			dec_format(v->i, num, sizeof num);
			if (all)
				buf_adds(b, num);
			else
				buf_add_json_cstr(b, num);
			break;
		case VT_BOOL:
			buf_adds(b, v->i ? "true" : "false");
			break;
		case VT_STR:
			buf_add_json_cstr(b, v->s != NULL ? v->s : "");
			break;
		}
	}
	buf_addc(b, '}');
}

/* What each rule keeps in the record (a class), under the rule's name. */
static void
classes_json(const struct entity *e, struct buf *b)
{
	const struct kind *k = e->kind;
	size_t i;
	int n = 0;

	buf_addc(b, '{');
	for (i = 0; i < k->nrules; i++) {
		const struct rule *r = k->rules[i];

		if (r->prim->state_json == NULL)
			continue;
		if (n++ > 0)
			buf_addc(b, ',');
		buf_add_json_cstr(b, r->name);
		buf_addc(b, ':');
		r->prim->state_json(r, e, b);
	}
	buf_addc(b, '}');
}

/* The stored form: {"attrs":{...set ones...},"fields":{...},"classes":{}} */
void
entity_state_json(const struct entity *e, struct buf *b)
{
	const struct kind *k = e->kind;
	size_t i;
	int n = 0;

	buf_adds(b, "{\"attrs\":");
	vals_json(e, 0, b);
	buf_adds(b, ",\"fields\":{");
	for (i = 0; i < k->nfields; i++) {
		const char *v = e->vals[k->nattrs + i].s;

		if (v == NULL)
			continue;
		if (n++ > 0)
			buf_addc(b, ',');
		buf_add_json_cstr(b, k->fields[i]);
		buf_addc(b, ':');
		buf_add_json_cstr(b, v);
	}
	buf_adds(b, "},\"classes\":");
	classes_json(e, b);
	buf_addc(b, '}');
}

/* The protocol's ENTITY, without its closing brace (history follows). */
void
entity_json(const struct entity *e, struct buf *b)
{
	const struct kind *k = e->kind;
	char ts[40];
	size_t i;

	buf_adds(b, "{\"kind\":");
	buf_add_json_cstr(b, k->name);
	buf_adds(b, ",\"id\":");
	buf_add_json_cstr(b, e->id);
	for (i = 0; i < k->nfields; i++) {
		buf_addc(b, ',');
		buf_add_json_cstr(b, k->fields[i]);
		buf_addc(b, ':');
		buf_add_json_cstr(b, e->vals[k->nattrs + i].s);
	}
	clock_format(e->created, ts, sizeof ts);
	buf_adds(b, ",\"created\":");
	buf_add_json_cstr(b, ts);
	/* a closed record says since when; a live one says null */
	buf_adds(b, ",\"removed\":");
	if (e->removed) {
		clock_format(e->removed_ts, ts, sizeof ts);
		buf_add_json_cstr(b, ts);
	} else
		buf_adds(b, "null");
	buf_adds(b, ",\"attrs\":");
	vals_json(e, 1, b);
	buf_adds(b, ",\"classes\":");
	classes_json(e, b);
}

/*
 * Write every entity the open batch changed into its operations; they
 * stay pinned in memory until batch `number` has committed.
 */
void
ecache_stage(struct ecache *c, struct buf *ops, uint64_t number)
{
	struct buf b = { 0 };
	struct entity *e;
	int64_t now = clock_wall();

	while ((e = c->dirty.next) != &c->dirty) {
		if (ops != NULL) {
			buf_reset(&b);
			entity_state_json(e, &b);
			store_op_entity(ops, e->kind->name, e->id,
			    e->kind->grouped && e->kind->nfields > 0 ?
			    e->vals[e->kind->nattrs].s : NULL, e->moved,
			    BUF_DATA(&b), BUF_LEN(&b),
			    e->removed, e->removed_ts, e->created, now);
			e->moved = 0;
		}
		list_unlink(e);
		e->dirty = 0;
		e->pin = number;
		list_push(&c->lru, e);
	}
	buf_free(&b);
}

/*
 * Evict clean entities, least recently used first, down to capacity;
 * entities of batches after `committed` are not in the database yet and
 * stay.
 */
void
ecache_trim(struct ecache *c, uint64_t committed)
{
	struct entity *e, *prev, **pp;

	for (e = c->lru.prev; c->count > c->capacity && e != &c->lru;
	    e = prev) {
		prev = e->prev;
		if (e->pin > committed)
			continue;
		list_unlink(e);
		for (pp = &c->buckets[e->hash & (c->nbuckets - 1)]; *pp != e;
		    pp = &(*pp)->hnext)
			;
		*pp = e->hnext;
		c->count--;
		entity_free(c, e);
	}
}

/*
 * Forget the entities changed since the last stage (a dry run's): the
 * store holds them as they were, and they are read again when needed.
 */
void
ecache_drop_dirty(struct ecache *c)
{
	struct entity *e, **pp;

	while ((e = c->dirty.next) != &c->dirty) {
		list_unlink(e);
		for (pp = &c->buckets[e->hash & (c->nbuckets - 1)]; *pp != e;
		    pp = &(*pp)->hnext)
			;
		*pp = e->hnext;
		c->count--;
		entity_free(c, e);
	}
}
