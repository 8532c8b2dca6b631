//! Where a volume repository lives in a location: Velero's layout, `<prefix>/<uploader>/<namespace>/`
//! (`pkg/persistence/object_store_layout.go` `GetResticDir`, `pkg/repository/config/config.go`
//! `GetRepoIdentifier`). One repository per volume namespace and uploader, so the pods of a
//! namespace share deduplication, and Velero finds the same repository for the same namespace.

use std::fmt;

use super::error::RepositoryError;

/// The repository format, by Velero's `uploaderType` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Uploader {
    /// restic's repository format (what `restic` and `rustic_core` read and write).
    Restic,
    /// kopia's repository format (Velero's default since 1.10; not built yet).
    Kopia,
}

impl Uploader {
    /// Velero's name for it (`PodVolumeBackup.spec.uploaderType`, the folder in the bucket).
    pub fn as_str(self) -> &'static str {
        match self {
            Uploader::Restic => "restic",
            Uploader::Kopia => "kopia",
        }
    }

    /// Parse Velero's `uploaderType`; the message names the values there are.
    pub fn parse(value: &str) -> Result<Uploader, RepositoryError> {
        match value {
            "restic" => Ok(Uploader::Restic),
            "kopia" => Ok(Uploader::Kopia),
            other => Err(RepositoryError::Address(format!(
                "uploaderType {other:?} is not known; use restic or kopia"
            ))),
        }
    }
}

impl fmt::Display for Uploader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A repository's place in a location: the uploader's folder and the volume namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RepoAddress {
    pub uploader: Uploader,
    pub namespace: String,
}

impl RepoAddress {
    /// An address for the volumes of `namespace`. The namespace becomes a folder of the
    /// bucket, so it must be a Kubernetes namespace name (RFC 1123 label): anything else (a
    /// slash, `..`, an empty name) could reach another namespace's repository.
    pub fn new(uploader: Uploader, namespace: &str) -> Result<RepoAddress, RepositoryError> {
        if !is_dns1123_label(namespace) {
            return Err(RepositoryError::Address(format!(
                "volume namespace {namespace:?} is not a Kubernetes namespace name \
                 (lower-case letters, digits and '-', at most 63, starting and ending \
                 with a letter or digit)"
            )));
        }
        Ok(RepoAddress {
            uploader,
            namespace: namespace.to_owned(),
        })
    }

    /// The repository's folder relative to the location's prefix, with its trailing slash:
    /// `restic/<namespace>/`.
    pub fn root(&self) -> String {
        format!("{}/{}/", self.uploader.as_str(), self.namespace)
    }
}

fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_follow_velero_layout() {
        let table = [
            (Uploader::Restic, "shop", Some("restic/shop/")),
            (Uploader::Kopia, "shop", Some("kopia/shop/")),
            (Uploader::Restic, "a-1", Some("restic/a-1/")),
            (Uploader::Restic, "", None),
            (Uploader::Restic, "../other", None),
            (Uploader::Restic, "a/b", None),
            (Uploader::Restic, "Shop", None),
            (Uploader::Restic, "-shop", None),
            (Uploader::Restic, "shop-", None),
            (Uploader::Restic, &"a".repeat(64), None),
        ];
        for (uploader, ns, want) in table {
            let got = RepoAddress::new(uploader, ns).ok().map(|a| a.root());
            assert_eq!(got.as_deref(), want, "namespace {ns:?}");
        }
    }

    #[test]
    fn uploader_names_are_velero_s() {
        assert_eq!(Uploader::parse("restic").unwrap(), Uploader::Restic);
        assert_eq!(Uploader::parse("kopia").unwrap(), Uploader::Kopia);
        let err = Uploader::parse("Restic").unwrap_err().to_string();
        assert!(err.contains("use restic or kopia"), "{err}");
    }
}
