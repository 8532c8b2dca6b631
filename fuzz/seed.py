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
