/*
 * ctl.h: zhilictl's internal header, shared by zhilictl.c and its
 * ctl-*.c files. zhilictl uses no daemon header: it knows the daemon only
 * through the socket protocol (zhilid(8)), except `zhilictl
 * test` (ctl-test.c) and `zhilictl backtest` (ctl-backtest.c), which run
 * the engine in process.
 */

#ifndef ZHILID_CTL_H
#define ZHILID_CTL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* Exit status, the contract scripts rely on (also in --help). */
#define EXIT_DAEMON	1	/* the daemon answered an error */
#define EXIT_USAGE	2	/* bad arguments, unreadable config or input */
#define EXIT_CONN	3	/* cannot connect, connection lost, protocol */

#define CTL_READ_CHUNK	65536

struct ctl_opt {
	const char	*conf;		/* -c */
	const char	*socket;	/* --socket */
	int		 json;		/* --json */
	char		*path;		/* the socket path in use */
};

/* A byte buffer: valid bytes are data[off..len). */
struct ctl_buf {
	char	*data;
	size_t	 off, len, cap;
	size_t	 scan;		/* bytes past off known to hold no newline */
};

struct ctl_conn {
	int		 fd;
	struct ctl_buf	 in;
	size_t		 pending;	/* bytes of the line last returned */
};

/* ctl-conn.c */
extern struct ctl_opt ctl_opt;
extern volatile sig_atomic_t ctl_interrupted;
void	 ctl_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 ctl_die(int, const char *, ...)
	     __attribute__((noreturn, format(printf, 2, 3)));
void	*ctl_xrealloc(void *, size_t);
char	*ctl_xstrdup(const char *);
void	 ctl_buf_reserve(struct ctl_buf *, size_t);
void	 ctl_buf_append(struct ctl_buf *, const void *, size_t);
size_t	 ctl_buf_used(const struct ctl_buf *);
void	 ctl_buf_consume(struct ctl_buf *, size_t);
char	*ctl_buf_line(struct ctl_buf *, size_t *, size_t *);
struct ctl_conn *ctl_conn_open(void);
void	 ctl_conn_close(struct ctl_conn *);
int	 ctl_conn_fill(struct ctl_conn *);
char	*ctl_conn_line(struct ctl_conn *, size_t *);
cJSON	*ctl_conn_request(struct ctl_conn *, cJSON *, int);
cJSON	*ctl_parse_object(const char *);
cJSON	*ctl_new_cmd(const char *);
const char *ctl_str_item(const cJSON *, const char *);
int	 ctl_check_ok(const cJSON *);
void	 ctl_put_value(const cJSON *, FILE *);
void	 ctl_flush(void);

/* zhilictl.c: argument parsing for the commands in ctl-*.c */
void	 ctl_usage_error(const char *, const char *)
	     __attribute__((noreturn));
const char *ctl_opt_value(int, char **, int *, const char *);
int	 ctl_simple_request(cJSON *, cJSON **);

/* ctl-db.c: for the commands that read the database (backtest, export) */
#define CTL_ALERT_COLUMNS "id, rule, severity, kind, entity, period, ts, " \
	"seq, message, data, event"
#define CTL_ALERT_STATE "acked, acked_by, acked_ts, silenced"
struct buf;
struct sqlite3_stmt;
/* A row read from either store: text columns, NULL for SQL NULL. */
#define CTL_ROW_MAX	16
struct ctl_row {
	const char	*v[CTL_ROW_MAX];
	size_t		 len[CTL_ROW_MAX];
};
char	*ctl_db_path(const char *, const char *);
int	 ctl_db_is_pg(const char *, const char *);
int	 ctl_parse_ts(const char *, const char *, const char *, int64_t *);
void	 ctl_row_sqlite(struct ctl_row *, struct sqlite3_stmt *);
void	 ctl_alert_json(struct buf *, const struct ctl_row *, int);

/* ctl-export.c */
int	 ctl_export(int, char **);

/* ctl-map.c */
int	 ctl_map(int, char **);

/* ctl-push.c */
int	 ctl_push(const char *, int);

/* ctl-silence.c */
int	 ctl_silence(int, char **);
int	 ctl_silences(int, char **);
int	 ctl_unsilence(int, char **);

/* ctl-explain.c */
int	 ctl_explain(int, char **);

/* ctl-test.c */
int	 ctl_test(int, char **);

/* ctl-backtest.c */
int	 ctl_backtest(int, char **);

#endif
