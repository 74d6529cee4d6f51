/*
 * Timers: the deadlines and expiries of rules (a work order's claim
 * deadline, a mark's end).  Each is keyed by (rule, kind, entity, tag),
 * held in a binary heap ordered by due time and then by creation, and
 * written through to the store's timers table, so that a timer that came
 * due while the daemon was down fires at start, once: its alert and the
 * deletion of its row commit in one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "engine.h"
#include "store.h"

static int
before(const struct timer *a, const struct timer *b)
{
	return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static void
place(struct timers *ts, size_t i, struct timer *t)
{
	ts->heap[i] = t;
	t->slot = i;
}

static void
sift_up(struct timers *ts, size_t i)
{
	struct timer *t = ts->heap[i];

	while (i > 0 && before(t, ts->heap[(i - 1) / 2])) {
		place(ts, i, ts->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(ts, i, t);
}

static void
sift_down(struct timers *ts, size_t i)
{
	struct timer *t = ts->heap[i];
	size_t c;

	while ((c = 2 * i + 1) < ts->n) {
		if (c + 1 < ts->n && before(ts->heap[c + 1], ts->heap[c]))
			c++;
		if (!before(ts->heap[c], t))
			break;
		place(ts, i, ts->heap[c]);
		i = c;
	}
	place(ts, i, t);
}

static void
heap_remove(struct timers *ts, struct timer *t)
{
	size_t i = t->slot;

	struct timer *last;

	if (--ts->n == i)
		return;
	last = ts->heap[ts->n];
	place(ts, i, last);
	sift_down(ts, i);
	sift_up(ts, last->slot);
}

struct timer *
timers_find(struct timers *ts, const char *rule, const char *kind,
    const char *entity, const char *tag)
{
	const char *r = intern_find(rule), *k = intern_find(kind);
	const char *e = intern_find(entity), *g = intern_find(tag);

	if (r == NULL || k == NULL || e == NULL || g == NULL)
		return NULL;
	return (struct timer *)kmap_find(&ts->map, r, k, e, g, 0);
}

static void
timer_write(const struct timer *t, struct buf *ops)
{
	if (ops != NULL)
		store_op(ops, ST_TIMER_PUT, "iissssi", t->id, t->due,
		    TIMER_RULE(t), TIMER_KIND(t), TIMER_ENTITY(t), TIMER_TAG(t),
		    t->aux);
}

static struct timer *
timer_add(struct timers *ts, const char *rule, const char *kind,
    const char *entity, const char *tag, int64_t id)
{
	struct timer *t = xcalloc(1, sizeof *t);

	kentry_key(&t->ke, intern_get(rule), intern_get(kind),
	    intern_get(entity), intern_get(tag), 0);
	kmap_insert(&ts->map, &t->ke);
	t->id = id;
	if (ts->n == ts->cap) {
		ts->cap = ts->cap ? ts->cap * 2 : 1024;
		ts->heap = xreallocarray(ts->heap, ts->cap, sizeof *ts->heap);
	}
	place(ts, ts->n++, t);
	return t;
}

/* Arm (or re-arm) the timer of a key to fire after due. */
void
timers_set(struct timers *ts, struct buf *ops, const char *rule,
    const char *kind, const char *entity, const char *tag, int64_t due,
    int64_t aux)
{
	struct timer *t;

	if ((t = timers_find(ts, rule, kind, entity, tag)) != NULL) {
		if (ops != NULL)
			store_op(ops, ST_TIMER_DEL, "i", t->id);
		heap_remove(ts, t);
		place(ts, ts->n++, t);
		t->id = ts->next_id++;	/* re-armed: ordered as new */
	} else
		t = timer_add(ts, rule, kind, entity, tag, ts->next_id++);
	t->due = due;
	t->aux = aux;
	sift_up(ts, t->slot);
	timer_write(t, ops);
}

/* Forget a timer (it fired or was stopped) and free it. */
void
timers_cancel(struct timers *ts, struct buf *ops, struct timer *t)
{
	int i;

	if (ops != NULL)
		store_op(ops, ST_TIMER_DEL, "i", t->id);
	heap_remove(ts, t);
	kmap_remove(&ts->map, &t->ke);
	for (i = 0; i < KMAP_KEYS; i++)
		intern_put(t->ke.k[i]);
	free(t);
}

struct timer *
timers_first(const struct timers *ts)
{
	return ts->n > 0 ? ts->heap[0] : NULL;
}

void
timers_clear(struct timers *ts)
{
	while (ts->n > 0)
		timers_cancel(ts, NULL, ts->heap[ts->n - 1]);
	kmap_clear(&ts->map, NULL);
	free(ts->heap);
	ts->heap = NULL;
	ts->cap = 0;
}

static void
load_timer(void *arg, const struct store_row *row)
{
	struct timers *ts = arg;
	struct timer *t;

	/* rule kind entity tag | id due aux */
	if (row->s[0] == NULL || row->s[1] == NULL || row->s[2] == NULL ||
	    row->s[3] == NULL)
		return;
	t = timer_add(ts, row->s[0], row->s[1], row->s[2], row->s[3],
	    row->i[4]);
	t->due = row->i[5];
	t->aux = row->i[6];
	sift_up(ts, t->slot);
	if (t->id >= ts->next_id)
		ts->next_id = t->id + 1;
}

/* Replace the timers in memory by those in the store. */
int
timers_load(struct timers *ts, struct store *s)
{
	timers_clear(ts);
	ts->next_id = 1;
	if (s == NULL)
		return 0;
	return store_select(s, TB_TIMERS, load_timer, ts);
}
