//! `veloxide backup-location verify NAME -n NAMESPACE`: the location and the Secrets it names are
//! read from the cluster (here a real control plane), and the check runs against the store (moto
//! over HTTPS behind a private CA).

use crate::server_support;

use std::process::Command;

use e2e::peers::Pki;
use serde_json::json;
use server_support::World;

fn verify(world: &World, name: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["backup-location", "verify", name, "-n", "velero"])
        .env("KUBECONFIG", &world.cluster.kubeconfig)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_the_location_and_its_secrets_from_the_cluster() {
    let world = World::start().await;
    world.moto.create_kms_key("alias/velero-backups").await;
    world
        .create_location(
            "kms",
            json!({"kmsKeyId": "alias/velero-backups"}),
            json!({}),
        )
        .await;
    let (ok, text) = verify(&world, "kms");
    assert!(ok, "{text}");
    assert!(text.contains("encryption-round-trip"), "{text}");
    assert!(text.contains("aws:kms"), "{text}");
    // The credential Secret's secret key never appears.
    assert!(!text.contains("not-a-real-secret-0123"), "{text}");

    let other = Pki::new("another CA");
    world
        .put_secret("other-ca", &[("ca.crt", &other.ca.cert_pem())], None)
        .await;
    world
        .create_location(
            "wrong-ca",
            json!({}),
            json!({"caCertRef": {"name": "other-ca", "key": "ca.crt"}}),
        )
        .await;
    let (ok, text) = verify(&world, "wrong-ca");
    assert!(
        !ok,
        "a location whose CA did not sign the store's certificate passed: {text}"
    );
    assert!(text.contains("X509UnknownAuthority"), "{text}");
    assert!(text.contains("caCertRef"), "the remedy is missing: {text}");

    let (ok, text) = verify(&world, "does-not-exist");
    assert!(!ok);
    assert!(text.contains("does-not-exist"), "{text}");
}
