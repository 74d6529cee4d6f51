/*
 * The engine applies decoded events to entities under the current ruleset
 * and records every effect (event log row, entity state, history, alerts)
 * as write operations of the open batch.  engine_submit hands the batch to
 * the store's writer thread and opens the next one; engine_reap takes back
 * the batches the writer has finished and hands each to the server, which
 * answers its events: acknowledgements if it committed, `unavailable` if
 * not.  Batches commit in order.  When one fails, every batch built after
 * it fails too (they were computed on its state), and memory is rebuilt
 * from the database.
 *
 * Duplicate ids are found in the set of ids of batches not yet committed,
 * then in the database.  Entities a batch changed stay in the cache until
 * the batch has committed, so the cache never shows state older than the
 * database's.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "conf.h"
#include "rules.h"
#include "engine.h"
#include "store.h"

static uint64_t
id_hash(const char *s)
{
	return bloom_hash(BLOOM_SEED, s);
}

#define KNOWN_IDS_MAX_BYTES	(64u << 20)	/* 32M ids at full precision */

static void
known_id(void *arg, const char *id)
{
	struct engine *e = arg;

	bloom_add(&e->known_ids, id_hash(id));
}

/*
 * (Re)build the filter of event ids: those in the database and those of
 * batches in flight.  Without one (a read error), every id is looked up.
 */
static int
known_ids_build(struct engine *e)
{
	struct bloom old = e->known_ids;
	struct idnode *n;
	int64_t count = 0;
	size_t i;

	memset(&e->known_ids, 0, sizeof e->known_ids);
	if (store_event_id_count(e->store, &count) != 0)
		goto fail;
	bloom_init(&e->known_ids, (size_t)count + e->nids,
	    KNOWN_IDS_MAX_BYTES);
	if (store_event_ids(e->store, known_id, e) != 0) {
		bloom_free(&e->known_ids);
		goto fail;
	}
	for (i = 0; i < e->nidbuckets; i++)
		for (n = e->ids[i]; n != NULL; n = n->hnext)
			bloom_add(&e->known_ids, n->hash);
	bloom_free(&old);
	return 0;
fail:
	/* keep the old filter (it only ever grows): still true, less sharp */
	log_warnx("database: cannot list event ids; the id filter was not "
	    "rebuilt");
	e->known_ids = old;
	return -1;
}

/*
 * Counters from the database: the next seq and alert id; and, if the
 * store could not be read when a failed commit was recovered from (a
 * database server out of reach), the primitives' state first.
 */
static int
resync(struct engine *e)
{
	int64_t seq, alert, silence;

	if (e->standby) {
		e->resync = 1;
		return -1;
	}
	if (e->reload && engine_load(e) != 0) {
		e->resync = 1;
		return -1;
	}
	e->reload = 0;
	seq = store_max_seq(e->store);
	alert = store_max_alert(e->store);
	silence = store_max_silence(e->store);
	if (seq < 0 || alert < 0 || silence < 0) {
		e->resync = 1;
		return -1;
	}
	e->next_seq = seq + 1;
	e->next_alert = alert + 1;
	e->silences.next_id = silence + 1;
	e->resync = 0;
	return 0;
}

static struct idnode *
ids_find(const struct engine *e, const char *id)
{
	uint64_t h = id_hash(id);
	struct idnode *n;

	for (n = e->ids[h & (e->nidbuckets - 1)]; n != NULL; n = n->hnext)
		if (n->hash == h && strcmp(n->id, id) == 0)
			return n;
	return NULL;
}

/* Id nodes live in chunks owned by their batch, freed with it at once. */
#define IDCHUNK		(32 * 1024)

struct idchunk {
	struct idchunk	*next;
	size_t		 used, size;
	max_align_t	 data[];
};

static struct idnode *
idnode_alloc(struct batch *b, size_t size)
{
	struct idchunk *c = b->idmem;

	size = (size + 15) & ~(size_t)15;
	if (c == NULL || c->size - c->used < size) {
		size_t cs = size > IDCHUNK ? size : IDCHUNK;

		c = xmalloc(sizeof *c + cs);
		c->size = cs;
		c->used = 0;
		c->next = b->idmem;
		b->idmem = c;
	}
	c->used += size;
	return (struct idnode *)(void *)((char *)c->data + c->used - size);
}

