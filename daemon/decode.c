/*
 * From a socket line to a typed request.  json.c reads the line (strict
 * RFC 8259, a tree of cJSON nodes), then the fields of an event are
 * checked against the kind its type declares.  Error text names the field
 * and the problem; nothing here touches state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zhilid.h"
#include "engine.h"

#define JSON_MAX_DEPTH	128
/* Protocol constants (zhilid(8)), not tuning knobs: clients rely on them. */
#define MAX_ID_BYTES	256	/* an event's id, an entity's id */
#define MAX_FIELD_BYTES	4096	/* a string field or string attribute */

static const char *const errcode_names[] = {
	"ok", "bad_json", "too_large", "unknown_type", "bad_event",
	"unknown_entity", "conflict", "forbidden", "unavailable", "bad_rules",
	"internal"
};

const char *
errcode_name(enum errcode e)
{
	return errcode_names[e];
}

/*
 * The error answer line, newline included.  Messages quote clients'
 * strings cut at character boundaries (CLIP, utf8_snprintf); should a
 * plain snprintf still cut one inside a character, the answer keeps the
 * valid part and says it was cut, so that it stays UTF-8 whatever the
 * input.
 */
void
error_json(struct buf *b, enum errcode code, const char *msg)
{
	size_t n = strlen(msg), ok = utf8_valid(msg, n);

	buf_adds(b, "{\"ok\":false,\"error\":{\"code\":\"");
	buf_adds(b, errcode_name(code));
	buf_adds(b, "\",\"message\":");
	buf_add_json_str(b, msg, ok);
	if (ok < n) {
		b->len--;	/* reopen the string after its closing quote */
		buf_adds(b, "...\"");
	}
	buf_adds(b, "}}\n");
}

static const char *
json_type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "bool";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "array";
	return "object";
}

/* The first key that appears twice in an object of the tree, or NULL. */
static const char *
repeated_key(const cJSON *v, int depth)
{
	const cJSON *a, *b;
	const char *k;

	if (depth > JSON_MAX_DEPTH)
		return NULL;
	for (a = v->child; a != NULL; a = a->next) {
		if (cJSON_IsObject(v))
			for (b = a->next; b != NULL; b = b->next)
				if (a->string[0] == b->string[0] &&
				    strcmp(a->string, b->string) == 0)
					return a->string;
		if ((cJSON_IsObject(a) || cJSON_IsArray(a)) &&
		    (k = repeated_key(a, depth + 1)) != NULL)
			return k;
	}
	return NULL;
}

static int
json_int(const cJSON *v, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -1;
	d = v->valuedouble;
	if (d != floor(d) || fabs(d) > 9007199254740992.0)
		return -1;
	*out = (int64_t)d;
	return 0;
}

/* A JSON number as millionths; -1 if out of range. */
static int
json_dec(const cJSON *v, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -1;
	d = v->valuedouble * (double)DEC_ONE;
	if (!(fabs(d) < 9.0e15))
		return -1;
	*out = llround(d);
	return 0;
}

/* What a number that json_int refused is, for "expected an integer". */
static const char *
not_int_name(const cJSON *v)
{
	if (!cJSON_IsNumber(v))
		return json_type_name(v);
	return v->valuedouble != floor(v->valuedouble) ? "a fraction" :
	    "an out of range number";
}

/* strcmp, but most keys differ in their first byte: test that first. */
#define KEY_IS(key, name) ((key)[0] == (name)[0] && strcmp((key), (name)) == 0)

/* A message that lists declared names can outgrow msg: cut it whole. */
#define BAD(...) do { utf8_snprintf(msg, msglen, __VA_ARGS__); \
	return E_BAD_EVENT; } while (0)

/*
 * Is v a string of min..max bytes?  If not, say which way it is not:
 * "TYPE: PRENAME: expected string, got number", "...: empty" or "...: 300
 * bytes, longer than the 256 allowed".  Returns 0 or -1.
 */
