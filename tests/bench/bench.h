/*
 * Shared declarations of the benchmark programs. ref.c is the hand-written
 * reference of the in-process benchmark: cJSON and a hard-coded if-chain of
 * zhilid.rules(5), against which inproc.c measures the engine.
 */
#ifndef ZHILID_BENCH_H
#define ZHILID_BENCH_H

#include <stddef.h>

enum ref_class {
	REF_NONE,
	REF_YELLOW,
	REF_ORANGE,
	REF_BLUE,
	REF_RED,
	REF_NCLASSES
};

/* "none", "yellow", "orange", "blue", "red". */
const char *ref_class_name(int c);

/*
 * One pass over buf (NDJSON household.upsert lines; blank lines skipped):
 * parse each line with cJSON, read and type-check every field, classify,
 * free. Sets *events_per_sec for this pass and, when counts is not NULL,
 * the number of events per class. Returns the number of events, or -1 (with
 * a message on stderr) at the first line that is not a valid upsert.
 */
long ref_run_counts(const char *buf, size_t len, double *events_per_sec,
    size_t counts[REF_NCLASSES]);

/* ref_run_counts without the counts: returns 0 on success, -1 on error. */
int ref_run(const char *buf, size_t len, double *events_per_sec);

#endif
