/*
 * The configuration file: a YAML map whose keys are described by one table,
 * conf_table[], with a parser per kind of value (redis static_configs[]).
 * Every problem is collected as FILE:LINE:COL before the load fails whole.
 * Relative paths are taken relative to the config file's folder.
 */
#include <assert.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zhilid.h"
#include "conf.h"
#include "store.h"

struct conf_key {
	const char	*name;
	int		 (*parse)(struct conf *, const struct ynode *,
			    const char *, struct errs *);
};

static int	parse_socket(struct conf *, const struct ynode *, const char *,
		    struct errs *);
static int	parse_database(struct conf *, const struct ynode *,
		    const char *, struct errs *);
static int	parse_rules(struct conf *, const struct ynode *, const char *,
		    struct errs *);
static int	parse_tests(struct conf *, const struct ynode *, const char *,
		    struct errs *);
static int	parse_clock(struct conf *, const struct ynode *, const char *,
		    struct errs *);
static int	parse_timezone(struct conf *, const struct ynode *,
		    const char *, struct errs *);
static int	parse_durability(struct conf *, const struct ynode *,
		    const char *, struct errs *);
static int	parse_limits(struct conf *, const struct ynode *, const char *,
		    struct errs *);
static int	parse_access(struct conf *, const struct ynode *, const char *,
		    struct errs *);
static int	parse_metrics(struct conf *, const struct ynode *,
		    const char *, struct errs *);
static int	parse_outputs(struct conf *, const struct ynode *,
		    const char *, struct errs *);
static int	parse_retention(struct conf *, const struct ynode *,
		    const char *, struct errs *);

static const struct conf_key conf_table[] = {
	{ "socket",	parse_socket },
	{ "database",	parse_database },
	{ "rules",	parse_rules },
	{ "tests",	parse_tests },
	{ "clock",	parse_clock },
	{ "timezone",	parse_timezone },
	{ "durability",	parse_durability },
	{ "limits",	parse_limits },
	{ "access",	parse_access },
	{ "metrics",	parse_metrics },
	{ "outputs",	parse_outputs },
	{ "retention",	parse_retention },
};
#define NCONF (sizeof conf_table / sizeof conf_table[0])

struct limit_key {
	const char	*name;
	size_t		 offset;
	long long	 min, max;
};

static const struct limit_key limit_table[] = {
	{ "max_line_bytes",	offsetof(struct conf, max_line_bytes),
	    64, 64 * 1024 * 1024 },
	{ "max_output_bytes",	offsetof(struct conf, max_output_bytes),
	    1024, 1024LL * 1024 * 1024 },
	{ "max_clients",	offsetof(struct conf, max_clients), 1, 65536 },
	{ "max_clients_per_uid", offsetof(struct conf, max_clients_per_uid),
	    1, 65536 },
	{ "entity_cache",	offsetof(struct conf, entity_cache),
	    16, 100000000 },
	{ "idle_timeout",	offsetof(struct conf, idle_timeout), 0,
	    86400 * 365 },
};
#define NLIMIT (sizeof limit_table / sizeof limit_table[0])

/* retention: {events: DAYS}; a hundred years at most */
static const struct limit_key retention_table[] = {
	{ "events",		offsetof(struct conf, retention_events), 1,
	    36500 },
};
#define NRETENTION (sizeof retention_table / sizeof retention_table[0])

static const char *const role_names[] = { "push", "read", "admin" };

#define PEER_GROUPS_MAX	256	/* more than that: the primary group only */
static int	peer_groups(uid_t, gid_t, gid_t *, int);

static char *
conf_path(const struct conf *c, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	return xasprintf("%s/%s", c->dir, p);
}

