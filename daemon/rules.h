/* rules.c, template.c, prim-*.c: rule files compiled into a ruleset. */
#ifndef RULES_H
#define RULES_H

#include "zhilid.h"

enum severity { SEV_INFO, SEV_WARNING, SEV_CRITICAL };

struct attr {
	char		*name;
	enum vtype	 type;
};

struct rule;

/*
 * An entity kind (household, ...) and the typed attributes its events may
 * set.  Expression slots: attrs first, then fields (strings).
 */
struct kind {
	char		 *name;
	struct attr	 *attrs;
	size_t		  nattrs;
	char		**fields;
	size_t		  nfields;
	const char	**names;	/* attrs then fields, for suggestions */
	struct rule	**rules;	/* run when an entity of the kind changes */
	size_t		  nrules;
	size_t		  nclass;	/* class slots of classify rules */
};

enum ev_action { EV_UPSERT, EV_REMOVE };

struct evtype {
	char		*name;
	struct kind	*kind;
	enum ev_action	 action;
};

/* template.c */
enum tseg_kind {
	TS_TEXT, TS_ID, TS_FIELD, TS_ATTR, TS_FROM, TS_TO, TS_FROM_LABEL,
	TS_TO_LABEL, TS_RULE, TS_EVENT
};
struct tseg {
	enum tseg_kind	 kind;
	char		*text;
	int		 idx;
};
struct tmpl {
	struct tseg	*segs;
	size_t		 n;
};
struct tmpl	*tmpl_compile(const struct ynode *, const char *,
		    const struct kind *, struct errs *);
void		 tmpl_free(struct tmpl *);

struct change;
struct rule_load {
	const char	*file;
	struct kind	*kind;
	struct errs	*errs;
};

/* A rule primitive: one row of prim_table[] (Suricata sigmatch_table[]). */
struct prim {
	const char	*name;
	int		 (*setup)(struct rule *, const struct ynode *,
			    const struct ynode *, struct rule_load *);
	void		 (*eval)(const struct rule *, struct change *);
	void		 (*free)(void *);
};

struct rule {
	char		*name;
	char		*file;
	int		 line, col;
	struct kind	*kind;
	const struct prim *prim;
	void		*data;
	char		*alert;		/* alert rule name */
	struct tmpl	*message;
};

struct ruleset {
	struct kind	**kinds;
	size_t		  nkinds;
	struct evtype	 *evtypes;
	size_t		  nevtypes;
	struct rule	**rules;
	size_t		  nrules;
	char		**files;
	size_t		  nfiles;
	char		  digest[17];	/* of all files' contents */
};

struct ruleset		*ruleset_load(char *const *, size_t, struct errs *);
void			 ruleset_free(struct ruleset *);
const struct evtype	*ruleset_evtype(const struct ruleset *, const char *);
struct kind		*ruleset_kind(const struct ruleset *, const char *);
const char		*severity_name(int);
int			 rules_resolve(void *, const char *, enum vtype *,
			    int *);
void			 rules_compile_error(struct errs *, const char *,
			    const struct ynode *, size_t, const char *);

/* prim-classify.c */
struct klass {
	char		*name;
	char		*label;
	int		 severity;
	struct expr	*when;		/* NULL: otherwise */
};
struct classify {
	struct klass	*classes;
	size_t		 n;
	size_t		 dflt;		/* class of an entity that matches none */
	size_t		 slot;
};
extern const struct prim prim_classify;
const struct klass *classify_class(const struct rule *, size_t);
size_t		 classify_find(const struct rule *, const char *);

#endif
