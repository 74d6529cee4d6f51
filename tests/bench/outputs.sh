#!/bin/sh
# make bench-outputs: run.sh without outputs (A) and with a file and a
# journal output (B, BENCH_OUTPUTS=file,journal), interleaved
# BENCH_ROUNDS times (3), since a shared machine's speed drifts; prints
# each run's events/s, the daemon's and journald's CPU seconds and how
# long after the load the outputs had delivered every alert, then the
# ranges and B's throughput as a share of A's (median over median).
# Other BENCH_* settings pass through to run.sh.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${BENCH_ROUNDS:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
r=1
while [ "$r" -le "$rounds" ]; do
	for o in none file,journal; do
		case $o in none) set -- ;; *) set -- "$o" ;; esac
		BENCH_OUTPUTS=${1:-} sh "$root/tests/bench/run.sh" 2>/dev/null |
		    awk -v o="$o" -v r="$r" '
			/^e2e_events_per_sec/ { eps = $2 }
			/^zhilid_cpu_s/ { cpu = $2 }
			/^journald_cpu_s/ { jcpu = $2 }
			/every alert delivered/ { lag = $(NF - 4) }
			END { printf "%s %d %s %s %s %s\n", o, r, eps, cpu,
			    jcpu == "" ? "-" : jcpu, lag == "" ? "-" : lag }' |
		    tee -a "$out" | awk '{ printf "outputs %-12s round %d: %s events/s, zhilid %s s CPU, journald %s s CPU, delivered %s ms after the load\n", $1, $2, $3, $4, $5, $6 }'
	done
	r=$((r + 1))
done
sort -k1,1 -k3,3n "$out" | awk '
	{ v[$1, ++n[$1]] = $3 }
	END {
		for (o in n) {
			m[o] = v[o, int((n[o] + 1) / 2)]
			printf "outputs %-12s %s..%s events/s, median %s\n", o,
			    v[o, 1], v[o, n[o]], m[o]
		}
		if (m["none"] > 0)
			printf "file,journal / none: %.0f%%\n",
			    100 * m["file,journal"] / m["none"]
	}'
