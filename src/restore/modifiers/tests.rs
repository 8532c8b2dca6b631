use serde_json::{Value, json};

use super::conditions::dotted_glob;
use super::patch::velero_value;
use super::*;

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web-1", "namespace": "shop", "labels": {"tier": "web"}},
        "spec": {"replicas": 3, "template": {"spec": {
            "containers": [
                {"name": "nginx", "image": "repo1/nginx:1", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "busybox"}],
            "volumes": [{"name": "data", "emptyDir": {}}]}}}})
}

fn applied(rules: &str, object: &mut Value, gr: &str) -> Vec<String> {
    let m = Modifiers::parse(rules).unwrap_or_else(|e| panic!("{e:?}"));
    let ns = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    m.apply(object, gr, ns.as_deref())
}

#[test]
fn values_are_read_as_velero_reads_them() {
    let cases = [
        ("", json!("")),
        ("3", json!(3)),
        ("1.5", json!(1.5)),
        ("true", json!(true)),
        ("False", json!(false)),
        ("null", Value::Null),
        ("\"3\"", json!("3")),
        ("\"true\"", json!("true")),
        ("premium", json!("premium")),
        ("{\"a\": 1}", json!({"a": 1})),
        ("[1, 2]", json!([1, 2])),
    ];
    for (text, want) in cases {
        assert_eq!(velero_value(text), want, "{text:?}");
    }
}

#[test]
fn group_resource_globs_stop_at_dots() {
    let cases = [
        ("deployments.apps", "deployments.apps", true),
        ("*.apps", "deployments.apps", true),
        ("*", "pods", true),
        ("*", "deployments.apps", false),
        ("**", "deployments.apps", true),
        ("pods", "pods", true),
        ("pod?", "pods", true),
        ("{pods,services}", "services", true),
        ("{pods,services}", "configmaps", false),
        ("*.example.com", "widgets.example.com", true),
        ("*.com", "widgets.example.com", false),
        ("**.example.com", "widgets.example.com", true),
    ];
    for (pattern, text, want) in cases {
        assert_eq!(dotted_glob(pattern, text), want, "{pattern} {text}");
    }
}

#[test]
fn json_patches_change_what_the_conditions_select() {
    let rules = r#"
version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    namespaces: [shop]
    resourceNameRegex: "^web-"
    labelSelector: {matchLabels: {tier: web}}
    matches:
    - path: /spec/replicas
      value: "3"
  patches:
  - operation: replace
    path: /spec/replicas
    value: "1"
  - operation: add
    path: /metadata/annotations
    value: '{"moved": "true"}'
  - operation: remove
    path: /spec/template/spec/volumes
"#;
    let mut d = deployment();
    assert!(applied(rules, &mut d, "deployments.apps").is_empty());
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["metadata"]["annotations"]["moved"], "true");
    assert!(d["spec"]["template"]["spec"].get("volumes").is_none());
    // Each condition, unmet, leaves the object alone.
    for (from, to) in [
        ("namespaces: [shop]", "namespaces: [other]"),
        ("\"^web-\"", "\"^api-\""),
        ("tier: web", "tier: db"),
        ("value: \"3\"\n  patches", "value: \"2\"\n  patches"),
        (
            "groupResource: deployments.apps",
            "groupResource: statefulsets.apps",
        ),
    ] {
        let changed = rules.replacen(from, to, 1);
        assert_ne!(changed, rules, "{from}");
        let mut d = deployment();
        assert!(applied(&changed, &mut d, "deployments.apps").is_empty());
        assert_eq!(d, deployment(), "{to}");
    }
}

#[test]
fn an_unquoted_yaml_number_is_taken_as_its_text() {
    // Velero's strict YAML refuses `value: 1` (the field is a string); it means what "1"
    // means, so it is taken as that.
    let rules = "version: v1\nresourceModifierRules: [{conditions: {groupResource: deployments.apps}, patches: [{operation: replace, path: /spec/replicas, value: 1}]}]";
    let mut d = deployment();
    assert!(applied(rules, &mut d, "deployments.apps").is_empty());
    assert_eq!(d["spec"]["replicas"], 1);
}

#[test]
fn a_failed_test_operation_leaves_the_object_unchanged() {
    let rules = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  patches:
  - {operation: test, path: /spec/replicas, value: "5"}
  - {operation: replace, path: /spec/replicas, value: "0"}
"#;
    let mut d = deployment();
    assert!(applied(rules, &mut d, "deployments.apps").is_empty());
    assert_eq!(d, deployment());
    // A path that is not there is an item error.
    let bad = rules.replace(
        "{operation: test, path: /spec/replicas, value: \"5\"}",
        "{operation: replace, path: /spec/nope/x, value: \"5\"}",
    );
    let mut d = deployment();
    let errors = applied(&bad, &mut d, "deployments.apps");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(d, deployment(), "all or nothing");
}

