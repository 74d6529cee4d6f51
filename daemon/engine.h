/*
 * engine.c, entity.c, json.c, decode.c, clock.c: events decoded from lines,
 * applied to entities under the current ruleset, their effects staged for
 * one transaction per batch.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <cjson/cJSON.h>

#include "zhilid.h"
#include "kmap.h"
#include "rules.h"
#include "store.h"

struct store;

/* Error codes of the socket protocol (DESIGN.md section 2). */
enum errcode {
	E_OK, E_BAD_JSON, E_TOO_LARGE, E_UNKNOWN_TYPE, E_BAD_EVENT,
	E_UNKNOWN_ENTITY, E_CONFLICT, E_FORBIDDEN, E_UNAVAILABLE, E_BAD_RULES,
	E_INTERNAL
};
const char	*errcode_name(enum errcode);
void		 error_json(struct buf *, enum errcode, const char *);

/* entity.c: the entity cache over the store */
struct entity {
	struct entity	*hnext;		/* hash chain */
	struct entity	*prev, *next;	/* LRU, or the dirty list */
	struct kind	*kind;
	char		*id;
	uint64_t	 hash;
	union val	*vals;		/* attrs, then fields (owned strings) */
	uint16_t	*cls;		/* class per classify slot */
	int64_t		 created;
	uint64_t	 pin;		/* last batch that wrote it */
	size_t		 size;		/* of its allocation */
	uint8_t		 dirty;
	uint8_t		 removed;	/* closed: get shows it, rules don't */
	uint8_t		 moved;		/* its first field changed since the
					   store last had it (grp, schema 5) */
	int64_t		 removed_ts;	/* the removal's ts, if removed */
};
#define ECACHE_CLASSES	32	/* spare lists of 64-byte size classes */
struct ecache {
	struct entity	**buckets;
	size_t		  nbuckets;
	size_t		  count;
	size_t		  capacity;
	struct entity	  lru;		/* sentinel: clean entities */
	struct entity	  dirty;	/* sentinel: changed in this batch */
	struct bloom	  known;	/* keys in the database */
	struct store	 *store;
	struct entity	 *spare[ECACHE_CLASSES];	/* freed, by size */
	unsigned	  nspare[ECACHE_CLASSES];
};
void		 ecache_init(struct ecache *, size_t);
int		 ecache_attach(struct ecache *, struct store *);
void		 ecache_clear(struct ecache *);
struct entity	*ecache_get(struct ecache *, struct store *, struct kind *,
		    const char *, int *);
struct entity	*ecache_create(struct ecache *, struct kind *, const char *);
struct entity	*ecache_peek(const struct ecache *, const struct kind *,
		    const char *);
void		 entity_reset(struct entity *);
void		 entity_set(struct entity *, size_t, union val);
void		 entity_mark_dirty(struct ecache *, struct entity *);
void		 ecache_stage(struct ecache *, struct buf *, uint64_t);
void		 ecache_trim(struct ecache *, uint64_t);
void		 ecache_drop_dirty(struct ecache *);
void		 entity_state_json(const struct entity *, struct buf *);
void		 entity_json(const struct entity *, struct buf *);

/* decode.c */
struct ev_attr {
	size_t		 slot;
	union val	 v;
};
struct event {
	const struct evtype *et;
	const char	*type;
	const char	*id;		/* idempotency key, or NULL */
	int64_t		 ts;
	const char	*entity;
	const char	**fields;	/* per kind field, NULL if absent */
	size_t		 fields_cap;
	struct ev_attr	*attrs;
	size_t		 nattrs, attrs_cap;
	union val	 vals[EV_FIELDS_MAX];	/* typed fields, by index */
	uint32_t	 present;		/* bit i: vals[i] is set */
	const char	*line;
	size_t		 len;
};
#define EV_HAS(ev, i)	((i) >= 0 && ((ev)->present & (1u << (i))))
enum { REQ_EVENT, REQ_CMD };
struct request {
	int		 what;		/* REQ_EVENT or REQ_CMD */
	cJSON		*root;
	const char	*cmd;
	struct event	 ev;
};
/* json.c */
int		 json_check(const char *, size_t, char *, size_t);
cJSON		*json_parse(const char *, size_t, int *, char *, size_t);
void		 json_arena_reset(void);
void		 json_arena_free(void);
enum errcode	 decode_line(const struct ruleset *, int64_t, const char *,
		    size_t, struct request *, char *, size_t);
