//! ClusterRoles (beyond Velero): one carrying a built-in aggregation label is refused unless
//! the chart allows it. `rbac.authorization.k8s.io/aggregate-to-admin` (`-edit`, `-view`, or
//! any other `aggregate-to-` of that prefix) makes kube-controller-manager copy the role's
//! rules into the built-in role of that name, and so to everyone bound to it: a planted
//! archive's ClusterRole, holding only rules the server holds (RBAC's escalation check), would
//! still hand them to every `view` user of the cluster. Allowed with the chart's
//! `rbac.restore.aggregatedClusterRoles` (server flag `--restore-aggregated-cluster-roles`).

use serde_json::Value;

use super::types::{Context, Stop, str_at};

/// The prefix of the labels Kubernetes' own aggregated roles select on.
const AGGREGATE_TO: &str = "rbac.authorization.k8s.io/aggregate-to-";

pub fn restore(object: &mut Value, ctx: &Context<'_>) -> Result<(), Stop> {
    if ctx.allow.aggregated_cluster_roles {
        return Ok(());
    }
    let Some(labels) = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let Some((key, value)) = labels
        .iter()
        .find(|(k, v)| k.starts_with(AGGREGATE_TO) && v.as_str() == Some("true"))
    else {
        return Ok(());
    };
    let name = str_at(object, &["metadata", "name"]).unwrap_or_default();
    let into = key.trim_start_matches(AGGREGATE_TO);
    Err(Stop::Refuse(format!(
        "refused: the ClusterRole {name} carries the label {key}={}, which adds its rules to \
         the built-in ClusterRole {into} and so to everyone bound to it; allow it with the \
         chart's rbac.restore.aggregatedClusterRoles=true (server flag \
         --restore-aggregated-cluster-roles) when every writer of the bucket is trusted; \
         nothing was created",
        value.as_str().unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::super::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn built_in_aggregation_labels_are_refused_unless_allowed() {
        for (labels, refused) in [
            (
                json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
                true,
            ),
            (
                json!({"rbac.authorization.k8s.io/aggregate-to-admin": "true"}),
                true,
            ),
            (
                json!({"rbac.authorization.k8s.io/aggregate-to-cluster-reader": "true"}),
                true,
            ),
            // Not "true": the built-in roles' selectors match "true" only.
            (
                json!({"rbac.authorization.k8s.io/aggregate-to-edit": "false"}),
                false,
            ),
            (
                json!({"app": "web", "example.com/aggregate-to-view": "true"}),
                false,
            ),
            (json!(null), false),
        ] {
            let mut t = TestContext::new();
            let mut role = json!({"kind": "ClusterRole",
                                  "metadata": {"name": "planted", "labels": labels}});
            let got = restore(&mut role.clone(), &t.ctx());
            match (&got, refused) {
                (Err(Stop::Refuse(why)), true) => {
                    assert!(why.contains("planted"), "{why}");
                    assert!(why.contains("rbac.restore.aggregatedClusterRoles"), "{why}");
                }
                (Ok(()), false) => {}
                _ => panic!("{labels}: {got:?}"),
            }
            t.allow.aggregated_cluster_roles = true;
            assert_eq!(restore(&mut role, &t.ctx()), Ok(()), "{labels}");
        }
    }
}
