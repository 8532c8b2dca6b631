//! The PodVolumeBackup a backup creates for one pod volume, as Velero's backupper makes it
//! (`pkg/podvolume/backupper.go`, `newPodVolumeBackup`), and the repository identifier it
//! carries (`pkg/repository/config/config.go`, `GetRepoIdentifier`). Pure: objects in, object
//! out. Nothing creates these yet: the backup step that does, and the node agent that takes
//! them, come next (issue 24).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt as _;

use crate::api::delete::{BACKUP_NAME_LABEL, BACKUP_UID_LABEL};
use crate::api::{
    Backup, BackupStorageLocationSpec, PodVolumeBackup, PodVolumeBackupSpec, UploaderType,
};

/// Velero's label on a PodVolumeBackup of a claim's volume: the claim's uid.
pub const PVC_UID_LABEL: &str = "velero.io/pvc-uid";
/// Velero's annotation on it: the claim's name (its restore reads it).
pub const PVC_NAME_ANNOTATION: &str = "velero.io/pvc-name";

/// The claim behind a volume, when it is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRef {
    pub name: String,
    pub uid: String,
}

/// The repository identifier Velero records for a location and a volume namespace:
/// `s3:<s3Url>/<bucket>/<prefix>/<uploader>/<namespace>`, or `config.resticRepoPrefix` +
/// `/<namespace>` when set. Without `s3Url`, Velero's AWS endpoint for the region.
pub fn repo_identifier(
    location: &BackupStorageLocationSpec,
    uploader: UploaderType,
    namespace: &str,
) -> Result<String, String> {
    let config = location.config.clone().unwrap_or_default();
    let folder = match uploader {
        UploaderType::Kopia => "kopia",
        UploaderType::Restic | UploaderType::Unset => "restic",
    };
    if let Some(prefix) = config.get("resticRepoPrefix").filter(|p| !p.is_empty()) {
        return Ok(format!("{}/{namespace}", prefix.trim_end_matches('/')));
    }
    let url = match (config.get("s3Url"), config.get("region")) {
        (Some(url), _) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        (_, Some(region)) if !region.is_empty() => format!("s3-{region}.amazonaws.com"),
        _ => {
            return Err(
                "spec.config: neither s3Url nor region is set, so the repository's address \
                 cannot be written; set region (or s3Url)"
                    .to_owned(),
            );
        }
    };
    let bucket = &location.object_storage.bucket;
    let path = match location
        .object_storage
        .prefix
        .as_deref()
        .map(|p| p.trim_matches('/'))
    {
        Some(p) if !p.is_empty() => format!("{bucket}/{p}/{folder}"),
        _ => format!("{bucket}/{folder}"),
    };
    Ok(format!("s3:{url}/{path}/{namespace}"))
}

