//! Which kinds a restore creates together. The kinds come in priority order
//! (`priorities.rs`); consecutive kinds share a stage unless one depends on the other, and a
//! stage starts only when the one before it is done. So a ConfigMap never waits for the last
//! Secret, while a pod still waits for its ServiceAccount, and a ReplicaSet for the pods it
//! adopts. The order between any two dependent kinds stays Velero's; only independent
//! neighbours overlap.

use super::priorities::Tier;

/// Kinds every later kind may need: a custom resource needs its definition (established, see
/// `established.rs`), a namespaced object its namespace.
const FIRST: &[&str] = &[
    "customresourcedefinitions.apiextensions.k8s.io",
    "namespaces",
];

/// Kinds that change how the API server treats every other create (a webhook with
/// `failurePolicy: Fail` whose service is not back yet refuses what it matches): each has a
/// stage of its own, where Velero's order puts it, so they judge exactly what they would in
/// Velero's sequential restore.
const ADMISSION: &[&str] = &[
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
    "mutatingadmissionpolicies.admissionregistration.k8s.io",
    "mutatingadmissionpolicybindings.admissionregistration.k8s.io",
];

/// What a pod needs when it is created or started: the ServiceAccount and PriorityClass
/// admission plugins refuse a pod naming one that does not exist, LimitRanges are applied at
/// admission, and claims, Secrets and ConfigMaps are mounted.
const POD_NEEDS: &[&str] = &[
    "serviceaccounts",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "limitranges",
    "priorityclasses.scheduling.k8s.io",
];

/// Controllers that adopt the restored pods and ReplicaSets (Velero: "pods go before
/// controllers"), or make pods of their own that need what pods need.
const CONTROLLERS: &[&str] = &[
    "replicasets.apps",
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "replicationcontrollers",
    "jobs.batch",
    "cronjobs.batch",
];

/// The kinds `kind` needs to exist before it is created (Velero's reasons for its default
/// priorities, `pkg/cmd/server/config/config.go`, as dependencies).
fn needs(kind: &str) -> &'static [&'static str] {
    match kind {
        "volumesnapshotcontents.snapshot.storage.k8s.io" => {
            &["volumesnapshotclasses.snapshot.storage.k8s.io"]
        }
        "volumesnapshots.snapshot.storage.k8s.io" => &[
            "volumesnapshotclasses.snapshot.storage.k8s.io",
            "volumesnapshotcontents.snapshot.storage.k8s.io",
        ],
        "persistentvolumes" => &["storageclasses.storage.k8s.io"],
        // A claim binds to its volume, is provisioned by its class, or from its snapshot or
        // the data mover's upload.
        "persistentvolumeclaims" => &[
            "storageclasses.storage.k8s.io",
            "persistentvolumes",
            "volumesnapshots.snapshot.storage.k8s.io",
            "datauploads.velero.io",
        ],
        // Creating a binding to a role the creator does not hold needs the role to exist
        // (RBAC's escalation check resolves it).
        "clusterrolebindings.rbac.authorization.k8s.io" => {
            &["clusterroles.rbac.authorization.k8s.io"]
        }
        "rolebindings.rbac.authorization.k8s.io" => &[
            "clusterroles.rbac.authorization.k8s.io",
            "roles.rbac.authorization.k8s.io",
        ],
        // A token Secret whose account does not exist is deleted by the token controller.
        "secrets" => &["serviceaccounts"],
        "pods" => POD_NEEDS,
        // Endpoints first, so no new Endpoints are made for the Service.
        "services" => &["endpoints"],
        _ => &[],
    }
}

/// Whether `later` must wait for `earlier` (or the other way round: a custom priority list
/// may put a kind before what it needs, and the two then keep that order, as in Velero).
fn dependent(earlier: &str, later: &str) -> bool {
    let depends = |a: &str, b: &str| {
        needs(a).contains(&b)
            || (CONTROLLERS.contains(&a)
                && (b == "pods" || CONTROLLERS.contains(&b) || POD_NEEDS.contains(&b)))
    };
    FIRST.contains(&earlier) || depends(later, earlier) || depends(earlier, later)
}

