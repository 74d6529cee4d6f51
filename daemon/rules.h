/* rules.c, template.c, prim-*.c: rule files compiled into a ruleset. */
#ifndef RULES_H
#define RULES_H

#include "zhilid.h"

enum severity { SEV_INFO, SEV_WARNING, SEV_CRITICAL };

struct attr {
	char		*name;
	enum vtype	 type;
	int		 derived;	/* kept by a rule in memory, not stored */
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
	size_t		  nclass;	/* class slots in its entities' records */
	uint16_t	 *cls_new;	/* each slot's class in a new entity */
	int		  removable;	/* an event type removes entities */
	int		  keep_was;	/* a rule reads records as they were */
	int		  grouped;	/* a classify rule maps it: the store
					   indexes its first field (grp) */
};

/*
 * An event type.  The short form (household.upsert: upsert) takes the
 * kind's fields and an attrs object; the long form declares typed fields,
 * checked by the decoder, whose values primitives read by index.
 */
enum ev_action { EV_UPSERT, EV_REMOVE, EV_UPDATE, EV_ALONE };
enum ftype { FT_STRING, FT_INT, FT_DEC, FT_BOOL, FT_PERIOD };
#define PK_ANY		(-1)
#define EV_FIELDS_MAX	32
struct evfield {
	char		*name;
	enum ftype	 type;
	int		 pkind;		/* FT_PERIOD: a period_kind or PK_ANY */
	int64_t		 min, max;	/* FT_INT, FT_DEC (millionths) */
	int		 has_min, has_max;
	char		**values;	/* FT_STRING: the allowed values */
	size_t		 nvalues;
	int		 enumerated;	/* only those values are allowed */
	int		 optional;
	int		 kslot;		/* the kind's field it sets, or -1 */
	int		 aslot;		/* the kind's attribute it sets, or -1 */
};
struct evtype {
	char		*name;
	struct kind	*kind;		/* NULL: no entity (period.close) */
	enum ev_action	 action;
	int		 typed;		/* the long form */
	struct evfield	*fields;
	size_t		 nfields;
	struct rule	**rules;	/* that run on it, in load order */
	size_t		 nrules;
	size_t		 idx;		/* in ruleset.evtypes (metrics) */
};
#define PERIOD_CLOSE	"period.close"
int		 evtype_field(const struct evtype *, const char *);

