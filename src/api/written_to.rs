//! `status.writtenTo` (veloxide's own): where a backup's files were written and whose they are,
//! so nothing reaches them through a location repointed since.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// veloxide extension: the location a backup's files were written to, and the store it pointed
/// at then (a location edited to point elsewhere is not used to delete, clean up, restore or
/// download them), and whose files they are.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupWrittenTo {
    /// The BackupStorageLocation's name.
    pub location: String,
    pub bucket: String,
    /// The prefix inside the bucket, without leading or trailing `/` (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The location's provider (`aws`). Unset in records of older releases, which name only
    /// the bucket and prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The location's `config.s3Url`, without a trailing `/` (unset: the provider's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_url: Option<String>,
    /// The location's `config.region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The uid of the Backup whose files these are: this one's for a backup made here, the
    /// stored `velero-backup.json`'s for one the sync brought in. Cleanups and deletions
    /// delete only while the store's owner marker (or stored metadata) names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl BackupWrittenTo {
    /// What a location points at now, in the form it is recorded in.
    pub fn of(location: &str, spec: &super::bsl::BackupStorageLocationSpec) -> Self {
        let storage = &spec.object_storage;
        let config = |key: &str| {
            spec.config
                .as_ref()
                .and_then(|c| c.get(key))
                .map(|v| v.trim().trim_end_matches('/').to_owned())
                .filter(|v| !v.is_empty())
        };
        BackupWrittenTo {
            location: location.to_owned(),
            bucket: storage.bucket.clone(),
            prefix: storage
                .prefix
                .as_deref()
                .unwrap_or("")
                .trim_matches('/')
                .to_owned(),
            provider: Some(spec.provider.trim_start_matches("velero.io/").to_owned()),
            s3_url: config("s3Url"),
            region: config("region"),
            uid: None,
        }
    }

    /// The same record, naming whose files these are.
    pub fn owned_by(mut self, uid: Option<String>) -> Self {
        self.uid = uid;
        self
    }

    /// How the store a location points at `now` differs from this record, as a message for a
    /// condition or an event; `None` when it is the same store. A record of an older release
    /// (no provider) is compared by bucket and prefix only.
    pub fn moved(&self, now: &BackupWrittenTo) -> Option<String> {
        let describe = |w: &BackupWrittenTo, full: bool| {
            let mut text = format!("bucket {:?} prefix {:?}", w.bucket, w.prefix);
            if full {
                text.push_str(&format!(
                    " at {} (region {})",
                    w.s3_url.as_deref().unwrap_or("the provider's endpoint"),
                    w.region.as_deref().unwrap_or("unset")
                ));
            }
            text
        };
        let full = self.provider.is_some();
        let same = self.bucket == now.bucket
            && self.prefix == now.prefix
            && (!full
                || (self.provider == now.provider
                    && self.s3_url == now.s3_url
                    && self.region == now.region));
        (!same).then(|| {
            format!(
                "backup storage location {} now points at {}, but the backup was written to {}; \
                 point the location back (or create one that does) to reach its files",
                self.location,
                describe(now, full),
                describe(self, full)
            )
        })
    }
}