/// One kind, in the order it is restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind<'a> {
    pub group_resource: &'a str,
    pub tier: Tier,
}

/// Whether a kind is a stage of its own: the low priorities (Velero: they "can reference any
/// other kind"), an admission configuration, and, when the server was given its own priority
/// list (`custom`), every kind the list names: whoever wrote the list meant that order.
fn alone(kind: &Kind<'_>, custom: bool) -> bool {
    kind.tier == Tier::Low
        || ADMISSION.contains(&kind.group_resource)
        || (custom && kind.tier == Tier::High)
}

/// The stage of each of `kinds` (same order): numbers from 0, never decreasing. A kind joins
/// the stage of the kinds before it unless it depends on one of them, one of them depends on
/// it, or either must be alone.
pub fn stages(kinds: &[Kind<'_>], custom: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(kinds.len());
    let mut stage = 0;
    let mut start = 0;
    for (i, kind) in kinds.iter().enumerate() {
        let current = &kinds[start..i];
        let apart = alone(kind, custom)
            || current
                .iter()
                .any(|k| alone(k, custom) || dependent(k.group_resource, kind.group_resource));
        if apart && !current.is_empty() {
            stage += 1;
            start = i;
        }
        out.push(stage);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::ResourceDesc;
    use crate::restore::priorities::Priorities;

    /// The stages of `resources` (`plural.group`) ordered by `priorities`, as lists of names.
    fn staged(priorities: &Priorities, resources: &[&str]) -> Vec<Vec<String>> {
        let descs: Vec<ResourceDesc> = resources
            .iter()
            .map(|gr| {
                let (plural, group) = gr.split_once('.').unwrap_or((gr, ""));
                ResourceDesc {
                    group: group.into(),
                    version: "v1".into(),
                    plural: plural.into(),
                    singular: match plural.strip_suffix("sses") {
                        Some(stem) => format!("{stem}ss"),
                        None => plural.trim_end_matches('s').into(),
                    },
                    kind: String::new(),
                    short_names: vec![],
                    namespaced: true,
                }
            })
            .collect();
        let order = priorities.order(&descs);
        let kinds: Vec<Kind<'_>> = order
            .iter()
            .map(|(gr, tier)| Kind {
                group_resource: gr,
                tier: *tier,
            })
            .collect();
        let custom = *priorities != Priorities::default();
        let mut out: Vec<Vec<String>> = Vec::new();
        for (kind, stage) in kinds.iter().zip(stages(&kinds, custom)) {
            if out.len() == stage {
                out.push(Vec::new());
            }
            out[stage].push(kind.group_resource.to_owned());
        }
        out
    }

    #[test]
    fn dependent_kinds_keep_velero_s_order_and_the_rest_overlap() {
        let default = Priorities::default();
        let custom: Priorities = "configmaps,-,persistentvolumeclaims".parse().unwrap();
        // (what, the priorities, the backup's resources, the stages wanted)
        type Case<'a> = (&'a str, &'a Priorities, &'a [&'a str], &'a [&'a [&'a str]]);
        let cases: &[Case<'_>] = &[
            (
                "the benchmark's workload: Secrets and ConfigMaps together after namespaces",
                &default,
                &["configmaps", "secrets", "namespaces"],
                &[&["namespaces"], &["secrets", "configmaps"]],
            ),
            (
                "a definition alone and first, its resources after it",
                &default,
                &[
                    "widgets.example.com",
                    "customresourcedefinitions.apiextensions.k8s.io",
                    "configmaps",
                ],
                &[
                    &["customresourcedefinitions.apiextensions.k8s.io"],
                    &["configmaps", "widgets.example.com"],
                ],
            ),
            (
                "an application: accounts before secrets and pods, pods before their \
                 controllers, endpoints before services",
                &default,
                &[
                    "namespaces",
                    "serviceaccounts",
                    "secrets",
                    "configmaps",
                    "pods",
                    "replicasets.apps",
                    "deployments.apps",
                    "endpoints",
                    "services",
                    "ingresses.networking.k8s.io",
                ],
                &[
                    &["namespaces"],
                    &["serviceaccounts"],
                    &["secrets", "configmaps"],
                    &["pods"],
                    &["replicasets.apps", "endpoints"],
                    &[
                        "services",
                        "deployments.apps",
                        "ingresses.networking.k8s.io",
                    ],
                ],
            ),
            (
                "storage: classes, contents, snapshots and volumes before claims; claims before \
                 pods",
                &default,
                &[
                    "pods",
                    "persistentvolumeclaims",
                    "persistentvolumes",
                    "volumesnapshots.snapshot.storage.k8s.io",
                    "volumesnapshotcontents.snapshot.storage.k8s.io",
                    "volumesnapshotclasses.snapshot.storage.k8s.io",
                    "storageclasses.storage.k8s.io",
                ],
                &[
                    &[
                        "storageclasses.storage.k8s.io",
                        "volumesnapshotclasses.snapshot.storage.k8s.io",
                    ],
                    &["volumesnapshotcontents.snapshot.storage.k8s.io"],
                    &[
                        "volumesnapshots.snapshot.storage.k8s.io",
                        "persistentvolumes",
                    ],
                    &["persistentvolumeclaims"],
                    &["pods"],
                ],
            ),
            (
                "roles before their bindings; priority classes and limit ranges before pods",
                &default,
                &[
                    "rolebindings.rbac.authorization.k8s.io",
                    "roles.rbac.authorization.k8s.io",
                    "clusterrolebindings.rbac.authorization.k8s.io",
                    "clusterroles.rbac.authorization.k8s.io",
                    "priorityclasses.scheduling.k8s.io",
                    "limitranges",
                    "pods",
                ],
                &[
                    &[
                        "clusterroles.rbac.authorization.k8s.io",
                        "roles.rbac.authorization.k8s.io",
                    ],
                    &[
                        "clusterrolebindings.rbac.authorization.k8s.io",
                        "rolebindings.rbac.authorization.k8s.io",
                        "limitranges",
                        "priorityclasses.scheduling.k8s.io",
                    ],
                    &["pods"],
                ],
            ),
            (
                "admission configurations and the low priorities alone, where Velero puts them",
                &default,
                &[
                    "deployments.apps",
                    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
                    "statefulsets.apps",
                    "widgets.example.com",
                    "clusters.cluster.x-k8s.io",
                    "packageinstalls.packaging.carvel.dev",
                ],
                &[
                    &["deployments.apps"],
                    &["mutatingwebhookconfigurations.admissionregistration.k8s.io"],
                    &["statefulsets.apps", "widgets.example.com"],
                    &["clusters.cluster.x-k8s.io"],
                    &["packageinstalls.packaging.carvel.dev"],
                ],
            ),
            (
                "a list of the server's own: what it names alone, in its order; the rest by \
                 dependency",
                &custom,
                &[
                    "persistentvolumeclaims",
                    "serviceaccounts",
                    "secrets",
                    "pods",
                    "configmaps",
                    "widgets.example.com",
                ],
                &[
                    &["configmaps"],
                    &["pods"],
                    &["secrets"],
                    &["serviceaccounts", "widgets.example.com"],
                    &["persistentvolumeclaims"],
                ],
            ),
        ];
        for (what, priorities, resources, want) in cases {
            let got = staged(priorities, resources);
            let want: Vec<Vec<String>> = want
                .iter()
                .map(|s| s.iter().map(|k| k.to_string()).collect())
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }
}
