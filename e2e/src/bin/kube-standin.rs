//! `kube-standin --listen 127.0.0.1:PORT --kubeconfig FILE [--webhook-endpoint NS/SVC=HOST:PORT ...]`
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A Kubernetes API server stand-in for tests (see e2e/README.md).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to serve HTTPS on; port 0 picks a free one (printed, and written to the kubeconfig).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the kubeconfig (CA, server URL, bearer token).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Maps a webhook's clientConfig.service to a local address: NAMESPACE/SERVICE=HOST:PORT.
    #[arg(long = "webhook-endpoint", value_parser = e2e::standin::parse_endpoint)]
    webhook_endpoints: Vec<(String, String)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    e2e::standin::run(e2e::standin::Config {
        listen: args.listen,
        kubeconfig: args.kubeconfig,
        webhook_endpoints: args.webhook_endpoints.into_iter().collect(),
    })
    .await
}