int		 json_ts(const cJSON *, int64_t *);
void		 request_clear(struct request *);
void		 request_free(struct request *);

/*
 * facts.c: what the stateful primitives keep per entity and period (a
 * score's parts, a rank's outcome, a band's level), closed periods and
 * marks, all in memory and written through to the store.
 */
#define FACT_PARTS	8
struct fact {
	struct kentry	 ke;		/* rule kind entity - period */
	struct fact	*enext;		/* the entity's facts */
	struct fact	*gnext, **gprev; /* its rule's, period's and group's */
	const char	*grp;		/* interned, or NULL */
	int64_t		 value;
	int		 has_value;
	int64_t		 ts;
	uint32_t	 mask;		/* parts present */
	int64_t		 parts[FACT_PARTS];
};
#define FACT_RULE(f)	((f)->ke.k[0])
#define FACT_KIND(f)	((f)->ke.k[1])
#define FACT_ENTITY(f)	((f)->ke.k[2])
#define FACT_PERIOD(f)	((int32_t)(f)->ke.n)
struct mark {
	struct kentry	 ke;		/* name kind entity */
	int64_t		 since, until;
};
/*
 * A span: an entity held in a group since a moment, and the periods in
 * which an event that its rule counts came (prim-cadence.c).
 */
struct span {
	struct kentry	 ke;		/* rule kind entity */
	const char	*grp;		/* interned */
	int64_t		 since;
	int32_t		 seen;		/* latest period with one; 0: none */
	uint64_t	 mask;		/* bit i: period seen - i had one */
};
#define SPAN_RULE(s)	((s)->ke.k[0])
#define SPAN_KIND(s)	((s)->ke.k[1])
#define SPAN_ENTITY(s)	((s)->ke.k[2])
#define MARK_NAME(m)	((m)->ke.k[0])
#define MARK_KIND(m)	((m)->ke.k[1])
#define MARK_ENTITY(m)	((m)->ke.k[2])
struct facts {
	struct kmap	 facts;
	struct kmap	 ents;		/* kind entity -> chain of facts */
	struct kmap	 groups;	/* rule grp - - period -> chain */
	struct kmap	 closures;	/* cycle grp - - period */
	struct kmap	 marks;
	struct kmap	 spans;
};
struct fact	*facts_find(struct facts *, const char *, const char *,
		    const char *, int32_t);
struct fact	*facts_put(struct facts *, const char *, const char *,
		    const char *, int32_t);
void		 fact_set_group(struct facts *, struct fact *, const char *);
struct fact	*facts_group(struct facts *, const char *, const char *,
		    int32_t);
void		 fact_write(const struct fact *, const struct rule *,
		    struct buf *);
void		 fact_parts_json(const struct fact *, const struct rule *,
		    struct buf *);
struct fact	*facts_latest_before(struct facts *, const char *,
		    const char *, const char *, int32_t);
struct fact	*facts_of(struct facts *, const char *, const char *);
void		 facts_each(struct facts *, void (*)(void *, struct fact *),
		    void *);
int		 facts_closed(struct facts *, const char *, const char *,
		    int32_t);
void		 facts_close(struct facts *, const char *, const char *,
		    int32_t);
struct mark	*facts_mark(struct facts *, const char *, const char *,
		    const char *);
void		 facts_mark_put(struct facts *, struct buf *, const char *,
		    const char *, const char *, int64_t, int64_t);
void		 facts_mark_del(struct facts *, struct buf *, struct mark *);
struct span	*facts_span(struct facts *, const char *, const char *,
		    const char *);
struct span	*facts_span_put(struct facts *, const char *, const char *,
		    const char *, const char *, int64_t);
