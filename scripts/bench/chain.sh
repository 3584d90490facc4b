#!/usr/bin/env bash
# Benchmark: the simulated data plane's seed chain — ingress gateway (TLS terminate) → egress
# gateway (plain HTTP hop, then TLS origination) → httpbin mock — against the same three-hop
# chain built from nginx (TLS terminate → proxy_pass → proxy_ssl → nginx `return 200`), side by
# side in one run (docs/design.md target: the sim chain at >= 0.5x nginx's requests/s).
#
#   scripts/bench/chain.sh [BUILD_DIR]
#
# wrk -t2 -c32 -d5s keep-alive on 127.0.0.1 only; every process started here is stopped on exit.
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

# The seed scenario, except that the ingress Gateway's HTTPS server takes any SNI (hosts "*"):
# wrk has no --resolve, so it connects to `localhost` (SNI localhost) and sends
# `Host: httpbin.example.com`, which the seed VirtualService routes.
cat >"$tmp/ingress-gateway.yaml" <<GW
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: my-ingressgateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: bench-credential}
GW
cat >"$tmp/bench-chain.yaml" <<YAML
name: bench-chain
istio: {version: "1.8.0"}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: bench-credential
manifests:
  - $root/fixtures/seed/operator.yaml
  - $root/fixtures/seed/egress.yaml
  - $tmp/ingress-gateway.yaml
  - $root/fixtures/seed/egress-gateway.yaml
  - $root/fixtures/seed/virtual-service.yaml
  - $root/fixtures/seed/service-entry.yaml
  - $root/fixtures/seed/destination-rule.yaml
  - $root/fixtures/seed/peer-authentication.yaml
secrets:
  - {name: <my-secret-name>, namespace: istio-system, hosts: [localhost]}
upstreams:
  - {host: httpbin.org, port: 443, tls: true}
workloads:
  - {name: sleep, namespace: httpbin, injected: true}
portForwards:
  - {service: istio-system/istio-ingressgateway, local: $sim_port, remote: 443}
YAML

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
"$egresslab" sim up "$tmp/bench-chain.yaml" >"$tmp/sim.log" 2>&1 &
pids+=($!)
ingress_port=""
for _ in $(seq 100); do
  ingress_port=$(sed -n "s/.*port-forward .* $sim_port:443 → 127.0.0.1:\([0-9]*\).*/\1/p" "$tmp/sim.log")
  [[ -n "$ingress_port" ]] && break
  sleep 0.1
done
[[ -n "$ingress_port" ]] || { echo "bench: sim up did not start" >&2; cat "$tmp/sim.log" >&2; exit 1; }

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
