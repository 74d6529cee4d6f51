/*
 * libFuzzer target: the configuration loader (conf.c over ydoc.c).
 *
 * The input is written to zhilid.conf in a private folder of /dev/shm
 * (TMPDIR if there is none) that also holds rules/a.yaml and rules/b.yaml,
 * so that relative paths, rule files that exist and globs that match all
 * occur.  Inputs with more than two of the glob characters '*' and '?' are
 * skipped: a pattern of a star per folder level walks the whole file
 * system, which fuzzes the disk and not the loader.
 */
#include <string.h>
#include <sys/stat.h>

#include "zhilid.h"
#include "conf.h"
#include "fuzz.h"

static char	dir[64], conf[96];

static void
put(const char *path, const char *text)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) != 0) {
		perror(path);
		abort();
	}
}

static void
cleanup(void)
{
	char p[128];

	unlink(conf);
	snprintf(p, sizeof p, "%s/rules/a.yaml", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/rules/b.yaml", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/rules", dir);
	rmdir(p);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	char p[128];

	(void)argc;
	(void)argv;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
		tmp = "/dev/shm";
	else if (tmp == NULL)
		tmp = "/tmp";
	snprintf(dir, sizeof dir, "%s/zhilid-fuzz-conf.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		abort();
	}
	atexit(cleanup);
	snprintf(p, sizeof p, "%s/rules", dir);
	if (mkdir(p, 0700) != 0) {
		perror(p);
		abort();
	}
	snprintf(p, sizeof p, "%s/rules/a.yaml", dir);
	put(p, "kind: a\n");
	snprintf(p, sizeof p, "%s/rules/b.yaml", dir);
	put(p, "kind: b\n");
	snprintf(conf, sizeof conf, "%s/zhilid.conf", dir);
	put(conf, "");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errs errs = { 0 };
	struct conf *c;
	size_t i, globs = 0;
	FILE *f;

	for (i = 0; i < size; i++)
		if (data[i] == '*' || data[i] == '?')
			globs++;
	if (globs > 2)
		return 0;
	if ((f = fopen(conf, "w")) == NULL ||
	    fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror(conf);
		abort();
	}
	c = conf_load(conf, &errs);
	FUZZ_CHECK((c == NULL) == (errs.n > 0), "%s, with %zu errors",
	    c != NULL ? "loaded" : "failed", errs.n);
	for (i = 0; i < errs.n; i++)
		FUZZ_CHECK(strncmp(errs.v[i], conf, strlen(conf)) == 0,
		    "an error that does not name the file: %s", errs.v[i]);
	if (c != NULL) {
		FUZZ_CHECK(c->socket[0] == '/' && strlen(c->socket) < 108,
		    "socket %s", c->socket);
		FUZZ_CHECK(c->database[0] == '/', "database %s", c->database);
		for (i = 0; i < c->nrules; i++)
			FUZZ_CHECK(c->rules[i][0] == '/',
			    "rule file %s is not absolute", c->rules[i]);
		conf_resolve_access(c, 1);
		(void)conf_roles(c, getuid(), getgid());
		conf_free(c);
	}
	errs_free(&errs);
	return 0;
}