/* Keep one chunk for the batch's next life. */
static void
idmem_reset(struct batch *b, int all)
{
	struct idchunk *c, *next;

	if ((c = b->idmem) == NULL)
		return;
	for (c = all ? c : c->next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	if (all)
		b->idmem = NULL;
	else {
		b->idmem->next = NULL;
		b->idmem->used = 0;
	}
}

static void
ids_add(struct engine *e, struct batch *b, const char *id, int64_t seq)
{
	size_t len = strlen(id), i, nb;
	struct idnode *n = idnode_alloc(b, sizeof *n + len + 1), **nbk, *m;
	struct idnode *next;

	memcpy(n->id, id, len + 1);
	n->hash = id_hash(id);
	n->seq = seq;
	if (e->store != NULL && !e->dry) {	/* the filter only grows */
		if (bloom_crowded(&e->known_ids))
			known_ids_build(e);
		bloom_add(&e->known_ids, n->hash);
	}
	if (e->nids >= e->nidbuckets) {
		nb = e->nidbuckets * 2;
		nbk = xcalloc(nb, sizeof *nbk);
		for (i = 0; i < e->nidbuckets; i++)
			for (m = e->ids[i]; m != NULL; m = next) {
				next = m->hnext;
				m->hnext = nbk[m->hash & (nb - 1)];
				nbk[m->hash & (nb - 1)] = m;
			}
		free(e->ids);
		e->ids = nbk;
		e->nidbuckets = nb;
	}
	n->hnext = e->ids[n->hash & (e->nidbuckets - 1)];
	e->ids[n->hash & (e->nidbuckets - 1)] = n;
	e->nids++;
	n->bnext = b->ids;
	b->ids = n;
}

/* Forget a batch's ids (some may be gone from the set already). */
static void
ids_release(struct engine *e, struct batch *b)
{
	struct idnode *n, *next, **pp;

	for (n = b->ids; n != NULL; n = next) {
		next = n->bnext;
		for (pp = &e->ids[n->hash & (e->nidbuckets - 1)]; *pp != NULL;
		    pp = &(*pp)->hnext)
			if (*pp == n) {
				*pp = n->hnext;
				e->nids--;
				break;
			}
	}
	b->ids = NULL;
	idmem_reset(b, 0);
}

static void
ids_clear(struct engine *e)
{
	memset(e->ids, 0, e->nidbuckets * sizeof *e->ids);
	e->nids = 0;
}

static int	indexes_load(struct engine *, const struct ruleset *);
static void	grp_note(struct engine *, const char *, const char *);

struct engine *
engine_new(struct ruleset *rs, struct store *s, int clock_mode,
    size_t cache_capacity)
{
	struct engine *e = xcalloc(1, sizeof *e);

	e->rs = rs;
	e->store = s;
	e->clock_mode = clock_mode;
	e->generation = 1;
	e->epoch = 1;
	e->flight_tail = &e->flight;
	e->nidbuckets = 1024;
	e->ids = xcalloc(e->nidbuckets, sizeof *e->ids);
	ecache_init(&e->cache, cache_capacity);
	e->timers.next_id = 1;
	e->silences.next_id = 1;
	e->silences.rest_tail = &e->silences.rest;
	if (s != NULL) {
		if (ecache_attach(&e->cache, s) != 0)
			log_warnx("database: cannot list entities; every new "
			    "entity will be looked up");
		known_ids_build(e);
		if (resync(e) != 0)
			log_warnx("database: cannot read the last seq; events "
			    "are refused until it can be read");
	} else {
		e->next_seq = e->next_alert = 1;
		indexes_load(e, NULL);	/* empty: nothing is stored */
	}
	return e;
}

#define GROUP_META	"group."

static void
load_meta(void *arg, const struct store_row *row)
{
	struct engine *e = arg;

	if (row->s[0] != NULL && strcmp(row->s[0], "clock") == 0)
		e->clock = e->saved_clock = e->committed_clock = row->i[1];
	if (row->s[0] != NULL && row->s[1] != NULL && strncmp(row->s[0],
	    GROUP_META, strlen(GROUP_META)) == 0)
		grp_note(e, row->s[0] + strlen(GROUP_META), row->s[1]);
}

/* Record that the store's grp column holds field for kind. */
static void
grp_note(struct engine *e, const char *kind, const char *field)
{
	size_t i;

	for (i = 0; i < e->ngrp; i++)
		if (strcmp(e->grp_kinds[i], kind) == 0)
			break;
	if (i == e->ngrp) {
		e->grp_kinds = xreallocarray(e->grp_kinds, i + 1,
		    sizeof *e->grp_kinds);
		e->grp_fields = xreallocarray(e->grp_fields, i + 1,
		    sizeof *e->grp_fields);
		e->grp_kinds[i] = xstrdup(kind);
		e->grp_fields[i] = NULL;
		e->ngrp++;
	}
	free(e->grp_fields[i]);
	e->grp_fields[i] = xstrdup(field);
}

/*
 * The grp column (schema 005) holds the first field of the entities of
 * the kinds that a classify rule maps (kind.grouped), NULL for the others,
 * whose writes then cost the index nothing.  Where the rules name another
 * first field than the one recorded (a new database, a reordered kind, a
 * kind newly mapped or no longer), queue the update that fills it again
 * for the kind, for the next batch: entities written after it carry the
 * new value anyway.
 */
static void
grp_check(struct engine *e)
{
	char key[256];
	size_t i, j;

	if (e->store == NULL)
		return;
	for (i = 0; i < e->rs->nkinds; i++) {
		const struct kind *k = e->rs->kinds[i];
		/* "": the kind is on no map, and its grp stays NULL */
		const char *field = k->grouped && k->nfields > 0 ?
		    k->fields[0] : "";

		for (j = 0; j < e->ngrp; j++)
			if (strcmp(e->grp_kinds[j], k->name) == 0)
				break;
		if (j < e->ngrp ? strcmp(e->grp_fields[j], field) == 0 :
		    *field == '\0')
			continue;
		snprintf(key, sizeof key, GROUP_META "%s", k->name);
		store_op(&e->regroup, ST_REGROUP, "ss", k->name, field);
		store_op(&e->regroup, ST_META, "ss", key, field);
		if (j < e->ngrp && *field != '\0' && *e->grp_fields[j] != '\0')
			log_info("database: %s entities are grouped by %s "
			    "from now on, not %s", k->name, field,
			    e->grp_fields[j]);
		grp_note(e, k->name, field);
	}
}

/*
 * Rebuild the indexes that rules keep in memory only (a count's) from the
 * committed state; after a reload (old: the rules before it), a rule that
 * did not change may take its predecessor's over.
 */
static int
indexes_load(struct engine *e, const struct ruleset *old)
{
	struct rule *r, *prev;
	size_t i;
	int rc = 0;

	for (i = 0; i < e->rs->nrules; i++) {
		r = e->rs->rules[i];
		if (r->prim->load == NULL)
			continue;
		prev = old != NULL ? ruleset_rule(old, r->name) : NULL;
		if (prev != NULL && prev->prim != r->prim)
			prev = NULL;
		if (r->prim->load(r, e, prev) != 0)
			rc = -1;
	}
	return rc;
}

/*
 * Load what the primitives keep (facts, timers, the event clock, the
 * in-memory indexes) from the store.  -1 if it cannot be read: the daemon
 * must not run without it.
 */
int
engine_load(struct engine *e)
{
	if (e->store == NULL)
		return indexes_load(e, NULL);
	if (facts_load(&e->facts, e->store, e->rs) != 0 ||
	    timers_load(&e->timers, e->store) != 0 ||
	    store_select(e->store, TB_META, load_meta, e) != 0 ||
	    silences_load(&e->silences, e->store, engine_now(e)) != 0 ||
	    indexes_load(e, NULL) != 0)
		return -1;
	grp_check(e);
	return 0;
}

/*
 * Another daemon holds the database's lock (or this one lost it): answer
 * what is in flight (refused by the writer: its term is over), then drop
 * every state, which that daemon may change from now on.  Nothing is
 * read nor applied until engine_takeover.
 */
void
engine_standby(struct engine *e)
{
	e->standby = 1;
	engine_sync(e);
	ids_clear(e);
	ecache_clear(&e->cache);
	/* filters that say "may be there" to everything until rebuilt */
	bloom_free(&e->cache.known);
	memset(&e->cache.known, 0, sizeof e->cache.known);
	bloom_free(&e->known_ids);
	memset(&e->known_ids, 0, sizeof e->known_ids);
	facts_clear(&e->facts);
	timers_clear(&e->timers);
	silences_clear(&e->silences);
	buf_reset(&e->regroup);
	e->epoch++;
	e->resync = e->reload = 1;
}

/*
 * This daemon took the database's lock: read everything as at a start, in
 * a new epoch.  -1 if the database cannot be read now (still a standby;
 * the caller tries again).
 */
int
engine_takeover(struct engine *e)
{
	e->standby = 0;
	e->epoch++;
	ids_clear(e);
	ecache_clear(&e->cache);
	e->resync = e->reload = 1;
	/* the clock is meta's, if the database has one yet */
	e->clock = e->saved_clock = e->committed_clock = 0;
	if (ecache_attach(&e->cache, e->store) != 0 ||
	    known_ids_build(e) != 0 || resync(e) != 0) {
		e->standby = 1;
		return -1;
	}
	e->clock = e->committed_clock;
	return 0;
}

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	idmem_reset(b, 1);
	buf_free(&b->job.ops);
	buf_free(&b->balerts);
	free(b->alerts);
	free(b->pend);
	free(b);
}

