#!/usr/bin/env bash
# Benchmark: the seed scenario on the simulator, cold process (docs/design.md targets: median wall
# < 300 ms over all steps, mesh start — certificates, listeners, first probe — < 100 ms, peak
# RSS < 64 MiB).
#
#   scripts/bench/scenario.sh [BUILD_DIR] [SCENARIO]     (N runs: BENCH_RUNS, default 15)
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/bench/common.sh
bench_egresslab "${1:-${EGRESSLAB_BUILD_DIR:-}}"
scenario=${2:-scenarios/seed-httpbin.yaml}
runs=${BENCH_RUNS:-15}
tmp=$(mktemp -d)
simpid=""
cleanup() {
  [[ -n "$simpid" ]] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -n | awk '{a[NR]=$1} END { if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else printf "%.0f", (a[NR/2]+a[NR/2+1])/2 }'; }

# 1. Whole scenario, cold process: `egresslab run --backend sim`.
: >"$tmp/walls"
: >"$tmp/rss"
failed=0
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -o "$tmp/time.txt" "$egresslab" run --backend sim "$scenario" >"$tmp/run.log" 2>&1 || failed=$((failed + 1))
    awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tmp/time.txt" >>"$tmp/rss"
  else
    "$egresslab" run --backend sim "$scenario" >"$tmp/run.log" 2>&1 || failed=$((failed + 1))
  fi
  end=$(date +%s%N)
  echo $(((end - start) / 1000000)) >>"$tmp/walls"
done
wall=$(median <"$tmp/walls")
echo "bench: $scenario, $runs cold runs ($(nproc) cores)"
printf '%-36s %6s ms   (target < 300 ms)%s\n' "scenario wall, median" "$wall" \
  "$([[ $failed -gt 0 ]] && echo "  [$failed runs did not pass: see egresslab run output]")"
if [[ -s "$tmp/rss" ]]; then
  peak=$(sort -n "$tmp/rss" | tail -1)
  printf '%-36s %6s MiB  (target < 64 MiB)\n' "peak RSS, max over runs" "$((peak / 1024))"
else
  echo "peak RSS: /usr/bin/time not installed (apt-get install time)"
fi

# 2. Mesh start alone: `egresslab sim up` reports how long SimMesh::start took (PKI, mocks,
# listeners, the first readiness probe round). Literal port-forward ports must be free.
: >"$tmp/starts"
for _ in $(seq 5); do
  "$egresslab" sim up "$scenario" >"$tmp/up.log" 2>&1 &
  simpid=$!
  for _ in $(seq 100); do
    grep -q "is up" "$tmp/up.log" && break
    kill -0 "$simpid" 2>/dev/null || break
    sleep 0.05
  done
  sed -n 's/.*mesh start \([0-9]*\) ms.*/\1/p' "$tmp/up.log" >>"$tmp/starts"
  kill "$simpid" 2>/dev/null || true
  wait "$simpid" 2>/dev/null || true
  simpid=""
done
if [[ -s "$tmp/starts" ]]; then
  printf '%-36s %6s ms   (target < 100 ms)\n' "mesh start, median of 5" "$(median <"$tmp/starts")"
else
  echo "mesh start: sim up did not come up:"; cat "$tmp/up.log"
fi
