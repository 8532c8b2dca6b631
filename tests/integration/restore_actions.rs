//! Velero's restore actions, on a real control plane: a backup whose archive holds what a live
//! cluster's would (a Job as the API server stored it, with its generated selector; PVs bound
//! to claims by uid; a pod placed on a node; a service-account token; finished work) is
//! restored into a mapped namespace, and each object comes back as Velero's restore would make
//! it, or not at all:
//! - a PV with reclaim policy `Delete` and no snapshot is not restored (a warning names it) and
//!   its claim loses `spec.volumeName`; a `Retain` PV is restored without `claimRef.uid` and
//!   `resourceVersion`, its claimRef in the mapped namespace; claims lose the bind annotations;
//! - a pod loses `spec.nodeName`, `spec.priority` and its legacy token volume;
//! - a Job loses the generated controller-uid selector and labels (the API server makes new);
//! - Succeeded/Failed pods and completed Jobs are skipped, named in the log;
//! - RoleBinding and ClusterRoleBinding subjects follow `namespaceMapping`;
//! - a `kubernetes.io/service-account-token` Secret is not restored, and the account's list of
//!   Secrets loses it.
//!
//! Every check is made and the failures reported together, so one run against a commit before
//! the actions shows each scenario that fails there.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use restore_support::*;
use serde_json::{Value, json};
use server_support::{RESTORE_WIDGETS, World};

/// Bindings are opt-in for the restore identity: this test names them.
const BINDINGS: &str = "rbac.restore.resources.rbac\\.authorization\\.k8s\\.io={clusterroles,roles,rolebindings,clusterrolebindings}";

const OLD_UID: &str = "6f1c2a9e-0000-4000-8000-00000000c1a1";

fn pv(name: &str, policy: &str, claim: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "uid": "0b6e5d1c-0000-4000-8000-0000000000aa",
            "annotations": {"pv.kubernetes.io/bound-by-controller": "yes",
                            "pv.kubernetes.io/provisioned-by": "hostpath.example.com"},
            "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": policy, "storageClassName": "standard",
            "hostPath": {"path": format!("/var/lib/volumes/{name}")},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": "app", "name": claim, "uid": OLD_UID, "resourceVersion": "4242"}},
        "status": {"phase": "Bound"}})
}

fn pvc(name: &str, volume: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "app", "uid": OLD_UID,
            "annotations": {"pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.kubernetes.io/storage-provisioner": "hostpath.example.com",
                "volume.kubernetes.io/selected-node": "node-gone"},
            "finalizers": ["kubernetes.io/pvc-protection"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
            "resources": {"requests": {"storage": "1Gi"}}, "volumeName": volume},
        "status": {"phase": "Bound"}})
}

fn pod(name: &str, phase: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "app"},
        "spec": {"nodeName": "node-gone", "priority": 1000, "serviceAccountName": "web",
            "volumes": [{"name": "web-token-x7k2p", "secret": {"secretName": "web-token-x7k2p"}}],
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"],
                "volumeMounts": [{"name": "web-token-x7k2p",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]},
        "status": {"phase": phase}})
}