void
engine_free(struct engine *e)
{
	struct batch *b;

	if (e == NULL)
		return;
	engine_sync(e);
	if (e->cur != NULL)
		ids_release(e, e->cur);
	batch_free(e->cur);
	while ((b = e->spare) != NULL) {
		e->spare = b->next;
		batch_free(b);
	}
	ecache_clear(&e->cache);
	free(e->cache.buckets);
	while (e->ngrp > 0) {
		e->ngrp--;
		free(e->grp_kinds[e->ngrp]);
		free(e->grp_fields[e->ngrp]);
	}
	free(e->grp_kinds);
	free(e->grp_fields);
	buf_free(&e->regroup);
	bloom_free(&e->cache.known);
	facts_clear(&e->facts);
	timers_clear(&e->timers);
	silences_clear(&e->silences);
	buf_free(&e->scratch);
	buf_free(&e->msg);
	free(e->was);
	free(e->was_cls);
	bloom_free(&e->known_ids);
	free(e->ids);
	free(e);
}

void
engine_on_done(struct engine *e, engine_done_fn *fn, void *arg)
{
	e->done = fn;
	e->done_arg = arg;
}

/*
 * Swap rules between two events.  The cache holds entities laid out for
 * the old kinds, so it is emptied; state reloads from the database under
 * the new rules.  The caller has synced: nothing is in flight.
 */
void
engine_set_rules(struct engine *e, struct ruleset *rs)
{
	const struct ruleset *old = e->rs;

	engine_sync(e);
	e->rs = rs;
	e->generation++;
	ecache_clear(&e->cache);
	if (e->standby)
		return;		/* the new rules load the state at takeover */
	/* facts keep parts by name: read them again under the new rules */
	if (e->store != NULL && facts_load(&e->facts, e->store, rs) != 0)
		log_warnx("database: cannot read facts after the reload");
	if (indexes_load(e, old) != 0)
		log_warnx("database: cannot rebuild the rules' counts after "
		    "the reload");
	grp_check(e);
	engine_sync(e);		/* the records the rebuild created */
}

int64_t
engine_now(const struct engine *e)
{
	if (e->clock_mode == CLOCK_EVENT)
		return e->clock;
	return clock_wall();
}

/* The open batch, opened if need be. */
struct batch *
engine_batch(struct engine *e)
{
	struct batch *b = e->cur;

	if (b != NULL)
		return b;
	if ((b = e->spare) != NULL) {
		e->spare = b->next;
		e->nspare--;
		buf_reset(&b->job.ops);
		buf_reset(&b->balerts);
		b->nalerts = b->npend = 0;
		b->nevents = b->nduplicates = 0;
		b->last_alert = 0;
		b->ids = NULL;
		b->next = NULL;
	} else
		b = xcalloc(1, sizeof *b);
	b->number = ++e->nbatches;
	b->job.epoch = e->epoch;
	e->cur = b;
	return b;
}

void
engine_pend(struct engine *e, struct client *c, const struct ev_result *res,
    int ack)
{
	struct batch *b = engine_batch(e);

	if (b->npend == b->pend_cap) {
		b->pend_cap = b->pend_cap ? b->pend_cap * 2 : 256;
		b->pend = xreallocarray(b->pend, b->pend_cap, sizeof *b->pend);
	}
	b->pend[b->npend].c = c;
	b->pend[b->npend].res = *res;
	b->pend[b->npend].ack = ack;
	b->npend++;
}

/*
 * Mark alert id acknowledged by uid in the open batch, at the daemon's
 * clock (the event clock in event mode, as timers); -1 if there is no
 * such alert.  Ids are given without gaps, so every id below the next
 * one exists.  A second ack changes nothing (store.c keeps the first).
 */
int
engine_ack(struct engine *e, int64_t id, int64_t uid)
{
	if (e->resync && resync(e) != 0)
		return -1;
	if (id < 1 || id >= e->next_alert)
		return -1;
	if (e->store != NULL)
		store_op_ack(&engine_batch(e)->job.ops, id, uid, engine_now(e));
	return 0;
}

/*
 * Start silence s (match: its match object as JSON) for uid in the open
 * batch; it covers the alerts raised from now on, and is answered once
 * committed.  A failed commit reloads the silences from the store
 * (engine_load), and this one is gone with its batch.  Returns its id,
 * or -1 if the counters cannot be read.
 */
int64_t
engine_silence(struct engine *e, struct silence *s, const char *match,
    const char *comment, int64_t uid)
{
	int64_t now = engine_now(e);

	if (e->resync && resync(e) != 0)
		return -1;
	s->id = e->silences.next_id++;
	if (e->store != NULL)
		store_op(&engine_batch(e)->job.ops, ST_SILENCE_PUT, "isisii",
		    s->id, match, s->until, comment, uid, now);
	silences_add(&e->silences, s, now);
	return s->id;
}

/* End silence id for uid; -1 if there is no such silence. */
int
engine_unsilence(struct engine *e, int64_t id, int64_t uid)
{
	int64_t now = engine_now(e);

	if (e->resync && resync(e) != 0)
		return -1;
	if (id < 1 || id >= e->silences.next_id)
		return -1;
	if (e->store != NULL)
		store_op(&engine_batch(e)->job.ops, ST_SILENCE_END, "iii", id,
		    now, uid);
	silences_end(&e->silences, id, now);
	return 0;
}

/* The open batch's write operations, or NULL when there is no store. */
struct buf *
engine_ops(struct engine *e)
{
	return e->store != NULL ? &engine_batch(e)->job.ops : NULL;
}

/*
 * Raise an alert in the open batch: its JSON for the event's answer and
 * the subscribers, and its row for the store.  seq is the causing event's
 * (0 for a timer's).
 */
