/* conf.c: the configuration file. */
#ifndef CONF_H
#define CONF_H

#include <sys/types.h>

enum { CLOCK_WALL, CLOCK_EVENT };
enum { DURABILITY_FULL, DURABILITY_NORMAL };
enum { ROLE_PUSH = 1, ROLE_READ = 2, ROLE_ADMIN = 4 };
enum { ACCESS_UID, ACCESS_USER, ACCESS_GID, ACCESS_GROUP };

struct access_rule {
	int		 who;		/* ACCESS_* */
	unsigned	 id;		/* uid or gid, once resolved */
	char		*name;		/* user or group name, or NULL */
	int		 valid;		/* name resolved */
	unsigned	 roles;		/* ROLE_* */
};

/* outputs: the sinks that every committed, unsilenced alert goes to */
enum { OUTPUT_FILE, OUTPUT_EXEC, OUTPUT_JOURNAL };
struct output_conf {
	int		 type;		/* OUTPUT_* */
	char		*name;		/* metrics label, key of its position */
	char		*path;		/* file: absolute */
	char		**argv;		/* exec: NULL-terminated */
	int		 line, col;	/* of the entry, for messages */
};

struct conf {
	char			*path;
	char			*dir;		/* folder of the config file */
	char			*socket;	/* absolute */
	char			*database;	/* absolute */
	char			**rules;	/* absolute, globs expanded */
	size_t			 nrules;
	char			**tests;	/* rule unit tests, likewise */
	size_t			 ntests;
	int			 clock;
	char			*timezone;
	int			 durability;
	long long		 max_line_bytes;
	long long		 max_output_bytes;
	long long		 max_clients;
	long long		 max_clients_per_uid;
	long long		 entity_cache;
	long long		 idle_timeout;	/* seconds, 0: none */
	long long		 retention_events; /* days, 0: keep forever */
	struct access_rule	*access;
	size_t			 naccess;
	char			*metrics_textfile;	/* absolute, or NULL */
	long long		 metrics_interval;	/* seconds */
	struct output_conf	*outputs;
	size_t			 noutputs;
};

struct conf	*conf_load(const char *, struct errs *);
void		 conf_free(struct conf *);
void		 conf_resolve_access(struct conf *, int);
unsigned	 conf_roles(const struct conf *, uid_t, gid_t);

#endif
