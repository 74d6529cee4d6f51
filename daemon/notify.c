/*
 * The sd_notify(3) protocol without libsystemd: one datagram to
 * $NOTIFY_SOCKET per state change (READY=1, RELOADING=1, STOPPING=1,
 * STATUS=..., WATCHDOG=1), and socket activation through $LISTEN_FDS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"

void
notify_send(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	char msg[512];
	va_list ap;
	int fd;

	if (path == NULL || path[0] == '\0')
		return;
	if ((path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof sun.sun_path)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	/*
	 * Never wait for the reader: a manager that stops reading must not
	 * stop the event loop (its queue full, the datagram is dropped).
	 */
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&sun, len) == -1)
		log_debug("sd_notify: %s dropped: %s", msg, strerror(errno));
	close(fd);
}

/* The watchdog interval systemd asked for, or 0. */
uint64_t
notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid;

	if (usec == NULL)
		return 0;
	pid = getenv("WATCHDOG_PID");
	if (pid != NULL && (pid_t)strtol(pid, NULL, 10) != getpid())
		return 0;
	return strtoull(usec, NULL, 10);
}

/* A listening socket passed by systemd socket activation, or -1. */
int
notify_listen_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int fd = 3, fl;

	if (pid == NULL || fds == NULL)
		return -1;
	if ((pid_t)strtol(pid, NULL, 10) != getpid() ||
	    strtol(fds, NULL, 10) < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return -1;
	fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	return fd;
}
