//! The groups of the cluster's CustomResourceDefinitions, which the backup ClusterRole reads
//! besides the built-in groups it lists: the chart's `rbac.backup.crdGroupsFromCluster` (its
//! `lookup` at install or upgrade), so a platform's custom resources (cert-manager's, an
//! operator's) are in backups with default values. `--dry-run` reads no cluster and grants none.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Api;
use kube::api::ListParams;

/// The cluster's CRD groups and those of the CRDs install applies (so a rerun grants what the
/// first run did), deduplicated and sorted. An empty group is skipped, and so is a group an
/// aggregated API (an APIService with a service) serves: RBAC's "*" would reach its
/// subresources, which may act (a CRD serves none but status and scale).
pub fn crd_groups<'a>(
    crds: impl IntoIterator<Item = &'a CustomResourceDefinition>,
    api_services: &[APIService],
) -> Vec<String> {
    let aggregated: Vec<&str> = api_services
        .iter()
        .filter_map(|s| s.spec.as_ref())
        .filter(|spec| spec.service.is_some())
        .filter_map(|spec| spec.group.as_deref())
        .collect();
    let mut groups: Vec<String> = crds
        .into_iter()
        .map(|crd| crd.spec.group.clone())
        .filter(|g| !g.is_empty() && !aggregated.contains(&g.as_str()))
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// [`crd_groups`] of what the cluster holds now, plus install's own CRDs.
pub async fn from_cluster(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    use anyhow::Context as _;
    let crds = Api::<CustomResourceDefinition>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("cannot list the cluster's CustomResourceDefinitions (their groups are what backups read besides the built-in ones)")?;
    let api_services = Api::<APIService>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("cannot list the cluster's APIServices")?;
    let own = crate::crds::all();
    Ok(crd_groups(
        crds.items.iter().chain(own.iter()),
        &api_services.items,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(group: &str) -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "metadata": {"name": format!("things.{group}")},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "things", "kind": "Thing"}, "versions": []}
        }))
        .unwrap()
    }

    fn api_service(group: &str, service: bool) -> APIService {
        let service = service.then(|| json!({"name": "s", "namespace": "n"}));
        serde_json::from_value(json!({
            "metadata": {"name": format!("v1.{group}")},
            "spec": {"group": group, "version": "v1", "service": service,
                     "groupPriorityMinimum": 1000, "versionPriority": 15}
        }))
        .unwrap()
    }

    /// CRD groups, APIServices (group, has a service), the groups read.
    type Case = (
        &'static [&'static str],
        &'static [(&'static str, bool)],
        &'static [&'static str],
    );

    #[test]
    fn groups_are_deduplicated_sorted_and_never_empty_or_aggregated() {
        let table: &[Case] = &[
            (&[], &[], &[]),
            (
                &["cert-manager.io", "acme.cert-manager.io", "cert-manager.io"],
                &[],
                &["acme.cert-manager.io", "cert-manager.io"],
            ),
            (&["", "example.com"], &[], &["example.com"]),
            // A local APIService (no service) is what every CRD group gets: kept.
            (
                &["example.com"],
                &[("example.com", false)],
                &["example.com"],
            ),
            // An aggregated API's group is left out even if a CRD names it.
            (
                &["metrics.example.org", "example.com"],
                &[("metrics.example.org", true)],
                &["example.com"],
            ),
        ];
        for (crds, services, want) in table {
            let crds: Vec<_> = crds.iter().map(|g| crd(g)).collect();
            let services: Vec<_> = services.iter().map(|(g, s)| api_service(g, *s)).collect();
            assert_eq!(crd_groups(&crds, &services), *want, "{crds:?}");
        }
    }
}