static const char *
scalar(const struct ynode *n, const char *file, const char *key,
    struct errs *errs)
{
	if (n->type != YN_SCALAR) {
		errs_add(errs, file, n->line, n->col,
		    "%s: expected a string, got %s", key, ynode_type_name(n));
		return NULL;
	}
	if (n->len == 0 || strlen(n->str) != n->len) {
		errs_add(errs, file, n->line, n->col, "%s: empty or invalid "
		    "value", key);
		return NULL;
	}
	return n->str;
}

static int
parse_socket(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	const char *s = scalar(n, file, "socket", errs);

	if (s == NULL)
		return -1;
	free(c->socket);
	c->socket = conf_path(c, s);
	if (strlen(c->socket) >= 108) {
		errs_add(errs, file, n->line, n->col, "socket: path too long "
		    "for a Unix socket (%zu bytes, at most 107)",
		    strlen(c->socket));
		return -1;
	}
	return 0;
}

static int
parse_database(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	const char *s = scalar(n, file, "database", errs);

	if (s == NULL)
		return -1;
	free(c->database);
	/* a connection string is the server's business, not a path */
	c->database = store_is_url(s) ? xstrdup(s) : conf_path(c, s);
	return 0;
}

static void
add_file(char ***v, size_t *n, const char *path)
{
	*v = xreallocarray(*v, *n + 1, sizeof **v);
	(*v)[(*n)++] = xstrdup(path);
}

/*
 * A file or glob, or a list of them, relative to the config's folder: a
 * named file must exist, a glob may match nothing.
 */
static int
parse_files(struct conf *c, const struct ynode *n, const char *file,
    const char *key, char ***v, size_t *nv, struct errs *errs)
{
	const struct ynode *const *items = (const struct ynode *const *)&n;
	size_t i, j, count = 1;
	glob_t g;
	char *pat;
	struct stat st;
	int rc = 0;

	if (n->type == YN_SEQ) {
		items = (const struct ynode *const *)n->items;
		count = n->n;
	}
	for (i = 0; i < count; i++) {
		const char *s = scalar(items[i], file, key, errs);

		if (s == NULL) {
			rc = -1;
			continue;
		}
		pat = conf_path(c, s);
		if (strpbrk(s, "*?[") == NULL) {
			if (stat(pat, &st) != 0) {
				errs_add(errs, file, items[i]->line,
				    items[i]->col, "%s: %s: %s", key, s,
				    strerror(errno));
				rc = -1;
			} else
				add_file(v, nv, pat);
			free(pat);
			continue;
		}
		memset(&g, 0, sizeof g);
		if (glob(pat, 0, NULL, &g) == 0)
			for (j = 0; j < g.gl_pathc; j++)
				add_file(v, nv, g.gl_pathv[j]);
		globfree(&g);
		free(pat);
	}
	return rc;
}

static int
parse_rules(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	return parse_files(c, n, file, "rules", &c->rules, &c->nrules, errs);
}

/* Rule unit tests that zhilid -t and every reload run (ruletest.c). */
static int
parse_tests(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	return parse_files(c, n, file, "tests", &c->tests, &c->ntests, errs);
}

static int
parse_enum(const struct ynode *n, const char *file, const char *key,
    const char *const *names, size_t nnames, int *out, struct errs *errs)
{
	const char *s = scalar(n, file, key, errs), *hint;
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < nnames; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	hint = did_you_mean(s, names, nnames);
	errs_add(errs, file, n->line, n->col, "%s: unknown value '%s'%s%s%s",
	    key, s, hint ? " (did you mean '" : "", hint ? hint : "",
	    hint ? "'?)" : "");
	return -1;
}

static int
parse_clock(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	static const char *const names[] = { "wall", "event" };

	return parse_enum(n, file, "clock", names, 2, &c->clock, errs);
}

static int
parse_durability(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	static const char *const names[] = { "full", "normal" };

	return parse_enum(n, file, "durability", names, 2, &c->durability,
	    errs);
}

