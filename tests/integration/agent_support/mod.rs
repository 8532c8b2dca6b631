//! Shared by the node agent's groups: `veloxide node-agent` as a process, and pods bound to
//! its node name whose volume directories are laid out as the kubelet lays them out, under a
//! directory the agent is given as `--kubelet-pods-dir` (no kubelet runs them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::peers::process::spawn_listening;
use crate::server_support::{NS, World};

pub const PASSWORD: &str = "agent-repo-password-SENTINEL-41c9";
pub const NODE: &str = "node-a";

/// A `veloxide node-agent` process; dropping it kills it.
pub struct AgentProc(Child);

impl AgentProc {
    pub fn start(world: &World, pods_dir: &Path) -> AgentProc {
        AgentProc::start_on(world, pods_dir, NODE)
    }

    /// The agent of node `node`, reading `pods_dir`.
    pub fn start_on(world: &World, pods_dir: &Path, node: &str) -> AgentProc {
        let mut command = Command::new(env!("CARGO_BIN_EXE_veloxide"));
        command
            .args(["node-agent", "-n", NS, "--node-name", node])
            .arg("--kubelet-pods-dir")
            .arg(pods_dir)
            .env("KUBECONFIG", world.kubeconfig())
            .env("RUST_LOG", "info,veloxide=debug")
            .stderr(Stdio::inherit());
        let (child, _) = spawn_listening(&mut command, &["veloxide node-agent watching node "]);
        AgentProc(child)
    }

    pub fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pod in `ns` bound to `node` (no kubelet runs it: the agent reads only its object and the
/// directory below), with one emptyDir volume `data`; its volume directory under `pods_dir`.
pub async fn pod_with_volume(
    world: &World,
    ns: &str,
    name: &str,
    node: &str,
    pods_dir: &Path,
) -> (Pod, PathBuf) {
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "app"}},
            ],
        }
    }))
    .unwrap();
    let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
    let dir = pods_dir
        .join(pod.uid().unwrap())
        .join("volumes/kubernetes.io~empty-dir/data");
    std::fs::create_dir_all(&dir).unwrap();
    (pod, dir)
}

pub async fn create_namespace(world: &World, name: &str) {
    let namespaces: Api<Namespace> = Api::all(world.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Mark `pod` Running, as its kubelet would (file-system backup takes only running pods).
pub async fn set_running(world: &World, pod: &Pod) {
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), &pod.namespace().unwrap());
    let status = json!({"status": {"phase": "Running"}});
    pods.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();
}

/// The repository password Secret, as a user creates it for Velero.
pub async fn put_repository_password(world: &World) {
    world
        .put_secret(
            veloxide::repository::SECRET_NAME,
            &[(veloxide::repository::SECRET_KEY, PASSWORD.as_bytes())],
            None,
        )
        .await;
}
