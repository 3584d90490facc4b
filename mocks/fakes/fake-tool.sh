#!/bin/bash
# The shared body of the stand-in kind, kubectl, istioctl, docker and helm programs
# (mocks/fakes/README.md). Usage: fake-tool.sh PROGRAM ARGS...
#
# 1. Appends one line to $EGRESSLAB_FAKE_LOG: PROGRAM and ARGS, each %q-quoted and separated
#    by single spaces (plain words appear unchanged: `kubectl apply -f -`).
# 2. Answers from the first rule in $EGRESSLAB_FAKE_SCRIPT whose bash glob PATTERN matches
#    "PROGRAM ARGS..." (joined by single spaces), else from the built-in answers below, else
#    exit 0 with no output.
set -u
# The fakes must work when a test's PATH holds nothing but the fakes themselves.
PATH="${PATH:+$PATH:}/usr/bin:/bin"

program="$1"
shift
line="$program${*:+ $*}"

if [[ -n "${EGRESSLAB_FAKE_LOG:-}" ]]; then
  record="$program"
  for arg in "$@"; do record+=" $(printf '%q' "$arg")"; done
  # One write per line (O_APPEND) so concurrent fakes never interleave within a line.
  printf '%s\n' "$record" >>"$EGRESSLAB_FAKE_LOG"
fi

# Saves stdin to $EGRESSLAB_FAKE_STDIN_DIR/<n>.stdin (n = this invocation's line in the log)
# when the invocation reads a manifest from stdin (`-f -`), and keeps it for `@stdin`.
stdin_copy=""
reads_stdin=0
prev=""
for arg in "$@"; do
  if [[ "$prev" == "-f" && "$arg" == "-" ]] || [[ "$arg" == "--filename=-" ]]; then reads_stdin=1; fi
  prev="$arg"
done
capture_stdin() {
  if [[ -z "$stdin_copy" ]]; then
    stdin_copy="$(mktemp)"
    cat >"$stdin_copy"
    if [[ -n "${EGRESSLAB_FAKE_STDIN_DIR:-}" && -n "${EGRESSLAB_FAKE_LOG:-}" ]]; then
      n="$(wc -l <"$EGRESSLAB_FAKE_LOG")"
      cp "$stdin_copy" "$EGRESSLAB_FAKE_STDIN_DIR/$((n)).stdin"
    fi
  fi
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() { if [[ -n "$stdin_copy" ]]; then rm -f "$stdin_copy"; fi; }
trap cleanup EXIT
if [[ "$reads_stdin" == 1 ]]; then capture_stdin; fi

# Prints a rule's output field: `\n`, `\t` and `\\` are escapes; `@stdin` echoes stdin;
# `@file:PATH` prints a file.
emit() {
  local text="$1"
  case "$text" in
    @stdin) capture_stdin; cat "$stdin_copy" ;;
    @file:*) cat "${text#@file:}" ;;
    "") ;;
    *) printf '%b' "$text" ;;
  esac
}

# A "hang": sleeps SECONDS in a child `sleep` (a grandchild of the runner) and waits for it.
# Appends "PID CHILD_PID" to $EGRESSLAB_FAKE_PIDS so tests can prove the whole group died.
# SECONDS ending in `!` ignores SIGTERM (shell and child), so only SIGKILL ends it.
hang() {
  local seconds="$1"
  if [[ "$seconds" == *'!' ]]; then
    seconds="${seconds%!}"
    trap '' TERM
  fi
  sleep "$seconds" &
  local child=$!
  if [[ -n "${EGRESSLAB_FAKE_PIDS:-}" ]]; then
    printf '%s %s\n' "$$" "$child" >>"$EGRESSLAB_FAKE_PIDS"
  fi
  # `wait` returns early on a trapped-but-ignored signal; keep waiting for the child.
  while kill -0 "$child" 2>/dev/null; do wait "$child"; done
}

answer() {
  local exit_code="$1" out="$2" seconds="${3:-}" err="${4:-}"
  if [[ -n "$seconds" && "$seconds" != "0" ]]; then hang "$seconds"; fi
  emit "$out"
  if [[ -n "$err" ]]; then emit "$err" >&2; fi
  exit "$exit_code"
}

if [[ -n "${EGRESSLAB_FAKE_SCRIPT:-}" && -f "$EGRESSLAB_FAKE_SCRIPT" ]]; then
  while IFS= read -r rule || [[ -n "$rule" ]]; do
    [[ -z "$rule" || "$rule" == '#'* ]] && continue
    # Split on every tab by hand: `read` with IFS=$'\t' would merge empty fields.
    fields=()
    rest="$rule"
    while [[ "$rest" == *$'\t'* ]]; do
      fields+=("${rest%%$'\t'*}")
      rest="${rest#*$'\t'}"
    done
    fields+=("$rest")
    pattern="${fields[0]}"
    # Unquoted right-hand side: PATTERN is a bash glob.
    # shellcheck disable=SC2053
    if [[ "$line" == $pattern ]]; then
      answer "${fields[1]:-0}" "${fields[2]:-}" "${fields[3]:-}" "${fields[4]:-}"
    fi
  done <"$EGRESSLAB_FAKE_SCRIPT"
fi

# Built-in answers: what the real tools print for the queries preflight makes. Versions can
# be changed with EGRESSLAB_FAKE_<TOOL>_VERSION.
kind_v="${EGRESSLAB_FAKE_KIND_VERSION:-0.20.0}"
kubectl_v="${EGRESSLAB_FAKE_KUBECTL_VERSION:-1.27.3}"
istio_v="${EGRESSLAB_FAKE_ISTIOCTL_VERSION:-1.24.2}"
docker_v="${EGRESSLAB_FAKE_DOCKER_VERSION:-24.0.5}"
helm_v="${EGRESSLAB_FAKE_HELM_VERSION:-3.12.3}"
case "$line" in
  "kind version")
    answer 0 "kind v${kind_v} go1.20.4 linux/amd64\n" ;;
  "kind get clusters")
    answer 0 "" "" "No kind clusters found.\n" ;;
  "kubectl version --client -o json" | "kubectl version --client --output=json")
    IFS=. read -r kmaj kmin _ <<<"$kubectl_v"
    answer 0 "{\n  \"clientVersion\": {\n    \"major\": \"${kmaj}\",\n    \"minor\": \"${kmin}\",\n    \"gitVersion\": \"v${kubectl_v}\",\n    \"platform\": \"linux/amd64\"\n  },\n  \"kustomizeVersion\": \"v5.0.1\"\n}\n" ;;
  "kubectl version --client"*)
    answer 0 "Client Version: v${kubectl_v}\nKustomize Version: v5.0.1\n" ;;
  "istioctl version --remote=false"*)
    answer 0 "client version: ${istio_v}\n" ;;
  "docker info --format "*)
    answer 0 "${docker_v}\n" ;;
  "docker info"*)
    answer 0 "Client:\n Context:    default\n\nServer:\n Containers: 0\n Server Version: ${docker_v}\n Storage Driver: overlay2\n" ;;
  "docker version"*)
    answer 0 "Client: Docker Engine - Community\n Version:           ${docker_v}\n" ;;
  "helm version"*)
    answer 0 "v${helm_v}+g3a31588\n" ;;
esac
exit 0
