/*
 * engine.c, entity.c, decode.c, clock.c: events decoded from lines, applied
 * to entities under the current ruleset, their effects staged for one
 * transaction per batch.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <cjson/cJSON.h>

#include "zhilid.h"
#include "rules.h"

struct store;

/* Error codes of the socket protocol (DESIGN.md section 2). */
enum errcode {
	E_OK, E_BAD_JSON, E_TOO_LARGE, E_UNKNOWN_TYPE, E_BAD_EVENT,
	E_UNKNOWN_ENTITY, E_CONFLICT, E_FORBIDDEN, E_UNAVAILABLE, E_BAD_RULES,
	E_INTERNAL
};
const char	*errcode_name(enum errcode);

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
	int		 dirty;
	int		 removed;
};
struct ecache {
	struct entity	**buckets;
	size_t		  nbuckets;
	size_t		  count;
	size_t		  capacity;
	struct entity	  lru;		/* sentinel: clean entities */
	struct entity	  dirty;	/* sentinel: changed in this batch */
};
void		 ecache_init(struct ecache *, size_t);
void		 ecache_clear(struct ecache *);
struct entity	*ecache_get(struct ecache *, struct store *, struct kind *,
		    const char *, int *);
struct entity	*ecache_create(struct ecache *, struct kind *, const char *);
void		 entity_reset(struct entity *);
void		 entity_set(struct entity *, size_t, union val);
void		 entity_mark_dirty(struct ecache *, struct entity *);
int		 ecache_flush(struct ecache *, struct store *);
void		 ecache_trim(struct ecache *);
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
	const char	*line;
	size_t		 len;
};
enum { REQ_EVENT, REQ_CMD };
struct request {
	int		 what;		/* REQ_EVENT or REQ_CMD */
	cJSON		*root;
	const char	*cmd;
	struct event	 ev;
};
int		 json_check(const char *, size_t, char *, size_t);
enum errcode	 decode_line(const struct ruleset *, int64_t, const char *,
		    size_t, struct request *, char *, size_t);
void		 request_clear(struct request *);
void		 request_free(struct request *);

/* engine.c */
struct alert_ref {
	size_t		 off, len;	/* in engine.balerts */
};
struct ev_result {
	int64_t		 seq;
	int		 duplicate;
	size_t		 first_alert;	/* index in engine.alerts */
	size_t		 nalerts;
};
struct engine {
	struct ruleset	*rs;
	struct store	*store;		/* NULL: evaluate only (benchmarks) */
	struct ecache	 cache;
	int		 clock_mode;
	int64_t		 clock;		/* event clock */
	int64_t		 next_seq;
	int64_t		 next_alert;
	int		 in_batch;
	int		 failed;	/* a write of the batch failed */
	uint64_t	 b_events, b_duplicates;	/* in the batch */
	struct buf	 balerts;	/* JSON of the batch's alerts */
	struct alert_ref *alerts;
	size_t		 nalerts, alerts_cap;
	uint64_t	 generation;
	/* counters for stats */
	uint64_t	 n_events, n_duplicates, n_alerts, n_commits;
	uint64_t	 n_commit_failures;
};
struct change {
	struct engine	*eng;
	struct entity	*ent;
	const struct event *ev;
	int64_t		 seq;
	int		 is_new;
	int		 removing;
};
struct engine	*engine_new(struct ruleset *, struct store *, int, size_t);
void		 engine_free(struct engine *);
void		 engine_set_rules(struct engine *, struct ruleset *);
int64_t		 engine_now(const struct engine *);
enum errcode	 engine_apply(struct engine *, struct event *,
		    struct ev_result *, char *, size_t);
int		 engine_commit(struct engine *);
void		 engine_abort(struct engine *);
void		 engine_batch_reset(struct engine *);
void		 engine_alerts_json(const struct engine *,
		    const struct ev_result *, struct buf *);
void		 engine_class_changed(struct change *, const struct rule *,
		    const struct klass *, const struct klass *);

#endif
