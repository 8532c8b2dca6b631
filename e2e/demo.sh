#!/usr/bin/env bash
# `make demo`: veloxide's admission webhook refusing and accepting BackupStorageLocations as a
# user meets it, through the real kubectl. With no cluster given, everything runs on local
# stand-ins: kube-standin (e2e/) as the API server, `veloxide webhook` as the Service.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
work=$(mktemp -d "${TMPDIR:-/tmp}/veloxide-demo.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /' || true; }

if [ -n "${KUBECONFIG:-}" ]; then
  echo "KUBECONFIG is set, but installing veloxide into a cluster arrives with the Helm chart;"
  echo "this demo runs on local stand-ins and leaves your cluster alone."
fi

say "Building veloxide and the Kubernetes API stand-in"
cargo build -q --bin veloxide -p veloxide
cargo build -q --bin kube-standin -p e2e
bin="$repo/target/debug"

# Wait for a process to print its "listening on" line; echo the URL.
wait_for_line() {
  local file=$1 prefix=$2
  for _ in $(seq 1 200); do
    if line=$(grep -m1 "^$prefix" "$file" 2>/dev/null); then
      echo "${line#"$prefix"}"
      return 0
    fi
    sleep 0.05
  done
  echo "timed out waiting for '$prefix' in $file" >&2
  cat "$file" >&2
  return 1
}

say "Serving certificate for veloxide-webhook.velero.svc (webhook-certs/gen-dev-certs.sh)"
ca_bundle=$(bash webhook-certs/gen-dev-certs.sh -s veloxide-webhook -n velero -o "$work/certs" 2>/dev/null)
echo "  caBundle: ${ca_bundle:0:40}…"

"$bin/veloxide" webhook --listen 127.0.0.1:0 \
  --tls-cert-file "$work/certs/tls.crt" --tls-key-file "$work/certs/tls.key" \
  >"$work/webhook.out" 2>"$work/webhook.log" &
pids+=($!)
webhook_url=$(wait_for_line "$work/webhook.out" "veloxide webhook listening on ")
echo "  veloxide webhook: $webhook_url"

"$bin/kube-standin" --listen 127.0.0.1:0 --kubeconfig "$work/kubeconfig" \
  --webhook-endpoint "velero/veloxide-webhook=${webhook_url#https://}" \
  >"$work/standin.out" 2>"$work/standin.log" &
pids+=($!)
api_url=$(wait_for_line "$work/standin.out" "kube-standin listening on ")
echo "  kube-standin (API server): $api_url"
export KUBECONFIG="$work/kubeconfig"

say "Install the CRDs and register the webhook"
show kubectl apply -f crds/
# Imperative `kubectl create` sends protobuf, which the stand-in does not speak (e2e/README.md);
# render with --dry-run=client and apply, which works the same against any API server.
apply_generated() { kubectl "$@" --dry-run=client -o yaml | kubectl apply -f -; }
show apply_generated create namespace velero
sed "s|@CA_BUNDLE@|$ca_bundle|" e2e/demo/webhook.yaml.in >"$work/webhook.yaml"
show kubectl apply -f "$work/webhook.yaml"
show apply_generated -n velero create secret generic storage-ca-cert --from-file=ca-bundle.crt="$work/certs/ca.crt"

for manifest in e2e/demo/0*.yaml; do
  say "$(sed -n '1s/^# //p' "$manifest")"
  sed "s|@CA_BUNDLE@|$ca_bundle|" "$manifest" >"$work/$(basename "$manifest")"
  show kubectl apply -f "$work/$(basename "$manifest")"
done

say "What was accepted"
show kubectl get bsl -n velero

say "The same checks offline, for CI pipelines: veloxide backup-location validate"
show "$bin/veloxide" backup-location validate -f "$work/03-typo.yaml"
echo
echo "Demo done. 'make test' runs every scenario above as a test."
