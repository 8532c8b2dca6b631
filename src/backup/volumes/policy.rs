//! Velero's resource policies (`internal/resourcepolicies/`): a ConfigMap named by the Backup's
//! `spec.resourcePolicy` holding one YAML document, `version: v1`, whose `volumePolicies` each
//! pair conditions on a volume with an action. The first policy whose every condition holds
//! decides; none means the backup's own settings decide.
//!
//! Parsed once, before the backup runs; a policy that does not parse is the backup's
//! FailedValidation, with the field named.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What a matching policy asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Skip,
    Snapshot,
    FsBackup,
}

impl Action {
    /// As a policy document spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Skip => "skip",
            Action::Snapshot => "snapshot",
            Action::FsBackup => "fs-backup",
        }
    }
}

/// A volume, as the conditions see it (Velero's `structuredVolume`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Volume {
    /// The volume's capacity in bytes (the PV's `spec.capacity.storage`).
    pub capacity: u128,
    pub storage_class: String,
    pub csi_driver: Option<String>,
    pub csi_attributes: BTreeMap<String, String>,
    /// `(server, path)` of an NFS volume.
    pub nfs: Option<(String, String)>,
    pub pvc_labels: BTreeMap<String, String>,
    pub pvc_phase: String,
}

/// The parsed policies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policies {
    volume: Vec<VolumePolicy>,
}

