#!/usr/bin/env bash
# Benchmark: the httpbin mock and the simulated mesh under slow clients (issue #14, "Done when":
# under 200 slow clients a normal request to the mock and through the simulated mesh is answered
# within 100 ms).
#
#   scripts/bench/slow-clients.sh [BUILD_DIR]
#
# Starts `egresslab mock httpbin` over HTTP (with its fault-control port) and over HTTPS, then
# holds SLOW_CLIENTS (default 200) connections to each data port and 16 to the control port:
# HTTP clients send a header byte every second, HTTPS clients a TLS record header announcing a
# handshake message and then a byte every second. It also starts `egresslab sim up` on the seed
# chain (scripts/bench/common.sh) and holds SLOW_CLIENTS slow TLS clients on its ingress gateway.
# While they hold on, it times REQUESTS (default 20) normal requests on each port with curl —
# through the mesh: ingress (TLS) → egress gateway → TLS origination → mock — and prints p50 and
# max against the 100 ms target.
# Exit 1 if a request fails or a max is over the target. Without BUILD_DIR (or
# $EGRESSLAB_BUILD_DIR) it builds the `release` preset first. Everything runs on 127.0.0.1;
# every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/bench/common.sh
bench_egresslab "${1:-${EGRESSLAB_BUILD_DIR:-}}"
bench_require openssl curl python3

slow=${SLOW_CLIENTS:-200}
requests=${REQUESTS:-20}
target_ms=100
bench_start_cleanup

read -r http https control sim_port < <(bench_free_ports 4)
bench_start_sim_chain "$sim_port"
mesh=$sim_ingress_port
bench_self_signed_cert "$tmp/cert.pem" "$tmp/key.pem"

"$egresslab" mock httpbin --quiet --listen "127.0.0.1:$http" --control "127.0.0.1:$control" \
  >"$tmp/mock-http.log" 2>&1 &
pids+=($!)
"$egresslab" mock httpbin --quiet --listen "127.0.0.1:$https" \
  --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" >"$tmp/mock-https.log" 2>&1 &
pids+=($!)

for url in "http://127.0.0.1:$http/get" "https://127.0.0.1:$https/get" \
  "http://127.0.0.1:$control/faults"; do
  for _ in $(seq 100); do
    curl -ksf -o /dev/null "$url" && continue 2
    sleep 0.1
  done
  echo "bench: $url never answered" >&2
  exit 2
done
for _ in $(seq 100); do
  curl -ksf -o /dev/null -H "Host: httpbin.example.com" "https://localhost:$mesh/status/200" && break
  sleep 0.1
done

# The slow clients: one process holding every connection, trickling until it is killed.
python3 - "$slow" "$http" "$https" "$control" "$mesh" "$tmp/slow.ready" <<'PY' &
import socket, sys, time
slow, http, https, control, mesh, ready = int(sys.argv[1]), *map(int, sys.argv[2:6]), sys.argv[6]
conns = []
def hold(port, count, prefix):
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(prefix)
        conns.append(s)
hold(http, slow, b"GET /get HTTP/1.1\r\nX-Slow: ")
hold(https, slow, b"\x16\x03\x01\x02\x00")
hold(control, 16, b"GET /faults HTTP/1.1\r\nX-Slow: ")
hold(mesh, slow, b"\x16\x03\x01\x02\x00")
open(ready, "w").close()
while True:
    for s in conns:
        try:
            s.send(b"a")
        except OSError:
            pass
    time.sleep(1)
PY
pids+=($!)
for _ in $(seq 300); do
  [[ -e "$tmp/slow.ready" ]] && break
  sleep 0.1
done
[[ -e "$tmp/slow.ready" ]] || { echo "bench: the slow clients did not connect" >&2; exit 2; }

status=0
printf '%-32s %8s %8s %8s\n' "while $slow slow clients hold on" "p50 ms" "max ms" "target"
for url in "http://127.0.0.1:$http/get" "https://127.0.0.1:$https/get" \
  "http://127.0.0.1:$control/faults" "https://localhost:$mesh/status/200"; do
  times=()
  for _ in $(seq "$requests"); do
    host=()  # the seed VirtualService routes httpbin.example.com; the mocks take their own Host
    [[ $url == *":$mesh/"* ]] && host=(-H "Host: httpbin.example.com")
    if ! t=$(curl -ksf -o /dev/null --max-time 10 "${host[@]}" -w '%{time_total}' "$url"); then
      echo "bench: $url failed" >&2
      status=1
      t=10
    fi
    times+=("$t")
  done
  read -r p50 max < <(printf '%s\n' "${times[@]}" | sort -n |
    awk '{v[NR]=$1} END {printf "%.1f %.1f\n", v[int((NR+1)/2)]*1000, v[NR]*1000}')
  verdict=ok
  awk -v m="$max" -v t="$target_ms" 'BEGIN {exit !(m > t)}' && { verdict=OVER; status=1; }
  printf '%-32s %8s %8s %5s ms %s\n' "${url#*//}" "$p50" "$max" "$target_ms" "$verdict"
done
exit "$status"
