/*
 * The engine applies decoded events to entities under the current ruleset
 * and stages every effect (event log row, entity state, history, alerts) in
 * the open transaction of the batch in hand.  engine_commit makes the batch
 * durable; only after it returns 0 may the server acknowledge the batch.
 * If anything in a batch fails to write, the whole batch is rolled back and
 * the in-memory state is rebuilt from the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "conf.h"
#include "rules.h"
#include "engine.h"
#include "store.h"

struct engine *
engine_new(struct ruleset *rs, struct store *s, int clock_mode,
    size_t cache_capacity)
{
	struct engine *e = xcalloc(1, sizeof *e);

	e->rs = rs;
	e->store = s;
	e->clock_mode = clock_mode;
	e->generation = 1;
	ecache_init(&e->cache, cache_capacity);
	if (s != NULL) {
		e->next_seq = store_max_seq(s) + 1;
		e->next_alert = store_max_alert(s) + 1;
	} else
		e->next_seq = e->next_alert = 1;
	return e;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	ecache_clear(&e->cache);
	free(e->cache.buckets);
	buf_free(&e->balerts);
	free(e->alerts);
	free(e);
}

/*
 * Swap rules between two events.  The cache holds entities laid out for
 * the old kinds, so it is emptied; state reloads from the database under
 * the new rules.
 */
void
engine_set_rules(struct engine *e, struct ruleset *rs)
{
	e->rs = rs;
	e->generation++;
	ecache_clear(&e->cache);
}

int64_t
engine_now(const struct engine *e)
{
	if (e->clock_mode == CLOCK_EVENT)
		return e->clock;
	return clock_wall();
}

static void
render(const struct tmpl *t, const struct change *ch, const struct rule *r,
    const struct klass *from, const struct klass *to, struct buf *b)
{
	const struct entity *ent = ch->ent;
	const struct kind *k = ent->kind;
	char num[32];
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct tseg *s = &t->segs[i];
		const union val *v;

		switch (s->kind) {
		case TS_TEXT:	buf_adds(b, s->text); break;
		case TS_ID:	buf_adds(b, ent->id); break;
		case TS_FROM:	buf_adds(b, from->name); break;
		case TS_TO:	buf_adds(b, to->name); break;
		case TS_FROM_LABEL: buf_adds(b, from->label); break;
		case TS_TO_LABEL: buf_adds(b, to->label); break;
		case TS_RULE:	buf_adds(b, r->name); break;
		case TS_EVENT:
			buf_adds(b, ch->ev->id != NULL ? ch->ev->id : "");
			break;
		case TS_FIELD:
			v = &ent->vals[k->nattrs + (size_t)s->idx];
			buf_adds(b, v->s != NULL ? v->s : "");
			break;
		case TS_ATTR:
			v = &ent->vals[s->idx];
			switch (k->attrs[s->idx].type) {
			case VT_INT:
				buf_addf(b, "%lld", (long long)v->i);
				break;
			case VT_DEC:
				dec_format(v->i, num, sizeof num);
				buf_adds(b, num);
				break;
			case VT_BOOL:
				buf_adds(b, v->i ? "是" : "否");
				break;
			case VT_STR:
				buf_adds(b, v->s != NULL ? v->s : "");
				break;
			}
			break;
		}
	}
}

static void
stage_failed(struct engine *e)
{
	e->failed = 1;
}

/*
 * A classify rule moved an entity from one class to another: one history
 * row and one alert, both in the batch's transaction.
 */
