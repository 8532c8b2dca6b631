//! The location check: each step in order, stopping at the first failure, with a reason and
//! a remedy for it. The controller turns the report into status conditions; the CLI prints it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::ProvideCredentials as _;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use bytes::Bytes;

use super::error::StorageError;
use super::reason::{Reason, chain_text, classify_transport};
use super::sse::Sse;
use super::store::ObjectStore;
use crate::location::Encryption;

/// Velero's top-level folders under a location's prefix (`persistence.IsValid`).
pub const VELERO_DIRS: [&str; 6] = [
    "backups", "restores", "restic", "metadata", "plugins", "kopia",
];

/// The steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepName {
    Secrets,
    TlsHandshake,
    Credentials,
    Bucket,
    PrefixLayout,
    KmsKey,
    RoundTrip,
}

impl StepName {
    pub const ALL: [StepName; 7] = [
        StepName::Secrets,
        StepName::TlsHandshake,
        StepName::Credentials,
        StepName::Bucket,
        StepName::PrefixLayout,
        StepName::KmsKey,
        StepName::RoundTrip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Secrets => "secrets",
            StepName::TlsHandshake => "tls-handshake",
            StepName::Credentials => "credentials",
            StepName::Bucket => "bucket",
            StepName::PrefixLayout => "prefix-layout",
            StepName::KmsKey => "kms-key",
            StepName::RoundTrip => "encryption-round-trip",
        }
    }

    /// The status condition this step feeds.
    pub fn condition(self) -> &'static str {
        match self {
            StepName::Secrets | StepName::TlsHandshake => "TLSVerified",
            StepName::Credentials => "Authenticated",
            StepName::Bucket | StepName::PrefixLayout => "BucketAccessible",
            StepName::KmsKey | StepName::RoundTrip => "EncryptionVerified",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Not applicable, or not run because an earlier step failed.
    Skipped,
}

/// One step's result. `message` never holds secret material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: StepName,
    pub outcome: Outcome,
    pub reason: Option<Reason>,
    pub message: String,
    pub remedy: Option<&'static str>,
}

/// The whole check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub steps: Vec<Step>,
}

impl CheckReport {
    /// Every step passed or was not applicable, and none failed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.outcome != Outcome::Failed)
    }

    /// The first failure's reason.
    pub fn reason(&self) -> Option<Reason> {
        self.steps.iter().find_map(|s| s.reason)
    }

    /// A report for a location whose secret material could not be resolved.
    pub fn secrets_failed(error: &StorageError) -> CheckReport {
        let mut report = CheckReport::default();
        report.fail(StepName::Secrets, error.reason(), error.to_string());
        report.skip_rest();
        report
    }

    fn pass(&mut self, name: StepName, message: impl Into<String>) {
        self.push(name, Outcome::Passed, None, message.into());
    }

    fn skip(&mut self, name: StepName, message: impl Into<String>) {
        self.push(name, Outcome::Skipped, None, message.into());
    }

    fn fail(&mut self, name: StepName, reason: Reason, message: String) {
        self.push(name, Outcome::Failed, Some(reason), message);
    }

    fn push(&mut self, name: StepName, outcome: Outcome, reason: Option<Reason>, message: String) {
        self.steps.push(Step {
            name,
            outcome,
            reason,
            message,
            remedy: reason.map(Reason::remedy),
        });
    }

    fn skip_rest(&mut self) {
        let done: Vec<StepName> = self.steps.iter().map(|s| s.name).collect();
        for name in StepName::ALL.into_iter().filter(|n| !done.contains(n)) {
            self.skip(name, "not run: an earlier step failed");
        }
    }
}

