#!/usr/bin/env bash
# `make demo`: veloxide doing its main job, through the real kubectl, on a local control plane:
# kube-apiserver, etcd, kube-controller-manager, kube-scheduler and a node (containerd + kubelet)
# (e2e/tools/control-plane.sh --nodes 1, built from Go modules on first use), moto over HTTPS behind a private CA as the object store, and
# `veloxide server` (controllers, admission webhook, metrics) as the operator, running with the
# identity and RBAC rules the Helm chart grants.
#   1. misconfigured locations refused at `kubectl apply` with messages that say what to fix;
#   2. a location becoming Available (TLS to a private CA, credentials, bucket, SSE round trip);
#   3. a bad CA rotation making it Unavailable with a clear reason, then a fix bringing it back;
#   4. a backup encrypted with SSE-KMS, checked with an independent client, its log fetched over
#      the private CA, and a restore of the namespace it saved;
#   5. a StatefulSet writing to its volume on the node (a PVC of the CSI driver when the
#      StorageClass veloxide-csi exists, else an emptyDir), shown running; with the CSI
#      driver, backed up with a CSI snapshot of its volume, its namespace deleted, restored,
#      and its file read back.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
work=$(mktemp -d "${TMPDIR:-/tmp}/veloxide-demo.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash e2e/tools/control-plane.sh down "$work/cluster" 2>/dev/null || true
  bash e2e/tools/control-plane.sh down "$work/cluster-b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /' || true; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Wait for a process to print its "listening on" line; echo what follows it.
wait_for_line() {
  local file=$1 prefix=$2
  for _ in $(seq 1 300); do
    if line=$(grep -m1 "^$prefix" "$file" 2>/dev/null); then
      echo "${line#"$prefix"}"
      return 0
    fi
    sleep 0.1
  done
  echo "timed out waiting for '$prefix' in $file" >&2
  cat "$file" "${file%.out}.log" >&2 2>/dev/null || true
  return 1
}
ca() { # ca NAME: a CA certificate and key in $work/NAME.{crt,key}
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=$1" \
    -addext basicConstraints=critical,CA:TRUE -keyout "$work/$1.key" -out "$work/$1.crt" 2>/dev/null
}

if [ -n "${KUBECONFIG:-}" ]; then
  echo "KUBECONFIG is set, but this demo runs on a local control plane and leaves your cluster"
  echo "alone; install into a cluster with the Helm chart (charts/veloxide/README.md)."
fi

say "Building veloxide; installing the local S3 server (moto), Helm and the control plane"
cargo build -q --bin veloxide -p veloxide
bash e2e/tools/install-s3-peers.sh >/dev/null
bash e2e/tools/install-helm.sh >/dev/null
bash e2e/tools/build-control-plane.sh >/dev/null
bash e2e/tools/build-kubectl.sh >/dev/null
bin="$repo/target/debug"

say "An S3 store behind a private CA (moto over HTTPS)"
ca store-ca
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$work/store.key" -out "$work/store.csr" 2>/dev/null
openssl x509 -req -in "$work/store.csr" -CA "$work/store-ca.crt" -CAkey "$work/store-ca.key" \
  -CAcreateserial -days 10 -out "$work/store.crt" \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1') 2>/dev/null
s3_port=$(free_port)
.work/venv/bin/moto_server -H 127.0.0.1 -p "$s3_port" -c "$work/store.crt" -k "$work/store.key" \
  >"$work/moto.log" 2>&1 &
pids+=($!)
s3_url="https://127.0.0.1:$s3_port"
for _ in $(seq 1 100); do curl -sf --cacert "$work/store-ca.crt" "$s3_url/" -o /dev/null && break; sleep 0.2; done
curl -sf --cacert "$work/store-ca.crt" -X PUT "$s3_url/velero-backups" -o /dev/null
aws() { AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo-secret AWS_DEFAULT_REGION=us-east-1 \
  .work/venv/bin/aws --endpoint-url "$s3_url" --ca-bundle "$work/store-ca.crt" "$@"; }
key_id=$(aws kms create-key --description "veloxide demo backups" --query KeyMetadata.KeyId --output text)
aws kms create-alias --alias-name alias/velero-backups --target-key-id "$key_id"
aws kms enable-key-rotation --key-id "$key_id"
echo "  $s3_url, bucket velero-backups, CA store-ca"
echo "  KMS key $key_id, alias/velero-backups, rotation $(aws kms get-key-rotation-status --key-id "$key_id" --query KeyRotationEnabled --output text)"

say "A Kubernetes cluster on this machine (kube-apiserver with RBAC, etcd, controllers, scheduler, a node)"
bash e2e/tools/control-plane.sh up "$work/cluster" --nodes 1 >/dev/null
export KUBECONFIG="$work/cluster/kubeconfig"
# kubectl of the control plane's own release (control-plane.sh links it into DIR/bin), so
# `kubectl version` below has no client/server skew to warn about.
export PATH="$work/cluster/bin:$PATH"
show kubectl version
show kubectl get nodes -o wide
ca_bundle=$(bash webhook-certs/gen-dev-certs.sh -s veloxide-webhook -n velero -o "$work/certs" --san IP:127.0.0.1 2>/dev/null)
webhook_port=$(free_port)

say "Install the CRDs, the webhook registration and the Secrets a location names"
# `kubectl create --dry-run=client -o yaml | kubectl apply`: create, or update on a re-run
apply_generated() { kubectl "$@" --dry-run=client -o yaml | kubectl apply -f -; }
show kubectl apply -f crds/
show apply_generated create namespace velero
sed -e "s|@CA_BUNDLE@|$ca_bundle|" -e "s|@WEBHOOK_URL@|https://127.0.0.1:$webhook_port|" \
  e2e/demo/webhook.yaml.in >"$work/webhook.yaml"
show kubectl apply -f "$work/webhook.yaml"
# The server runs as the chart's ServiceAccount, with exactly the rules the chart grants; hooks
# on (pods/exec cluster-wide here; hooks.namespaces narrows it), so a pre hook can freeze the
# ledger's writes while its volume is snapshotted (docs/hooks.md).
show kubectl apply -f <(.work/bin/helm template veloxide charts/veloxide -n velero \
  --set hooks.enabled=true --set hooks.clusterWide=true \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml)
server_kubeconfig=$(bash e2e/tools/control-plane.sh user "$work/cluster" system:serviceaccount:velero:veloxide \
  system:serviceaccounts system:serviceaccounts:velero system:authenticated)
show apply_generated -n velero create secret generic storage-ca-cert --from-file=ca-bundle.crt="$work/store-ca.crt"
printf '[default]\naws_access_key_id=demo\naws_secret_access_key=demo-secret\n' >"$work/credentials"
show apply_generated -n velero create secret generic cloud-credentials --from-file=cloud="$work/credentials"

say "Start the operator: veloxide server (controllers on the lease holder, webhook, metrics)"
KUBECONFIG="$server_kubeconfig" "$bin/veloxide" server --namespace velero --secrets-scope namespace \
  --metrics-listen 127.0.0.1:0 --hooks-enabled \
  --webhook-listen "127.0.0.1:$webhook_port" \
  --tls-cert-file "$work/certs/tls.crt" --tls-key-file "$work/certs/tls.key" \
  >"$work/server.out" 2>"$work/server.log" &
pids+=($!)
metrics_url=$(wait_for_line "$work/server.out" "veloxide metrics listening on ")
wait_for_line "$work/server.out" "veloxide webhook listening on " >/dev/null
for _ in $(seq 1 100); do curl -sf "$metrics_url/readyz" -o /dev/null && break; sleep 0.1; done
echo "  ready: $(curl -s "$metrics_url/readyz"), metrics at $metrics_url/metrics"

for manifest in e2e/demo/0*.yaml; do
  say "Refused or accepted at apply time: $(sed -n '1s/^# //p' "$manifest")"
  sed -e "s|@CA_BUNDLE@|$ca_bundle|" -e "s|@STORE_CA@|$(base64 -w0 "$work/store-ca.crt")|" \
    -e "s|@S3_URL@|$s3_url|" "$manifest" >"$work/$(basename "$manifest")"
  show kubectl apply -f "$work/$(basename "$manifest")"
done

say "A location on the private-CA store, with SSE-KMS, becomes Available"
sed "s|@S3_URL@|$s3_url|" e2e/demo/10-location.yaml.in >"$work/location.yaml"
show kubectl apply -f "$work/location.yaml"
show kubectl -n velero wait --for=condition=Ready bsl/default --timeout=30s
show kubectl -n velero get bsl default
show kubectl -n velero get bsl default -o 'jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}'

say "A bad rotation: the CA Secret now holds a CA that did not sign the store's certificate"
ca wrong-ca
show apply_generated -n velero create secret generic storage-ca-cert --from-file=ca-bundle.crt="$work/wrong-ca.crt"
show kubectl -n velero wait --for=condition=Ready=false bsl/default --timeout=30s
show kubectl -n velero get bsl default
show kubectl -n velero get bsl default -o 'jsonpath={.status.message}{"\n"}'

say "The fix: a bundle with both CAs (as during a planned rotation)"
cat "$work/wrong-ca.crt" "$work/store-ca.crt" >"$work/both.crt"
show apply_generated -n velero create secret generic storage-ca-cert --from-file=ca-bundle.crt="$work/both.crt"
show kubectl -n velero wait --for=condition=Ready bsl/default --timeout=30s
show kubectl -n velero get bsl

say "Back up a namespace"
show kubectl apply -f e2e/demo/20-shop.yaml
show kubectl apply -f e2e/demo/21-backup.yaml
show kubectl -n velero wait --for=jsonpath='{.status.phase}'=Completed backup/shop-1 --timeout=60s
show kubectl -n velero get backup shop-1 -o 'jsonpath=phase={.status.phase} items={.status.progress.itemsBackedUp} encryption: mode={.status.encryption.mode} kmsKeyId={.status.encryption.kmsKeyId} bucketKey={.status.encryption.bucketKey} verified={.status.encryption.verified} ({.status.encryption.objects} objects){"\n"}'

say "What the store recorded for the archive (an independent client: aws s3api head-object)"
show aws s3api head-object --bucket velero-backups --key backups/shop-1/shop-1.tar.gz \
  --query '{ServerSideEncryption: ServerSideEncryption, SSEKMSKeyId: SSEKMSKeyId, BucketKeyEnabled: BucketKeyEnabled, ContentLength: ContentLength}'
show aws s3 ls --recursive s3://velero-backups/backups/shop-1/

say "The backup's log, fetched over the private CA with no --cacert (the CLI uses the location's caCertRef)"
printf '$ veloxide backup logs shop-1 | head -5\n'
# Fetch the whole log first: cutting the pipe with head would end the CLI with EPIPE.
backup_log=$("$bin/veloxide" backup logs shop-1 2>&1)
printf '%s\n' "$backup_log" | sed -n '1,5s/^/  /p'

say "Lose the namespace, then restore it"
show kubectl delete namespace shop --wait=true
show kubectl get configmap -n shop
show "$bin/veloxide" restore create shop-1-restore --from-backup shop-1 --wait
show kubectl get configmap,secret -n shop
show kubectl -n shop get configmap storefront -o 'jsonpath=greeting={.data.greeting}{"\n"}'

say "A schedule: refused at apply time with a zone that does not exist, then making its first backups"
show kubectl apply -f e2e/demo/30-schedule-bad-zone.yaml
show "$bin/veloxide" schedule create shop-every-5s --schedule "@every 5s" --include-namespaces shop --keep-last 2
for _ in $(seq 1 150); do
  [ "$(kubectl -n velero get backups -l velero.io/schedule-name=shop-every-5s -o 'jsonpath={range .items[*]}{.status.phase}{"\n"}{end}' | grep -c Completed)" -ge 2 ] && break
  sleep 0.2
done
show kubectl -n velero get backups -l velero.io/schedule-name=shop-every-5s
show "$bin/veloxide" schedule get
show "$bin/veloxide" schedule pause shop-every-5s

say "A workload with data on the node: a StatefulSet appending to a file on its volume"
if kubectl get storageclass veloxide-csi >/dev/null 2>&1; then
  echo "  StorageClass veloxide-csi exists: the volume is a PersistentVolumeClaim of the CSI driver"
  show kubectl apply -f e2e/demo/40-ledger-pvc.yaml
else
  echo "  no StorageClass veloxide-csi (the CSI driver is not installed): the volume is an emptyDir"
  show kubectl apply -f e2e/demo/40-ledger-emptydir.yaml
fi
for _ in $(seq 1 120); do kubectl -n ledger get pod ledger-0 >/dev/null 2>&1 && break; sleep 0.5; done
show kubectl -n ledger wait --for=condition=Ready pod/ledger-0 --timeout=120s
show kubectl -n ledger get statefulset,pods,pvc -o wide
show kubectl -n ledger exec ledger-0 -- cat /data/ledger.txt
show kubectl -n ledger logs ledger-0

if kubectl get storageclass veloxide-csi >/dev/null 2>&1; then
  say "Back up the StatefulSet with its volume (a CSI snapshot), its writes frozen by a pre hook, lose the namespace, bring it back with its data"
  echo "  the pod's annotations: pre.hook.backup.velero.io/command freezes the ledger (a marker the writer"
  echo "  honours, then sync) before the snapshot; post.hook.backup.velero.io/command thaws it after"
  show "$bin/veloxide" backup create ledger-1 --include-namespaces ledger --wait
  printf '$ veloxide backup describe ledger-1 --details | sed -n "/^Hooks[AF]/p; /CSI Snapshots/,$ p"\n'
  "$bin/veloxide" backup describe ledger-1 --details 2>&1 | sed -n '/^Hooks[AF]/p; /CSI Snapshots/,$p' | sed 's/^/  /'
  show kubectl -n ledger get volumesnapshots
  show kubectl delete namespace ledger --wait=true
  show "$bin/veloxide" restore create ledger-1-restore --from-backup ledger-1 --wait
  for _ in $(seq 1 120); do kubectl -n ledger get pod ledger-0 >/dev/null 2>&1 && break; sleep 0.5; done
  show kubectl -n ledger wait --for=condition=Ready pod/ledger-0 --timeout=120s
  show kubectl -n ledger get pvc data-ledger-0 -o 'jsonpath=dataSource={.spec.dataSource.kind}/{.spec.dataSource.name}{"\n"}'
  echo "  the entries written up to the pre hook's freeze, then the restored pod's own start"
  show kubectl -n ledger exec ledger-0 -- cat /data/ledger.txt
fi

say "What Prometheus scrapes"
curl -s "$metrics_url/metrics" | grep -E '^(velero_backup_location_status_gauge|veloxide_location_(validations_total|ca_certificate_expiry|insecure)|velero_backup_(success_total|last_successful_timestamp|tarball_size_bytes|items_total)|veloxide_schedule_next_run|velero_restore_success_total|velero_csi_snapshot_(attempt|success)_total|veloxide_storage_)' | sed 's/^/  /'

say "The same admission checks offline, for CI pipelines: veloxide backup-location validate"
show "$bin/veloxide" backup-location validate -f "$work/03-typo.yaml"
say "The day the cluster is lost: a new cluster, pointed at the same bucket, finds the backups itself"
bash e2e/tools/control-plane.sh up "$work/cluster-b" >/dev/null
export KUBECONFIG="$work/cluster-b/kubeconfig"
show kubectl get backups.velero.io -A
kubectl apply -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
apply_generated create namespace velero >/dev/null
kubectl apply -f <(.work/bin/helm template veloxide charts/veloxide -n velero \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml) >/dev/null
apply_generated -n velero create secret generic storage-ca-cert --from-file=ca-bundle.crt="$work/store-ca.crt" >/dev/null
apply_generated -n velero create secret generic cloud-credentials --from-file=cloud="$work/credentials" >/dev/null
server_b_kubeconfig=$(bash e2e/tools/control-plane.sh user "$work/cluster-b" system:serviceaccount:velero:veloxide \
  system:serviceaccounts system:serviceaccounts:velero system:authenticated)
KUBECONFIG="$server_b_kubeconfig" "$bin/veloxide" server --namespace velero --secrets-scope namespace \
  --metrics-listen 127.0.0.1:0 --backup-sync-period 5s >"$work/server-b.out" 2>"$work/server-b.log" &
pids+=($!)
wait_for_line "$work/server-b.out" "veloxide metrics listening on " >/dev/null
show kubectl apply -f "$work/location.yaml"
show kubectl -n velero wait --for=condition=Ready bsl/default --timeout=60s
for _ in $(seq 1 60); do kubectl -n velero get backup shop-1 >/dev/null 2>&1 && break; sleep 1; done
show kubectl -n velero get backups
show "$bin/veloxide" restore create shop-1-in-b --from-backup shop-1 --wait
show kubectl -n shop get configmap storefront -o 'jsonpath=greeting={.data.greeting}{"\n"}'
echo
echo "Demo done. 'make test' runs every scenario above as a test."
