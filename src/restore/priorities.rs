//! The order kinds are restored in: Velero's `--restore-resource-priorities` (high priorities
//! first, in order; then every other resource of the backup alphabetically; then the low
//! priorities), with Velero's default list and syntax (`a,b,-,c`: what follows `-` is low).

use crate::backup::ResourceDesc;

/// Velero 1.18's default high priorities (`pkg/cmd/server/config/config.go`): definitions and
/// namespaces first, then what workloads mount, run as or are scheduled by (PriorityClasses
/// before pods), then pods before the controllers that adopt them.
pub const DEFAULT_HIGH: &[&str] = &[
    "customresourcedefinitions",
    "namespaces",
    "storageclasses",
    "volumesnapshotclass.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "datauploads.velero.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "clusterroles",
    "roles",
    "serviceaccounts",
    "clusterrolebindings",
    "rolebindings",
    "secrets",
    "configmaps",
    "limitranges",
    "priorityclasses",
    "pods",
    "replicasets.apps",
    "clusterclasses.cluster.x-k8s.io",
    "endpoints",
    "services",
];

/// Velero 1.18's default low priorities.
pub const DEFAULT_LOW: &[&str] = &[
    "clusterbootstraps.run.tanzu.vmware.com",
    "clusters.cluster.x-k8s.io",
    "clusterresourcesets.addons.cluster.x-k8s.io",
    "apps.kappctrl.k14s.io",
    "packageinstalls.packaging.carvel.dev",
];

/// The separator between high and low priorities.
const SEPARATOR: &str = "-";

/// Velero's `types.Priorities`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priorities {
    pub high: Vec<String>,
    pub low: Vec<String>,
}

impl Default for Priorities {
    fn default() -> Self {
        Priorities {
            high: DEFAULT_HIGH.iter().map(|s| s.to_string()).collect(),
            low: DEFAULT_LOW.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl std::str::FromStr for Priorities {
    type Err = String;

    /// Velero's `Priorities.Set`: comma-separated, one `-` at most splitting high from low.
    /// An empty value keeps no priorities at all (every resource alphabetically), as in Velero.
    fn from_str(text: &str) -> Result<Priorities, String> {
        let mut out = Priorities {
            high: Vec::new(),
            low: Vec::new(),
        };
        if text.is_empty() {
            return Ok(out);
        }
        let entries: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).collect();
        let separators = entries.iter().filter(|e| *e == SEPARATOR).count();
        if separators > 1 {
            return Err(format!(
                "multiple priority separator {SEPARATOR:?} found; use one to split high \
                 priorities from low ones"
            ));
        }
        if let Some(empty) = entries.iter().position(String::is_empty) {
            return Err(format!(
                "entry {} is empty; list resources separated by single commas",
                empty + 1
            ));
        }
        match entries.iter().position(|e| e == SEPARATOR) {
            None => out.high = entries,
            Some(at) => {
                out.high = entries[..at].to_vec();
                out.low = entries[at + 1..].to_vec();
            }
        }
        Ok(out)
    }
}

impl std::fmt::Display for Priorities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut all = self.high.clone();
        if !self.low.is_empty() {
            all.push(SEPARATOR.to_owned());
            all.extend(self.low.iter().cloned());
        }
        f.write_str(&all.join(","))
    }
}

/// Where a resource falls in the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Named before `-`.
    High,
    /// Named nowhere: alphabetically between the two lists.
    Middle,
    /// Named after `-`.
    Low,
}

impl Priorities {
    /// `resources` (the backup's, described as discovery knows them) as group-resources in
    /// the order they are restored: the high priorities in order, then the rest
    /// alphabetically by group-resource, then the low priorities. A priority entry names a
    /// resource as filters do (`pods`, `replicasets.apps`, a kind or short name); one naming
    /// nothing in the backup is passed over.
    pub fn order(&self, resources: &[ResourceDesc]) -> Vec<(String, Tier)> {
        let resolve = |name: &String| {
            resources
                .iter()
                .find(|r| r.named_by(name))
                .map(ResourceDesc::group_resource)
        };
        let high: Vec<String> = self.high.iter().filter_map(resolve).collect();
        let low: Vec<String> = self.low.iter().filter_map(resolve).collect();
        let mut middle: Vec<String> = resources
            .iter()
            .map(ResourceDesc::group_resource)
            .filter(|gr| !high.contains(gr) && !low.contains(gr))
            .collect();
        middle.sort();
        middle.dedup();
        let mut order: Vec<(String, Tier)> = Vec::new();
        let tiered = high
            .into_iter()
            .map(|gr| (gr, Tier::High))
            .chain(middle.into_iter().map(|gr| (gr, Tier::Middle)))
            .chain(low.into_iter().map(|gr| (gr, Tier::Low)));
        for (gr, tier) in tiered {
            if !order.iter().any(|(seen, _)| *seen == gr) {
                order.push((gr, tier));
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(plural: &str, group: &str, namespaced: bool) -> ResourceDesc {
        ResourceDesc {
            group: group.into(),
            version: "v1".into(),
            plural: plural.into(),
            singular: plural.trim_end_matches('s').into(),
            kind: String::new(),
            short_names: vec![],
            namespaced,
        }
    }

    #[test]
    fn the_flag_parses_as_velero_parses_it() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("a,b", &["a", "b"], &[]),
            ("a,-,c", &["a"], &["c"]),
            ("-,c,d", &[], &["c", "d"]),
            ("a,b,-", &["a", "b"], &[]),
            ("-", &[], &[]),
            ("", &[], &[]),
        ];
        for (text, high, low) in cases {
            let p: Priorities = text.parse().unwrap();
            assert_eq!(p.high, *high, "{text}");
            assert_eq!(p.low, *low, "{text}");
            if !text.is_empty() && *text != "-" {
                assert_eq!(p.to_string(), text.trim_end_matches(",-"), "{text}");
            }
        }
        assert!(
            "a,-,b,-,c"
                .parse::<Priorities>()
                .unwrap_err()
                .contains("multiple")
        );
        assert!(
            "a,,b"
                .parse::<Priorities>()
                .unwrap_err()
                .contains("entry 2 is empty")
        );
        assert_eq!(Priorities::default().to_string().split(',').count(), 29);
    }

    #[test]
    fn high_first_then_alphabetical_then_low() {
        let resources = [
            desc("deployments", "apps", true),
            desc("pods", "", true),
            desc("priorityclasses", "scheduling.k8s.io", false),
            desc("customresourcedefinitions", "apiextensions.k8s.io", false),
            desc("widgets", "example.com", true),
            desc("configmaps", "", true),
            desc("clusters", "cluster.x-k8s.io", true),
        ];
        let order = Priorities::default().order(&resources);
        let names: Vec<&str> = order.iter().map(|(gr, _)| gr.as_str()).collect();
        assert_eq!(
            names,
            [
                "customresourcedefinitions.apiextensions.k8s.io",
                "configmaps",
                "priorityclasses.scheduling.k8s.io",
                "pods",
                "deployments.apps",
                "widgets.example.com",
                "clusters.cluster.x-k8s.io",
            ]
        );
        let tiers: Vec<Tier> = order.iter().map(|(_, tier)| *tier).collect();
        use Tier::*;
        assert_eq!(tiers, [High, High, High, High, Middle, Middle, Low]);
        let custom: Priorities = "widgets,-,configmaps".parse().unwrap();
        let order = custom.order(&resources);
        assert_eq!(order[0], ("widgets.example.com".into(), High));
        assert_eq!(order[resources.len() - 1], ("configmaps".into(), Low));
    }
}
