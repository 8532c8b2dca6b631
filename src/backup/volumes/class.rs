//! Which VolumeSnapshotClass snapshots a claim's volume, chosen as Velero chooses it
//! (`pkg/util/csi/volume_snapshot.go`, `GetVolumeSnapshotClass`): the claim's annotation, then
//! the Backup's per-driver annotation, then the class of the driver carrying Velero's label,
//! then the one carrying Kubernetes' default-class annotation, then the driver's only class.

use std::collections::BTreeMap;

/// The label that marks the class Velero (and veloxide) use for a driver.
pub const CLASS_LABEL: &str = "velero.io/csi-volumesnapshot-class";
/// On a claim: the class to use for it. On a Backup, `<this>_<driver>` names the class for
/// that driver's claims.
pub const CLASS_ANNOTATION: &str = "velero.io/csi-volumesnapshot-class";
/// Kubernetes' own default-class annotation, Velero's second choice.
pub const DEFAULT_CLASS_ANNOTATION: &str = "snapshot.storage.kubernetes.io/is-default-class";

/// A VolumeSnapshotClass, as far as the choice needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    pub name: String,
    pub driver: String,
    pub labelled: bool,
    pub default_annotated: bool,
}

/// The class chosen for a claim, and any annotation that named a class that could not be used
/// (Velero only logs those at debug level and falls back; the backup log says so here).
#[derive(Debug, PartialEq, Eq)]
pub struct Choice<'c> {
    pub class: Result<&'c Class, String>,
    pub notes: Vec<String>,
}

/// Choose the class for a claim of `driver`.
pub fn choose<'c>(
    driver: &str,
    claim: &str,
    claim_annotations: &BTreeMap<String, String>,
    backup_annotations: &BTreeMap<String, String>,
    classes: &'c [Class],
) -> Choice<'c> {
    let mut notes = Vec::new();
    let named = |key: &str, whose: &str, notes: &mut Vec<String>| -> Option<&'c Class> {
        let wanted = backup_or_claim(key, claim_annotations, backup_annotations, whose)?;
        match classes.iter().find(|c| c.name.eq_ignore_ascii_case(wanted)) {
            Some(c) if c.driver.eq_ignore_ascii_case(driver) => Some(c),
            Some(c) => {
                notes.push(format!(
                    "the {whose}'s annotation {key} names VolumeSnapshotClass {} of driver {}, not {driver}; \
                     choosing by label instead",
                    c.name, c.driver
                ));
                None
            }
            None => {
                notes.push(format!(
                    "the {whose}'s annotation {key} names VolumeSnapshotClass {wanted}, which does not exist; \
                     choosing by label instead"
                ));
                None
            }
        }
    };
    if let Some(c) = named(CLASS_ANNOTATION, "claim", &mut notes) {
        return Choice {
            class: Ok(c),
            notes,
        };
    }
    let backup_key = format!("{CLASS_ANNOTATION}_{}", driver.to_lowercase());
    if let Some(c) = named(&backup_key, "backup", &mut notes) {
        return Choice {
            class: Ok(c),
            notes,
        };
    }
    let of_driver: Vec<&Class> = classes.iter().filter(|c| c.driver == driver).collect();
    let class = of_driver
        .iter()
        .find(|c| c.labelled)
        .or_else(|| of_driver.iter().find(|c| c.default_annotated))
        .or(match of_driver.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .copied()
        .ok_or_else(|| {
            format!(
                "claim {claim}: no VolumeSnapshotClass for driver {driver}: give the class to use the label \
                 {CLASS_LABEL}=true (or the annotation {DEFAULT_CLASS_ANNOTATION}), or name it in the claim's \
                 annotation {CLASS_ANNOTATION}"
            )
        });
    Choice { class, notes }
}

/// The annotation `key` of the claim (`whose` = "claim") or of the backup.
fn backup_or_claim<'a>(
    key: &str,
    claim: &'a BTreeMap<String, String>,
    backup: &'a BTreeMap<String, String>,
    whose: &str,
) -> Option<&'a str> {
    let from = if whose == "claim" { claim } else { backup };
    from.get(key).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, driver: &str, labelled: bool, default_annotated: bool) -> Class {
        Class {
            name: name.into(),
            driver: driver.into(),
            labelled,
            default_annotated,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn the_choice_follows_velero_s_order() {
        let classes = vec![
            class("plain", "d", false, false),
            class("labelled", "d", true, false),
            class("default", "d", false, true),
            class("other", "e", true, false),
            class("only-f", "f", false, false),
            class("g1", "g", false, false),
            class("g2", "g", false, false),
        ];
        let none = map(&[]);
        let backup_key = "velero.io/csi-volumesnapshot-class_d";
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, BTreeMap<String, String>, BTreeMap<String, String>, Result<&str, &str>, usize)> = vec![
            ("the label wins over the default annotation", "d", none.clone(), none.clone(), Ok("labelled"), 0),
            ("the claim's annotation wins", "d", map(&[(CLASS_ANNOTATION, "plain")]), map(&[(backup_key, "default")]), Ok("plain"), 0),
            ("then the backup's, per driver", "d", none.clone(), map(&[(backup_key, "default")]), Ok("default"), 0),
            ("names compare without case", "d", map(&[(CLASS_ANNOTATION, "PLAIN")]), none.clone(), Ok("plain"), 0),
            ("a class of another driver is noted and passed over", "d", map(&[(CLASS_ANNOTATION, "other")]), none.clone(), Ok("labelled"), 1),
            ("a missing class is noted and passed over", "d", map(&[(CLASS_ANNOTATION, "gone")]), none.clone(), Ok("labelled"), 1),
            ("a driver's only class", "f", none.clone(), none.clone(), Ok("only-f"), 0),
            ("two unmarked classes: none", "g", none.clone(), none.clone(), Err("no VolumeSnapshotClass for driver g"), 0),
            ("no class at all", "h", none.clone(), none.clone(), Err("no VolumeSnapshotClass for driver h"), 0),
        ];
        for (what, driver, claim, backup, want, notes) in cases {
            let got = choose(driver, "app/data", &claim, &backup, &classes);
            match (got.class, want) {
                (Ok(c), Ok(name)) => assert_eq!(c.name, name, "{what}"),
                (Err(e), Err(part)) => {
                    assert!(e.contains(part) && e.contains("app/data"), "{what}: {e}")
                }
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
            assert_eq!(got.notes.len(), notes, "{what}: {:?}", got.notes);
        }
    }
}
