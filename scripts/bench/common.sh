# Shared by the benchmarks in scripts/bench/: sourced, not run.
#   bench_egresslab BUILD_DIR     sets $egresslab (builds the release preset when BUILD_DIR is "")
#   bench_require TOOL...         exits 2 naming a missing tool
#   bench_start_cleanup           $tmp (a temp dir) and $pids: every pid in it is killed on exit
#   bench_free_ports N            prints N free 127.0.0.1 ports
#   bench_self_signed_cert C K    an EC P-256 localhost/127.0.0.1 certificate C with key K
#   bench_start_sim_chain PORT    `egresslab sim up` on the seed chain with its ingress
#                                 port-forward on PORT; sets $sim_ingress_port (the ingress
#                                 gateway's own listener) once it answers

bench_egresslab() {
  local build_dir=$1
  if [[ -z "$build_dir" ]]; then
    echo "bench: building the release preset"
    cmake --preset release >/dev/null
    cmake --build --preset release --target egresslab >/dev/null
    build_dir=build/release
  fi
  egresslab=$build_dir/harness/cli/egresslab
  [[ -x "$egresslab" ]] || { echo "bench: $egresslab not found (build it first)" >&2; exit 2; }
}

bench_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required (scripts/setup installs it)" >&2; exit 2; }
  done
}

bench_start_cleanup() {
  tmp=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}

# Bound then released; nothing else on this machine races for loopback ephemeral ports.
bench_free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
}

bench_self_signed_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$2" -out "$1" 2>/dev/null
}

# The seed scenario, except that the ingress Gateway's HTTPS server takes any SNI (hosts "*"):
# wrk has no --resolve, so it connects to `localhost` (SNI localhost) and sends
# `Host: httpbin.example.com`, which the seed VirtualService routes.
bench_start_sim_chain() {
  local sim_port=$1 root=$PWD
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
  "$egresslab" sim up "$tmp/bench-chain.yaml" >"$tmp/sim.log" 2>&1 &
  pids+=($!)
  sim_ingress_port=""
  for _ in $(seq 100); do
    sim_ingress_port=$(sed -n "s/.*port-forward .* $sim_port:443 → 127.0.0.1:\([0-9]*\).*/\1/p" \
      "$tmp/sim.log")
    [[ -n "$sim_ingress_port" ]] && return 0
    sleep 0.1
  done
  echo "bench: sim up did not start" >&2
  cat "$tmp/sim.log" >&2
  exit 1
}
