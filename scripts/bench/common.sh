# Shared by the benchmarks in scripts/bench/: sourced, not run.
#   bench_egresslab BUILD_DIR     sets $egresslab (builds the release preset when BUILD_DIR is "")
#   bench_require TOOL...         exits 2 naming a missing tool
#   bench_start_cleanup           $tmp (a temp dir) and $pids: every pid in it is killed on exit
#   bench_free_ports N            prints N free 127.0.0.1 ports
#   bench_self_signed_cert C K    an EC P-256 localhost/127.0.0.1 certificate C with key K

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
