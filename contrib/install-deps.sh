#!/bin/sh
# Installs the Debian 12 packages that zhilid's build, tests and benchmarks
# need. Idempotent: when every package is already installed it says so and
# touches nothing (not even `apt-get update`), so `make run` and .ci/run can
# call it every time.
#
#   sh contrib/install-deps.sh
set -eu

# build: compiler, make, pkg-config and the four libraries of DESIGN.md;
# tests: python3 (e2e), socat, tzdata (Asia/Shanghai), systemd
# (systemd-analyze verify/security), sqlite3 (the cli), python3-jsonschema
# and python3-yaml (the JSON Schemas of schema/, checked against the rule
# files and the events the tests send), mandoc (man page lint), strace (an
# answer follows the WAL's sync); fuzzing: clang; benchmarks: valgrind
# (make bench-instr counts instructions with callgrind); the map pages:
# chromium (tests draw them headless and read the pixels), tidy (HTML
# validation) and fonts-noto-cjk (Chinese text in the screenshots).
PACKAGES="gcc make pkg-config libyaml-dev libsqlite3-dev libev-dev libcjson-dev python3 socat tzdata systemd clang sqlite3 python3-jsonschema python3-yaml mandoc strace valgrind chromium tidy fonts-noto-cjk"
# the PostgreSQL store: libpq-dev (build), postgresql (the tests start a
# throwaway cluster with its initdb and pg_ctl, not the package's own)
PACKAGES="$PACKAGES libpq-dev postgresql"
# metrics: python3-prometheus-client (the reference OpenMetrics and
# Prometheus text parsers the tests check the `metrics` text with);
# packaging: debhelper, dpkg-dev, fakeroot and lintian (make deb and its
# test).
PACKAGES="$PACKAGES python3-prometheus-client debhelper dpkg-dev fakeroot lintian"
# outputs: libsystemd-dev (the journal output's sd_journal_send).
PACKAGES="$PACKAGES libsystemd-dev"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps: dpkg-query not found; this script is for Debian 12." >&2
	echo "install-deps: install these by hand: $PACKAGES" >&2
	exit 1
fi

missing=
for p in $PACKAGES; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
missing=${missing# }

if [ -z "$missing" ]; then
	echo "install-deps: all packages present, nothing to do"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	echo "install-deps: missing packages: $missing" >&2
	echo "install-deps: not root and sudo not found; run as root:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends $missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing: $missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is wanted
$SUDO env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends $missing
echo "install-deps: done"
