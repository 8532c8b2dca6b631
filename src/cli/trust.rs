//! Which certificates the CLI trusts for its own HTTPS fetches of download links, in Velero's
//! order: `--cacert FILE`, else the location's `caCertRef` Secret, else its inline `caCert`,
//! else the system roots. A file that cannot be read falls back to the location's bundle with
//! Velero's warning. System roots are trusted in every case, as Velero's pool starts from them.

use std::path::Path;

use kube::Api;

use crate::api::BackupStorageLocation;
use crate::location::{CaSource, FilePaths, LocationConfig};
use crate::storage::{KubeSecrets, SecretError, resolve_ca};

/// Where the extra trusted certificates came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File,
    CaCertRef,
    CaCert,
    System,
}

/// The certificates to add to the system roots, and where they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    pub source: Source,
    pub pem: Option<Vec<u8>>,
}

/// Velero's choice between the `--cacert` file (as read) and the location's bundle. The
/// warning, when there is one, is for stderr.
pub fn choose(
    file: Option<(&Path, std::io::Result<Vec<u8>>)>,
    location: Option<(Source, Vec<u8>)>,
) -> Result<(Trust, Option<String>), String> {
    match (file, location) {
        (Some((_, Ok(pem))), _) => Ok((
            Trust {
                source: Source::File,
                pem: Some(pem),
            },
            None,
        )),
        (Some((path, Err(e))), Some((source, pem))) => Ok((
            Trust {
                source,
                pem: Some(pem),
            },
            Some(format!(
                "Warning: Failed to open CA certificate file {}: {e}. Using CA certificate from \
                 backup storage location instead.",
                path.display()
            )),
        )),
        (Some((path, Err(e))), None) => {
            Err(format!("couldn't open cacert {}: {e}", path.display()))
        }
        (None, Some((source, pem))) => Ok((
            Trust {
                source,
                pem: Some(pem),
            },
            None,
        )),
        (None, None) => Ok((
            Trust {
                source: Source::System,
                pem: None,
            },
            None,
        )),
    }
}

/// The bundle the location names: `caCertRef` (a Secret in `namespace`) over `caCert`, read
/// through the one location parser and Secret resolution the server uses. `Ok(None)` when the
/// location does not exist or names none (Velero's rule).
pub async fn location_bundle(
    client: &kube::Client,
    namespace: &str,
    location: &str,
) -> Result<Option<(Source, Vec<u8>)>, String> {
    if location.is_empty() {
        return Ok(None);
    }
    let locations: Api<BackupStorageLocation> = Api::namespaced(client.clone(), namespace);
    let Some(bsl) = locations
        .get_opt(location)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let config = LocationConfig::from_spec_with(&bsl.spec, &FilePaths::Anywhere)
        .map_err(|rejected| rejected.to_string())?
        .config;
    let source = match &config.trust.ca {
        CaSource::System => return Ok(None),
        CaSource::Inline(_) => Source::CaCert,
        CaSource::Secret(_) => Source::CaCertRef,
    };
    match resolve_ca(&config, &KubeSecrets::new(client.clone(), namespace)).await {
        Ok((pem, _warnings)) => Ok(pem.map(|pem| (source, pem))),
        // Velero's wording for the common case.
        Err(SecretError::NotFound { name, .. }) => Err(format!(
            "certificate secret {name} not found in namespace {namespace}"
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn missing() -> io::Result<Vec<u8>> {
        Err(io::Error::new(io::ErrorKind::NotFound, "No such file"))
    }

    #[test]
    fn velero_s_order() {
        let path = Path::new("/tmp/ca.pem");
        let bsl = || Some((Source::CaCertRef, b"bsl".to_vec()));
        let (t, w) = choose(Some((path, Ok(b"file".to_vec()))), bsl()).unwrap();
        assert_eq!(
            (t.source, t.pem.unwrap(), w),
            (Source::File, b"file".to_vec(), None)
        );
        let (t, w) = choose(Some((path, missing())), bsl()).unwrap();
        assert_eq!(t.source, Source::CaCertRef);
        assert!(
            w.unwrap()
                .starts_with("Warning: Failed to open CA certificate file /tmp/ca.pem"),
        );
        assert!(
            choose(Some((path, missing())), None)
                .unwrap_err()
                .starts_with("couldn't open cacert")
        );
        let (t, _) = choose(None, Some((Source::CaCert, b"inline".to_vec()))).unwrap();
        assert_eq!(t.source, Source::CaCert);
        let (t, _) = choose(None, None).unwrap();
        assert_eq!(
            t,
            Trust {
                source: Source::System,
                pem: None
            }
        );
    }
}
