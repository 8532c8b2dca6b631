//! CustomResourceDefinitions: checking the few rules that keep the stand-in consistent, turning
//! a CRD into a served resource, and the status the real server reports once names are accepted.
//! Versions are served without conversion: an object read at another version only has its
//! `apiVersion` changed (the real server would call the CRD's conversion webhook, if any).

use serde_json::{Value, json};

use super::resources::{ResourceInfo, VersionInfo};
use super::status::FieldError;

/// The rules a CRD must meet before it is stored.
pub fn validate(crd: &Value) -> Vec<FieldError> {
    let spec = &crd["spec"];
    let mut errs = vec![];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (group, plural) = (s(&spec["group"]), s(&spec["names"]["plural"]));
    for (field, v) in [
        ("spec.group", &group),
        ("spec.names.plural", &plural),
        ("spec.names.kind", &s(&spec["names"]["kind"])),
    ] {
        if v.is_empty() {
            errs.push(FieldError::required(field));
        }
    }
    if !matches!(spec["scope"].as_str(), Some("Namespaced" | "Cluster")) {
        errs.push(FieldError::invalid(
            "spec.scope",
            &spec["scope"],
            "must be Namespaced or Cluster",
        ));
    }
    let name = s(&crd["metadata"]["name"]);
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            &crd["metadata"]["name"],
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::required("spec.versions"));
    }
    let storage = versions.iter().filter(|v| v["storage"] == true).count();
    if !versions.is_empty() && storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!(storage),
            "must have exactly one version marked as storage version",
        ));
    }
    errs
}

/// The resource a CRD defines: its served versions, storage version first.
pub fn resource_info(crd: &Value) -> ResourceInfo {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let mut versions: Vec<(bool, VersionInfo)> = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] != false)
        .map(|v| {
            (
                v["storage"] == true,
                VersionInfo {
                    name: s(&v["name"]),
                    schema: v["schema"].get("openAPIV3Schema").cloned(),
                    columns: v["additionalPrinterColumns"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                    status_subresource: v["subresources"].get("status").is_some(),
                },
            )
        })
        .collect();
    versions.sort_by_key(|(storage, _)| !storage);
    let kind = s(&names["kind"]);
    ResourceInfo {
        group: s(&spec["group"]),
        singular: names["singular"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind,
        plural: s(&names["plural"]),
        namespaced: spec["scope"] == "Namespaced",
        short_names: list(&names["shortNames"]),
        categories: list(&names["categories"]),
        versions: versions.into_iter().map(|(_, v)| v).collect(),
        builtin: false,
        has_generation: true,
    }
}

/// The status a CRD gets once the stand-in serves it (at once; a real server takes a moment).
pub fn established_status(crd: &Value, now: &str) -> Value {
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    json!({
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "widgets.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {"name": "v1beta1", "served": true, "storage": false},
            {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
             "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v0", "served": false, "storage": false},
        ]}})
    }

    #[test]
    fn crd_becomes_a_resource_with_storage_version_first() {
        assert!(validate(&crd()).is_empty());
        let info = resource_info(&crd());
        assert_eq!(info.storage_version(), "v1");
        assert_eq!(info.versions.len(), 2);
        assert!(info.has_status("v1") && !info.has_status("v1beta1"));
        assert_eq!(info.singular, "widget");
    }

    #[test]
    fn rejects_mismatched_name() {
        let mut c = crd();
        c["metadata"]["name"] = json!("nope");
        assert_eq!(validate(&c).len(), 1);
    }
}