void		 facts_span_write(const struct span *, struct buf *);
void		 facts_span_del(struct facts *, struct buf *, struct span *);
int		 facts_load(struct facts *, struct store *,
		    const struct ruleset *);
void		 facts_clear(struct facts *);
size_t		 facts_count(const struct facts *);

/* timer.c: deadlines and expiries, in a heap, written through. */
struct timer {
	struct kentry	 ke;		/* rule kind entity tag */
	int64_t		 due;
	int64_t		 id;
	int64_t		 aux;
	size_t		 slot;		/* in the heap */
};
#define TIMER_RULE(t)	((t)->ke.k[0])
#define TIMER_KIND(t)	((t)->ke.k[1])
#define TIMER_ENTITY(t)	((t)->ke.k[2])
#define TIMER_TAG(t)	((t)->ke.k[3])
struct timers {
	struct kmap	 map;
	struct timer	**heap;
	size_t		 n, cap;
	int64_t		 next_id;
	uint64_t	 fired;
};
struct timer	*timers_find(struct timers *, const char *, const char *,
		    const char *, const char *);
void		 timers_set(struct timers *, struct buf *, const char *,
		    const char *, const char *, const char *, int64_t,
		    int64_t);
void		 timers_cancel(struct timers *, struct buf *, struct timer *);
struct timer	*timers_first(const struct timers *);
int		 timers_load(struct timers *, struct store *);
void		 timers_clear(struct timers *);

/* silence.c: what operators silenced, checked for every alert raised */
struct silence {
	struct silence	*hnext;		/* in its index bucket, or the rest */
	uint64_t	 hash;		/* of the value it is indexed by */
	int64_t		 id;
	int64_t		 until;		/* the last moment it covers */
	char		*rule;		/* exact, or a prefix */
	size_t		 rule_len;
	int		 prefix;	/* the rule ended in '*' */
	char		*kind, *entity;	/* or NULL: any */
	int		 severity;	/* -1: any */
	char		**fields;	/* the entity's field names ... */
	char		**values;	/* ... and the values they must have */
	size_t		 nfields;
};
struct silences {
	struct silence	**all;		/* in id order */
	size_t		  n, cap;
	struct silence	**buckets;	/* by the value each is indexed by */
	size_t		  nbuckets;
	struct silence	 *rest;		/* those with no such value */
	struct silence	**rest_tail;
	size_t		  nindex[5];	/* how many by each key (silence.c) */
	int64_t		  next_id;
};
struct alert_out;
struct silence	*silence_parse(const cJSON *, const struct ruleset *, char *,
		    size_t);
void		 silence_free(struct silence *);
void		 silences_add(struct silences *, struct silence *, int64_t);
void		 silences_end(struct silences *, int64_t, int64_t);
int		 silences_load(struct silences *, struct store *, int64_t);
void		 silences_clear(struct silences *);
size_t		 silences_active(const struct silences *, int64_t);
struct engine;
int64_t		 silences_match(struct engine *, const struct alert_out *,
		    const char *, int);

/* engine.c */
struct client;
struct alert_ref {
	size_t		 off, len;	/* in batch.balerts */
	int64_t		 seq;		/* the raising event's; 0: a timer's */
	size_t		 aidx;		/* in ruleset.alerts (metrics) */
	int		 severity;
	int64_t		 silenced;	/* the silence's id, or 0 */
};
struct ev_result {
	int64_t		 seq;
	int		 duplicate;
	const struct evtype *et;	/* NULL: clock.tick (metrics) */
	size_t		 first_alert;	/* index in batch.alerts */
	size_t		 nalerts;
};
/* An answer owed once its batch commits. */
enum { PEND_EVENT, PEND_ACK, PEND_SILENCE };
struct pending {
	struct client	*c;		/* NULL once the client is gone */
	struct ev_result res;		/* PEND_SILENCE: seq is its id */
	int		 ack;		/* PEND_*: what answer is owed */
};
struct idchunk;
struct idnode {
	struct idnode	*hnext;		/* in the engine's id set */
	struct idnode	*bnext;		/* in its batch */
	uint64_t	 hash;
	int64_t		 seq;
	char		 id[];
};
/*
 * The effects of the events applied since the last submit: the write
 * operations for the store, the alerts, and the answers owed.
 */
