#!/bin/sh
# Runs a command beside a journald of its own, for the journal output's
# test and benchmark where no journald runs (a container, CI): to be run
# in a mount namespace of its own, as root,
#   unshare --mount --propagation private sh private-journald.sh DIR CMD...
# It mounts a tmpfs on /run (so /run/systemd/journal/socket is this
# journald's), binds DIR/log on /run/log and /var/log/journal (the
# journal files end there, for journalctl --file), starts journald with
# no rate limit, writes its pid to DIR/pid, and execs CMD.
set -e
j=$1
shift
mkdir -p "$j/log"
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log
mount --bind "$j/log" /run/log
if [ -d /var/log/journal ]; then
	mount --bind "$j/log" /var/log/journal
fi
printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\n' >"$j/journald.conf"
mount --bind "$j/journald.conf" /etc/systemd/journald.conf
# not with the daemon's NOTIFY_SOCKET: journald would say READY=1 for it
env -u NOTIFY_SOCKET /lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
echo $! >"$j/pid"
i=0
while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
exec "$@"
