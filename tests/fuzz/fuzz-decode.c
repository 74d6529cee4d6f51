/*
 * libFuzzer target: the event-line decoder (json.c's one-pass reader, held
 * to json_check and to cJSON's own parse; decode.c's typed checks of each
 * event type).
 *
 * The ruleset is the shipped one, every YAML file of rules/, loaded once,
 * so that the short-form (household.upsert) and the typed events
 * (secretary.score, property.*, work_order.*, period.close) are all known.
 * The input is split into lines as the server splits its input (a CR
 * before the newline dropped, blank lines skipped), and the lines are
 * decoded one after another into one request, as on one connection; each
 * line lies in a buffer of its exact length, with no NUL after it, as in
 * the client's input buffer.  What a decode returns is read back in full,
 * so that ASan sees any pointer into a tree or line that is gone.  What it
 * refuses is answered as the daemon answers it (error_json), and that
 * answer must be one line of valid UTF-8 JSON whatever the input; the
 * message itself must already be valid UTF-8, so that a quote cut inside
 * a character is caught where it is made, not hidden by error_json.
 */
#include <glob.h>
#include <string.h>

#include "zhilid.h"
#include "engine.h"
#include "fuzz.h"
#include "../unit/jsontree.h"

#define NOW	1767225600LL	/* 2026-01-01T00:00:00Z */

static struct ruleset	*rs;
static volatile size_t	 sink;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct errs errs = { 0 };
	const char *root = getenv("ZHILID_FUZZ_ROOT");
	char *pat;
	glob_t g;
	size_t i;

	(void)argc;
	(void)argv;
	pat = xasprintf("%s/rules/*.yaml", root != NULL ? root : FUZZ_ROOT);
	memset(&g, 0, sizeof g);
	if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc < 4) {
		fprintf(stderr, "fuzz-decode: %s: expected the four shipped "
		    "rule files (set ZHILID_FUZZ_ROOT to the checkout)\n", pat);
		exit(1);
	}
	rs = ruleset_load(g.gl_pathv, g.gl_pathc, &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	if (rs == NULL)
		exit(1);
	errs_free(&errs);
	globfree(&g);
	free(pat);
	return 0;
}

static size_t
str(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* Read back everything a successful decode hands to the engine. */
static void
touch(const struct request *req)
{
	const struct event *ev = &req->ev;
	const struct kind *k;
	size_t i;

	if (req->what == REQ_CMD) {
		sink += str(req->cmd);
		return;
	}
	FUZZ_CHECK(ev->type != NULL, "an event without a type");
	FUZZ_CHECK(ev->ts >= 0 && ev->ts <= TS_MAX, "%s: ts %lld out of range",
	    ev->type, (long long)ev->ts);
	sink += str(ev->type) + str(ev->id) + str(ev->entity);
	if (ev->et == NULL) {
		FUZZ_CHECK(strcmp(ev->type, "clock.tick") == 0,
		    "unknown event type %s decoded", ev->type);
		return;
	}
	if ((k = ev->et->kind) != NULL) {
		FUZZ_CHECK(ev->entity != NULL && ev->entity[0] != '\0',
		    "%s without its %s", ev->type, k->name);
		for (i = 0; i < k->nfields; i++)
			sink += str(ev->fields[i]);
		for (i = 0; i < ev->nattrs; i++) {
			FUZZ_CHECK(ev->attrs[i].slot < k->nattrs,
			    "attribute slot %zu of %zu", ev->attrs[i].slot,
			    k->nattrs);
			if (k->attrs[ev->attrs[i].slot].type == VT_STR)
				sink += str(ev->attrs[i].v.s);
		}
	}
	for (i = 0; i < ev->et->nfields; i++) {
		const struct evfield *f = &ev->et->fields[i];

		if (!EV_HAS(ev, (int)i)) {
			FUZZ_CHECK(f->optional, "%s without its field %s",
			    ev->type, f->name);
			continue;
		}
		if (f->type == FT_STRING)
			sink += str(ev->vals[i].s);
		if (f->type == FT_INT || f->type == FT_DEC)
			FUZZ_CHECK((!f->has_min || ev->vals[i].i >= f->min) &&
			    (!f->has_max || ev->vals[i].i <= f->max),
			    "%s: %s out of its range", ev->type, f->name);
	}
}

/*
 * The event log's stored form (evlog.c) of a line the decoder accepted:
 * it splits, the line it puts back together is the same JSON value, and a
 * line matched against its own template gives the same values.
 */
static void
evlog_roundtrip(const char *line, size_t len, const struct event *ev)
{
	struct buf t = { 0 }, v = { 0 }, m = { 0 }, out = { 0 };
	cJSON *a, *b;

	FUZZ_CHECK(evlog_encode(line, len, ev->id != NULL, &t, &v) == 0,
	    "evlog_encode refused an accepted line");
	buf_addc(&t, '\0');
	buf_addc(&v, '\0');	/* a line may have no values: no NULL */
	v.len--;
	buf_addc(&m, '\0');
	m.len--;
	FUZZ_CHECK(evlog_match(line, len, BUF_DATA(&t), BUF_LEN(&t) - 1, &m)
	    != 0 || (BUF_LEN(&m) == BUF_LEN(&v) && memcmp(BUF_DATA(&m),
	    BUF_DATA(&v), BUF_LEN(&v)) == 0), "evlog_match differs");
	evlog_decode(&out, BUF_DATA(&t), BUF_DATA(&v), BUF_LEN(&v), ev->id,
	    ev->ts, 0);
	a = cJSON_ParseWithLength(line, len);
	b = cJSON_ParseWithLength(BUF_DATA(&out), BUF_LEN(&out));
	FUZZ_CHECK(b != NULL && cJSON_Compare(a, b, 1), "evlog: %.*s "
	    "came back as %.*s", (int)len, line, (int)BUF_LEN(&out),
	    BUF_DATA(&out));
	cJSON_Delete(a);
	cJSON_Delete(b);
	buf_free(&t);
	buf_free(&v);
	buf_free(&m);
	buf_free(&out);
}

/* The error answer the daemon writes for e and msg, checked strictly. */
static void
answer(enum errcode e, const char *msg)
{
	struct buf b = { 0 };
	char jerr[128];
	const cJSON *err, *code, *text;
	cJSON *root;

	/* the message as decode wrote it, as a JSON string */
	buf_add_json_cstr(&b, msg);
	FUZZ_CHECK(json_check(BUF_DATA(&b), BUF_LEN(&b), jerr, sizeof jerr)
	    == 0, "message not valid UTF-8 (%s): %s", jerr, msg);
	buf_reset(&b);
	error_json(&b, e, msg);
	FUZZ_CHECK(BUF_LEN(&b) > 0 && BUF_DATA(&b)[BUF_LEN(&b) - 1] == '\n' &&
	    memchr(BUF_DATA(&b), '\n', BUF_LEN(&b) - 1) == NULL,
	    "answer is not one line: %s", BUF_DATA(&b));
	FUZZ_CHECK(json_check(BUF_DATA(&b), BUF_LEN(&b) - 1, jerr, sizeof jerr)
	    == 0, "answer not valid UTF-8 JSON (%s): %s", jerr, BUF_DATA(&b));
	root = cJSON_ParseWithLength(BUF_DATA(&b), BUF_LEN(&b) - 1);
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	code = cJSON_GetObjectItemCaseSensitive(err, "code");
	text = cJSON_GetObjectItemCaseSensitive(err, "message");
	FUZZ_CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "ok")) &&
	    cJSON_IsString(code) && strcmp(code->valuestring,
	    errcode_name(e)) == 0 && cJSON_IsString(text) &&
	    strcmp(text->valuestring, msg) == 0, "answer %s for %s: %s",
	    BUF_DATA(&b), errcode_name(e), msg);
	cJSON_Delete(root);
	buf_free(&b);
}