static int
check_string(const cJSON *v, size_t min, size_t max, const char *type,
    const char *pre, const char *name, char *msg, size_t msglen)
{
	size_t n;

	if (!cJSON_IsString(v))
		utf8_snprintf(msg, msglen, "%s: %s%s: expected string, got %s",
		    type, pre, name, json_type_name(v));
	else if ((n = strlen(v->valuestring)) < min)
		utf8_snprintf(msg, msglen, "%s: %s%s: empty", type, pre, name);
	else if (n > max)
		utf8_snprintf(msg, msglen, "%s: %s%s: %zu bytes, longer than "
		    "the %zu allowed", type, pre, name, n, max);
	else
		return 0;
	return -1;
}

/*
 * A timestamp as events give one: RFC 3339 with an offset, or Unix
 * seconds in 0..TS_MAX; 0, or -1 if v is neither.
 */
int
json_ts(const cJSON *v, int64_t *ts)
{
	int64_t t;

	if (cJSON_IsString(v))
		return clock_parse(v->valuestring, ts) != 0 ? -1 : 0;
	if (json_int(v, &t) != 0 || t < 0 || t > TS_MAX)
		return -1;
	*ts = t;
	return 0;
}

static enum errcode
decode_ts(const cJSON *v, int64_t *ts, const char *type, char *msg,
    size_t msglen)
{
	if (json_ts(v, ts) != 0)
		BAD("%s: ts: expected RFC 3339 with offset or Unix seconds in "
		    "0..%lld", type, TS_MAX);
	return E_OK;
}

static enum errcode
decode_attrs(struct event *ev, const struct kind *k, const cJSON *obj,
    char *msg, size_t msglen)
{
	const cJSON *a;
	size_t i, j, from = 0;

	if (!cJSON_IsObject(obj))
		BAD("%s: attrs: expected object, got %s", ev->type,
		    json_type_name(obj));
	for (a = obj->child; a != NULL; a = a->next) {
		struct ev_attr *ea;
		const struct attr *at = NULL;

		/* clients tend to send attributes in declared order */
		for (j = 0, i = from; j < k->nattrs; j++, i = (i + 1) % k->nattrs)
			if (k->attrs[i].name[0] == a->string[0] &&
			    strcmp(k->attrs[i].name, a->string) == 0) {
				at = &k->attrs[i];
				from = (i + 1) % k->nattrs;
				break;
			}
		if (at == NULL) {
			const char *hint = did_you_mean(a->string,
			    k->names, k->nattrs);

			BAD("%s: attrs.%.*s%s: unknown attribute%s%s%s",
			    ev->type, CLIP(a->string),
			    hint ? " (did you mean '" : "",
			    hint ? hint : "", hint ? "'?)" : "");
		}
		for (j = 0; j < ev->nattrs; j++)
			if (ev->attrs[j].slot == i)
				BAD("repeated key '%s'", at->name);
		if (ev->nattrs == ev->attrs_cap) {
			ev->attrs_cap = ev->attrs_cap ? ev->attrs_cap * 2 : 16;
			ev->attrs = xreallocarray(ev->attrs, ev->attrs_cap,
			    sizeof *ev->attrs);
		}
		ea = &ev->attrs[ev->nattrs];
		ea->slot = i;
		switch (at->type) {
		case VT_INT:
			if (json_int(a, &ea->v.i) != 0)
				BAD("%s: attrs.%s: expected integer, got %s",
				    ev->type, a->string, not_int_name(a));
			break;
		case VT_DEC:
			if (json_dec(a, &ea->v.i) != 0)
				BAD("%s: attrs.%s: expected decimal, got %s",
				    ev->type, a->string, cJSON_IsNumber(a) ?
				    "out of range" : json_type_name(a));
			break;
		case VT_BOOL:
			if (!cJSON_IsBool(a))
				BAD("%s: attrs.%s: expected bool, got %s",
				    ev->type, a->string, json_type_name(a));
			ea->v.i = cJSON_IsTrue(a);
			break;
		case VT_STR:
			if (check_string(a, 0, MAX_FIELD_BYTES, ev->type,
			    "attrs.", at->name, msg, msglen) != 0)
				return E_BAD_EVENT;
			ea->v.s = a->valuestring;
			break;
		}
		ev->nattrs++;
	}
	return E_OK;
}

