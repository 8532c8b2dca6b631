//! Helpers shared by the e2e scenarios: one real control plane per test binary
//! ([`cluster`], `e2e::cluster::Cluster::shared`, or the cluster named by
//! `VELOXIDE_E2E_KUBECONFIG`) with a namespace per test, and kubectl/Helm runners.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use e2e::cluster::Cluster;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde::Deserialize;
use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e sits in the repo")
        .to_path_buf()
}

/// The control plane every test of this binary shares (each test works in its own namespace).
pub fn cluster() -> &'static Cluster {
    Cluster::shared()
}

/// What the tool runners need of a cluster: its admin kubeconfig and a scratch directory.
pub trait Kube {
    fn kubeconfig(&self) -> &Path;
    fn dir(&self) -> &Path;
    /// The kubectl to run ([`Cluster::kubectl_program`]).
    fn kubectl_program(&self) -> PathBuf {
        PathBuf::from("kubectl")
    }
}

impl Kube for Cluster {
    fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
    fn dir(&self) -> &Path {
        Cluster::dir(self)
    }
    fn kubectl_program(&self) -> PathBuf {
        Cluster::kubectl_program(self)
    }
}

/// A fresh namespace named `PREFIX-RANDOM`, so runs against a shared cluster do not collide.
pub async fn namespace(client: &kube::Client, prefix: &str) -> String {
    let name = format!("{prefix}-{}", e2e::random_hex(3));
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
    name
}

/// Every document of a multi-document YAML file.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Held while a test of this binary creates the project's CRDs in the shared control plane, so
/// two tests never race one `kubectl apply` against another's create (AlreadyExists).
pub static CRDS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Creates (or keeps) the project's CRDs from crds/ and waits until they are served.
pub async fn install_crds(client: &kube::Client) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for entry in std::fs::read_dir(repo().join("crds")).expect("crds/ exists") {
        for doc in yaml_docs(&entry.unwrap().path()) {
            let crd: CustomResourceDefinition = serde_json::from_value(doc).unwrap();
            match api.create(&PostParams::default(), &crd).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => panic!("creating CRD: {e}"),
            }
            let name = crd.metadata.name.clone().unwrap();
            let established = kube::runtime::conditions::is_crd_established();
            let wait = kube::runtime::wait::await_condition(api.clone(), &name, established);
            tokio::time::timeout(Duration::from_secs(30), wait)
                .await
                .expect("CRD established")
                .unwrap();
        }
    }
}

/// Runs a client tool with the cluster's admin kubeconfig and a private HOME and cache.
pub fn tool(s: &impl Kube, program: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let home = s.dir().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("KUBECONFIG", s.kubeconfig())
        .env("HOME", &home)
        .env("KUBECACHEDIR", home.join("kube-cache"))
        .env("HELM_CACHE_HOME", home.join("helm-cache"))
        .env("HELM_CONFIG_HOME", home.join("helm-config"))
        .env("HELM_DATA_HOME", home.join("helm-data"));
    output(&mut cmd, stdin)
}

/// Runs `cmd` to its end with `stdin` (or none) as its input; its stdout and stderr.
pub fn output(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {:?}: {e}", cmd.get_program()));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// The `veloxide` binary, built on demand (the e2e crate cannot depend on the root crate's bin).
pub fn veloxide_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("VELOXIDE_BIN") {
        return p.into();
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "--bin", "veloxide"])
        .current_dir(repo())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --bin veloxide failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    target.join("debug/veloxide")
}

pub fn kubectl(s: &impl Kube, args: &[&str]) -> Output {
    tool(s, &s.kubectl_program(), args, None)
}

pub fn kubectl_stdin(s: &impl Kube, args: &[&str], input: &str) -> Output {
    tool(s, &s.kubectl_program(), args, Some(input))
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts success and returns stdout + stderr.
#[track_caller]
pub fn ok(o: Output) -> String {
    let t = text(&o);
    assert!(o.status.success(), "command failed ({}):\n{t}", o.status);
    t
}

/// Asserts failure and returns stdout + stderr.
#[track_caller]
pub fn fails(o: Output) -> String {
    let t = text(&o);
    assert!(!o.status.success(), "command unexpectedly succeeded:\n{t}");
    t
}

/// Polls `f` until it returns Some, for up to 20 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}
