use super::*;
use serde_json::json;

fn desc(group: &str, plural: &str, kind: &str, short: &[&str], namespaced: bool) -> ResourceDesc {
    ResourceDesc {
        group: group.into(),
        version: "v1".into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        kind: kind.into(),
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        namespaced,
    }
}

fn discovery() -> Vec<ResourceDesc> {
    vec![
        desc("", "configmaps", "ConfigMap", &["cm"], true),
        desc("", "secrets", "Secret", &[], true),
        desc("", "events", "Event", &["ev"], true),
        desc("", "namespaces", "Namespace", &["ns"], false),
        desc("", "persistentvolumes", "PersistentVolume", &["pv"], false),
        desc("apps", "deployments", "Deployment", &["deploy"], true),
        desc("events.k8s.io", "events", "Event", &[], true),
        desc("example.com", "widgets", "Widget", &[], true),
        desc(
            "rbac.authorization.k8s.io",
            "clusterroles",
            "ClusterRole",
            &[],
            false,
        ),
    ]
}

fn plan(spec: serde_json::Value) -> Plan {
    Plan::from_spec(&serde_json::from_value(spec).unwrap()).unwrap()
}

fn chosen(p: &Plan) -> Vec<String> {
    let all = discovery();
    let (r, _) = p.resources(&all);
    r.iter().map(|r| r.group_resource()).collect()
}

