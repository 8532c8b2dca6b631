//! What a backup asks for that veloxide does not do yet, said in its status (the warning
//! count), its log and its results, naming the field and what was left out, instead of being
//! accepted and dropped. One table ([`not_done`]): the issue that builds a feature deletes its
//! row. Never a warning for a default the user did not set and that changes nothing.

use kube::api::DynamicObject;

use crate::api::{BackupSpec, RestoreSpec};

/// Velero's pod annotation naming the volumes to back up file by file.
pub const BACKUP_VOLUMES_ANNOTATION: &str = "backup.velero.io/backup-volumes";
/// The prefixes of Velero's backup hook annotations on a pod
/// (`pre.hook.backup.velero.io/command`, `.../container`, `.../on-error`, `.../timeout`).
const HOOK_ANNOTATION_PREFIXES: [&str; 2] =
    ["pre.hook.backup.velero.io/", "post.hook.backup.velero.io/"];
/// The most objects one warning names; the rest are counted.
const NAMED: usize = 5;

/// The spec fields asking for what is not done, read once from the spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Asks {
    pub snapshot_volumes: Option<bool>,
    pub default_volumes_to_fs_backup: Option<bool>,
    pub snapshot_move_data: Option<bool>,
    /// `kind/name` of `spec.resourcePolicy`.
    pub resource_policy: Option<String>,
    /// Whether `default_volumes_to_fs_backup` came from the deprecated `defaultVolumesToRestic`.
    pub restic: bool,
    /// `spec.volumeGroupSnapshotLabelKey`, when set.
    pub group_label: Option<String>,
    /// `spec.volumeSnapshotLocations`.
    pub snapshot_locations: Vec<String>,
    /// What `spec.uploaderConfig` asked (`field=value`).
    pub uploader: Vec<String>,
}

impl Asks {
    pub fn from_spec(spec: &BackupSpec) -> Asks {
        Asks {
            snapshot_volumes: spec.snapshot_volumes,
            default_volumes_to_fs_backup: spec.volumes_to_fs_backup(),
            snapshot_move_data: spec.snapshot_move_data,
            resource_policy: spec
                .resource_policy
                .as_ref()
                .map(|r| format!("{}/{}", r.kind, r.name)),
            restic: spec.default_volumes_to_restic == Some(true),
            group_label: spec
                .volume_group_snapshot_label_key
                .clone()
                .filter(|k| !k.is_empty()),
            snapshot_locations: spec.volume_snapshot_locations.clone().unwrap_or_default(),
            uploader: spec
                .uploader_config
                .as_ref()
                .map(|u| u.asked())
                .unwrap_or_default(),
        }
    }
}

/// What the run took that a warning may name (`namespace/name`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub claims: Vec<String>,
    /// Pods with the file-system backup annotation, with its value.
    pub fs_backup_pods: Vec<(String, String)>,
    /// Pods with backup hook annotations, with the first one found.
    pub hook_pods: Vec<(String, String)>,
}

impl Seen {
    /// Note what `item` (of the resource `group`/`plural`, taken by the backup) asks for.
    /// (Plain strings, not `filter::ResourceDesc`: the filter holds this module's `Asks`.)
    pub fn observe(&mut self, group: &str, plural: &str, item: &DynamicObject) {
        if !group.is_empty() {
            return;
        }
        let name = format!(
            "{}/{}",
            item.metadata.namespace.as_deref().unwrap_or_default(),
            item.metadata.name.as_deref().unwrap_or_default()
        );
        match plural {
            "persistentvolumeclaims" => self.claims.push(name),
            "pods" => {
                let annotations = item.metadata.annotations.iter().flatten();
                for (key, value) in annotations {
                    if key == BACKUP_VOLUMES_ANNOTATION && !value.trim().is_empty() {
                        self.fs_backup_pods.push((name.clone(), value.clone()));
                    }
                }
                let hook = item
                    .metadata
                    .annotations
                    .iter()
                    .flatten()
                    .find(|(k, _)| HOOK_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)));
                if let Some((key, _)) = hook {
                    self.hook_pods.push((name, key.clone()));
                }
            }
            _ => {}
        }
    }
}

/// `a, b, c and 4 more`.
fn some(names: impl IntoIterator<Item = String>) -> String {
    let names: Vec<String> = names.into_iter().collect();
    let shown = names
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().saturating_sub(NAMED) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Every warning for what the backup asked and veloxide did not do, one per row.
pub fn not_done(asks: &Asks, seen: &Seen) -> Vec<String> {
    let mut out = Vec::new();
    if !asks.uploader.is_empty() {
        out.push(format!(
            "spec.uploaderConfig sets {}, which only file-system backup uses, and veloxide's \
             node agent does not apply it yet: it changed nothing",
            asks.uploader.join(", ")
        ));
    }
    if !asks.snapshot_locations.is_empty() {
        out.push(format!(
            "spec.volumeSnapshotLocations names {}, but veloxide takes no native (volume \
             snapshotter plugin) snapshots: none was taken through them",
            asks.snapshot_locations.join(", ")
        ));
    }
    if let Some(key) = asks
        .group_label
        .as_ref()
        .filter(|_| !seen.claims.is_empty())
    {
        out.push(format!(
            "spec.volumeGroupSnapshotLabelKey is {key}, but veloxide takes no \
             VolumeGroupSnapshots: claims labelled {key} are not snapshotted together as one \
             consistent group"
        ));
    }
    if asks.snapshot_move_data == Some(true) {
        out.push(
            "spec.snapshotMoveData is true, but veloxide does not move snapshot data to the \
             store yet: no volume data was moved"
                .to_owned(),
        );
    }
    if !seen.hook_pods.is_empty() {
        out.push(format!(
            "backup hook annotations on {} pods taken ({}): this server runs without hooks \
             (enable them with the chart's hooks.enabled); none was run",
            seen.hook_pods.len(),
            some(seen.hook_pods.iter().map(|(p, k)| format!("{p}: {k}")))
        ));
    }
    out
}

/// The same for a restore: what its spec asks for that veloxide does not do yet.
pub fn restore_not_done(spec: &RestoreSpec) -> Vec<String> {
    let mut out = Vec::new();
    let uploader = spec
        .uploader_config
        .as_ref()
        .map(|u| u.asked())
        .unwrap_or_default();
    if !uploader.is_empty() {
        out.push(format!(
            "spec.uploaderConfig sets {}, which only file-system restores use: veloxide \
             records it on each PodVolumeRestore (uploaderSettings, as Velero) but its restic \
             restore does not apply it: it changed nothing",
            uploader.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests;