/* Does s hold a \u escape of a UTF-16 surrogate, \uD800 to \uDFFF? */
static int
surrogate_escape(const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	while ((p = memmem(p, (size_t)(end - p), "\\u", 2)) != NULL) {
		if (end - p >= 4 && (p[2] == 'd' || p[2] == 'D') &&
		    strchr("89abcdefABCDEF", p[3]) != NULL && p[3] != '\0')
			return 1;
		p += 2;
	}
	return 0;
}

static void
decode(struct request *req, const char *line, size_t len)
{
	char msg[512], jerr[128], *copy;
	const char *why;
	enum errcode e;
	size_t i;
	int valid;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len)
		return;		/* blank: not a request */
	copy = xmalloc(len > 0 ? len : 1);
	memcpy(copy, line, len);
	valid = json_check(copy, len, jerr, sizeof jerr) == 0;
	request_clear(req);	/* json_parse_agrees resets the arena */
	FUZZ_CHECK(json_parse_agrees(copy, len, &why), "json_parse: %s", why);
	msg[0] = '\0';
	e = decode_line(rs, NOW, copy, len, req, msg, sizeof msg);
	if (e == E_OK && req->what != REQ_CMD) {
		touch(req);
		evlog_roundtrip(copy, len, &req->ev);
	} else if (e == E_OK)
		touch(req);
	else {
		FUZZ_CHECK(msg[0] != '\0' && strlen(msg) < sizeof msg,
		    "%s without a message", errcode_name(e));
		answer(e, msg);
	}
	/*
	 * RFC 8259 JSON must not be bad_json (zhilid(8)), save
	 * what RFC 8259 leaves open: lone surrogates (cJSON refuses them).
	 */
	FUZZ_CHECK(e != E_BAD_JSON || !valid || surrogate_escape(copy, len),
	    "RFC 8259 JSON answered bad_json: %s", msg);
	FUZZ_CHECK(e == E_BAD_JSON || valid, "invalid JSON (%s) answered %s",
	    jerr, errcode_name(e));
	sink += strlen(errcode_name(e));
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request req;
	const char *p = (const char *)data, *end = p + size, *nl;

	memset(&req, 0, sizeof req);
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		decode(&req, p, (size_t)(nl - p));
		p = nl + 1;
	}
	request_free(&req);
	return 0;
}
