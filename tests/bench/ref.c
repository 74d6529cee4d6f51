/*
 * The reference of the in-process benchmark: what a careful programmer
 * writes by hand for the four-colour map alone. Each line is parsed with
 * cJSON_ParseWithLength, its fields are read and type-checked as the
 * daemon must (type, id, ts, household, community, grid, and attrs with
 * unknown or mistyped attributes refused), the household is classified by
 * the if-chain of rules/four_color.yaml, and the tree is freed. No storage, no
 * socket. Built standalone with -DREF_MAIN: `ref FILE` prints the best of
 * three passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "bench.h"

struct attrs {
	long	age;
	int	lives_alone, disabled, low_income, chronic_ill, key_person;
	int	mental_risk, petition_active, dispute_open, left_behind_child;
};

static const char *class_names[REF_NCLASSES] = {
	"none", "yellow", "orange", "blue", "red"
};

const char *
ref_class_name(int c)
{
	return c >= 0 && c < REF_NCLASSES ? class_names[c] : "?";
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 1 when the n bytes at p are all blanks (no request: no event). */
static int
blank(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	return n == 0;
}

static int
classify(const struct attrs *a)
{
	if (a->key_person || a->mental_risk)
		return REF_RED;
	if (a->petition_active || a->dispute_open)
		return REF_BLUE;
	if ((a->age >= 80 && a->lives_alone) || (a->disabled && a->low_income))
		return REF_ORANGE;
	if (a->age >= 70 || a->disabled || a->low_income || a->chronic_ill ||
	    a->lives_alone || a->left_behind_child)
		return REF_YELLOW;
	return REF_NONE;
}

static int
is_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring[0] != '\0';
}

static int
set_bool(int *dst, const cJSON *v)
{
	if (!cJSON_IsBool(v))
		return -1;
	*dst = cJSON_IsTrue(v);
	return 0;
}

/* Reads attrs into a; -1 on an unknown attribute or a wrong type. */
static int
read_attrs(const cJSON *obj, struct attrs *a)
{
	const cJSON *v;
	const char *k;
	int r;

	memset(a, 0, sizeof(*a));
	cJSON_ArrayForEach(v, obj) {
		k = v->string;
		if (strcmp(k, "age") == 0) {
			if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble)
				return -1;
			a->age = (long)v->valuedouble;
			continue;
		}
		if (strcmp(k, "lives_alone") == 0)
			r = set_bool(&a->lives_alone, v);
		else if (strcmp(k, "disabled") == 0)
			r = set_bool(&a->disabled, v);
		else if (strcmp(k, "low_income") == 0)
			r = set_bool(&a->low_income, v);
		else if (strcmp(k, "chronic_ill") == 0)
			r = set_bool(&a->chronic_ill, v);
		else if (strcmp(k, "key_person") == 0)
			r = set_bool(&a->key_person, v);
		else if (strcmp(k, "mental_risk") == 0)
			r = set_bool(&a->mental_risk, v);
		else if (strcmp(k, "petition_active") == 0)
			r = set_bool(&a->petition_active, v);
		else if (strcmp(k, "dispute_open") == 0)
			r = set_bool(&a->dispute_open, v);
		else if (strcmp(k, "left_behind_child") == 0)
			r = set_bool(&a->left_behind_child, v);
		else
			r = -1;
		if (r == -1)
			return -1;
	}
	return 0;
}

/* One line: the class, or -1. */
static int
ref_line(const char *line, size_t len)
{
	cJSON *root, *type, *ts, *attrs;
	struct attrs a;
	int c = -1;

	if ((root = cJSON_ParseWithLength(line, len)) == NULL)
		return -1;
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
	attrs = cJSON_GetObjectItemCaseSensitive(root, "attrs");
	if (!cJSON_IsObject(root) || !cJSON_IsString(type) ||
	    strcmp(type->valuestring, "household.upsert") != 0 ||
	    !is_string(root, "id") || !is_string(root, "household") ||
	    !is_string(root, "community") || !is_string(root, "grid") ||
	    !cJSON_IsNumber(ts) || ts->valuedouble < 0 ||
	    ts->valuedouble > 253402300799.0 || !cJSON_IsObject(attrs) ||
	    read_attrs(attrs, &a) == -1)
		goto out;
	c = classify(&a);
out:
	cJSON_Delete(root);
	return c;
}

long
ref_run_counts(const char *buf, size_t len, double *events_per_sec,
    size_t counts[REF_NCLASSES])
{
	const char *p = buf, *end = buf + len, *nl;
	size_t cnt[REF_NCLASSES] = { 0 }, lineno = 0, n;
	long events = 0;
	double t0, t;
	int c;

	t0 = now();
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', end - p);
		n = (nl != NULL ? nl : end) - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (!blank(p, n)) {
			if ((c = ref_line(p, n)) == -1) {
				fprintf(stderr, "ref: line %zu: not a valid "
				    "household.upsert\n", lineno);
				return -1;
			}
			cnt[c]++;
			events++;
		}
		p += (nl != NULL ? nl + 1 : end) - p;
	}
	t = now() - t0;
	if (events_per_sec != NULL)
		*events_per_sec = t > 0 ? events / t : 0;
	if (counts != NULL)
		memcpy(counts, cnt, sizeof(cnt));
	return events;
}

int
ref_run(const char *buf, size_t len, double *events_per_sec)
{
	return ref_run_counts(buf, len, events_per_sec, NULL) == -1 ? -1 : 0;
}

#ifdef REF_MAIN
static char *
read_file(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0, r;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			if ((buf = realloc(buf, cap)) == NULL) {
				fclose(f);
				return NULL;
			}
		}
		if ((r = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += r;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*lenp = len;
	return buf;
}

int
main(int argc, char **argv)
{
	size_t len, counts[REF_NCLASSES];
	double eps, best = 0;
	long events = 0;
	char *buf;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: ref FILE\n");
		return 2;
	}
	if ((buf = read_file(argv[1], &len)) == NULL) {
		perror(argv[1]);
		return 1;
	}
	for (i = 0; i < 3; i++) {
		if ((events = ref_run_counts(buf, len, &eps, counts)) == -1)
			return 1;
		if (eps > best)
			best = eps;
	}
	printf("ref_events %ld\n", events);
	printf("ref_events_per_sec %.0f\n", best);
	for (i = 0; i < REF_NCLASSES; i++)
		printf("ref_%s %zu\n", ref_class_name(i), counts[i]);
	free(buf);
	return 0;
}
#endif
