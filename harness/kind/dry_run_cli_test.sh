#!/bin/bash
# `egresslab run --backend kind --dry-run` end to end: with an EMPTY PATH (no kind, kubectl,
# istioctl, docker) it exits 0 and prints the plan, one command per line, that reads like the
# seed post's steps (DESIGN.md `run --dry-run`, issue 6).
# Usage: dry_run_cli_test.sh EGRESSLAB_BINARY SOURCE_DIR
set -euo pipefail
egresslab="$1"
source_dir="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cd "$source_dir"
set +e
PATH="" "$egresslab" run --backend kind --dry-run scenarios/seed-httpbin.yaml \
  >"$work/plan" 2>"$work/err"
code=$?
set -e
[[ $code == 0 ]] || fail "exit $code, want 0; stderr:\n$(cat "$work/err")"

# The post's steps, in its order.
want=(
  "kind create cluster --name egresslab --config $source_dir/fixtures/kind/config.yaml --wait 120s"
  "istioctl operator init --watchedNamespaces=istio-operator"
  "kubectl create ns istio-system"
  "kubectl apply -f -"
  "kubectl create ns httpbin"
  "istioctl manifest generate -f \${RUN_DIR}/manifests/egress.yaml | kubectl apply -f -"
  "kubectl create -n istio-system secret tls httpbin-credential"
  "istioctl analyze --all-namespaces"
  "kubectl -n istio-system port-forward svc/istio-ingressgateway 15443:443"
  "kubectl label namespace httpbin istio-injection=enabled --overwrite"
  "kubectl exec -n httpbin deploy/sleep -c sleep -- curl"
  "kind delete cluster --name egresslab"
)
last=0
for line in "${want[@]}"; do
  n="$(grep -n -F -- "$line" "$work/plan" | head -1 | cut -d: -f1)"
  [[ -n "$n" ]] || fail "the plan lacks '$line':\n$(cat "$work/plan")"
  # The post labels the namespace after the port-forward; the plan labels it before the
  # workloads start, so order is only checked for the other steps.
  if [[ "$line" != kubectl\ label* && "$line" != kubectl\ exec* ]]; then
    (( n >= last )) || fail "'$line' (line $n) comes before an earlier step (line $last)"
    last=$n
  fi
done
# Every line is one command (no blank lines, no prose).
if grep -n -v -E '^(docker|kind|kubectl|istioctl|curl) ' "$work/plan"; then
  fail "lines above are not commands"
fi

# --context: an existing cluster is used as it is — never created, never deleted — and every
# kubectl/istioctl call names the context.
PATH="" "$egresslab" run --backend kind --dry-run --context kind-prod scenarios/seed-httpbin.yaml \
  >"$work/plan-context" 2>"$work/err" || fail "--context dry run failed: $(cat "$work/err")"
! grep -q -E '^kind (create|delete) cluster' "$work/plan-context" ||
  fail "--context must not create or delete a cluster:\n$(cat "$work/plan-context")"
grep -q -F "kubectl --context kind-prod apply -f -" "$work/plan-context" ||
  fail "kubectl calls lack --context kind-prod:\n$(cat "$work/plan-context")"
# The kind-only flags are refused with another backend.
set +e
"$egresslab" run --reuse-cluster scenarios/seed-httpbin.yaml >/dev/null 2>&1
code=$?
set -e
[[ $code == 2 ]] || fail "--reuse-cluster with the sim backend: exit $code, want 2"

echo "ok: $(wc -l <"$work/plan") planned commands"