impl ObjectStore {
    /// Run the location check. Read-only locations skip the write round trip.
    pub async fn check(&self) -> CheckReport {
        let mut report = CheckReport::default();
        report.pass(
            StepName::Secrets,
            "every Secret the location names was read",
        );
        let steps: [(StepName, StepFn<'_>); 6] = [
            (StepName::TlsHandshake, Box::pin(self.check_tls())),
            (StepName::Credentials, Box::pin(self.check_credentials())),
            (StepName::Bucket, Box::pin(self.check_bucket())),
            (StepName::PrefixLayout, Box::pin(self.check_prefix())),
            (StepName::KmsKey, Box::pin(self.check_kms())),
            (StepName::RoundTrip, Box::pin(self.check_round_trip())),
        ];
        for (name, step) in steps {
            match step.await {
                Ok(Some(message)) => report.pass(name, message),
                Ok(None) => report.skip(name, "not applicable"),
                Err((reason, message)) => {
                    report.fail(name, reason, message);
                    report.skip_rest();
                    break;
                }
            }
        }
        report
    }

    async fn check_tls(&self) -> StepResult {
        let endpoint = &self.config.endpoint;
        let (host, port) = match &endpoint.s3_url {
            Some(url) if url.scheme() == "http" => {
                return Ok(Some(format!(
                    "{url} is plain HTTP: nothing is encrypted in transit"
                )));
            }
            Some(url) => (
                url.host_str().unwrap_or_default().to_owned(),
                url.port_or_known_default().unwrap_or(443),
            ),
            None => (format!("s3.{}.amazonaws.com", endpoint.region()), 443),
        };
        match super::tls::handshake(self.clients.tls.clone(), &host, port).await {
            Ok(()) if self.config.trust.insecure_skip_tls_verify => Ok(Some(format!(
                "connected to {host}:{port} WITHOUT checking its certificate \
                 (insecureSkipTLSVerify)"
            ))),
            Ok(()) => Ok(Some(format!(
                "{host}:{port} presented a trusted certificate"
            ))),
            Err(e) => {
                let text = chain_text(e.as_ref());
                let reason = classify_transport(&text).unwrap_or(Reason::TLSHandshakeFailed);
                Err((reason, format!("{host}:{port}: {text}")))
            }
        }
    }

    async fn check_credentials(&self) -> StepResult {
        match self.clients.credentials.provide_credentials().await {
            Ok(c) => Ok(Some(format!(
                "credentials loaded (access key {})",
                mask(c.access_key_id())
            ))),
            Err(e) => Err((Reason::CredentialsUnavailable, chain_text(&e))),
        }
    }

    async fn check_bucket(&self) -> StepResult {
        let bucket = &self.config.bucket;
        match self.clients.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(Some(format!("bucket {bucket:?} is reachable"))),
            Err(e) => {
                let err = StorageError::from_sdk("HeadBucket", bucket, e);
                let reason = match err.reason() {
                    Reason::StoreError if err.is_not_found() => Reason::NoSuchBucket,
                    r => r,
                };
                Err((reason, err.to_string()))
            }
        }
    }

    async fn check_prefix(&self) -> StepResult {
        let listing = self.list("", Some("/")).await.map_err(fail)?;
        let invalid: Vec<String> = listing
            .prefixes
            .iter()
            .map(|p| p.trim_end_matches('/').to_owned())
            .filter(|p| !VELERO_DIRS.contains(&p.as_str()))
            .collect();
        let at = format!("s3://{}/{}", self.config.bucket, self.config.key_prefix());
        if invalid.is_empty() {
            return Ok(Some(format!("{at} holds only Velero's top-level folders")));
        }
        let shown: Vec<&str> = invalid.iter().take(3).map(String::as_str).collect();
        let more = if invalid.len() > 3 { ", ..." } else { "" };
        Err((
            Reason::InvalidPrefixLayout,
            format!(
                "{at} holds {} folders Velero does not use: {}{more}",
                invalid.len(),
                shown.join(", ")
            ),
        ))
    }