void
engine_alert(struct engine *e, int64_t seq, const struct alert_out *a)
{
	struct batch *b = engine_batch(e);
	struct buf *msg = &e->msg;
	const struct tmpl *t = a->def != NULL ? a->def->message :
	    a->rule->message;
	const char *name = a->def != NULL ? a->def->name : a->rule->alert;
	int severity = a->def != NULL ? a->def->severity : a->severity;
	const char *sev = severity_name(severity);
	const char *eid = a->ev != NULL ? a->ev->id : NULL;
	struct alert_ref *ref;
	char period[16];
	size_t start;
	int64_t id, silenced = 0;

	buf_reset(msg);
	buf_reserve(msg, 256);
	if (t != NULL)
		tmpl_render(t, a, msg);
	else
		buf_addf(msg, "%s: %s %s", name, a->kind, a->entity);
	if (a->period != 0)
		period_code_format(a->period, period, sizeof period);
	/* without silences, this is the whole cost of them */
	if (e->silences.n > 0)
		silenced = silences_match(e, a, name, severity);
	id = e->next_alert++;
	start = b->balerts.len;
	alert_json(&b->balerts, e->dry ? 0 : id, name, sev, a->kind, a->entity,
	    a->period != 0 ? period : NULL, a->ts, BUF_DATA(msg), BUF_LEN(msg),
	    a->data, eid, NULL, silenced);
	if (b->nalerts == b->alerts_cap) {
		b->alerts_cap = b->alerts_cap ? b->alerts_cap * 2 : 64;
		b->alerts = xreallocarray(b->alerts, b->alerts_cap,
		    sizeof *b->alerts);
	}
	ref = &b->alerts[b->nalerts++];
	ref->off = start;
	ref->len = b->balerts.len - start;
	ref->seq = seq;
	ref->aidx = a->def != NULL ? a->def->aidx : a->rule->aidx;
	ref->severity = severity;
	ref->silenced = silenced;
	if (!e->dry)
		b->last_alert = id;
	if (e->store != NULL)
		store_op_alert(&b->job.ops, id, name, sev, a->kind, a->entity,
		    a->period != 0 ? period : NULL, a->ts, seq, BUF_DATA(msg),
		    BUF_LEN(msg), a->data, eid, silenced);
}

/*
 * A classify rule moved an entity from one class to another: one history
 * row and one alert, both in the open batch.  more: members that follow
 * "from" and "to" in the alert's data (",\"k\":v..."), or NULL.
 */
void
engine_class_changed(struct change *ch, const struct rule *r,
    const struct klass *from, const struct klass *to, const char *more)
{
	struct engine *e = ch->eng;
	const struct event *ev = ch->ev;
	struct buf *data = &e->scratch;
	struct alert_out a;

	if (e->store != NULL)
		store_op_history(&engine_batch(e)->job.ops, ch->ent->kind->name,
		    ch->ent->id, ev->ts, r->name, from->name, to->name, ev->id,
		    ch->seq);
	buf_reset(data);
	buf_adds(data, "{\"from\":");
	buf_add_json_cstr(data, from->name);
	buf_adds(data, ",\"to\":");
	buf_add_json_cstr(data, to->name);
	if (more != NULL)
		buf_adds(data, more);
	buf_addc(data, '}');
	memset(&a, 0, sizeof a);
	a.rule = r;
	a.kind = ch->ent->kind->name;
	a.entity = ch->ent->id;
	a.ts = ev->ts;
	a.ev = ev;
	a.ent = ch->ent;
	a.severity = to->severity;
	a.vars[0] = from->name;
	a.vars[1] = to->name;
	a.vars[2] = from->label;
	a.vars[3] = to->label;
	a.data = BUF_DATA(data);
	engine_alert(e, ch->seq, &a);
}

/*
 * The value of the kind's field slot for a change: the event's, else the
 * entity's; NULL if neither has one.
 */
const char *
change_field(const struct change *ch, int slot)
{
	const struct kind *k;

	if (slot < 0)
		return NULL;
	if (ch->ev->fields != NULL && ch->ev->fields[slot] != NULL)
		return ch->ev->fields[slot];
	if (ch->ent == NULL)
		return NULL;
	k = ch->ent->kind;
	return ch->ent->vals[k->nattrs + (size_t)slot].s;
}

/* Tell the rules that follow r of an outcome. */
void
engine_follow(const struct rule *r, struct change *ch,
    const struct outcome *o)
{
	size_t i;

	for (i = 0; i < r->nfollow; i++)
		if (r->follow[i]->prim->follow != NULL)
			r->follow[i]->prim->follow(r->follow[i], ch, o);
}

/* An entity for a rule to read (a ranked one, say); NULL if none. */
struct entity *
engine_entity(struct engine *e, struct kind *k, const char *id)
{
	struct entity *ent;
	int err = 0;

	ent = ecache_get(&e->cache, e->store, k, id, &err);
	return ent != NULL && !ent->removed ? ent : NULL;
}

/*
 * The entity kind/id, created as an upsert would if nothing named it
 * before (a group that a count names, an entity a timer opened a wait on,
 * so that `get` shows it); NULL only if the store cannot be read.  A
 * removed record is taken as it is: what names it still counts in it.
 */
struct entity *
engine_entity_open(struct engine *e, struct kind *k, const char *id,
    int64_t ts)
{
	struct entity *ent;
	int err = 0;

	if ((ent = ecache_get(&e->cache, e->store, k, id, &err)) != NULL ||
	    err)
		return ent;
	ent = ecache_create(&e->cache, k, id);
	ent->created = ts;
	entity_mark_dirty(&e->cache, ent);
	return ent;
}

/*
 * Is there a removed entity kind/id?  A rule that ranges over entities by
 * what it keeps of them (a rank, by their facts) leaves those out.  One
 * that cannot be read counts as not removed: it was there to be scored.
 */
int
engine_removed(struct engine *e, struct kind *k, const char *id)
{
	struct entity *ent;
	int err = 0;

	ent = ecache_get(&e->cache, e->store, k, id, &err);
	return ent != NULL && ent->removed;
}

/*
 * Fire the timers due strictly before now, in due order, each with its
 * rule's alert in the open batch.  A rule's fire must leave its timer
 * alone: the engine cancels it after.  A timer whose rule is gone (a reload
 * removed it) is dropped with a log line.
 */
