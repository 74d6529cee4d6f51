/*
 * metrics.c: the counters, gauges and histograms of the `metrics` command
 * (OpenMetrics text) and of the textfile that node_exporter's textfile
 * collector reads (Prometheus text).
 */
#ifndef METRICS_H
#define METRICS_H

#include <ev.h>

#include "engine.h"

#define HIST_MAX	16

/* Cumulative buckets over bounds in the observed unit (ns, events). */
struct hist {
	const uint64_t	*le;
	size_t		 n;
	double		 scale;		/* printed bound = le / scale */
	uint64_t	 count[HIST_MAX + 1];	/* the last: above every bound */
	uint64_t	 total, sum;
};

/*
 * Counters by name: an event type's (applied, duplicate) or an alert's
 * (one per severity).  Entries are never removed, so that a counter goes
 * on counting across a reload that keeps its name, and a name that a
 * reload drops keeps its last value (Prometheus counters never go back).
 */
struct mcount {
	char		*name;
	uint64_t	 n[3];
};

struct metrics {
	struct mcount	*types, *alerts;
	size_t		 ntypes, nalerts;
	/* the current ruleset's evtype idx and alert aidx, to the above */
	size_t		*tmap, *amap;
	size_t		 ntmap, namap;
	uint64_t	 errors[E_INTERNAL + 1];
	uint64_t	 reloads_ok, reloads_failed;
	uint64_t	 accepted;	/* connections */
	uint64_t	 silenced;	/* alerts committed silenced */
	struct hist	 commit, batch;
	ev_timer	 tick;		/* writes the textfile */
	int		 failing;	/* the last textfile write failed */
};

enum { METRICS_OPENMETRICS, METRICS_PROMETHEUS };

struct server;
void	 metrics_init(struct metrics *);
void	 metrics_bind(struct metrics *, const struct ruleset *);
void	 metrics_batch(struct metrics *, const struct batch *);
void	 metrics_text(struct server *, struct buf *, int);
void	 metrics_start(struct server *);
void	 metrics_stop(struct server *);
void	 metrics_free(struct metrics *);

#endif
