/*
 * Test helpers shared by the unit tests and the decoder fuzzer: json.c's
 * parser held to json_check and to cJSON's own parse, trees compared to
 * the bit (cJSON_Compare will not do: it finds no infinity equal to
 * itself).  Include after engine.h.
 */
#ifndef JSONTREE_H
#define JSONTREE_H

#include <string.h>

#include <cjson/cJSON.h>

static int
json_same_tree(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if ((a->type & 0xff) != (b->type & 0xff) ||
	    (a->string == NULL) != (b->string == NULL) ||
	    (a->string != NULL && strcmp(a->string, b->string) != 0) ||
	    (a->valuestring == NULL) != (b->valuestring == NULL) ||
	    (a->valuestring != NULL &&
	    strcmp(a->valuestring, b->valuestring) != 0) ||
	    a->valueint != b->valueint ||
	    memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) != 0)
		return 0;
	for (x = a->child, y = b->child; x != NULL && y != NULL;
	    x = x->next, y = y->next)
		if (!json_same_tree(x, y) ||
		    (x != a->child && x->prev->next != x))
			return 0;
	if ((x == NULL) != (y == NULL))
		return 0;
	/* cJSON keeps the last child in the first one's prev */
	if (a->child != NULL) {
		for (x = a->child; x->next != NULL; x = x->next)
			;
		if (a->child->prev != x)
			return 0;
	}
	return 1;
}

/*
 * json_parse against its two references: it refuses what json_check
 * refuses, with the same message; what json_check accepts it reads into
 * cJSON's tree, or refuses as "cannot parse JSON" exactly when cJSON does.
 * Returns 1 if all agree.
 */
static int
json_parse_agrees(const char *s, size_t len, const char **why)
{
	char cerr[128], perr[128];
	int ok = json_check(s, len, cerr, sizeof cerr) == 0, nul;
	cJSON *t = json_parse(s, len, &nul, perr, sizeof perr), *c;

	if (!ok) {
		*why = t != NULL ? "accepted what json_check refuses" :
		    strcmp(cerr, perr) != 0 ? "another message" : NULL;
		json_arena_reset();
		return *why == NULL;
	}
	c = cJSON_ParseWithLength(s, len);
	if (c == NULL)
		*why = t != NULL ? "accepted what cJSON refuses" :
		    strcmp(perr, "cannot parse JSON") != 0 ? "another message" :
		    NULL;
	else
		*why = t == NULL ? "refused what cJSON reads" :
		    !json_same_tree(t, c) ? "another tree" : NULL;
	cJSON_Delete(c);
	json_arena_reset();
	return *why == NULL;
}

#endif
