#!/bin/sh
# Checks the systemd snippets in contrib/: the units (the daemon's, and the
# map's service and timer) pass `systemd-analyze verify`, `systemd-analyze security` rates its exposure at
# 2.0 or less, and the sysusers.d and tmpfiles.d snippets apply cleanly to an
# empty root. Usage: sh tests/contrib/test-unit.sh VARIANT_DIR
#
# None of this depends on the binary variant, so it runs for `build` only.
# A check whose tool is missing prints a SKIP line (counted as neither).
set -u
v=${1:-build}
[ "$v" = build ] || exit 0
root=$(cd "$(dirname "$0")/../.." && pwd)
unit=$root/contrib/zhilid.service
bin=$root/$v/zhilid
installed=/usr/local/sbin/zhilid	# the unit's path, PREFIX=/usr/local

# One line of a tool's output, for a FAIL line.
oneline() { printf '%s' "$1" | tr '\n' ' '; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP contrib.unit-verify: systemd-analyze not installed"
	echo "SKIP contrib.unit-security: systemd-analyze not installed"
else
	# verify wants the Exec binaries to exist: point them at the build.
	sed "s|$installed|$bin|g" "$unit" >"$tmp/zhilid.service"
	n=$(grep -c "^Exec.*=$bin " "$tmp/zhilid.service")
	out=$(cd "$tmp" && systemd-analyze verify "$tmp/zhilid.service" 2>&1)
	rc=$?
	# verify exits 0 on unknown keys and bad values too, and may talk about
	# the host's own units: any line about zhilid is a failure.
	ours=$(printf '%s\n' "$out" | grep -i zhilid)
	if [ "$n" -ne 2 ]; then
		echo "FAIL contrib.unit-verify: ExecStart/ExecStartPre no longer run $installed"
	elif [ $rc -ne 0 ] || [ -n "$ours" ]; then
		echo "FAIL contrib.unit-verify: rc $rc:" "$(oneline "$out")"
	else
		echo "PASS contrib.unit-verify"
	fi

	# the socket unit beside it: systemd-analyze checks the pair
	cp "$root/contrib/zhilid.socket" "$tmp/zhilid.socket"
	out=$(cd "$tmp" && systemd-analyze verify "$tmp/zhilid.socket" 2>&1)
	rc=$?
	ours=$(printf '%s\n' "$out" | grep -i zhilid)
	if ! grep -q '^ListenStream=/run/zhilid/zhilid.sock$' "$tmp/zhilid.socket" ||
	    ! grep -q '^socket: /run/zhilid/zhilid.sock' "$root/contrib/zhilid.conf.system"; then
		echo "FAIL contrib.socket-verify: the socket unit and the system config name different sockets"
	elif [ $rc -ne 0 ] || [ -n "$ours" ]; then
		echo "FAIL contrib.socket-verify: rc $rc:" "$(oneline "$out")"
	else
		echo "PASS contrib.socket-verify"
	fi

	# the map's service and timer: zhilictl map --dir every 10 minutes
	sed "s|/usr/local/bin/zhilictl|$root/$v/zhilictl|g" \
		"$root/contrib/zhilid-map.service" >"$tmp/zhilid-map.service"
	cp "$root/contrib/zhilid-map.timer" "$tmp/zhilid-map.timer"
	out=$(cd "$tmp" && systemd-analyze verify "$tmp/zhilid-map.service" \
		"$tmp/zhilid-map.timer" 2>&1)
	rc=$?
	ours=$(printf '%s\n' "$out" | grep -i zhilid)
	fig=$(systemd-analyze security --offline=true --no-pager \
		"$tmp/zhilid-map.service" 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if ! grep -q "^ExecStart=$root/$v/zhilictl .* map --dir " \
		"$tmp/zhilid-map.service"; then
		echo "FAIL contrib.map-unit: ExecStart no longer runs /usr/local/bin/zhilictl map --dir"
	elif [ $rc -ne 0 ] || [ -n "$ours" ]; then
		echo "FAIL contrib.map-unit: rc $rc:" "$(oneline "$out")"
	elif [ -n "$fig" ] && ! awk -v f="$fig" 'BEGIN { exit !(f <= 2.0) }'; then
		echo "FAIL contrib.map-unit: exposure $fig > 2.0"
	else
		echo "PASS contrib.map-unit"
	fi

	out=$(systemd-analyze security --offline=true --no-pager \
		"$tmp/zhilid.service" 2>&1)
	fig=$(printf '%s\n' "$out" |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if [ -z "$fig" ]; then
		if printf '%s\n' "$out" | grep -q -e "unrecognized option" \
			-e "Unknown command" -e "unknown option"; then
			echo "SKIP contrib.unit-security: systemd-analyze cannot rate offline units"
		else
			echo "FAIL contrib.unit-security: no exposure figure:" "$(oneline "$out")"
		fi
	elif awk -v f="$fig" 'BEGIN { exit !(f <= 2.0) }'; then
		echo "PASS contrib.unit-security"
	else
		echo "FAIL contrib.unit-security: exposure $fig > 2.0"
	fi
fi

if ! command -v systemd-sysusers >/dev/null 2>&1; then
	echo "SKIP contrib.sysusers: systemd-sysusers not installed"
else
	mkdir -p "$tmp/root/etc"
	out=$(systemd-sysusers --root="$tmp/root" - \
		<"$root/contrib/zhilid.sysusers" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^zhilid:' "$tmp/root/etc/passwd" 2>/dev/null &&
		grep -q '^zhilid:' "$tmp/root/etc/group" 2>/dev/null; then
		echo "PASS contrib.sysusers"
	else
		echo "FAIL contrib.sysusers: rc $rc:" "$(oneline "$out")"
	fi
fi

# tmpfiles chowns what it creates, which needs root; it resolves the user
# and group through the sysusers result above.
if ! command -v systemd-tmpfiles >/dev/null 2>&1; then
	echo "SKIP contrib.tmpfiles: systemd-tmpfiles not installed"
elif [ "$(id -u)" -ne 0 ]; then
	echo "SKIP contrib.tmpfiles: needs root"
else
	out=$(systemd-tmpfiles --root="$tmp/root" --create - \
		<"$root/contrib/zhilid.tmpfiles" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ] && [ -d "$tmp/root/run/zhilid" ] &&
		[ -d "$tmp/root/var/lib/zhilid" ]; then
		echo "PASS contrib.tmpfiles"
	else
		echo "FAIL contrib.tmpfiles: rc $rc:" "$(oneline "$out")"
	fi
fi