static void
range_text(const struct evfield *f, char *buf, size_t len)
{
	char lo[32], hi[32];

	if (f->type == FT_INT) {
		snprintf(lo, sizeof lo, "%lld", (long long)f->min);
		snprintf(hi, sizeof hi, "%lld", (long long)f->max);
	} else {
		dec_format(f->min, lo, sizeof lo);
		dec_format(f->max, hi, sizeof hi);
	}
	if (f->has_min && f->has_max)
		snprintf(buf, len, " in %s..%s", lo, hi);
	else if (f->has_min)
		snprintf(buf, len, " >= %s", lo);
	else if (f->has_max)
		snprintf(buf, len, " <= %s", hi);
	else
		buf[0] = '\0';
}

/* One typed field of a long-form event. */
static enum errcode
decode_field(struct event *ev, int i, const cJSON *v, char *msg,
    size_t msglen)
{
	const struct evfield *f = &ev->et->fields[i];
	const char *want;
	char range[80];
	struct period p;
	union val *out = &ev->vals[i];
	size_t j;

	switch (f->type) {
	case FT_STRING:
		if (check_string(v, 0, MAX_FIELD_BYTES, ev->type, "", f->name,
		    msg, msglen) != 0)
			return E_BAD_EVENT;
		for (j = 0; j < f->nvalues; j++)
			if (strcmp(f->values[j], v->valuestring) == 0)
				break;
		if (f->enumerated && j == f->nvalues) {
			struct buf b = { 0 };

			for (j = 0; j < f->nvalues; j++)
				buf_addf(&b, "%s%s", j ? ", " : "",
				    f->values[j]);
			utf8_snprintf(msg, msglen, "%s: %s: expected one of "
			    "%s, got '%.*s%s'", ev->type, f->name, f->nvalues ?
			    BUF_DATA(&b) : "(none is declared)",
			    CLIP(v->valuestring));
			buf_free(&b);
			return E_BAD_EVENT;
		}
		out->s = v->valuestring;
		if (f->kslot >= 0)
			ev->fields[f->kslot] = v->valuestring;
		break;
	case FT_INT:
	case FT_DEC:
		range_text(f, range, sizeof range);
		if (f->type == FT_INT ? json_int(v, &out->i) != 0 :
		    json_dec(v, &out->i) != 0)
			BAD("%s: %s: expected %s%s, got %s", ev->type, f->name,
			    f->type == FT_INT ? "an integer" : "a number", range,
			    f->type == FT_INT ? not_int_name(v) :
			    cJSON_IsNumber(v) ? "an out of range number" :
			    json_type_name(v));
		if ((f->has_min && out->i < f->min) ||
		    (f->has_max && out->i > f->max)) {
			char num[32];

			if (f->type == FT_INT)
				snprintf(num, sizeof num, "%lld",
				    (long long)out->i);
			else
				dec_format(out->i, num, sizeof num);
			BAD("%s: %s: expected %s%s, got %s", ev->type, f->name,
			    f->type == FT_INT ? "an integer" : "a number", range,
			    num);
		}
		break;
	case FT_BOOL:
		if (!cJSON_IsBool(v))
			BAD("%s: %s: expected bool, got %s", ev->type, f->name,
			    json_type_name(v));
		out->i = cJSON_IsTrue(v);
		break;
	case FT_PERIOD:
		want = period_kind_example(f->pkind);
		if (!cJSON_IsString(v))
			BAD("%s: %s: expected %s, got %s", ev->type, f->name,
			    want, json_type_name(v));
		if (period_parse(v->valuestring, &p) != 0 ||
		    (f->pkind != PK_ANY && (int)p.kind != f->pkind))
			BAD("%s: %s: expected %s, got '%.*s%s'", ev->type,
			    f->name, want, CLIP(v->valuestring));
		out->i = period_code(&p);
		break;
	}
	ev->present |= 1u << i;
	return E_OK;
}