    async fn check_kms(&self) -> StepResult {
        let Encryption::SseKms { key_id, .. } = &self.config.encryption else {
            return Ok(None);
        };
        let kms = &self.clients.kms;
        let described = match kms.describe_key().key_id(key_id).send().await {
            Ok(out) => out,
            Err(e) => return kms_failure(StorageError::from_sdk("DescribeKey", key_id, e)),
        };
        let Some(meta) = described.key_metadata() else {
            return Err((
                Reason::KmsKeyNotFound,
                format!("{key_id}: no key metadata returned"),
            ));
        };
        let state = meta.key_state().cloned().unwrap_or(KeyState::Enabled);
        if state != KeyState::Enabled || !meta.enabled() {
            return Err((
                Reason::KmsKeyDisabled,
                format!("KMS key {key_id} ({}) is {}", meta.key_id(), state.as_str()),
            ));
        }
        // Stores that omit a field are not held to it; GenerateDataKey below is the real test.
        if meta
            .key_usage()
            .is_some_and(|u| *u != KeyUsageType::EncryptDecrypt)
            || meta
                .key_spec()
                .is_some_and(|s| *s != KeySpec::SymmetricDefault)
        {
            return Err((
                Reason::KmsKeyUnusable,
                format!("KMS key {key_id} is not a symmetric encryption key"),
            ));
        }
        let generated = kms
            .generate_data_key()
            .key_id(key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .send()
            .await;
        let ciphertext = match generated {
            Ok(out) => out.ciphertext_blob().cloned(),
            Err(e) => return kms_failure(StorageError::from_sdk("GenerateDataKey", key_id, e)),
        };
        if let Some(blob) = ciphertext
            && let Err(e) = kms.decrypt().ciphertext_blob(blob).send().await
        {
            return kms_failure(StorageError::from_sdk("Decrypt", key_id, e));
        }
        let rotation = match kms
            .get_key_rotation_status()
            .key_id(meta.key_id())
            .send()
            .await
        {
            Ok(out) if out.key_rotation_enabled() => "automatic rotation is on",
            Ok(_) => "automatic rotation is off",
            Err(_) => "rotation status not readable",
        };
        Ok(Some(format!(
            "KMS key {key_id} ({}) is enabled and usable for encryption; {rotation}",
            meta.arn().unwrap_or(meta.key_id())
        )))
    }

    async fn check_round_trip(&self) -> StepResult {
        if !self.config.read_write {
            return Ok(None);
        }
        // A top-level object (not a folder), so a concurrent layout check never sees it.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        let key = format!("veloxide-probe-{nanos}-{}", std::process::id());
        let mut payload = vec![0u8; 1024];
        openssl::rand::rand_bytes(&mut payload).expect("OpenSSL's RNG works");
        let payload = Bytes::from(payload);
        let recorded = self.put(&key, payload.clone()).await.map_err(fail)?;
        let read = async {
            let body = self.get(&key).await?;
            body.read_all()
                .await
                .map(Bytes::from)
                .map_err(|e| StorageError::Body(format!("reading the probe back: {e}")))
        }
        .await;
        let deleted = self.delete(&key).await;
        let read = read.map_err(fail)?;
        if read != payload {
            return Err((
                Reason::RoundTripMismatch,
                format!(
                    "the probe object read back ({} bytes) differs from what was written ({} bytes)",
                    read.len(),
                    payload.len()
                ),
            ));
        }
        deleted.map_err(fail)?;
        let mode = match self.sse() {
            Sse::None => "no encryption asked for".to_owned(),
            _ => format!(
                "{} confirmed: {}",
                self.config.encryption.mode(),
                recorded.summary()
            ),
        };
        Ok(Some(format!(
            "a probe object was written, checked, read back byte for byte and deleted; {mode}"
        )))
    }
}

type StepResult = Result<Option<String>, (Reason, String)>;
type StepFn<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = StepResult> + Send + 'a>>;

fn fail(e: StorageError) -> (Reason, String) {
    (e.reason(), e.to_string())
}

/// KMS failures: S3-style "AccessDenied" means the KMS permission here, and an endpoint that
/// does not speak KMS at all (a store without a KMS API) fails with a plain store error.
fn kms_failure(e: StorageError) -> StepResult {
    let reason = match e.reason() {
        Reason::AccessDenied => Reason::KmsAccessDenied,
        Reason::StoreError => Reason::KmsKeyNotFound,
        r => r,
    };
    Err((reason, e.to_string()))
}

/// Show only the start of an access key id: enough to tell keys apart in a report.
fn mask(id: &str) -> String {
    let shown: String = id.chars().take(4).collect();
    format!("{shown}…")
}
