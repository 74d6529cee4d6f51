/*
 * Test helper: are two cJSON trees the same, to the bit?  json.c's trees
 * are held to cJSON's own by the unit tests and the decoder fuzzer.
 * (cJSON_Compare will not do: it finds no infinity equal to itself.)
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

#endif