struct batch {
	struct wjob	 job;		/* what the writer commits */
	struct batch	*next;		/* in flight, in order */
	uint64_t	 number;
	struct buf	 balerts;	/* JSON of the batch's alerts */
	struct alert_ref *alerts;
	size_t		 nalerts, alerts_cap;
	struct pending	*pend;
	size_t		 npend, pend_cap;
	struct idnode	*ids;		/* event ids logged by the batch */
	struct idchunk	*idmem;		/* where they live */
	uint64_t	 nevents, nduplicates;
	int64_t		 clock;		/* event clock after the batch */
	int64_t		 last_alert;	/* id of its last alert (outputs) */
};
/* ok: 1 committed, 0 not, -1 unknown (STORE_DOUBT) */
typedef void engine_done_fn(void *, struct batch *, int);
struct engine {
	struct ruleset	*rs;
	struct store	*store;		/* NULL: evaluate only (benchmarks) */
	struct ecache	 cache;
	int		 clock_mode;
	int64_t		 clock;		/* event clock */
	int64_t		 committed_clock;	/* as of the last commit */
	int64_t		 next_seq;
	int64_t		 next_alert;
	struct batch	*cur;		/* open, not yet submitted */
	struct batch	*flight, **flight_tail;	/* submitted, in order */
	struct batch	*spare;		/* free batches, buffers kept */
	unsigned	 nspare;
	uint64_t	 nbatches;	/* numbers given to batches */
	uint64_t	 committed;	/* number of the last committed batch */
	uint64_t	 epoch;
	int		 resync;	/* counters must be read again */
	int		 reload;	/* and, first, what engine_load reads */
	struct idnode	**ids;		/* ids of events not yet committed */
	struct bloom	 known_ids;	/* ids in the database */
	size_t		 nidbuckets, nids;
	engine_done_fn	*done;
	void		*done_arg;
	uint64_t	 generation;
	struct buf	 scratch;	/* an alert's data */
	struct buf	 msg;		/* an alert's message */
	struct facts	 facts;
	struct timers	 timers;
	struct silences	 silences;
	union val	*was;		/* change.was, reused */
	uint16_t	*was_cls;
	size_t		 was_cap, was_cls_cap;
	int64_t		 saved_clock;	/* as written to the store */
	struct coverage	*cov;		/* rule tests' coverage, or NULL */
	int		 dry;		/* applying a dry run's event */
	/*
	 * The field that the store's grp column holds for each kind, as
	 * recorded in meta ("group.KIND"), and the operations that fill it
	 * again for the kinds whose first field the rules changed; they go
	 * with the next batch.
	 */
	char		**grp_kinds, **grp_fields;
	size_t		  ngrp;
	struct buf	  regroup;
	/* counters for stats */
	uint64_t	 n_events, n_duplicates, n_alerts, n_batches;
	uint64_t	 n_timers_fired;
	uint64_t	 n_commit_failures;
	/* a standby keeps no state: it has none until it takes over */
	int		 standby;
};
struct change {
	struct engine	*eng;
	struct entity	*ent;
	const struct event *ev;
	int64_t		 seq;
	int		 is_new;
	int		 removing;
	/*
	 * The entity's values and classes before the event, for the rules
	 * that settle (rules.h); NULL if it was not live, or if no rule of
	 * its kind asks (kind.keep_was).
	 */
	const union val	*was;
	const uint16_t	*was_cls;
};
/* An alert being raised; see engine_alert. */
#define ALERT_VARS	12
struct alert_out {
	const struct rule *rule;
	const struct alert_def *def;	/* NULL: the rule's own alert */
	const char	*kind, *entity;
	int32_t		 period;	/* 0: none */
	int64_t		 ts;
	const struct event *ev;		/* NULL for a timer's */
	const struct entity *ent;	/* for the template, or NULL */
	int		 severity;	/* when def is NULL */
	const char	*vars[ALERT_VARS];	/* by index of prim->vars */
	const char	*data;		/* a JSON object */
};
void		 tmpl_render(const struct tmpl *, const struct alert_out *,
		    struct buf *);
