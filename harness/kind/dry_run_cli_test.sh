#!/bin/bash
# `egresslab run --backend kind --dry-run` end to end: with an EMPTY PATH (no kind, kubectl,
# istioctl, docker) it exits 0 and prints the plan, one command per line, that reads like the
# seed post's steps (docs/design.md `run --dry-run`, issue 6).
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
if grep -n -v -E '^(docker|kind|kubectl|istioctl|curl|egresslab) ' "$work/plan"; then
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

# A 1.22 scenario without `istio.install` installs as 1.22's docs do: `istioctl install -f`.
PATH="" "$egresslab" run --backend kind --dry-run scenarios/four-upstreams.yaml \
  >"$work/plan-122" 2>"$work/err" || fail "1.22 dry run failed: $(cat "$work/err")"
grep -q -E '^istioctl install -y -f \$\{RUN_DIR\}/manifests/' "$work/plan-122" ||
  fail "1.22 without install: must use istioctl install:\n$(cat "$work/plan-122")"
! grep -q -E 'operator init|manifest generate' "$work/plan-122" ||
  fail "1.22 without install: must not use the operator flow"

# --plan-dir: plan.sh beside every document it applies; the console names those files.
PATH="" "$egresslab" run --backend kind --dry-run --plan-dir "$work/d" scenarios/seed-httpbin.yaml \
  >"$work/plan-dir" 2>"$work/err" || fail "--plan-dir dry run failed: $(cat "$work/err")"
[[ -x "$work/d/plan.sh" ]] || fail "no executable $work/d/plan.sh"
bash -n "$work/d/plan.sh" || fail "plan.sh is not valid bash"
grep -q -F "kubectl apply -f - < $work/d/09-operator.yaml" "$work/plan-dir" ||
  fail "the console does not name the applied files:\n$(cat "$work/plan-dir")"
! grep -q -x -F "kubectl apply -f -" "$work/plan-dir" || fail "a bare kubectl apply -f - is left"
for f in 09-operator.yaml manifests/egress.yaml ca.crt public-ca.crt \
  secrets/istio-system/httpbin-credential.key upstreams/httpbin.org-443.crt; do
  [[ -f "$work/d/$f" ]] || fail "$f missing from the plan directory"
done
steps="$(PATH=/usr/bin:/bin bash "$work/d/plan.sh" --list | wc -l)"
(( steps > 40 )) || fail "plan.sh --list shows only $steps steps"
grep -q -F 'export KUBECONFIG="${RUN_DIR}/kubeconfig"' "$work/d/plan.sh" ||
  fail "plan.sh does not use the run's own kubeconfig"
# With --context the plan uses the user's kubeconfig and names the context.
PATH="" "$egresslab" run --backend kind --dry-run --context kind-prod --plan-dir "$work/c" \
  scenarios/seed-httpbin.yaml >/dev/null 2>"$work/err" || fail "--context --plan-dir failed"
! grep -q 'export KUBECONFIG' "$work/c/plan.sh" || fail "--context plan.sh must keep KUBECONFIG"
grep -q -F -- "kubectl --context kind-prod apply -f - < \"\${RUN_DIR}/" "$work/c/plan.sh" ||
  fail "--context plan.sh lacks the context"
# --plan-dir belongs to the kind dry run.
set +e
"$egresslab" run --plan-dir "$work/x" scenarios/seed-httpbin.yaml >/dev/null 2>&1
code=$?
set -e
[[ $code == 2 ]] || fail "--plan-dir without --backend kind --dry-run: exit $code, want 2"

echo "ok: $(wc -l <"$work/plan") planned commands"
