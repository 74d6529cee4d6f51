/*
 * ctl-test.c: `zhilictl test [--coverage] FILE...`, the rule unit tests of
 * ruletest.c (which zhilid -t and reloads run too), with no daemon and no
 * socket; with --coverage, which outcomes of each rule the tests reached
 * (coverage.c).
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "zhilid.h"
#include "engine.h"

/* zhilictl test FILE...: exit 0 passed, 1 a test failed, 2 broken. */
#define TEST_PASSED	0
#define TEST_FAILED	1
#define TEST_BROKEN	2

static const char usage[] = "usage: zhilictl test FILE...\n"
    "       zhilictl [--json] test --coverage FILE...\n";

int
ctl_test(int argc, char **argv)
{
	struct coverage	*cov = NULL;
	FILE		*out = stdout;
	int		 i, n = 0, dashdash = 0, passed = 0, failed = 0;
	int		 broken = 0, coverage = 0;

	for (i = 1; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (!dashdash && strcmp(argv[i], "--coverage") == 0) {
			coverage = 1;
			continue;
		}
		if (!dashdash && argv[i][0] == '-') {
			fprintf(stderr, "zhilictl: test: unknown option '%s'\n%s",
			    argv[i], usage);
			return TEST_BROKEN;
		}
		argv[++n] = argv[i];
	}
	if (n == 0) {
		fputs(usage, stderr);
		return TEST_BROKEN;
	}
	log_init(0, 0);
	if (coverage) {
		cov = coverage_new();
		/* stdout is the coverage's JSON lines alone */
		if (ctl_opt.json)
			out = stderr;
	}
	for (i = 1; i <= n; i++)
		if (ruletest_file(argv[i], out, stderr, NULL, &passed, &failed,
		    cov) != 0)
			broken++;
	fprintf(out, "%d passed, %d failed\n", passed, failed);
	if (cov != NULL) {
		fflush(out);
		coverage_report(cov, stdout, ctl_opt.json);
		coverage_free(cov);
	}
	if (broken > 0)
		return TEST_BROKEN;
	return failed > 0 ? TEST_FAILED : TEST_PASSED;
}
