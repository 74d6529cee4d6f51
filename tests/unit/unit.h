/*
 * Tiny unit-test macros (Suricata FAIL_IF, redis redisTests[]): a test is a
 * function; CHECK records a failure with its line and goes on; the runner
 * prints "PASS name" or "FAIL name: file:line: expr" for each.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed;
static char unit_why[512];

#define CHECK(cond) do {						\
	if (!(cond) && !unit_failed) {					\
		unit_failed = 1;					\
		snprintf(unit_why, sizeof unit_why, "%s:%d: %s",	\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *a_ = (a), *b_ = (b);				\
	if ((a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) &&	\
	    !unit_failed) {						\
		unit_failed = 1;					\
		snprintf(unit_why, sizeof unit_why,			\
		    "%s:%d: got \"%s\", want \"%s\"", __FILE__,		\
		    __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");	\
	}								\
} while (0)

struct unit_test {
	const char	*name;
	void		 (*fn)(void);
};

static int
unit_run(const struct unit_test *t, size_t n)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < n; i++) {
		unit_failed = 0;
		t[i].fn();
		if (unit_failed) {
			printf("FAIL %s: %s\n", t[i].name, unit_why);
			failed++;
		} else
			printf("PASS %s\n", t[i].name);
	}
	return failed != 0;
}

#define UNIT_MAIN(table)						\
int main(void) { return unit_run(table, sizeof table / sizeof table[0]); }

#endif
