/*
 * Metrics: counters that the loop keeps as batches come back from the
 * writer (so they count what was committed, not what was tried), and the
 * text that shows them with the gauges read at that moment.  Two flavours
 * of the same text: OpenMetrics 1.0 for the `metrics` command, and the
 * Prometheus text format 0.0.4 for the textfile, since node_exporter's
 * textfile collector parses only that one (its counters' TYPE lines name
 * the series with _total, and it has no # EOF).
 *
 * Per-type and per-alert counters are found without a string lookup on
 * the hot path: rules.c numbers event types (evtype.idx) and alert
 * definitions (aidx), and metrics_bind maps those numbers to counters by
 * name once per load.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "store.h"

/* Commit latency bounds, ns: 0.5 ms to 10 s. */
static const uint64_t commit_le[] = {
	500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000ULL,
	5000000000ULL, 10000000000ULL
};
/* Events per batch: powers of two up to the batch limit (server.c). */
static const uint64_t batch_le[] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192
};
#define NELEM(a)	(sizeof (a) / sizeof (a)[0])

static const char *const sev_names[] = { "info", "warning", "critical" };

void
metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof *m);
	m->commit.le = commit_le;
	m->commit.n = NELEM(commit_le);
	m->commit.scale = 1e9;
	m->batch.le = batch_le;
	m->batch.n = NELEM(batch_le);
	m->batch.scale = 1;
}

static void
hist_observe(struct hist *h, uint64_t v)
{
	size_t i;

	for (i = 0; i < h->n && v > h->le[i]; i++)
		;
	h->count[i]++;
	h->total++;
	h->sum += v;
}

/* The counter of name, added if new. */
static size_t
mcount_slot(struct mcount **v, size_t *n, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i].name, name) == 0)
			return i;
	*v = xreallocarray(*v, *n + 1, sizeof **v);
	memset(&(*v)[*n], 0, sizeof **v);
	(*v)[*n].name = xstrdup(name);
	return (*n)++;
}

/*
 * Map the ruleset's numbering to counters by name; at start and at every
 * reload, before the new rules evaluate anything.  A linear search per
 * name: a ruleset has some hundreds of them, once per load.
 */
void
metrics_bind(struct metrics *m, const struct ruleset *rs)
{
	size_t i;

	if (m->ntypes == 0)	/* slot 0: clock.tick, which has no evtype */
		mcount_slot(&m->types, &m->ntypes, "clock.tick");
	m->tmap = xreallocarray(m->tmap, rs->nevtypes + 1, sizeof *m->tmap);
	m->ntmap = rs->nevtypes;
	for (i = 0; i < rs->nevtypes; i++)
		m->tmap[i] = mcount_slot(&m->types, &m->ntypes,
		    rs->evtypes[i]->name);
	m->amap = xreallocarray(m->amap, rs->nalerts + 1, sizeof *m->amap);
	m->namap = rs->nalerts;
	for (i = 0; i < rs->nalerts; i++)
		m->amap[i] = mcount_slot(&m->alerts, &m->nalerts,
		    rs->alerts[i]);
}

/* A batch committed: count its events, alerts, size and latency. */
void
metrics_batch(struct metrics *m, const struct batch *b)
{
	const struct pending *p;
	const struct alert_ref *a;
	size_t i, t;

	for (i = 0; i < b->npend; i++) {
		p = &b->pend[i];
		if (p->ack)
			continue;
		t = p->res.et == NULL ? 0 : p->res.et->idx < m->ntmap ?
		    m->tmap[p->res.et->idx] : 0;
		m->types[t].n[p->res.duplicate ? 1 : 0]++;
	}
	for (i = 0; i < b->nalerts; i++) {
		a = &b->alerts[i];
		if (a->aidx < m->namap && a->severity >= 0 && a->severity < 3)
			m->alerts[m->amap[a->aidx]].n[a->severity]++;
		if (a->silenced)
			m->silenced++;
	}
	hist_observe(&m->batch, b->nevents + b->nduplicates);
	if (b->job.done >= b->job.submitted && b->job.submitted != 0)
		hist_observe(&m->commit, b->job.done - b->job.submitted);
}

