//! Velero's change-image-name plugin (`pkg/restore/actions/change_image_name_action.go`): a
//! ConfigMap labelled `velero.io/plugin-config` and
//! `velero.io/change-image-name: RestoreItemAction` whose values are `old,new` rewrites: an
//! image containing `old` has every occurrence of it replaced by `new`, in the containers and
//! init containers of pods, workloads' pod templates and CronJobs' job templates.
//!
//! Velero tries the values in Go map order (random, so with two rules that both match, the one
//! applied varies from one restore to the next); veloxide tries them in key order, so the same
//! ConfigMap always gives the same image.

use serde_json::Value;

use super::types::{Context, Stop};

/// The separator between the old and new parts.
const DELIMITER: char = ',';

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    if let Some(e) = &ctx.plugins.image_error {
        return Err(Stop::Refuse(format!("velero.io/change-image-name: {e}")));
    }
    if ctx.plugins.images.is_empty() {
        return Ok(());
    }
    let pod_spec = match object.get("kind").and_then(Value::as_str) {
        Some("Pod") => "/spec",
        Some("CronJob") => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    };
    for list in ["containers", "initContainers"] {
        let containers = object
            .pointer_mut(&format!("{pod_spec}/{list}"))
            .and_then(Value::as_array_mut);
        for container in containers.into_iter().flatten() {
            let Some(image) = container.get("image").and_then(Value::as_str) else {
                continue;
            };
            if let Some(new) = rewritten(image, ctx.plugins.images.values()) {
                container["image"] = Value::String(new);
            }
        }
    }
    Ok(())
}

/// The first rule (`old,new`) whose old part `image` contains, applied.
pub fn rewritten<'r>(image: &str, rules: impl IntoIterator<Item = &'r String>) -> Option<String> {
    if image.is_empty() {
        return None;
    }
    rules.into_iter().find_map(|rule| {
        let (old, new) = rule.split_once(DELIMITER)?;
        let (old, new) = (old.trim(), new.trim());
        (!new.is_empty() && image.contains(old)).then(|| image.replace(old, new))
    })
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn velero_s_examples_rewrite_as_documented() {
        let rule = |r: &str| vec![r.to_owned()];
        let image = "1.1.1.1:5000/abc:test";
        let cases = [
            ("1.1.1.1:5000,2.2.2.2:3000", Some("2.2.2.2:3000/abc:test")),
            ("5000,3000", Some("1.1.1.1:3000/abc:test")),
            ("abc:test,edf:test", Some("1.1.1.1:5000/edf:test")),
            (
                "1.1.1.1:5000/abc:test,2.2.2.2:3000/edf:test",
                Some("2.2.2.2:3000/edf:test"),
            ),
            ("nginx,busybox", None),
            ("no-delimiter", None),
            ("abc,", None),
        ];
        for (r, want) in cases {
            assert_eq!(rewritten(image, &rule(r)).as_deref(), want, "{r}");
        }
    }

    #[test]
    fn containers_of_every_workload_shape_are_rewritten() {
        let mut t = TestContext::new();
        t.plugins.images = [("a".to_owned(), "repo1/,repo2/".to_owned())].into();
        let spec = json!({"containers": [{"name": "c", "image": "repo1/web:1"}],
                          "initContainers": [{"name": "i", "image": "repo1/init:1"}]});
        let want = json!({"containers": [{"name": "c", "image": "repo2/web:1"}],
                          "initContainers": [{"name": "i", "image": "repo2/init:1"}]});
        let shapes = [
            (json!({"kind": "Pod", "spec": spec}), "/spec"),
            (
                json!({"kind": "Deployment", "spec": {"template": {"spec": spec}}}),
                "/spec/template/spec",
            ),
            (
                json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
                "/spec/jobTemplate/spec/template/spec",
            ),
        ];
        for (mut object, at) in shapes {
            restore(&mut object, &t.ctx()).unwrap();
            assert_eq!(object.pointer(at), Some(&want), "{object}");
        }
    }
}
