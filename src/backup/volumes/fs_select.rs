//! Which of a pod's volumes file-system backup takes, Velero's way: with
//! `defaultVolumesToFsBackup` every volume except those the annotation
//! `backup.velero.io/backup-volumes-excludes` names and those whose contents come from the
//! cluster's own objects (`pkg/util/podvolume/pod_volume.go`, `GetVolumesByPod`); without it,
//! only those the annotation `backup.velero.io/backup-volumes` names. Then the checks Velero's
//! backupper makes on each (`pkg/podvolume/backupper.go`): the volume exists in the pod, is not
//! a hostPath, is mounted by a container, and is not a raw block device.
//!
//! A backup's resource policy comes first, as in Velero (`internal/volumehelper`,
//! `ShouldPerformFSBackup`): a volume a policy matches is taken file by file when the policy's
//! action is `fs-backup`, and not at all this way when it is another action, whatever the
//! annotations say; the annotations and `defaultVolumesToFsBackup` decide only for volumes no
//! policy matches.
//!
//! Pure: the pod and what the policies said of its volumes in, one [`FsChoice`] per volume out
//! (`fs_step` reads the claims and volumes the policies need).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Volume};

use super::policy::Action;

/// Velero's opt-in annotation: a comma-separated list of the pod's volume names.
pub const VOLUMES_TO_BACKUP: &str = "backup.velero.io/backup-volumes";
/// Velero's opt-out annotation, read when `defaultVolumesToFsBackup` is on.
pub const VOLUMES_TO_EXCLUDE: &str = "backup.velero.io/backup-volumes-excludes";

/// What file-system backup does with one volume of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsChoice {
    /// Back it up (a PodVolumeBackup for it).
    Backup,
    /// Excluded by the opt-out annotation (Velero counts these as opted out).
    OptedOut,
    /// Left out on purpose, as Velero leaves it out: its contents come from the cluster's
    /// objects (Secret, ConfigMap, projected, downward API, a service account token).
    NotApplicable(String),
    /// Asked for, but cannot be taken: a warning naming the volume and why.
    Skipped(String),
}

/// What a resource policy said of one pod volume: its action, or why it could not be known
/// (the volume's claim could not be read).
pub type PolicyAnswer = Result<Action, String>;

/// One choice per volume considered, in the pod's order (the annotation's order for names the
/// pod does not have, which come last); `by_policy` holds the volumes a resource policy matched.
pub fn select(
    pod: &Pod,
    default_volumes_to_fs_backup: bool,
    by_policy: &BTreeMap<String, PolicyAnswer>,
) -> Vec<(String, FsChoice)> {
    let mut out = by_annotations(pod, default_volumes_to_fs_backup);
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    for volume in volumes {
        let Some(answer) = by_policy.get(&volume.name) else {
            continue;
        };
        let name = &volume.name;
        let choice = match answer {
            Ok(Action::FsBackup) => match from_cluster_objects(volume) {
                Some(why) => FsChoice::NotApplicable(why),
                None => check(pod, volume),
            },
            Ok(other) => FsChoice::NotApplicable(format!(
                "volume {name}: the backup's resource policy says {} for it, not fs-backup",
                other.as_str()
            )),
            Err(why) => FsChoice::Skipped(format!(
                "volume {name}: whether the backup's resource policy takes it file by file is \
                 not known ({why}); it was not backed up that way"
            )),
        };
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = choice,
            None => out.push((name.clone(), choice)),
        }
    }
    out
}

