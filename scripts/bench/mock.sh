#!/usr/bin/env bash
# Benchmark: the httpbin mock against nginx `return 200`, side by side, over HTTP and HTTPS
# keep-alive (docs/design.md performance target: the mock at >= 0.5x nginx on both).
#
#   scripts/bench/mock.sh [BUILD_DIR]
#
# Without BUILD_DIR (or $EGRESSLAB_BUILD_DIR) it builds the `release` preset first. Everything
# runs on 127.0.0.1 with wrk -t2 -c32 -d5s; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/bench/common.sh
bench_egresslab "${1:-${EGRESSLAB_BUILD_DIR:-}}"
bench_require wrk nginx openssl curl python3
nginx_bin=$(command -v nginx)

duration=${BENCH_DURATION:-5s}
bench_start_cleanup

read -r mock_http mock_https nginx_http nginx_https < <(bench_free_ports 4)

# One EC P-256 certificate for both servers, so the TLS work is the same.
bench_self_signed_cert "$tmp/cert.pem" "$tmp/key.pem"

# nginx with the mock's core budget (2 workers = the 2 cores the mock's threads use), keep-alive
# without a request cap, no access log (the mock runs with --quiet), TLS 1.2+.
mkdir -p "$tmp/logs"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_http;
    location / { return 200; }
  }
  server {
    listen 127.0.0.1:$nginx_https ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200; }
  }
}
CONF

"$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/logs/error.log" &
pids+=($!)
"$egresslab" mock httpbin --quiet --listen "127.0.0.1:$mock_http" >"$tmp/mock-http.log" 2>&1 &
pids+=($!)
"$egresslab" mock httpbin --quiet --listen "127.0.0.1:$mock_https" \
  --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" >"$tmp/mock-https.log" 2>&1 &
pids+=($!)

wait_ready() {  # URL: poll until it answers 200, for at most 10 s
  for _ in $(seq 100); do
    if [[ $(curl -sk -o /dev/null -w '%{http_code}' "$1" || true) == 200 ]]; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  cat "$tmp"/*.log "$tmp/logs/error.log" >&2 2>/dev/null || true
  exit 1
}
for url in "http://127.0.0.1:$nginx_http/" "https://127.0.0.1:$nginx_https/" \
  "http://127.0.0.1:$mock_http/status/200" "https://127.0.0.1:$mock_https/status/200"; do
  wait_ready "$url"
done

rps() {  # URL → requests/s (a 1 s warm-up run first, discarded)
  wrk -t2 -c32 -d1s "$1" >/dev/null
  wrk -t2 -c32 -d"$duration" "$1" | awk '/^Requests\/sec:/ {printf "%.0f", $2}'
}

echo "bench: wrk -t2 -c32 -d$duration, keep-alive, 127.0.0.1 ($(nproc) cores)"
mock_http_rps=$(rps "http://127.0.0.1:$mock_http/status/200")
nginx_http_rps=$(rps "http://127.0.0.1:$nginx_http/")
mock_https_rps=$(rps "https://127.0.0.1:$mock_https/status/200")
nginx_https_rps=$(rps "https://127.0.0.1:$nginx_https/")
mock_get_rps=$(rps "http://127.0.0.1:$mock_http/get")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" 'BEGIN { print (r >= 0.5 ? "ok (>= 0.50)" : "BELOW TARGET (< 0.50)") }'; }
http_ratio=$(ratio "$mock_http_rps" "$nginx_http_rps")
https_ratio=$(ratio "$mock_https_rps" "$nginx_https_rps")

printf '\n%-26s %14s %14s %8s  %s\n' "scenario" "mock req/s" "nginx req/s" "ratio" "target"
printf '%-26s %14s %14s %8s  %s\n' "HTTP keep-alive" "$mock_http_rps" "$nginx_http_rps" \
  "$http_ratio" "$(verdict "$http_ratio")"
printf '%-26s %14s %14s %8s  %s\n' "HTTPS keep-alive" "$mock_https_rps" "$nginx_https_rps" \
  "$https_ratio" "$(verdict "$https_ratio")"
printf '%-26s %14s %14s %8s  %s\n' "HTTP /get (JSON echo)" "$mock_get_rps" "-" \
  "$(ratio "$mock_get_rps" "$nginx_http_rps")" "(information)"
echo "(mock: /status/200; nginx: return 200; same EC P-256 certificate; mock and nginx share the cores with wrk)"

awk -v a="$http_ratio" -v b="$https_ratio" 'BEGIN { exit !(a >= 0.5 && b >= 0.5) }'
