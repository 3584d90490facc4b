#!/usr/bin/env bash
# Benchmark: a `load:` step through the seed chain on the simulator (docs/design.md performance
# target, wave 2: 2,000 requests/s for 30 s on 2 cores, >= 99.9 % delivered, p99 < 20 ms, the
# harness's own CPU < 1 core).
#
#   scripts/bench/load.sh [BUILD_DIR]
#     BENCH_RATE (default 2000), BENCH_SECONDS (default 30), BENCH_FROM (default httpbin/sleep:
#     in-mesh, sidecar → egress gateway → mock; "host" = through the ingress gateway's TLS
#     port-forward, one TLS handshake per request), BENCH_CONCURRENCY (default 64)
#
# Prints what the load's JSON report says (requests, delivered, p50/p99, dropped) and the CPU:
# the whole egresslab process (data plane + harness, from /proc) and the load generator's own
# threads (its note in the report: libcurl's client side runs there).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

source scripts/bench/common.sh
bench_egresslab "${1:-${EGRESSLAB_BUILD_DIR:-}}"
bench_require python3
rate=${BENCH_RATE:-2000}
seconds=${BENCH_SECONDS:-30}
from=${BENCH_FROM:-httpbin/sleep}
concurrency=${BENCH_CONCURRENCY:-64}
bench_start_cleanup

if [[ "$from" == host ]]; then
  load_from=""
  curl_line='-sS --resolve httpbin.example.com:15443:127.0.0.1 --cacert ${ca} https://httpbin.example.com:15443/status/200'
else
  load_from="from: $from,"
  curl_line='-sS http://httpbin.example.com/status/200'
fi

cat >"$tmp/bench-load.yaml" <<YAML
name: bench-load
istio: {version: "1.8.0"}
vars: {my-proxied-service-hostname: httpbin.example.com, my-secret-name: httpbin-credential}
manifests:
  - $root/fixtures/seed/operator.yaml
  - $root/fixtures/seed/egress.yaml
  - $root/fixtures/seed/ingress-gateway.yaml
  - $root/fixtures/seed/egress-gateway.yaml
  - $root/fixtures/seed/virtual-service.yaml
  - $root/fixtures/seed/service-entry.yaml
  - $root/fixtures/seed/destination-rule.yaml
  - $root/fixtures/seed/peer-authentication.yaml
secrets:
  - {name: <my-secret-name>, namespace: istio-system, hosts: [<my-proxied-service-hostname>]}
upstreams:
  - {host: httpbin.org, port: 443, tls: true}
dns: {httpbin.example.com: 203.0.113.10}
workloads:
  - {name: sleep, namespace: httpbin, injected: true}
portForwards:
  - {service: istio-system/istio-ingressgateway, local: 15443, remote: 443}
steps:
  - name: ready
    from: httpbin/sleep
    curl: -sS http://httpbin.example.com/status/200
    expect: {status: 200}
    eventually: {within: 30s, every: 100ms, successes: 3}
  - name: load
    load: {start: bench, $load_from curl: '$curl_line', rate: $rate, concurrency: $concurrency}
  - name: hold
    wait: ${seconds}s
  - name: judged
    load: {stop: bench}
    expect: {successRate: ">= 99.9%", p99: "< 20ms"}
YAML

# --time-scale 1: the wait is real time, so the load runs BENCH_SECONDS.
"$egresslab" run --backend sim --time-scale 1 --report json="$tmp/report.json" \
  "$tmp/bench-load.yaml" >"$tmp/run.log" 2>&1 &
pid=$!
pids+=("$pid")
# CPU of the whole process, sampled just before the load stops (utime+stime of every thread).
ticks=$(getconf CLK_TCK)
cpu_at() { awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0; }
while ! grep -q "✓ load\|✗ load" "$tmp/run.log" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
start_cpu=$(cpu_at)
start_wall=$(date +%s%N)
sleep "$((seconds - 1))"
end_cpu=$(cpu_at)
end_wall=$(date +%s%N)
status=0
wait "$pid" || status=$?

python3 - "$tmp/report.json" "$start_cpu" "$end_cpu" "$start_wall" "$end_wall" "$ticks" "$rate" \
  "$seconds" "$from" "$status" <<'PY'
import json, sys
report, c0, c1, w0, w1, ticks, rate, seconds, src, status = sys.argv[1:]
doc = json.load(open(report))
steps = doc["scenarios"][0]["steps"]
load = next(s["load"] for s in steps if "load" in s)
process_cores = (float(c1) - float(c0)) / float(ticks) / ((int(w1) - int(w0)) / 1e9)
delivered = 100.0 * load["successes"] / max(1, load["requests"])
print(f"bench: load {rate}/s for {seconds} s from {src} through the seed chain (2 cores)")
print(f"  requests {load['requests']}, delivered {delivered:.3f}% (target >= 99.9%), "
      f"dropped {load['dropped']}, statuses {load['statuses']}, exits {load['exits']}")
print(f"  p50 {load['p50Ms']:.2f} ms, p90 {load['p90Ms']:.2f} ms, p99 {load['p99Ms']:.2f} ms "
      f"(target p99 < 20 ms)")
for note in load["notes"]:
    print(f"  {note}   (target: harness < 1 core)")
print(f"  egresslab process, data plane included: {process_cores:.2f} cores")
print(f"  SLO step: {steps[-1]['result']}; egresslab exit {status}")
PY
