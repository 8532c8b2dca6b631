//! The chart's RBAC with its default values, written out by hand: the integration test
//! `rbac::install_grants_what_the_chart_grants_with_its_default_values` renders the chart and
//! fails on the first rule that differs.

use serde_json::{Value, json};

use super::names::{NAME, cluster_name, meta};

/// What restores may create besides the core resources: the chart's `rbac.restore.resources`.
/// Webhook configurations, admission policies, Leases and bindings are left out: a planted
/// archive could take the cluster with them (the chart's values.yaml says how to add them).
const RESTORE_RESOURCES: [(&str, &[&str]); 12] = [
    ("apiextensions.k8s.io", &["customresourcedefinitions"]),
    (
        "apps",
        &[
            "controllerrevisions",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
        ],
    ),
    ("autoscaling", &["horizontalpodautoscalers"]),
    ("batch", &["cronjobs", "jobs"]),
    ("discovery.k8s.io", &["endpointslices"]),
    (
        "networking.k8s.io",
        &["ingressclasses", "ingresses", "networkpolicies"],
    ),
    ("node.k8s.io", &["runtimeclasses"]),
    ("policy", &["poddisruptionbudgets"]),
    ("rbac.authorization.k8s.io", &["clusterroles", "roles"]),
    ("scheduling.k8s.io", &["priorityclasses"]),
    (
        "snapshot.storage.k8s.io",
        &[
            "volumesnapshotclasses",
            "volumesnapshotcontents",
            "volumesnapshots",
        ],
    ),
    // csinodes and volumeattachments are never restored (as Velero).
    ("storage.k8s.io", &["csidrivers", "storageclasses"]),
];

/// The chart's RBAC with its default values (`rbac.secretsScope: namespace`, restores on),
/// the backup role also reading `crd_groups` (the chart's `rbac.backup.crdGroupsFromCluster`).
pub(super) fn rbac(ns: &str, crd_groups: &[String]) -> Vec<Value> {
    let core = [
        "configmaps",
        "endpoints",
        "limitranges",
        "namespaces",
        "persistentvolumeclaims",
        "persistentvolumes",
        "pods",
        "podtemplates",
        "replicationcontrollers",
        "resourcequotas",
        "serviceaccounts",
        "services",
    ];
    let groups = [
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "groupsnapshot.storage.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "snapshot.storage.k8s.io",
        "storage.k8s.io",
    ];
    // As the chart: the listed groups, then the CRD groups not among them.
    let mut groups: Vec<&str> = groups.to_vec();
    for g in crd_groups {
        if !groups.contains(&g.as_str()) {
            groups.push(g);
        }
    }
    let subject = json!([{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]);
    let rbac_v1 = "rbac.authorization.k8s.io/v1";
    let backup_role = json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
    "metadata": meta(&cluster_name(ns, "-backup"), None),
    "rules": [
        {"apiGroups": [""], "resources": core, "verbs": ["get", "list"]},
        {"apiGroups": groups, "resources": ["*"], "verbs": ["get", "list"]},
        // CSI snapshots (the chart's rule, same reason: docs/volumes.md).
        {"apiGroups": ["snapshot.storage.k8s.io"],
         "resources": ["volumesnapshots", "volumesnapshotcontents"],
         "verbs": ["create", "patch", "delete"]},
    ]});
    // Named resources only: "*" would also match subresources (pods/exec, serviceaccounts/token).
    // Create only: update and patch (existingResourcePolicy "update", a namespace's labels) are
    // the chart's opt-ins.
    let write = json!(["create"]);
    let core_but_namespaces: Vec<&str> = core.into_iter().filter(|r| *r != "namespaces").collect();
    let mut restore_rules = vec![
        json!({"apiGroups": [""], "resources": core_but_namespaces, "verbs": write}),
        json!({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create"]}),
    ];
    restore_rules.extend(RESTORE_RESOURCES.iter().map(
        |(group, resources)| json!({"apiGroups": [group], "resources": resources, "verbs": write}),
    ));
    let restore_role = json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
        "metadata": meta(&cluster_name(ns, "-restore"), None), "rules": restore_rules});
    let cluster_binding = |suffix: &str| {
        let name = cluster_name(ns, suffix);
        json!({"apiVersion": rbac_v1, "kind": "ClusterRoleBinding", "metadata": meta(&name, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": subject})
    };
    vec![
        json!({"apiVersion": rbac_v1, "kind": "Role", "metadata": meta(NAME, Some(ns)),
        "rules": [
            // What the server's code does to each kind (the chart's rules, same comments).
            {"apiGroups": ["velero.io"], "resources": ["backupstoragelocations"],
             "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["velero.io"], "resources": ["backups"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["restores"],
             "verbs": ["get", "list", "watch", "patch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["downloadrequests"],
             "verbs": ["get", "list", "watch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["schedules"],
             "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["velero.io"], "resources": ["deletebackuprequests"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["serverstatusrequests"],
             "verbs": ["get", "list", "watch", "delete"]},
            {"apiGroups": ["velero.io"], "resources": ["podvolumebackups"],
             "verbs": ["get", "create"]},
            {"apiGroups": ["velero.io"], "resources": ["podvolumerestores"],
             "verbs": ["get", "create"]},
            {"apiGroups": ["velero.io"],
             "resources": ["backups/status", "restores/status", "deletebackuprequests/status"],
             "verbs": ["update", "patch"]},
            {"apiGroups": ["velero.io"],
             "resources": ["backupstoragelocations/status", "downloadrequests/status",
                           "schedules/status", "serverstatusrequests/status"],
             "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["get", "create", "update", "patch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        ]}),
        json!({"apiVersion": rbac_v1, "kind": "RoleBinding", "metadata": meta(NAME, Some(ns)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
               "subjects": subject}),
        backup_role,
        cluster_binding("-backup"),
        restore_role,
        cluster_binding("-restore"),
    ]
}