void		 tmpl_evfield(struct buf *, const struct event *, const char *);
struct engine	*engine_new(struct ruleset *, struct store *, int, size_t);
int		 engine_load(struct engine *);
/* active/standby (store.h's store_role) */
void		 engine_standby(struct engine *);
int		 engine_takeover(struct engine *);
void		 engine_free(struct engine *);
void		 engine_on_done(struct engine *, engine_done_fn *, void *);
void		 engine_set_rules(struct engine *, struct ruleset *);
int64_t		 engine_now(const struct engine *);
enum errcode	 engine_apply(struct engine *, struct event *,
		    struct ev_result *, char *, size_t);
struct batch	*engine_batch(struct engine *);
void		 engine_pend(struct engine *, struct client *,
		    const struct ev_result *, int);
int		 engine_ack(struct engine *, int64_t, int64_t);
int64_t		 engine_silence(struct engine *, struct silence *,
		    const char *, const char *, int64_t);
int		 engine_unsilence(struct engine *, int64_t, int64_t);
void		 engine_submit(struct engine *);
void		 engine_reap(struct engine *, int);
void		 engine_sync(struct engine *);
void		 engine_trim(struct engine *);
int		 engine_writer_idle(struct engine *);
void		 engine_forget(struct engine *, struct client *);
void		 engine_alerts_json(const struct batch *,
		    const struct ev_result *, struct buf *);
void		 engine_class_changed(struct change *, const struct rule *,
		    const struct klass *, const struct klass *, const char *);
void		 engine_alert(struct engine *, int64_t,
		    const struct alert_out *);
struct buf	*engine_ops(struct engine *);
int64_t		 engine_seq(const struct engine *);
struct entity	*engine_entity(struct engine *, struct kind *,
		    const char *);
struct entity	*engine_entity_open(struct engine *, struct kind *,
		    const char *, int64_t);
int		 engine_removed(struct engine *, struct kind *,
		    const char *);
size_t		 engine_fire(struct engine *, int64_t, size_t);
int64_t		 engine_next_due(const struct engine *);
void		 engine_entity_json(struct engine *, const struct entity *,
		    struct buf *);
const char	*change_field(const struct change *, int);
void		 engine_follow(const struct rule *, struct change *,
		    const struct outcome *);
/* engine.c: chained timers (marks told to rules, entities they open) */
void		 engine_mark_put(struct engine *, const char *, const char *,
		    const char *, int64_t, int64_t);
void		 engine_mark_end(struct engine *, struct mark *);
int		 engine_fires_before(const struct engine *,
		    const struct event *, int64_t);
/* engine.c: explain and dry_run */
void		 engine_explain(struct engine *, const struct entity *,
		    struct buf *);
enum errcode	 engine_dry_run(struct engine *, struct event *, struct buf *,
		    char *, size_t);

/* coverage.c: which outcomes of the rules the rule tests reach */
struct coverage;
struct coverage	*coverage_new(void);
void		 coverage_free(struct coverage *);
void		 coverage_rules(struct coverage *, const struct ruleset *);
void		 coverage_reach(struct coverage *, const struct rule *, size_t);
int		 coverage_full(const struct coverage *);
int		 coverage_fixed(const char *const *, size_t, size_t,
		    struct buf *);
void		 coverage_report(const struct coverage *, FILE *, int);
void		 coverage_unreached(const struct coverage *,
		    const struct ruleset *, struct errs *);
/* A rule reached its outcome i: one test of a pointer unless asked. */
#define ENGINE_REACH(e, r, i) do {					\
	if ((e)->cov != NULL)						\
		coverage_reach((e)->cov, (r), (i));			\
} while (0)

#endif
