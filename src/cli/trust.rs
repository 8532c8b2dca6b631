//! Which certificates the CLI trusts for its own HTTPS fetches of download links, in Velero's
//! order: `--cacert FILE`, else the location's `caCertRef` Secret, else its inline `caCert`,
//! else the system roots. A file that cannot be read falls back to the location's bundle with
//! Velero's warning. System roots are trusted in every case, as Velero's pool starts from them.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::api::BackupStorageLocation;

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

/// The bundle the location names: `caCertRef` (a Secret in `namespace`) over `caCert`.
/// `Ok(None)` when the location does not exist or names none (Velero's rule).
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
    let storage = &bsl.spec.object_storage;
    if let Some(r) = &storage.ca_cert_ref {
        let name = r.name.clone().unwrap_or_default();
        let key = r.key.clone().unwrap_or_default();
        if key.is_empty() {
            return Err("caCertRef key is empty".into());
        }
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = secrets
            .get_opt(&name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("certificate secret {name} not found in namespace {namespace}")
            })?;
        let pem = secret
            .data
            .and_then(|d| d.get(&key).map(|v| v.0.clone()))
            .ok_or_else(|| format!("key {key} not found in secret {name}"))?;
        return Ok(Some((Source::CaCertRef, pem)));
    }
    match storage.ca_cert.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(text) => STANDARD
            .decode(text.trim())
            .map(|pem| Some((Source::CaCert, pem)))
            .map_err(|e| format!("spec.objectStorage.caCert is not base64: {e}")),
        None => Ok(None),
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
