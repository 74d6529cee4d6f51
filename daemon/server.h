/* server.c, client.c, cmd.c, notify.c: the socket side of the daemon. */
#ifndef SERVER_H
#define SERVER_H

#include <ev.h>

#include "zhilid.h"
#include "conf.h"
#include "engine.h"
#include "metrics.h"
#include "output.h"

struct client {
	ev_io		 r, w;
	ev_timer	 idle;
	struct server	*srv;
	int		 fd;
	uid_t		 uid;
	gid_t		 gid;
	unsigned	 roles;
	char		*in;		/* unparsed input */
	size_t		 inlen, incap;
	int		 skipping;	/* discarding an oversize line */
	int		 paused;	/* not reading: output queue full */
	int		 eof;		/* peer shut down its side */
	int		 closing;	/* close once the output drains */
	int		 subscriber;
	int		 doomed;	/* dropped; freed by server_sweep */
	unsigned	 npending;	/* events awaiting commit */
	struct buf	 out;
	struct client	*next, *prev;
};

struct server {
	struct ev_loop	*loop;
	struct conf	*conf;
	char		*conf_path;
	struct ruleset	*rs;
	struct engine	*eng;
	struct store	*store;
	int		 lfd;
	int		 own_socket;	/* created (not inherited) the socket */
	int		 reserve_fd;
	ev_io		 lw;
	ev_signal	 sigterm, sigint, sighup;
	ev_prepare	 commit;
	ev_async	 async;		/* the writer finished a batch */
	ev_timer	 watchdog, drain;
	ev_timer	 due;		/* the next rule timer (wall clock) */
	ev_timer	 retain;	/* moves retention's cutoff on */
	ev_tstamp	 drain_deadline;
	struct client	 clients;	/* sentinel */
	unsigned	 nclients;
	struct request	 req;
	int		 stopping;
	int64_t		 started;
	uint64_t	 n_lines, n_errors, n_reloads, n_dropped;
	struct buf	 diff;		/* of the last reload: JSON keys */
	struct metrics	 metrics;
	struct outputs	 outputs;	/* output.c */
	/* active/standby: the store's term served; 0 a standby */
	uint64_t	 term;
	ev_timer	 role;
};

/* server.c */
int	 server_init(struct server *, struct ev_loop *, struct conf *,
	    const char *, struct ruleset *, struct engine *, struct store *);
void	 server_free(struct server *);
void	 server_sync(struct server *);
void	 server_stop(struct server *);
int	 server_reload(struct server *, struct buf *);
void	 server_pend(struct server *, struct client *,
	    const struct ev_result *, int);
void	 server_sweep(struct server *);
const char	*server_standby(const struct server *);

/* client.c */
void	 client_new(struct server *, int, uid_t, gid_t);
void	 client_free(struct client *);
void	 client_kick(struct client *);
void	 client_error(struct client *, enum errcode, const char *);
void	 client_shutdown(struct client *);
void	 client_drop(struct client *, const char *);

/* cmd.c, cmd-map.c */
void	 cmd_dispatch(struct client *, const struct request *);
void	 cmd_map(struct client *, const cJSON *);
/* cmd.c, cmd-silence.c */
void	 cmd_bad(struct client *, const char *, const char *, const char *);
void	 cmd_mark(struct client *, const cJSON *, const char *, const char *,
	    int (*)(struct engine *, int64_t, int64_t));
int	 cmd_bool_arg(const cJSON *, const char *);
void	 cmd_silence(struct client *, const cJSON *);
void	 cmd_silences(struct client *, const cJSON *);
void	 cmd_unsilence(struct client *, const cJSON *);

/* notify.c */
void	 notify_send(const char *, ...) PRINTFLIKE(1, 2);
uint64_t notify_watchdog_usec(void);
int	 notify_listen_fd(void);

#endif
