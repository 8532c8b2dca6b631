//! Secrets read from the Kubernetes API, for the controller and `verify NAME`.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::secrets::{SecretError, SecretSource};

/// Reads Secrets of one namespace (the location's).
#[derive(Clone)]
pub struct KubeSecrets {
    api: Api<Secret>,
}

impl KubeSecrets {
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        KubeSecrets {
            api: Api::namespaced(client, namespace),
        }
    }
}

impl SecretSource for KubeSecrets {
    async fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, SecretError> {
        let secret = self.api.get_opt(name).await.map_err(|e| SecretError::Api {
            name: name.to_owned(),
            // kube's error text names the request and status, never the Secret's data.
            message: e.to_string(),
        })?;
        let Some(secret) = secret else {
            return Ok(None);
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|s| s.clone().into_bytes())
            });
        value.map(Some).ok_or_else(|| SecretError::KeyMissing {
            name: name.to_owned(),
            key: key.to_owned(),
        })
    }
}