#[test]
fn globs() {
    for (p, t, want) in [
        ("*", "anything", true),
        ("app-*", "app-web", true),
        ("app-*", "app", false),
        ("*-prod", "shop-prod", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("kube-system", "kube-system", true),
        ("*a*b*", "xxaxxbxx", true),
        ("*a*b", "xxaxxbxxc", false),
    ] {
        assert_eq!(glob_match(p, t), want, "{p} ~ {t}");
    }
}

#[test]
fn namespaces_include_exclude_and_wildcards() {
    let p =
        plan(json!({"includedNamespaces": ["app-*", "db"], "excludedNamespaces": ["app-test"]}));
    assert!(p.wants_namespace("app-web"));
    assert!(p.wants_namespace("db"));
    assert!(!p.wants_namespace("app-test"));
    assert!(!p.wants_namespace("kube-system"));
    let all = plan(json!({"includedNamespaces": ["*"], "excludedNamespaces": ["kube-*"]}));
    assert!(all.wants_namespace("default"));
    assert!(!all.wants_namespace("kube-system"));
    assert!(plan(json!({})).wants_namespace("x"));
}

#[test]
fn cluster_scoped_follow_velero_rules() {
    // Every namespace, unset: cluster-scoped resources come along.
    assert!(chosen(&plan(json!({}))).contains(&"clusterroles.rbac.authorization.k8s.io".into()));
    // Some namespaces, unset: only namespaced resources, and the namespaces themselves.
    let some = chosen(&plan(json!({"includedNamespaces": ["app"]})));
    assert!(some.contains(&"namespaces".into()));
    assert!(!some.contains(&"persistentvolumes".into()));
    // Explicitly on with some namespaces, explicitly off with all.
    let on = chosen(&plan(
        json!({"includedNamespaces": ["app"], "includeClusterResources": true}),
    ));
    assert!(on.contains(&"persistentvolumes".into()));
    let off = chosen(&plan(json!({"includeClusterResources": false})));
    assert!(!off.contains(&"clusterroles.rbac.authorization.k8s.io".into()));
    assert!(off.contains(&"configmaps".into()));
}

#[test]
fn resources_resolve_by_any_name_and_exclusions_win() {
    let p = plan(
        json!({"includedResources": ["cm", "Deployment", "widgets.example.com", "events", "nope"],
                        "excludedResources": ["deployments.apps"]}),
    );
    let all = discovery();
    let (r, unresolved) = p.resources(&all);
    let names: Vec<String> = r.iter().map(|r| r.group_resource()).collect();
    // Bare `events` resolves to the core group only, as Velero resolves it; the order is
    // the resource list's (by `<group/version>/<Kind>`).
    assert_eq!(names, ["widgets.example.com", "configmaps", "events"]);
    assert_eq!(unresolved, ["nope"]);
}

#[test]
fn crds_of_custom_resources_follow_velero_rules() {
    let crds = desc(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        &["crd"],
        false,
    );
    // A namespaced backup: the CRDs of what it takes are added.
    assert!(plan(json!({"includedNamespaces": ["shop"]})).adds_crds_of_items(&crds, false));
    // Taken as a resource already (a whole-cluster backup), or excluded, or no cluster
    // scope asked for: not added again.
    assert!(!plan(json!({})).adds_crds_of_items(&crds, true));
    assert!(
        !plan(json!({"excludedResources": ["customresourcedefinitions"]}))
            .adds_crds_of_items(&crds, false)
    );
    assert!(!plan(json!({"excludedResources": ["crd"]})).adds_crds_of_items(&crds, false));
    assert!(
        !plan(json!({"includedNamespaces": ["shop"], "includeClusterResources": false}))
            .adds_crds_of_items(&crds, false)
    );
}

#[test]
fn label_selectors_any_of() {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    };
    let p = plan(json!({"labelSelector": {"matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["test"]}]}}));
    assert!(p.wants_labels(&labels(&[("app", "web")])));
    assert!(!p.wants_labels(&labels(&[("app", "web"), ("tier", "test")])));
    assert!(!p.wants_labels(&labels(&[])));
    assert!(p.list_selector().unwrap().contains("app=web"));
    let or = plan(
        json!({"orLabelSelectors": [{"matchLabels": {"a": "1"}}, {"matchLabels": {"b": "2"}}]}),
    );
    assert!(or.wants_labels(&labels(&[("b", "2")])));
    assert!(!or.wants_labels(&labels(&[("c", "3")])));
    assert_eq!(or.list_selector(), None);
}

#[test]
fn bad_filters_are_refused_naming_the_field() {
    let spec = serde_json::from_value(json!({
        "labelSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]},
        "orLabelSelectors": [{"matchLabels": {"a": "1"}}],
        "includedNamespaceScopedResources": ["pods"],
        "excludedResources": ["*"],
    }))
    .unwrap();
    let errors = Plan::from_spec(&spec).unwrap_err();
    for field in [
        "spec.labelSelector",
        "spec.orLabelSelectors",
        "spec.excludedResources",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(field)),
            "{field}: {errors:?}"
        );
    }
}

/// Velero's rules for its scoped filters (`ScopeIncludesExcludes`), and for mixing them with
/// the old ones.
#[test]
fn scoped_filters_follow_velero_rules() {
    let cases: &[(serde_json::Value, &[&str])] = &[
        // A namespaced backup: every namespaced resource, Namespaces, no other cluster-scoped.
        (
            json!({"includedNamespaces": ["app"], "includedNamespaceScopedResources": ["*"]}),
            &[
                "configmaps",
                "events",
                "namespaces",
                "secrets",
                "deployments.apps",
                "events.events.k8s.io",
                "widgets.example.com",
            ],
        ),
        // Cluster-scoped ones named (by short name and by glob) come along.
        (
            json!({"includedNamespaces": ["app"], "includedNamespaceScopedResources": ["cm"],
                   "includedClusterScopedResources": ["pv", "*.rbac.authorization.k8s.io"]}),
            &[
                "configmaps",
                "namespaces",
                "persistentvolumes",
                "clusterroles.rbac.authorization.k8s.io",
            ],
        ),
        // Every namespace and every namespaced resource, no cluster filter: a full backup.
        (
            json!({"excludedNamespaceScopedResources": []}),
            &[
                "configmaps",
                "events",
                "namespaces",
                "persistentvolumes",
                "secrets",
                "deployments.apps",
                "events.events.k8s.io",
                "widgets.example.com",
                "clusterroles.rbac.authorization.k8s.io",
            ],
        ),
        // Excluding cluster-scoped resources keeps the rest of a full backup.
        (
            json!({"excludedClusterScopedResources": ["persistentvolumes"],
                   "excludedNamespaceScopedResources": ["secrets", "*.example.com", "events"]}),
            &[
                "configmaps",
                "namespaces",
                "deployments.apps",
                "events.events.k8s.io",
            ],
        ),
        // `*` excludes every cluster-scoped resource, Namespaces too.
        (
            json!({"includedNamespaceScopedResources": ["deployments"],
                   "excludedClusterScopedResources": ["*"]}),
            &["deployments.apps"],
        ),
    ];
    for (spec, want) in cases {
        let mut got = chosen(&plan(spec.clone()));
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{spec}");
    }
    let refused: &[(serde_json::Value, &str)] = &[
        (
            json!({"includedResources": ["pods"], "includedClusterScopedResources": ["pv"]}),
            "cannot be used together",
        ),
        (
            json!({"includeClusterResources": false, "excludedNamespaceScopedResources": ["pods"]}),
            "cannot be used together",
        ),
        (
            json!({"includedClusterScopedResources": ["*", "pv"]}),
            "spec.includedClusterScopedResources: must either contain '*' only",
        ),
        (
            json!({"includedNamespaceScopedResources": ["pods"], "excludedNamespaceScopedResources": ["*"]}),
            "spec.excludedNamespaceScopedResources: when exclude is '*', include cannot have value",
        ),
        (
            json!({"includedNamespaceScopedResources": ["pods"], "excludedNamespaceScopedResources": ["pods"]}),
            "spec.excludedNamespaceScopedResources: cannot contain an item in the includes list: pods",
        ),
    ];
    for (spec, want) in refused {
        let errors = Plan::from_spec(&serde_json::from_value(spec.clone()).unwrap()).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{spec}: {errors:?}"
        );
    }
}

/// What Velero takes when an item brings another (`itemInclusionChecks` with
/// `GlobalIncludesExcludes` or `ScopeIncludesExcludes`).
#[test]
fn additional_items_follow_velero_inclusion_rules() {
    let all = discovery();
    let find = |gr: &str| all.iter().find(|r| r.group_resource() == gr).unwrap();
    let pv = find("persistentvolumes");
    let cm = find("configmaps");
    let cases: &[(serde_json::Value, &ResourceDesc, Option<&str>, bool)] = &[
        // A namespaced backup (includeClusterResources unset) takes a claim's volume...
        (json!({"includedNamespaces": ["app"]}), pv, None, true),
        // ...not when the resource filter names other resources only...
        (
            json!({"includedNamespaces": ["app"], "includedResources": ["pods"]}),
            pv,
            None,
            false,
        ),
        // ...unless cluster resources are asked for...
        (
            json!({"includedResources": ["pods"], "includeClusterResources": true}),
            pv,
            None,
            true,
        ),
        // ...and never when they are refused or the resource excluded.
        (json!({"includeClusterResources": false}), pv, None, false),
        (json!({"excludedResources": ["pv"]}), pv, None, false),
        // Scoped: only an explicit cluster-scoped exclusion keeps it out.
        (
            json!({"includedNamespaceScopedResources": ["pods"]}),
            pv,
            None,
            true,
        ),
        (
            json!({"excludedClusterScopedResources": ["persistentvolumes"]}),
            pv,
            None,
            false,
        ),
        // A namespaced one needs its namespace and resource taken.
        (
            json!({"includedNamespaces": ["app"]}),
            cm,
            Some("app"),
            true,
        ),
        (
            json!({"includedNamespaces": ["app"]}),
            cm,
            Some("other"),
            false,
        ),
        (
            json!({"includedResources": ["pods"]}),
            cm,
            Some("app"),
            false,
        ),
        (
            json!({"includedNamespaceScopedResources": ["pods"]}),
            cm,
            Some("app"),
            false,
        ),
        (
            json!({"excludedNamespaceScopedResources": ["secrets"]}),
            cm,
            Some("app"),
            true,
        ),
    ];
    for (spec, resource, ns, want) in cases {
        assert_eq!(
            plan(spec.clone()).takes_additional(resource, *ns, &all),
            *want,
            "{spec} {} {ns:?}",
            resource.group_resource()
        );
    }
}

/// Velero's exclusion label keeps an object out only when its value is exactly "true".
#[test]
fn the_exclusion_label_is_true_or_nothing() {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    for (pairs, excluded) in [
        (vec![("velero.io/exclude-from-backup", "true")], true),
        (vec![("velero.io/exclude-from-backup", "True")], false),
        (vec![("velero.io/exclude-from-backup", "false")], false),
        (vec![("velero.io/exclude-from-backup", "")], false),
        (vec![("app", "true")], false),
        (vec![], false),
    ] {
        assert_eq!(excluded_by_label(&labels(&pairs)), excluded, "{pairs:?}");
    }
}
