//! The secret material a location names, fetched once and kept out of every log line.
//!
//! A location only holds references (`caCertRef`, `clientCertRef`, `credential`, the SSE-C key
//! source). [`resolve`] fetches them through a [`SecretSource`]: the controller plugs in the
//! Kubernetes API, the CLI a YAML file, tests a map.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use jiff::Timestamp;

use super::reason::Reason;
use crate::location::{
    CaBundle, CaSource, CustomerKeySource, Encryption, LocationConfig, SecretKeyRef, inspect_pem,
};

/// The key names of a `kubernetes.io/tls` Secret.
pub const TLS_CERT_KEY: &str = "tls.crt";
pub const TLS_KEY_KEY: &str = "tls.key";
/// The length S3 requires of an SSE-C key.
pub const CUSTOMER_KEY_LEN: usize = 32;

/// Reads one key of a Secret in the location's namespace.
pub trait SecretSource: Sync {
    /// `Ok(None)` when the Secret does not exist; `Err(SecretError::KeyMissing)` when the
    /// Secret exists but lacks the key.
    fn get(
        &self,
        name: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, SecretError>> + Send;
}

/// Secrets held in memory, by name then key: for the CLI's YAML file and for tests.
#[derive(Clone, Default)]
pub struct StaticSecrets {
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self.secrets.keys().collect();
        f.debug_struct("StaticSecrets")
            .field("names", &names)
            .finish_non_exhaustive()
    }
}

impl SecretSource for StaticSecrets {
    async fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, SecretError> {
        match self.secrets.get(name) {
            None => Ok(None),
            Some(data) => match data.get(key) {
                Some(v) => Ok(Some(v.clone())),
                None => Err(SecretError::KeyMissing {
                    name: name.to_owned(),
                    key: key.to_owned(),
                }),
            },
        }
    }
}

/// Why secret material could not be resolved. Messages name Secrets and keys, never content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secret {name:?} (named by {field}) was not found in the location's namespace")]
    NotFound { name: String, field: String },
    #[error("Secret {name:?} has no key {key:?}")]
    KeyMissing { name: String, key: String },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error("cannot read {what}: {message}")]
    Io { what: String, message: String },
    #[error("cannot read Secret {name:?}: {message}")]
    Api { name: String, message: String },
}

impl SecretError {
    pub fn reason(&self) -> Reason {
        match self {
            SecretError::NotFound { .. } => Reason::SecretNotFound,
            SecretError::KeyMissing { .. } => Reason::SecretKeyMissing,
            SecretError::Invalid { what, .. } if what.contains("customer key") => {
                Reason::SseCKeyInvalid
            }
            _ => Reason::InvalidSecret,
        }
    }
}

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A client certificate chain and its private key (PKCS#8 PEM).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pkcs8_pem: Redacted<Vec<u8>>,
}

/// An SSE-C key: exactly 32 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CustomerKey(pub(crate) [u8; CUSTOMER_KEY_LEN]);

impl fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerKey(<redacted>)")
    }
}

impl CustomerKey {
    /// Check the length; `source` names where the bytes came from, for the message.
    pub fn from_bytes(source: &str, bytes: &[u8]) -> Result<Self, SecretError> {
        let key: [u8; CUSTOMER_KEY_LEN] = bytes.try_into().map_err(|_| SecretError::Invalid {
            what: format!("the SSE-C customer key from {source}"),
            message: format!(
                "holds {} bytes; it must be exactly {CUSTOMER_KEY_LEN} raw bytes (not base64 \
                 text, no trailing newline): create it with `openssl rand 32 > key.bin`, and \
                 in a Secret put the base64 of those 32 bytes in data",
                bytes.len()
            ),
        })?;
        Ok(CustomerKey(key))
    }
}

/// Everything secret a location needs, resolved. `Debug` shows what is present, never what
/// it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SecretMaterial {
    /// Extra CA certificates to trust (PEM), beside the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// An AWS shared-credentials file.
    pub credentials_file: Option<Redacted<String>>,
    pub client_identity: Option<ClientIdentity>,
    pub customer_key: Option<CustomerKey>,
}

/// A parsed location with its secret material: all the storage layer needs to build a client.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub config: LocationConfig,
    pub secrets: SecretMaterial,
    /// Things the user should hear about (e.g. CA certificates close to expiry).
    pub warnings: Vec<String>,
}

/// The location's CA bundle (PEM), from `caCertRef` or the inline `caCert`, checked; `None`
/// when it names none (system roots only). Also the bundle's warnings.
pub async fn resolve_ca(
    config: &LocationConfig,
    source: &impl SecretSource,
) -> Result<(Option<Vec<u8>>, Vec<String>), SecretError> {
    match &config.trust.ca {
        CaSource::System => Ok((None, Vec::new())),
        CaSource::Inline(bundle) => Ok((Some(bundle.pem.clone()), Vec::new())),
        CaSource::Secret(r) => {
            let bytes = fetch(source, r, "spec.objectStorage.caCertRef").await?;
            let field = format!("Secret {:?} key {:?}", r.name, r.key);
            let (bundle, warnings) = inspect_ca(&field, &bytes)?;
            Ok((Some(bundle.pem), warnings))
        }
    }
}