#[derive(Clone, Debug, PartialEq)]
struct VolumePolicy {
    /// Inclusive bounds in bytes; 0 is "no bound" as in Velero's `capacity.isInRange`.
    capacity: (u128, u128),
    storage_class: Vec<String>,
    csi: Option<(String, BTreeMap<String, String>)>,
    nfs: Option<(String, String)>,
    pvc_labels: BTreeMap<String, String>,
    pvc_phase: Vec<String>,
    action: Action,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    version: Option<String>,
    #[serde(default)]
    volume_policies: Vec<RawPolicy>,
    /// Velero's resource include/exclude policy: not applied by veloxide; refused so it is not
    /// silently ignored.
    include_exclude_policy: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    conditions: Conditions,
    action: RawAction,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Conditions {
    capacity: Option<String>,
    #[serde(default)]
    storage_class: Vec<String>,
    csi: Option<Csi>,
    nfs: Option<Nfs>,
    #[serde(default)]
    pvc_labels: BTreeMap<String, String>,
    #[serde(default)]
    pvc_phase: Vec<String>,
    volume_types: Option<serde_norway::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Csi {
    #[serde(default)]
    driver: String,
    #[serde(default)]
    volume_attributes: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Nfs {
    #[serde(default)]
    server: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(rename = "type")]
    kind: String,
    #[allow(dead_code)]
    parameters: Option<serde_norway::Value>,
}

/// The ConfigMap's `data` (exactly one key, as Velero requires) parsed into policies. `name` is
/// `namespace/name`, for the messages.
pub fn from_config_map(name: &str, data: &BTreeMap<String, String>) -> Result<Policies, String> {
    let (key, yaml) = match data.iter().collect::<Vec<_>>().as_slice() {
        [(key, yaml)] => (key.as_str(), yaml.as_str()),
        _ => {
            return Err(format!(
                "spec.resourcePolicy: ConfigMap {name} must hold exactly one key (the policy YAML), it has {}",
                data.len()
            ));
        }
    };
    parse(yaml).map_err(|e| format!("spec.resourcePolicy: ConfigMap {name}, key {key}: {e}"))
}

/// One policy document.
pub fn parse(yaml: &str) -> Result<Policies, String> {
    let doc: Document = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
    if doc.version.as_deref() != Some("v1") {
        return Err(format!(
            "version is {:?}; the only version Velero and veloxide read is \"v1\"",
            doc.version.unwrap_or_default()
        ));
    }
    if doc.include_exclude_policy.is_some() {
        return Err(
            "includeExcludePolicy is not supported by veloxide yet; use the Backup's \
                    included/excluded resource fields instead"
                .into(),
        );
    }
    let mut volume = Vec::new();
    for (i, raw) in doc.volume_policies.into_iter().enumerate() {
        let at = format!("volumePolicies[{i}]");
        let c = raw.conditions;
        if c.volume_types.is_some() {
            return Err(format!(
                "{at}.conditions.volumeTypes is not supported by veloxide yet; match on csi, nfs or storageClass"
            ));
        }
        let capacity = parse_capacity(c.capacity.as_deref().unwrap_or(""))
            .map_err(|e| format!("{at}.conditions.capacity: {e}"))?;
        let action = match raw.action.kind.as_str() {
            "skip" => Action::Skip,
            "snapshot" => Action::Snapshot,
            "fs-backup" => Action::FsBackup,
            other => {
                return Err(format!(
                    "{at}.action.type is {other:?}; use skip, snapshot or fs-backup"
                ));
            }
        };
        volume.push(VolumePolicy {
            capacity,
            storage_class: c.storage_class,
            csi: c.csi.map(|c| (c.driver, c.volume_attributes)),
            nfs: c.nfs.map(|n| (n.server, n.path)),
            pvc_labels: c.pvc_labels,
            pvc_phase: c.pvc_phase,
            action,
        });
    }
    Ok(Policies { volume })
}

/// Velero's `"min,max"` (either may be empty) into bytes.
fn parse_capacity(text: &str) -> Result<(u128, u128), String> {
    let text = if text.is_empty() { "," } else { text };
    let parts: Vec<&str> = text.split(',').collect();
    let [lower, upper] = parts.as_slice() else {
        return Err(format!(
            "{text:?} is not \"min,max\" (e.g. \"10Gi,100Gi\", \",5Gi\")"
        ));
    };
    let one = |s: &str| -> Result<u128, String> {
        let s = s.trim();
        if s.is_empty() {
            Ok(0)
        } else {
            quantity(s).ok_or_else(|| format!("{s:?} is not a quantity (e.g. 10Gi, 500Mi)"))
        }
    };
    Ok((one(lower)?, one(upper)?))
}

/// A Kubernetes quantity in whole units (bytes here), rounded down; `None` when it is not one.
pub fn quantity(text: &str) -> Option<u128> {
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(at);
    let factor: u128 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    (value >= 0.0).then_some((value * factor as f64) as u128)
}

impl Policies {
    /// The action of the first policy whose every condition holds for `v`.
    pub fn action_for(&self, v: &Volume) -> Option<Action> {
        self.volume.iter().find(|p| p.matches(v)).map(|p| p.action)
    }
}

impl VolumePolicy {
    fn matches(&self, v: &Volume) -> bool {
        let (lower, upper) = self.capacity;
        let capacity = match (lower, upper) {
            (0, 0) => true,
            (0, upper) => v.capacity <= upper,
            (lower, 0) => v.capacity >= lower,
            (lower, upper) => lower <= v.capacity && v.capacity <= upper,
        };
        let storage_class =
            self.storage_class.is_empty() || self.storage_class.contains(&v.storage_class);
        let csi = match (&self.csi, &v.csi_driver) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((driver, _)), Some(_)) if driver.is_empty() => true,
            (Some((driver, attrs)), Some(have)) => {
                driver == have
                    && attrs
                        .iter()
                        .all(|(k, want)| v.csi_attributes.get(k) == Some(want))
            }
        };
        let nfs = match (&self.nfs, &v.nfs) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((server, path)), Some((have_server, have_path))) => {
                (server.is_empty() || server == have_server)
                    && (path.is_empty() || path == have_path)
            }
        };
        let labels = self
            .pvc_labels
            .iter()
            .all(|(k, want)| v.pvc_labels.get(k) == Some(want));
        let phase = self.pvc_phase.is_empty() || self.pvc_phase.contains(&v.pvc_phase);
        capacity && storage_class && csi && nfs && labels && phase
    }
}

#[cfg(test)]
mod tests;