/// The annotations' and `defaultVolumesToFsBackup`'s choice (Velero's "legacy" way).
fn by_annotations(pod: &Pod, default_volumes_to_fs_backup: bool) -> Vec<(String, FsChoice)> {
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    let annotation = |key: &str| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(|v| split_names(v))
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    if default_volumes_to_fs_backup {
        let excluded = annotation(VOLUMES_TO_EXCLUDE);
        for volume in &volumes {
            let choice = if let Some(why) = from_cluster_objects(volume) {
                FsChoice::NotApplicable(why)
            } else if excluded.contains(&volume.name) {
                FsChoice::OptedOut
            } else {
                check(pod, volume)
            };
            out.push((volume.name.clone(), choice));
        }
    } else {
        for name in annotation(VOLUMES_TO_BACKUP) {
            let choice = match volumes.iter().find(|v| v.name == name) {
                Some(volume) => check(pod, volume),
                None => FsChoice::Skipped(format!(
                    "annotation {VOLUMES_TO_BACKUP} names volume {name:?}, which the pod does not have"
                )),
            };
            out.push((name, choice));
        }
    }
    out
}

/// Velero splits on commas and keeps what is between, spaces included, so `data, logs` names a
/// volume " logs" it then does not find; here names are trimmed, and empty ones (a trailing
/// comma) dropped rather than reported as missing volumes.
fn split_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Volumes whose contents the backup already holds as objects, or that hold none of the
/// pod's data (Velero skips them by default).
fn from_cluster_objects(volume: &Volume) -> Option<String> {
    let kind = if volume.secret.is_some() {
        "a Secret volume"
    } else if volume.config_map.is_some() {
        "a ConfigMap volume"
    } else if volume.projected.is_some() {
        "a projected volume"
    } else if volume.downward_api.is_some() {
        "a downward API volume"
    } else if volume.name.starts_with("default-token") {
        "the default service account token"
    } else {
        return None;
    };
    Some(format!(
        "volume {}: {kind}, whose contents come from the cluster's objects",
        volume.name
    ))
}