size_t
engine_fire(struct engine *e, int64_t now, size_t max)
{
	struct timer *t;
	const struct rule *r;
	size_t n = 0;

	if (e->resync && resync(e) != 0)
		return 0;	/* alert ids unknown: wait until readable */
	while (n < max && (t = timers_first(&e->timers)) != NULL &&
	    t->due < now) {
		n++;
		r = ruleset_rule(e->rs, TIMER_RULE(t));
		if (r != NULL && r->prim->fire != NULL)
			r->prim->fire(r, e, t);
		else
			log_notice("timer of rule %s for %s %s dropped: the "
			    "rule is no longer loaded", TIMER_RULE(t),
			    TIMER_KIND(t), TIMER_ENTITY(t));
		e->n_timers_fired++;
		timers_cancel(&e->timers, engine_ops(e), t);
	}
	return n;
}

/*
 * Chained timers.  A mark put or ended is told to every rule that watches
 * marks (a deadline that opens when one ends), in the same batch as the
 * mark's own write; marks change at the rate of assessments, not of
 * events, so asking every rule is cheap.
 */
static void
mark_tell(struct engine *e, const struct mark *m, int ended)
{
	const struct rule *r;
	size_t i;

	for (i = 0; i < e->rs->nrules; i++) {
		r = e->rs->rules[i];
		if (r->prim->mark != NULL)
			r->prim->mark(r, e, m, ended);
	}
}

void
engine_mark_put(struct engine *e, const char *name, const char *kind,
    const char *entity, int64_t since, int64_t until)
{
	facts_mark_put(&e->facts, engine_ops(e), name, kind, entity, since,
	    until);
	mark_tell(e, facts_mark(&e->facts, name, kind, entity), 0);
}

/* A mark's end has come: tell the rules, then forget it. */
void
engine_mark_end(struct engine *e, struct mark *m)
{
	mark_tell(e, m, 1);
	facts_mark_del(&e->facts, engine_ops(e), m);
}

/*
 * Will a timer due at due have fired when ev is applied?  With the event
 * clock, the timers that ev's ts passes fire before it (engine_apply); a
 * rule's check, which runs before them, asks this to see the state that
 * the event will meet.
 */
int
engine_fires_before(const struct engine *e, const struct event *ev,
    int64_t due)
{
	return e->clock_mode == CLOCK_EVENT && ev->ts > e->clock &&
	    due < ev->ts;
}

struct period_list {
	struct fact	**v;
	size_t		  n, cap;
};

static int
by_period_rule(const void *a, const void *b)
{
	const struct fact *const *x = a, *const *y = b;

	if (FACT_PERIOD(*x) != FACT_PERIOD(*y))
		return FACT_PERIOD(*x) < FACT_PERIOD(*y) ? -1 : 1;
	return strcmp(FACT_RULE(*x), FACT_RULE(*y));
}

/*
 * The groups the entity is held in, per rule (a cadence's span), as
 * "spans": {RULE: {"group": G, "since": TS}}.
 */
static void
spans_json(struct engine *e, const struct entity *ent, struct buf *b)
{
	const struct kind *k = ent->kind;
	const struct span *sp;
	char num[40];
	size_t i, n = 0;

	buf_adds(b, ",\"spans\":{");
	for (i = 0; i < k->nrules; i++) {
		if ((sp = facts_span(&e->facts, k->rules[i]->name, k->name,
		    ent->id)) == NULL)
			continue;
		clock_format(sp->since, num, sizeof num);
		buf_addf(b, "%s", n++ ? "," : "");
		buf_add_json_cstr(b, k->rules[i]->name);
		buf_adds(b, ":{\"group\":");
		buf_add_json_cstr(b, sp->grp);
		buf_addf(b, ",\"since\":\"%s\"}", num);
	}
	buf_addc(b, '}');
}

/*
 * What the primitives keep about an entity, as more keys of its ENTITY
 * object: "periods" (per period and rule: the group, then what the rule's
 * primitive writes of its fact, such as a score's parts and total, or the
 * value), "marks" on it, its pending "deadlines" and its "spans".
 */
void
engine_entity_json(struct engine *e, const struct entity *ent, struct buf *b)
{
	const struct kind *k = ent->kind;
	struct period_list pl = { 0 };
	const struct rule *r;
	struct fact *f;
	struct kentry *ke;
	char per[16], num[40];
	size_t i, n;
	int64_t due;
	int32_t last = 0;

	for (f = facts_of(&e->facts, k->name, ent->id); f != NULL;
	    f = f->enext) {
		if (pl.n == pl.cap) {
			pl.cap = pl.cap ? pl.cap * 2 : 8;
			pl.v = xreallocarray(pl.v, pl.cap, sizeof *pl.v);
		}
		pl.v[pl.n++] = f;
	}
	if (pl.n > 1)
		qsort(pl.v, pl.n, sizeof *pl.v, by_period_rule);
	buf_adds(b, ",\"periods\":{");
	for (i = 0; i < pl.n; i++) {
		f = pl.v[i];
		if (i == 0 || FACT_PERIOD(f) != last) {
			period_code_format(FACT_PERIOD(f), per, sizeof per);
			buf_addf(b, "%s\"%s\":{", i ? "}," : "", per);
			last = FACT_PERIOD(f);
		} else
			buf_addc(b, ',');
		buf_add_json_cstr(b, FACT_RULE(f));
		buf_adds(b, ":{\"group\":");
		buf_add_json_cstr(b, f->grp);
		r = ruleset_rule(e->rs, FACT_RULE(f));
		if (r != NULL && r->prim->fact_json != NULL)
			r->prim->fact_json(r, f, b);
		else if (f->has_value)
			buf_addf(b, ",\"value\":%lld", (long long)f->value);
		buf_addc(b, '}');
	}
	buf_adds(b, pl.n > 0 ? "}}" : "}");
	free(pl.v);
	buf_adds(b, ",\"marks\":{");
	n = 0;
	for (i = 0; i < e->facts.marks.nbuckets; i++)
		for (ke = e->facts.marks.buckets[i]; ke != NULL;
		    ke = ke->hnext) {
			const struct mark *m = (const struct mark *)ke;

			if (strcmp(ke->k[1], k->name) != 0 ||
			    strcmp(ke->k[2], ent->id) != 0)
				continue;
			clock_format(m->until, num, sizeof num);
			buf_addf(b, "%s", n++ ? "," : "");
			buf_add_json_cstr(b, ke->k[0]);
			buf_addf(b, ":{\"until\":\"%s\"}", num);
		}
	buf_adds(b, "},\"deadlines\":{");
	n = 0;
	for (i = 0; i < k->nrules; i++) {
		r = k->rules[i];
		if (r->prim->due == NULL || (due = r->prim->due(r, e, ent)) < 0)
			continue;
		clock_format(due, num, sizeof num);
		buf_addf(b, "%s", n++ ? "," : "");
		buf_add_json_cstr(b, r->name);
		buf_addf(b, ":\"%s\"", num);
	}
	buf_addc(b, '}');
	spans_json(e, ent, b);
}

