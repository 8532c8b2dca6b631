//! `veloxide version`: this binary's version and, when the cluster answers, the server's, read
//! from the running Deployment's image (the `app.kubernetes.io/version` label when the image
//! is pinned by digest).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;

use super::cluster::{Cluster, Globals};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Deployment `veloxide install` and the chart (with its default release name) make.
const DEPLOYMENT: &str = "veloxide";

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Only print the client's version; do not contact the cluster.
    #[arg(long)]
    client_only: bool,
    /// How long to wait for the cluster.
    #[arg(long, default_value = "5s", value_parser = super::usage::parse_duration)]
    timeout: Duration,
}

impl VersionArgs {
    pub async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        println!("Client:\n\tVersion: {VERSION}");
        if self.client_only {
            return Ok(ExitCode::SUCCESS);
        }
        match tokio::time::timeout(self.timeout, server_version(globals)).await {
            Ok(Ok(version)) => {
                println!("Server:\n\tVersion: {version}");
                if major_minor(&version) != major_minor(VERSION) {
                    println!(
                        "# WARNING: the client version does not match the server version. \
                         Please update {}",
                        if major_minor(VERSION) > major_minor(&version) {
                            "server"
                        } else {
                            "client"
                        }
                    );
                }
            }
            Ok(Err(e)) => println!("<error getting server version: {e:#}>"),
            Err(_) => println!(
                "<error getting server version: no answer within {:?}>",
                self.timeout
            ),
        }
        Ok(ExitCode::SUCCESS)
    }
}

async fn server_version(globals: &Globals) -> anyhow::Result<String> {
    let cluster = Cluster::connect(globals).await?;
    let api: kube::Api<Deployment> = cluster.api();
    let deployment = api.get_opt(DEPLOYMENT).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "no Deployment {DEPLOYMENT} in namespace {} (is veloxide installed there? -n NAMESPACE)",
            cluster.namespace
        )
    })?;
    version_of(&deployment).ok_or_else(|| {
        anyhow::anyhow!("Deployment {DEPLOYMENT} names no version (image tag or app.kubernetes.io/version label)")
    })
}

/// The server container's image tag, else the version label.
pub fn version_of(deployment: &Deployment) -> Option<String> {
    let containers = &deployment.spec.template.spec.as_ref()?.containers;
    let image = containers
        .iter()
        .find(|c| c.name == "server")
        .or_else(|| containers.first())?
        .image
        .clone()
        .unwrap_or_default();
    let without_digest = image.split('@').next().unwrap_or_default();
    let name = without_digest.rsplit('/').next().unwrap_or_default();
    name.split_once(':')
        .map(|(_, tag)| tag.trim_start_matches('v').to_owned())
        .filter(|t| !t.is_empty() && t != "latest")
        .or_else(|| {
            deployment
                .metadata
                .labels
                .as_ref()?
                .get("app.kubernetes.io/version")
                .cloned()
        })
}

fn major_minor(version: &str) -> (u64, u64) {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(image: &str, label: Option<&str>) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "veloxide",
                         "labels": label.map(|l| json!({"app.kubernetes.io/version": l}))},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "server", "image": image}]}}},
        }))
        .unwrap()
    }

    #[test]
    fn the_image_tag_then_the_label() {
        assert_eq!(
            version_of(&deployment("ghcr.io/veloxide/veloxide:0.3.1", None)).as_deref(),
            Some("0.3.1")
        );
        assert_eq!(
            version_of(&deployment("registry:5000/veloxide:v1.2.0", None)).as_deref(),
            Some("1.2.0")
        );
        assert_eq!(
            version_of(&deployment("veloxide@sha256:abcd", Some("0.4.0"))).as_deref(),
            Some("0.4.0")
        );
        assert_eq!(version_of(&deployment("veloxide:latest", None)), None);
        assert_eq!(major_minor("v1.18.1"), (1, 18));
    }
}
