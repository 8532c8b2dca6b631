use super::*;
use serde_json::json;

fn rules() -> Rules {
    Rules {
        namespace_mapping: [("app".to_owned(), "app-copy".to_owned())].into(),
        preserve_node_ports: false,
        backup: "b".into(),
        restore: "r".into(),
        ..Rules::default()
    }
}

#[test]
fn a_mapped_namespace_is_unchanged_when_only_the_servers_name_label_differs() {
    let archived = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "app-copy", "labels": {"team": "a", NAMESPACE_NAME_LABEL: "app"}}});
    let live = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "app-copy", "labels": {"team": "a", NAMESPACE_NAME_LABEL: "app-copy"}}});
    assert_eq!(view(&archived), view(&live));
    let relabelled = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "app-copy", "labels": {"team": "b", NAMESPACE_NAME_LABEL: "app-copy"}}});
    assert_ne!(view(&archived), view(&relabelled));
}

#[test]
fn server_set_fields_go_and_namespaces_are_mapped() {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "app", "uid": "u", "resourceVersion": "7",
                     "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 2,
                     "managedFields": [{}], "labels": {"x": "1"},
                     "ownerReferences": [{"uid": "o"}]},
        "data": {"k": "v"}, "status": {"s": 1}});
    prepare(&mut cm, &rules(), at(Some("app"), "a")).unwrap();
    assert_eq!(cm["status"], json!({"s": 1}), "the actions read the status");
    strip_status(&mut cm);
    assert_eq!(
        cm,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "app-copy",
                         "labels": {"x": "1", "velero.io/backup-name": "b", "velero.io/restore-name": "r"}},
            "data": {"k": "v"}})
    );
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}});
    prepare(&mut ns, &rules(), at(None, "app")).unwrap();
    assert_eq!(ns["metadata"]["name"], "app-copy");
    let mut other = json!({"kind": "Namespace", "metadata": {"name": "db"}});
    prepare(&mut other, &rules(), at(None, "db")).unwrap();
    assert_eq!(other["metadata"]["name"], "db");
}

fn at<'a>(namespace: Option<&'a str>, name: &'a str) -> Place<'a> {
    Place { namespace, name }
}

#[test]
fn the_namespace_comes_from_the_path_and_an_item_naming_another_is_refused() {
    // No namespace in the JSON: the path's, mapped.
    let mut cm = json!({"kind": "ConfigMap", "metadata": {"name": "a"}});
    prepare(&mut cm, &rules(), at(Some("app"), "a")).unwrap();
    assert_eq!(cm["metadata"]["namespace"], "app-copy");
    for (mut item, place, says) in [
        // The filters saw "app"; the JSON would create it in kube-system.
        (
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "kube-system"}}),
            at(Some("app"), "a"),
            "metadata.namespace \"kube-system\" differs",
        ),
        // A cluster-scoped path smuggling a namespaced object.
        (
            json!({"kind": "Secret", "metadata": {"name": "a", "namespace": "kube-system"}}),
            at(None, "a"),
            "cluster-scoped",
        ),
        // Another name than the path's.
        (
            json!({"kind": "ConfigMap", "metadata": {"name": "admin", "namespace": "app"}}),
            at(Some("app"), "a"),
            "metadata.name \"admin\" differs",
        ),
        (
            json!({"kind": "Namespace", "metadata": {"name": "kube-system"}}),
            at(None, "app"),
            "metadata.name",
        ),
    ] {
        let err = prepare(&mut item, &rules(), place).unwrap_err();
        assert!(
            err.contains(says) && err.contains("nothing was created"),
            "{err}"
        );
    }
}

#[test]
fn existing_objects_compare_and_update_by_what_the_restore_owns() {
    let desired = json!({"kind": "ConfigMap", "metadata": {"name": "a",
        "labels": {"x": "1", "velero.io/restore-name": "r"}}, "data": {"k": "v"}});
    let same = json!({"kind": "ConfigMap", "metadata": {"name": "a", "uid": "z",
        "labels": {"x": "1"}}, "data": {"k": "v"}});
    assert_eq!(view(&desired), view(&same));
    assert_eq!(update_patch(&same, &desired), None);
    let changed = json!({"kind": "ConfigMap", "metadata": {"name": "a",
        "labels": {"x": "2", "extra": "y"}}, "data": {"k": "other", "added": "z"}});
    assert_eq!(
        update_patch(&changed, &desired).unwrap(),
        json!({"data": {"k": "v", "added": null},
               "metadata": {"labels": {"x": "1", "extra": null, "velero.io/restore-name": "r"}}})
    );
}
