//! Whether a claim's volume is snapshotted, Velero's way (`pkg/util/volumehelper`,
//! `ShouldPerformSnapshot`, and the PVC action's own checks): a matching resource policy
//! decides first; otherwise `spec.snapshotVolumes` (unset means yes). Only a bound claim of a
//! CSI volume can be snapshotted through the VolumeSnapshot API.

use super::policy::{Action, Policies, Volume};

/// What happens to one claim's volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Snapshot,
    /// Not snapshotted, on purpose; said in the backup log and the volume info.
    Skip(String),
    /// Not snapshotted, and the user loses something they asked for: a warning.
    Warn(String),
}

/// The facts of a claim the decision needs.
#[derive(Clone, Debug, Default)]
pub struct Claim {
    /// `namespace/name`.
    pub name: String,
    pub phase: String,
    /// The bound volume's name (empty when unbound).
    pub volume: String,
    pub volume_facts: Volume,
}

/// Decide for one claim.
pub fn decide(snapshot_volumes: Option<bool>, policies: Option<&Policies>, c: &Claim) -> Decision {
    let by_policy = policies.and_then(|p| p.action_for(&c.volume_facts));
    match by_policy {
        Some(Action::Skip) => {
            return Decision::Skip(format!(
                "claim {}: skipped by the backup's resource policy (action skip)",
                c.name
            ));
        }
        Some(Action::FsBackup) => {
            // A pod the backup takes that mounts the claim has had it taken file by file
            // already (such claims never reach this decision); here none did.
            return Decision::Warn(format!(
                "claim {}: the resource policy asks for fs-backup, but no running pod the backup \
                 takes mounts it, so its volume contents are not in the backup (not snapshotted \
                 either, as the policy says)",
                c.name
            ));
        }
        Some(Action::Snapshot) => {}
        None if snapshot_volumes == Some(false) => {
            return Decision::Skip(format!(
                "claim {}: not snapshotted: spec.snapshotVolumes is false",
                c.name
            ));
        }
        None => {}
    }
    if c.phase != "Bound" || c.volume.is_empty() {
        return Decision::Warn(format!(
            "claim {} is not bound (phase {:?}): there is no volume to snapshot",
            c.name, c.phase
        ));
    }
    if c.volume_facts.csi_driver.is_none() {
        return Decision::Warn(format!(
            "claim {}: its volume {} is not a CSI volume; veloxide snapshots CSI volumes only, \
             so its contents are not in the backup",
            c.name, c.volume
        ));
    }
    Decision::Snapshot
}

#[cfg(test)]
mod tests {
    use super::super::policy::parse;
    use super::*;

    fn claim(phase: &str, volume: &str, csi: bool, class: &str) -> Claim {
        Claim {
            name: "app/data".into(),
            phase: phase.into(),
            volume: volume.into(),
            volume_facts: Volume {
                storage_class: class.into(),
                csi_driver: csi.then(|| "csi.veloxide.dev".to_string()),
                pvc_phase: phase.into(),
                capacity: 1 << 20,
                ..Volume::default()
            },
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn policy_then_spec_then_what_can_be_snapshotted() {
        let skip_slow =
            parse("version: v1\nvolumePolicies:\n- conditions: {storageClass: [slow]}\n  action: {type: skip}\n- conditions: {storageClass: [fs]}\n  action: {type: fs-backup}\n- conditions: {storageClass: [snap]}\n  action: {type: snapshot}\n")
                .unwrap();
        let bound = |class: &str| claim("Bound", "pv-1", true, class);
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<bool>, Option<&Policies>, Claim, &str)> = vec![
            ("unset snapshotVolumes means yes", None, None, bound("fast"), "snapshot"),
            ("true", Some(true), None, bound("fast"), "snapshot"),
            ("false", Some(false), None, bound("fast"), "skip"),
            ("a skip policy wins over true", Some(true), Some(&skip_slow), bound("slow"), "skip"),
            ("a snapshot policy wins over false", Some(false), Some(&skip_slow), bound("snap"), "snapshot"),
            ("fs-backup with no pod to take it: a warning", None, Some(&skip_slow), bound("fs"), "warn"),
            ("no policy matches: the spec decides", Some(false), Some(&skip_slow), bound("fast"), "skip"),
            ("an unbound claim", None, None, claim("Pending", "", true, "fast"), "warn"),
            ("not a CSI volume", None, None, claim("Bound", "pv-1", false, "fast"), "warn"),
        ];
        for (what, flag, policies, c, want) in cases {
            let got = match decide(flag, policies, &c) {
                Decision::Snapshot => "snapshot",
                Decision::Skip(m) => {
                    assert!(m.contains("app/data"), "{what}: {m}");
                    "skip"
                }
                Decision::Warn(m) => {
                    assert!(m.contains("app/data"), "{what}: {m}");
                    "warn"
                }
            };
            assert_eq!(got, want, "{what}");
        }
    }
}
