//! Which roles the server's own identity holds: asked of the API server at the start of a
//! restore that holds bindings, so the binding action (`actions/rbac.rs`) can refuse to grant
//! any of them to someone else.

use std::collections::BTreeSet;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, Subject};
use kube::api::{Api, ListParams, PostParams};

use super::actions::{OwnRoles, RoleName};

/// Groups every identity (or every service account) is in: a role bound to one of them is
/// everyone's, not the server's own.
const EVERYONE: [&str; 2] = ["system:authenticated", "system:serviceaccounts"];

/// Whether `subject` names the identity `user` (with `groups`).
pub fn names(subject: &Subject, user: &str, groups: &[String]) -> bool {
    match subject.kind.as_str() {
        "ServiceAccount" => {
            let ns = subject.namespace.as_deref().unwrap_or_default();
            user == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        "User" => subject.name == user,
        "Group" => !EVERYONE.contains(&subject.name.as_str()) && groups.contains(&subject.name),
        _ => false,
    }
}

/// The roles bound to the identity of `client`.
pub async fn own_roles(client: &kube::Client) -> OwnRoles {
    match list(client).await {
        Ok(roles) => OwnRoles::Known(roles),
        Err(e) => OwnRoles::Unknown(e.to_string()),
    }
}

async fn list(client: &kube::Client) -> Result<BTreeSet<RoleName>, kube::Error> {
    let review: SelfSubjectReview = serde_json::from_value(serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}
    }))
    .expect("a SelfSubjectReview decodes");
    let me = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?
        .status
        .and_then(|s| s.user_info)
        .unwrap_or_default();
    let user = me.username.unwrap_or_default();
    let groups = me.groups.unwrap_or_default();
    let mine = |subjects: &Option<Vec<Subject>>| {
        subjects.iter().flatten().any(|s| names(s, &user, &groups))
    };
    let mut roles = BTreeSet::new();
    for b in Api::<ClusterRoleBinding>::all(client.clone())
        .list(&ListParams::default())
        .await?
    {
        if mine(&b.subjects) {
            roles.insert(RoleName::Cluster(b.role_ref.name));
        }
    }
    for b in Api::<RoleBinding>::all(client.clone())
        .list(&ListParams::default())
        .await?
    {
        if mine(&b.subjects) {
            roles.insert(match b.role_ref.kind.as_str() {
                "ClusterRole" => RoleName::Cluster(b.role_ref.name),
                _ => RoleName::Namespaced {
                    namespace: b.metadata.namespace.unwrap_or_default(),
                    name: b.role_ref.name,
                },
            });
        }
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_server_by_account_user_or_its_own_groups() {
        let user = "system:serviceaccount:velero:veloxide";
        let groups: Vec<String> = [
            "system:serviceaccounts",
            "system:serviceaccounts:velero",
            "system:authenticated",
        ]
        .map(String::from)
        .into();
        let s = |kind: &str, name: &str, ns: Option<&str>| Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(String::from),
            api_group: None,
        };
        for (subject, mine) in [
            (s("ServiceAccount", "veloxide", Some("velero")), true),
            (s("ServiceAccount", "veloxide", Some("other")), false),
            (s("ServiceAccount", "web", Some("velero")), false),
            (s("User", user, None), true),
            (s("User", "alice", None), false),
            (s("Group", "system:serviceaccounts:velero", None), true),
            (s("Group", "system:authenticated", None), false),
            (s("Group", "system:serviceaccounts", None), false),
            (s("Group", "admins", None), false),
        ] {
            assert_eq!(names(&subject, user, &groups), mine, "{subject:?}");
        }
    }
}