void
engine_class_changed(struct change *ch, const struct rule *r,
    const struct klass *from, const struct klass *to)
{
	struct engine *e = ch->eng;
	const struct event *ev = ch->ev;
	struct buf msg = { 0 };
	struct alert_ref *ref;
	size_t start;
	char ts[40];
	int64_t id;

	if (e->store != NULL && store_history_insert(e->store,
	    ch->ent->kind->name, ch->ent->id, ev->ts, r->name, from->name,
	    to->name, ev->id, ch->seq) != 0)
		stage_failed(e);
	if (r->message != NULL)
		render(r->message, ch, r, from, to, &msg);
	else
		buf_addf(&msg, "%s %s: %s -> %s", ch->ent->kind->name,
		    ch->ent->id, from->label, to->label);
	id = e->next_alert++;
	clock_format(ev->ts, ts, sizeof ts);
	start = e->balerts.len;
	buf_addf(&e->balerts, "{\"id\":%lld,\"rule\":", (long long)id);
	buf_add_json_cstr(&e->balerts, r->alert);
	buf_addf(&e->balerts, ",\"severity\":\"%s\",\"kind\":",
	    severity_name(to->severity));
	buf_add_json_cstr(&e->balerts, ch->ent->kind->name);
	buf_adds(&e->balerts, ",\"entity\":");
	buf_add_json_cstr(&e->balerts, ch->ent->id);
	buf_addf(&e->balerts, ",\"period\":null,\"ts\":\"%s\",\"message\":",
	    ts);
	buf_add_json_str(&e->balerts, BUF_DATA(&msg), BUF_LEN(&msg));
	buf_adds(&e->balerts, ",\"data\":{\"from\":");
	buf_add_json_cstr(&e->balerts, from->name);
	buf_adds(&e->balerts, ",\"to\":");
	buf_add_json_cstr(&e->balerts, to->name);
	buf_adds(&e->balerts, "},\"event\":");
	buf_add_json_cstr(&e->balerts, ev->id);
	buf_addc(&e->balerts, '}');
	buf_free(&msg);

	if (e->nalerts == e->alerts_cap) {
		e->alerts_cap = e->alerts_cap ? e->alerts_cap * 2 : 64;
		e->alerts = xreallocarray(e->alerts, e->alerts_cap,
		    sizeof *e->alerts);
	}
	ref = &e->alerts[e->nalerts++];
	ref->off = start;
	ref->len = e->balerts.len - start;
	if (e->store != NULL && store_alert_insert(e->store, id, r->alert,
	    severity_name(to->severity), ch->ent->kind->name, ch->ent->id,
	    NULL, ev->ts, ch->seq, e->balerts.p + start, ref->len) != 0)
		stage_failed(e);
}

static int
batch_begin(struct engine *e)
{
	if (e->in_batch)
		return 0;
	if (e->store != NULL && store_begin(e->store) != 0)
		return -1;
	e->in_batch = 1;
	return 0;
}

static void
apply_fields(struct entity *ent, const struct event *ev)
{
	const struct kind *k = ent->kind;
	union val v;
	size_t i;

	for (i = 0; i < k->nfields; i++)
		if (ev->fields[i] != NULL) {
			v.s = ev->fields[i];
			entity_set(ent, k->nattrs + i, v);
		}
	for (i = 0; i < ev->nattrs; i++)
		entity_set(ent, ev->attrs[i].slot, ev->attrs[i].v);
}

static enum errcode
unavailable(struct engine *e, char *msg, size_t msglen)
{
	stage_failed(e);
	snprintf(msg, msglen, "storage cannot commit");
	return E_UNAVAILABLE;
}

static enum errcode
duplicate(struct engine *e, struct ev_result *res, int64_t seq)
{
	res->seq = seq;
	res->duplicate = 1;
	e->b_duplicates++;
	return E_OK;
}

/*
 * Apply one event.  On E_OK, res holds its seq (or the original seq of a
 * duplicate) and the range of its alerts.  Any other code means nothing of
 * the event was applied.
 */