/* Label values are names from rule files; escape them all the same. */
static void
label(struct buf *b, const char *key, const char *v)
{
	buf_addf(b, "%s=\"", key);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_addc(b, '\\');
		if (*v == '\n')
			buf_adds(b, "\\n");
		else
			buf_addc(b, *v);
	}
	buf_addc(b, '"');
}

/*
 * HELP and TYPE of a family.  A counter's family is named without
 * _total in OpenMetrics and with it in the Prometheus format; unit, if
 * not NULL, is the name's last word, announced in OpenMetrics only.
 */
static void
head(struct buf *b, int flavor, const char *name, const char *type,
    const char *unit, const char *help)
{
	const char *sfx = flavor == METRICS_PROMETHEUS &&
	    strcmp(type, "counter") == 0 ? "_total" : "";

	buf_addf(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, sfx, help,
	    name, sfx, type);
	if (unit != NULL && flavor == METRICS_OPENMETRICS)
		buf_addf(b, "# UNIT %s %s\n", name, unit);
}

static void
counter(struct buf *b, int flavor, const char *name, const char *help,
    uint64_t v)
{
	head(b, flavor, name, "counter", NULL, help);
	buf_addf(b, "%s_total %llu\n", name, (unsigned long long)v);
}

static void
gauge(struct buf *b, int flavor, const char *name, const char *help,
    long long v)
{
	head(b, flavor, name, "gauge", NULL, help);
	buf_addf(b, "%s %lld\n", name, v);
}

static void
hist_text(struct buf *b, int flavor, const char *name, const char *unit,
    const char *help, const struct hist *h)
{
	uint64_t cum = 0;
	size_t i;

	head(b, flavor, name, "histogram", unit, help);
	for (i = 0; i < h->n; i++) {
		cum += h->count[i];
		buf_addf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		    (double)h->le[i] / h->scale, (unsigned long long)cum);
	}
	buf_addf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_count %llu\n",
	    name, (unsigned long long)h->total, name,
	    (unsigned long long)h->total);
	if (h->scale == 1)	/* a count: exact, whatever its size */
		buf_addf(b, "%s_sum %llu\n", name,
		    (unsigned long long)h->sum);
	else
		buf_addf(b, "%s_sum %.9f\n", name, (double)h->sum / h->scale);
}

static void
events_text(const struct metrics *m, struct buf *b, int flavor)
{
	size_t i;
	int dup;

	for (dup = 0; dup < 2; dup++) {
		head(b, flavor, dup ? "zhilid_events_duplicate" :
		    "zhilid_events", "counter", NULL, dup ?
		    "Events whose id was already accepted, by type (answered, "
		    "not applied again)." :
		    "Events committed to the event log, by type.");
		for (i = 0; i < m->ntypes; i++) {
			buf_adds(b, dup ? "zhilid_events_duplicate_total{" :
			    "zhilid_events_total{");
			label(b, "type", m->types[i].name);
			buf_addf(b, "} %llu\n",
			    (unsigned long long)m->types[i].n[dup]);
		}
	}
}

static void
alerts_text(const struct metrics *m, struct buf *b, int flavor)
{
	size_t i;
	int s;

	head(b, flavor, "zhilid_alerts", "counter", NULL, "Alerts committed, "
	    "by rule (the alert's name) and severity.");
	for (i = 0; i < m->nalerts; i++)
		for (s = 0; s < 3; s++) {
			buf_adds(b, "zhilid_alerts_total{");
			label(b, "rule", m->alerts[i].name);
			buf_addc(b, ',');
			label(b, "severity", sev_names[s]);
			buf_addf(b, "} %llu\n",
			    (unsigned long long)m->alerts[i].n[s]);
		}
}

