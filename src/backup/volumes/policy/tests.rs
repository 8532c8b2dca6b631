use super::*;

fn volume() -> Volume {
    Volume {
        capacity: 1 << 30,
        storage_class: "veloxide-csi".into(),
        csi_driver: Some("csi.veloxide.dev".into()),
        csi_attributes: [("tier".to_string(), "fast".to_string())].into(),
        nfs: None,
        pvc_labels: [("app".to_string(), "db".to_string())].into(),
        pvc_phase: "Bound".into(),
    }
}

fn first(conditions: &str) -> Option<Action> {
    let yaml = format!(
        "version: v1\nvolumePolicies:\n- conditions:\n{conditions}\n  action:\n    type: skip\n"
    );
    parse(&yaml)
        .unwrap_or_else(|e| panic!("{conditions}: {e}"))
        .action_for(&volume())
}

#[test]
fn each_condition_matches_as_velero_s() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("capacity within", "    capacity: \"512Mi,2Gi\"", true),
        ("capacity below the lower bound", "    capacity: \"2Gi,\"", false),
        ("capacity under an upper bound", "    capacity: \",1Gi\"", true),
        ("capacity over an upper bound", "    capacity: \",1023Mi\"", false),
        ("storage class listed", "    storageClass: [gp3, veloxide-csi]", true),
        ("storage class not listed", "    storageClass: [gp3]", false),
        ("csi: {} matches any CSI volume", "    csi: {}", true),
        ("csi driver", "    csi:\n      driver: csi.veloxide.dev", true),
        ("another csi driver", "    csi:\n      driver: ebs.csi.aws.com", false),
        ("csi attributes", "    csi:\n      driver: csi.veloxide.dev\n      volumeAttributes:\n        tier: fast", true),
        ("csi attributes differ", "    csi:\n      driver: csi.veloxide.dev\n      volumeAttributes:\n        tier: slow", false),
        ("nfs asked, not nfs", "    nfs: {}", false),
        ("pvc labels", "    pvcLabels:\n      app: db", true),
        ("pvc labels differ", "    pvcLabels:\n      app: web", false),
        ("pvc phase", "    pvcPhase: [Pending, Bound]", true),
        ("pvc phase differs", "    pvcPhase: [Pending]", false),
        ("every condition must hold", "    storageClass: [veloxide-csi]\n    pvcPhase: [Pending]", false),
    ];
    for (what, conditions, matches) in cases {
        assert_eq!(first(conditions).is_some(), *matches, "{what}");
    }
}

#[test]
fn the_first_matching_policy_decides() {
    let p = parse(
        "version: v1\nvolumePolicies:\n\
         - conditions: {storageClass: [gp3]}\n  action: {type: skip}\n\
         - conditions: {csi: {driver: csi.veloxide.dev}}\n  action: {type: fs-backup}\n\
         - conditions: {}\n  action: {type: snapshot}\n",
    )
    .unwrap();
    assert_eq!(p.action_for(&volume()), Some(Action::FsBackup));
    let mut nfs = volume();
    nfs.csi_driver = None;
    nfs.nfs = Some(("10.0.0.1".into(), "/export".into()));
    assert_eq!(p.action_for(&nfs), Some(Action::Snapshot));
}

#[test]
fn nfs_server_and_path() {
    let mut v = volume();
    v.nfs = Some(("10.0.0.1".into(), "/export".into()));
    for (cond, matches) in [
        ("{}", true),
        ("{server: 10.0.0.1}", true),
        ("{server: 10.0.0.2}", false),
        ("{path: /export}", true),
        ("{server: 10.0.0.1, path: /other}", false),
    ] {
        let p = parse(&format!(
            "version: v1\nvolumePolicies:\n- conditions: {{nfs: {cond}}}\n  action: {{type: skip}}\n"
        ))
        .unwrap();
        assert_eq!(p.action_for(&v).is_some(), matches, "{cond}");
    }
}

#[test]
fn bad_policies_name_the_field() {
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("volumePolicies: []\n", "version is \"\""),
        ("version: v2\n", "version is \"v2\""),
        ("version: v1\nvolumePolicies:\n- action: {type: delete}\n", "volumePolicies[0].action.type is \"delete\""),
        ("version: v1\nvolumePolicies:\n- conditions: {capacity: \"10Gi\"}\n  action: {type: skip}\n", "volumePolicies[0].conditions.capacity"),
        ("version: v1\nvolumePolicies:\n- conditions: {capacity: \"ten,\"}\n  action: {type: skip}\n", "\"ten\" is not a quantity"),
        ("version: v1\nvolumePolicies:\n- conditions: {storageClas: [x]}\n  action: {type: skip}\n", "storageClas"),
        ("version: v1\nvolumePolicies:\n- conditions: {volumeTypes: [nfs]}\n  action: {type: skip}\n", "volumeTypes is not supported"),
        ("version: v1\nincludeExcludePolicy: {}\n", "includeExcludePolicy is not supported"),
        ("version: v1\nvolumePolicies:\n- conditions: {pvcLabels: [a]}\n  action: {type: skip}\n", "pvcLabels"),
    ];
    for (yaml, part) in cases {
        let e = parse(yaml).unwrap_err();
        assert!(e.contains(part), "{yaml}: {e}");
    }
    let two: BTreeMap<String, String> = [("a".into(), "x".into()), ("b".into(), "y".into())].into();
    let e = from_config_map("velero/policy", &two).unwrap_err();
    assert!(
        e.starts_with("spec.resourcePolicy: ConfigMap velero/policy must hold exactly one key"),
        "{e}"
    );
    let one: BTreeMap<String, String> = [("p.yaml".into(), "version: v3\n".into())].into();
    let e = from_config_map("velero/policy", &one).unwrap_err();
    assert!(
        e.contains("ConfigMap velero/policy, key p.yaml: version is \"v3\""),
        "{e}"
    );
}

#[test]
fn quantities() {
    for (text, bytes) in [
        ("1Gi", Some(1u128 << 30)),
        ("500M", Some(500_000_000)),
        ("1.5Ki", Some(1536)),
        ("12", Some(12)),
        ("1Xi", None),
        ("", None),
    ] {
        assert_eq!(quantity(text), bytes, "{text}");
    }
}