enum errcode
engine_apply(struct engine *e, struct event *ev, struct ev_result *res,
    char *msg, size_t msglen)
{
	struct kind *k = ev->et != NULL ? ev->et->kind : NULL;
	struct entity *ent = NULL;
	struct change ch;
	int64_t seq;
	size_t i;
	int err = 0;

	memset(res, 0, sizeof *res);
	res->first_alert = e->nalerts;
	if (e->failed || batch_begin(e) != 0) {
		snprintf(msg, msglen, "storage cannot commit");
		return E_UNAVAILABLE;
	}
	/*
	 * A remove is checked for a duplicate before its entity (a resent
	 * remove must not be unknown_entity); other events find out from
	 * the insert itself.
	 */
	if (ev->id != NULL && e->store != NULL &&
	    ev->et != NULL && ev->et->action == EV_REMOVE) {
		switch (store_event_find(e->store, ev->id, &seq)) {
		case 1:
			return duplicate(e, res, seq);
		case 0:
			break;
		default:
			return unavailable(e, msg, msglen);
		}
	}
	if (k != NULL) {
		ent = ecache_get(&e->cache, e->store, k, ev->entity, &err);
		if (err)
			return unavailable(e, msg, msglen);
		if (ev->et->action == EV_REMOVE &&
		    (ent == NULL || ent->removed)) {
			snprintf(msg, msglen, "%s: unknown %s '%s'", ev->type,
			    k->name, ev->entity);
			return E_UNKNOWN_ENTITY;
		}
	}
	seq = e->next_seq;
	if (e->store != NULL) {
		switch (store_event_insert(e->store, seq, ev->id, ev->type,
		    ev->ts, ev->line, ev->len)) {
		case 0:
			break;
		case 1:
			if (store_event_find(e->store, ev->id, &seq) != 1)
				return unavailable(e, msg, msglen);
			return duplicate(e, res, seq);
		default:
			return unavailable(e, msg, msglen);
		}
	}
	e->next_seq++;
	if (e->clock_mode == CLOCK_EVENT && ev->ts > e->clock)
		e->clock = ev->ts;
	res->seq = seq;
	e->b_events++;
	if (k == NULL)
		return E_OK;	/* clock.tick */

	memset(&ch, 0, sizeof ch);
	ch.eng = e;
	ch.ev = ev;
	ch.seq = seq;
	if (ev->et->action == EV_UPSERT) {
		if (ent == NULL) {
			ent = ecache_create(&e->cache, k, ev->entity);
			ent->created = ev->ts;
			ch.is_new = 1;
		} else if (ent->removed) {
			entity_reset(ent);
			ent->removed = 0;
			ent->created = ev->ts;
			ch.is_new = 1;
		}
		apply_fields(ent, ev);
	} else
		ch.removing = 1;
	ch.ent = ent;
	for (i = 0; i < k->nrules; i++)
		k->rules[i]->prim->eval(k->rules[i], &ch);
	if (ch.removing) {
		entity_reset(ent);
		ent->removed = 1;
	}
	entity_mark_dirty(&e->cache, ent);
	res->nalerts = e->nalerts - res->first_alert;
	if (e->failed) {
		snprintf(msg, msglen, "storage cannot commit");
		return E_UNAVAILABLE;
	}
	return E_OK;
}

/*
 * Make the batch durable.  0: committed, the caller may acknowledge every
 * event applied since the last commit.  -1: nothing of the batch is kept;
 * every one of its events must be answered `unavailable`.
 */
int
engine_commit(struct engine *e)
{
	if (!e->in_batch)
		return e->failed ? (engine_abort(e), -1) : 0;
	if (e->failed || (e->store != NULL &&
	    (ecache_flush(&e->cache, e->store) != 0 ||
	    store_commit(e->store) != 0))) {
		if (e->store != NULL)
			log_warnx("database: commit failed: %s; %llu events "
			    "of the batch answered unavailable",
			    store_error(e->store),
			    (unsigned long long)e->b_events);
		engine_abort(e);
		return -1;
	}
	e->in_batch = 0;
	e->n_events += e->b_events;
	e->n_duplicates += e->b_duplicates;
	e->n_alerts += e->nalerts;
	e->n_commits++;
	e->b_events = e->b_duplicates = 0;
	ecache_trim(&e->cache);
	return 0;
}

/* Drop the batch: roll back, and rebuild memory from the database. */
void
engine_abort(struct engine *e)
{
	if (e->store != NULL) {
		store_rollback(e->store);
		e->next_seq = store_max_seq(e->store) + 1;
		e->next_alert = store_max_alert(e->store) + 1;
	}
	ecache_clear(&e->cache);
	e->in_batch = 0;
	e->failed = 0;
	e->b_events = e->b_duplicates = 0;
	e->n_commit_failures++;
	e->nalerts = 0;
	buf_reset(&e->balerts);
}

void
engine_batch_reset(struct engine *e)
{
	e->nalerts = 0;
	buf_reset(&e->balerts);
}

/* The alerts of one event's result, comma separated. */
void
engine_alerts_json(const struct engine *e, const struct ev_result *r,
    struct buf *out)
{
	size_t i;

	for (i = 0; i < r->nalerts; i++) {
		const struct alert_ref *a = &e->alerts[r->first_alert + i];

		if (i > 0)
			buf_addc(out, ',');
		buf_add(out, e->balerts.p + a->off, a->len);
	}
}
