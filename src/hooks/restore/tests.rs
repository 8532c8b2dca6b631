use serde_json::json;

use super::*;

fn rules(hooks: Value) -> Result<RestoreRules, Vec<String>> {
    RestoreRules::from_spec(Some(&serde_json::from_value(hooks).unwrap()))
}

fn spec() -> RestoreRules {
    rules(json!({"resources": [
        {"name": "prep", "includedNamespaces": ["db-copy"],
         "postHooks": [
            {"init": {"initContainers": [
                {"name": "prep-1", "image": "busybox", "command": ["true"]},
                {"name": "prep-2", "image": "busybox", "command": ["true"]}]}},
            {"exec": {"command": ["cat", "/x"], "waitForReady": true, "waitTimeout": "1m",
                      "execTimeout": "5s", "onError": "Continue"}},
         ]},
        {"name": "web-only", "labelSelector": {"matchLabels": {"app": "web"}},
         "postHooks": [{"exec": {"container": "side", "command": ["true"]}}]},
    ]}))
    .unwrap()
}

fn pod(ns: &str, labels: Value, annotations: Value, init: Value) -> Value {
    json!({"metadata": {"name": "p", "namespace": ns, "labels": labels, "annotations": annotations},
           "spec": {"containers": [{"name": "main"}, {"name": "side"}], "initContainers": init}})
}

fn init_names(p: &Value) -> Vec<&str> {
    p["spec"]["initContainers"]
        .as_array()
        .map(|a| a.iter().map(|c| c["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn init_containers_go_first_after_restore_wait() {
    let r = spec();
    type Case<'a> = (&'a str, Value, Value, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (
            "db-copy",
            json!({}),
            json!([{"name": "own"}]),
            &["prep-1", "prep-2", "own"],
        ),
        (
            "db-copy",
            json!({}),
            json!([{"name": "restore-wait"}, {"name": "own"}]),
            &["restore-wait", "prep-1", "prep-2", "own"],
        ),
        ("other", json!({}), json!([{"name": "own"}]), &["own"]),
        (
            "db-copy",
            json!({"init.hook.restore.velero.io/container-image": "busybox",
                   "init.hook.restore.velero.io/container-name": "from-annotation",
                   "init.hook.restore.velero.io/command": "[\"true\"]"}),
            json!(null),
            &["from-annotation"],
        ),
    ];
    for (ns, annotations, init, want) in cases {
        let mut p = pod(ns, json!({}), annotations, init);
        add_init_containers(&mut p, &r);
        assert_eq!(init_names(&p), want, "{ns}");
    }
}

#[test]
fn exec_hooks_follow_velero_s_grouping() {
    let r = spec();
    let (hooks, _) = exec_hooks(
        &pod("db-copy", json!({"app": "web"}), json!({}), json!([])),
        &r,
    );
    let got: Vec<(&str, &str, bool, u64)> = hooks
        .iter()
        .map(|h| {
            (
                h.exec.name.as_str(),
                h.exec.container.as_deref().unwrap(),
                h.wait_for_ready,
                h.wait_timeout.as_secs(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("prep", "main", true, 60), ("web-only", "side", false, 0)]
    );
    assert_eq!(hooks[0].exec.on_error, HookErrorMode::Continue);
    assert_eq!(hooks[1].exec.on_error, HookErrorMode::Fail);
    // An annotation replaces the spec's exec hooks.
    let annotated = pod(
        "db-copy",
        json!({"app": "web"}),
        json!({"post.hook.restore.velero.io/command": "[\"echo\",\"hi\"]",
               "post.hook.restore.velero.io/wait-for-ready": "true"}),
        json!([]),
    );
    let (hooks, _) = exec_hooks(&annotated, &r);
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].exec.command, ["echo", "hi"]);
    assert_eq!(hooks[0].exec.container.as_deref(), Some("main"));
    assert!(hooks[0].wait_for_ready);
    assert!(r.has_exec());
}

#[test]
fn bad_hooks_are_refused_naming_the_field() {
    let errors = rules(json!({"resources": [{"name": "x", "postHooks": [
        {"init": {"initContainers": [{"name": "no-image", "command": ["true"]}]}},
        {"exec": {"command": ["true"], "execTimeout": "fast", "waitTimeout": "later"}},
    ]}]}))
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "spec.hooks.resources[0].postHooks[0].init.initContainers[0]: has no image; an init container hook needs a name, an image and a command",
            "spec.hooks.resources[0].postHooks[1].exec.execTimeout: \"fast\" is not a duration; write it as Go does, e.g. \"1m0s\", \"90s\" or \"1h30m\"",
            "spec.hooks.resources[0].postHooks[1].exec.waitTimeout: \"later\" is not a duration; write it as Go does, e.g. \"1m0s\", \"90s\" or \"1h30m\"",
        ]
    );
    let init_only = rules(json!({"resources": [{"name": "x", "postHooks": [
        {"init": {"initContainers": [{"name": "a", "image": "b", "command": ["c"]}]}}]}]}))
    .unwrap();
    assert!(!init_only.has_exec(), "init hooks need no exec right");
}
