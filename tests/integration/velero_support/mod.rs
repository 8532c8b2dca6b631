//! Velero itself as a test peer (tests/integration/velero_interop.rs): a control plane of its
//! own with Velero's CRDs (they share the `velero.io` names with veloxide's, so the two never
//! meet in one API server), and `velero server` run out of cluster from the binaries
//! `e2e/tools/build-velero.sh` builds (`make velero-peer`).
//!
//! Out of cluster, Velero reads a location's `credential` Secret through the API and writes it
//! to a file under `$TMPDIR/credentials` for the plugin (Velero's `credentials.DefaultStoreDirectory`),
//! so the same BackupStorageLocation manifest as veloxide's works unchanged: no
//! `AWS_SHARED_CREDENTIALS_FILE` or `/credentials/cloud` is needed. `TMPDIR` is the cluster's
//! directory, so two servers never share those files.
#![allow(dead_code)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use e2e::peers::Moto;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};

use super::server_support::NS;

/// The directory holding `velero`, built once per test binary (reused across runs while
/// e2e/velero and the plugin version are unchanged; `make test-tools` builds it beforehand).
pub fn bin_dir() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = e2e::manifests::repo().join("e2e/tools/build-velero.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{} failed: Velero could not be built (needs Go and the module proxy)",
            script.display()
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The `velero` binary, by absolute path (the server re-executes itself for its own plugins).
pub fn velero_bin() -> PathBuf {
    bin_dir().join("velero")
}

/// A directory holding only `velero-plugin-for-aws`: the server runs every executable in
/// `--plugin-dir` as a plugin.
pub fn plugin_dir() -> PathBuf {
    bin_dir().parent().unwrap().join("plugins")
}

/// The CRDs `velero install --crds-only --dry-run -o yaml` prints.
pub fn velero_crds(kubeconfig: &Path) -> Vec<Value> {
    let out = Command::new(velero_bin())
        .args(["install", "--crds-only", "--dry-run", "-o", "yaml"])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .expect("velero runs");
    assert!(
        out.status.success(),
        "velero install --crds-only: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = e2e::manifests::yaml_docs(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let crds: Vec<Value> = docs
        .into_iter()
        .flat_map(|d| match d["kind"].as_str() {
            Some("List") => d["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![d],
        })
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    assert!(
        crds.len() >= 10,
        "only {} CRDs from velero install",
        crds.len()
    );
    crds
}

/// Create CRDs (as JSON) and wait until each is served.
pub async fn create_crds(client: &Client, crds: &[Value]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        let mut crd: CustomResourceDefinition = serde_json::from_value(crd.clone()).unwrap();
        crd.metadata.creation_timestamp = None;
        let name = crd.metadata.name.clone().unwrap();
        api.create(&PostParams::default(), &crd)
            .await
            .unwrap_or_else(|e| panic!("create CRD {name}: {e}"));
        let wait = kube::runtime::wait::await_condition(
            api.clone(),
            &name,
            kube::runtime::conditions::is_crd_established(),
        );
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} established within 30 s"))
            .unwrap();
    }
}

/// How long one `velero` CLI command may run.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(180);

/// The credentials both sides' locations name (`credential: {name: cloud-credentials, key: cloud}`).
pub const CREDENTIALS: &[u8] =
    b"[default]\naws_access_key_id=veloxide\naws_secret_access_key=not-a-real-secret-0123\n";

/// Velero's side: its own control plane with Velero's CRDs, the `velero` namespace and the
/// credentials Secret, and (once started) `velero server`.
pub struct VeleroSide {
    /// Declared first: dropped (killed) before its control plane goes.
    server: Option<VeleroServer>,
    pub moto: Arc<Moto>,
    pub client: Client,
    pub cluster: Cluster,
    metrics_port: u16,
}

impl VeleroSide {
    pub async fn start(moto: Arc<Moto>) -> VeleroSide {
        let cluster = Cluster::start().expect("the control plane starts");
        VeleroSide::start_on(cluster, moto).await
    }

    /// With one node, so restored pods run (Velero's restore hooks).
    pub async fn start_with_node(moto: Arc<Moto>) -> VeleroSide {
        let cluster = Cluster::start_with_nodes(1).expect("a cluster with a node starts");
        VeleroSide::start_on(cluster, moto).await
    }

    async fn start_on(cluster: Cluster, moto: Arc<Moto>) -> VeleroSide {
        let client = cluster.client().await.unwrap();
        create_crds(&client, &velero_crds(&cluster.kubeconfig)).await;
        let side = VeleroSide {
            server: None,
            moto,
            client,
            cluster,
            metrics_port: 0,
        };
        side.apply(&[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            restore_helper_deployment(),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "cloud-credentials", "namespace": NS}, "type": "Opaque",
                   "stringData": {"cloud": String::from_utf8_lossy(CREDENTIALS)}}),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "storage-ca-cert", "namespace": NS}, "type": "Opaque",
                   "stringData": {"ca-bundle.crt": String::from_utf8_lossy(&side.moto.pki.ca.cert_pem())}}),
        ])
        .await;
        side
    }

    /// Server-side apply these manifests (as `kubectl apply --server-side`).
    pub async fn apply(&self, docs: &[Value]) {
        apply(&self.client, docs).await;
    }

    /// Start `velero server` with `extra` flags; its controller-runtime metrics are on a free
    /// loopback port (see e2e/velero/cmd/velero), its own metrics on another, its profiler off.
    pub fn start_server(&mut self, extra: &[&str]) {
        let kubeconfig = self.cluster.kubeconfig.clone();
        self.start_server_as(&kubeconfig, extra);
    }

    /// [`VeleroSide::start_server`] authenticating with `kubeconfig` (the benchmark runs Velero
    /// as a ServiceAccount, as in a cluster, to count its own API requests).
    pub fn start_server_as(&mut self, kubeconfig: &Path, extra: &[&str]) {
        self.start_server_with_env(kubeconfig, &[], extra);
    }

    /// [`VeleroSide::start_server_as`] with `env` (`NAME=value`, e.g. `GOMEMLIMIT=460MiB`) in
    /// the server's environment.
    pub fn start_server_with_env(&mut self, kubeconfig: &Path, env: &[&str], extra: &[&str]) {
        let dir = self.cluster.dir().to_path_buf();
        let tmp = dir.join("velero-tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        self.metrics_port = e2e::peers::free_port();
        let mut args: Vec<String> = vec![
            format!("TMPDIR={}", tmp.display()),
            "VELERO_CONTROLLER_RUNTIME_METRICS_ADDRESS=127.0.0.1:0".into(),
        ];
        args.extend(env.iter().map(|e| (*e).to_owned()));
        args.extend([
            velero_bin().display().to_string(),
            "server".into(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
            "--namespace".into(),
            NS.into(),
            "--plugin-dir".into(),
            plugin_dir().display().to_string(),
            "--uploader-type=kopia".into(),
            format!("--metrics-address=127.0.0.1:{}", self.metrics_port),
            "--profiler-address=".into(),
        ]);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        // `env` execs velero with argv[0] = its absolute path.
        let mut server = VeleroServer::start(&args, dir.join("velero-server.log"));
        let port = self.metrics_port;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !e2e::peers::process::port_open(port) {
            server.assert_running();
            assert!(
                Instant::now() < deadline,
                "velero server did not listen on 127.0.0.1:{port} within 60 s:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.server = Some(server);
    }

    /// The process that runs `velero server` (its plugins are its children), once started.
    pub fn server_pid(&self) -> Option<u32> {
        let sh = self.server.as_ref()?.child.id();
        children(sh).into_iter().find(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == b"server"))
        })
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        self.server
            .as_ref()
            .map(VeleroServer::log_text)
            .unwrap_or_default()
    }

    /// Panic with the server's log if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(s) = self.server.as_mut() {
            s.assert_running();
        }
    }

    /// Run the `velero` CLI as a user would (`--kubeconfig`, `--namespace velero`), off the
    /// runtime; HOME is the cluster's directory so no client config of the machine is read.
    /// Bounded: `--wait` has no timeout of its own, so coreutils' `timeout` ends it after
    /// [`CLI_TIMEOUT`] (exit status 124).
    pub async fn velero(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("timeout");
        cmd.arg(CLI_TIMEOUT.as_secs().to_string())
            .arg(velero_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.cluster.kubeconfig)
            .args(["--namespace", NS])
            .env("HOME", self.cluster.dir())
            .env_remove("VELERO_NAMESPACE");
        tokio::task::spawn_blocking(move || cmd.output().expect("velero runs"))
            .await
            .unwrap()
    }

    /// `velero ARGS`, failing the test (with the server's log) unless it succeeds; its stdout.
    pub async fn velero_ok(&self, args: &[&str]) -> String {
        let out = self.velero(args).await;
        assert!(
            out.status.success(),
            "velero {}: {}\n{}\n--- velero server log (tail) ---\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.server_log(), 80)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until Velero's location `name` reports `status.phase: Available`.
    pub async fn wait_location_available(&self, name: &str, timeout: Duration) {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            NS,
            &resource("velero.io/v1", "backupstoragelocations"),
        );
        let deadline = Instant::now() + timeout;
        loop {
            let bsl = api.get(name).await.unwrap();
            let phase = bsl.data["status"]["phase"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if phase == "Available" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Velero's location {name}: phase {phase:?} after {timeout:?}; status {}\n--- velero server log (tail) ---\n{}",
                bsl.data["status"],
                tail(&self.server_log(), 80)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A Velero object (`velero.io/v1` `plural`) in the `velero` namespace.
    pub async fn get(&self, plural: &str, name: &str) -> Option<Value> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), NS, &resource("velero.io/v1", plural));
        api.get_opt(name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }
}

impl Drop for VeleroSide {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(s) = &self.server {
                eprintln!(
                    "--- velero server log ({}), last 200 lines ---\n{}",
                    s.log.display(),
                    tail(&s.log_text(), 200)
                );
            }
        }
    }
}