static enum errcode
decode_event(const struct ruleset *rs, int64_t now, struct request *req,
    char *msg, size_t msglen)
{
	struct event *ev = &req->ev;
	const struct kind *k;
	const cJSON *v;
	enum errcode e;
	const char *key;
	size_t i;
	int has_ts = 0, has_type = 0, has_attrs = 0;

	if ((ev->et = ruleset_evtype(rs, ev->type)) == NULL &&
	    strcmp(ev->type, "clock.tick") != 0) {
		if ((key = repeated_key(req->root, 0)) != NULL)
			BAD("repeated key '%.*s%s'", CLIP(key));
		utf8_snprintf(msg, msglen, "unknown event type '%.*s%s'",
		    CLIP(ev->type));
		return E_UNKNOWN_TYPE;
	}
	k = ev->et != NULL ? ev->et->kind : NULL;
	if (k != NULL && ev->fields_cap < k->nfields) {
		ev->fields = xreallocarray(ev->fields, k->nfields,
		    sizeof *ev->fields);
		ev->fields_cap = k->nfields;
	}
	for (i = 0; k != NULL && i < k->nfields; i++)
		ev->fields[i] = NULL;
	ev->present = 0;
	ev->ts = now;
	for (v = req->root->child; v != NULL; v = v->next) {
		key = v->string;
		/*
		 * Each key is matched to its slot, so a key met twice is a
		 * repeated key; values are scalars, so no deeper object can
		 * hide one.
		 */
		if (KEY_IS(key, "type")) {
			if (has_type++)
				BAD("repeated key 'type'");
			continue;
		}
		if (KEY_IS(key, "id")) {
			if (ev->id != NULL)
				BAD("repeated key 'id'");
			if (check_string(v, 1, MAX_ID_BYTES, ev->type, "", "id",
			    msg, msglen) != 0)
				return E_BAD_EVENT;
			ev->id = v->valuestring;
			continue;
		}
		if (KEY_IS(key, "ts")) {
			if (has_ts++)
				BAD("repeated key 'ts'");
			if ((e = decode_ts(v, &ev->ts, ev->type, msg, msglen))
			    != E_OK)
				return e;
			continue;
		}
		if (ev->et != NULL && ev->et->typed && (k == NULL ||
		    !KEY_IS(key, k->name))) {
			int f = evtype_field(ev->et, key);

			if (f < 0)
				BAD("%s: unknown field '%.*s%s'", ev->type,
				    CLIP(key));
			if (ev->present & (1u << f))
				BAD("repeated key '%s'",
				    ev->et->fields[f].name);
			if ((e = decode_field(ev, f, v, msg, msglen)) != E_OK)
				return e;
			continue;
		}
		if (k == NULL)
			BAD("%s: unknown field '%.*s%s'", ev->type, CLIP(key));
		if (KEY_IS(key, k->name)) {
			if (ev->entity != NULL)
				BAD("repeated key '%s'", k->name);
			if (check_string(v, 1, MAX_ID_BYTES, ev->type, "",
			    k->name, msg, msglen) != 0)
				return E_BAD_EVENT;
			ev->entity = v->valuestring;
			continue;
		}
		if (ev->et->action == EV_UPSERT && KEY_IS(key, "attrs")) {
			if (has_attrs++)
				BAD("repeated key 'attrs'");
			if ((e = decode_attrs(ev, k, v, msg, msglen)) != E_OK)
				return e;
			continue;
		}
		for (i = 0; ev->et->action == EV_UPSERT && i < k->nfields; i++)
			if (KEY_IS(key, k->fields[i]))
				break;
		if (ev->et->action != EV_UPSERT || i == k->nfields)
			BAD("%s: unknown field '%.*s%s'", ev->type, CLIP(key));
		if (ev->fields[i] != NULL)
			BAD("repeated key '%s'", k->fields[i]);
		if (check_string(v, 0, MAX_FIELD_BYTES, ev->type, "",
		    k->fields[i], msg, msglen) != 0)
			return E_BAD_EVENT;
		ev->fields[i] = v->valuestring;
	}
	if (k != NULL && ev->entity == NULL)
		BAD("%s: missing field '%s'", ev->type, k->name);
	for (i = 0; ev->et != NULL && i < ev->et->nfields; i++)
		if (!ev->et->fields[i].optional && !(ev->present & (1u << i)))
			BAD("%s: missing field '%s'", ev->type,
			    ev->et->fields[i].name);
	if (ev->et == NULL && !has_ts)	/* clock.tick: ts is what it says */
		BAD("%s: missing field 'ts'", ev->type);
	return E_OK;
}

