#!/bin/sh
# The project stands alone: no tracked file names a folder beside the
# checkout (a sibling "shared" one) or a machine's own absolute paths (a
# home folder, a work folder), where a clone elsewhere would not find them.  The clone
# that .ci/run tests in proves the same by running; this names the line.
# Usage: sh tests/contrib/test-standalone.sh VARIANT_DIR (runs for build).
set -u
v=${1:-build}
[ "$v" = build ] || exit 0
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
self=tests/contrib/test-standalone.sh

if [ -d .git ] || [ -f .git ]; then
	files() { git ls-files; }
else
	files() { find . -type f ! -path './build/*' | sed 's|^\./||'; }
fi
# Vendored suites are upstream data; binary files cannot name a path.
hits=$(files | grep -v -e '^tests/conformance/' -e "^$self\$" |
	tr '\n' '\0' | xargs -0 grep -I -n -E \
	"\\.\\./shared|(^|[[:space:]\"'=(:\`])/(work|home|Users|root)/" \
	2>/dev/null |
	head -5)
if [ -n "$hits" ]; then
	echo "FAIL contrib.standalone: names a path outside the checkout:" \
	    "$(printf '%s' "$hits" | tr '\n' ' ')"
else
	echo "PASS contrib.standalone"
fi
