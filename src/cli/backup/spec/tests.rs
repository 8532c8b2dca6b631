use super::*;

fn spec(line: &[&str]) -> Result<Value, UsageError> {
    crate::cli::parse_flags::<SpecArgs>(line).spec()
}

/// Each Velero flag, alone, and the spec fields it sets beside the defaults
/// (`includedNamespaces: ["*"]`, `ttl: 720h0m0s`).
#[test]
fn each_flag_sets_its_field() {
    let cases: Vec<(Vec<&str>, Value)> = vec![
        (
            vec!["--or-selector", "app=web or tier=db"],
            json!({"orLabelSelectors": [{"matchLabels": {"app": "web"}},
                                        {"matchLabels": {"tier": "db"}}]}),
        ),
        (
            vec![
                "--include-cluster-scoped-resources",
                "storageclasses.storage.k8s.io,namespaces",
            ],
            json!({"includedClusterScopedResources": ["storageclasses.storage.k8s.io", "namespaces"]}),
        ),
        (
            vec!["--exclude-cluster-scoped-resources", "clusterroles"],
            json!({"excludedClusterScopedResources": ["clusterroles"]}),
        ),
        (
            vec![
                "--include-namespace-scoped-resources",
                "deployments.apps,configmaps",
            ],
            json!({"includedNamespaceScopedResources": ["deployments.apps", "configmaps"]}),
        ),
        (
            vec!["--exclude-namespace-scoped-resources=secrets"],
            json!({"excludedNamespaceScopedResources": ["secrets"]}),
        ),
        (vec!["--snapshot-volumes"], json!({"snapshotVolumes": true})),
        (
            vec!["--snapshot-volumes=false"],
            json!({"snapshotVolumes": false}),
        ),
        (
            vec!["--snapshot-move-data"],
            json!({"snapshotMoveData": true}),
        ),
        (
            vec!["--default-volumes-to-fs-backup"],
            json!({"defaultVolumesToFsBackup": true}),
        ),
        (
            vec!["--default-volumes-to-fs-backup=false"],
            json!({"defaultVolumesToFsBackup": false}),
        ),
        (
            vec!["--volume-snapshot-locations", "aws-east,aws-west"],
            json!({"volumeSnapshotLocations": ["aws-east", "aws-west"]}),
        ),
        (
            vec![
                "--ordered-resources",
                "pods=ns1/pod1,ns1/pod2; persistentvolumeclaims = ns1/pvc4",
            ],
            json!({"orderedResources": {"pods": "ns1/pod1,ns1/pod2",
                                        "persistentvolumeclaims": "ns1/pvc4"}}),
        ),
        (
            vec!["--csi-snapshot-timeout", "5m"],
            json!({"csiSnapshotTimeout": "5m0s"}),
        ),
        (
            vec!["--item-operation-timeout", "2h"],
            json!({"itemOperationTimeout": "2h0m0s"}),
        ),
        (
            vec!["--resource-policies-configmap", "skip-big"],
            json!({"resourcePolicy": {"kind": "configmap", "name": "skip-big"}}),
        ),
        (
            vec!["--data-mover", "velero"],
            json!({"datamover": "velero"}),
        ),
        (
            vec!["--parallel-files-upload", "8"],
            json!({"uploaderConfig": {"parallelFilesUpload": 8}}),
        ),
        (vec!["--parallel-files-upload", "0"], json!({})),
    ];
    for (line, fields) in cases {
        let mut want = json!({"includedNamespaces": ["*"], "ttl": DEFAULT_TTL});
        want.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        // Through the API type, as the CLI sends it: unset fields are left out.
        let got: crate::api::BackupSpec = serde_json::from_value(spec(&line).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(got).unwrap(), want, "{line:?}");
    }
}

/// Velero's CLI refusals, before anything is sent.
#[test]
fn velero_s_refusals() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-l", "app=web", "--or-selector", "a=b or c=d"],
            "either a 'selector' or an 'or-selector' can be specified, but not both",
        ),
        (
            vec![
                "--include-resources",
                "pods",
                "--include-namespace-scoped-resources",
                "pods",
            ],
            "--include-resources, --exclude-resources and --include-cluster-resources are the old",
        ),
        (
            vec![
                "--include-cluster-resources",
                "--exclude-cluster-scoped-resources",
                "x",
            ],
            "--include-resources, --exclude-resources and --include-cluster-resources are the old",
        ),
    ];
    for (line, want) in cases {
        let err = spec(&line).unwrap_err().0;
        assert!(err.starts_with(want), "{line:?}: {err}");
    }
}

#[test]
fn ordered_resources_follow_velero_s_syntax() {
    assert_eq!(
        ordered_resources("pods=a/b").unwrap(),
        BTreeMap::from([("pods".to_owned(), "a/b".to_owned())])
    );
    for bad in ["pods", "pods=a=b", "=a/b", "pods=a/b;"] {
        let err = ordered_resources(bad).unwrap_err().0;
        assert!(err.starts_with("--ordered-resources: "), "{bad:?}: {err}");
    }
    // Parse-time checks: a bad value is a usage error from clap, exit 2.
    let bad = SpecArgs::augment_args(clap::Command::new("create")).try_get_matches_from([
        "create",
        "--ordered-resources",
        "pods",
    ]);
    assert!(bad.is_err());
}
