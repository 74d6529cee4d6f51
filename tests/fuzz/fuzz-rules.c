/*
 * libFuzzer target: the rule-file loader, from YAML to a compiled ruleset
 * (ydoc.c, rules.c, template.c, prim-*.c, expr.c).
 *
 * The input is one rule file, or up to FILES of them separated by lines
 * "#--8<--" (a YAML comment, so that a single file is just itself), so
 * that the stages that work across files meet too: a kind declared twice,
 * an event type or rule name taken by an earlier file, rank cycles feeding
 * period.close.  Every problem must come back as an error, never as a
 * crash, a hang or a leak; a ruleset that loads is walked and freed.
 */
#include <string.h>

#include "zhilid.h"
#include "rules.h"
#include "fuzz.h"

#define FILES	4
#define CUT	"#--8<--"

static int	 fds[FILES];
static char	 paths[FILES][32];
static char	*names[FILES];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	for (i = 0; i < FILES; i++) {
		fds[i] = fuzz_memfd("fuzz-rules", paths[i], sizeof paths[i]);
		names[i] = paths[i];
	}
	return 0;
}

/* Split data at CUT lines into at most FILES parts; returns the count. */
static size_t
split(const char *data, size_t size, const char **part, size_t *len)
{
	const char *p = data, *end = data + size, *line, *nl;
	size_t n = 0, cutlen = strlen(CUT);

	part[0] = data;
	for (line = p; line < end && n + 1 < FILES; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			break;
		if ((size_t)(nl - line) == cutlen &&
		    memcmp(line, CUT, cutlen) == 0) {
			len[n] = (size_t)(line - part[n]);
			part[++n] = nl + 1;
		}
	}
	len[n] = (size_t)(end - part[n]);
	return n + 1;
}

/* "FILE:LINE:COL: error: ", FILE one of ours, LINE and COL 1-based. */
static void
check_error(const char *e)
{
	int line = 0, col = 0, end = 0;

	FUZZ_CHECK(strncmp(e, "/proc/self/fd/", 14) == 0 &&
	    sscanf(e + 14, "%*d:%d:%d: error: %n", &line, &col, &end) == 2 &&
	    end > 0 && line >= 1 && col >= 1,
	    "not FILE:LINE:COL: error: MESSAGE, 1-based: %s", e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[FILES];
	size_t len[FILES], n, i, j;
	struct errs errs = { 0 };
	struct ruleset *rs;

	n = split((const char *)data, size, part, len);
	for (i = 0; i < n; i++)
		fuzz_fill(fds[i], part[i], len[i]);
	rs = ruleset_load(names, n, &errs);
	FUZZ_CHECK(rs != NULL || errs.n > 0, "a failed load gave no error");
	FUZZ_CHECK(rs == NULL || errs.n == 0, "a load with errors succeeded");
	for (i = 0; i < errs.n; i++)
		check_error(errs.v[i]);
	if (rs != NULL) {
		/* the lookups the decoder and engine make */
		for (i = 0; i < rs->nevtypes; i++) {
			const struct evtype *et = rs->evtypes[i];

			FUZZ_CHECK(ruleset_evtype(rs, et->name) == et,
			    "event type %s declared twice", et->name);
			for (j = 0; j < et->nfields; j++)
				FUZZ_CHECK(evtype_field(et, et->fields[j].name) ==
				    (int)j, "field %s of %s declared twice",
				    et->fields[j].name, et->name);
		}
		for (i = 0; i < rs->nrules; i++)
			FUZZ_CHECK(ruleset_rule(rs, rs->rules[i]->name) ==
			    rs->rules[i], "rule %s defined twice",
			    rs->rules[i]->name);
		for (i = 0; i < rs->nkinds; i++)
			FUZZ_CHECK(ruleset_kind(rs, rs->kinds[i]->name) ==
			    rs->kinds[i], "kind %s declared twice",
			    rs->kinds[i]->name);
		ruleset_free(rs);
	}
	errs_free(&errs);
	return 0;
}