/* When the next timer is due, or -1 if none is armed. */
int64_t
engine_next_due(const struct engine *e)
{
	const struct timer *t = timers_first(&e->timers);

	return t != NULL ? t->due : -1;
}

static void
apply_fields(struct entity *ent, const struct event *ev)
{
	const struct kind *k = ent->kind;
	union val v;
	size_t i;

	for (i = 0; i < k->nfields; i++)
		if (ev->fields[i] != NULL) {
			v.s = ev->fields[i];
			entity_set(ent, k->nattrs + i, v);
		}
	for (i = 0; i < ev->nattrs; i++)
		entity_set(ent, ev->attrs[i].slot, ev->attrs[i].v);
	for (i = 0; ev->et->typed && i < ev->et->nfields; i++)
		if (ev->et->fields[i].aslot >= 0 && EV_HAS(ev, (int)i))
			entity_set(ent, (size_t)ev->et->fields[i].aslot,
			    ev->vals[i]);
}

/*
 * Keep the entity's record as it is before the event in ch->was, for the
 * rules that settle; its strings are held, since the event may drop the
 * record's last reference to them.
 */
static void
was_take(struct engine *e, struct change *ch, const struct entity *ent)
{
	const struct kind *k = ent->kind;
	size_t n = k->nattrs + k->nfields, i;

	if (e->was_cap < n) {
		e->was = xreallocarray(e->was, n, sizeof *e->was);
		e->was_cap = n;
	}
	if (e->was_cls_cap < k->nclass) {
		e->was_cls = xreallocarray(e->was_cls, k->nclass,
		    sizeof *e->was_cls);
		e->was_cls_cap = k->nclass;
	}
	memcpy(e->was, ent->vals, n * sizeof *e->was);
	if (k->nclass > 0)
		memcpy(e->was_cls, ent->cls, k->nclass * sizeof *e->was_cls);
	for (i = 0; i < n; i++)
		if (i >= k->nattrs || k->attrs[i].type == VT_STR)
			intern_ref(e->was[i].s);
	ch->was = e->was;
	ch->was_cls = e->was_cls;
}

static void
was_release(struct change *ch, const struct kind *k)
{
	size_t i;

	if (ch->was == NULL)
		return;
	for (i = 0; i < k->nattrs + k->nfields; i++)
		if (i >= k->nattrs || k->attrs[i].type == VT_STR)
			intern_put(ch->was[i].s);
	ch->was = NULL;
}

/* An event for an entity that is not there, or whose record is closed. */
static void
unknown_entity(const struct event *ev, const struct entity *ent, char *msg,
    size_t msglen)
{
	char ts[40];

	if (ent == NULL) {
		utf8_snprintf(msg, msglen, "%s: unknown %s '%.*s%s'",
		    ev->type, ev->et->kind->name, CLIP(ev->entity));
		return;
	}
	clock_format(ent->removed_ts, ts, sizeof ts);
	utf8_snprintf(msg, msglen, "%s: %s '%.*s%s' was removed at %s",
	    ev->type, ent->kind->name, CLIP(ev->entity), ts);
}

static enum errcode
unavailable(char *msg, size_t msglen)
{
	snprintf(msg, msglen, "storage cannot be read");
	return E_UNAVAILABLE;
}

/* 1 and *seq if an event with this id was accepted, 0 if not, -1 error. */
static int
find_id(struct engine *e, const char *id, int64_t *seq)
{
	const struct idnode *n;

	if ((n = ids_find(e, id)) != NULL) {
		*seq = n->seq;
		return 1;
	}
	if (e->store == NULL || !bloom_may(&e->known_ids, id_hash(id)))
		return 0;
	return store_event_find(e->store, id, seq);
}

/*
 * Apply one event to the open batch.  On E_OK, res holds its seq (or the
 * original seq of a duplicate) and the range of its alerts in the batch.
 * Any other code means nothing of the event was applied.
 */
