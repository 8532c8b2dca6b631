//! Namespaces (beyond Velero): pod security admission labels that could loosen it are refused
//! unless the chart allows them. A Namespace's `pod-security.kubernetes.io/enforce` decides
//! which pods the API server admits there; a planted archive's Namespace labelled `privileged`
//! would let its Pods run privileged, host-path and host-network containers where the
//! cluster's default forbids them. `restricted`, the strictest level, is always restored (it
//! can only tighten), and so are `audit` and `warn` (they report, never refuse); any other
//! `enforce` level, and `enforce-version` (an older version's rules may be looser), are refused
//! unless the chart's `rbac.restore.podSecurityLabels` is true (server flag
//! `--restore-pod-security-labels`). The namespace's other items still come back: a namespace
//! they need is made without the archive's labels, under the cluster's default level.

use serde_json::Value;

use super::types::{Context, Stop, str_at};

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    if ctx.allow.pod_security_labels {
        return Ok(());
    }
    let Some(labels) = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let loosening = labels.iter().find(|(k, v)| {
        (k.as_str() == ENFORCE && v.as_str() != Some("restricted")) || k.as_str() == ENFORCE_VERSION
    });
    let Some((key, value)) = loosening else {
        return Ok(());
    };
    let name = str_at(object, &["metadata", "name"]).unwrap_or_default();
    Err(Stop::Refuse(format!(
        "refused: the Namespace {name} carries the label {key}={}, which sets the pod security \
         admission its pods get; allow it with the chart's rbac.restore.podSecurityLabels=true \
         (server flag --restore-pod-security-labels) when every writer of the bucket is \
         trusted; the Namespace was not created (its other items get one without these labels)",
        value.as_str().unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn only_labels_that_could_loosen_admission_are_refused_unless_allowed() {
        for (labels, refused) in [
            (json!({ENFORCE: "privileged"}), true),
            (json!({ENFORCE: "baseline"}), true),
            (
                json!({ENFORCE: "restricted", ENFORCE_VERSION: "v1.20"}),
                true,
            ),
            (json!({ENFORCE: "restricted"}), false),
            (
                json!({"pod-security.kubernetes.io/warn": "privileged",
                    "pod-security.kubernetes.io/audit": "baseline"}),
                false,
            ),
            (json!({"team": "web"}), false),
            (json!(null), false),
        ] {
            let mut t = TestContext::new();
            let mut ns =
                json!({"kind": "Namespace", "metadata": {"name": "shop", "labels": labels}});
            let got = restore(&mut ns.clone(), &t.ctx());
            match (&got, refused) {
                (Err(Stop::Refuse(why)), true) => {
                    assert!(why.contains("Namespace shop"), "{why}");
                    assert!(why.contains("rbac.restore.podSecurityLabels"), "{why}");
                }
                (Ok(()), false) => {}
                _ => panic!("{labels}: {got:?}"),
            }
            t.allow.pod_security_labels = true;
            assert_eq!(restore(&mut ns, &t.ctx()), Ok(()), "{labels}");
        }
    }
}
