//! The flags of a backup's spec, as Velero's `backup create` and `schedule create` share them
//! (`BindFlags` of its backup `CreateOptions`): one mapping from flags to a `BackupSpec`, used
//! by both commands, so a flag cannot mean one thing for a backup and another for a schedule.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{Value, json};

use super::super::selector::{parse_or_selector, parse_selector};
use super::super::usage::{UsageError, go_duration, non_empty};

/// Velero's default retention when `--ttl` is not given.
pub const DEFAULT_TTL: &str = "720h0m0s";

#[derive(Args, Debug, Clone)]
pub struct SpecArgs {
    /// Namespaces to include (comma-separated; `*` for all).
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub include_namespaces: Vec<String>,
    /// Namespaces to exclude.
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    /// Resources to include, as resource.group (e.g. storageclasses.storage.k8s.io; `*` for
    /// all). Not with the scoped-resource flags.
    #[arg(long, value_delimiter = ',')]
    pub include_resources: Vec<String>,
    /// Resources to exclude, as resource.group. Not with the scoped-resource flags.
    #[arg(long, value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// Cluster-scoped resources to include, as resource.group (`*` for all). Not with
    /// --include-resources, --exclude-resources or --include-cluster-resources.
    #[arg(long, value_delimiter = ',')]
    pub include_cluster_scoped_resources: Vec<String>,
    /// Cluster-scoped resources to exclude, as resource.group.
    #[arg(long, value_delimiter = ',')]
    pub exclude_cluster_scoped_resources: Vec<String>,
    /// Namespaced resources to include, as resource.group (`*` for all).
    #[arg(long, value_delimiter = ',')]
    pub include_namespace_scoped_resources: Vec<String>,
    /// Namespaced resources to exclude, as resource.group.
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespace_scoped_resources: Vec<String>,
    /// Include cluster-scoped resources (`--include-cluster-resources` alone means true);
    /// unset includes them only when every namespace is backed up.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub include_cluster_resources: Option<bool>,
    /// Only back up resources matching this label selector (`app=web,tier in (a,b)`).
    #[arg(short = 'l', long, value_parser = super::super::output::selector_arg)]
    pub selector: Option<String>,
    /// Resources matching at least one of these selectors, separated by ` or `
    /// (`app=web or tier=db`). Not with --selector.
    #[arg(long, value_parser = or_selector_arg)]
    pub or_selector: Option<String>,
    /// The location to store the backup in (default: the default location).
    #[arg(long)]
    pub storage_location: Option<String>,
    /// VolumeSnapshotLocations for native volume snapshots (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub volume_snapshot_locations: Vec<String>,
    /// How long before the backup is deleted (Go duration).
    #[arg(long, default_value = DEFAULT_TTL, value_parser = go_duration)]
    pub ttl: String,
    /// Snapshot PersistentVolumes (`--snapshot-volumes` alone means true; unset, Velero
    /// treats it as true).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub snapshot_volumes: Option<bool>,
    /// Move snapshot data to the location (`--snapshot-move-data` alone means true).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub snapshot_move_data: Option<bool>,
    /// Back up every pod volume file by file (`--default-volumes-to-fs-backup` alone means true).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub default_volumes_to_fs_backup: Option<bool>,
    /// The order of specific objects of a resource: `KIND=ns/a,ns/b;KIND2=name` (Velero's
    /// syntax, e.g. `pods=ns1/pod1,ns1/pod2;persistentvolumeclaims=ns1/pvc4`).
    #[arg(long, value_parser = ordered_resources_arg)]
    pub ordered_resources: Option<String>,
    /// How long to wait for a CSI snapshot to be ready (Go duration; unset: the server's 10m).
    #[arg(long, value_parser = go_duration)]
    pub csi_snapshot_timeout: Option<String>,
    /// How long asynchronous item operations may take (Go duration; unset: the server's 4h).
    #[arg(long, value_parser = go_duration)]
    pub item_operation_timeout: Option<String>,
    /// The ConfigMap of resource policies the backup follows (`spec.resourcePolicy`).
    #[arg(long)]
    pub resource_policies_configmap: Option<String>,
    /// The data mover (`velero` or empty: the built-in one).
    #[arg(long)]
    pub data_mover: Option<String>,
    /// Files the file-system uploader sends at once (`spec.uploaderConfig`; 0: its default).
    #[arg(long, default_value_t = 0)]
    pub parallel_files_upload: u32,
}

