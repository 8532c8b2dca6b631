//! The location parser against every admission rule, and what it produces for valid specs.

use crate::common;

use common::cases;
use serde_json::json;
use veloxide::api::{BackupStorageLocation, BackupStorageLocationSpec};
use veloxide::location::{CaSource, Checksum, CustomerKeySource, Encryption, LocationConfig};

fn parse(
    spec: serde_json::Value,
) -> Result<veloxide::location::Parsed, veloxide::location::Rejected> {
    let spec: BackupStorageLocationSpec = serde_json::from_value(spec).unwrap();
    LocationConfig::from_spec(&spec)
}

#[test]
fn every_rule_case() {
    let mut failures = Vec::new();
    for case in cases::all() {
        let outcome = match parse(case.spec.clone()) {
            Ok(parsed) => cases::check(&case, true, "", &parsed.warnings),
            Err(rejected) => cases::check(&case, false, &rejected.to_string(), &rejected.warnings),
        };
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn encryption_modes_are_typed() {
    let kms = parse(cases::spec_with(
        json!({"kmsKeyId": "alias/velero-backups", "bucketKeyEnabled": "true"}),
    ))
    .unwrap();
    assert_eq!(
        kms.config.encryption,
        Encryption::SseKms {
            key_id: "alias/velero-backups".into(),
            bucket_key: true
        }
    );
    let s3 = parse(cases::spec_with(json!({"serverSideEncryption": "AES256"}))).unwrap();
    assert_eq!(s3.config.encryption, Encryption::SseS3);
    let ssec = parse(cases::spec_with(
        json!({"customerKeyEncryptionSecret": "sse-c/key"}),
    ))
    .unwrap();
    match &ssec.config.encryption {
        Encryption::SseC(CustomerKeySource::Secret(r)) => {
            assert_eq!((r.name.as_str(), r.key.as_str()), ("sse-c", "key"));
        }
        other => panic!("expected SSE-C from a Secret, got {other:?}"),
    }
    assert_eq!(
        parse(cases::spec_with(json!({})))
            .unwrap()
            .config
            .encryption,
        Encryption::None
    );
}

#[test]
fn endpoint_checksum_and_secrets_are_typed() {
    let spec = json!({
        "provider": "velero.io/aws",
        "objectStorage": {
            "bucket": "b", "prefix": "/cluster-a/",
            "caCertRef": {"name": "ca", "key": "ca.crt"},
            "clientCertRef": {"name": "client-tls"},
        },
        "credential": {"name": "cloud-credentials", "key": "cloud"},
        "accessMode": "ReadOnly",
        "config": {"s3Url": "https://10.0.0.5:9000", "s3ForcePathStyle": "true", "checksumAlgorithm": "",
                   "customerKeyEncryptionSecret": "ca/sse"},
        "validationFrequency": "90s",
    });
    let config = parse(spec).unwrap().config;
    assert_eq!(config.prefix, "cluster-a");
    assert_eq!(config.key_prefix(), "cluster-a/");
    assert_eq!(
        config.endpoint.s3_url.as_ref().unwrap().as_str(),
        "https://10.0.0.5:9000/"
    );
    assert_eq!(config.endpoint.region(), "us-east-1");
    assert!(config.endpoint.force_path_style);
    assert_eq!(config.checksum, Checksum::Disabled);
    assert!(!config.read_write);
    assert_eq!(
        config.validation_frequency,
        Some(std::time::Duration::from_secs(90))
    );
    assert!(matches!(config.trust.ca, CaSource::Secret(ref r) if r.name == "ca"));
    // Each Secret once, so a change to it re-checks the location once.
    assert_eq!(
        config.secret_names(),
        vec!["ca", "client-tls", "cloud-credentials"]
    );
    let default = parse(cases::spec_with(json!({}))).unwrap().config;
    assert_eq!(
        default.checksum,
        Checksum::Crc32,
        "Velero's default when the key is absent"
    );
}

#[test]
fn inline_bundle_keeps_certificates_and_expiry() {
    let ca = e2e::peers::certs::Pki::new("bundle-root").ca;
    let parsed = parse(json!({
        "provider": "aws",
        "objectStorage": {"bucket": "b", "caCert": base64_encode(ca.cert_pem_text())},
    }))
    .unwrap();
    let CaSource::Inline(bundle) = &parsed.config.trust.ca else {
        panic!("expected an inline bundle");
    };
    assert_eq!(bundle.certificates.len(), 1);
    assert_eq!(bundle.certificates[0].subject, "CN=bundle-root");
    assert!(bundle.certificates[0].is_ca);
    let not_after = ca.cert.not_after();
    let epoch = openssl::asn1::Asn1Time::from_unix(0).unwrap();
    let diff = epoch.diff(not_after).unwrap();
    assert_eq!(
        bundle.earliest_not_after(),
        Some(diff.days as i64 * 86400 + diff.secs as i64)
    );
    // The normalised PEM is what the TLS layer will load: it must parse back.
    assert_eq!(
        openssl::x509::X509::stack_from_pem(&bundle.pem)
            .unwrap()
            .len(),
        1
    );
}

/// The reference documents: the caCertRef and SSE-KMS locations are allowed; the inline
/// example is refused because its caCert is a placeholder, and the message says exactly that.
#[test]
fn reference_documents() {
    let load = |name: &str| -> BackupStorageLocation {
        let path = format!("{}/tests/fixtures/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    for allowed in ["cacertref.yaml", "sse-kms.yaml", "sse-s3.yaml"] {
        let parsed = LocationConfig::from_spec(&load(allowed).spec)
            .unwrap_or_else(|e| panic!("{allowed}: {e}"));
        assert!(
            parsed.warnings.is_empty(),
            "{allowed}: {:?}",
            parsed.warnings
        );
    }
    let kms = LocationConfig::from_spec(&load("sse-kms.yaml").spec).unwrap();
    assert_eq!(
        kms.config.encryption,
        Encryption::SseKms {
            key_id: "alias/velero-backups".into(),
            bucket_key: false
        }
    );
    let rejected = LocationConfig::from_spec(&load("inline-cacert.yaml").spec).unwrap_err();
    assert_eq!(rejected.violations.len(), 1);
    assert_eq!(rejected.violations[0].field, "spec.objectStorage.caCert");
    assert!(
        rejected.violations[0]
            .message
            .contains("is a placeholder, not a certificate"),
        "{rejected}"
    );
}

fn base64_encode(text: String) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Parsed bundles are cached by content, but expiry is judged against the time of each call.
#[test]
fn a_cached_bundle_is_judged_at_each_call_time() {
    use e2e::peers::certs::{DAY, Spec, issue};
    let soon = issue(
        &Spec {
            not_after: 10 * DAY,
            ..Spec::ca("cached-soon-root")
        },
        None,
    );
    let pem = soon.cert_pem_text();
    let now = jiff::Timestamp::now();
    let today = veloxide::location::inspect_pem("caCert", pem.as_bytes(), now).unwrap();
    assert!(
        today
            .warnings
            .iter()
            .any(|w| w.contains("expiring within 30 days")),
        "{:?}",
        today.warnings
    );
    let earlier = now - jiff::SignedDuration::from_hours(24 * 60);
    let then = veloxide::location::inspect_pem("caCert", pem.as_bytes(), earlier).unwrap();
    assert!(then.warnings.is_empty(), "{:?}", then.warnings);
    let later = now + jiff::SignedDuration::from_hours(24 * 11);
    let expired = veloxide::location::inspect_pem("caCert", pem.as_bytes(), later).unwrap_err();
    assert!(
        expired.contains("every certificate in it has expired"),
        "{expired}"
    );
}