static int
parse_timezone(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	const char *s = scalar(n, file, "timezone", errs);
	char path[PATH_MAX];
	struct stat st;

	if (s == NULL)
		return -1;
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", s);
	if (s[0] == '/' || strstr(s, "..") != NULL || stat(path, &st) != 0 ||
	    !S_ISREG(st.st_mode)) {
		errs_add(errs, file, n->line, n->col, "timezone: unknown time "
		    "zone '%s' (is tzdata installed?)", s);
		return -1;
	}
	free(c->timezone);
	c->timezone = xstrdup(s);
	return 0;
}

/* A map of integers, each of them checked against its row of table. */
static int
parse_int_map(struct conf *c, const struct ynode *n, const char *file,
    const char *what, const struct limit_key *table, size_t ntable,
    struct errs *errs)
{
	const char *names[NLIMIT > NRETENTION ? NLIMIT : NRETENTION] = { 0 };
	size_t i, j;
	long long v;
	int rc = 0;

	assert(ntable <= sizeof names / sizeof names[0]);
	if (n->type != YN_MAP) {
		errs_add(errs, file, n->line, n->col, "%s: expected a map, "
		    "got %s", what, ynode_type_name(n));
		return -1;
	}
	for (i = 0; i < ntable; i++)
		names[i] = table[i].name;
	if (ynode_check_keys(n, file, names, ntable, what, errs) != 0)
		rc = -1;
	for (i = 0; i < ntable; i++) {
		const struct ynode *vn = ynode_get(n, names[i]);

		if (vn == NULL)
			continue;
		if (ynode_int(vn, table[i].min, table[i].max, &v) != 0) {
			errs_add(errs, file, vn->line, vn->col, "%s.%s: "
			    "expected an integer in %lld..%lld", what,
			    names[i], table[i].min, table[i].max);
			rc = -1;
			continue;
		}
		j = table[i].offset;
		*(long long *)(void *)((char *)c + j) = v;
	}
	return rc;
}

static int
parse_limits(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	return parse_int_map(c, n, file, "limits", limit_table, NLIMIT, errs);
}

static int
parse_retention(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	return parse_int_map(c, n, file, "retention", retention_table,
	    NRETENTION, errs);
}

static int
parse_roles(const struct ynode *n, const char *file, unsigned *roles,
    struct errs *errs)
{
	size_t i;
	int r, rc = 0;

	if (n->type != YN_SEQ) {
		errs_add(errs, file, n->line, n->col, "access.roles: expected "
		    "a list, got %s", ynode_type_name(n));
		return -1;
	}
	for (i = 0; i < n->n; i++) {
		if (parse_enum(n->items[i], file, "access.roles", role_names,
		    3, &r, errs) != 0)
			rc = -1;
		else
			*roles |= 1u << r;
	}
	return rc;
}

/*
 * An entry of a list of maps (access, outputs): -1 if it is not a map,
 * else 0, and *rc -1 if it has keys not in keys; both reported.
 */
static int
list_entry(const struct ynode *e, const char *file, const char *what,
    const char *const *keys, size_t nkeys, int *rc, struct errs *errs)
{
	if (e->type != YN_MAP) {
		errs_add(errs, file, e->line, e->col, "%s: entry must be a "
		    "map, got %s", what, ynode_type_name(e));
		*rc = -1;
		return -1;
	}
	if (ynode_check_keys(e, file, keys, nkeys, what, errs) != 0)
		*rc = -1;
	return 0;
}

