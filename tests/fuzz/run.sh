#!/bin/sh
# Runs libFuzzer targets built by tests/fuzz/fuzz.mk, one after another,
# and prints one line per target, "PASS fuzz.NAME" or "FAIL fuzz.NAME: why".
#
#   sh tests/fuzz/run.sh check SECONDS NAME...   fresh work corpus
#   sh tests/fuzz/run.sh fuzz SECONDS NAME...    work corpus kept between
#                                                 runs; prints statistics
#
# Each file of tests/fuzz/regress/NAME runs once; then the target fuzzes
# for SECONDS over tests/fuzz/corpus/NAME, read only: new inputs go to
# build/fuzz/work/NAME, crashes to build/fuzz/crash/NAME/, the output to
# build/fuzz/log/NAME.log.  Exits 1 if any target failed.
set -u
mode=$1
secs=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1

export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ZHILID_FUZZ_ROOT="$root"
command -v llvm-symbolizer >/dev/null 2>&1 ||
	export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer

# The sanitizer's or libFuzzer's verdict in a log, in one line.
why() {
	w=$(grep -m1 '^oracle: ' "$1")
	[ -n "$w" ] || w=$(sed -n 's/^SUMMARY: //p' "$1" | head -n 1 |
	    sed 's/ in *$//')
	[ -n "$w" ] || w=$(grep -m1 -E 'ERROR: ' "$1" | sed 's/^.*ERROR: //')
	[ -n "$w" ] || w="exit status $2"
	printf '%s' "$w"
}

# A statistic of libFuzzer's -print_final_stats=1.
stat() {
	sed -n "s/^stat::$1: *//p" "$log"
}

failed=0
for name; do
	bin=build/fuzz/fuzz-$name
	corpus=tests/fuzz/corpus/$name
	regress=tests/fuzz/regress/$name
	work=build/fuzz/work/$name
	crash=build/fuzz/crash/$name
	log=build/fuzz/log/$name.log
	case $name in
	rules)	maxlen=8192 ;;
	expr)	maxlen=1024 ;;
	*)	maxlen=4096 ;;
	esac
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz.$name: $bin is not built"
		failed=1
		continue
	fi
	[ "$mode" = check ] && rm -rf "$work"
	mkdir -p "$work" "$crash" "$(dirname "$log")"
	set -- -max_len=$maxlen -timeout=10 -rss_limit_mb=1024 \
	    -artifact_prefix="$crash/" -print_final_stats=1
	[ -f tests/fuzz/$name.dict ] && set -- "$@" -dict=tests/fuzz/$name.dict

	# the regression inputs first: a known crash is named as such
	files=$(find "$regress" -type f ! -name 'README*' ! -name '.*' \
	    2>/dev/null | sort)
	if [ -n "$files" ]; then
		# shellcheck disable=SC2086
		"$bin" "$@" $files >"$log" 2>&1
		rc=$?
		if [ $rc -ne 0 ]; then
			bad=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
			echo "FAIL fuzz.$name: $bad: $(why "$log" $rc) (log $log)"
			failed=1
			continue
		fi
	fi

	"$bin" "$@" -max_total_time="$secs" "$work" "$corpus" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" |
		    head -n 1)
		echo "FAIL fuzz.$name: $(why "$log" $rc) (${art:+input $art, }log $log)"
		failed=1
		continue
	fi
	echo "PASS fuzz.$name"
	[ "$mode" = fuzz ] || continue
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	echo "    $secs s: $(stat number_of_executed_units) runs," \
	    "$(stat average_exec_per_sec) exec/s," \
	    "$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p') edges," \
	    "$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')" \
	    "inputs in $work, $(echo "$files" | grep -c .) regression inputs"
done
exit $failed