/* Forget the previous request but keep the event's arrays for reuse. */
void
request_clear(struct request *req)
{
	if (req->root != NULL)
		json_arena_reset();	/* the tree was the arena's */
	req->root = NULL;
	req->cmd = NULL;
	req->ev.et = NULL;
	req->ev.type = NULL;
	req->ev.id = NULL;
	req->ev.entity = NULL;
	req->ev.nattrs = 0;
	req->ev.line = NULL;
	req->ev.len = 0;
}

void
request_free(struct request *req)
{
	request_clear(req);
	json_arena_free();
	free(req->ev.fields);
	free(req->ev.attrs);
	memset(req, 0, sizeof *req);
}

/*
 * Decode one line (no newline) into req.  now is the default ts.  On error
 * returns the code and writes the message into msg.
 */
enum errcode
decode_line(const struct ruleset *rs, int64_t now, const char *line,
    size_t len, struct request *req, char *msg, size_t msglen)
{
	const cJSON *type, *cmd, *v;
	const char *key;
	int nul;

	request_clear(req);
	if ((req->root = json_parse(line, len, &nul, msg, msglen)) == NULL)
		return E_BAD_JSON;
	if (!cJSON_IsObject(req->root)) {
		snprintf(msg, msglen, "expected a JSON object, got %s",
		    json_type_name(req->root));
		return E_BAD_EVENT;
	}
	if (nul) {
		/* C strings would cut it short: "k\u0000x" would be "k" */
		snprintf(msg, msglen, "strings may not contain U+0000");
		return E_BAD_EVENT;
	}
	type = cmd = NULL;
	for (v = req->root->child; v != NULL; v = v->next) {
		if (KEY_IS(v->string, "type"))
			type = v;
		else if (KEY_IS(v->string, "cmd"))
			cmd = v;
	}
	if ((type == NULL || cmd != NULL) &&
	    (key = repeated_key(req->root, 0)) != NULL) {
		/* events find repeated keys as they decode their fields */
		utf8_snprintf(msg, msglen, "repeated key '%.*s%s'", CLIP(key));
		return E_BAD_EVENT;
	}
	if ((type == NULL) == (cmd == NULL)) {
		snprintf(msg, msglen, type == NULL ? "expected 'type' (an "
		    "event) or 'cmd' (a command)" : "a line has either 'type' "
		    "or 'cmd', not both");
		return E_BAD_EVENT;
	}
	if (cmd != NULL) {
		if (!cJSON_IsString(cmd)) {
			snprintf(msg, msglen, "cmd: expected string, got %s",
			    json_type_name(cmd));
			return E_BAD_EVENT;
		}
		req->what = REQ_CMD;
		req->cmd = cmd->valuestring;
		return E_OK;
	}
	if (!cJSON_IsString(type)) {
		snprintf(msg, msglen, "type: expected string, got %s",
		    json_type_name(type));
		return E_BAD_EVENT;
	}
	req->what = REQ_EVENT;
	req->ev.type = type->valuestring;
	req->ev.line = line;
	req->ev.len = len;
	return decode_event(rs, now, req, msg, msglen);
}
