//! A real Kubernetes control plane for tests: [`Cluster::start`] runs
//! `e2e/tools/control-plane.sh up DIR` (etcd, kube-apiserver with RBAC enforced, and
//! kube-controller-manager, built from Go modules) and stops it on drop. When
//! `VELOXIDE_E2E_KUBECONFIG` names a kubeconfig, the handle points at that cluster and starts nothing.
//!
//! [`Cluster::start_with_nodes`] adds kube-scheduler and N nodes (containerd + kubelet each, the
//! local images of `e2e/images/` imported, pods on a bridge of the cluster's own):
//! `control-plane.sh up DIR --nodes N`.
//!
//! Identities: [`Cluster::kubeconfig`] is an admin (`system:masters`); [`Cluster::kubeconfig_as`]
//! mints a client certificate for any user and groups, so a process runs with exactly the
//! permissions RBAC grants that user (a ServiceAccount is `system:serviceaccount:NS:NAME`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, bail};

/// The environment variable that sends the e2e scenarios to a real cluster.
pub const CLUSTER_ENV: &str = "VELOXIDE_E2E_KUBECONFIG";

/// The control-plane script, `e2e/tools/control-plane.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/control-plane.sh")
}

/// A running control plane (or an external cluster). Dropping it stops what it started.
pub struct Cluster {
    dir: PathBuf,
    owned: bool,
    /// The admin kubeconfig, for kubectl, Helm and kube-rs.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT` (with nodes `https://<the cluster's gateway>:443`), or the
    /// external cluster's server.
    pub url: String,
    /// How many nodes `up` started (0 for an external cluster: its nodes are its own).
    nodes: usize,
}

impl Cluster {
    /// A fresh control plane, or the cluster named by `VELOXIDE_E2E_KUBECONFIG`.
    pub fn start() -> anyhow::Result<Cluster> {
        let dir = scratch_dir()?;
        if let Some(kc) = std::env::var_os(CLUSTER_ENV).filter(|v| !v.is_empty()) {
            let kubeconfig = PathBuf::from(kc);
            let url = server_of(&kubeconfig)?;
            return Ok(Cluster {
                dir,
                owned: false,
                kubeconfig,
                url,
                nodes: 0,
            });
        }
        let cluster = Self::up(dir, false, 0)?;
        Ok(cluster)
    }

    /// A fresh control plane with kube-scheduler and `nodes` nodes (`node-1`, ...), each Ready;
    /// or the cluster named by `VELOXIDE_E2E_KUBECONFIG`, whose nodes are its own.
    pub fn start_with_nodes(nodes: usize) -> anyhow::Result<Cluster> {
        if std::env::var_os(CLUSTER_ENV).is_some_and(|v| !v.is_empty()) {
            return Self::start();
        }
        Self::up(scratch_dir()?, false, nodes)
    }

