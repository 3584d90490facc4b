#!/usr/bin/env bash
# Benchmark: the simulated data plane's seed chain — ingress gateway (TLS terminate) → egress
# gateway (plain HTTP hop, then TLS origination) → httpbin mock — against the same three-hop
# chain built from nginx (TLS terminate → proxy_pass → proxy_ssl → nginx `return 200`), side by
# side in one run (docs/design.md wave 2 target: the sim chain at >= 1.0x nginx's requests/s),
# then p99 latency of both under 64 keep-alive connections (issue #14 target: sim < 50 ms).
#
#   scripts/bench/chain.sh [BUILD_DIR]
#
# wrk -t2 -c32 (throughput) and -c64 --latency (p99), -d5s, keep-alive, on 127.0.0.1 only; every
# process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

source scripts/bench/common.sh
bench_egresslab "${1:-${EGRESSLAB_BUILD_DIR:-}}"
bench_require wrk nginx openssl curl python3
nginx_bin=$(command -v nginx)
duration=${BENCH_DURATION:-5s}
bench_start_cleanup

read -r sim_port ng_front ng_mid ng_back < <(bench_free_ports 4)

bench_self_signed_cert "$tmp/cert.pem" "$tmp/key.pem"

# nginx: the same three hops, 2 workers (= the machine's cores the simulator's threads share),
# keep-alive to each upstream, no access log.
mkdir -p "$tmp/logs"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  upstream mid { server 127.0.0.1:$ng_mid; keepalive 64; }
  upstream back { server 127.0.0.1:$ng_back; keepalive 64; }
  server {   # "ingress": terminate TLS
    listen 127.0.0.1:$ng_front ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://mid; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {   # "egress": originate TLS
    listen 127.0.0.1:$ng_mid;
    location / {
      proxy_pass https://back; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_session_reuse on;
    }
  }
  server {   # "upstream"
    listen 127.0.0.1:$ng_back ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200; }
  }
}
CONF
"$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/logs/error.log" &
pids+=($!)
bench_start_sim_chain "$sim_port"
ingress_port=$sim_ingress_port

wait_ready() {  # URL: poll until it answers 200, for at most 10 s
  for _ in $(seq 100); do
    if [[ $(curl -sk -H "$host_header" -o /dev/null -w '%{http_code}' "$1" || true) == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  cat "$tmp/sim.log" "$tmp/logs/error.log" >&2 2>/dev/null || true
  exit 1
}
host_header="Host: httpbin.example.com"
sim_url="https://localhost:$ingress_port/status/200"
fwd_url="https://localhost:$sim_port/status/200"
ng_url="https://localhost:$ng_front/"
wait_ready "$sim_url"
wait_ready "$ng_url"

rps() {  # URL → requests/s (a 1 s warm-up run first, discarded)
  wrk -t2 -c32 -d1s -H "$host_header" "$1" >/dev/null
  wrk -t2 -c32 -d"$duration" -H "$host_header" "$1" | awk '/^Requests\/sec:/ {printf "%.0f", $2}'
}
echo "bench: wrk -t2 -c32 -d$duration keep-alive, 127.0.0.1 ($(nproc) cores)"
sim_rps=$(rps "$sim_url")
ng_rps=$(rps "$ng_url")
fwd_rps=$(rps "$fwd_url")
ratio=$(awk -v a="$sim_rps" -v b="$ng_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0 ? "ok (>= 1.00)" : "BELOW TARGET (< 1.00)") }')
printf '%-56s %10s req/s\n' "sim: ingress(TLS) -> egress(TLS orig.) -> mock" "$sim_rps"
printf '%-56s %10s req/s\n' "nginx: TLS -> proxy_pass -> proxy_ssl -> 200" "$ng_rps"
printf '%-56s %10s req/s\n' "sim via the port-forward tunnel (one hop more)" "$fwd_rps"
printf 'ratio sim/nginx: %s %s\n' "$ratio" "$verdict"

# Issue #14 "Done when": a 64-connection load through the mesh has p99 < 50 ms.
p99() {  # URL → p99 latency in ms of wrk -c64 (a 1 s warm-up run first, discarded)
  wrk -t2 -c64 -d1s -H "$host_header" "$1" >/dev/null
  wrk -t2 -c64 -d"$duration" --latency -H "$host_header" "$1" |
    awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
                       else if (v ~ /ms$/) { sub(/ms$/, "", v) }
                       else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
                       printf "%.1f", v }'
}
sim_p99=$(p99 "$sim_url")
ng_p99=$(p99 "$ng_url")
printf '%-56s %10s ms\n' "sim p99, 64 connections" "$sim_p99"
printf '%-56s %10s ms\n' "nginx p99, 64 connections" "$ng_p99"
awk -v p="$sim_p99" 'BEGIN { print (p < 50 ? "sim p99 ok (< 50 ms)" : "sim p99 ABOVE TARGET (>= 50 ms)") }'