/// A Job as the API server stores it (its generated selector and labels), read back.
async fn stored_job(world: &World) -> Value {
    create(
        world,
        json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "app"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox"}]}}}}),
    )
    .await;
    let job = get(world, "batch/v1", "jobs", "app", "migrate")
        .await
        .unwrap();
    assert!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"].is_string(),
        "the API server generates the selector: {job}"
    );
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_do_what_velero_s_restore_actions_do() {
    let world =
        World::start_with_rbac(&["rbac.secretsScope=cluster", RESTORE_WIDGETS, BINDINGS]).await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    // A role the server's identity holds (it reads every resource), bound by the archive.
    create(
        &world,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "app-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await;
    let job = stored_job(&world).await;
    let mut finished = job.clone();
    finished["metadata"]["name"] = json!("finished");
    finished["status"] = json!({"succeeded": 1, "completionTime": "2026-12-01T03:00:00Z"});
    let mut failed = job.clone();
    failed["metadata"]["name"] = json!("gave-up");
    failed["status"] = json!({"failed": 6, "conditions": [{"type": "Failed", "status": "True"}]});
    let subjects = json!([{"kind": "ServiceAccount", "name": "web", "namespace": "app"}]);
    let role_ref = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                          "name": "app-reader"});
    let rbac = "rbac.authorization.k8s.io";
    let archive = crafted_archive(&[
        entry(
            "persistentvolumes",
            None,
            &pv("pv-delete", "Delete", "data-delete"),
        ),
        entry(
            "persistentvolumes",
            None,
            &pv("pv-retain", "Retain", "data-retain"),
        ),
        entry(
            "persistentvolumeclaims",
            Some("app"),
            &pvc("data-delete", "pv-delete"),
        ),
        entry(
            "persistentvolumeclaims",
            Some("app"),
            &pvc("data-retain", "pv-retain"),
        ),
        entry(
            "serviceaccounts",
            Some("app"),
            &json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "web", "namespace": "app"},
                "secrets": [{"name": "web-token-x7k2p"}, {"name": "registry"}]}),
        ),
        entry(
            "secrets",
            Some("app"),
            &json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                "metadata": {"name": "web-token-x7k2p", "namespace": "app", "annotations": {
                    "kubernetes.io/service-account.name": "web",
                    "kubernetes.io/service-account.uid": OLD_UID}},
                "data": {"token": base64_of(b"eyJhbGciOiJSUzI1NiJ9.old-cluster-token")}}),
        ),
        entry("pods", Some("app"), &pod("runner", "Running")),
        entry("pods", Some("app"), &pod("done", "Succeeded")),
        entry("pods", Some("app"), &pod("crashed", "Failed")),
        entry("jobs.batch", Some("app"), &job),
        entry("jobs.batch", Some("app"), &finished),
        entry("jobs.batch", Some("app"), &failed),
        entry(
            &format!("rolebindings.{rbac}"),
            Some("app"),
            &json!({"apiVersion": format!("{rbac}/v1"), "kind": "RoleBinding",
                "metadata": {"name": "readers", "namespace": "app"},
                "roleRef": role_ref, "subjects": subjects}),
        ),
        entry(
            &format!("clusterrolebindings.{rbac}"),
            None,
            &json!({"apiVersion": format!("{rbac}/v1"), "kind": "ClusterRoleBinding",
                "metadata": {"name": "app-readers"}, "roleRef": role_ref, "subjects": subjects}),
        ),
    ]);
    let _server = serve_plain_location(&world, "plain").await;
    backed_up(
        &world,
        "acts",
        json!({"includedNamespaces": ["app"], "storageLocation": "plain"}),
        Duration::from_secs(60),
    )
    .await;
    plant_archive(&world, "plain", "acts", archive).await;
    create_restore(
        &world,
        "r-acts",
        json!({"backupName": "acts", "namespaceMapping": {"app": "app-copy"}}),
    )
    .await;
    let restore = wait_restore_ended(&world, "r-acts").await;
    let status = serde_json::to_string(&restore.status).unwrap();
    let results = restore_results(&world, "plain", "r-acts");
    let logs = stdout(&cli(&world, &["restore", "logs", "r-acts"]).await);

    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            failures.push(what.to_owned());
        }
    };
    let ns_get = |plural: &'static str, api: &'static str, name: &'static str| {
        let world = &world;
        async move { get(world, api, plural, "app-copy", name).await }
    };
    let pv_get = |name: &'static str| {
        let world = &world;
        async move {
            let api: kube::Api<k8s_openapi::api::core::v1::PersistentVolume> =
                kube::Api::all(world.client.clone());
            api.get_opt(name)
                .await
                .unwrap()
                .map(|o| serde_json::to_value(o).unwrap())
        }
    };

    // The restore ends Completed: nothing in it is an error once the actions run.
    check(
        restore.phase() == veloxide::api::RestorePhase::Completed && !status.contains("\"errors\""),
        &format!("the restore ends Completed without errors: {status}\n{results}"),
    );

    // PersistentVolumes.
    check(
        pv_get("pv-delete").await.is_none(),
        "pv: a Delete volume without a snapshot is not restored",
    );
    check(
        results.to_string().contains("pv-delete") && logs.contains("reclaim policy is Delete"),
        &format!("pv: the skipped volume is a warning in the results and the log: {results}"),
    );
    match pv_get("pv-retain").await {
        None => check(false, "pv: a Retain volume is restored"),
        Some(kept) => {
            let claim = &kept["spec"]["claimRef"];
            check(
                claim.get("uid").is_none() && claim.get("resourceVersion").is_none(),
                &format!("pv: claimRef.uid and resourceVersion go: {claim}"),
            );
            check(
                claim["namespace"] == "app-copy",
                &format!("pv: claimRef.namespace follows the mapping: {claim}"),
            );
            check(
                kept["metadata"]["annotations"]
                    .get("pv.kubernetes.io/bound-by-controller")
                    .is_none(),
                "pv: the bind annotations go",
            );
        }
    }

    // Claims.
    for (name, keeps_volume) in [("data-delete", false), ("data-retain", true)] {
        match ns_get("persistentvolumeclaims", "v1", name).await {
            None => check(false, &format!("pvc {name}: restored")),
            Some(claim) => {
                check(
                    claim["spec"].get("volumeName").is_some() == keeps_volume,
                    &format!(
                        "pvc {name}: volumeName kept = {keeps_volume}: {}",
                        claim["spec"]
                    ),
                );
                let annotations = &claim["metadata"]["annotations"];
                check(
                    annotations.get("pv.kubernetes.io/bind-completed").is_none()
                        && annotations
                            .get("volume.kubernetes.io/selected-node")
                            .is_none(),
                    &format!("pvc {name}: the bind annotations go: {annotations}"),
                );
            }
        }
    }

    // Pods.
    match ns_get("pods", "v1", "runner").await {
        None => check(false, "pod: a running pod is restored"),
        Some(p) => {
            check(
                p["spec"].get("nodeName").is_none(),
                &format!("pod: nodeName goes: {}", p["spec"]["nodeName"]),
            );
            check(
                !p["spec"]["volumes"].to_string().contains("web-token-x7k2p"),
                &format!("pod: the token volume goes: {}", p["spec"]["volumes"]),
            );
        }
    }
    for done in ["done", "crashed"] {
        check(
            ns_get("pods", "v1", done).await.is_none(),
            &format!("pod {done}: a finished pod is skipped"),
        );
        check(
            logs.contains(&format!("Skipped pods app-copy/{done}")),
            &format!("pod {done}: the log names the skip"),
        );
    }

    // Jobs.
    match ns_get("jobs", "batch/v1", "migrate").await {
        None => check(
            false,
            "job: a job is restored (with a new generated selector)",
        ),
        Some(j) => check(
            j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"]
                == j["metadata"]["uid"],
            &format!(
                "job: the selector is the new job's: {}",
                j["spec"]["selector"]
            ),
        ),
    }
    for done in ["finished", "gave-up"] {
        check(
            ns_get("jobs", "batch/v1", done).await.is_none()
                && logs.contains(&format!("Skipped jobs.batch app-copy/{done}")),
            &format!("job {done}: a finished job is skipped, and the log says so"),
        );
    }

    // Bindings.
    let binding = get(
        &world,
        &format!("{rbac}/v1"),
        "rolebindings",
        "app-copy",
        "readers",
    )
    .await;
    check(
        binding
            .as_ref()
            .map(|b| b["subjects"][0]["namespace"].clone())
            == Some(json!("app-copy")),
        &format!("rolebinding: subjects follow the mapping: {binding:?}"),
    );
    let crbs: kube::Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> =
        kube::Api::all(world.client.clone());
    let crb = crbs.get_opt("app-readers").await.unwrap();
    check(
        crb.as_ref()
            .and_then(|b| b.subjects.as_ref())
            .and_then(|s| s[0].namespace.clone())
            .as_deref()
            == Some("app-copy"),
        &format!("clusterrolebinding: subjects follow the mapping: {crb:?}"),
    );

    // Service-account tokens.
    // (The token controller deletes a token Secret naming another account uid, so its absence
    // alone proves nothing: the log says the restore never created it.)
    check(
        ns_get("secrets", "v1", "web-token-x7k2p").await.is_none()
            && logs.contains("Skipped secrets app-copy/web-token-x7k2p"),
        "secret: a service-account token is not restored, and the log says so",
    );
    let account = ns_get("serviceaccounts", "v1", "web").await;
    check(
        account.as_ref().map(|a| a["secrets"].clone()) == Some(json!([{"name": "registry"}])),
        &format!("serviceaccount: the token leaves its secrets: {account:?}"),
    );

    assert!(
        failures.is_empty(),
        "{} of the restore actions' checks failed:\n  {}\nlog:\n{logs}",
        failures.len(),
        failures.join("\n  ")
    );
}