/* template.c */
enum tseg_kind {
	TS_TEXT, TS_ID, TS_KINDID, TS_FIELD, TS_ATTR, TS_EVFIELD, TS_VAR,
	TS_RULE, TS_EVENT, TS_PERIOD, TS_TS
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
struct rule;
struct tmpl	*tmpl_compile(const struct ynode *, const char *,
		    const struct rule *, const char *const *, struct errs *);
void		 tmpl_free(struct tmpl *);

struct change;
struct cJSON;
struct engine;
struct entity;
struct timer;
struct fact;
struct mark;
struct ruleset;
struct rule_load {
	const char	*file;
	struct kind	*kind;
	struct errs	*errs;
	struct ruleset	*rs;
};

/*
 * What a rule hands to the rules that follow it (rank to streak, score to
 * band): the entity, its period and group, and a value.
 */
struct outcome {
	const char	*kind, *entity;
	const char	*grp;
	int32_t		 period;
	int64_t		 value;		/* millionths */
	int64_t		 ts;
};

/*
 * A rule primitive: one row of prim_table[] (Suricata sigmatch_table[]).
 * The engine asks it through these hooks and never names it, so that a
 * new primitive is a file and a row; every hook but setup and free may be
 * NULL.  setup compiles the YAML; check may refuse an event before
 * anything is applied (conflict, bad_event); eval applies it; follow takes
 * another rule's outcome; fire runs one of the rule's timers.  vars names
 * the template placeholders the primitive fills, NULL-terminated.
 *
 * What a rule keeps of an entity, for `get` and the store: restore sets
 * its state in the entity's record (a class slot, see rules_class_slot)
 * from the JSON value stored under the rule's name in "classes", and
 * state_json writes that value back; fact_json writes the keys of one of
 * its facts that follow "group" (NULL: the fact's value as an integer,
 * "value"); parts names the parts of its facts, which are stored by name
 * so that a reload may reorder them; due says when the entity's pending
 * deadline under the rule falls, or -1 if it has none.
 */
struct prim {
	const char	*name;
	const char	*alert_suffix;	/* the default alert: rule name + it */
	int		 (*setup)(struct rule *, const struct ynode *,
			    const struct ynode *, struct rule_load *);
	int		 (*check)(const struct rule *, struct change *, char *,
			    size_t);
	void		 (*eval)(const struct rule *, struct change *);
	void		 (*follow)(const struct rule *, struct change *,
			    const struct outcome *);
	void		 (*fire)(const struct rule *, struct engine *,
			    const struct timer *);
	void		 (*restore)(const struct rule *, struct entity *,
			    const struct cJSON *);
	void		 (*state_json)(const struct rule *,
			    const struct entity *, struct buf *);
	void		 (*fact_json)(const struct rule *, const struct fact *,
			    struct buf *);
	const char *const *(*parts)(const struct rule *, size_t *);
	int64_t		 (*due)(const struct rule *, struct engine *,
			    const struct entity *);
	void		 (*free)(void *);
	const char *const *vars;
	/*
	 * Hooks of the primitives that keep aggregates over other kinds'
	 * entities (count).  link resolves what may be defined in a later
	 * file, once every rule is compiled; settle runs after every rule's
	 * eval, when the entity's record and classes are final, with
	 * change.was holding them as they were before the event.
	 *
	 * What such a rule keeps is an index of the committed state, held
	 * in memory only: load builds it at start, after a failed commit and
	 * at a reload, from the store (prev: the rule of the same name in the
	 * rules before a reload, whose index it may take over; NULL else),
	 * -1 if the store cannot be read; view puts it into the derived
	 * attributes of an entity of the rule's kind as it enters the cache.
	 */
	int		 (*link)(struct rule *, struct rule_load *);
	void		 (*settle)(const struct rule *, struct change *);
	int		 (*load)(struct rule *, struct engine *, struct rule *);
	void		 (*view)(const struct rule *, struct entity *);
	int		 takes_data;	/* reads the rule's `data` key */
	/*
	 * Chained timers: told of every mark put on or ended for any
	 * entity (ended: its end has come, before it is forgotten), so
	 * that a rule may open a deadline when a mark ends.
	 */
	void		 (*mark)(const struct rule *, struct engine *,
			    const struct mark *, int);
	/*
	 * Coverage (coverage.c): outcome writes the name of the rule's
	 * outcome i (a class, a band, met, missed) and returns 1, returns 0
	 * for an index the rule does not use (a band without upgrade), -1
	 * past the last; the other hooks say which they reach with
	 * ENGINE_REACH.
	 */
	int		 (*outcome)(const struct rule *, size_t, struct buf *);
	/*
	 * explain: why the entity stands where it does under the rule, as
	 * JSON members (",\"key\":...") of the rule's object in the answer
	 * to `explain`: what the rule keeps for the entity and how it came
	 * to be, evaluated again by the rule's own compiled expressions
	 * (expr_explain), never by a second interpreter.  NULL: the engine
	 * writes what state_json writes, if anything.
	 */
	void		 (*explain)(const struct rule *, struct engine *,
			    const struct entity *, struct buf *);
};
/* rules.c, for explain hooks: "FILE:LINE" of a line of the rule's file */
void		 rules_at(const struct rule *, int, struct buf *);

/* An alert a rule raises: its name, severity and message template. */
struct alert_def {
	char		*name;
	int		 severity;
	struct tmpl	*message;
	size_t		 aidx;		/* in ruleset.alerts (metrics) */
};

struct rule {
	char		*name;
	char		*file;
	int		 line, col;
	struct kind	*kind;
	const struct prim *prim;
	void		*data;
	char		*alert;		/* alert rule name */
	int		 severity;
	struct tmpl	*message;
	struct rule	**follow;	/* rules fed by this one's outcomes */
	size_t		 nfollow;
	struct evtype	**on;		/* event types it runs on */
	size_t		 non;
	uint64_t	 digest;	/* of its definition and declarations */
	const char *const *vars;	/* set by setup: names of its own */
	size_t		 aidx;		/* of alert, in ruleset.alerts */
};

/* A mark a rule puts, or one that a rule waits for (only while loading). */
struct mark_use {
	char		*kind, *name;
	const char	*file;		/* rs->files[i] */
	int		 line, col;
};

struct ruleset {
	struct kind	**kinds;
	size_t		  nkinds;
	struct evtype	**evtypes;
	size_t		  nevtypes;
	struct rule	**rules;
	size_t		  nrules;
	char		**files;
	char		**descs;	/* each file's description, or NULL */
	size_t		  nfiles;
	char		  digest[17];	/* of all files' contents */
	struct mark_use	 *mputs, *mneeds;	/* checked, then freed */
	size_t		  nmputs, nmneeds;
	/*
	 * Every alert name a rule or an alert definition may raise, one
	 * per definition, by aidx: metrics map them to counters by name
	 * once per load, so that raising one costs no string lookup.
	 */
	char		**alerts;
	size_t		  nalerts;
};
#define AIDX_NONE	((size_t)-1)	/* an alert_def without a name */

struct ruleset		*ruleset_load(char *const *, size_t, struct errs *);
void			 ruleset_free(struct ruleset *);
void			 ruleset_diff(const struct ruleset *,
			    const struct ruleset *, struct buf *);
const struct evtype	*ruleset_evtype(const struct ruleset *, const char *);
size_t			 ruleset_alert_index(struct ruleset *, const char *);
struct kind		*ruleset_kind(const struct ruleset *, const char *);
struct rule		*ruleset_rule(const struct ruleset *, const char *);
const char		*ruleset_desc(const struct ruleset *,
			    const struct rule *);
struct evtype		*rules_on(struct rule *, const struct ynode *,
			    struct rule_load *);
void			 rules_mark_put(struct rule_load *, const char *,
			    const char *);
void			 rules_mark_need(struct rule_load *, const char *,
			    const char *, const struct ynode *);
int			 rules_field(const struct evtype *, const struct ynode *,
			    const char *, int, struct rule_load *);
int			 rules_alert_def(struct alert_def *,
			    const struct ynode *, const char *, const struct rule *,
			    int, struct rule_load *);
void			 alert_def_free(struct alert_def *);
int			 rules_severity(const struct ynode *, int *,
			    struct rule_load *);
int			 rules_decimal(const struct ynode *, int64_t *,
			    const char *, struct rule_load *);
void			 rules_follow(struct rule *, struct rule *);
int			 rules_kind_field(const struct ynode *, const char *,
			    struct rule_load *);
size_t			 rules_class_slot(struct kind *, size_t);
struct rule		*rules_ref(const struct ynode *, const char *,
			    const struct prim *, struct rule_load *);
const char		*severity_name(int);
int			 rules_resolve(void *, const char *, enum vtype *,
			    int *);
void			 rules_compile_error(struct errs *, const char *,
			    const struct ynode *, size_t, const char *);

/*
 * A rule's `data` map: names of alert data members and the expressions
 * over the entity's record that compute them.
 */
struct rdata {
	char		**names;
	struct expr	**exprs;
	size_t		  n;
};
int		 rules_data(struct rdata *, const struct ynode *,
		    const struct expr_scope *, const char *const *,
		    struct rule_load *);
void		 rules_data_json(const struct rdata *, const union val *,
		    struct buf *);
void		 rules_data_free(struct rdata *);

/* prim-classify.c */
struct klass {
	char		*name;
	char		*label;
	char		*color;		/* "#rrggbb" for the map, or NULL */
	int		 severity;
	struct expr	*when;		/* NULL: otherwise */
	int		 line;		/* of `when`, for explain */
};
extern const struct prim prim_classify;
extern const struct prim prim_score, prim_rank, prim_streak, prim_band,
    prim_deadline;
/* prim-classify.c, for the rules that read a class */
const struct klass *classify_classes(const struct rule *, size_t *,
		    size_t *);
/* prim-count.c */
extern const struct prim prim_count;
/* prim-review.c */
extern const struct prim prim_review;
void		 count_groups(const struct rule *, size_t, void (*)(void *,
		    const char *, const char *), void *);
const struct rule *count_find(const struct ruleset *, const struct kind *,
		    size_t, const struct rule *);
void		 count_each(const struct rule *, void (*)(void *,
		    const char *, const int64_t *), void *);
extern const struct prim prim_cadence;
/* prim-band.c, for the rules that read a level */
const char	*band_level_name(const struct rule *, int64_t);

/* prim-score.c, for the rules that read a score */
int		 score_total(const struct rule *, const struct fact *,
		    int64_t *);
const char	*score_group(const struct rule *);
int		 score_period_kind(const struct rule *);
const char *const *score_parts(const struct rule *, size_t *);
void		 score_check_cycle(struct rule *, const char *);
/* prim-rank.c, for streak */
const char	*rank_cycle(const struct rule *);

#endif
