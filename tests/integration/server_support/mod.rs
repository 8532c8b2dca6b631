//! Shared by the server's end-to-end tests: a real control plane (one per test: each World owns
//! the `velero` namespace), moto over HTTPS, and `veloxide server` processes running with the
//! identity and RBAC rules the Helm chart grants.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use e2e::peers::Moto;
use e2e::peers::process::spawn_listening;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use veloxide::api::BackupStorageLocation;

pub const NS: &str = "velero";
pub const BUCKET: &str = "velero-backups";

/// A control plane with veloxide's CRDs, the `velero` namespace and the chart's RBAC, and moto
/// with a bucket.
pub struct World {
    /// Shared by the worlds of a disaster-recovery test (two clusters, one bucket).
    pub moto: Arc<Moto>,
    pub cluster: Cluster,
    /// An admin client (what a user with kubectl does).
    pub client: Client,
    /// The kubeconfig of the chart's ServiceAccount (`system:serviceaccount:velero:veloxide`):
    /// servers run with it, so a permission the chart forgot fails the test.
    pub server_kubeconfig: PathBuf,
}

impl World {
    /// With the chart's RBAC at `rbac.secretsScope=cluster` (see below).
    pub async fn start() -> World {
        World::start_with_rbac(&["rbac.secretsScope=cluster", RESTORE_WIDGETS]).await
    }

    /// With the chart's RBAC rendered with these `--set` values.
    pub async fn start_with_rbac(chart_values: &[&str]) -> World {
        let moto = Moto::start();
        moto.create_bucket(BUCKET).await;
        World::with_store(Arc::new(moto), chart_values).await
    }

    /// A second cluster (its own control plane) whose locations reach the same bucket as
    /// `other`'s: a disaster-recovery site.
    pub async fn start_sharing(other: &World) -> World {
        World::start_on(other.moto.clone()).await
    }

    /// A cluster whose locations reach `moto` (kept when the cluster that wrote to it is gone).
    pub async fn start_on(moto: Arc<Moto>) -> World {
        World::with_store(moto, &["rbac.secretsScope=cluster", RESTORE_WIDGETS]).await
    }

    /// A control plane with one node and its CSI storage (`control-plane.sh up --nodes 1`), for
    /// tests of volumes.
    pub async fn start_with_node() -> World {
        let moto = Moto::start();
        moto.create_bucket(BUCKET).await;
        let cluster = Cluster::start_with_nodes(1).expect("the control plane and its node start");
        World::on_cluster(
            Arc::new(moto),
            &["rbac.secretsScope=cluster", RESTORE_WIDGETS],
            cluster,
        )
        .await
    }

    async fn with_store(moto: Arc<Moto>, chart_values: &[&str]) -> World {
        let cluster = Cluster::start().expect("the control plane starts");
        World::on_cluster(moto, chart_values, cluster).await
    }

    async fn on_cluster(moto: Arc<Moto>, chart_values: &[&str], cluster: Cluster) -> World {
        let client = cluster.client().await.unwrap();
        install_crds(&client).await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        // Most tests use `rbac.secretsScope=cluster` (backups read Secrets and every built-in
        // group, as a Velero install does; the tests' example.com through RESTORE_WIDGETS):
        // they back up Secrets and custom resources in other namespaces.
        // tests/backup_secrets_scope.rs runs the chart's default.
        apply_chart_rbac(&client, chart_values).await;
        let server_kubeconfig = cluster
            .kubeconfig_for_service_account(NS, "veloxide")
            .unwrap();
        let world = World {
            moto,
            cluster,
            client,
            server_kubeconfig,
        };
        world
            .put_secret("cloud-credentials", &[("cloud", b"[default]\naws_access_key_id=veloxide\naws_secret_access_key=not-a-real-secret-0123\n".as_slice())], None)
            .await;
        world
            .put_secret(
                "storage-ca-cert",
                &[("ca-bundle.crt", &world.moto.pki.ca.cert_pem())],
                None,
            )
            .await;
        world
    }

    /// The chart's RBAC (as `World::start` applies it) again, as `helm install` after the
    /// release namespace was deleted and made again.
    pub async fn reapply_rbac(&self) {
        apply_chart_rbac(
            &self.client,
            &["rbac.secretsScope=cluster", RESTORE_WIDGETS],
        )
        .await;
    }

