/*
 * store-impl.h: what the two storage backends (store-sqlite.c,
 * store-pg.c) share with store.c, which dispatches to them.  Nothing but
 * the store's own files includes it: above the store, store.h is all.
 *
 * store.c owns the job queue and the writer thread: it takes the queued
 * jobs of one epoch and calls the backend's commit with them, then hands
 * them back (or lets the backend do it later, as SQLite's syncer does).
 * The backends own their connections and answer the reads.
 */
#ifndef STORE_IMPL_H
#define STORE_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "store.h"

/* Write statements: those of store.h (the last ST_*), then the fixed ones. */
enum { SW_EVENT = ST_OUTPUT_CLEAR + 1, SW_ENTITY, SW_HISTORY, SW_ALERT,
    SW_ACK, SW_ENTITY_MOVED,
    SW_SHAPE,		/* id template: a new template of the event log */
    SW_N };

#define STORE_PARAMS_MAX	12

/* One parameter, in the order of the statement's SQL (?1, $1, ...). */
struct store_param {
	const char	*s;		/* text, NUL-terminated; NULL: SQL NULL */
	uint32_t	 len;
	int		 is_int;	/* else text or NULL */
	int64_t		 i;
};

/* One decoded write operation of a job. */
struct store_wop {
	int			 stmt;	/* ST_* or SW_* */
	int			 n;
	struct store_param	 p[STORE_PARAMS_MAX];
};

struct store_cursor {
	struct store	*s;		/* its shapes: events' templates */
	const char	*p, *end;
};

/*
 * The reads without parameters: the same SQL in both backends.  The last
 * seq counts the events that retention deleted (schema 007's meta key),
 * so that a log it emptied still counts on.
 */
#define SQL_MAX_SEQ	"SELECT coalesce(max(v), 0) FROM (SELECT max(seq) " \
	"AS v FROM events UNION ALL SELECT CAST(value AS bigint) FROM meta " \
	"WHERE key = 'events.pruned') AS m"
#define SQL_SHAPES	"SELECT id, template FROM shapes ORDER BY id"
#define SQL_MAX_ALERT	"SELECT coalesce(max(id), 0) FROM alerts"
#define SQL_ENT_COUNT	"SELECT count(*) FROM entities"
#define SQL_ENT_KEYS	"SELECT kind, id FROM entities"
#define SQL_ID_COUNT	"SELECT count(eid) FROM events"
#define SQL_IDS		"SELECT eid FROM events WHERE eid IS NOT NULL"
#define SQL_CLOSURES	"SELECT cycle, grp, period, ts, seq FROM closures"
#define SQL_MARKS	"SELECT name, kind, entity, since, until FROM marks"
#define SQL_TIMERS	"SELECT rule, kind, entity, tag, id, due, aux " \
	"FROM timers ORDER BY id"
#define SQL_META	"SELECT key, value FROM meta"
#define SQL_SPANS	"SELECT rule, kind, entity, grp, seen, since, " \
	"seen_mask FROM spans"
#define SQL_ALERT_COLUMNS "id, rule, severity, kind, entity, period, ts, " \
	"message, data, event, acked, acked_by, acked_ts, silenced"
#define SQL_SILENCES	"SELECT match, id, until FROM silences " \
	"WHERE ended IS NULL ORDER BY id"
#define SQL_MAX_SILENCE	"SELECT coalesce(max(id), 0) FROM silences"
#define SQL_OUTPUTS	"SELECT key, last_id FROM output_positions"

/* A row of silences, for store_silence_json. */
struct store_silence {
	int64_t		 id, until, uid, created;
	int64_t		 ended, ended_by;	/* -1: not ended */
	const char	*match, *comment;
};
void	 store_silence_json(struct buf *, const struct store_silence *,
	    int64_t);

void	 store_cursor_init(struct store_cursor *, struct store *,
	    const struct buf *);
int	 store_wop_next(struct store_cursor *, struct store_wop *);

/*
 * Retention: a backend's prune deletes at most PRUNE_ROWS of the events
 * with ts < cutoff, the oldest first, in a transaction of its own that
 * stops after about PRUNE_BUDGET_US of deleting, and records the last seq
 * deleted; it returns how many it deleted (*more: there may be others
 * below the cutoff) or -1, with why in err.
 */
#define PRUNE_ROWS	1000
#define PRUNE_BUDGET_US	2000
int64_t	 store_elapsed_us(uint64_t);

struct store_backend {
	const char	*name;
	/* the writer thread: commit jobs first..end (exclusive) at once */
	int	 (*commit)(struct store *, struct wjob *, struct wjob *);
	/* optional: take over committed jobs (else store.c hands them back) */
	void	 (*committed)(struct store *, struct wjob *, struct wjob *);
	void	 (*start)(struct store *);	/* before the writer starts */
	void	 (*stop)(struct store *);	/* after the writer stopped */
	void	 (*free)(struct store *);	/* connections and the struct */
	/* optional: the writer thread, about once a second while idle */
	void	 (*tick)(struct store *);

