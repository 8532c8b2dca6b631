//! `backup describe --details`: each volume the backup took, from its `-volumeinfo.json.gz`
//! (Velero's `BackupVolumeInfo` list), in the shape of Velero's "CSI Snapshots" section.

use serde_json::Value;

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