/// The PodVolumeBackup for `volume` of `pod`, owned by `backup`, named by the API server
/// (`<backup>-` + random), in the backup's namespace.
pub fn pod_volume_backup(
    backup: &Backup,
    pod: &Pod,
    volume: &str,
    repo_identifier: &str,
    uploader: UploaderType,
    claim: Option<&ClaimRef>,
) -> PodVolumeBackup {
    let backup_name = backup.name_any();
    let backup_uid = backup.uid().unwrap_or_default();
    let pod_name = pod.name_any();
    let pod_uid = pod.uid().unwrap_or_default();
    let pod_ns = pod.namespace().unwrap_or_default();
    let mut tags = BTreeMap::from([
        ("backup".to_owned(), backup_name.clone()),
        ("backup-uid".to_owned(), backup_uid.clone()),
        ("pod".to_owned(), pod_name.clone()),
        ("pod-uid".to_owned(), pod_uid.clone()),
        ("ns".to_owned(), pod_ns.clone()),
        ("volume".to_owned(), volume.to_owned()),
    ]);
    let mut labels = BTreeMap::from([
        (
            BACKUP_NAME_LABEL.to_owned(),
            crate::api::label::valid_name(&backup_name),
        ),
        (BACKUP_UID_LABEL.to_owned(), backup_uid.clone()),
    ]);
    let mut annotations = None;
    if let Some(claim) = claim {
        labels.insert(PVC_UID_LABEL.to_owned(), claim.uid.clone());
        tags.insert("pvc-uid".to_owned(), claim.uid.clone());
        annotations = Some(BTreeMap::from([(
            PVC_NAME_ANNOTATION.to_owned(),
            claim.name.clone(),
        )]));
    }
    let uploader_settings = backup.spec.uploader_config.as_ref().map(|c| {
        BTreeMap::from([(
            "ParallelFilesUpload".to_owned(),
            c.parallel_files_upload.unwrap_or(0).to_string(),
        )])
    });
    let spec = PodVolumeBackupSpec {
        node: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        pod: ObjectReference {
            kind: Some("Pod".to_owned()),
            namespace: Some(pod_ns),
            name: Some(pod_name),
            uid: Some(pod_uid),
            ..Default::default()
        },
        volume: volume.to_owned(),
        backup_storage_location: backup.spec.storage_location.clone().unwrap_or_default(),
        repo_identifier: repo_identifier.to_owned(),
        uploader_type: uploader,
        tags: Some(tags),
        uploader_settings,
        cancel: None,
    };
    let mut pvb = PodVolumeBackup::new("", spec);
    pvb.metadata.name = None;
    pvb.metadata.generate_name = Some(format!("{backup_name}-"));
    pvb.metadata.namespace = backup.namespace();
    pvb.metadata.labels = Some(labels);
    pvb.metadata.annotations = annotations;
    pvb.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "velero.io/v1".to_owned(),
        kind: "Backup".to_owned(),
        name: backup_name,
        uid: backup_uid,
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    pvb
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn location(config: serde_json::Value, prefix: Option<&str>) -> BackupStorageLocationSpec {
        serde_json::from_value(json!({
            "provider": "aws",
            "config": config,
            "objectStorage": {"bucket": "velero-backups", "prefix": prefix},
        }))
        .unwrap()
    }

    #[test]
    fn identifiers_are_velero_s() {
        let url = json!({"s3Url": "https://s3.storage.internal:9000/", "region": "x"});
        let table = [
            (
                location(url.clone(), Some("velero")),
                UploaderType::Restic,
                Ok("s3:https://s3.storage.internal:9000/velero-backups/velero/restic/ledger"),
            ),
            (
                location(url.clone(), None),
                UploaderType::Kopia,
                Ok("s3:https://s3.storage.internal:9000/velero-backups/kopia/ledger"),
            ),
            (
                location(json!({"region": "eu-west-1"}), Some("a/b/")),
                UploaderType::Unset,
                Ok("s3:s3-eu-west-1.amazonaws.com/velero-backups/a/b/restic/ledger"),
            ),
            (
                location(json!({"resticRepoPrefix": "s3:https://other/bkt/"}), None),
                UploaderType::Restic,
                Ok("s3:https://other/bkt/ledger"),
            ),
            (
                location(json!({}), None),
                UploaderType::Restic,
                Err("neither s3Url nor region"),
            ),
        ];
        for (spec, uploader, want) in table {
            let got = repo_identifier(&spec, uploader, "ledger");
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w),
                (Err(g), Err(w)) => assert!(g.contains(w), "{g}"),
                (g, w) => panic!("{g:?} vs {w:?}"),
            }
        }
    }

    #[test]
    fn pod_volume_backup_is_velero_s() {
        let backup: Backup = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "nightly", "namespace": "velero", "uid": "b-uid"},
            "spec": {"storageLocation": "default", "uploaderConfig": {"parallelFilesUpload": 4}},
        }))
        .unwrap();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "db-0", "namespace": "shop", "uid": "p-uid"},
            "spec": {"nodeName": "node-1", "containers": []},
        }))
        .unwrap();
        let claim = ClaimRef {
            name: "data-db-0".into(),
            uid: "c-uid".into(),
        };
        let pvb = pod_volume_backup(
            &backup,
            &pod,
            "data",
            "s3:u/b/restic/shop",
            UploaderType::Restic,
            Some(&claim),
        );
        let got = serde_json::to_value(&pvb).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
                "metadata": {
                    "generateName": "nightly-", "namespace": "velero",
                    "labels": {"velero.io/backup-name": "nightly", "velero.io/backup-uid": "b-uid",
                               "velero.io/pvc-uid": "c-uid"},
                    "annotations": {"velero.io/pvc-name": "data-db-0"},
                    "ownerReferences": [{"apiVersion": "velero.io/v1", "kind": "Backup",
                                         "name": "nightly", "uid": "b-uid", "controller": true}],
                },
                "spec": {
                    "node": "node-1",
                    "pod": {"kind": "Pod", "namespace": "shop", "name": "db-0", "uid": "p-uid"},
                    "volume": "data",
                    "backupStorageLocation": "default",
                    "repoIdentifier": "s3:u/b/restic/shop",
                    "uploaderType": "restic",
                    "tags": {"backup": "nightly", "backup-uid": "b-uid", "ns": "shop",
                             "pod": "db-0", "pod-uid": "p-uid", "pvc-uid": "c-uid",
                             "volume": "data"},
                    "uploaderSettings": {"ParallelFilesUpload": "4"},
                },
            })
        );
    }
}
