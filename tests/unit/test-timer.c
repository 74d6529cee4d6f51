/* Unit tests of timer.c and kmap.c: the heap order, re-arming, cancelling. */
#include <stdio.h>
#include <stdlib.h>

#include "zhilid.h"
#include "engine.h"
#include "unit.h"

static void
key(char *buf, size_t len, int i)
{
	snprintf(buf, len, "O%d", i);
}

/* Timers come out in due order, ties in the order they were armed. */
static void
test_order(void)
{
	struct timers ts = { 0 };
	struct timer *t;
	int64_t last_due = -1, last_id = -1;
	char id[16];
	int i, n = 0, bad = 0;

	ts.next_id = 1;
	srand(7);
	for (i = 0; i < 5000; i++) {
		key(id, sizeof id, i);
		timers_set(&ts, NULL, "r", "order", id, "", rand() % 100, i);
	}
	while ((t = timers_first(&ts)) != NULL) {
		if (t->due < last_due || (t->due == last_due && t->id < last_id))
			bad++;
		last_due = t->due;
		last_id = t->id;
		timers_cancel(&ts, NULL, t);
		n++;
	}
	CHECK(bad == 0);
	CHECK(n == 5000);
	CHECK(ts.n == 0);
	timers_clear(&ts);
}

/* Re-arming moves a timer; cancelling one in the middle keeps the heap. */
static void
test_rearm_cancel(void)
{
	struct timers ts = { 0 };
	struct timer *t;
	char id[16];
	int i;

	ts.next_id = 1;
	for (i = 0; i < 100; i++) {
		key(id, sizeof id, i);
		timers_set(&ts, NULL, "r", "order", id, "", 1000 + i, 0);
	}
	timers_set(&ts, NULL, "r", "order", "O50", "", 1, 0);	/* re-arm */
	CHECK(ts.n == 100);
	t = timers_first(&ts);
	CHECK(t != NULL && t->due == 1);
	CHECK_STR(TIMER_ENTITY(t), "O50");
	CHECK(timers_find(&ts, "r", "order", "O7", "") != NULL);
	CHECK(timers_find(&ts, "r", "order", "O7", "x") == NULL);
	CHECK(timers_find(&ts, "other", "order", "O7", "") == NULL);
	for (i = 10; i < 90; i += 3) {
		key(id, sizeof id, i);
		timers_cancel(&ts, NULL, timers_find(&ts, "r", "order", id, ""));
	}
	CHECK(timers_find(&ts, "r", "order", "O10", "") == NULL);
	t = timers_first(&ts);
	timers_cancel(&ts, NULL, t);
	for (i = 0; (t = timers_first(&ts)) != NULL; i++) {
		static int64_t last;

		CHECK(i == 0 || t->due >= last);
		last = t->due;
		timers_cancel(&ts, NULL, t);
	}
	CHECK(i == 100 - 1 - 27);
	timers_clear(&ts);
}

/* Written through: arming, re-arming and cancelling make store ops. */
static void
test_ops(void)
{
	struct timers ts = { 0 };
	struct buf ops = { 0 };
	size_t a, b;

	ts.next_id = 1;
	timers_set(&ts, &ops, "r", "order", "O1", "", 10, 0);
	a = BUF_LEN(&ops);
	CHECK(a > 0);
	timers_set(&ts, &ops, "r", "order", "O1", "", 20, 0);
	b = BUF_LEN(&ops);
	CHECK(b > a);	/* a delete of the old row and a new row */
	timers_cancel(&ts, &ops, timers_first(&ts));
	CHECK(BUF_LEN(&ops) > b);
	CHECK(ts.n == 0);
	buf_free(&ops);
	timers_clear(&ts);
}

static const struct unit_test tests[] = {
	{ "order", test_order },
	{ "rearm_cancel", test_rearm_cancel },
	{ "ops", test_ops },
};

UNIT_MAIN(tests)
