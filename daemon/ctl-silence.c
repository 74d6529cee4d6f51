/*
 * zhilictl silence, silences, unsilence: the daemon's silence commands
 * (zhilid(8)).  `silence` takes its match keys as options, --KEY VALUE,
 * so that a field a kind declares (--community C, --grid G) needs nothing
 * here: the daemon checks the keys against its rules.  Times go as given,
 * Unix seconds if all digits, else RFC 3339 text for the daemon to read.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"

#define SILENCE_USAGE	"silence [--rule R] [--kind K] [--entity E] " \
	"[--severity S] [--FIELD V]... --until TS [--comment C]"

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int
ctl_silence(int argc, char **argv)
{
	cJSON		*req, *match, *r;
	const char	*until = NULL, *comment = NULL, *v;
	char		*key;
	size_t		 n;
	int		 i, rc = EXIT_SUCCESS;

	req = ctl_new_cmd("silence");
	if ((match = cJSON_AddObjectToObject(req, "match")) == NULL)
		ctl_die(EXIT_CONN, "out of memory");
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0' ||
		    argv[i][2] == '=')
			ctl_usage_error("usage: zhilictl %s", SILENCE_USAGE);
		/* the option's name, without "--" and "=VALUE" */
		n = strcspn(argv[i] + 2, "=");
		key = ctl_xrealloc(NULL, n + 3);
		snprintf(key, n + 3, "--%.*s", (int)n, argv[i] + 2);
		v = ctl_opt_value(argc, argv, &i, key);
		if (strcmp(key, "--until") == 0)
			until = v;
		else if (strcmp(key, "--comment") == 0)
			comment = v;
		else if (cJSON_HasObjectItem(match, key + 2))
			ctl_usage_error("silence: '%s' given twice", key);
		else if (cJSON_AddStringToObject(match, key + 2, v) == NULL)
			ctl_die(EXIT_CONN, "out of memory");
		free(key);
	}
	if (until == NULL)
		ctl_usage_error("silence: --until is required; usage: "
		    "zhilictl %s", SILENCE_USAGE);
	if ((all_digits(until) ? cJSON_AddNumberToObject(req, "until",
	    strtod(until, NULL)) : cJSON_AddStringToObject(req, "until",
	    until)) == NULL ||
	    (comment != NULL && cJSON_AddStringToObject(req, "comment",
	    comment) == NULL))
		ctl_die(EXIT_CONN, "out of memory");
	if (ctl_simple_request(req, &r) == -1)
		rc = EXIT_DAEMON;
	else if (!ctl_opt.json) {
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(r, "silence"),
		    stdout);
		putchar('\n');
	}
	cJSON_Delete(r);
	return rc;
}

/* "ID STATE until TS by UID KEY=VALUE... [# COMMENT]" */
static void
print_silence(const cJSON *s)
{
	const cJSON	*m, *ended;

	ended = cJSON_GetObjectItemCaseSensitive(s, "ended");
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(s, "id"), stdout);
	printf(" %s until ", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s,
	    "active")) ? "active" : cJSON_IsObject(ended) ? "ended" :
	    "expired");
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(s, "until"), stdout);
	fputs(" by ", stdout);
	ctl_put_value(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(s, "created"), "by"), stdout);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(s, "match")) {
		printf(" %s=", m->string);
		ctl_put_value(m, stdout);
	}
	if (ctl_str_item(s, "comment") != NULL) {
		fputs(" # ", stdout);
		ctl_put_value(cJSON_GetObjectItemCaseSensitive(s, "comment"),
		    stdout);
	}
	putchar('\n');
}

int
ctl_silences(int argc, char **argv)
{
	const cJSON	*s;
	cJSON		*req, *r;
	int		 i, rc = EXIT_SUCCESS;

	req = ctl_new_cmd("silences");
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--all") == 0)
			cJSON_AddTrueToObject(req, "all");
		else
			ctl_usage_error("silences: unknown argument '%s'; "
			    "usage: zhilictl silences [--all]", argv[i]);
	if (ctl_simple_request(req, &r) == -1)
		rc = EXIT_DAEMON;
	else if (!ctl_opt.json)
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(r,
		    "silences"))
			print_silence(s);
	cJSON_Delete(r);
	return rc;
}

int
ctl_unsilence(int argc, char **argv)
{
	cJSON	*req, *r;
	int	 rc = EXIT_SUCCESS;

	if (argc != 2 || !all_digits(argv[1]))
		ctl_usage_error("usage: zhilictl %s", "unsilence ID");
	req = ctl_new_cmd("unsilence");
	cJSON_AddNumberToObject(req, "silence", strtod(argv[1], NULL));
	if (ctl_simple_request(req, &r) == -1)
		rc = EXIT_DAEMON;
	cJSON_Delete(r);
	return rc;
}