static int
parse_access(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	static const char *const keys[] = { "uid", "user", "gid", "group",
	    "roles" };
	size_t i, k;
	int rc = 0;

	if (n->type != YN_SEQ) {
		errs_add(errs, file, n->line, n->col, "access: expected a "
		    "list, got %s", ynode_type_name(n));
		return -1;
	}
	c->naccess = 0;
	for (i = 0; i < n->n; i++) {
		const struct ynode *e = n->items[i], *v, *who = NULL;
		struct access_rule a = { 0 };
		long long id;
		int nwho = 0;

		if (list_entry(e, file, "access", keys, 5, &rc, errs) != 0)
			continue;
		for (k = 0; k < 4; k++)
			if ((v = ynode_get(e, keys[k])) != NULL) {
				nwho++;
				who = v;
				a.who = (int)k;
			}
		if (nwho != 1) {
			errs_add(errs, file, e->line, e->col, "access: entry "
			    "needs exactly one of uid, user, gid, group");
			rc = -1;
			continue;
		}
		if ((v = ynode_get(e, "roles")) == NULL) {
			errs_add(errs, file, e->line, e->col, "access: entry "
			    "needs roles");
			rc = -1;
			continue;
		}
		if (parse_roles(v, file, &a.roles, errs) != 0) {
			rc = -1;
			continue;
		}
		if (who->type != YN_SCALAR) {
			errs_add(errs, file, who->line, who->col, "access.%s: "
			    "expected a scalar", keys[a.who]);
			rc = -1;
			continue;
		}
		if ((a.who == ACCESS_UID || a.who == ACCESS_GID) &&
		    strcmp(who->str, "self") == 0) {
			a.id = a.who == ACCESS_UID ? getuid() : getgid();
		} else if (a.who == ACCESS_UID || a.who == ACCESS_GID) {
			if (ynode_int(who, 0, UINT32_MAX - 1, &id) != 0) {
				errs_add(errs, file, who->line, who->col,
				    "access.%s: expected a number or 'self'",
				    keys[a.who]);
				rc = -1;
				continue;
			}
			a.id = (unsigned)id;
		} else
			a.name = xstrdup(who->str);
		c->access = xreallocarray(c->access, c->naccess + 1,
		    sizeof *c->access);
		c->access[c->naccess++] = a;
	}
	return rc;
}

#define METRICS_INTERVAL_MAX	86400

/*
 * metrics: {textfile: PATH, interval: SECONDS}: where and how often the
 * metrics text is written for node_exporter's textfile collector, which
 * reads only *.prom files; the folder must exist, since the file is
 * replaced by renaming a temporary file written beside it.
 */
static int
parse_metrics(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	static const char *const keys[] = { "textfile", "interval" };
	const struct ynode *v;
	const char *s;
	char *dir, *slash;
	struct stat st;
	size_t len;
	int rc = 0;

	if (n->type != YN_MAP) {
		errs_add(errs, file, n->line, n->col, "metrics: expected a "
		    "map, got %s", ynode_type_name(n));
		return -1;
	}
	if (ynode_check_keys(n, file, keys, 2, "metrics", errs) != 0)
		rc = -1;
	if ((v = ynode_get(n, "interval")) != NULL && ynode_int(v, 1,
	    METRICS_INTERVAL_MAX, &c->metrics_interval) != 0) {
		errs_add(errs, file, v->line, v->col, "metrics.interval: "
		    "expected an integer in 1..%d (seconds)",
		    METRICS_INTERVAL_MAX);
		rc = -1;
	}
	if ((v = ynode_get(n, "textfile")) == NULL) {
		if (ynode_get(n, "interval") != NULL) {
			errs_add(errs, file, n->line, n->col, "metrics: "
			    "interval needs a textfile to write");
			rc = -1;
		}
		return rc;
	}
	if ((s = scalar(v, file, "metrics.textfile", errs)) == NULL)
		return -1;
	if ((len = strlen(s)) < 6 || strcmp(s + len - 5, ".prom") != 0) {
		errs_add(errs, file, v->line, v->col, "metrics.textfile: '%s' "
		    "must end in .prom (the textfile collector reads no other "
		    "files)", s);
		return -1;
	}
	free(c->metrics_textfile);
	c->metrics_textfile = conf_path(c, s);
	dir = xstrdup(c->metrics_textfile);
	if ((slash = strrchr(dir, '/')) != NULL)
		slash[slash == dir] = '\0';
	if (stat(dir, &st) != 0) {
		errs_add(errs, file, v->line, v->col, "metrics.textfile: %s: "
		    "%s", dir, strerror(errno));
		rc = -1;
	} else if (!S_ISDIR(st.st_mode)) {
		errs_add(errs, file, v->line, v->col, "metrics.textfile: %s: "
		    "not a folder", dir);
		rc = -1;
	}
	free(dir);
	return rc;
}

