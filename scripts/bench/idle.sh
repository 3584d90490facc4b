#!/usr/bin/env bash
# Benchmark: many idle and slow downstream connections against the simulated ingress gateway and
# against nginx, side by side in one run. The data plane is event-driven: a connection costs a
# socket and a small coroutine frame, never a thread (issue target: 10,000 idle connections under
# 256 MiB RSS while the mesh still answers; a slow client costs one connection, not a thread).
#
#   scripts/bench/idle.sh [BUILD_DIR]      (BENCH_CONNECTIONS, default 10000; a tenth of them are
#                                           slow clients sending one header byte every 2 s)
#
# 127.0.0.1 only; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

source scripts/bench/common.sh
bench_egresslab "${1:-${EGRESSLAB_BUILD_DIR:-}}"
bench_require nginx curl python3
nginx_bin=$(command -v nginx)
connections=${BENCH_CONNECTIONS:-10000}
bench_start_cleanup

read -r sim_port ng_port < <(bench_free_ports 2)

cat >"$tmp/idle.yaml" <<YAML
name: bench-idle
istio: {version: "1.8.0"}
vars:
  my-proxied-service-hostname: httpbin.example.com
  my-secret-name: bench-credential
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
  - {name: <my-secret-name>, namespace: istio-system, hosts: [httpbin.example.com]}
upstreams:
  - {host: httpbin.org, port: 443, tls: true}
workloads:
  - {name: sleep, namespace: httpbin, injected: true}
portForwards:
  - {service: istio-system/istio-ingressgateway, local: $sim_port, remote: 80}
YAML

mkdir -p "$tmp/logs"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 2;
worker_rlimit_nofile 20000;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server { listen 127.0.0.1:$ng_port backlog=4096; location / { return 301 https://\$host/; } }
}
CONF
"$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/logs/error.log" &
pids+=($!)
"$egresslab" sim up "$tmp/idle.yaml" >"$tmp/sim.log" 2>&1 &
simpid=$!
pids+=($simpid)

# The ingress gateway's own port (not the literal port-forward, which tunnels).
ingress_port=""
for _ in $(seq 100); do
  ingress_port=$(sed -n "s/.*port-forward .* $sim_port:80 → 127.0.0.1:\([0-9]*\).*/\1/p" "$tmp/sim.log")
  [[ -n "$ingress_port" ]] && break
  sleep 0.1
done
[[ -n "$ingress_port" ]] || { echo "bench: sim up did not start" >&2; cat "$tmp/sim.log" >&2; exit 1; }

status() { curl -s -o /dev/null -w '%{http_code}' -H 'Host: httpbin.example.com' "$1" || true; }
rss_kib() { awk '/^VmRSS:/ {s += $2} END {print s + 0}' "$@" 2>/dev/null; }
threads() { awk '/^Threads:/ {s += $2} END {print s + 0}' "$@" 2>/dev/null; }
nginx_status_files() { for p in $(pgrep -P "$(cat "$tmp/nginx.pid")"); do echo "/proc/$p/status"; done; }

# Holds N connections to a port (a tenth of them dribbling one byte every 2 s) until stdin closes;
# prints "ready" once all are connected.
holder() {
  python3 - "$1" "$connections" <<'PY'
import select, socket, sys, threading, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
slow = socks[::10]
for s in slow:
    s.send(b"GET / HTTP/1.1\r\nHost: httpbin.example.com\r\nX-Slow: ")
print("ready", flush=True)
def dribble():
    while True:
        time.sleep(2)
        for s in slow:
            try:
                s.send(b"a")
            except OSError:
                pass
threading.Thread(target=dribble, daemon=True).start()
sys.stdin.read()
PY
}

measure() {  # NAME URL STATUSFILES... : RSS and threads before/with N connections, and a request
  local name=$1 url=$2 port=$3
  shift 3
  local rss0 thr0 rss1 thr1 code
  rss0=$(rss_kib "$@")
  thr0=$(threads "$@")
  exec 3> >(holder "$port" >"$tmp/holder-$name.out")
  for _ in $(seq 600); do grep -q ready "$tmp/holder-$name.out" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  rss1=$(rss_kib "$@")
  thr1=$(threads "$@")
  code=$(status "$url")
  exec 3>&-
  printf '%-7s RSS %6d -> %6d KiB (+%d KiB for %d connections), threads %d -> %d, request while held: %s\n' \
    "$name" "$rss0" "$rss1" "$((rss1 - rss0))" "$connections" "$thr0" "$thr1" "$code"
}

for url in "http://127.0.0.1:$ingress_port/status/200" "http://127.0.0.1:$ng_port/"; do
  for _ in $(seq 100); do [[ $(status "$url") == 301 ]] && break; sleep 0.1; done
done
echo "bench: $connections connections held (1 in 10 a slow client), 127.0.0.1 ($(nproc) cores)"
measure sim "http://127.0.0.1:$ingress_port/status/200" "$ingress_port" "/proc/$simpid/status"
sleep 1
measure nginx "http://127.0.0.1:$ng_port/" "$ng_port" $(nginx_status_files)
