#!/bin/sh
# ack.sh: acknowledge zhilid alerts by id (POSIX sh and socat).
#
# usage: ack.sh [-s SOCKET] ID...
#
# Sends one {"cmd":"ack","alert":ID} line per id on one connection and
# prints each answer; exits 0 if every one was {"ok":true}, else 1.  The
# connection needs the `admin` role.  When socat's input ends it
# half-closes the socket; zhilid still answers every line it read (an ack
# once it is committed), then closes.  -t 10: socat would otherwise wait
# only 0.5 s for those answers.
set -eu
sock=run/zhilid.sock
while getopts s: opt; do
	case $opt in
	s) sock=$OPTARG ;;
	*) echo "usage: ack.sh [-s SOCKET] ID..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: ack.sh [-s SOCKET] ID..." >&2; exit 2; }
for id; do
	case $id in
	'' | *[!0-9]*) echo "ack.sh: bad alert id '$id'" >&2; exit 2 ;;
	esac
done

answers=$(for id; do printf '{"cmd":"ack","alert":%s}\n' "$id"; done |
	socat -t 10 - UNIX-CONNECT:"$sock") || exit 1
printf '%s\n' "$answers"
# One answer per id, and every one ok.
[ "$(printf '%s\n' "$answers" | grep -c '^{"ok":true}$')" -eq $# ]
