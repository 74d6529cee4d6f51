/*
 * ctl-test.c: `zhilictl test FILE...`, the rule unit tests of ruletest.c
 * (which zhilid -t and reloads run too), with no daemon and no socket.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "zhilid.h"

/* zhilictl test FILE...: exit 0 passed, 1 a test failed, 2 broken. */
#define TEST_PASSED	0
#define TEST_FAILED	1
#define TEST_BROKEN	2

int
ctl_test(int argc, char **argv)
{
	int	 i, n = 0, dashdash = 0, passed = 0, failed = 0, broken = 0;

	for (i = 1; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (!dashdash && argv[i][0] == '-') {
			fprintf(stderr, "zhilictl: test: unknown option '%s'\n"
			    "usage: zhilictl test FILE...\n", argv[i]);
			return TEST_BROKEN;
		}
		argv[++n] = argv[i];
	}
	if (n == 0) {
		fputs("usage: zhilictl test FILE...\n", stderr);
		return TEST_BROKEN;
	}
	log_init(0, 0);
	for (i = 1; i <= n; i++)
		if (ruletest_file(argv[i], stdout, stderr, NULL,
		    &passed, &failed) != 0)
			broken++;
	printf("%d passed, %d failed\n", passed, failed);
	if (broken > 0)
		return TEST_BROKEN;
	return failed > 0 ? TEST_FAILED : TEST_PASSED;
}