static void
errors_text(const struct metrics *m, struct buf *b, int flavor)
{
	int e;

	head(b, flavor, "zhilid_errors", "counter", NULL, "Error answers, by "
	    "code (socket protocol).");
	for (e = E_BAD_JSON; e <= E_INTERNAL; e++)
		buf_addf(b, "zhilid_errors_total{code=\"%s\"} %llu\n",
		    errcode_name((enum errcode)e),
		    (unsigned long long)m->errors[e]);
}

/*
 * One sample per configured output: the committed unsilenced alerts it
 * has not yet delivered.  With no output the family is announced with no
 * sample, so that dashboards and alerts can name it anyway.
 */
static void
outputs_text(struct server *srv, struct buf *b, int flavor)
{
	const struct outputs *outs = &srv->outputs;
	size_t i;

	head(b, flavor, "zhilid_output_lag_alerts", "gauge", NULL, "Alerts "
	    "committed but not yet delivered, by output.");
	for (i = 0; i < outs->n; i++) {
		buf_adds(b, "zhilid_output_lag_alerts{");
		label(b, "output", outs->v[i].name);
		buf_addf(b, "} %lld\n", (long long)output_lag(&outs->v[i]));
	}
}

static unsigned
subscribers(struct server *srv)
{
	const struct client *c;
	unsigned n = 0;

	for (c = srv->clients.next; c != &srv->clients; c = c->next)
		if (c->subscriber && !c->doomed)
			n++;
	return n;
}

/* Retention (zhilid.conf(5)): the events it deleted. */
static void
retention_text(struct server *srv, struct buf *b, int flavor)
{
	uint64_t n = 0, max_us = 0, commit_us = 0;

	if (srv->store != NULL)
		store_prune_counts(srv->store, &n, &max_us, &commit_us);
	counter(b, flavor, "zhilid_events_pruned", "Events deleted from the "
	    "event log by retention.", n);
}

void
metrics_text(struct server *srv, struct buf *b, int flavor)
{
	struct metrics *m = &srv->metrics;
	struct engine *e = srv->eng;

	events_text(m, b, flavor);
	alerts_text(m, b, flavor);
	errors_text(m, b, flavor);
	hist_text(b, flavor, "zhilid_commit_latency_seconds", "seconds",
	    "From a batch's hand-off to the writer until it is committed "
	    "(and synced, with durability full).", &m->commit);
	hist_text(b, flavor, "zhilid_batch_events", NULL, "Events per "
	    "committed batch (group commit), duplicates included.",
	    &m->batch);
	counter(b, flavor, "zhilid_lines", "Request lines read.",
	    srv->n_lines);
	counter(b, flavor, "zhilid_commit_failures", "Batches that storage "
	    "could not commit.", e->n_commit_failures);
	counter(b, flavor, "zhilid_timers_fired", "Rule timers fired.",
	    e->n_timers_fired);
	counter(b, flavor, "zhilid_connections", "Connections accepted.",
	    m->accepted);
	counter(b, flavor, "zhilid_subscribers_dropped", "Subscribers "
	    "disconnected for not reading.", srv->n_dropped);
	head(b, flavor, "zhilid_reloads", "counter", NULL, "Rule reloads, by "
	    "result.");
	buf_addf(b, "zhilid_reloads_total{result=\"ok\"} %llu\n"
	    "zhilid_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)m->reloads_ok,
	    (unsigned long long)m->reloads_failed);
	gauge(b, flavor, "zhilid_clients", "Connected clients.",
	    srv->nclients);
	gauge(b, flavor, "zhilid_subscribers", "Connected subscribers.",
	    subscribers(srv));
	gauge(b, flavor, "zhilid_entities_cached", "Entities in the memory "
	    "cache.", (long long)e->cache.count);
	gauge(b, flavor, "zhilid_facts", "Facts (per entity and period) in "
	    "memory.", (long long)facts_count(&e->facts));
	gauge(b, flavor, "zhilid_timers_pending", "Rule timers waiting to "
	    "fire.", (long long)e->timers.n);
	gauge(b, flavor, "zhilid_rules_generation", "Generation of the "
	    "rules: 1 at start, one more per successful reload.",
	    (long long)e->generation);
	gauge(b, flavor, "zhilid_rules", "Rules loaded.",
	    (long long)srv->rs->nrules);
	gauge(b, flavor, "zhilid_event_seq", "Seq of the last event "
	    "committed or in flight.", (long long)(e->next_seq - 1));
	gauge(b, flavor, "zhilid_start_time_seconds", "When the daemon "
	    "started, Unix time.", (long long)srv->started);
	/* active/standby (PostgreSQL): the sum over a pair should be 1 */
	gauge(b, flavor, "zhilid_active", "1 if this daemon holds its "
	    "database's lock and serves (always with SQLite), 0 if it is a "
	    "standby.", server_standby(srv) == NULL);
	/* silences (silence.c) */
	counter(b, flavor, "zhilid_alerts_silenced", "Alerts committed that "
	    "a silence covered (counted in zhilid_alerts_total too).",
	    m->silenced);
	gauge(b, flavor, "zhilid_silences_active", "Silences neither ended "
	    "nor past their until.", (long long)silences_active(
	    &e->silences, engine_now(e)));
	retention_text(srv, b, flavor);
	outputs_text(srv, b, flavor);
	if (flavor == METRICS_OPENMETRICS)
		buf_adds(b, "# EOF\n");
}