/// What `velero install` creates and Velero's restores read: every restore instantiates the
/// pod-volume restore action, which reads the Deployment `velero` for its restore-helper image
/// and fails the restore without it. Out of cluster it runs nothing (0 replicas).
pub fn restore_helper_deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "velero", "namespace": NS},
           "spec": {"replicas": 0, "selector": {"matchLabels": {"deploy": "velero"}},
                    "template": {"metadata": {"labels": {"deploy": "velero"}},
                                 "spec": {"containers": [{"name": "velero",
                                     "image": "velero/velero:v1.18.3"}]}}}})
}

/// `velero server`, under `sh`, in a session of its own (`setsid`): the server and the plugin
/// processes it starts are one process group, which gets SIGTERM when the `sh`'s stdin (a pipe this process holds)
/// closes, on drop or when the test process dies, and SIGKILL 5 s later (Velero does not always
/// exit on SIGTERM once its API server is gone).
pub struct VeleroServer {
    child: Child,
    pub log: PathBuf,
}

impl VeleroServer {
    pub fn start(args: &[String], log: PathBuf) -> VeleroServer {
        let out = std::fs::File::create(&log).expect("create the server's log");
        let err = out.try_clone().unwrap();
        let child = Command::new("sh")
            .arg("-c")
            .arg(concat!(
                r#"setsid "$@" <&- & c=$!; cat >/dev/null; kill -TERM -$c 2>/dev/null; i=0; "#,
                r#"while kill -0 $c 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "#,
                r#"kill -KILL -$c 2>/dev/null; wait $c"#
            ))
            .arg("sh")
            .arg("/usr/bin/env")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("sh runs");
        VeleroServer { child, log }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Panic with the log if the server has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "velero server exited ({status}):\n{}",
                tail(&self.log_text(), 200)
            );
        }
    }
}

impl Drop for VeleroServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            // Field 4 of /proc/PID/stat, after the parenthesised command name.
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// An ApiResource for `apiVersion` and `plural` (kind unused by the calls here).
pub fn resource(api_version: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: String::new(),
        plural: plural.into(),
    }
}

/// Server-side apply JSON manifests, in order.
pub async fn apply(client: &Client, docs: &[Value]) {
    let yaml: Vec<String> = docs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    e2e::manifests::apply(client, &yaml.join("\n---\n"))
        .await
        .unwrap_or_else(|e| panic!("apply: {e:#}"));
}
