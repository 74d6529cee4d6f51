/*
 * The exec output: a long-running program fed ALERT JSON lines on its
 * stdin, through a non-blocking pipe, its stderr logged line by line.
 * An alert counts as delivered once the program has read its whole line
 * from the pipe (what the pipe still holds, FIONREAD, is not), so that
 * when the program exits, the lines it had not read go to the next one:
 * restarted after a backoff, 1 s doubling to 60 s (back to 1 s after a
 * run of a minute).  Its exit is seen on a pidfd, which works whoever
 * reaps the child (libev's SIGCHLD handler reaps every child).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "output.h"

#define STDERR_LINE_MAX	1024	/* longer lines are logged in pieces */
#define STOP_WAIT_MS	2000	/* for the program to finish, then TERM */

extern char **environ;

static void
close_fd(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

static int
spawn(struct output *o, int in, int err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
	posix_spawnattr_init(&at);
	/* the daemon ignores SIGPIPE and blocks every signal here */
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	rc = posix_spawnp(&o->pid, o->conf->argv[0], &fa, &at,
	    o->conf->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

static int
exec_open(struct output *o)
{
	int in[2], err[2], rc;

	if (pipe2(in, O_CLOEXEC) == -1)
		goto fail;
	if (pipe2(err, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		goto fail;
	}
	rc = spawn(o, in[0], err[1]);
	close(in[0]);
	close(err[1]);
	o->fd = in[1];
	o->errfd = err[0];
	if (rc != 0) {
		close_fd(&o->fd);
		close_fd(&o->errfd);
		output_error(o, "cannot run %s: %s", o->conf->argv[0],
		    strerror(rc));
		o->pid = -1;
		return -1;
	}
	fcntl(o->fd, F_SETFL, O_NONBLOCK);
	fcntl(o->errfd, F_SETFL, O_NONBLOCK);
	if ((o->pidfd = pidfd_open(o->pid, 0)) == -1)
		log_warn("output %s: pidfd_open", o->name);
	o->spawned = output_now();
	log_info("output %s: started %s (pid %ld)", o->name, o->conf->argv[0],
	    (long)o->pid);
	return 0;
fail:
	output_error(o, "pipe: %s", strerror(errno));
	return -1;
}

static int
exec_write(struct output *o)
{
	int rc;

	if ((rc = output_write_fd(o)) >= 0)
		return rc;
	output_error(o, "%s: %s", o->conf->argv[0], errno == EPIPE ?
	    "closed its stdin" : strerror(errno));
	return -1;
}

static uint64_t
exec_unread(struct output *o)
{
	int n = 0;

	if (o->fd == -1 || ioctl(o->fd, FIONREAD, &n) == -1 || n < 0)
		return 0;
	return (uint64_t)n;
}

static int
exec_fds(struct output *o, struct pollfd *p)
{
	int n = 0;

	if (o->sent < o->base + o->out.len) {
		p[n].fd = o->fd;
		p[n++].events = POLLOUT;
	}
	if (o->errfd != -1) {
		p[n].fd = o->errfd;
		p[n++].events = POLLIN;
	}
	if (o->pidfd != -1) {
		p[n].fd = o->pidfd;
		p[n++].events = POLLIN;
	}
	return n;
}

/* Log what the program wrote to its stderr, line by line. */
static void
read_stderr(struct output *o)
{
	char b[4096], *nl;
	ssize_t n;
	size_t i, len;

	while ((n = read(o->errfd, b, sizeof b)) > 0) {
		for (i = 0; i < (size_t)n; i += len) {
			nl = memchr(b + i, '\n', (size_t)n - i);
			len = nl != NULL ? (size_t)(nl - (b + i)) + 1 :
			    (size_t)n - i;
			buf_add(&o->errline, b + i, nl != NULL ? len - 1 :
			    len);
			if (nl == NULL && BUF_LEN(&o->errline) <
			    STDERR_LINE_MAX)
				continue;
			log_notice("output %s: %s: %s", o->name,
			    o->conf->argv[0], BUF_DATA(&o->errline));
			buf_reset(&o->errline);
		}
	}
	if (n == 0) {
		if (BUF_LEN(&o->errline) > 0)
			log_notice("output %s: %s: %s", o->name,
			    o->conf->argv[0], BUF_DATA(&o->errline));
		buf_reset(&o->errline);
		close_fd(&o->errfd);
	}
}

static int
exec_events(struct output *o, const struct pollfd *p, int n)
{
	int i, gone = 0;

	for (i = 0; i < n; i++) {
		if (p[i].fd == o->errfd && p[i].revents != 0)
			read_stderr(o);
		if (p[i].fd == o->pidfd && p[i].revents != 0)
			gone = 1;
	}
	if (!gone)
		return 0;
	output_error(o, "%s exited", o->conf->argv[0]);
	return -1;
}

/* Wait up to ms for the program to exit; 0 if it did. */
static int
wait_exit(struct output *o, int ms)
{
	struct pollfd p = { .fd = o->pidfd, .events = POLLIN };

	if (o->pidfd == -1)
		return kill(o->pid, 0) == -1 ? 0 : -1;
	return poll(&p, 1, ms) == 1 ? 0 : -1;
}

/* How the program ended, if it is still ours to reap. */
static void
reap(struct output *o)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	if (o->pidfd == -1 || waitid(P_PIDFD, (id_t)o->pidfd, &si,
	    WEXITED) == -1 || si.si_pid == 0)
		log_info("output %s: %s (pid %ld) ended", o->name,
		    o->conf->argv[0], (long)o->pid);
	else if (si.si_code == CLD_EXITED)
		log_info("output %s: %s (pid %ld) exited with status %d",
		    o->name, o->conf->argv[0], (long)o->pid, si.si_status);
	else
		log_info("output %s: %s (pid %ld) killed by signal %d",
		    o->name, o->conf->argv[0], (long)o->pid, si.si_status);
}

/*
 * Stop the program: end of file on its stdin, time to finish, then
 * SIGTERM, then SIGKILL.  A program that ran for a minute is restarted
 * after 1 s again.
 */
static void
exec_close(struct output *o, int stopping)
{
	close_fd(&o->fd);
	if (o->pid > 0) {
		if (wait_exit(o, stopping ? STOP_WAIT_MS : 0) != 0) {
			kill(-o->pid, SIGTERM);	/* its process group */
			if (wait_exit(o, STOP_WAIT_MS) != 0) {
				kill(-o->pid, SIGKILL);
				wait_exit(o, -1);
			}
		}
		if (o->errfd != -1)
			read_stderr(o);
		reap(o);
		if (output_now() - o->spawned >= 60)
			o->backoff = 1;
	}
	close_fd(&o->errfd);
	close_fd(&o->pidfd);
	buf_reset(&o->errline);
	o->pid = -1;
}

const struct sink sink_exec = {
	.type = "exec",
	.backoff_max = 60,
	.format = output_format_json,
	.open = exec_open,
	.write = exec_write,
	.unread = exec_unread,
	.fds = exec_fds,
	.events = exec_events,
	.close = exec_close,
};