    /// The chart's RBAC rendered with these values, applied over what is there (as `helm
    /// upgrade --set`), e.g. once the namespaces `hooks.namespaces` names exist.
    pub async fn apply_rbac(&self, chart_values: &[&str]) {
        apply_chart_rbac(&self.client, chart_values).await;
    }

    /// The chart's RBAC rendered against this cluster (its `lookup` of the cluster's CRDs, as
    /// `helm install` and `helm upgrade` render it), applied over what is there.
    pub async fn apply_rbac_from_cluster(&self, chart_values: &[&str]) {
        let rbac =
            e2e::manifests::chart_rbac_from_cluster(&self.cluster.kubeconfig, NS, chart_values)
                .unwrap();
        e2e::manifests::apply(&self.client, &rbac).await.unwrap();
    }

    /// The `veloxide` CLI's environment: the admin kubeconfig, as a user at a terminal has.
    pub fn kubeconfig(&self) -> &Path {
        &self.cluster.kubeconfig
    }

    pub fn locations(&self) -> Api<BackupStorageLocation> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Create or replace a Secret (server-side apply, as `kubectl apply` would).
    pub async fn put_secret(&self, name: &str, data: &[(&str, &[u8])], kind: Option<&str>) {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), NS);
        let data: BTreeMap<String, ByteString> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
            .collect();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": NS},
            "type": kind.unwrap_or("Opaque"),
            "data": data,
        });
        secrets
            .patch(
                name,
                &PatchParams::apply("e2e-test").force(),
                &Patch::Apply(&secret),
            )
            .await
            .unwrap();
    }

    /// A location on moto trusting its CA through `caCertRef`, with `config` merged in.
    pub async fn create_location(&self, name: &str, extra_config: Value, object_storage: Value) {
        let mut config =
            json!({"region": "us-east-1", "s3Url": self.moto.url(), "s3ForcePathStyle": "true"});
        for (k, v) in extra_config.as_object().unwrap() {
            config[k] = v.clone();
        }
        let mut storage = json!({"bucket": BUCKET, "prefix": name, "caCertRef": {"name": "storage-ca-cert", "key": "ca-bundle.crt"}});
        for (k, v) in object_storage.as_object().unwrap() {
            if v.is_null() {
                storage.as_object_mut().unwrap().remove(k);
            } else {
                storage[k] = v.clone();
            }
        }
        let location: BackupStorageLocation = serde_json::from_value(json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "provider": "aws",
                "credential": {"name": "cloud-credentials", "key": "cloud"},
                "objectStorage": storage,
                "config": config,
            }
        }))
        .unwrap();
        self.locations()
            .create(&PostParams::default(), &location)
            .await
            .unwrap();
    }

    pub async fn delete_location(&self, name: &str) {
        self.locations()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// Create a location (as [`World::create_location`]) and wait, at most 30 s, until it is
    /// Available.
    pub async fn create_available_location(
        &self,
        name: &str,
        extra_config: Value,
        object_storage: Value,
    ) -> BackupStorageLocation {
        self.create_location(name, extra_config, object_storage)
            .await;
        self.wait_ready_reason(name, "Available", Duration::from_secs(30))
            .await
    }

    /// Wait until the location's `Ready` condition has `reason` (and return the location).
    pub async fn wait_ready_reason(
        &self,
        name: &str,
        reason: &str,
        timeout: Duration,
    ) -> BackupStorageLocation {
        let deadline = Instant::now() + timeout;
        loop {
            let location = self.locations().get(name).await.unwrap();
            let ready = location
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .map(|c| c.reason.clone());
            if ready.as_deref() == Some(reason) {
                return location;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name}: Ready reason {ready:?}, expected {reason:?} within {timeout:?}; status: {}",
                    serde_json::to_string_pretty(&location.status).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Events (events.k8s.io/v1) recorded about `name`, as (reason, note).
    pub async fn events_for(&self, name: &str) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), NS);
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }
}

async fn apply_chart_rbac(client: &Client, chart_values: &[&str]) {
    let rbac = e2e::manifests::chart_rbac(NS, chart_values).unwrap();
    e2e::manifests::apply(client, &rbac).await.unwrap();
}

