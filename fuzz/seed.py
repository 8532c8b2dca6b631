"""Write seed inputs for the fuzz targets from the repository's fixtures."""
import base64, json, pathlib, sys

out = pathlib.Path(sys.argv[1])
root = pathlib.Path(__file__).resolve().parent.parent
seeds = sorted((root / "tests/fixtures/seeds").glob("*.yaml"))
crds = (root / "crds").glob("*.yaml")

def review(spec):
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "seed", "operation": "CREATE",
            "kind": {"group": "velero.io", "version": "v1", "kind": "BackupStorageLocation"},
            "resource": {"group": "velero.io", "version": "v1", "resource": "backupstoragelocations"},
            "userInfo": {}, "object": {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                                       "metadata": {"name": "x"}, "spec": spec}}}

specs = [
    {"provider": "aws", "objectStorage": {"bucket": "b"}, "config": {"kmsKeyId": "alias/k", "bucketKeyEnabled": "true"}},
    {"provider": "aws", "objectStorage": {"bucket": "b", "caCertRef": {"name": "ca", "key": "ca.crt"}}},
    {"provider": "aws", "objectStorage": {"bucket": "b", "caCert": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCi4uLgotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="}},
    {"provider": "aws", "objectStorage": {"bucket": "b"}, "config": {"s3Url": "http://x", "customerKeyEncryptionSecret": "a/b"}, "validationFrequency": "1m0s"},
]
for i, spec in enumerate(specs):
    (out / "admission_review" / f"seed-{i}.json").write_text(json.dumps(review(spec)))
pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
(out / "ca_bundle" / "seed-pem").write_text(pem)
(out / "ca_bundle" / "seed-b64").write_text(base64.b64encode(pem.encode()).decode())

# archive: a small backup-shaped tar.gz, and one with a namespace that disagrees with its path.
import gzip, io, tarfile

def tarball(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())

cm = lambda name, ns: json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": name, **({"namespace": ns} if ns else {})}, "data": {"k": "v"}}).encode()
(out / "archive").mkdir(exist_ok=True)
(out / "archive" / "seed-backup").write_bytes(tarball([
    ("metadata/version", b"1.1.0"),
    ("resources/configmaps/namespaces/app/a.json", cm("a", "app")),
    ("resources/configmaps/v1-preferredversion/namespaces/app/a.json", cm("a", "app")),
    ("resources/namespaces/cluster/app.json", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}).encode()),
]))
(out / "archive" / "seed-steer").write_bytes(tarball([
    ("resources/configmaps/namespaces/app/a.json", cm("a", "kube-system")),
    ("resources/configmaps/cluster/b.json", cm("b", "kube-system")),
]))

# backup_metadata: velero-backup.json as backups write it.
(out / "backup_metadata").mkdir(exist_ok=True)
(out / "backup_metadata" / "seed-0.json").write_text(json.dumps({
    "apiVersion": "velero.io/v1", "kind": "Backup",
    "metadata": {"name": "nightly", "namespace": "velero", "labels": {"velero.io/storage-location": "default"},
                 "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"includedNamespaces": ["*"], "storageLocation": "default", "ttl": "720h0m0s",
             "labelSelector": {"matchLabels": {"app": "x"}}},
    "status": {"phase": "Completed", "version": 1, "formatVersion": "1.1.0",
               "startTimestamp": "2026-01-01T00:00:00Z", "completionTimestamp": "2026-01-01T00:01:00Z",
               "expiration": "2026-01-31T00:00:00Z", "progress": {"totalItems": 3, "itemsBackedUp": 3}}}))

# sync_metadata: the same file, as the sync and expiry read it back.
(out / "sync_metadata").mkdir(exist_ok=True)
for seed in (out / "backup_metadata").iterdir():
    (out / "sync_metadata" / seed.name).write_bytes(seed.read_bytes())
