/*
 * The in-process benchmark: the daemon's own decoder and engine over a file
 * of events (no socket, no storage), beside the hand-written reference of
 * ref.c (cJSON and a hard-coded if-chain), in one run on the same bytes.
 * Both must classify every line the same way, or the comparison is void.
 *
 *   inproc FILE [RULES]     RULES defaults to ../../rules/four_color.yaml
 *
 * INPROC_SILENCES=N installs N silences first, none of which matches an
 * event of gen.c (communities C0000..C0999 hold them all), as an operator
 * would have them: by entity, by community, by grid and rule prefix, and
 * a few by rule prefix alone; so every alert raised pays for the check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zhilid.h"
#include "conf.h"
#include "rules.h"
#include "engine.h"
#include "bench.h"

/*
 * Passes of each, alternating, best kept: a spell of the shared machine's
 * noise then hits one pass, not the comparison.
 */
#define PASSES	5

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		perror(path);
		exit(1);
	}
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Silence i of n, of the mix above; its match keys in m. */
static void
bench_silence(struct engine *e, struct ruleset *rs, int i)
{
	struct silence *s;
	cJSON *m = cJSON_CreateObject();
	char v[32], msg[256];

	switch (i % 20) {
	case 0:		/* 1 in 20: the unindexed ones, tested one by one */
		snprintf(v, sizeof v, "other%d.*", i);
		cJSON_AddStringToObject(m, "rule", v);
		break;
	case 1: case 2: case 3: case 4: case 5: case 6: case 7:
		snprintf(v, sizeof v, "H9%06d", i);
		cJSON_AddStringToObject(m, "entity", v);
		break;
	case 8: case 9: case 10: case 11: case 12: case 13: case 14:
		snprintf(v, sizeof v, "C9%03d", i % 1000);
		cJSON_AddStringToObject(m, "community", v);
		cJSON_AddStringToObject(m, "severity", "critical");
		break;
	default:
		snprintf(v, sizeof v, "G9%03d-01", i % 1000);
		cJSON_AddStringToObject(m, "grid", v);
		cJSON_AddStringToObject(m, "rule", "four_color.*");
		break;
	}
	if ((s = silence_parse(m, rs, msg, sizeof msg)) == NULL) {
		fprintf(stderr, "inproc: %s\n", msg);
		exit(1);
	}
	s->until = INT64_MAX;
	engine_silence(e, s, "{}", NULL, 0);
	cJSON_Delete(m);
}

/*
 * One pass of decode + evaluate, with the daemon's default entity cache
 * (limits.entity_cache); returns events/s, counts alerts.
 */
static double
engine_pass(struct ruleset *rs, const char *buf, size_t len, long *events,
    long *alerts)
{
	struct engine *e = engine_new(rs, NULL, CLOCK_WALL, 50000);
	struct request req;
	struct ev_result res;
	const char *p = buf, *end = buf + len, *nl;
	const char *ns = getenv("INPROC_SILENCES");
	char msg[256];
	double t0, t;
	int i;

	for (i = 0; ns != NULL && i < atoi(ns); i++)
		bench_silence(e, rs, i);
	t0 = now();

	memset(&req, 0, sizeof req);
	*events = *alerts = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl > p) {
			if (decode_line(rs, 0, p, (size_t)(nl - p), &req, msg,
			    sizeof msg) != E_OK ||
			    engine_apply(e, &req.ev, &res, msg, sizeof msg) !=
			    E_OK) {
				fprintf(stderr, "inproc: %s\n", msg);
				exit(1);
			}
			(*events)++;
			*alerts += (long)res.nalerts;
			if (e->cur->nevents >= 4096)
				engine_submit(e);	/* as the server does */
		}
		p = nl + 1;
	}
	engine_submit(e);
	t = now() - t0;
	request_free(&req);
	engine_free(e);
	return (double)*events / t;
}

int
main(int argc, char **argv)
{
	const char *rules = argc > 2 ? argv[2] : "../../rules/four_color.yaml";
	char *files[1] = { (char *)(uintptr_t)rules };
	struct errs errs = { 0 };
	struct ruleset *rs;
	size_t len, counts[REF_NCLASSES], i, colored = 0;
	double best_e = 0, best_r = 0, r, x;
	long events = 0, alerts = 0;
	char *buf;
	int pass;

	if (argc < 2) {
		fprintf(stderr, "usage: inproc FILE [RULES]\n");
		return 2;
	}
	log_init(0, 0);
	clock_set_zone("Asia/Shanghai");
	if ((rs = ruleset_load(files, 1, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.v[i]);
		return 1;
	}
	buf = slurp(argv[1], &len);
	for (pass = 0; pass < PASSES; pass++) {
		if ((x = engine_pass(rs, buf, len, &events, &alerts)) > best_e)
			best_e = x;
		if (ref_run_counts(buf, len, &r, counts) < 0)
			return 1;
		if (r > best_r)
			best_r = r;
	}
	/* every household is new, so each coloured one raises one alert */
	for (i = REF_YELLOW; i < REF_NCLASSES; i++)
		colored += counts[i];
	printf("inproc_events %ld\n", events);
	printf("inproc_engine_events_per_sec %.0f\n", best_e);
	printf("inproc_reference_events_per_sec %.0f\n", best_r);
	printf("inproc_ratio %.2f\n", best_e / best_r);
	printf("inproc_alerts %ld (reference %zu)\n", alerts, colored);
	free(buf);
	ruleset_free(rs);
	if ((size_t)alerts != colored) {
		fprintf(stderr, "inproc: engine and reference disagree\n");
		return 1;
	}
	return 0;
}