#[test]
fn merge_and_strategic_patches() {
    let merge = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  mergePatches:
  - patchData: |
      metadata:
        labels:
          tier: null
          moved: "yes"
"#;
    let mut d = deployment();
    assert!(applied(merge, &mut d, "deployments.apps").is_empty());
    assert_eq!(d["metadata"]["labels"], json!({"moved": "yes"}));

    let strategic = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  strategicPatches:
  - patchData: |
      {"spec": {"template": {"spec": {
        "containers": [{"name": "nginx", "image": "repo2/nginx:1",
                        "ports": [{"containerPort": 8080}]},
                       {"name": "sidecar", "$patch": "delete"},
                       {"name": "new", "image": "busybox"}],
        "volumes": [{"name": "cache", "emptyDir": {}}]}}}}
"#;
    let mut d = deployment();
    assert!(applied(strategic, &mut d, "deployments.apps").is_empty());
    let containers = &d["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([
            {"name": "nginx", "image": "repo2/nginx:1",
             "ports": [{"containerPort": 80}, {"containerPort": 8080}]},
            {"name": "new", "image": "busybox"}])
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}])
    );
    // A custom resource is refused, as Velero's patcher refuses kinds outside its scheme.
    let mut widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {}});
    let errors = applied(
        &strategic.replace("deployments.apps", "widgets.example.com"),
        &mut widget,
        "widgets.example.com",
    );
    assert!(errors[0].contains("not a built-in kind"), "{errors:?}");
}

#[test]
fn conditions_are_judged_on_the_object_before_any_rule_changed_it() {
    let rules = r#"
version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  mergePatches: [{patchData: '{"metadata": {"labels": {"tier": "db"}}}'}]
- conditions:
    groupResource: deployments.apps
    labelSelector: {matchLabels: {tier: web}}
  mergePatches: [{patchData: '{"spec": {"replicas": 0}}'}]
"#;
    let mut d = deployment();
    assert!(applied(rules, &mut d, "deployments.apps").is_empty());
    assert_eq!(d["metadata"]["labels"]["tier"], "db");
    assert_eq!(d["spec"]["replicas"], 0);
}

#[test]
fn bad_rules_name_the_rule_and_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "version: v2\nresourceModifierRules: [{conditions: {groupResource: pods}, patches: [{operation: add, path: /a, value: x}]}]",
            "version: unsupported resource modifier version \"v2\"",
        ),
        (
            "version: v1\nresourceModifierRules: []",
            "resourceModifierRules: cannot be empty",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {}, patches: [{operation: add, path: /a}]}]",
            "resourceModifierRules[0].conditions.groupResource: cannot be empty",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods}, patches: [{operation: ad, path: /a}]}]",
            "resourceModifierRules[0].patches[0].operation: unsupported operation \"ad\"",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods}, patches: [{operation: add, path: ''}]}]",
            "resourceModifierRules[0].patches[0].path: cannot be empty",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods}}]",
            "resourceModifierRules[0]: no patch data found",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods}, patches: [{operation: add, path: /a}], mergePatches: [{patchData: '{}'}]}]",
            "resourceModifierRules[0]: only one of patches, mergePatches, strategicPatches",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods, resourceNameRegex: '('}, patches: [{operation: add, path: /a}]}]",
            "resourceModifierRules[0].conditions.resourceNameRegex:",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods, matches: [{path: spec}]}, patches: [{operation: add, path: /a}]}]",
            "resourceModifierRules[0].conditions.matches[0].path: \"spec\" is not a JSON pointer",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods}, patchez: []}]",
            "resourceModifierRules[0]: unknown field `patchez`",
        ),
        (
            "version: v1\nresourceModifierRules: [{conditions: {groupResource: pods}, mergePatches: [{patchData: '[1'}]}]",
            "resourceModifierRules[0].mergePatches[0].patchData: not YAML or JSON",
        ),
    ];
    for (text, want) in cases {
        let errors = Modifiers::parse(text).map(|_| ()).expect_err(text);
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "{text}\n{errors:?}"
        );
    }
    let two = [
        ("a".to_owned(), "x".to_owned()),
        ("b".to_owned(), "y".to_owned()),
    ]
    .into();
    let errors = Modifiers::from_config_map("velero/rules", &two).unwrap_err();
    assert!(
        errors[0].starts_with("spec.resourceModifier: ConfigMap velero/rules: holds 2 data keys"),
        "{errors:?}"
    );
}
