#!/bin/sh
# Turn schema/NNN-name.sql files into a C table of migrations, so that the
# daemon carries its schema and needs no data files at run time.
set -eu
echo "/* generated from the schema/ migrations by schema/embed.sh; do not edit */"
echo "static const struct migration migrations[] = {"
for f in "$@"; do
	base=$(basename "$f" .sql)
	num=$(echo "$base" | sed 's/^0*\([0-9][0-9]*\)-.*/\1/')
	echo "	{ $num, \"$base\","
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/	    "/' -e 's/$/\\n"/' "$f"
	echo "	},"
done
echo "};"
