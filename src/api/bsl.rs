//! `BackupStorageLocation`: where backups are stored and how the store is reached.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// A place backups are written to: an S3-compatible bucket, how to trust it, how to
/// authenticate, and how objects are encrypted at rest.
// clippy reads the repeated `type_ = ...` inside separate printcolumn(...) groups as one
// attribute given twice; they are different columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "velero.io",
    version = "v1",
    kind = "BackupStorageLocation",
    doc = "A location (an S3-compatible bucket) where backups are stored, and how to reach, trust and encrypt it.",
    namespaced,
    shortname = "bsl",
    status = "BackupStorageLocationStatus",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Backup storage location status such as Available/Unavailable"
    ),
    printcolumn(
        name = "Last Validated",
        type_ = "date",
        json_path = ".status.lastValidationTime",
        description = "LastValidationTime is the last time the backup store location was validated"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Default",
        type_ = "boolean",
        json_path = ".spec.default",
        description = "Default backup storage location"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BackupStorageLocationSpec {
    /// The name of the object-store provider: `aws` or `velero.io/aws`.
    pub provider: String,

    /// Provider-specific settings (endpoint, trust, encryption, checksums).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,

    /// The Secret key holding credentials in the AWS shared-credentials format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<SecretKeySelector>,

    /// The bucket and prefix backups are written under, and how to trust the endpoint.
    pub object_storage: ObjectStorageLocation,

    /// Whether this is the location used by backups that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,

    /// `ReadWrite` (the default when empty) or `ReadOnly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<AccessMode>,

    /// How often backups are synced from the store (Go duration, `0` disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub backup_sync_period: Option<GoDuration>,

    /// How often the location is validated (Go duration; `0` validates once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub validation_frequency: Option<GoDuration>,
}

/// The bucket, prefix and trust settings of a location.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStorageLocation {
    /// The bucket backups are written to.
    pub bucket: String,

    /// A path inside the bucket under which everything is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,

    /// Deprecated: base64 of a PEM bundle to trust. Use `caCertRef` instead.
    ///
    /// Kept as the raw base64 text (not decoded bytes) so that a value that is not base64
    /// reaches the location parser and gets a message naming the field, instead of failing
    /// to decode the whole object.
    #[serde(default, rename = "caCert", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub ca_cert: Option<String>,

    /// A Secret key (in the location's namespace) holding a PEM bundle to trust.
    #[serde(default, rename = "caCertRef", skip_serializing_if = "Option::is_none")]
    pub ca_cert_ref: Option<SecretKeySelector>,

    /// veloxide extension: a `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`) presented as
    /// the client certificate to object stores that require one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_ref: Option<LocalObjectReference>,
}

/// A key of a Secret in the location's namespace.
///
/// Both fields are optional in the type so that a missing one reaches the location parser and
/// gets a message naming it, rather than failing to decode the whole object.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub struct SecretKeySelector {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key inside the Secret's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Accepted for compatibility with `corev1.SecretKeySelector`; veloxide always needs the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret in the location's namespace, named.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub struct LocalObjectReference {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Whether backups may be written to a location.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AccessMode {
    #[default]
    ReadWrite,
    ReadOnly,
}

/// Velero's coarse view of a location.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LocationPhase {
    Available,
    Unavailable,
}

/// What the controller last found out about a location.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStorageLocationStatus {
    /// `Available` or `Unavailable`; absent until the first validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<LocationPhase>,

    /// When the location was last validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub last_validation_time: Option<Time>,

    /// When backups were last synced from the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("nullable" = true))]
    pub last_synced_time: Option<Time>,

    /// Why the location is unavailable, and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// Deprecated and unused, kept for compatibility with Velero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_revision: Option<String>,

    /// Deprecated and unused, kept for compatibility with Velero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<AccessMode>,

    /// Standard conditions: `Ready` plus one per aspect of the check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl BackupStorageLocationSpec {
    /// Whether backups may be written here (`ReadWrite`, or no mode given).
    pub fn is_read_write(&self) -> bool {
        self.access_mode != Some(AccessMode::ReadOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seeds");

    /// Every BackupStorageLocation in the reference documents deserializes unchanged.
    #[test]
    fn reference_documents_deserialize() {
        let mut seen = 0;
        for entry in std::fs::read_dir(SEEDS).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let bsl: BackupStorageLocation =
                serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(bsl.spec.provider, "aws", "{}", path.display());
            assert_eq!(bsl.spec.object_storage.bucket, "velero-backups");
            // Round trip: nothing the user wrote is dropped or renamed.
            let original: serde_json::Value = serde_norway::from_str(&text).unwrap();
            assert_eq!(
                serde_json::to_value(&bsl).unwrap(),
                original,
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 4, "expected the reference locations, found {seen}");
    }
}
