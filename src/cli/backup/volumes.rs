//! `backup describe --details`: each volume the backup took, from its `-volumeinfo.json.gz`
//! (Velero's `BackupVolumeInfo` list), in the shape of Velero's "CSI Snapshots" section; and
//! its PodVolumeBackups, in the shape of Velero's "Pod Volume Backups" section
//! (`describePodVolumeBackups`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::PodVolumeBackup;

/// Velero's "Pod Volume Backups" section: per uploader, the count in each phase, or with
/// `details` each phase's `namespace/pod: volume, volume` lines. Empty when there are none.
pub fn pod_volume_lines(pvbs: &[PodVolumeBackup], details: bool) -> Vec<String> {
    // uploader -> phase -> pod -> volumes
    let mut by: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<String>>>> = BTreeMap::new();
    for pvb in pvbs {
        let uploader = serde_json::to_value(pvb.spec.uploader_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "restic".to_owned());
        let phase = pvb
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map_or("New".to_owned(), |p| format!("{p:?}"));
        let pod = format!(
            "{}/{}",
            pvb.spec.pod.namespace.as_deref().unwrap_or_default(),
            pvb.spec.pod.name.as_deref().unwrap_or_default()
        );
        by.entry(uploader)
            .or_default()
            .entry(phase)
            .or_default()
            .entry(pod)
            .or_default()
            .push(pvb.spec.volume.clone());
    }
    let mut out = Vec::new();
    for (uploader, phases) in by {
        if details {
            out.push(format!("Pod Volume Backups - {uploader}:"));
            for (phase, pods) in phases {
                out.push(format!("  {phase}:"));
                for (pod, volumes) in pods {
                    out.push(format!("    {pod}: {}", volumes.join(", ")));
                }
            }
        } else {
            out.push(format!(
                "Pod Volume Backups - {uploader} (specify --details for more information):"
            ));
            for (phase, pods) in phases {
                let count: usize = pods.values().map(Vec::len).sum();
                out.push(format!("  {:<11} {count}", format!("{phase}:")));
            }
        }
    }
    out
}

/// The lines describing each volume (none: `<none included>`).
pub fn lines(infos: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for info in infos.as_array().into_iter().flatten() {
        let claim = format!(
            "{}/{}",
            info["pvcNamespace"].as_str().unwrap_or_default(),
            info["pvcName"].as_str().unwrap_or_default()
        );
        out.push(format!("{claim}:"));
        if info["skipped"] == Value::Bool(true) {
            out.push(format!(
                "  Skipped: {}",
                info["skippedReason"].as_str().unwrap_or_default()
            ));
            continue;
        }
        let csi = &info["csiSnapshotInfo"];
        let s = |v: &Value| {
            v.as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("<none>")
                .to_owned()
        };
        out.push("  Snapshot:".into());
        out.push(format!("    CSI Driver:            {}", s(&csi["driver"])));
        out.push(format!(
            "    Storage Snapshot ID:   {}",
            s(&csi["snapshotHandle"])
        ));
        out.push(format!("    Snapshot Content Name: {}", s(&csi["vscName"])));
        out.push(format!(
            "    Snapshot Size (bytes): {}",
            csi["size"].as_i64().unwrap_or(0)
        ));
        out.push(format!(
            "    Ready:                 {}",
            csi["ReadyToUse"] == Value::Bool(true)
        ));
        out.push(format!("    Result:                {}", s(&info["result"])));
    }
    if out.is_empty() {
        out.push("<none included>".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_volume_backups_by_phase_as_velero_describes_them() {
        let pvb = |pod: &str, volume: &str, phase: Option<&str>| -> PodVolumeBackup {
            serde_json::from_value(json!({
                "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
                "metadata": {"name": format!("b-{pod}-{volume}"), "namespace": "velero"},
                "spec": {"node": "n", "pod": {"namespace": "shop", "name": pod}, "volume": volume,
                         "backupStorageLocation": "default", "repoIdentifier": "r",
                         "uploaderType": "restic"},
                "status": phase.map(|p| json!({"phase": p})),
            }))
            .unwrap()
        };
        let pvbs = [
            pvb("db", "data", Some("Completed")),
            pvb("db", "logs", Some("Completed")),
            pvb("web", "cache", Some("Failed")),
            pvb("web", "tmp", None),
        ];
        assert_eq!(
            pod_volume_lines(&pvbs, true),
            [
                "Pod Volume Backups - restic:",
                "  Completed:",
                "    shop/db: data, logs",
                "  Failed:",
                "    shop/web: cache",
                "  New:",
                "    shop/web: tmp",
            ]
        );
        assert_eq!(
            pod_volume_lines(&pvbs, false),
            [
                "Pod Volume Backups - restic (specify --details for more information):",
                "  Completed:  2",
                "  Failed:     1",
                "  New:        1",
            ]
        );
        assert!(pod_volume_lines(&[], true).is_empty());
    }

    #[test]
    fn each_volume_with_its_snapshot_or_why_not() {
        let infos = json!([
            {"pvcName": "data-db-0", "pvcNamespace": "db", "backupMethod": "CSISnapshot", "skipped": false,
             "result": "succeeded",
             "csiSnapshotInfo": {"snapshotHandle": "snap-1", "size": 16777216, "driver": "csi.veloxide.dev",
                                 "vscName": "snapcontent-1", "ReadyToUse": true}},
            {"pvcName": "cache", "pvcNamespace": "db", "skipped": true,
             "skippedReason": "claim db/cache: skipped by the backup's resource policy (action skip)"},
        ]);
        let got = lines(&infos).join("\n");
        for want in [
            "db/data-db-0:",
            "CSI Driver:            csi.veloxide.dev",
            "Storage Snapshot ID:   snap-1",
            "Snapshot Size (bytes): 16777216",
            "Ready:                 true",
            "db/cache:\n  Skipped: claim db/cache: skipped",
        ] {
            assert!(got.contains(want), "{want:?} in\n{got}");
        }
        assert_eq!(lines(&json!([])), ["<none included>"]);
    }
}
