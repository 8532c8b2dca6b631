//! A location's `--cacert`: read and checked as the webhook checks a bundle, then kept in a
//! Secret the CLI owns and the location names with `caCertRef`.

use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::super::cluster::Cluster;
use crate::location;

/// The field manager of the CA Secrets the CLI writes, and its label on them.
const FIELD_MANAGER: &str = "veloxide-cli";
pub const CA_KEY: &str = "ca-bundle.crt";

/// The Secret a location's `--cacert` is stored in.
pub fn ca_secret_name(location: &str) -> String {
    format!("{location}-ca-cert")
}

/// Read and check a `--cacert` file as the webhook checks a bundle.
pub(super) fn read_cacert(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read --cacert {}", path.display()))?;
    let inspected = location::inspect_pem("--cacert", &pem, jiff::Timestamp::now())
        .map_err(|m| anyhow::anyhow!("--cacert {}: {m}", path.display()))?;
    for w in inspected.warnings {
        eprintln!("Warning: {w}");
    }
    Ok(pem)
}

/// Write the CA Secret, owned by the location when its uid is known. A Secret of that name the
/// CLI did not write is never overwritten.
pub(super) async fn put_ca_secret(
    cluster: &Cluster,
    location: &str,
    owner_uid: Option<&str>,
    pem: &[u8],
) -> anyhow::Result<bool> {
    let secrets: Api<Secret> = cluster.api();
    let name = ca_secret_name(location);
    let existed = match secrets.get_opt(&name).await? {
        Some(s) => {
            let ours = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                .is_some_and(|v| v == FIELD_MANAGER);
            if !ours {
                bail!(
                    "Secret {name} already exists in namespace {} and was not written by \
                     veloxide; delete or rename it, or point the location at it yourself \
                     (spec.objectStorage.caCertRef)",
                    cluster.namespace
                );
            }
            true
        }
        None => false,
    };
    let owner = owner_uid.map(|uid| {
        json!([{"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                "name": location, "uid": uid}])
    });
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": cluster.namespace,
                     "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER},
                     "ownerReferences": owner},
        "type": "Opaque",
        "data": {CA_KEY: STANDARD.encode(pem)},
    });
    secrets
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .with_context(|| format!("cannot write Secret {name}"))?;
    Ok(existed)
}
