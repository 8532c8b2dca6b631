//! Shared by the storage test binaries: one moto per binary, locations pointing at it, and
//! the secrets they name. Included with `mod storage_support;` after `mod peers;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use veloxide::api::{BackupStorageLocationSpec, ObjectStorageLocation, SecretKeySelector};
use veloxide::location::LocationConfig;
use veloxide::storage::{CheckReport, ObjectStore, Outcome, Reason, StaticSecrets, resolve};

use crate::peers::Moto;

/// Credentials moto accepts; the secret half is a sentinel the leak test searches for.
pub const ACCESS_KEY: &str = "AKIAVELOXIDETEST";
pub const SECRET_KEY: &str = "veloxide-secret-SENTINEL-4f1c9a";
/// An SSE-C key (32 bytes) whose base64 the leak test searches for.
pub const CUSTOMER_KEY: &[u8; 32] = b"veloxide-sse-c-key-SENTINEL-0123";

/// The binary's moto, started on first use and stopped when the binary exits.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

/// A bucket name unique to this binary and test.
pub fn bucket(test: &str) -> String {
    format!("vx-{}-{}", test.replace('_', "-"), std::process::id())
}

pub fn credentials_file() -> String {
    format!("[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
}

/// Secrets named by [`spec`]: credentials (`cloud-credentials/cloud`), the CA
/// (`storage-ca/ca.crt`) and the SSE-C key (`sse-c/key`).
pub fn secrets(ca_pem: &[u8]) -> StaticSecrets {
    let mut s = StaticSecrets::default();
    put(
        &mut s,
        "cloud-credentials",
        "cloud",
        credentials_file().as_bytes(),
    );
    put(&mut s, "storage-ca", "ca.crt", ca_pem);
    put(&mut s, "sse-c", "key", CUSTOMER_KEY);
    s
}

pub fn put(s: &mut StaticSecrets, name: &str, key: &str, value: &[u8]) {
    s.secrets
        .entry(name.to_owned())
        .or_default()
        .insert(key.to_owned(), value.to_vec());
}

/// A location at `url` trusting `storage-ca`, with `extra` config keys.
pub fn spec(
    url: &str,
    bucket: &str,
    prefix: &str,
    extra: &[(&str, &str)],
) -> BackupStorageLocationSpec {
    let mut config: BTreeMap<String, String> = [
        ("region", "us-east-1"),
        ("s3Url", url),
        ("s3ForcePathStyle", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        config.insert(k.to_string(), v.to_string());
    }
    BackupStorageLocationSpec {
        provider: "aws".into(),
        config: Some(config),
        credential: Some(selector("cloud-credentials", "cloud")),
        object_storage: ObjectStorageLocation {
            bucket: bucket.into(),
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            ca_cert_ref: Some(selector("storage-ca", "ca.crt")),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn selector(name: &str, key: &str) -> SecretKeySelector {
    SecretKeySelector {
        name: Some(name.into()),
        key: Some(key.into()),
        optional: None,
    }
}

pub fn parse(spec: &BackupStorageLocationSpec) -> LocationConfig {
    LocationConfig::from_spec(spec)
        .unwrap_or_else(|e| panic!("the test location is invalid: {e}"))
        .config
}

pub async fn store(spec: &BackupStorageLocationSpec, secrets: &StaticSecrets) -> ObjectStore {
    let resolved = resolve(&parse(spec), secrets)
        .await
        .expect("secrets resolve");
    ObjectStore::build(&resolved).expect("store builds")
}

pub async fn check(spec: &BackupStorageLocationSpec, secrets: &StaticSecrets) -> CheckReport {
    let cache = veloxide::storage::StoreCache::new();
    veloxide::storage::open(&parse(spec), secrets, &cache, "test/location")
        .await
        .check()
        .await
}

/// Render a report for assertion messages.
pub fn show(report: &CheckReport) -> String {
    report
        .steps
        .iter()
        .map(|s| {
            format!(
                "{:?} {} {:?}: {}",
                s.outcome,
                s.name.as_str(),
                s.reason.map(|r| r.as_str()),
                s.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn assert_passed(report: &CheckReport) {
    assert!(report.passed(), "the check should pass:\n{}", show(report));
    assert!(
        report.steps.iter().all(|s| s.outcome != Outcome::Failed),
        "{}",
        show(report)
    );
}

pub fn assert_reason(report: &CheckReport, reason: Reason) {
    assert_eq!(
        report.reason(),
        Some(reason),
        "expected {reason}:\n{}",
        show(report)
    );
    assert!(!report.passed());
    let failed = report
        .steps
        .iter()
        .find(|s| s.outcome == Outcome::Failed)
        .expect("a failed step");
    assert!(
        failed.remedy.is_some_and(|r| !r.is_empty()),
        "a remedy is given"
    );
}
