//! A restored CustomResourceDefinition is waited for until the API server serves its
//! resources, as Velero's `crdAvailable` does: its custom resources come in a later stage
//! (`stages.rs`), and a create sent before the definition is established is answered 404.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use tokio::time::Instant;

/// How often the definition is read while it is not ready (it usually is within a second).
const POLL: Duration = Duration::from_millis(200);

/// Velero's `IsCRDReady` for `apiextensions.k8s.io/v1`: `Established` and `NamesAccepted`
/// both true.
pub fn ready(crd: &CustomResourceDefinition) -> bool {
    let conditions = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    ["Established", "NamesAccepted"].iter().all(|wanted| {
        conditions
            .iter()
            .any(|c| c.type_ == *wanted && c.status == "True")
    })
}

/// Wait until definition `name` is ready, at most `timeout` (Velero's `--resource-timeout`).
/// An error says why it is not usable.
pub async fn wait(client: &kube::Client, name: &str, timeout: Duration) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        match api.get_opt(name).await {
            Ok(Some(crd)) if ready(&crd) => return Ok(()),
            Ok(Some(_)) if Instant::now() >= deadline => {
                return Err(format!(
                    "created, but the API server did not establish it within {timeout:?}; its \
                     custom resources cannot be restored (check its status.conditions)"
                ));
            }
            Ok(Some(_)) => tokio::time::sleep(POLL).await,
            Ok(None) => return Err("created, then gone before it was established".to_owned()),
            Err(e) => return Err(format!("created, but cannot be read: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_when_established_and_its_names_accepted() {
        let with = |conditions: serde_json::Value| -> CustomResourceDefinition {
            serde_json::from_value(json!({
                "metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"}, "versions": []},
                "status": {"conditions": conditions}
            }))
            .unwrap()
        };
        let condition = |t: &str, s: &str| json!({"type": t, "status": s});
        let cases = [
            (json!([]), false),
            (json!([condition("NamesAccepted", "True")]), false),
            (
                json!([
                    condition("NamesAccepted", "True"),
                    condition("Established", "False")
                ]),
                false,
            ),
            (
                json!([
                    condition("NamesAccepted", "True"),
                    condition("Established", "True")
                ]),
                true,
            ),
        ];
        for (conditions, want) in cases {
            assert_eq!(ready(&with(conditions.clone())), want, "{conditions}");
        }
        let no_status: CustomResourceDefinition = serde_json::from_value(json!({
            "metadata": {"name": "w"},
            "spec": {"group": "g", "scope": "Namespaced",
                "names": {"plural": "w", "kind": "W"}, "versions": []}
        }))
        .unwrap();
        assert!(!ready(&no_status));
    }
}
