#!/bin/sh
# follow.sh: print zhilid's alerts as they are committed, one per line:
#
#     ID SEVERITY RULE ENTITY MESSAGE
#
# usage: follow.sh [-j] [-s SOCKET]     (-j: the raw {"alert":...} lines)
#
# POSIX sh, socat and awk; no jq.  It runs until it is killed (exit 130
# or 143) or the connection ends (exit 1).  It prints what comes after it
# subscribed: alerts committed before are not replayed; fetch them with
# {"cmd":"alerts","after":ID}, or use `zhilictl alerts --follow`, which does
# both without a gap.  The connection needs the `read` role.
set -eu
sock=run/zhilid.sock
raw=0
while getopts js: opt; do
	case $opt in
	j) raw=1 ;;
	s) sock=$OPTARG ;;
	*) echo "usage: follow.sh [-j] [-s SOCKET]" >&2; exit 2 ;;
	esac
done

# socat's output goes through a FIFO so that the script knows both pids
# and can stop both, whichever ends first.
dir=$(mktemp -d)
mkfifo "$dir/lines"
spid='' apid=''
trap 'kill $spid $apid 2>/dev/null || :; rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ignoreeof: once the subscribe line is sent, stdin's end must not reach
# the socket; zhilid closes a client that has finished sending.
printf '{"cmd":"subscribe"}\n' |
	socat -,ignoreeof UNIX-CONNECT:"$sock" >"$dir/lines" &
spid=$!

# The daemon writes an alert's keys in a fixed order, id to event, so the
# first "rule", "severity" and "entity" of a line are the alert's own.
# shellcheck disable=SC2016 # an awk program, not shell
fmt='
function str(key,   s, out, c, i) {	# the JSON string after "key":
	if (!match($0, "\"" key "\":\"([^\"\\\\]|\\\\.)*\""))
		return "-"
	s = substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\\") {	# \" \\ \/ unescaped, \n \t ... a space
			c = substr(s, ++i, 1)
			if (c == "u")	# zhilid escapes only control bytes:
				i += 4	# \u00XX becomes a space too
			if (c != "\"" && c != "\\" && c != "/")
				c = " "
		}
		out = out c
	}
	return out
}
match($0, /"id":[0-9]+/) {
	print substr($0, RSTART + 5, RLENGTH - 5), str("severity"),
	    str("rule"), str("entity"), str("message")
}'

# The shell reads the lines (awk may wait for a full buffer before it
# reads a pipe) and runs awk once per alert.
ok=0
{
	while IFS= read -r line; do
		case $line in
		'{"ok":true}') ok=1; echo "follow.sh: subscribed to $sock" >&2 ;;
		'{"ok":false'*) echo "follow.sh: $line" >&2; exit 1 ;;
		'{"alert":'*)
			if [ "$raw" = 1 ]; then
				printf '%s\n' "$line"
			else
				printf '%s\n' "$line" | awk "$fmt"
			fi ;;
		esac
	done <"$dir/lines"
	[ "$ok" = 0 ] || echo "follow.sh: connection closed by zhilid" >&2
} &
apid=$!

# `wait` returns on a trapped signal; the EXIT trap then stops both.
wait "$apid" || :
exit 1
