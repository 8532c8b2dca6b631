//! DownloadRequests for a location without SSE-C get a presigned link to the store valid for
//! ten minutes, which works, and are deleted once expired. The CLI's own HTTPS fetch of that
//! link trusts, in order: `--cacert FILE`, the location's `caCertRef` Secret, its inline
//! `caCert`, the system roots; an unreadable `--cacert` warns and falls back, and
//! `--insecure-skip-tls-verify` works and warns. Each step is shown with the real binary.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::time::Duration;

use backup_support::*;
use base64::Engine as _;
use e2e::peers::Pki;
use kube::api::{Api, Patch, PatchParams, PostParams};
use restore_support::*;
use serde_json::{Value, json};
use server_support::{NS, World};
use veloxide::api::DownloadRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_links_expire_and_the_cli_trusts_in_velero_s_order() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "app", 1).await;
    let server = serve_plain_location(&world, "plain").await;
    backed_up(
        &world,
        "b1",
        json!({"includedNamespaces": ["app"], "storageLocation": "plain"}),
        Duration::from_secs(60),
    )
    .await;

    // A presigned link, valid ten minutes, that an HTTPS client trusting the CA can fetch.
    let requests: Api<DownloadRequest> = Api::namespaced(world.client.clone(), NS);
    let request: DownloadRequest = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "DownloadRequest",
        "metadata": {"name": "b1-results"}, "spec": {"target": {"kind": "BackupResults", "name": "b1"}}
    }))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    let mut processed = None;
    for _ in 0..100 {
        let r = requests.get("b1-results").await.unwrap();
        if r.status
            .as_ref()
            .and_then(|s| s.download_url.as_ref())
            .is_some()
        {
            processed = r.status;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = processed.expect("the request was processed");
    let url = status.download_url.unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/velero-backups/plain/backups/b1/b1-results.gz?",
            world.moto.url()
        )),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=600"), "{url}");
    let left = status
        .expiration
        .unwrap()
        .0
        .duration_since(jiff::Timestamp::now());
    assert!(left.as_secs() > 590 && left.as_secs() <= 600, "{left:?}");
    let trusted = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(&world.moto.pki.ca.cert_pem()).unwrap()])
        .build()
        .unwrap();
    let body = trusted.get(&url).send().await.unwrap();
    assert_eq!(body.status().as_u16(), 200);
    let results: Value = serde_json::from_slice(&gunzip(&body.bytes().await.unwrap())).unwrap();
    assert!(results.get("errors").is_some(), "{results}");
    requests
        .patch_status(
            "b1-results",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"expiration": "2020-01-01T00:00:00Z"}})),
        )
        .await
        .unwrap();
    eventually(
        "the expired request is deleted",
        Duration::from_secs(10),
        || {
            let requests = requests.clone();
            async move { requests.get_opt("b1-results").await.unwrap().is_none() }
        },
    )
    .await;

    let ok =
        |o: &std::process::Output| o.status.success() && stdout(o).contains("backup=velero/b1");
    let other = Pki::new("another CA");
    let dir = tempfile::tempdir().unwrap();
    let wrong_ca = dir.path().join("wrong.pem");
    std::fs::write(&wrong_ca, other.ca.cert_pem()).unwrap();
    let wrong_ca = wrong_ca.display().to_string();
    let wrong_ca = wrong_ca.as_str();
    let right_ca = world.moto.ca_file.display().to_string();
    let right_ca = right_ca.as_str();

    // 2. caCertRef (the location as created): no flag needed.
    let out = logs(&world, &[]).await;
    assert!(ok(&out), "{}", stderr(&out));
    // 1. --cacert wins over caCertRef: a file with the wrong CA fails, with Velero's hint.
    let out = logs(&world, &["--cacert", wrong_ca]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--insecure-skip-tls-verify flag can also be used"),
        "{}",
        stderr(&out)
    );
    let out = logs(&world, &["--cacert", right_ca]).await;
    assert!(ok(&out), "{}", stderr(&out));
    // An unreadable --cacert warns (Velero's wording) and falls back to the location's bundle.
    let out = logs(&world, &["--cacert", "/nonexistent/ca.pem"]).await;
    assert!(ok(&out), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: Failed to open CA certificate file /nonexistent/ca.pem"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("Using CA certificate from backup storage location instead."));

    // caCertRef over caCert: the Secret names the wrong CA, the inline bundle the right one.
    world
        .put_secret("wrong-ca", &[("ca-bundle.crt", &other.ca.cert_pem())], None)
        .await;
    let inline = base64::engine::general_purpose::STANDARD.encode(world.moto.pki.ca.cert_pem());
    patch_storage(
        &world,
        json!({"caCertRef": {"name": "wrong-ca", "key": "ca-bundle.crt"}, "caCert": inline}),
    )
    .await;
    let out = logs(&world, &[]).await;
    assert!(!out.status.success(), "caCertRef must win over caCert");
    // 3. caCert alone.
    patch_storage(&world, json!({"caCertRef": null})).await;
    let out = logs(&world, &[]).await;
    assert!(ok(&out), "{}", stderr(&out));
    // 4. Neither: the system roots, which do not know the test CA.
    patch_storage(&world, json!({"caCert": null})).await;
    let out = logs(&world, &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--insecure-skip-tls-verify"),
        "{}",
        stderr(&out)
    );
    // --insecure-skip-tls-verify works, and says what it costs.
    let out = logs(&world, &["--insecure-skip-tls-verify"]).await;
    assert!(ok(&out), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("man-in-the-middle"),
        "{}",
        stderr(&out)
    );
    // An unreadable --cacert with nothing to fall back to is an error, as in Velero.
    let out = logs(&world, &["--cacert", "/nonexistent/ca.pem"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("couldn't open cacert"),
        "{}",
        stderr(&out)
    );
    // A caCertRef naming a missing Secret is only a warning for the CLI (Velero's); the
    // server cannot use the location either, and the request says why.
    patch_storage(
        &world,
        json!({"caCertRef": {"name": "gone", "key": "ca.crt"}}),
    )
    .await;
    let out = logs(&world, &["--insecure-skip-tls-verify", "--timeout", "3s"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "WARNING: Error getting cacert from BSL: certificate secret gone not found in namespace velero"
        ),
        "{err}"
    );
    assert!(
        err.contains("timed out waiting for download URL: Secret \"gone\""),
        "{err}"
    );
    drop(server);
}

async fn patch_storage(world: &World, object_storage: Value) {
    world
        .locations()
        .patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"objectStorage": object_storage}})),
        )
        .await
        .unwrap();
}

/// `veloxide backup logs b1 EXTRA...`
async fn logs(world: &World, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["backup", "logs", "b1"];
    args.extend_from_slice(extra);
    cli(world, &args).await
}