    /// One control plane with one node, shared by every test of this test binary that needs
    /// pods to run (each test works in its own namespace); stopped by the script's watchdog
    /// when the test binary exits.
    pub fn shared_with_node() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            if std::env::var_os(CLUSTER_ENV).is_some_and(|v| !v.is_empty()) {
                return Self::start().expect("the external cluster is reachable");
            }
            let dir = scratch_dir().expect("scratch dir");
            Self::up(dir, true, 1).expect("the control plane with a node starts")
        })
    }

    /// One control plane shared by every test of this test binary (each test works in its own
    /// namespace). It is stopped by the script's watchdog when the test binary exits.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            if let Some(kc) = std::env::var_os(CLUSTER_ENV).filter(|v| !v.is_empty()) {
                let kubeconfig = PathBuf::from(kc);
                return Cluster {
                    dir: scratch_dir().expect("scratch dir"),
                    owned: false,
                    url: server_of(&kubeconfig).expect("kubeconfig names a server"),
                    kubeconfig,
                    nodes: 0,
                };
            }
            let dir = scratch_dir().expect("scratch dir");
            Self::up(dir, true, 0).expect("the control plane starts")
        })
    }

    fn up(dir: PathBuf, remove_dir_on_exit: bool, nodes: usize) -> anyhow::Result<Cluster> {
        let out = Command::new("bash")
            .arg(script())
            .arg("up")
            .arg(&dir)
            .args(["--nodes", &nodes.to_string()])
            .env("CONTROL_PLANE_OWNER_PID", std::process::id().to_string())
            .env(
                "CONTROL_PLANE_REMOVE_DIR",
                if remove_dir_on_exit && keep_dir().is_none() {
                    "1"
                } else {
                    "0"
                },
            )
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .output()
            .context("running control-plane.sh up")?;
        if !out.status.success() {
            let _ = Command::new("bash")
                .arg(script())
                .arg("down")
                .arg(&dir)
                .status();
            bail!(
                "control-plane.sh up {} failed ({}):\n{}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let url = std::fs::read_to_string(dir.join("url"))?.trim().to_owned();
        Ok(Cluster {
            kubeconfig: dir.join("kubeconfig"),
            dir,
            owned: true,
            url,
            nodes,
        })
    }

    /// The names of the nodes `up` started (`node-1`, ...); empty without nodes or for an
    /// external cluster.
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("node-{i}")).collect()
    }

    /// A node's directory (`DIR/nodes/<node>`: kubelet's root dir is its `kubelet/`, the CRI
    /// socket its `containerd.sock`, logs `kubelet.log` and `containerd.log`).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.dir.join("nodes").join(node)
    }

    /// Imports an image tarball (`e2e::images`) into every node's containerd.
    pub fn load_image(&self, tarball: &Path) -> anyhow::Result<()> {
        if !self.owned {
            bail!("load_image needs local nodes (an external cluster pulls its own images)");
        }
        let out = Command::new("bash")
            .arg(script())
            .arg("load")
            .arg(&self.dir)
            .arg(tarball)
            .stdin(Stdio::null())
            .output()
            .context("running control-plane.sh load")?;
        if !out.status.success() {
            bail!(
                "control-plane.sh load failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Runs `control-plane.sh down` now (dropping the handle does it too, then removes DIR): for
    /// tests of what `down` leaves behind. Only for a local control plane.
    pub fn down(&self) -> anyhow::Result<()> {
        if !self.owned {
            bail!("down needs a local control plane");
        }
        let out = Command::new("bash")
            .arg(script())
            .arg("down")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .context("running control-plane.sh down")?;
        if !out.status.success() {
            bail!(
                "control-plane.sh down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The kubectl to run against this cluster: for a local control plane the one of its own
    /// Kubernetes release (`DIR/bin/kubectl`, from `control-plane.sh up`), so no client/server
    /// skew; for an external cluster the one on PATH.
    pub fn kubectl_program(&self) -> PathBuf {
        let own = self.dir.join("bin/kubectl");
        if self.owned && own.exists() {
            own
        } else {
            PathBuf::from("kubectl")
        }
    }

    /// Runs the real `kubectl` ([`Cluster::kubectl_program`]) as the admin, `stdin` fed to it;
    /// returns what it printed.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
        use std::io::Write;
        let mut child = Command::new(self.kubectl_program())
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running kubectl")?;
        let mut input = child.stdin.take().expect("piped");
        input.write_all(stdin.unwrap_or_default().as_bytes())?;
        drop(input);
        Ok(child.wait_with_output()?)
    }

    /// True when this handle started the control plane (false for `VELOXIDE_E2E_KUBECONFIG`).
    pub fn is_local(&self) -> bool {
        self.owned
    }

    /// A scratch directory that lives as long as the handle (tool homes, files); for a local
    /// control plane also its certificates, data and logs (`kube-apiserver.log`, ...).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last `lines` lines of a component's log (`kube-apiserver`, `etcd`, ...), for failures.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{component}.log"))).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Every request the API server has answered so far, from its audit log (one JSON object
    /// per request: `verb`, `requestURI`, `user.username`, `responseStatus.code`, ...).
    pub fn requests(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let text = std::fs::read_to_string(self.dir.join("audit.log"))
            .context("reading the API server's audit log")?;
        text.lines()
            .map(|l| serde_json::from_str(l).context("an audit log line"))
            .collect()
    }

    /// An admin client.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        client_from(&self.kubeconfig).await
    }

    /// A kubeconfig authenticating as `user` in `groups` (a client certificate signed by the
    /// control plane's CA). Only for a local control plane.
    pub fn kubeconfig_as(&self, user: &str, groups: &[&str]) -> anyhow::Result<PathBuf> {
        if !self.owned {
            bail!("kubeconfig_as needs a local control plane (it signs with the cluster's CA)");
        }
        let out = Command::new("bash")
            .arg(script())
            .arg("user")
            .arg(&self.dir)
            .arg(user)
            .args(groups)
            .stdin(Stdio::null())
            .output()
            .context("running control-plane.sh user")?;
        if !out.status.success() {
            bail!(
                "control-plane.sh user failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
    }

    /// The kubeconfig of a ServiceAccount's identity (`system:serviceaccount:NS:NAME` in the
    /// `system:serviceaccounts` groups), as a pod running under it would authenticate.
    pub fn kubeconfig_for_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<PathBuf> {
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let group = format!("system:serviceaccounts:{namespace}");
        self.kubeconfig_as(
            &user,
            &["system:serviceaccounts", &group, "system:authenticated"],
        )
    }

    /// Stops kube-apiserver, keeps it down for `down_for`, and starts it again with the same
    /// flags and port (etcd and kube-controller-manager keep running); returns once it is
    /// ready. Only for a local control plane.
    pub fn restart_api_server(&self, down_for: std::time::Duration) -> anyhow::Result<()> {
        if !self.owned {
            bail!("restart_api_server needs a local control plane");
        }
        let out = Command::new("bash")
            .arg(script())
            .arg("restart-apiserver")
            .arg(&self.dir)
            .arg(format!("{:.1}", down_for.as_secs_f64()))
            .stdin(Stdio::null())
            .output()
            .context("running control-plane.sh restart-apiserver")?;
        if !out.status.success() {
            bail!(
                "control-plane.sh restart-apiserver failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// A client authenticating as `user` in `groups`.
    pub async fn client_as(&self, user: &str, groups: &[&str]) -> anyhow::Result<kube::Client> {
        client_from(&self.kubeconfig_as(user, groups)?).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new("bash")
                .arg(script())
                .arg("down")
                .arg(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status();
        }
        if keep_dir().is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `KEEP_CLUSTER_DIR=1` keeps each control plane's directory (logs, kubeconfig) after the test.
fn keep_dir() -> Option<std::ffi::OsString> {
    std::env::var_os("KEEP_CLUSTER_DIR")
}

fn scratch_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("vx-cluster-{}", crate::random_hex(6)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn client_from(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    Ok(kube::Client::try_from(cfg)?)
}

fn server_of(kubeconfig: &Path) -> anyhow::Result<String> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cluster = kc
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone());
    cluster.context("the kubeconfig names no server")
}