enum errcode
engine_apply(struct engine *e, struct event *ev, struct ev_result *res,
    char *msg, size_t msglen)
{
	const struct evtype *et = ev->et;
	struct kind *k = et != NULL ? et->kind : NULL;
	struct entity *ent = NULL;
	struct batch *b = engine_batch(e);
	struct change ch;
	enum errcode rc;
	int64_t seq;
	size_t i, fired;
	int err = 0;

	memset(res, 0, sizeof *res);
	res->first_alert = b->nalerts;
	res->et = et;
	if (e->resync && resync(e) != 0)
		return unavailable(msg, msglen);
	if (ev->id != NULL) {
		switch (find_id(e, ev->id, &seq)) {
		case 1:
			res->seq = seq;
			res->duplicate = 1;
			b->nduplicates++;
			return E_OK;
		case 0:
			break;
		default:
			return unavailable(msg, msglen);
		}
	}
	if (k != NULL) {
		ent = ecache_get(&e->cache, e->store, k, ev->entity, &err);
		if (err)
			return unavailable(msg, msglen);
		if (et->action != EV_UPSERT && (ent == NULL || ent->removed)) {
			unknown_entity(ev, ent, msg, msglen);
			engine_trim(e);	/* it may have been loaded to see */
			return E_UNKNOWN_ENTITY;
		}
	}
	memset(&ch, 0, sizeof ch);
	ch.eng = e;
	ch.ev = ev;
	/* an upsert opens a removed record afresh: the rules see a new one */
	ch.ent = ent != NULL && !ent->removed ? ent : NULL;
	/* a rule may refuse the event while nothing is applied yet */
	for (i = 0; et != NULL && i < et->nrules; i++)
		if (et->rules[i]->prim->check != NULL &&
		    (rc = et->rules[i]->prim->check(et->rules[i], &ch, msg,
		    msglen)) != E_OK) {
			engine_trim(e);
			return rc;
		}

	seq = e->next_seq++;
	if (e->store != NULL)
		store_op_event(e->store, &b->job.ops, seq, ev->id, ev->type,
		    ev->ts, ev->line, ev->len);
	if (ev->id != NULL)
		ids_add(e, b, ev->id, seq);
	res->seq = seq;
	b->nevents++;
	if (e->clock_mode == CLOCK_EVENT && ev->ts > e->clock) {
		/* timers the new time passes fire before the event applies */
		if (ent != NULL)
			entity_mark_dirty(&e->cache, ent);	/* keep it */
		fired = engine_fire(e, ev->ts, SIZE_MAX);
		e->clock = ev->ts;
		/* a timer may have opened the event's entity (engine_entity_open) */
		if (fired > 0 && k != NULL && ent == NULL &&
		    (ent = ecache_get(&e->cache, e->store, k, ev->entity,
		    &err)) != NULL)
			entity_mark_dirty(&e->cache, ent);
	}
	if (et == NULL) {	/* clock.tick */
		res->nalerts = b->nalerts - res->first_alert;
		return E_OK;
	}

	ch.seq = seq;
	if (et->action == EV_UPSERT) {
		if (ent == NULL) {
			ent = ecache_create(&e->cache, k, ev->entity);
			ent->created = ev->ts;
			ch.is_new = 1;
		} else if (ent->removed) {
			/* a new record in the same file: history goes on */
			entity_reset(ent);
			ent->removed = 0;
			ent->created = ev->ts;
			ch.is_new = 1;
		}
	} else if (et->action == EV_REMOVE)
		ch.removing = 1;
	if (ent != NULL && k->keep_was && !ch.is_new)
		was_take(e, &ch, ent);
	if (ent != NULL && !ch.removing)
		apply_fields(ent, ev);
	ch.ent = ent;
	for (i = 0; i < et->nrules; i++)
		if (et->rules[i]->prim->eval != NULL)
			et->rules[i]->prim->eval(et->rules[i], &ch);
	/*
	 * Settling keeps indexes for later events and raises nothing, so a
	 * dry run, whose effects are all taken back, skips it.
	 */
	for (i = 0; !e->dry && i < et->nrules; i++)
		if (et->rules[i]->prim->settle != NULL)
			et->rules[i]->prim->settle(et->rules[i], &ch);
	was_release(&ch, k);
	if (ent != NULL) {
		/*
		 * The record is closed, not wiped: its attributes stay as
		 * they were for `get`, and the classify rules have moved it
		 * to their default classes.
		 */
		if (ch.removing) {
			ent->removed = 1;
			ent->removed_ts = ev->ts;
		}
		entity_mark_dirty(&e->cache, ent);
	}
	res->nalerts = b->nalerts - res->first_alert;
	return E_OK;
}

/* Keep a few finished batches, buffers and all, for the next ones. */
static void
batch_recycle(struct engine *e, struct batch *b)
{
	if (e->nspare < 4 && b->job.ops.cap < 16 * 1024 * 1024) {
		b->next = e->spare;
		e->spare = b;
		e->nspare++;
	} else
		batch_free(b);
}

#define INFLIGHT_MAX	4	/* batches handed to the store, not taken back */

/*
 * Hand the open batch to the writer.  Batches pass two stages after the
 * loop, the writer's commit and the syncer's sync (with durability full),
 * and each stage takes what queued for it at once: two batches in flight
 * per stage keep both busy while the loop builds the next.  Past
 * INFLIGHT_MAX the loop waits for the oldest, and the writer is then the
 * bottleneck.  (With two in all, the loop sat idle through every sync and
 * make bench ran about 7% slower.)
 */
void
engine_submit(struct engine *e)
{
	struct batch *b = e->cur;
	int dirty = e->cache.dirty.next != &e->cache.dirty &&
	    (e->store == NULL || store_started(e->store));

	/* records that a rebuild created (count's groups) wait for no event */
	if (b == NULL && (dirty || (BUF_LEN(&e->regroup) > 0 &&
	    store_started(e->store))))
		b = engine_batch(e);
	if (b == NULL)
		return;
	if (BUF_LEN(&e->regroup) > 0 && store_started(e->store)) {
		buf_add(&b->job.ops, BUF_DATA(&e->regroup),
		    BUF_LEN(&e->regroup));
		buf_reset(&e->regroup);
	}
	if (b->npend == 0 && BUF_LEN(&b->job.ops) == 0 && b->nalerts == 0 &&
	    !dirty) {
		e->cur = NULL;
		ids_release(e, b);
		batch_recycle(e, b);
		return;
	}
	e->cur = NULL;
	b->clock = e->clock;
	if (e->store != NULL && e->clock != e->saved_clock) {
		store_op(&b->job.ops, ST_META, "si", "clock", e->clock);
		e->saved_clock = e->clock;
	}
	ecache_stage(&e->cache, e->store != NULL ? &b->job.ops : NULL,
	    b->number);
	b->next = NULL;
	*e->flight_tail = b;
	e->flight_tail = &b->next;
	if (e->store == NULL) {
		b->job.rc = 0;
		engine_reap(e, 0);
		return;
	}
	store_submit(e->store, &b->job);
	if (store_inflight(e->store) > INFLIGHT_MAX)
		engine_reap(e, 1);
}

/*
 * After a failed commit: start a new epoch from the database's state.  The
 * open batch was built on the failed state; it goes to the writer anyway,
 * which refuses it, so that its answers come back in order behind those
 * of the batches before it.
 */
static void
engine_recover(struct engine *e)
{
	struct batch *cur = e->cur;

	e->epoch++;
	e->n_commit_failures++;
	e->cur = NULL;
	e->clock = e->committed_clock;	/* refused events moved it */
	ids_clear(e);
	ecache_clear(&e->cache);
	resync(e);	/* if it fails, events are refused until it works */
	if (e->standby || engine_load(e) != 0)
		e->resync = e->reload = 1;
	e->clock = e->committed_clock;
	if (cur != NULL) {
		cur->next = NULL;
		*e->flight_tail = cur;
		e->flight_tail = &cur->next;
		store_submit(e->store, &cur->job);
	}
}

/*
 * Take back finished batches, oldest first, and hand each to the server
 * with whether it committed.  With wait, block until at least one is back
 * (if any is in flight).
 */
