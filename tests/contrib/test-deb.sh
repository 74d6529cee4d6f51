#!/bin/sh
# Builds the Debian package (make deb: dpkg-buildpackage in a copy of the
# sources, then lintian, which must find no error), extracts it with
# dpkg -x into a scratch root, and checks what it installs: the binaries
# under /usr, the conffile, the units, the sysusers and tmpfiles snippets,
# the man pages, the maintainer scripts that create the user; then runs the
# installed zhilid -t on the installed config, its paths moved into the
# scratch root.  About 30 s (a full -O2 build of the package).
# Usage: sh tests/contrib/test-deb.sh VARIANT_DIR (runs for `build` only)
set -u
v=${1:-build}
[ "$v" = build ] || exit 0
root=$(cd "$(dirname "$0")/../.." && pwd)

oneline() { printf '%s' "$1" | tr '\n' ' '; }

for tool in dpkg-buildpackage dh lintian fakeroot; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "FAIL contrib.deb: $tool not found (sh contrib/install-deps.sh)"
		exit 0
	fi
done

d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT INT TERM

# Called from `make check`: keep the outer make's flags and jobserver away.
out=$(cd "$root" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s deb 2>&1)
rc=$?
deb=$(ls "$root"/build/deb/zhilid_*_*.deb 2>/dev/null | head -1)
if [ $rc -ne 0 ] || [ -z "$deb" ]; then
	echo "FAIL contrib.deb: make deb exited $rc: $(oneline "$out" | tail -c 800)"
	exit 0
fi
errors=$(printf '%s\n' "$out" | grep -c '^E: ')
warnings=$(printf '%s\n' "$out" | grep '^W: ' | sed 's/^W: [^ ]* //' | tr '\n' ';')
if [ "$errors" -ne 0 ]; then
	echo "FAIL contrib.deb-lintian: $(printf '%s\n' "$out" | grep '^E: ' | tr '\n' ';')"
else
	echo "PASS contrib.deb-lintian${warnings:+ (warnings: $warnings)}"
fi

dest=$d/root
dpkg -x "$deb" "$dest"
dpkg -e "$deb" "$d/control"
missing=
for f in usr/sbin/zhilid usr/bin/zhilictl etc/zhilid/zhilid.conf \
	usr/share/zhilid/rules/four_color.yaml \
	lib/systemd/system/zhilid.service lib/systemd/system/zhilid.socket \
	usr/lib/sysusers.d/zhilid.conf usr/lib/tmpfiles.d/zhilid.conf \
	usr/share/man/man8/zhilid.8.gz usr/share/man/man1/zhilictl.1.gz \
	usr/share/man/man5/zhilid.conf.5.gz usr/share/man/man5/zhilid.rules.5.gz \
	usr/share/doc/zhilid/copyright; do
	[ -f "$dest/$f" ] || missing="$missing /$f"
done
for f in usr/sbin/zhilid usr/bin/zhilictl; do
	[ -x "$dest/$f" ] || missing="$missing /$f(not executable)"
done
grep -qx /etc/zhilid/zhilid.conf "$d/control/conffiles" 2>/dev/null ||
	missing="$missing conffile:/etc/zhilid/zhilid.conf"
grep -q 'systemd-sysusers.*zhilid.conf' "$d/control/postinst" 2>/dev/null ||
	missing="$missing postinst:systemd-sysusers"
grep -q 'systemd-tmpfiles.*zhilid.conf' "$d/control/postinst" 2>/dev/null ||
	missing="$missing postinst:systemd-tmpfiles"
grep -q "enable 'zhilid.service'" "$d/control/postinst" 2>/dev/null ||
	missing="$missing postinst:enable-zhilid.service"
if [ -n "$missing" ]; then
	echo "FAIL contrib.deb-files: missing:$missing"
else
	echo "PASS contrib.deb-files"
fi

# The unit runs the packaged binary; the config loads the packaged rules.
bad=
conf=$dest/etc/zhilid/zhilid.conf
# shellcheck disable=SC2013 # paths have no spaces
for exe in $(sed -n 's/^Exec\(Start\|StartPre\)=[-@:+!]*\([^ ]*\).*/\2/p' \
	"$dest/lib/systemd/system/zhilid.service"); do
	[ -x "$dest$exe" ] || bad="$bad unit runs $exe;"
done
grep -q '^rules: \[/usr/share/zhilid/rules/\*\.yaml\]' "$conf" ||
	bad="$bad config rules: $(grep '^rules:' "$conf");"
if [ -n "$bad" ]; then
	echo "FAIL contrib.deb-paths:$bad"
else
	echo "PASS contrib.deb-paths"
fi

# The installed zhilid on the installed config, with /usr/share/zhilid,
# /run/zhilid and /var/lib/zhilid moved into the scratch root.
sed -e "s|/usr/share/zhilid|$dest/usr/share/zhilid|g" \
	-e "s|/run/zhilid|$d/run|g" -e "s|/var/lib/zhilid|$d/lib|g" \
	"$conf" > "$d/zhilid.conf"
mkdir -p "$d/run" "$d/lib"
out=$("$dest/usr/sbin/zhilid" -t -c "$d/zhilid.conf" 2>&1)
rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'configuration ok: [1-9]'; then
	echo "PASS contrib.deb-configtest"
else
	echo "FAIL contrib.deb-configtest: rc $rc: $(oneline "$out")"
fi
