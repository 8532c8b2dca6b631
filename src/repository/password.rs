//! The repository password, from the Secret Velero keeps it in: `velero-repo-credentials`, key
//! `repository-password`, in the server's namespace (`pkg/repository/keys/keys.go`). All
//! repositories of an installation share it, as in Velero, so a Velero reading a repository that
//! veloxide wrote (or the reverse) needs the same Secret value.

use std::collections::BTreeMap;

use crate::storage::Redacted;

use super::error::RepositoryError;

/// The Secret's name, as Velero names it.
pub const SECRET_NAME: &str = "velero-repo-credentials";
/// The key inside the Secret.
pub const SECRET_KEY: &str = "repository-password";

/// The password from the Secret in `namespace`, read through the API (`get` on that one
/// Secret); the error names the Secret and, when it is missing, the command that makes it.
pub async fn read(client: &kube::Client, namespace: &str) -> Result<RepoPassword, String> {
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), namespace);
    let secret = secrets
        .get_opt(SECRET_NAME)
        .await
        .map_err(|e| format!("reading Secret {namespace}/{SECRET_NAME}: {e}"))?;
    let data: Option<BTreeMap<String, Vec<u8>>> = secret.map(|s| {
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    });
    RepoPassword::from_secret(namespace, data.as_ref()).map_err(|e| e.to_string())
}

/// A repository password. `Debug` prints `<redacted>`; nothing formats the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoPassword(Redacted<String>);

impl RepoPassword {
    /// The password from the Secret's `data` (`None`: the Secret does not exist). Whitespace
    /// around it is dropped, as restic drops it (Go's `strings.TrimSpace`) from the password
    /// file Velero hands it the value in: seen with restic 0.14, where a file holding
    /// `pw\n\n` or `pw \n` opens a repository made with `pw`. So `kubectl create secret
    /// --from-file` of a file ending in a newline means what it means to Velero.
    pub fn from_secret(
        namespace: &str,
        data: Option<&BTreeMap<String, Vec<u8>>>,
    ) -> Result<RepoPassword, RepositoryError> {
        let fix = format!(
            "create it: kubectl -n {namespace} create secret generic {SECRET_NAME} \
             --from-literal={SECRET_KEY}=<password>"
        );
        let Some(data) = data else {
            return Err(RepositoryError::Password(format!(
                "Secret {namespace}/{SECRET_NAME} does not exist; {fix}"
            )));
        };
        let Some(raw) = data.get(SECRET_KEY) else {
            return Err(RepositoryError::Password(format!(
                "Secret {namespace}/{SECRET_NAME} has no key {SECRET_KEY}; {fix}"
            )));
        };
        let text = std::str::from_utf8(raw).map_err(|_| {
            RepositoryError::Password(format!(
                "Secret {namespace}/{SECRET_NAME} key {SECRET_KEY} is not UTF-8 text; {fix}"
            ))
        })?;
        let text = text.trim();
        if text.is_empty() {
            return Err(RepositoryError::Password(format!(
                "Secret {namespace}/{SECRET_NAME} key {SECRET_KEY} is empty; {fix}"
            )));
        }
        Ok(RepoPassword(Redacted(text.to_owned())))
    }

    /// A password given directly (tests, the CLI).
    pub fn new(password: impl Into<String>) -> RepoPassword {
        RepoPassword(Redacted(password.into()))
    }

    /// The value, for the repository format alone.
    pub(super) fn expose(&self) -> &str {
        &self.0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(value: &[u8]) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([(SECRET_KEY.to_owned(), value.to_vec())])
    }

    #[test]
    fn reads_velero_s_secret() {
        type Case = (
            Option<BTreeMap<String, Vec<u8>>>,
            Result<&'static str, &'static str>,
        );
        let table: [Case; 7] = [
            (Some(data(b"static-passw0rd")), Ok("static-passw0rd")),
            (Some(data(b"pw\n")), Ok("pw")),
            (Some(data(b"pw\r\n")), Ok("pw")),
            (Some(data(b"pw\n\n")), Ok("pw")),
            (None, Err("velero/velero-repo-credentials does not exist")),
            (Some(data(b" \n")), Err("is empty")),
            (Some(data(&[0xff, 0xfe])), Err("is not UTF-8")),
        ];
        for (secret, want) in table {
            let got = RepoPassword::from_secret("velero", secret.as_ref());
            match (got, want) {
                (Ok(p), Ok(w)) => assert_eq!(p.expose(), w),
                (Err(e), Err(w)) => {
                    let e = e.to_string();
                    assert!(e.contains(w), "{e}");
                    assert!(e.contains("kubectl -n velero create secret generic"), "{e}");
                }
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
        let missing_key = BTreeMap::from([("other".to_owned(), b"x".to_vec())]);
        let e = RepoPassword::from_secret("velero", Some(&missing_key)).unwrap_err();
        assert!(
            e.to_string().contains("has no key repository-password"),
            "{e}"
        );
    }

    #[test]
    fn debug_hides_the_value() {
        let p = RepoPassword::new("hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