	int64_t	 (*max_seq)(struct store *);
	int64_t	 (*max_alert)(struct store *);
	int64_t	 (*max_silence)(struct store *);
	int	 (*event_find)(struct store *, const char *, int64_t *);
	int	 (*entity_count)(struct store *, int64_t *);
	int	 (*event_id_count)(struct store *, int64_t *);
	int	 (*event_ids)(struct store *, void (*)(void *, const char *),
		    void *);
	int	 (*entity_keys)(struct store *, void (*)(void *, const char *,
		    const char *), void *);
	int	 (*group_rows)(struct store *, const char *, const char *,
		    const char *, int64_t, int (*)(void *, const char *,
		    const char *), void *);
	int	 (*entity_rows)(struct store *, const char *, void (*)(void *,
		    const char *, const char *, int), void *);
	int	 (*entity_load)(struct store *, const char *, const char *,
		    char **, int *, int64_t *, int64_t *);
	int	 (*history_json)(struct store *, const char *, const char *, int,
		    struct buf *);
	int	 (*select)(struct store *, enum store_table,
		    void (*)(void *, const struct store_row *), void *);
	int	 (*alerts_json)(struct store *, int64_t, int64_t, const char *,
		    int, int, struct buf *, int64_t *);
	int	 (*silences_json)(struct store *, int, int64_t, struct buf *);
	/* outputs (output.c) */
	int64_t	 (*unsilenced_count)(struct store *, int64_t, int64_t);
	struct store_reader *(*reader_open)(struct store *, char **);
	int	 (*reader_alerts)(struct store_reader *, int64_t, int64_t, int,
		    void (*)(void *, const struct store_alert *), void *);
	const char *(*reader_error)(struct store_reader *);
	void	 (*reader_close)(struct store_reader *);

	/* retention, on the writer thread between two commits */
	int64_t	 (*prune)(struct store *, int64_t, int *, char *, size_t);
};

/* The part of a store that store.c keeps; a backend's struct starts with it. */
struct store {
	const struct store_backend *be;
	pthread_t	 thread;
	int		 started;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;		/* work for the writer */
	pthread_cond_t	 donecv;	/* a job is done */
	struct wjob	*queue, **queue_tail;
	struct wjob	*done, **done_tail;
	unsigned	 inflight;	/* submitted, not yet taken back */
	int		 stop;
	int		 busy;		/* the writer has work (atomic) */
	int		 stalled;	/* the writer waits on the network (atomic) */
	uint64_t	 bad_epoch;	/* refuse jobs of this epoch or older */
	uint64_t	 n_commits;	/* transactions committed (atomic) */
	uint64_t	 n_syncs;	/* WAL syncs (atomic) */
	int		 role;		/* STORE_* (atomic; the writer sets it) */
	uint64_t	 term;		/* lock takings so far (atomic) */
	uint64_t	 serving;	/* the term the loop serves (its own) */
	void		 (*wake)(void *);
	void		*wake_arg;
	/* retention: the writer deletes events with ts < cutoff */
	int64_t		 prune_cutoff;	/* asked for, under mu */
	int64_t		 pruned_to;	/* none left below it (writer's) */
	uint64_t	 prune_retry;	/* after a failure, not before (ns) */
	uint64_t	 prune_last;	/* the end of the last batch (ns) */
	uint64_t	 n_pruned;	/* events deleted (atomic) */
	uint64_t	 prune_max_us;	/* the longest batch (atomic) */
	uint64_t	 commit_max_us;	/* the longest group commit (atomic) */
	/* the writer's: the event log's templates by id (evlog.c) */
	struct shapes	 shapes;
	struct buf	 line;		/* a line put back together */
	/* the loop thread's: the last line's template, scratch buffers */
	struct buf	 last, tmpl, vals;
};

/* An output's connection; a backend's reader struct starts with it. */
struct store_reader {
	const struct store_backend *be;
};

void	 store_init(struct store *, const struct store_backend *);
void	 store_fini(struct store *);
void	 store_hand_back(struct store *, struct wjob *, struct wjob *);
void	 store_set_role(struct store *, int);

struct store	*store_sqlite_open(const char *, int, char **);
struct store	*store_pg_open(const char *, int, char **);

/* checkpoint.c, for store-sqlite.c */
struct sqlite3;
struct ckpt;
struct ckpt	*ckpt_start(struct sqlite3 *, struct sqlite3 *);
void		 ckpt_stop(struct ckpt *);

#endif
