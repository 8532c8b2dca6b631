//! Applying manifests as `kubectl apply --server-side` does, and rendering the project's Helm
//! chart, so tests run the operator with exactly what the chart grants.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use serde::Deserialize;
use serde_json::Value;

/// The repository's root (the e2e crate sits in it).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e sits in the repository")
        .to_path_buf()
}

/// Helm: `$HELM`, else `.work/bin/helm` (installed by `make test-tools`).
pub fn helm() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".work/bin/helm"));
    if !path.is_file() {
        bail!(
            "helm not found at {}: run `bash e2e/tools/install-helm.sh` (make test does) or set HELM",
            path.display()
        );
    }
    Ok(path)
}

/// Every document of a multi-document YAML text (empty documents dropped).
pub fn yaml_docs(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for d in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(d).context("parsing YAML")?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// `helm template RELEASE charts/veloxide -n NAMESPACE --show-only T...` with `--set` values.
pub fn render_chart(
    release: &str,
    namespace: &str,
    templates: &[&str],
    sets: &[&str],
) -> anyhow::Result<String> {
    render_chart_with(None, release, namespace, templates, sets)
}

/// The same, with `--dry-run=server --kubeconfig KUBECONFIG` when `kubeconfig` is given: the
/// chart's `lookup` calls then read that cluster, as they do in `helm install` and `helm
/// upgrade` (plain `helm template` answers every lookup with nothing).
pub fn render_chart_with(
    kubeconfig: Option<&Path>,
    release: &str,
    namespace: &str,
    templates: &[&str],
    sets: &[&str],
) -> anyhow::Result<String> {
    let mut cmd = Command::new(helm()?);
    cmd.args(["template", release])
        .arg(repo().join("charts/veloxide"))
        .args(["-n", namespace]);
    if let Some(kubeconfig) = kubeconfig {
        cmd.arg("--dry-run=server")
            .arg("--kubeconfig")
            .arg(kubeconfig);
    }
    for t in templates {
        cmd.args(["--show-only", &format!("templates/{t}")]);
    }
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().context("running helm template")?;
    if !out.status.success() {
        bail!(
            "helm template failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The chart's identity for the server: its ServiceAccount, Role, ClusterRoles and bindings,
/// rendered for release `veloxide` in `namespace` with the given `--set` values.
pub fn chart_rbac(namespace: &str, sets: &[&str]) -> anyhow::Result<String> {
    render_chart(
        "veloxide",
        namespace,
        &["serviceaccount.yaml", "rbac.yaml"],
        sets,
    )
}

/// The same RBAC rendered against a cluster (`lookup` reads its CustomResourceDefinitions), as
/// `helm install` renders it there.
pub fn chart_rbac_from_cluster(
    kubeconfig: &Path,
    namespace: &str,
    sets: &[&str],
) -> anyhow::Result<String> {
    render_chart_with(
        Some(kubeconfig),
        "veloxide",
        namespace,
        &["serviceaccount.yaml", "rbac.yaml"],
        sets,
    )
}

/// Server-side applies every document of `yaml` (field manager `e2e`), in order.
pub async fn apply(client: &kube::Client, yaml: &str) -> anyhow::Result<()> {
    let discovery = Discovery::new(client.clone()).run().await?;
    for doc in yaml_docs(yaml)? {
        let obj: DynamicObject = serde_json::from_value(doc.clone())?;
        let types = obj
            .types
            .clone()
            .context("a document without apiVersion/kind")?;
        let gvk = kube::core::GroupVersionKind::try_from(&types)?;
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("{gvk:?} is not served"))?;
        let name = obj
            .metadata
            .name
            .clone()
            .context("a document without a name")?;
        let api: Api<DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            (Scope::Namespaced, None) => bail!("{}/{name} needs a namespace", types.kind),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        };
        api.patch(
            &name,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&doc),
        )
        .await
        .with_context(|| format!("applying {}/{name}", types.kind))?;
    }
    Ok(())
}