#define OUTPUT_NAME_MAX	128

/*
 * The target of one output: {file: PATH}, {exec: [ARGV...]} or
 * {journal: true}; 0 and o filled, or -1.
 */
static int
parse_output_target(struct conf *c, const struct ynode *e, const char *file,
    struct output_conf *o, struct errs *errs)
{
	const struct ynode *v;
	const char *s;
	size_t i;
	int on;

	if ((v = ynode_get(e, "file")) != NULL) {
		o->type = OUTPUT_FILE;
		if ((s = scalar(v, file, "outputs.file", errs)) == NULL)
			return -1;
		o->path = conf_path(c, s);
		return 0;
	}
	if ((v = ynode_get(e, "exec")) != NULL) {
		o->type = OUTPUT_EXEC;
		if (v->type != YN_SEQ || v->n == 0) {
			errs_add(errs, file, v->line, v->col, "outputs.exec: "
			    "expected a list of the program and its arguments, "
			    "got %s", v->type == YN_SEQ ? "an empty list" :
			    ynode_type_name(v));
			return -1;
		}
		o->argv = xcalloc(v->n + 1, sizeof *o->argv);
		for (i = 0; i < v->n; i++) {
			if ((s = scalar(v->items[i], file, "outputs.exec",
			    errs)) == NULL)
				return -1;
			o->argv[i] = xstrdup(s);
		}
		return 0;
	}
	v = ynode_get(e, "journal");
	o->type = OUTPUT_JOURNAL;
	if (ynode_bool(v, &on) != 0 || !on) {
		errs_add(errs, file, v->line, v->col, "outputs.journal: "
		    "expected true");
		return -1;
	}
	return 0;
}

/* An output's default name: its type and target. */
static char *
output_default_name(const struct output_conf *o)
{
	struct buf b = { 0 };
	size_t i;

	switch (o->type) {
	case OUTPUT_FILE:
		return xasprintf("file:%s", o->path);
	case OUTPUT_EXEC:
		buf_adds(&b, "exec:");
		for (i = 0; o->argv[i] != NULL; i++)
			buf_addf(&b, "%s%s", i > 0 ? " " : "", o->argv[i]);
		return buf_steal(&b);
	default:
		return xstrdup("journal");
	}
}

/*
 * outputs: a list of sinks, each {file: PATH}, {exec: [ARGV...]} or
 * {journal: true}, with an optional name.  The name keys the output's
 * stored position, so two outputs cannot share one.
 */
static int
parse_outputs(struct conf *c, const struct ynode *n, const char *file,
    struct errs *errs)
{
	static const char *const keys[] = { "file", "exec", "journal",
	    "name" };
	struct output_conf o;
	const struct ynode *e, *v;
	size_t i, j, k;
	int rc = 0, ntargets;