/// The tests' custom resource (`widgets.example.com`) added to what restores may write and
/// its group to what backups read, as a user lists theirs (`rbac.restore.resources`,
/// `rbac.backup.customResourceGroups`): the chart reads no group whole unless it is listed.
pub const RESTORE_WIDGETS: &str =
    "rbac.restore.resources.example\\.com={widgets},rbac.backup.customResourceGroups={example.com}";

/// The lease the servers run with unless a test sets `--lease-duration` itself.
pub const LEASE: Duration = Duration::from_secs(8);
const LEASE_FLAG: &str = "8s";

/// A `veloxide server` process against the control plane. Dropping it kills it.
pub struct Server {
    child: Child,
    pub metrics_url: String,
    pub identity: String,
}

impl Server {
    pub fn start(kubeconfig: &Path, identity: &str) -> Server {
        Server::start_with(kubeconfig, identity, &[])
    }

    /// With extra `veloxide server` flags.
    pub fn start_with(kubeconfig: &Path, identity: &str, extra: &[&str]) -> Server {
        let log = "info,veloxide=debug";
        Server::start_logged(kubeconfig, identity, log, Stdio::inherit(), extra)
    }

    /// A server with its own `RUST_LOG`, its log (stderr) going to `stderr`, and `extra` flags.
    pub fn start_logged(
        kubeconfig: &Path,
        identity: &str,
        rust_log: &str,
        stderr: Stdio,
        extra: &[&str],
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_veloxide"));
        command
            .args([
                "server",
                "--namespace",
                NS,
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args(["--identity", identity])
            // LEASE unless the test sets its own: short enough for takeovers to be quick,
            // long enough that a renewal delayed by a loaded machine (renewals come halfway
            // through) does not let the lease run out, which stops the leader's controllers.
            .args(if extra.contains(&"--lease-duration") {
                &[][..]
            } else {
                &["--lease-duration", LEASE_FLAG][..]
            })
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", rust_log)
            .stderr(stderr);
        let (child, lines) = spawn_listening(&mut command, &["veloxide metrics listening on "]);
        Server {
            child,
            metrics_url: lines.concat(),
            identity: identity.to_owned(),
        }
    }

    /// The server's process id (for reading its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.metrics_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn ready(&self) -> bool {
        reqwest::get(format!("{}/readyz", self.metrics_url))
            .await
            .is_ok_and(|r| r.status() == 200)
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ready().await {
            assert!(
                Instant::now() < deadline,
                "{} never became ready",
                self.identity
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, as Kubernetes stops a pod; waits for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }

    /// SIGTERM, then up to `within` for the process to exit (polled, so the test's runtime
    /// keeps running what the server may be talking to). `None`: still running, now killed.
    pub async fn terminate_within(mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no chance to release the lease.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the first sample of `metric` whose labels contain every `labels` pair.
pub fn sample(metrics: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// What the chart's Service is to a real API server: the way to a server's HTTP port, which
/// SSE-C downloads are streamed through. The API server's service proxy refuses loopback
/// endpoints, so the port is exposed on a veth address of the test's own network namespace and
/// named by the Service's Endpoints (a Service without a selector, as for a server outside the
/// cluster). Keep the returned handle alive while the route is used.
pub async fn expose_server(world: &World, server: &Server) -> e2e::netns::Exposed {
    let port: u16 = server
        .metrics_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let exposed = e2e::netns::Exposed::start(port)
        .await
        .expect("a network namespace for the service proxy's route (needs root)");
    let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "veloxide", "namespace": NS},
        "spec": {"ports": [{"name": "metrics", "port": 8085, "targetPort": exposed.addr.port()}]}
    }))
    .unwrap();
    Api::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    e2e::netns::route_service(&world.client, NS, "veloxide", "metrics", &exposed)
        .await
        .unwrap();
    exposed
}

/// Creates veloxide's CRDs and waits until the API server serves them (Established).
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in veloxide::crds::all() {
        let name = crd.metadata.name.clone().unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
        let established = kube::runtime::conditions::is_crd_established();
        let wait = kube::runtime::wait::await_condition(crds.clone(), &name, established);
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} established within 30 s"))
            .unwrap();
    }
}
