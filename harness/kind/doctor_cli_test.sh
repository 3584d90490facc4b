#!/bin/bash
# `egresslab doctor` end to end (docs/design.md exit codes), with the stand-in tools of
# mocks/fakes on a temp PATH. Usage: doctor_cli_test.sh EGRESSLAB_BINARY FAKES_DIR
set -euo pipefail
egresslab="$1"
fakes="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

make_bin() {  # make_bin DIR TOOL... — a PATH directory with just these fakes
  mkdir -p "$1"
  local dir="$1"
  shift
  for tool in "$@"; do ln -s "$fakes/$tool" "$dir/$tool"; done
}

# 1. Everything present: exit 0 and a table with every tool's version.
make_bin "$work/all" kind kubectl istioctl docker
set +e
out="$(PATH="$work/all" "$egresslab" doctor 2>&1)"
code=$?
set -e
[[ $code == 0 ]] || fail "all tools present: exit $code, want 0; output:\n$out"
for want in "docker" "24.0.5" "kind" "0.20.0" "kubectl" "1.27.3" "istioctl" "1.24.2"; do
  [[ "$out" == *"$want"* ]] || fail "all tools present: output lacks '$want':\n$out"
done

# 2. kubectl missing: exit 3, kubectl named with an install hint.
make_bin "$work/nokubectl" kind istioctl docker
set +e
out="$(PATH="$work/nokubectl" "$egresslab" doctor 2>&1)"
code=$?
set -e
[[ $code == 3 ]] || fail "kubectl missing: exit $code, want 3; output:\n$out"
[[ "$out" == *"kubectl (missing)"* ]] || fail "kubectl missing: not named:\n$out"
[[ "$out" == *"https://dl.k8s.io/release/"* ]] || fail "kubectl missing: no install hint:\n$out"

# 3. istioctl 1.24 against a requested 1.8 (docs/istio-behaviour.md §10): exit 3, says why.
set +e
out="$(PATH="$work/all" "$egresslab" doctor --istio-version 1.8 2>&1)"
code=$?
set -e
[[ $code == 3 ]] || fail "version mismatch: exit $code, want 3; output:\n$out"
[[ "$out" == *"major.minor must match"* ]] || fail "version mismatch: no reason:\n$out"

# 4. A malformed --istio-version is a usage error.
set +e
PATH="$work/all" "$egresslab" doctor --istio-version latest >/dev/null 2>&1
code=$?
set -e
[[ $code == 2 ]] || fail "bad --istio-version: exit $code, want 2"
echo "doctor CLI: 4 checks passed"
