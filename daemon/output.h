/*
 * output.c, output-file.c, output-exec.c, output-journal.c: the sinks of
 * zhilid.conf's outputs: key, each fed by a thread of its own from the
 * committed alerts.
 */
#ifndef OUTPUT_H
#define OUTPUT_H

#include <poll.h>
#include <pthread.h>

#include <ev.h>

#include "zhilid.h"
#include "conf.h"
#include "store.h"

struct output;
struct batch;

#define SINK_FDS	3	/* descriptors a sink polls at most */

/*
 * A kind of output: how it writes its records and learns what the far
 * side took.  Every hook runs on the output's thread.
 */
struct sink {
	const char	*type;
	double		 backoff_max;	/* seconds between tries, at most */
	/* append one alert's record to b */
	void		 (*format)(struct buf *, const struct store_alert *);
	/* 0: ready to write; -1: not now (o->err says why) */
	int		 (*open)(struct output *);
	/* write from o->sent: 0 wrote, 1 would block, -1 failed */
	int		 (*write)(struct output *);
	/* bytes written but not yet taken by the far side, or NULL: none */
	uint64_t	 (*unread)(struct output *);
	/* descriptors to poll, or NULL; after poll, 0 or -1: failed */
	int		 (*fds)(struct output *, struct pollfd *);
	int		 (*events)(struct output *, const struct pollfd *, int);
	/* make what was written durable before its position is stored */
	int		 (*sync)(struct output *);
	/* close; stopping: the daemon is stopping */
	void		 (*close)(struct output *, int);
};
extern const struct sink sink_file, sink_exec, sink_journal;

/* A record written to the sink and not yet delivered. */
struct out_line {
	int64_t		 id;
	uint64_t	 end;		/* stream offset after its record */
};

struct output {
	const struct output_conf *conf;
	const struct sink *sink;
	struct outputs	*outs;
	const char	*name;
	pthread_t	 thread;
	int		 started;
	struct store_reader *reader;	/* the thread's connection */
	int		 wakefd;	/* an eventfd: commits, stop, reopen */
	/* shared (atomics) */
	int64_t		 backlog;	/* committed, unsilenced, undelivered */
	int64_t		 published;	/* position for the store */
	int		 stop, reopen, sleeping;
	/* the loop thread's */
	int64_t		 stored;	/* position written to the store */
	/* the output thread's */
	int64_t		 cursor;	/* the last alert read */
	int64_t		 pos;		/* every alert up to it delivered */
	struct buf	 out;		/* records read, not all written */
	uint64_t	 base;		/* stream offset of out's start */
	uint64_t	 sent;		/* stream offset written to */
	struct out_line	*lines;		/* written or not, undelivered */
	int		 fetched;	/* by the last read */
	size_t		 head, nlines, cap;
	int		 ready;		/* the sink is open */
	double		 retry_at, backoff;
	double		 fetch_at;	/* after a failed read */
	double		 caught_up;	/* last moment nothing was left */
	double		 last_publish, last_lag_log, last_err_log;
	char		 err[256];	/* why the last try failed */
	char		 last_err[256];	/* ... as last logged */
	/* the sink's */
	int		 fd;		/* file, or the program's stdin */
	int		 errfd;		/* the program's stderr */
	int		 pidfd;
	pid_t		 pid;
	double		 spawned;
	struct buf	 errline;	/* a stderr line being read */
};

struct outputs {
	struct output	*v;
	size_t		 n;
	int64_t		 committed;	/* the last alert committed (atomic) */
	ev_async	 async;		/* an output has a new position */
	struct ev_loop	*loop;
	int		 sync;		/* durability full */
};

struct server;
/* output.c */
int	 outputs_start(struct server *);
void	 outputs_stop(struct server *);
void	 outputs_committed(struct outputs *, const struct batch *);
void	 outputs_reopen(struct outputs *);
int64_t	 output_lag(const struct output *);
double	 output_now(void);
void	 output_error(struct output *, const char *, ...) PRINTFLIKE(2, 3);
void	 output_format_json(struct buf *, const struct store_alert *);
int	 output_write_fd(struct output *);

#endif
