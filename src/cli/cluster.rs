//! The options every command takes (kubectl's `--kubeconfig` and `--context`, Velero's
//! `-n/--namespace`), and the connection they describe.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Velero's namespace when nothing else names one.
pub const DEFAULT_NAMESPACE: &str = "velero";

/// Options accepted before or after any subcommand (`veloxide -n prod backup get` and
/// `veloxide backup get -n prod` mean the same).
#[derive(Args, Debug, Clone, Default)]
pub struct Globals {
    /// The namespace veloxide runs in and keeps its backups, restores and locations in
    /// [default: $VELERO_NAMESPACE, else velero].
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "VELOXIDE_NAMESPACE",
        value_name = "NAMESPACE"
    )]
    namespace: Option<String>,
    /// The kubeconfig file to use [default: $KUBECONFIG, else ~/.kube/config, else the
    /// in-cluster service account].
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: its current-context].
    #[arg(
        long,
        global = true,
        visible_alias = "kubecontext",
        value_name = "NAME"
    )]
    context: Option<String>,
}

impl Globals {
    /// `-n`, else `$VELOXIDE_NAMESPACE` (both through clap), else Velero's
    /// `$VELERO_NAMESPACE`, else `velero`.
    pub fn namespace(&self) -> String {
        self.namespace
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| std::env::var("VELERO_NAMESPACE").ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    }

    /// The client configuration the flags describe, as kubectl resolves it.
    pub async fn kube_config(&self) -> anyhow::Result<kube::Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let file = Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read --kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .with_context(|| format!("--kubeconfig {}", path.display()))
            }
            (None, Some(context)) => kube::Config::from_kubeconfig(&options)
                .await
                .with_context(|| format!("--context {context}")),
            (None, None) => kube::Config::infer().await.context(
                "cannot find a cluster to talk to: set KUBECONFIG, pass --kubeconfig FILE, or run \
                 inside a pod",
            ),
        }
    }
}

/// Where a command works: the cluster and veloxide's namespace in it.
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

impl Cluster {
    pub async fn connect(globals: &Globals) -> anyhow::Result<Cluster> {
        let config = globals.kube_config().await?;
        let client = kube::Client::try_from(config).context("cannot build a Kubernetes client")?;
        Ok(Cluster {
            client,
            namespace: globals.namespace(),
        })
    }

    /// A namespaced API for `K` in veloxide's namespace.
    pub fn api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        kube::Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// What a `get` shows: the named objects (each must exist, in the order given), or every
    /// one whose labels match `selector` when none is named. `noun` and `plural` name the kind
    /// in messages (`backup storage location`, `backup storage locations`).
    pub async fn named_or_listed<K>(
        &self,
        names: &[String],
        selector: Option<&str>,
        noun: &str,
        plural: &str,
    ) -> anyhow::Result<Vec<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: kube::Api<K> = self.api();
        if names.is_empty() {
            let mut params = kube::api::ListParams::default();
            if let Some(s) = selector {
                params = params.labels(s);
            }
            return Ok(api
                .list(&params)
                .await
                .with_context(|| format!("cannot list {plural}"))?
                .items);
        }
        let mut found = Vec::new();
        for name in names {
            found.push(api.get_opt(name).await?.with_context(|| {
                format!("{noun} {name:?} not found in namespace {}", self.namespace)
            })?);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_velero_s_variable() {
        let flagged = Globals {
            namespace: Some("prod".into()),
            ..Globals::default()
        };
        assert_eq!(flagged.namespace(), "prod");
        // The fallbacks read the process environment; the binary tests cover them.
    }
}