void
engine_reap(struct engine *e, int wait)
{
	struct batch *b;
	struct wjob *j;
	int ok;

	for (;;) {
		if (e->store != NULL) {
			if ((j = store_done(e->store, wait)) == NULL)
				return;
			b = container_of(j, struct batch, job);
		} else if ((b = e->flight) == NULL)
			return;
		wait = 0;
		assert(b == e->flight);
		if ((e->flight = b->next) == NULL)
			e->flight_tail = &e->flight;
		ok = b->job.rc == 0;
		ids_release(e, b);
		if (ok) {
			e->committed = b->number;
			e->committed_clock = b->clock;
			e->n_events += b->nevents;
			e->n_duplicates += b->nduplicates;
			e->n_alerts += b->nalerts;
			e->n_batches++;
		} else if (b->job.epoch == e->epoch) {
			log_warnx("database: a batch of %llu events %s; those "
			    "after it are answered unavailable",
			    (unsigned long long)b->nevents,
			    b->job.rc == STORE_DOUBT ? "may or may not have "
			    "been committed" : "could not be committed, nor "
			    "they");
			engine_recover(e);
		}
		if (e->done != NULL)
			e->done(e->done_arg, b, ok ? 1 : b->job.rc == STORE_DOUBT ?
			    -1 : 0);
		if (ok)
			ecache_trim(&e->cache, e->committed);
		batch_recycle(e, b);
	}
}

/* Submit the open batch and wait until everything has come back. */
void
engine_sync(struct engine *e)
{
	engine_submit(e);
	while (e->flight != NULL)
		engine_reap(e, 1);
}

/* A client is gone: its pending answers go nowhere. */
void
engine_forget(struct engine *e, struct client *c)
{
	struct batch *b;
	size_t i;

	if ((b = e->cur) != NULL)
		for (i = 0; i < b->npend; i++)
			if (b->pend[i].c == c)
				b->pend[i].c = NULL;
	for (b = e->flight; b != NULL; b = b->next)
		for (i = 0; i < b->npend; i++)
			if (b->pend[i].c == c)
				b->pend[i].c = NULL;
}

/* Is the writer waiting for work? */
int
engine_writer_idle(struct engine *e)
{
	return e->store == NULL || store_idle(e->store);
}

void
engine_trim(struct engine *e)
{
	ecache_trim(&e->cache, e->committed);
}

/* The alerts of one event's result, comma separated. */
void
engine_alerts_json(const struct batch *b, const struct ev_result *r,
    struct buf *out)
{
	size_t i;

	for (i = 0; i < r->nalerts; i++) {
		const struct alert_ref *a = &b->alerts[r->first_alert + i];

		if (i > 0)
			buf_addc(out, ',');
		buf_add(out, b->balerts.p + a->off, a->len);
	}
}

/*
 * explain: for every rule of the entity's kind, where the entity stands
 * and why, as a JSON array: the rule, its primitive and where it is
 * defined, then what the primitive's explain hook writes (or, without
 * one, the state it keeps for the entity).
 */
void
engine_explain(struct engine *e, const struct entity *ent, struct buf *b)
{
	const struct rule *r;
	size_t i, n = 0;

	buf_addc(b, '[');
	for (i = 0; i < e->rs->nrules; i++) {
		if ((r = e->rs->rules[i])->kind != ent->kind)
			continue;
		buf_adds(b, n++ ? ",{\"rule\":" : "{\"rule\":");
		buf_add_json_cstr(b, r->name);
		buf_adds(b, ",\"primitive\":");
		buf_add_json_cstr(b, r->prim->name);
		buf_adds(b, ",\"at\":");
		rules_at(r, r->line, b);
		if (r->prim->explain != NULL)
			r->prim->explain(r, e, ent, b);
		else if (r->prim->state_json != NULL) {
			buf_adds(b, ",\"state\":");
			r->prim->state_json(r, ent, b);
		}
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}

/* What a dry run moves that is not read back from the store. */
struct dry_save {
	int64_t		 next_seq, next_alert, clock, timer_id;
	uint64_t	 nbatches, fired, n_timers_fired, ops;
};

/*
 * Take a dry run back, as a failed commit is (engine_recover), but only
 * as far as it went: its batch is dropped unsubmitted (ids, operations,
 * alerts), the entities it changed are forgotten, and the facts, marks,
 * spans, closures and timers are read again from the store if it wrote
 * any of them.  Nothing was in flight: the store holds the state that the
 * dry run started from.
 */
static void
dry_rollback(struct engine *e, const struct dry_save *sv)
{
	struct batch *b;

	if ((b = e->cur) != NULL) {
		e->cur = NULL;
		ids_release(e, b);
		batch_recycle(e, b);
	}
	ecache_drop_dirty(&e->cache);
	if (store_op_count() != sv->ops && (facts_load(&e->facts, e->store,
	    e->rs) != 0 || timers_load(&e->timers, e->store) != 0)) {
		/* as after a failed commit: refuse events until it reads */
		log_warnx("database: cannot read facts and timers back after "
		    "a dry run");
		engine_recover(e);
		e->n_commit_failures--;
	}
	e->next_seq = sv->next_seq;
	e->next_alert = sv->next_alert;
	e->clock = sv->clock;
	e->timers.next_id = sv->timer_id;
	e->timers.fired = sv->fired;
	e->n_timers_fired = sv->n_timers_fired;
	e->nbatches = sv->nbatches;
	engine_trim(e);
}

/*
 * dry_run: apply ev as engine_apply would, write into out the answer that
 * pushing it would get (alerts without ids, "dry_run":true), and take it
 * all back.  It runs between batches: whatever was read before it is
 * committed first (the caller syncs; so does this, if need be), so that
 * it starts from the stored state and takes back nothing of another
 * client's.  Another code than E_OK: the error a push would get.
 */
enum errcode
engine_dry_run(struct engine *e, struct event *ev, struct buf *out,
    char *msg, size_t msglen)
{
	struct dry_save sv;
	struct ev_result res;
	enum errcode rc;

	if (e->store == NULL) {
		snprintf(msg, msglen, "dry_run needs a database");
		return E_INTERNAL;
	}
	if (e->cur != NULL || e->flight != NULL)
		engine_sync(e);
	sv.next_seq = e->next_seq;
	sv.next_alert = e->next_alert;
	sv.clock = e->clock;
	sv.timer_id = e->timers.next_id;
	sv.nbatches = e->nbatches;
	sv.fired = e->timers.fired;
	sv.n_timers_fired = e->n_timers_fired;
	sv.ops = store_op_count();
	e->dry = 1;
	rc = engine_apply(e, ev, &res, msg, msglen);
	e->dry = 0;
	if (rc == E_OK) {
		buf_adds(out, "{\"ok\":true,\"dry_run\":true,\"seq\":");
		buf_add_int(out, res.seq);
		if (res.duplicate)
			buf_adds(out, ",\"duplicate\":true");
		buf_adds(out, ",\"alerts\":[");
		if (e->cur != NULL)
			engine_alerts_json(e->cur, &res, out);
		buf_adds(out, "]}\n");
	}
	dry_rollback(e, &sv);
	return rc;
}
