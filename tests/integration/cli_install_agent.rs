//! `veloxide install --use-node-agent` against a real control plane: the node agent's
//! DaemonSet and identity are applied, and the repository password Secret is made once with a
//! random password and never changed afterwards, neither by a re-run nor when the user made
//! the Secret first (repositories open only with the password they were made with).

use std::process::{Command, Output};

use e2e::cluster::Cluster;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

const NS: &str = "velero";

fn install(kubeconfig: &std::path::Path, dir: &std::path::Path) -> Output {
    let credentials = dir.join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key=not-a-real-key\n",
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["install", "--provider", "aws", "--bucket", "velero-backups"])
        .arg("--secret-file")
        .arg(&credentials)
        .args([
            "--backup-location-config",
            "region=us-east-1,s3Url=https://minio.example:9000,s3ForcePathStyle=true",
            "--use-node-agent",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env_remove("VELERO_NAMESPACE")
        .output()
        .expect("veloxide runs")
}

async fn password(client: &kube::Client) -> Vec<u8> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let s = secrets
        .get(veloxide::repository::SECRET_NAME)
        .await
        .unwrap();
    s.data.unwrap()[veloxide::repository::SECRET_KEY].0.clone()
}

/// A re-run's location goes through the installed webhook, and no server answers it here:
/// the webhook goes first, and the re-run makes it again.
async fn without_webhook(client: &kube::Client) {
    let api: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(client.clone());
    api.delete("veloxide", &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_agent_is_installed_and_an_existing_password_is_never_replaced() {
    let cluster = Cluster::start().expect("the control plane starts");
    let client = cluster.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let out = install(&cluster.kubeconfig, dir.path());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    let made = password(&client).await;
    assert_eq!(made.len(), 32);
    assert!(made.iter().all(u8::is_ascii_alphanumeric));
    assert!(
        !said.contains(std::str::from_utf8(&made).unwrap()),
        "the password is printed: {said}"
    );
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    let agent = ds.get("veloxide-node-agent").await.unwrap();
    let agent = serde_json::to_value(&agent).unwrap();
    assert_eq!(
        agent["spec"]["template"]["spec"]["serviceAccountName"],
        "veloxide-node-agent"
    );

    // A re-run keeps it.
    without_webhook(&client).await;
    let out = install(&cluster.kubeconfig, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(password(&client).await, made);

    // A Secret the user made (Velero's value, to share repositories with a Velero) stays.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    secrets
        .delete(veloxide::repository::SECRET_NAME, &DeleteParams::default())
        .await
        .unwrap();
    let mine: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": veloxide::repository::SECRET_NAME, "namespace": NS},
        "stringData": {veloxide::repository::SECRET_KEY: "static-passw0rd"},
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &mine).await.unwrap();
    without_webhook(&client).await;
    let out = install(&cluster.kubeconfig, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(password(&client).await, b"static-passw0rd");
}
