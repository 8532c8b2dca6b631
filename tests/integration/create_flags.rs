//! `veloxide backup create` and `schedule create` with every Velero flag, checked on the
//! object the API server stored (a control plane with veloxide's CRDs and no server, so
//! nothing else touches the objects): each flag lands in Velero's field.

use std::process::{Command, Output};

use e2e::cluster::Cluster;
use kube::Api;
use serde_json::{Value, json};
use veloxide::api::{Backup, Schedule};

use crate::server_support::{NS, install_crds};

fn veloxide(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env_remove("VELERO_NAMESPACE")
        .output()
        .expect("veloxide runs")
}

/// Velero's flags of `backup create` other than the old filters (`backup_cli::` has those),
/// and the spec fields each becomes.
const FLAGS: &[&str] = &[
    "--or-selector",
    "app=web or tier in (db, cache)",
    "--include-cluster-scoped-resources",
    "storageclasses.storage.k8s.io",
    "--exclude-cluster-scoped-resources",
    "clusterroles.rbac.authorization.k8s.io",
    "--include-namespace-scoped-resources",
    "configmaps,deployments.apps",
    "--exclude-namespace-scoped-resources",
    "secrets",
    "--snapshot-volumes=false",
    "--snapshot-move-data",
    "--default-volumes-to-fs-backup",
    "--volume-snapshot-locations",
    "ebs-east,ebs-west",
    "--ordered-resources",
    "pods=shop/a,shop/b;persistentvolumeclaims=shop/data",
    "--csi-snapshot-timeout",
    "20m",
    "--item-operation-timeout",
    "90m",
    "--resource-policies-configmap",
    "skip-big",
    "--data-mover",
    "velero",
    "--parallel-files-upload",
    "6",
];

fn spec_of_flags() -> Value {
    json!({
        "includedNamespaces": ["*"],
        "orLabelSelectors": [
            {"matchLabels": {"app": "web"}},
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "cache"]}]},
        ],
        "includedClusterScopedResources": ["storageclasses.storage.k8s.io"],
        "excludedClusterScopedResources": ["clusterroles.rbac.authorization.k8s.io"],
        "includedNamespaceScopedResources": ["configmaps", "deployments.apps"],
        "excludedNamespaceScopedResources": ["secrets"],
        "snapshotVolumes": false,
        "snapshotMoveData": true,
        "defaultVolumesToFsBackup": true,
        "volumeSnapshotLocations": ["ebs-east", "ebs-west"],
        "orderedResources": {"pods": "shop/a,shop/b", "persistentvolumeclaims": "shop/data"},
        "csiSnapshotTimeout": "20m0s",
        "itemOperationTimeout": "1h30m0s",
        "resourcePolicy": {"kind": "configmap", "name": "skip-big"},
        "datamover": "velero",
        "uploaderConfig": {"parallelFilesUpload": 6},
        "ttl": "720h0m0s",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_schedule_create_store_every_velero_flag() {
    let cluster = Cluster::start().expect("the control plane starts");
    let client = cluster.client().await.unwrap();
    install_crds(&client).await;
    let out = cluster.kubectl(&["create", "namespace", NS], None).unwrap();
    assert!(out.status.success(), "{out:?}");

    let mut line = vec!["backup", "create", "flags", "-n", NS];
    line.extend_from_slice(FLAGS);
    line.extend_from_slice(&[
        "--labels",
        "team=shop",
        "--annotations",
        "ticket=OPS-1,owner=sre",
    ]);
    let out = veloxide(&cluster, &line);
    assert!(out.status.success(), "{out:?}");
    let backups: Api<Backup> = Api::namespaced(client.clone(), NS);
    let stored = serde_json::to_value(backups.get("flags").await.unwrap()).unwrap();
    assert_eq!(stored["spec"], spec_of_flags());
    assert_eq!(stored["metadata"]["labels"], json!({"team": "shop"}));
    assert_eq!(
        stored["metadata"]["annotations"],
        json!({"ticket": "OPS-1", "owner": "sre"})
    );

    let mut line = vec![
        "schedule",
        "create",
        "nightly",
        "-n",
        NS,
        "--schedule",
        "0 3 * * *",
    ];
    line.extend_from_slice(FLAGS);
    line.extend_from_slice(&["--labels", "team=shop", "--annotations", "ticket=OPS-2"]);
    let out = veloxide(&cluster, &line);
    assert!(out.status.success(), "{out:?}");
    let schedules: Api<Schedule> = Api::namespaced(client.clone(), NS);
    let stored = serde_json::to_value(schedules.get("nightly").await.unwrap()).unwrap();
    assert_eq!(stored["spec"]["template"], spec_of_flags());
    assert_eq!(stored["metadata"]["labels"], json!({"team": "shop"}));
    // Velero's `schedule create` takes --annotations and drops them; veloxide keeps them.
    assert_eq!(
        stored["metadata"]["annotations"],
        json!({"ticket": "OPS-2"})
    );

    // Velero's refusals, before anything is sent: exit 2, nothing stored.
    for (flags, said) in [
        (
            &["-l", "app=web", "--or-selector", "a=b or c=d"][..],
            "either a 'selector' or an 'or-selector' can be specified, but not both",
        ),
        (
            &[
                "--include-resources",
                "pods",
                "--exclude-namespace-scoped-resources",
                "secrets",
            ][..],
            "are the old resource filters",
        ),
    ] {
        let mut line = vec!["backup", "create", "refused", "-n", NS];
        line.extend_from_slice(flags);
        let out = veloxide(&cluster, &line);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(said), "{flags:?}: {stderr}");
    }
    assert!(backups.get_opt("refused").await.unwrap().is_none());
}