	if (n->type != YN_SEQ) {
		errs_add(errs, file, n->line, n->col, "outputs: expected a "
		    "list, got %s", ynode_type_name(n));
		return -1;
	}
	for (i = 0; i < n->n; i++) {
		e = n->items[i];
		if (list_entry(e, file, "outputs", keys, 4, &rc, errs) != 0)
			continue;
		for (ntargets = 0, k = 0; k < 3; k++)
			ntargets += ynode_get(e, keys[k]) != NULL;
		if (ntargets != 1) {
			errs_add(errs, file, e->line, e->col, "outputs: entry "
			    "needs exactly one of file, exec, journal");
			rc = -1;
			continue;
		}
		memset(&o, 0, sizeof o);
		o.line = e->line;
		o.col = e->col;
		c->outputs = xreallocarray(c->outputs, c->noutputs + 1,
		    sizeof *c->outputs);
		c->outputs[c->noutputs++] = o;	/* conf_free frees a half */
		if (parse_output_target(c, e, file,
		    &c->outputs[c->noutputs - 1], errs) != 0) {
			rc = -1;
			continue;
		}
		if ((v = ynode_get(e, "name")) != NULL) {
			const char *s = scalar(v, file, "outputs.name", errs);

			if (s == NULL) {
				rc = -1;
				continue;
			}
			if (strlen(s) > OUTPUT_NAME_MAX) {
				errs_add(errs, file, v->line, v->col,
				    "outputs.name: longer than %d bytes",
				    OUTPUT_NAME_MAX);
				rc = -1;
				continue;
			}
			c->outputs[c->noutputs - 1].name = xstrdup(s);
		} else
			c->outputs[c->noutputs - 1].name =
			    output_default_name(&c->outputs[c->noutputs - 1]);
		for (j = 0; j + 1 < c->noutputs; j++) {
			if (c->outputs[j].name == NULL ||
			    strcmp(c->outputs[j].name,
			    c->outputs[c->noutputs - 1].name) != 0)
				continue;
			errs_add(errs, file, e->line, e->col, "outputs: a "
			    "second output named '%s' (the first is at line "
			    "%d); give one another name", c->outputs[j].name,
			    c->outputs[j].line);
			rc = -1;
			break;
		}
	}
	return rc;
}

/*
 * Resolve user and group names now, so that a missing group is reported at
 * start rather than on every connection.  A name that does not exist is a
 * warning, not an error: the shipped config names group zhilid, which a
 * development machine need not have.
 */
void
conf_resolve_access(struct conf *c, int quiet)
{
	struct passwd *pw;
	struct group *gr;
	size_t i;

	for (i = 0; i < c->naccess; i++) {
		struct access_rule *a = &c->access[i];

		if (a->name == NULL)
			continue;
		a->valid = 0;
		if (a->who == ACCESS_USER && (pw = getpwnam(a->name)) != NULL) {
			a->id = pw->pw_uid;
			a->valid = 1;
		} else if (a->who == ACCESS_GROUP &&
		    (gr = getgrnam(a->name)) != NULL) {
			a->id = gr->gr_gid;
			a->valid = 1;
		} else if (!quiet)
			log_notice("access: %s '%s' does not exist; its entry "
			    "grants nothing", a->who == ACCESS_USER ? "user" :
			    "group", a->name);
	}
}

/* The roles the config grants a peer with these credentials. */
unsigned
conf_roles(const struct conf *c, uid_t uid, gid_t gid)
{
	gid_t groups[PEER_GROUPS_MAX];
	int ngroups = 0, g;
	unsigned roles = 0;
	size_t i;

	groups[ngroups++] = gid;
	for (i = 0; i < c->naccess; i++) {
		const struct access_rule *a = &c->access[i];

		if (a->name != NULL && !a->valid)
			continue;
		if ((a->who == ACCESS_UID || a->who == ACCESS_USER) &&
		    a->id == uid)
			roles |= a->roles;
		if (a->who != ACCESS_GID && a->who != ACCESS_GROUP)
			continue;
		if (ngroups == 1)
			ngroups = peer_groups(uid, gid, groups,
			    PEER_GROUPS_MAX);
		for (g = 0; g < ngroups; g++)
			if (a->id == groups[g])
				roles |= a->roles;
	}
	return roles;
}

/*
 * The peer's groups: SO_PEERCRED gives only its primary gid, but an
 * operator adds users to group zhilid as a supplementary group
 * (usermod -aG), so the user's groups from the group database count too.
 */