/*
 * Replace the textfile: write a temporary file beside it and rename it
 * over, so that the collector reads the old or the new text, never half
 * of one.  No fsync: the text is rewritten every interval, and waiting
 * for the disk here would stall the loop; after a crash the collector
 * may see an old or empty file until the next write.  Mode 0644 whatever
 * the umask (the unit's 0007), for node_exporter's user to read.
 */
static int
textfile_write(const char *path, const struct buf *text)
{
	char *tmp = xasprintf("%s.tmp", path);
	size_t off = 0;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		goto out;
	if (fchmod(fd, 0644) == -1)
		goto bad;
	while (off < BUF_LEN(text)) {
		if ((n = write(fd, BUF_DATA(text) + off, BUF_LEN(text) -
		    off)) == -1) {
			if (errno == EINTR)
				continue;
			goto bad;
		}
		off += (size_t)n;
	}
	if (close(fd) == -1) {
		fd = -1;
		goto bad;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto bad;
	rc = 0;
	goto out;
bad:
	if (fd != -1)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	return rc;
}

/* Log a failure once, and the recovery, not every interval. */
static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = container_of(w, struct server, metrics.tick);
	const char *path = srv->conf->metrics_textfile;
	struct buf text = { 0 };

	metrics_text(srv, &text, METRICS_PROMETHEUS);
	if (textfile_write(path, &text) != 0) {
		if (!srv->metrics.failing)
			log_warn("metrics.textfile %s: cannot write; trying "
			    "again every %llds", path,
			    srv->conf->metrics_interval);
		srv->metrics.failing = 1;
	} else if (srv->metrics.failing) {
		log_notice("metrics.textfile %s: written again", path);
		srv->metrics.failing = 0;
	}
	buf_free(&text);
}

/* Write the textfile now and every interval, if the config asks. */
void
metrics_start(struct server *srv)
{
	if (srv->conf->metrics_textfile == NULL)
		return;
	ev_timer_init(&srv->metrics.tick, tick_cb, 0.,
	    (double)srv->conf->metrics_interval);
	ev_timer_start(srv->loop, &srv->metrics.tick);
}

void
metrics_stop(struct server *srv)
{
	ev_timer_stop(srv->loop, &srv->metrics.tick);
}

void
metrics_free(struct metrics *m)
{
	size_t i;

	for (i = 0; i < m->ntypes; i++)
		free(m->types[i].name);
	for (i = 0; i < m->nalerts; i++)
		free(m->alerts[i].name);
	free(m->types);
	free(m->alerts);
	free(m->tmap);
	free(m->amap);
}