/// `--or-selector`, checked at parse time.
fn or_selector_arg(text: &str) -> Result<String, String> {
    parse_or_selector(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{e:#}"))
}

/// `--ordered-resources`, checked at parse time.
fn ordered_resources_arg(text: &str) -> Result<String, String> {
    ordered_resources(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.0)
}

/// Velero's `--ordered-resources` syntax: `KIND=NAMES` pairs separated by `;`, each side
/// trimmed, NAMES kept as written (`ns/a,ns/b`).
pub fn ordered_resources(text: &str) -> Result<BTreeMap<String, String>, UsageError> {
    text.split(';')
        .map(|entry| {
            let parts: Vec<&str> = entry.split('=').collect();
            match parts.as_slice() {
                [kind, names] if !kind.trim().is_empty() => {
                    Ok((kind.trim().to_owned(), names.trim().to_owned()))
                }
                _ => Err(UsageError(format!(
                    "--ordered-resources: {entry:?} is not KIND=NAMES; write it as \
                     'pods=ns1/pod1,ns1/pod2;persistentvolumeclaims=ns1/pvc4'"
                ))),
            }
        })
        .collect()
}

impl SpecArgs {
    /// The `BackupSpec` these flags describe, as Velero's `BuildBackup` makes it: unset flags
    /// leave their field out. Velero's CLI refusals come first: `--selector` with
    /// `--or-selector`, and the old resource filters with the scoped ones.
    pub fn spec(&self) -> Result<Value, UsageError> {
        let list = non_empty;
        if self.selector.is_some() && self.or_selector.is_some() {
            return Err(UsageError(
                "either a 'selector' or an 'or-selector' can be specified, but not both".into(),
            ));
        }
        let old = !self.include_resources.is_empty()
            || !self.exclude_resources.is_empty()
            || self.include_cluster_resources.is_some();
        let scoped = [
            &self.include_cluster_scoped_resources,
            &self.exclude_cluster_scoped_resources,
            &self.include_namespace_scoped_resources,
            &self.exclude_namespace_scoped_resources,
        ]
        .iter()
        .any(|l| list(l).is_some());
        if old && scoped {
            return Err(UsageError(
                "--include-resources, --exclude-resources and --include-cluster-resources are \
                 the old resource filters; --include-cluster-scoped-resources, \
                 --exclude-cluster-scoped-resources, --include-namespace-scoped-resources and \
                 --exclude-namespace-scoped-resources the new ones; use one kind or the other"
                    .into(),
            ));
        }
        let usage = |e: anyhow::Error| UsageError(format!("{e:#}"));
        let selector = self
            .selector
            .as_deref()
            .map(parse_selector)
            .transpose()
            .map_err(usage)?;
        let or_selectors = self
            .or_selector
            .as_deref()
            .map(parse_or_selector)
            .transpose()
            .map_err(usage)?;
        let ordered = self
            .ordered_resources
            .as_deref()
            .map(ordered_resources)
            .transpose()?;
        Ok(json!({
            "includedNamespaces": list(&self.include_namespaces),
            "excludedNamespaces": list(&self.exclude_namespaces),
            "includedResources": list(&self.include_resources),
            "excludedResources": list(&self.exclude_resources),
            "includedClusterScopedResources": list(&self.include_cluster_scoped_resources),
            "excludedClusterScopedResources": list(&self.exclude_cluster_scoped_resources),
            "includedNamespaceScopedResources": list(&self.include_namespace_scoped_resources),
            "excludedNamespaceScopedResources": list(&self.exclude_namespace_scoped_resources),
            "includeClusterResources": self.include_cluster_resources,
            "labelSelector": selector,
            "orLabelSelectors": or_selectors,
            "storageLocation": self.storage_location.as_deref().filter(|l| !l.is_empty()),
            "volumeSnapshotLocations": list(&self.volume_snapshot_locations),
            "ttl": self.ttl,
            "snapshotVolumes": self.snapshot_volumes,
            "snapshotMoveData": self.snapshot_move_data,
            "defaultVolumesToFsBackup": self.default_volumes_to_fs_backup,
            "orderedResources": ordered,
            "csiSnapshotTimeout": self.csi_snapshot_timeout,
            "itemOperationTimeout": self.item_operation_timeout,
            // Velero's CLI names the ConfigMap with this lower-case kind.
            "resourcePolicy": self.resource_policies_configmap.as_ref()
                .map(|name| json!({"kind": "configmap", "name": name})),
            "datamover": self.data_mover.as_deref().filter(|d| !d.is_empty()),
            "uploaderConfig": (self.parallel_files_upload > 0)
                .then(|| json!({"parallelFilesUpload": self.parallel_files_upload})),
        }))
    }
}

#[cfg(test)]
mod tests;
