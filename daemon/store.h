/*
 * store.h: the storage of events, entities, history, alerts and what the
 * rules keep, behind one interface whatever the backend (store.c chooses
 * SQLite, store-sqlite.c, or PostgreSQL, store-pg.c, by the database
 * value).
 *
 * The loop thread reads; a writer thread commits jobs, each a batch of
 * write operations serialised into a buffer, in order, the jobs that
 * queued together in one transaction, and hands a job back only once its
 * commit is durable (as the backend and durability define it).
 */
#ifndef STORE_H
#define STORE_H

#include <stdint.h>

#include "zhilid.h"

struct store;

struct wjob {
	struct wjob	*next;
	struct buf	 ops;		/* store_op_* records */
	uint64_t	 epoch;		/* jobs of a failed epoch are refused */
	int		 rc;		/* set by the writer: 0 committed */
	uint64_t	 term;		/* the tenure it was built in */
	uint64_t	 submitted, done;	/* CLOCK_MONOTONIC ns (metrics) */
};
/*
 * A job's rc when the connection to the database went during its COMMIT
 * and the server did not come back in time to say whether it committed.
 */
#define STORE_DOUBT	1
uint64_t	 store_mono_ns(void);

int		 store_is_url(const char *);
struct store	*store_open(const char *, int, char **);
void		 store_close(struct store *);
void		 store_start(struct store *, void (*)(void *), void *);
int		 store_started(const struct store *);
void		 store_submit(struct store *, struct wjob *);
struct wjob	*store_done(struct store *, int);
unsigned	 store_inflight(struct store *);
void		 store_counts(struct store *, uint64_t *, uint64_t *);
int		 store_idle(struct store *);
void		 store_prune(struct store *, int64_t);
void		 store_prune_counts(struct store *, uint64_t *, uint64_t *,
		    uint64_t *);

/*
 * Active/standby (store-pg.c): one daemon a database commits, the holder
 * of its lock.  store_role says whether this one holds it and since which
 * taking (its term, counted from 1); the loop loads the database's state
 * and then serves that term: jobs submitted after carry it, and the
 * writer refuses a job of any other term than the one it holds the lock
 * for.  SQLite's store is active, term 1, from the start.
 */
enum { STORE_STANDBY, STORE_ACTIVE };
int		 store_role(struct store *, uint64_t *);
void		 store_serve(struct store *, uint64_t);

/* write operations, appended to a job */
void	 store_op_event(struct store *, struct buf *, int64_t, const char *,
	    const char *, int64_t, const char *, size_t);
void	 store_op_entity(struct buf *, const char *, const char *,
	    const char *, int, const char *, size_t, int, int64_t, int64_t,
	    int64_t);
void	 store_op_history(struct buf *, const char *, const char *, int64_t,
	    const char *, const char *, const char *, const char *, int64_t);
void	 store_op_alert(struct buf *, int64_t, const char *, const char *,
	    const char *, const char *, const char *, int64_t, int64_t,
	    const char *, size_t, const char *, const char *, int64_t);
void	 store_op_ack(struct buf *, int64_t, int64_t, int64_t);
enum store_stmt {
	ST_FACT,	/* rule kind entity period grp | value parts | ts */
	ST_CLOSE,	/* cycle grp period ts seq */
	ST_MARK_PUT,	/* name kind entity since until */
	ST_MARK_DEL,	/* name kind entity */
	ST_TIMER_PUT,	/* id due rule kind entity tag aux */
	ST_TIMER_DEL,	/* id */
	ST_META,	/* key value */
	ST_SPAN_PUT,	/* rule kind entity grp since seen seen_mask */
	ST_SPAN_DEL,	/* rule kind entity */
	ST_REGROUP,	/* kind field: set grp of every entity of kind */
	/* silences (silence.c) */
	ST_SILENCE_PUT,	/* id match until comment uid created */
	ST_SILENCE_END,	/* id ended ended_by */
	/* outputs (output.c) */
	ST_OUTPUT_POS,	/* key last_id */
	ST_OUTPUT_CLEAR	/* (none): forget every output's position */
};
void	 store_op(struct buf *, enum store_stmt, const char *, ...);
uint64_t store_op_count(void);

/* reads, on the loop thread; they see committed jobs only */
int64_t	 store_max_seq(struct store *);
int64_t	 store_max_alert(struct store *);
int64_t	 store_max_silence(struct store *);
int	 store_event_find(struct store *, const char *, int64_t *);
int	 store_entity_count(struct store *, int64_t *);
int	 store_event_id_count(struct store *, int64_t *);
int	 store_event_ids(struct store *, void (*)(void *, const char *),
	    void *);
int	 store_entity_keys(struct store *, void (*)(void *, const char *,
	    const char *), void *);
int	 store_group_rows(struct store *, const char *, const char *,
	    const char *, int64_t, int (*)(void *, const char *,
	    const char *), void *);
int	 store_entity_rows(struct store *, const char *, void (*)(void *,
	    const char *, const char *, int), void *);
int	 store_entity_load(struct store *, const char *, const char *,
	    char **, int *, int64_t *, int64_t *);
int	 store_history_json(struct store *, const char *, const char *, int,
	    struct buf *);
enum store_table { TB_FACTS, TB_CLOSURES, TB_MARKS, TB_TIMERS, TB_META,
    TB_SPANS, TB_SILENCES, TB_OUTPUTS };
#define STORE_ROW_MAX	12
struct store_row {
	const char	*s[STORE_ROW_MAX];	/* text columns, else NULL */
	int64_t		 i[STORE_ROW_MAX];	/* every column as an integer */
};
int	 store_select(struct store *, enum store_table,
	    void (*)(void *, const struct store_row *), void *);
int	 store_alerts_json(struct store *, int64_t, int64_t, const char *,
	    int, int, struct buf *, int64_t *);
int	 store_silences_json(struct store *, int, int64_t, struct buf *);
int64_t	 store_unsilenced_count(struct store *, int64_t, int64_t);

/*
 * A connection of its own, for a thread that reads the committed alerts
 * (an output): each call is a short read transaction of its own.
 */
struct store_reader;
struct store_alert {
	int64_t		 id, ts;
	const char	*rule, *severity, *kind, *entity, *period;
	const char	*message, *data, *event;
	size_t		 msglen;
};
struct store_reader *store_reader_open(struct store *, char **);
int	 store_reader_alerts(struct store_reader *, int64_t, int64_t, int,
	    void (*)(void *, const struct store_alert *), void *);
const char *store_reader_error(struct store_reader *);
void	 store_reader_close(struct store_reader *);

#endif
