#!/bin/bash
# Every shipped scenario (scenarios/*.yaml and scenarios/traps/*.yaml) is planned by
# `egresslab run --backend kind --dry-run` with an EMPTY PATH: exit 0, every plan line a tool
# the backend runs, and every upstream server with its own mock and its own DNAT rule
# (docs/kind.md "Upstreams").
# Usage: dry_run_every_scenario_test.sh EGRESSLAB_BINARY SOURCE_DIR
set -uo pipefail
egresslab="$1"
source_dir="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

cd "$source_dir" || exit 1
count=0
for scenario in scenarios/*.yaml scenarios/traps/*.yaml; do
  count=$((count + 1))
  PATH="" "$egresslab" run --backend kind --dry-run "$scenario" >"$work/out" 2>"$work/err"
  code=$?
  if [[ $code != 0 ]]; then
    fail "$scenario: exit $code, want 0: $(cat "$work/err")"
    continue
  fi
  # The plan: the lines after the console's scenario block (which starts with ▶, -, or spaces).
  grep -v -E '^(▶|-|  )' "$work/out" >"$work/plan"
  if bad=$(grep -n -v -E '^(docker|kind|kubectl|istioctl|helm|curl|egresslab|after [0-9]+ms) ' \
    "$work/plan"); then
    fail "$scenario: plan lines that are no command: $bad"
  fi
  mocks=$(grep -c '^egresslab mock httpbin ' "$work/plan")
  rules=$(grep -c '^docker exec \${NODE} iptables -t nat -I PREROUTING 1 ' "$work/plan")
  [[ $mocks == "$rules" ]] || fail "$scenario: $mocks upstream mocks but $rules DNAT rules"
  ports=$(grep '^egresslab mock httpbin ' "$work/plan" | awk '{print $5}' | sort | uniq -d)
  [[ -z $ports ]] || fail "$scenario: two mocks listen on $ports"
done
((count > 20)) || fail "only $count scenarios found"
((failures == 0)) || exit 1
echo "ok: $count scenarios planned"
