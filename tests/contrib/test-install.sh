#!/bin/sh
# Checks `make install` into a scratch DESTDIR with PREFIX=/usr, as a
# distribution package would run it: the files land where they should, the
# installed zhilid accepts a config that uses the installed rules, and the
# installed unit and config name the installed paths.
# Usage: sh tests/contrib/test-install.sh VARIANT_DIR (runs for `build` only)
set -u
v=${1:-build}
[ "$v" = build ] || exit 0
root=$(cd "$(dirname "$0")/../.." && pwd)

oneline() { printf '%s' "$1" | tr '\n' ' '; }

d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT INT TERM
dest=$d/dest
prefix=/usr

# Called from `make check`: keep the outer make's flags and jobserver away.
out=$(cd "$root" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -s install DESTDIR="$dest" PREFIX="$prefix" 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
	echo "FAIL contrib.install: make install exited $rc: $(oneline "$out" | tail -c 600)"
	exit 0
fi
echo "PASS contrib.install"

missing=
for f in usr/sbin/zhilid usr/bin/zhilictl usr/share/zhilid/rules/four_color.yaml \
	usr/lib/systemd/system/zhilid.service usr/lib/systemd/system/zhilid.socket \
	usr/share/man/man8/zhilid.8 usr/share/man/man1/zhilictl.1 \
	usr/share/man/man5/zhilid.conf.5 usr/share/man/man5/zhilid.rules.5 \
	usr/share/zhilid/schema/rules.schema.json etc/zhilid/zhilid.conf; do
	[ -f "$dest/$f" ] || missing="$missing /$f"
done
for f in usr/sbin/zhilid usr/bin/zhilictl; do
	[ -f "$dest/$f" ] && ! [ -x "$dest/$f" ] && missing="$missing /$f(not executable)"
done
if [ -n "$missing" ]; then
	echo "FAIL contrib.install-files: missing:$missing"
else
	echo "PASS contrib.install-files"
fi

# The installed binary on a config that uses the installed rules.
mkdir -p "$d/run"
cat >"$d/zhilid.conf" <<CONF
socket: $d/run/zhilid.sock
database: $d/run/zhilid.db
rules: [$dest$prefix/share/zhilid/rules/*.yaml]
clock: wall
timezone: Asia/Shanghai
durability: full
limits: {max_line_bytes: 65536, max_output_bytes: 1048576, max_clients: 1024}
access:
  - {uid: self, roles: [push, read, admin]}
CONF
if [ -x "$dest$prefix/sbin/zhilid" ]; then
	out=$("$dest$prefix/sbin/zhilid" -t -c "$d/zhilid.conf" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'configuration ok'; then
		echo "PASS contrib.install-configtest"
	else
		echo "FAIL contrib.install-configtest: rc $rc: $(oneline "$out")"
	fi
else
	echo "FAIL contrib.install-configtest: $prefix/sbin/zhilid not installed"
fi

# The installed unit must run the installed binary, and the installed
# config must load the installed rules: a PREFIX=/usr package whose unit
# still says /usr/local/sbin/zhilid does not start.
bad=
svc=$dest$prefix/lib/systemd/system/zhilid.service
conf=$dest/etc/zhilid/zhilid.conf
if [ -f "$svc" ]; then
	# shellcheck disable=SC2013 # paths have no spaces
	for exe in $(sed -n 's/^Exec\(Start\|StartPre\)=[-@:+!]*\([^ ]*\).*/\2/p' "$svc"); do
		[ -x "$dest$exe" ] || bad="$bad unit runs $exe;"
	done
fi
if [ -f "$conf" ]; then
	for g in $(sed -n 's/^rules:[[:space:]]*\[\([^]]*\)\].*/\1/p' "$conf" | tr ',' ' '); do
		# shellcheck disable=SC2086 # the glob is meant to expand
		set -- $dest$g
		[ -e "$1" ] || bad="$bad config loads $g;"
	done
fi
if [ -n "$bad" ]; then
	echo "FAIL contrib.install-paths: with PREFIX=$prefix:$bad"
else
	echo "PASS contrib.install-paths"
fi
