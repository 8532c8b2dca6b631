//! The admission rules as a table of locations and what must happen to each. The same table
//! is run against the parser, the in-process router, and the running `veloxide webhook`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use e2e::peers::certs::{DAY, Spec, Usage, issue};

/// What the webhook must answer.
pub enum Expect {
    /// Allowed, with warnings containing each of these (and no others when empty).
    Allowed(Vec<&'static str>),
    /// Denied, the message containing each of these.
    Denied(Vec<&'static str>),
}

pub struct Case {
    pub name: &'static str,
    pub spec: Value,
    pub expect: Expect,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// A minimal valid spec with `config` merged in.
pub fn spec_with(config: Value) -> Value {
    json!({
        "provider": "aws",
        "objectStorage": {"bucket": "velero-backups"},
        "config": config,
    })
}

fn with_storage(storage: Value) -> Value {
    let mut spec = json!({"provider": "aws", "objectStorage": {"bucket": "velero-backups"}});
    for (k, v) in storage.as_object().unwrap() {
        spec["objectStorage"][k] = v.clone();
    }
    spec
}

fn ca_cert(pem: impl AsRef<[u8]>) -> Value {
    with_storage(json!({"caCert": b64(pem)}))
}

/// Every rule with allowed, denied and warned cases.
pub fn all() -> Vec<Case> {
    use Expect::*;
    let ca = issue(&Spec::ca("veloxide-test-root"), None);
    let ca2 = issue(&Spec::ca("veloxide-test-second-root"), None);
    let server = issue(
        &Spec::leaf("minio.local", Usage::Server, &["minio.local"], &[]),
        Some(&ca),
    );
    let expired = issue(
        &Spec {
            not_before: -400 * DAY,
            not_after: -DAY,
            ..Spec::ca("old-root")
        },
        None,
    );
    let expiring = issue(
        &Spec {
            not_after: 10 * DAY,
            ..Spec::ca("soon-root")
        },
        None,
    );
    let bundle = format!("{}{}", ca.cert_pem_text(), ca2.cert_pem_text());
    let crlf_with_text = format!(
        "  \r\nSubject: the root\r\n{}\r\nand the second one:\r\n{}  \n",
        ca.cert_pem_text().replace('\n', "\r\n"),
        ca2.cert_pem_text()
    );
    let pem = ca.cert_pem_text();
    let lines: Vec<&str> = pem.lines().collect();
    let truncated = lines[..lines.len() - 3].join("\n");
    // Flip characters inside the body: still base64, no longer DER.
    let mut garbled_lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    garbled_lines[3] = garbled_lines[3].chars().rev().collect();
    let garbled = garbled_lines.join("\n");
    let with_key = format!(
        "{}{}",
        ca.cert_pem_text(),
        String::from_utf8(ca.key_pem()).unwrap()
    );

    vec![
        // Rule 1.
        Case {
            name: "caCert and caCertRef both set",
            spec: with_storage(json!({
                "caCert": b64(&pem),
                "caCertRef": {"name": "storage-ca-cert", "key": "ca-bundle.crt"},
            })),
            expect: Denied(vec![
                "spec.objectStorage",
                "caCert and caCertRef are both set",
                "keep caCertRef",
            ]),
        },
        // Rule 2 and 9.
        Case {
            name: "inline CA bundle of two CAs",
            spec: ca_cert(&bundle),
            expect: Allowed(vec![
                "deprecated",
                "kubectl create secret generic",
                "caCertRef",
            ]),
        },
        Case {
            name: "CRLF, whitespace and text between blocks",
            spec: ca_cert(&crlf_with_text),
            expect: Allowed(vec!["deprecated"]),
        },
        Case {
            name: "caCert not base64",
            spec: with_storage(json!({"caCert": "this is not base64!"})),
            expect: Denied(vec![
                "spec.objectStorage.caCert",
                "not valid base64",
                "base64 -w0",
            ]),
        },
        Case {
            name: "caCert without a PEM block",
            spec: ca_cert("hello, I am a certificate"),
            expect: Denied(vec!["spec.objectStorage.caCert", "holds no PEM block"]),
        },
        Case {
            name: "caCert truncated",
            spec: ca_cert(&truncated),
            expect: Denied(vec!["spec.objectStorage.caCert", "truncated"]),
        },
        Case {
            name: "caCert garbled",
            spec: ca_cert(&garbled),
            expect: Denied(vec![
                "spec.objectStorage.caCert",
                "certificate 1",
                "garbled",
            ]),
        },
        Case {
            name: "caCert DER instead of PEM",
            spec: ca_cert(ca.cert.to_der().unwrap()),
            expect: Denied(vec![
                "spec.objectStorage.caCert",
                "DER",
                "openssl x509 -inform der",
            ]),
        },
        Case {
            name: "caCert base64-encoded twice",
            spec: ca_cert(b64(&pem)),
            expect: Denied(vec!["spec.objectStorage.caCert", "base64-encoded twice"]),
        },
        Case {
            name: "caCert holding a private key",
            spec: ca_cert(&with_key),
            expect: Denied(vec![
                "spec.objectStorage.caCert",
                "PRIVATE KEY",
                "private key must never",
            ]),
        },
        Case {
            name: "caCert whose certificates all expired",
            spec: ca_cert(expired.cert_pem()),
            expect: Denied(vec![
                "spec.objectStorage.caCert",
                "every certificate in it has expired",
                "old-root",
            ]),
        },
        Case {
            name: "caCert with one expired certificate",
            spec: ca_cert(format!("{}{}", expired.cert_pem_text(), ca.cert_pem_text())),
            expect: Allowed(vec!["deprecated", "have expired", "CN=old-root"]),
        },
        Case {
            name: "caCert expiring within 30 days",
            spec: ca_cert(expiring.cert_pem()),
            expect: Allowed(vec![
                "deprecated",
                "expiring within 30 days",
                "CN=soon-root",
            ]),
        },
        Case {
            name: "caCert that is a server certificate, not a CA",
            spec: ca_cert(server.cert_pem()),
            expect: Allowed(vec![
                "deprecated",
                "CN=minio.local",
                "is not a CA certificate",
            ]),
        },
        Case {
            name: "caCert placeholder of the reference document",
            spec: with_storage(
                json!({"caCert": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCi4uLiAoYmFzZTY0IGVuY29kZWQgY2VydGlmaWNhdGUgY29udGVudCkgLi4uCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"}),
            ),
            expect: Denied(vec![
                "spec.objectStorage.caCert",
                "placeholder, not a certificate",
            ]),
        },
        // Rule 3.
        Case {
            name: "caCertRef with name and key",
            spec: with_storage(
                json!({"caCertRef": {"name": "storage-ca-cert", "key": "ca-bundle.crt"}}),
            ),
            expect: Allowed(vec![]),
        },
        Case {
            name: "caCertRef without key",
            spec: with_storage(json!({"caCertRef": {"name": "storage-ca-cert"}})),
            expect: Denied(vec!["spec.objectStorage.caCertRef.key", "is required"]),
        },
        Case {
            name: "caCertRef without name",
            spec: with_storage(json!({"caCertRef": {"key": "ca.crt"}})),
            expect: Denied(vec!["spec.objectStorage.caCertRef.name", "is required"]),
        },
        // Rule 4.
        Case {
            name: "SSE-S3",
            spec: spec_with(json!({"serverSideEncryption": "AES256"})),
            expect: Allowed(vec![]),
        },
        Case {
            name: "SSE-KMS with key",
            spec: spec_with(
                json!({"serverSideEncryption": "aws:kms", "kmsKeyId": "alias/velero-backups"}),
            ),
            expect: Allowed(vec![]),
        },
        Case {
            name: "kmsKeyId alone implies aws:kms",
            spec: spec_with(json!({"kmsKeyId": "alias/velero-backups"})),
            expect: Allowed(vec![]),
        },
        Case {
            name: "aws:kms without kmsKeyId",
            spec: spec_with(json!({"serverSideEncryption": "aws:kms"})),
            expect: Denied(vec![
                "spec.config.kmsKeyId",
                "is required when serverSideEncryption is \"aws:kms\"",
            ]),
        },
        Case {
            name: "kmsKeyId with AES256",
            spec: spec_with(json!({"serverSideEncryption": "AES256", "kmsKeyId": "alias/k"})),
            expect: Denied(vec!["spec.config.kmsKeyId", "AES256", "aws:kms"]),
        },
        Case {
            name: "unknown serverSideEncryption",
            spec: spec_with(json!({"serverSideEncryption": "aes256"})),
            expect: Denied(vec![
                "spec.config.serverSideEncryption",
                "did you mean \"AES256\"",
            ]),
        },
        // Rule 5.
        Case {
            name: "KMS and customer key together",
            spec: spec_with(
                json!({"kmsKeyId": "alias/k", "customerKeyEncryptionFile": "/credentials/sse-c.key"}),
            ),
            expect: Denied(vec![
                "spec.config",
                "kmsKeyId and customerKeyEncryptionFile",
                "use only one of",
            ]),
        },
        Case {
            name: "two customer key sources",
            spec: spec_with(
                json!({"customerKeyEncryptionFile": "/k", "customerKeyEncryptionSecret": "sse-c/key"}),
            ),
            expect: Denied(vec![
                "customerKeyEncryptionFile and customerKeyEncryptionSecret",
                "use only one of",
            ]),
        },
        // Rule 6.
        Case {
            name: "SSE-C over https",
            spec: spec_with(
                json!({"s3Url": "https://minio.local:9000", "customerKeyEncryptionSecret": "sse-c/key"}),
            ),
            expect: Allowed(vec![]),
        },
        Case {
            name: "SSE-C over plain http",
            spec: spec_with(
                json!({"s3Url": "http://minio.local:9000", "customerKeyEncryptionFile": "/k"}),
            ),
            expect: Denied(vec!["spec.config.s3Url", "only over HTTPS"]),
        },
        Case {
            name: "customerKeyEncryptionSecret without a key",
            spec: spec_with(json!({"customerKeyEncryptionSecret": "sse-c"})),
            expect: Denied(vec![
                "spec.config.customerKeyEncryptionSecret",
                "secretName/key",
            ]),
        },
        // Rule 7.
        Case {
            name: "bucket key with SSE-KMS",
            spec: spec_with(json!({"kmsKeyId": "alias/k", "bucketKeyEnabled": "true"})),
            expect: Allowed(vec![
                "spec.config.bucketKeyEnabled",
                "not portable to Velero",
                "bucket's default encryption",
            ]),
        },
        Case {
            name: "bucket key with SSE-S3",
            spec: spec_with(json!({"serverSideEncryption": "AES256", "bucketKeyEnabled": "true"})),
            expect: Denied(vec![
                "spec.config.bucketKeyEnabled",
                "applies only to SSE-KMS",
            ]),
        },
        // Rule 8.
        Case {
            name: "booleans in any case",
            spec: spec_with(json!({"s3ForcePathStyle": "TRUE", "bucketKeyEnabled": "False"})),
            expect: Allowed(vec!["not portable to Velero"]),
        },
        Case {
            name: "boolean that is not one",
            spec: spec_with(json!({"s3ForcePathStyle": "yes"})),
            expect: Denied(vec!["spec.config.s3ForcePathStyle", "not a boolean"]),
        },
        Case {
            name: "insecureSkipTLSVerify",
            spec: spec_with(json!({"insecureSkipTLSVerify": "true"})),
            expect: Allowed(vec!["insecureSkipTLSVerify", "man-in-the-middle"]),
        },
        Case {
            name: "insecureSkipTLSVerify with a CA",
            spec: json!({
                "provider": "aws",
                "objectStorage": {"bucket": "b", "caCertRef": {"name": "ca", "key": "ca.crt"}},
                "config": {"insecureSkipTLSVerify": "true"},
            }),
            expect: Allowed(vec![
                "man-in-the-middle",
                "CA bundle given in spec.objectStorage is ignored",
            ]),
        },
        // Rule 10.
        Case {
            name: "durations in Velero's format",
            spec: json!({"provider": "aws", "objectStorage": {"bucket": "b"}, "validationFrequency": "1m0s", "backupSyncPeriod": "90s"}),
            expect: Allowed(vec![]),
        },
        Case {
            name: "negative validationFrequency",
            spec: json!({"provider": "aws", "objectStorage": {"bucket": "b"}, "validationFrequency": "-1m"}),
            expect: Denied(vec!["spec.validationFrequency", "negative"]),
        },
        Case {
            name: "malformed backupSyncPeriod",
            spec: json!({"provider": "aws", "objectStorage": {"bucket": "b"}, "backupSyncPeriod": "1 minute"}),
            expect: Denied(vec!["spec.backupSyncPeriod", "not a duration", "1m0s"]),
        },
        // Rule 11.
        Case {
            name: "bucket missing",
            spec: json!({"provider": "aws", "objectStorage": {"bucket": ""}}),
            expect: Denied(vec!["spec.objectStorage.bucket", "is required"]),
        },
        Case {
            name: "bucket with a slash",
            spec: json!({"provider": "aws", "objectStorage": {"bucket": "velero/backups"}}),
            expect: Denied(vec![
                "spec.objectStorage.bucket",
                "spec.objectStorage.prefix",
            ]),
        },
        // Unknown and misplaced keys, provider, endpoints, checksums, tags.
        Case {
            name: "near-miss config key",
            spec: spec_with(json!({"kmsKeyID": "alias/k"})),
            expect: Denied(vec!["spec.config.kmsKeyID", "did you mean \"kmsKeyId\""]),
        },
        Case {
            name: "unknown config key",
            spec: spec_with(json!({"encryption": "on"})),
            expect: Denied(vec![
                "spec.config.encryption",
                "valid keys are",
                "serverSideEncryption",
            ]),
        },
        Case {
            name: "field put in config",
            spec: spec_with(json!({"bucket": "b"})),
            expect: Denied(vec!["spec.config.bucket", "spec.objectStorage.bucket"]),
        },
        Case {
            name: "ignored Velero keys",
            spec: spec_with(json!({"signatureVersion": "4"})),
            expect: Allowed(vec!["signatureVersion", "no effect"]),
        },
        Case {
            name: "unsupported provider",
            spec: json!({"provider": "gcp", "objectStorage": {"bucket": "b"}}),
            expect: Denied(vec![
                "spec.provider",
                "\"gcp\" is not supported",
                "velero.io/aws",
            ]),
        },
        Case {
            name: "s3Url that is not http(s)",
            spec: spec_with(json!({"s3Url": "minio.local:9000"})),
            expect: Denied(vec!["spec.config.s3Url", "https://host"]),
        },
        Case {
            name: "checksums off",
            spec: spec_with(json!({"checksumAlgorithm": ""})),
            expect: Allowed(vec![]),
        },
        Case {
            name: "unknown checksum",
            spec: spec_with(json!({"checksumAlgorithm": "MD5"})),
            expect: Denied(vec!["spec.config.checksumAlgorithm", "CRC32"]),
        },
        Case {
            name: "too many tags",
            spec: spec_with(
                json!({"tagging": (0..11).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&")}),
            ),
            expect: Denied(vec!["spec.config.tagging", "at most 10"]),
        },
        // Files the server reads: only under --credentials-dir (default /credentials).
        Case {
            name: "credentialsFile outside the credentials directory",
            spec: spec_with(json!({"credentialsFile": "/etc/shadow"})),
            expect: Denied(vec![
                "spec.config.credentialsFile",
                "\"/etc/shadow\" is not under a directory this server reads credentials from (/credentials)",
            ]),
        },
        Case {
            name: "customerKeyEncryptionFile escaping the credentials directory",
            spec: spec_with(
                json!({"customerKeyEncryptionFile": "/credentials/../proc/self/environ"}),
            ),
            expect: Denied(vec![
                "spec.config.customerKeyEncryptionFile",
                "--credentials-dir",
            ]),
        },
        Case {
            name: "a relative credentialsFile",
            spec: spec_with(json!({"credentialsFile": "credentials/cloud"})),
            expect: Denied(vec!["spec.config.credentialsFile", "not under a directory"]),
        },
        Case {
            name: "files under the credentials directory",
            spec: spec_with(json!({"credentialsFile": "/credentials/cloud",
                "customerKeyEncryptionFile": "/credentials/sse-c.key"})),
            expect: Allowed(vec![]),
        },
        Case {
            name: "every violation reported at once",
            spec: json!({"provider": "gcp", "objectStorage": {"bucket": ""}, "config": {"kmsKeyID": "x"}}),
            expect: Denied(vec![
                "spec.provider",
                "spec.objectStorage.bucket",
                "spec.config.kmsKeyID",
            ]),
        },
    ]
}

/// The location as a full object.
pub fn object(spec: &Value) -> Value {
    json!({
        "apiVersion": "velero.io/v1",
        "kind": "BackupStorageLocation",
        "metadata": {"name": "default", "namespace": "velero"},
        "spec": spec,
    })
}

/// An AdmissionReview as the API server sends it.
pub fn review(uid: &str, operation: &str, object: Option<Value>) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "velero.io", "version": "v1", "kind": "BackupStorageLocation"},
            "resource": {"group": "velero.io", "version": "v1", "resource": "backupstoragelocations"},
            "requestKind": {"group": "velero.io", "version": "v1", "kind": "BackupStorageLocation"},
            "requestResource": {"group": "velero.io", "version": "v1", "resource": "backupstoragelocations"},
            "name": "default",
            "namespace": "velero",
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": null,
        }
    })
}

/// Check an AdmissionReview response against a case; returns a description of any mismatch.
pub fn check_response(case: &Case, uid: &str, answer: &Value) -> Result<(), String> {
    let response = &answer["response"];
    if response["uid"] != uid {
        return Err(format!("uid not echoed: {answer}"));
    }
    let allowed = response["allowed"].as_bool().unwrap_or(false);
    let message = response["status"]["message"].as_str().unwrap_or("");
    let warnings: Vec<String> = response["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|s| s.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    check(case, allowed, message, &warnings)
}

/// Check a verdict against a case.
pub fn check(case: &Case, allowed: bool, message: &str, warnings: &[String]) -> Result<(), String> {
    let all_warnings = warnings.join(" | ");
    match &case.expect {
        Expect::Allowed(expected) => {
            if !allowed {
                return Err(format!("denied, expected allowed: {message}"));
            }
            if expected.is_empty() && !warnings.is_empty() {
                return Err(format!("unexpected warnings: {all_warnings}"));
            }
            for needle in expected {
                if !all_warnings.contains(needle) {
                    return Err(format!("warnings lack {needle:?}: {all_warnings}"));
                }
            }
        }
        Expect::Denied(expected) => {
            if allowed {
                return Err("allowed, expected denied".into());
            }
            for needle in expected {
                if !message.contains(needle) {
                    return Err(format!("message lacks {needle:?}: {message}"));
                }
            }
        }
    }
    Ok(())
}