/// Fetch every Secret the location names and check what they hold.
pub async fn resolve(
    config: &LocationConfig,
    source: &impl SecretSource,
) -> Result<Resolved, SecretError> {
    let mut secrets = SecretMaterial::default();
    let (ca_pem, warnings) = resolve_ca(config, source).await?;
    secrets.ca_pem = ca_pem;
    if let Some(name) = &config.trust.client_cert_secret {
        let field = "spec.objectStorage.clientCertRef";
        let cert = fetch(source, &key_ref(name, TLS_CERT_KEY), field).await?;
        let key = fetch(source, &key_ref(name, TLS_KEY_KEY), field).await?;
        secrets.client_identity = Some(client_identity(name, &cert, &key)?);
    }
    if let Some(r) = &config.credentials.secret {
        let bytes = fetch(source, r, "spec.credential").await?;
        let text = String::from_utf8(bytes).map_err(|_| SecretError::Invalid {
            what: format!("Secret {:?} key {:?}", r.name, r.key),
            message: "is not text; it must hold an AWS shared-credentials file".into(),
        })?;
        secrets.credentials_file = Some(Redacted(text));
    } else if let Some(path) = &config.credentials.file {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::Io {
            what: format!("credentialsFile {}", path.display()),
            message: e.kind().to_string(),
        })?;
        secrets.credentials_file = Some(Redacted(text));
    }
    if let Encryption::SseC(key_source) = &config.encryption {
        secrets.customer_key = Some(match key_source {
            CustomerKeySource::File(path) => {
                let what = format!("customerKeyEncryptionFile {}", path.display());
                let bytes = std::fs::read(path).map_err(|e| SecretError::Io {
                    what: what.clone(),
                    message: e.kind().to_string(),
                })?;
                CustomerKey::from_bytes(&what, &bytes)?
            }
            CustomerKeySource::Secret(r) => {
                let bytes = fetch(source, r, "spec.config.customerKeyEncryptionSecret").await?;
                CustomerKey::from_bytes(&format!("Secret {:?} key {:?}", r.name, r.key), &bytes)?
            }
        });
    }
    Ok(Resolved {
        config: config.clone(),
        secrets,
        warnings,
    })
}

/// Inspect a PEM CA bundle the same way the admission webhook inspects an inline `caCert`.
pub fn inspect_ca(field: &str, bytes: &[u8]) -> Result<(CaBundle, Vec<String>), SecretError> {
    inspect_pem(field, bytes, Timestamp::now())
        .map(|i| (i.bundle, i.warnings))
        .map_err(|message| SecretError::Invalid {
            what: field.to_owned(),
            message,
        })
}

fn key_ref(name: &str, key: &str) -> SecretKeyRef {
    SecretKeyRef {
        name: name.to_owned(),
        key: key.to_owned(),
    }
}

async fn fetch(
    source: &impl SecretSource,
    r: &SecretKeyRef,
    field: &str,
) -> Result<Vec<u8>, SecretError> {
    source
        .get(&r.name, &r.key)
        .await?
        .ok_or_else(|| SecretError::NotFound {
            name: r.name.clone(),
            field: field.to_owned(),
        })
}

/// Check a `kubernetes.io/tls` pair and convert the key to PKCS#8, which is what native-tls
/// takes; Secrets often hold PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) keys.
pub fn client_identity(name: &str, cert: &[u8], key: &[u8]) -> Result<ClientIdentity, SecretError> {
    let invalid = |message: &str| SecretError::Invalid {
        what: format!("clientCertRef Secret {name:?}"),
        message: message.to_owned(),
    };
    let certs = openssl::x509::X509::stack_from_pem(cert)
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("tls.crt holds no PEM certificate"))?;
    let pkey = openssl::pkey::PKey::private_key_from_pem(key)
        .map_err(|_| invalid("tls.key is not an unencrypted PEM private key"))?;
    let matches = certs[0]
        .public_key()
        .map(|p| p.public_eq(&pkey))
        .unwrap_or(false);
    if !matches {
        return Err(invalid(
            "tls.key does not belong to the first certificate in tls.crt",
        ));
    }
    let pkcs8 = pkey
        .private_key_to_pem_pkcs8()
        .map_err(|_| invalid("tls.key cannot be converted to PKCS#8"))?;
    Ok(ClientIdentity {
        cert_pem: cert.to_vec(),
        key_pkcs8_pem: Redacted(pkcs8),
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    /// Every form in which `secret` could show in `shown`: raw text, a derived `Debug` of the
    /// bytes (`[65, 65, ...]`), hex and base64.
    fn assert_never_shows(shown: &str, secret: &[u8]) {
        let forms = [
            String::from_utf8_lossy(&secret[..8]).into_owned(),
            format!("{:?}", &secret[..4])
                .trim_end_matches(']')
                .to_owned(),
            secret[..6].iter().map(|b| format!("{b:02x}")).collect(),
            base64::engine::general_purpose::STANDARD.encode(&secret[..9]),
        ];
        for form in forms {
            assert!(!shown.contains(&form), "{form:?} in {shown}");
        }
    }

    #[test]
    fn customer_key_must_be_32_bytes_and_never_prints() {
        let err = CustomerKey::from_bytes("file k", &[7u8; 33]).unwrap_err();
        assert!(err.to_string().contains("holds 33 bytes"), "{err}");
        assert_eq!(err.reason(), Reason::SseCKeyInvalid);
        let key_bytes = *b"0123456789abcdefghijklmnopqrstuv";
        let key = CustomerKey::from_bytes("file k", &key_bytes).unwrap();
        let credentials = "aws_secret_access_key = SECRETSECRET";
        let private_key = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n".to_vec();
        let material = SecretMaterial {
            customer_key: Some(key.clone()),
            credentials_file: Some(Redacted(credentials.into())),
            client_identity: Some(ClientIdentity {
                cert_pem: b"cert".to_vec(),
                key_pkcs8_pem: Redacted(private_key.clone()),
            }),
            ..Default::default()
        };
        for shown in [
            format!("{material:?}"),
            format!("{material:#?}"),
            format!("{key:?}"),
        ] {
            assert_never_shows(&shown, &key_bytes);
            assert_never_shows(&shown, credentials.as_bytes());
            assert_never_shows(&shown, &private_key[28..]);
        }
    }
}
