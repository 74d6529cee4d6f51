/*
 * zhilid internal header: the types shared between modules and the
 * prototypes of each file, grouped under its name (tmux tmux.h).
 */
#ifndef ZHILID_H
#define ZHILID_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define ZHILID_VERSION	"0.1.0"

#define DEC_ONE		1000000LL	/* decimals are millionths */

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

#define PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))
#define NORETURN __attribute__((noreturn))

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) PRINTFLIKE(1, 2);
char	*xvasprintf(const char *, va_list);

/* log.c */
void	log_init(int, int);
void	log_warn(const char *, ...) PRINTFLIKE(1, 2);
void	log_warnx(const char *, ...) PRINTFLIKE(1, 2);
void	log_notice(const char *, ...) PRINTFLIKE(1, 2);
void	log_info(const char *, ...) PRINTFLIKE(1, 2);
void	log_debug(const char *, ...) PRINTFLIKE(1, 2);
void	fatal(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
void	fatalx(const char *, ...) PRINTFLIKE(1, 2) NORETURN;

/* buf.c */
struct buf {
	char	*p;
	size_t	 off;		/* consumed bytes at the front */
	size_t	 len;
	size_t	 cap;
};
#define BUF_DATA(b)	((b)->p + (b)->off)
#define BUF_LEN(b)	((b)->len - (b)->off)
struct errs {
	char	**v;		/* "FILE:LINE:COL: error: MESSAGE" */
	size_t	  n;
};
void	 buf_reserve(struct buf *, size_t);
void	 buf_adds(struct buf *, const char *);
void	 buf_addf(struct buf *, const char *, ...) PRINTFLIKE(2, 3);
void	 buf_add_json_str(struct buf *, const char *, size_t);
void	 buf_add_json_cstr(struct buf *, const char *);
void	 buf_add_int(struct buf *, int64_t);
void	 buf_drop(struct buf *, size_t);
void	 buf_reset(struct buf *);
void	 buf_free(struct buf *);
char	*buf_steal(struct buf *);
/*
 * Appending is most of what the loop thread does to answer an event (a
 * hundred appends each); with room to spare it is a copy, inline.
 */
static inline void
buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n >= b->cap)
		buf_reserve(b, n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void
buf_addc(struct buf *b, char c)
{
	if (b->len + 1 >= b->cap)
		buf_reserve(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void	 errs_add(struct errs *, const char *, int, int, const char *, ...)
	    PRINTFLIKE(5, 6);
void	 errs_free(struct errs *);
const char *did_you_mean(const char *, const char *const *, size_t);

/* utf8.c */
#define CLIP_BYTES	64	/* of a client's string quoted in a message */
size_t	 utf8_prefix(const char *, size_t);
size_t	 utf8_valid(const char *, size_t);
int	 utf8_snprintf(char *, size_t, const char *, ...) PRINTFLIKE(3, 4);
/*
 * A client's string s quoted in a message as "'%.*s%s'", CLIP(s): at most
 * CLIP_BYTES of it, cut at a character boundary, then "..." if that is not
 * all of it.  s is evaluated more than once.
 */
#define CLIP(s)	(int)utf8_prefix((s), CLIP_BYTES), (s),			\
	((s)[utf8_prefix((s), CLIP_BYTES)] != '\0' ? "..." : "")

/* ydoc.c */
enum ynode_type { YN_SCALAR, YN_MAP, YN_SEQ };
struct ynode {
	enum ynode_type	  type;
	int		  line, col;	/* 1-based */
	char		 *str;		/* scalar text */
	size_t		  len;
	int		  style;	/* libyaml scalar style */
	int		  plain;	/* unquoted scalar */
	int		  checked;
	struct ynode	**items;	/* seq: n items; map: 2n key, value */
	size_t		  n;
};
struct ydoc {
	char		 *file;
	struct ynode	 *root;
	struct ynode	**nodes;
	size_t		  nnodes;
};
struct ydoc	*ydoc_load(const char *, struct errs *);
void		 ydoc_free(struct ydoc *);
struct ynode	*ynode_get(const struct ynode *, const char *);
const char	*ynode_type_name(const struct ynode *);
int		 ynode_check_keys(const struct ynode *, const char *,
		    const char *const *, size_t, const char *, struct errs *);
int		 ynode_bool(const struct ynode *, int *);
int		 ynode_int(const struct ynode *, long long, long long,
		    long long *);

/* expr.c */
enum vtype { VT_INT, VT_DEC, VT_BOOL, VT_STR };
#define VT_ANY	((enum vtype)-1)	/* expr_compile: a value of any type */
union val {
	int64_t		 i;	/* int, decimal (millionths), bool */
	const char	*s;
};
struct expr_scope {
	/* name -> type and slot; 0 or -1 if unknown */
	int		 (*resolve)(void *, const char *, enum vtype *, int *);
	void		  *arg;
	const char *const *names;	/* for "did you mean" */
	size_t		   nnames;
};
struct expr;
struct expr	*expr_compile(const char *, const struct expr_scope *,
		    enum vtype, char **, size_t *);
void		 expr_free(struct expr *);
union val	 expr_eval(const struct expr *, const union val *);
union val	 expr_explain(const struct expr *, const union val *,
		    const char *const *, struct buf *);
size_t		 expr_reads(const struct expr *, int *, size_t);
const char	*expr_src(const struct expr *);
void		 expr_value_json(struct buf *, enum vtype, union val);
enum vtype	 expr_type(const struct expr *);
const char	*vtype_name(enum vtype);
int		 dec_parse(const char *, size_t, int64_t *);
void		 dec_format(int64_t, char *, size_t);

/* bloom.c */
#define BLOOM_SEED	0xcbf29ce484222325ULL
struct bloom {
	uint64_t	*bits;
	size_t		 nbits;
	size_t		 keys;
	size_t		 max_bytes;
};
void		 bloom_init(struct bloom *, size_t, size_t);
void		 bloom_free(struct bloom *);
void		 bloom_add(struct bloom *, uint64_t);
int		 bloom_may(const struct bloom *, uint64_t);
int		 bloom_crowded(const struct bloom *);
uint64_t	 bloom_hash(uint64_t, const char *);

/* evlog.c */
#define EVLOG_SHAPES_MAX	1024	/* templates kept in memory */
#define EVLOG_SHAPE_MAX_BYTES	2048	/* longer ones: the line is kept whole */
struct shape {
	uint64_t	 hash;		/* 0: a free slot */
	int64_t		 id;
	char		*tmpl;
	size_t		 len;
};
struct shapes {
	struct shape	*v;
	struct shape	*last;		/* the last one found */
	size_t		 n;
	int64_t		 next;		/* the id of the next new one */
};
int		 evlog_encode(const char *, size_t, int, struct buf *,
		    struct buf *);
int		 evlog_match(const char *, size_t, const char *, size_t,
		    struct buf *);
void		 evlog_decode(struct buf *, const char *, const char *, size_t,
		    const char *, int64_t, int);
void		 shapes_init(struct shapes *);
void		 shapes_free(struct shapes *);
int64_t		 shapes_find(struct shapes *, const char *, size_t);
int		 shapes_add(struct shapes *, int64_t, const char *, size_t);
void		 shapes_stored(struct shapes *, int64_t, const char *, size_t);
void		 shapes_drop(struct shapes *, int64_t);

/* alert.c */
/*
 * An alert's acknowledgement: the peer's uid and the daemon's clock then;
 * -1 for either when unknown (acked before schema 006 recorded them).
 */
struct alert_ack {
	int64_t		 by, ts;
};
void		 alert_json(struct buf *, int64_t, const char *, const char *,
		    const char *, const char *, const char *, int64_t,
		    const char *, size_t, const char *, const char *,
		    const struct alert_ack *, int64_t);

/* intern.c */
const char	*intern_get(const char *);
void		 intern_put(const char *);
const char	*intern_ref(const char *);
const char	*intern_find(const char *);

/* period.c */
enum period_kind { PERIOD_HALF, PERIOD_QUARTER, PERIOD_MONTH };
struct period {
	enum period_kind kind;
	int		 year;
	int		 n;	/* 1..2, 1..4 or 1..12 */
};
int		 period_parse(const char *, struct period *);
void		 period_format(const struct period *, char *, size_t);
const char	*period_kind_example(int);
long		 period_index(const struct period *);
struct period	 period_step(const struct period *, int);
int		 period_cmp(const struct period *, const struct period *);
struct period	 period_of(enum period_kind, int64_t);
int64_t		 period_start(const struct period *);
int64_t		 period_end(const struct period *);
int32_t		 period_code(const struct period *);
struct period	 period_decode(int32_t);
int32_t		 period_code_step(int32_t, int);
void		 period_code_format(int32_t, char *, size_t);
long		 period_code_index(int32_t);
int64_t		 period_code_start(int32_t);
int64_t		 period_code_end(int32_t);

/* ruletest.c */
#include <stdio.h>
struct coverage;
int		 ruletest_file(const char *, FILE *, FILE *, struct errs *,
		    int *, int *, struct coverage *);
int		 ruletest_all(char *const *, size_t, struct errs *, int *,
		    struct coverage *);

/* clock.c */
#define TS_MAX	253402300799LL		/* 9999-12-31T23:59:59Z */
int		 clock_set_zone(const char *);
int64_t		 clock_wall(void);
int		 clock_parse(const char *, int64_t *);
void		 clock_format(int64_t, char *, size_t);
int64_t		 clock_next_midnight(int64_t);
int		 duration_parse(const char *, int64_t *);

#endif /* ZHILID_H */
