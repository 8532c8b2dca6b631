//! A route the real kube-apiserver will proxy to. Its service proxy refuses loopback endpoints,
//! so a test that needs `/api/v1/namespaces/NS/services/NAME/proxy/...` (veloxide's SSE-C
//! downloads) exposes a local port on an address of its own: [`Exposed::start`] makes a network
//! namespace with a veth pair (`198.18.A.B/30`, the range RFC 2544 sets aside for test networks,
//! on interfaces that exist only for this test), and forwards connections made to the host end
//! to the local port. Dropping it stops the forwarder and deletes the namespace with its pair.
//! Needs root (`ip netns`), as these machines and CI give.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use anyhow::{Context, bail};
use tokio::net::{TcpListener, TcpStream};

/// A local port reachable at `addr`, an address the API server accepts as an endpoint.
pub struct Exposed {
    namespace: String,
    /// Where the API server (or anyone on this machine) reaches the forwarded port.
    pub addr: SocketAddr,
    forwarder: tokio::task::JoinHandle<()>,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Exposed {
    /// Exposes `127.0.0.1:local_port` at a fresh veth address. Call from a Tokio runtime.
    pub async fn start(local_port: u16) -> anyhow::Result<Exposed> {
        let id = crate::random_hex(3);
        let bytes = u32::from_str_radix(&id, 16)?;
        let third = (bytes >> 8 & 0xff) as u8;
        let base = (bytes & 0xfc) as u8;
        let host = Ipv4Addr::new(198, 18, third, base + 1);
        let peer = Ipv4Addr::new(198, 18, third, base + 2);
        let namespace = format!("vx-e2e-{id}");
        let (host_if, peer_if) = (format!("vxh{id}"), format!("vxn{id}"));
        ip(&["netns", "add", &namespace])?;
        let setup = async {
            ip(&[
                "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if, "netns",
                &namespace,
            ])?;
            ip(&["addr", "add", &format!("{host}/30"), "dev", &host_if])?;
            ip(&["link", "set", &host_if, "up"])?;
            let peer_cidr = format!("{peer}/30");
            ip(&["-n", &namespace, "addr", "add", &peer_cidr, "dev", &peer_if])?;
            ip(&["-n", &namespace, "link", "set", &peer_if, "up"])?;
            Ok::<_, anyhow::Error>(TcpListener::bind((host, 0)).await?)
        };
        let listener = match setup.await {
            Ok(l) => l,
            Err(e) => {
                let _ = ip(&["netns", "del", &namespace]);
                return Err(e);
            }
        };
        let addr = listener.local_addr()?;
        let forwarder = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", local_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Exposed {
            namespace,
            addr,
            forwarder,
        })
    }
}

impl Drop for Exposed {
    fn drop(&mut self) {
        self.forwarder.abort();
        // Deleting the namespace deletes the veth end in it, and with it the host end.
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}

/// Points the Service `namespace/service`'s Endpoints at `exposed`, under the Service's port
/// `port_name`: what a pod behind the Service is to the API server, which reaches webhooks and
/// proxies through Endpoints (control-plane.sh runs it with `--enable-aggregator-routing`).
/// The service proxy only forwards to addresses that belong to a Pod of the namespace, so a Pod
/// (`<service>-e2e-route`, never scheduled: there is no kubelet) is made with the exposed
/// address as its status IP, and the endpoint names it.
///
/// Webhook calls resolve a Service through its EndpointSlices. For a Service without a
/// selector kube-controller-manager mirrors the Endpoints into one; for a Service with a selector
/// (the chart's, `veloxide install`'s) it keeps its own slice of the (absent) pods and mirrors
/// nothing, so an EndpointSlice of our own (managed by `e2e`, which the controller leaves alone)
/// is written as well.
pub async fn route_service(
    client: &kube::Client,
    namespace: &str,
    service: &str,
    port_name: &str,
    exposed: &Exposed,
) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{Endpoints, Pod};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::api::{Api, Patch, PatchParams};
    let ip = exposed.addr.ip().to_string();
    let pod_name = format!("{service}-e2e-route");
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": namespace},
        "spec": {"automountServiceAccountToken": false,
                 "containers": [{"name": "route", "image": "e2e.invalid/route:none"}]}
    });
    let apply = PatchParams::apply("e2e").force();
    // The ServiceAccount admission plugin refuses pods until kube-controller-manager has made
    // the namespace's default ServiceAccount: retry for a few seconds.
    let mut tries = 0;
    loop {
        match pods.patch(&pod_name, &apply, &Patch::Apply(&pod)).await {
            Ok(_) => break,
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("creating the route's Pod"),
        }
    }
    let status = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": namespace},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    });
    pods.patch_status(&pod_name, &apply, &Patch::Apply(&status))
        .await
        .context("setting the route Pod's IP")?;
    let endpoints = serde_json::json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": service, "namespace": namespace},
        "subsets": [{"addresses": [{"ip": ip, "targetRef": {"kind": "Pod", "name": pod_name, "namespace": namespace}}],
                     "ports": [{"name": port_name, "port": exposed.addr.port()}]}]
    });
    Api::<Endpoints>::namespaced(client.clone(), namespace)
        .patch(service, &apply, &Patch::Apply(&endpoints))
        .await
        .with_context(|| format!("routing Service {namespace}/{service}"))?;
    let slice_name = format!("{service}-e2e");
    let slice = serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": slice_name, "namespace": namespace, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "e2e"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true},
                       "targetRef": {"kind": "Pod", "name": pod_name, "namespace": namespace}}],
        "ports": [{"name": port_name, "port": exposed.addr.port(), "protocol": "TCP"}]
    });
    Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .patch(&slice_name, &apply, &Patch::Apply(&slice))
        .await
        .with_context(|| format!("routing Service {namespace}/{service} (EndpointSlice)"))?;
    Ok(())
}