/// The backupper's checks on a volume that was asked for.
fn check(pod: &Pod, volume: &Volume) -> FsChoice {
    let name = &volume.name;
    if volume.host_path.is_some() {
        return FsChoice::Skipped(format!(
            "volume {name}: a hostPath volume, which is not under the kubelet's pods directory \
             the node agent reads; back it up another way"
        ));
    }
    let containers = pod
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .into_iter()
        .flatten();
    let mut mounted = false;
    for c in containers {
        if c.volume_devices.iter().flatten().any(|d| &d.name == name) {
            return FsChoice::Skipped(format!(
                "volume {name}: a raw block device (volumeDevices), which file-system backup cannot read"
            ));
        }
        mounted |= c.volume_mounts.iter().flatten().any(|m| &m.name == name);
    }
    if !mounted {
        return FsChoice::Skipped(format!(
            "volume {name}: declared in the pod but mounted by no container"
        ));
    }
    FsChoice::Backup
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value, volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "db-0", "namespace": "shop", "annotations": annotations},
            "spec": {
                "containers": [{
                    "name": "db",
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data"},
                        {"name": "logs", "mountPath": "/logs"},
                        {"name": "cfg", "mountPath": "/cfg"},
                        {"name": "host", "mountPath": "/host"},
                    ],
                    "volumeDevices": [{"name": "raw", "devicePath": "/dev/xvda"}],
                }],
                "volumes": volumes,
            }
        }))
        .unwrap()
    }

    fn volumes() -> serde_json::Value {
        json!([
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
            {"name": "logs", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "host", "hostPath": {"path": "/var/log"}},
            {"name": "raw", "persistentVolumeClaim": {"claimName": "raw"}},
            {"name": "unmounted", "emptyDir": {}},
            {"name": "default-token-x1", "secret": {"secretName": "t"}},
        ])
    }

    fn kinds(choices: &[(String, FsChoice)]) -> Vec<(&str, &str)> {
        choices
            .iter()
            .map(|(n, c)| {
                let k = match c {
                    FsChoice::Backup => "backup",
                    FsChoice::OptedOut => "opted-out",
                    FsChoice::NotApplicable(_) => "n/a",
                    FsChoice::Skipped(_) => "skipped",
                };
                (n.as_str(), k)
            })
            .collect()
    }

    #[test]
    fn selects_as_velero() {
        type Case<'a> = (&'a str, serde_json::Value, bool, Vec<(&'a str, &'a str)>);
        let table: Vec<Case> = vec![
            (
                "no annotation, no default: nothing",
                json!({}),
                false,
                vec![],
            ),
            (
                "opt-in names volumes, whatever their kind",
                json!({VOLUMES_TO_BACKUP: "data, logs,host,raw,unmounted,missing,"}),
                false,
                vec![
                    ("data", "backup"),
                    ("logs", "backup"),
                    ("host", "skipped"),
                    ("raw", "skipped"),
                    ("unmounted", "skipped"),
                    ("missing", "skipped"),
                ],
            ),
            (
                "default on: every volume but objects' and the excluded",
                json!({VOLUMES_TO_EXCLUDE: "logs"}),
                true,
                vec![
                    ("data", "backup"),
                    ("logs", "opted-out"),
                    ("cfg", "n/a"),
                    ("host", "skipped"),
                    ("raw", "skipped"),
                    ("unmounted", "skipped"),
                    ("default-token-x1", "n/a"),
                ],
            ),
            (
                "default on ignores the opt-in annotation",
                json!({VOLUMES_TO_BACKUP: "cfg"}),
                true,
                vec![
                    ("data", "backup"),
                    ("logs", "backup"),
                    ("cfg", "n/a"),
                    ("host", "skipped"),
                    ("raw", "skipped"),
                    ("unmounted", "skipped"),
                    ("default-token-x1", "n/a"),
                ],
            ),
        ];
        for (what, annotations, default, want) in table {
            let got = select(&pod(annotations, volumes()), default, &BTreeMap::new());
            assert_eq!(kinds(&got), want, "{what}");
        }
    }

    #[test]
    fn skips_say_which_volume_and_why() {
        let got = select(
            &pod(json!({VOLUMES_TO_BACKUP: "host,missing"}), volumes()),
            false,
            &BTreeMap::new(),
        );
        let FsChoice::Skipped(host) = &got[0].1 else {
            panic!("{got:?}")
        };
        assert!(host.contains("volume host: a hostPath volume"), "{host}");
        let FsChoice::Skipped(missing) = &got[1].1 else {
            panic!("{got:?}")
        };
        assert!(
            missing.contains("\"missing\", which the pod does not have"),
            "{missing}"
        );
    }

    #[test]
    fn a_matching_policy_decides_before_the_annotations() {
        let by_policy: BTreeMap<String, PolicyAnswer> = [
            // Opted in by the annotation, but the policy says snapshot: not file by file.
            ("data", Ok(Action::Snapshot)),
            // Not opted in: the policy's fs-backup takes it.
            ("logs", Ok(Action::FsBackup)),
            // fs-backup cannot take a ConfigMap's volume, whatever the policy says.
            ("cfg", Ok(Action::FsBackup)),
            ("host", Ok(Action::FsBackup)),
            ("unmounted", Err("reading claim x failed: 503".to_string())),
        ]
        .into_iter()
        .map(|(n, a)| (n.to_string(), a))
        .collect();
        let got = select(
            &pod(json!({VOLUMES_TO_BACKUP: "data,raw"}), volumes()),
            false,
            &by_policy,
        );
        assert_eq!(
            kinds(&got),
            vec![
                ("data", "n/a"),
                ("raw", "skipped"),
                ("logs", "backup"),
                ("cfg", "n/a"),
                ("host", "skipped"),
                ("unmounted", "skipped"),
            ]
        );
        let FsChoice::NotApplicable(data) = &got[0].1 else {
            panic!("{got:?}")
        };
        assert!(data.contains("policy says snapshot"), "{data}");
        let FsChoice::Skipped(unknown) = &got[5].1 else {
            panic!("{got:?}")
        };
        assert!(unknown.contains("503"), "{unknown}");
        // With no policy matching, the same pod is the annotations' alone.
        let plain = select(
            &pod(json!({VOLUMES_TO_BACKUP: "data,raw"}), volumes()),
            false,
            &BTreeMap::new(),
        );
        assert_eq!(kinds(&plain), vec![("data", "backup"), ("raw", "skipped")]);
    }
}