static int
peer_groups(uid_t uid, gid_t gid, gid_t *groups, int max)
{
	struct passwd *pw;
	int n = max;

	if ((pw = getpwuid(uid)) == NULL ||
	    getgrouplist(pw->pw_name, gid, groups, &n) == -1) {
		groups[0] = gid;
		return 1;
	}
	return n;
}

struct conf *
conf_load(const char *path, struct errs *errs)
{
	struct conf *c;
	struct ydoc *d;
	const char *names[NCONF];
	char *copy, *slash, real[PATH_MAX];
	size_t i, before = errs->n;

	if ((d = ydoc_load(path, errs)) == NULL)
		return NULL;
	c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	if (realpath(path, real) == NULL)
		snprintf(real, sizeof real, "%s", path);
	copy = xstrdup(real);
	slash = strrchr(copy, '/');
	if (slash == copy)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else {
		free(copy);
		copy = xstrdup(".");
	}
	c->dir = copy;
	c->socket = conf_path(c, "run/zhilid.sock");
	c->database = conf_path(c, "run/zhilid.db");
	c->timezone = xstrdup("Asia/Shanghai");
	c->clock = CLOCK_WALL;
	c->durability = DURABILITY_FULL;
	c->max_line_bytes = 65536;
	c->max_output_bytes = 1048576;
	c->max_clients = 1024;
	c->max_clients_per_uid = 256;
	c->entity_cache = 50000;
	c->idle_timeout = 0;
	c->metrics_interval = 15;

	if (d->root->type != YN_MAP) {
		errs_add(errs, path, d->root->line, d->root->col,
		    "configuration must be a map, got %s",
		    ynode_type_name(d->root));
		goto done;
	}
	for (i = 0; i < NCONF; i++)
		names[i] = conf_table[i].name;
	ynode_check_keys(d->root, path, names, NCONF, "configuration", errs);
	for (i = 0; i < NCONF; i++) {
		const struct ynode *v = ynode_get(d->root, names[i]);

		if (v != NULL)
			conf_table[i].parse(c, v, path, errs);
	}
	if (ynode_get(d->root, "access") == NULL) {
		/* no access list: the daemon's own user may do everything */
		c->access = xcalloc(1, sizeof *c->access);
		c->access[0].who = ACCESS_UID;
		c->access[0].id = getuid();
		c->access[0].roles = ROLE_PUSH | ROLE_READ | ROLE_ADMIN;
		c->naccess = 1;
	}
	if (ynode_get(d->root, "rules") == NULL)
		errs_add(errs, path, d->root->line, d->root->col,
		    "configuration: missing key 'rules'");
	else if (c->nrules == 0 && errs->n == before) {
		const struct ynode *n = ynode_get(d->root, "rules");

		/* a typo in a glob must not start a daemon with no rules */
		errs_add(errs, d->file, n->line, n->col, "rules: no rule file "
		    "matches");
	}
done:
	ydoc_free(d);
	if (errs->n != before) {
		conf_free(c);
		return NULL;
	}
	return c;
}

void
conf_free(struct conf *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nrules; i++)
		free(c->rules[i]);
	for (i = 0; i < c->ntests; i++)
		free(c->tests[i]);
	free(c->tests);
	for (i = 0; i < c->naccess; i++)
		free(c->access[i].name);
	free(c->access);
	free(c->rules);
	free(c->path);
	free(c->dir);
	free(c->socket);
	free(c->database);
	free(c->timezone);
	free(c->metrics_textfile);
	for (i = 0; i < c->noutputs; i++) {
		free(c->outputs[i].name);
		free(c->outputs[i].path);
		for (j = 0; c->outputs[i].argv != NULL &&
		    c->outputs[i].argv[j] != NULL; j++)
			free(c->outputs[i].argv[j]);
		free(c->outputs[i].argv);
	}
	free(c->outputs);
	free(c);
}
