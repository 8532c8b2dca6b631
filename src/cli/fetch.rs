//! Fetching one of a backup's or restore's files the way Velero's CLI does: create a
//! DownloadRequest, wait for its link, GET it, and gunzip everything but the archive.
//!
//! A link to the store (presigned) is fetched over HTTPS trusting what [`super::trust`]
//! chose. A link the server streams itself (SSE-C objects) is an API-server path and is
//! fetched through the kubeconfig's client, with the API server's trust and credentials.

use std::io::{Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use futures::{Stream, StreamExt as _};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::cluster::Cluster;
use super::trust::{self, Trust};
use crate::api::{DownloadRequest, DownloadTargetKind};

/// The flags every command that downloads takes (Velero's names).
#[derive(Args, Debug, Clone)]
pub struct DownloadArgs {
    /// A PEM bundle to trust for the download, over the location's caCertRef and caCert.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Do not check the download's TLS certificate (susceptible to man-in-the-middle attacks).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// How long to wait for the server to process the download request.
    #[arg(long, default_value = "1m", value_parser = super::usage::parse_duration)]
    pub timeout: Duration,
}

/// Work out what to trust for a download from `location`, printing Velero's warnings.
pub async fn resolve_trust(
    cluster: &Cluster,
    location: &str,
    args: &DownloadArgs,
) -> anyhow::Result<Trust> {
    if args.insecure_skip_tls_verify {
        eprintln!(
            "Warning: --insecure-skip-tls-verify is set: the download's TLS certificate is not \
             checked, which is susceptible to man-in-the-middle attacks"
        );
    }
    let bundle = match trust::location_bundle(&cluster.client, &cluster.namespace, location).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("WARNING: Error getting cacert from BSL: {e}");
            None
        }
    };
    let file = args.cacert.as_deref().map(|p| (p, std::fs::read(p)));
    let (trust, warning) = trust::choose(file, bundle).map_err(|e| anyhow!(e))?;
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    tracing::debug!(source = ?trust.source, "download trust");
    Ok(trust)
}

/// Fetch `kind` of `name` into `out`, gunzipped unless it is the archive.
pub async fn download(
    cluster: &Cluster,
    kind: DownloadTargetKind,
    name: &str,
    trust: &Trust,
    args: &DownloadArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let url = request_link(cluster, kind, name, args.timeout).await?;
    let mut spool = tempfile::tempfile()?;
    if url.starts_with('/') {
        let request = axum::http::Request::get(&url).body(kube::client::Body::empty())?;
        let response = cluster.client.send(request).await?;
        let status = response.status();
        let body = axum::body::Body::new(response.into_body());
        if !status.is_success() {
            let text = String::from_utf8_lossy(&axum::body::to_bytes(body, 64 * 1024).await?)
                .trim()
                .to_owned();
            return Err(failure(status.as_u16(), &text));
        }
        copy(body.into_data_stream(), &mut spool).await?;
    } else {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &trust.pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).context("the CA bundle is not PEM")?;
            builder = builder.tls_certs_merge(certs);
        }
        if args.insecure_skip_tls_verify {
            builder = builder
                .tls_danger_accept_invalid_certs(true)
                .tls_danger_accept_invalid_hostnames(true);
        }
        let response = builder.build()?.get(&url).send().await.map_err(|e| {
            let text = error_chain(&e);
            if text.contains("unable to get local issuer certificate")
                || text.contains("self-signed certificate")
                || text.contains("certificate verify failed")
            {
                anyhow!(
                    "{text}\nThe --insecure-skip-tls-verify flag can also be used to accept any \
                     TLS certificate for the download, but it is susceptible to \
                     man-in-the-middle attacks"
                )
            } else {
                anyhow!(text)
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(failure(status.as_u16(), text.trim()));
        }
        copy(response.bytes_stream(), &mut spool).await?;
    }
    spool.rewind()?;
    if kind.is_gzipped_text() {
        std::io::copy(&mut flate2::read::GzDecoder::new(spool), out)
            .context("the file is not gzip")?;
    } else {
        std::io::copy(&mut spool, out)?;
    }
    out.flush()?;
    Ok(())
}

/// The store has no such file (a 404): callers may treat an optional file's absence as
/// "none" (`e.downcast_ref::<NotFound>()`).
#[derive(Debug, thiserror::Error)]
#[error("file not found")]
pub struct NotFound;

fn failure(code: u16, text: &str) -> anyhow::Error {
    if code == 404 {
        return NotFound.into();
    }
    let short: String = text.chars().take(500).collect();
    anyhow!("the download failed: HTTP {code}: {short}")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn copy<E: std::fmt::Display>(
    mut stream: impl Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    out: &mut std::fs::File,
) -> anyhow::Result<()> {
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| anyhow!("the download was cut: {e}"))?;
        out.write_all(&chunk)?;
    }
    Ok(())
}

/// Create a DownloadRequest (`<name>-<random>`, as Velero names them) and wait for its link.
async fn request_link(
    cluster: &Cluster,
    kind: DownloadTargetKind,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let api: Api<DownloadRequest> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut suffix = [0u8; 4];
    openssl::rand::rand_bytes(&mut suffix)?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let request: DownloadRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DownloadRequest",
        "metadata": {"name": format!("{name}-{suffix}"), "namespace": cluster.namespace},
        "spec": {"target": {"kind": kind, "name": name}},
    }))?;
    let created = api
        .create(&PostParams::default(), &request)
        .await
        .context("cannot create a DownloadRequest")?;
    let request_name = created.metadata.name.unwrap_or_default();
    let deadline = Instant::now() + timeout;
    loop {
        let current = api.get(&request_name).await?;
        let status = current.status.unwrap_or_default();
        if let Some(url) = status.download_url.filter(|u| !u.is_empty()) {
            return Ok(url);
        }
        if Instant::now() > deadline {
            bail!(
                "timed out waiting for download URL{}",
                status
                    .message
                    .map(|m| format!(": {m}"))
                    .unwrap_or_else(|| " (is veloxide server running?)".into())
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
