#!/usr/bin/env bash
# Installs what the Helm chart's checks (e2e/tests/chart.rs) need, idempotently, into the
# repo-relative, gitignored .work/:
#   - helm, through e2e/tools/install-helm.sh (pinned there);
#   - .work/venv-k8s: kubernetes-validate, which validates built-in kinds offline against the
#     Kubernetes OpenAPI schemas it ships (no cluster, no network at test time);
#   - .work/chart-node: the npm packages that validate the chart's custom resources of other
#     projects offline (prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule,
#     cert-manager's Certificate and Issuer) and parse the alert expressions as PromQL.
# Called by e2e/tools/install-test-tools.sh; safe to run on its own.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$root/.work"
mkdir -p "$work"

bash "$root/e2e/tools/install-helm.sh"

# Pinned so a new release cannot change what the tests see; bump deliberately.
kv_version="1.37.0"
venv="$work/venv-k8s"
stamp="$venv/.veloxide-kubernetes-validate-$kv_version"
if [[ ! -f "$stamp" ]]; then
    # Debian's python3 (not a pyenv shim), so CI machines without pyenv behave the same.
    python=/usr/bin/python3
    [[ -x "$python" ]] || python="$(command -v python3)"
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv
    fi
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==$kv_version"
    touch "$stamp"
fi
"$venv/bin/kubernetes-validate" --version >/dev/null

node_dir="$work/chart-node"
node_packages=(
    "@kubernetes-models/prometheus-operator@6.0.0"
    "@kubernetes-models/cert-manager@6.0.0"
    "@prometheus-io/lezer-promql@0.315.0"
    "@lezer/lr@1.4.12"
    "@lezer/highlight@1.2.5"
)
node_stamp="$node_dir/.veloxide-$(printf '%s\n' "${node_packages[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f "$node_stamp" ]]; then
    command -v npm >/dev/null || { echo "install-chart-tools.sh: npm is required" >&2; exit 1; }
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    echo '{"name": "veloxide-chart-tools", "private": true}' >"$node_dir/package.json"
    (cd "$node_dir" && npm install --silent --no-audit --no-fund --save-exact "${node_packages[@]}")
    touch "$node_stamp"
fi
# Smoke check: the validator the tests run loads the packages and accepts a minimal rule.
echo '[{"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "smoke"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]}}]' |
    node "$root/charts/veloxide/ci/validate-custom-resources.mjs" "$node_dir" >/dev/null

echo "chart tools ready: $work/bin/helm, $venv/bin/kubernetes-validate ($kv_version), $node_dir"
