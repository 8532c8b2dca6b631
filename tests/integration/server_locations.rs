//! `veloxide server` against a real control plane and moto over HTTPS (and HAProxy for
//! client certificates and bad server certificates): locations become Available, failures
//! show their reason in status, events and metrics, a CA Secret rotation re-checks within
//! seconds, deletion drops metrics, and a restart keeps every metric meaningful.

use crate::server_support;

use std::time::{Duration, Instant};

use e2e::peers::certs::Usage;
use e2e::peers::{Haproxy, Pki};
use serde_json::json;
use server_support::{Server, World, sample};

const WAIT: Duration = Duration::from_secs(20);

fn condition<'a>(
    location: &'a veloxide::api::BackupStorageLocation,
    kind: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    location
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap_or_else(|| panic!("no {kind} condition"))
}

/// Steps on one world (each later step relies on the locations the earlier ones made), each a
/// function named for what it checks, so a failure's line says which step broke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_are_checked_and_report_what_is_wrong() {
    let world = World::start().await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;

    available_with_the_reference_setup(&world).await;
    kms_keys_found_and_missing(&world).await;
    let other = a_foreign_ca_is_named_with_its_remedy(&world).await;
    let _expired_proxy = an_expired_store_certificate(&world).await;
    let _mtls_proxy = client_certificates(&world).await;
    insecure_skip_tls_verify(&world).await;
    an_invalid_spec_is_reported(&world).await;
    events_name_the_reason(&world).await;
    let metrics = metrics_show_each_location(&world, &server).await;
    a_ca_secret_rotation_rechecks_who_names_it(&world, &server, &other, &metrics).await;
    deletion_drops_the_series(&world, &server).await;
    a_restart_rebuilds_every_gauge(&world, server).await;
}

/// The reference document's setup (the store's CA in a Secret named by caCertRef): Available,
/// every aspect's condition True, and `kubectl wait --for=condition=Ready` returns.
async fn available_with_the_reference_setup(world: &World) {
    world.create_location("default", json!({}), json!({})).await;
    let location = world.wait_ready_reason("default", "Available", WAIT).await;
    let status = location.status.as_ref().unwrap();
    assert_eq!(status.phase, Some(veloxide::api::LocationPhase::Available));
    assert!(status.last_validation_time.is_some());
    for aspect in [
        "TLSVerified",
        "Authenticated",
        "BucketAccessible",
        "EncryptionVerified",
    ] {
        assert_eq!(condition(&location, aspect).status, "True", "{aspect}");
        assert_eq!(
            condition(&location, aspect).observed_generation,
            location.metadata.generation
        );
    }

    // What a user types to wait for it.
    let wait = std::process::Command::new(world.cluster.kubectl_program())
        .args([
            "wait",
            "--for=condition=Ready",
            "bsl/default",
            "-n",
            "velero",
            "--timeout=20s",
        ])
        .env("KUBECONFIG", &world.cluster.kubeconfig)
        .output()
        .unwrap();
    assert!(
        wait.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&wait.stderr)
    );
    assert!(String::from_utf8_lossy(&wait.stdout).contains("condition met"));
}

/// SSE-KMS with a key that exists is verified; one whose alias does not is KmsKeyNotFound.
async fn kms_keys_found_and_missing(world: &World) {
    world.moto.create_kms_key("alias/velero-backups").await;
    world
        .create_location(
            "kms",
            json!({"kmsKeyId": "alias/velero-backups", "bucketKeyEnabled": "true"}),
            json!({}),
        )
        .await;
    let kms = world.wait_ready_reason("kms", "Available", WAIT).await;
    assert!(
        condition(&kms, "EncryptionVerified")
            .message
            .contains("aws:kms"),
        "{:?}",
        condition(&kms, "EncryptionVerified")
    );
    world
        .create_location(
            "no-kms-key",
            json!({"kmsKeyId": "alias/does-not-exist"}),
            json!({}),
        )
        .await;
    let missing = world
        .wait_ready_reason("no-kms-key", "KmsKeyNotFound", WAIT)
        .await;
    assert_eq!(condition(&missing, "EncryptionVerified").status, "False");
}

/// A CA that did not sign the store's certificate: X509UnknownAuthority naming caCertRef.
/// Returns that CA (the rotation step puts it in the CA Secret).
async fn a_foreign_ca_is_named_with_its_remedy(world: &World) -> Pki {
    let other = Pki::new("some other CA");
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
    let wrong = world
        .wait_ready_reason("wrong-ca", "X509UnknownAuthority", WAIT)
        .await;
    let message = wrong.status.as_ref().unwrap().message.clone().unwrap();
    assert!(message.starts_with("X509UnknownAuthority: "), "{message}");
    assert!(
        message.contains("caCertRef"),
        "the remedy is missing: {message}"
    );
    assert_eq!(condition(&wrong, "TLSVerified").status, "False");
    other
}

/// An expired store certificate, served by HAProxy in front of moto: X509Expired. Returns the
/// proxy, which must outlive the test's later checks.
async fn an_expired_store_certificate(world: &World) -> Haproxy {
    let expired = world.moto.pki.leaf(
        Usage::Server,
        &["localhost"],
        &["127.0.0.1"],
        -30 * 86400,
        -86400,
    );
    let expired_proxy = Haproxy::in_front_of(&world.moto, &expired, None);
    world
        .create_location(
            "expired",
            json!({"s3Url": expired_proxy.url("127.0.0.1")}),
            json!({}),
        )
        .await;
    world
        .wait_ready_reason("expired", "X509Expired", WAIT)
        .await;
    expired_proxy
}

/// A store that demands a client certificate: without one the TLS alert 116 is named; with
/// clientCertRef (a kubernetes.io/tls Secret) the location is Available. Returns the proxy (the metrics step reads the location as available).
async fn client_certificates(world: &World) -> Haproxy {
    let clients = Pki::new("client CA");
    let server_cert = world.moto.pki.server(&["localhost"], &["127.0.0.1"]);
    let mtls = Haproxy::in_front_of(&world.moto, &server_cert, Some(&clients.ca));
    world
        .create_location(
            "mtls-missing",
            json!({"s3Url": mtls.url("127.0.0.1")}),
            json!({}),
        )
        .await;
    world
        .wait_ready_reason("mtls-missing", "TLSClientCertificateRequired", WAIT)
        .await;
    let identity = clients.client("veloxide");
    world
        .put_secret(
            "client-tls",
            &[
                ("tls.crt", &identity.cert_pem()),
                ("tls.key", &identity.key_pem()),
            ],
            Some("kubernetes.io/tls"),
        )
        .await;
    world
        .create_location(
            "mtls",
            json!({"s3Url": mtls.url("127.0.0.1")}),
            json!({"clientCertRef": {"name": "client-tls"}}),
        )
        .await;
    world.wait_ready_reason("mtls", "Available", WAIT).await;
    mtls
}

/// insecureSkipTLSVerify: available, and flagged as a condition, an event and a metric.
async fn insecure_skip_tls_verify(world: &World) {
    world
        .create_location(
            "insecure",
            json!({"insecureSkipTLSVerify": "true"}),
            json!({"caCertRef": null}),
        )
        .await;
    let insecure = world.wait_ready_reason("insecure", "Available", WAIT).await;
    assert_eq!(condition(&insecure, "InsecureSkipTLSVerify").status, "True");
}

/// A spec that breaks a rule (no webhook here to refuse it) is reported, not retried.
async fn an_invalid_spec_is_reported(world: &World) {
    world
        .create_location(
            "invalid",
            json!({"serverSideEncryption": "aws:kms"}),
            json!({}),
        )
        .await;
    let invalid = world
        .wait_ready_reason("invalid", "InvalidSpec", WAIT)
        .await;
    assert!(
        invalid
            .status
            .unwrap()
            .message
            .unwrap()
            .contains("spec.config.kmsKeyId")
    );
}

/// Each location's events name its reason.
async fn events_name_the_reason(world: &World) {
    let events = world.events_for("wrong-ca").await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "X509UnknownAuthority" && note.contains("caCertRef")),
        "{events:?}"
    );
    assert!(
        world
            .events_for("default")
            .await
            .iter()
            .any(|(r, _)| r == "Available")
    );
    assert!(
        world
            .events_for("insecure")
            .await
            .iter()
            .any(|(r, _)| r == "InsecureSkipTLSVerify")
    );
}

/// The status gauge, validation counters, the insecure flag and the CA expiry per location.
/// Returns the metrics read (the rotation step counts checks from there).
async fn metrics_show_each_location(world: &World, server: &Server) -> String {
    let metrics = server.metrics().await;
    let gauge = |name: &str| {
        sample(
            &metrics,
            "velero_backup_location_status_gauge",
            &[("backup_location_name", name)],
        )
    };
    assert_eq!(gauge("default"), Some(1.0));
    assert_eq!(gauge("wrong-ca"), Some(0.0));
    assert_eq!(gauge("mtls"), Some(1.0));
    assert!(
        sample(
            &metrics,
            "veloxide_location_validations_total",
            &[
                ("location", "wrong-ca"),
                ("result", "failure"),
                ("reason", "X509UnknownAuthority")
            ]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample(
            &metrics,
            "veloxide_location_validations_total",
            &[
                ("location", "mtls-missing"),
                ("reason", "TLSClientCertificateRequired")
            ]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample(
            &metrics,
            "veloxide_location_validations_total",
            &[("location", "no-kms-key"), ("reason", "KmsKeyNotFound")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        sample(
            &metrics,
            "veloxide_location_insecure",
            &[("location", "insecure")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "veloxide_location_insecure",
            &[("location", "default")]
        ),
        Some(0.0)
    );
    let expiry = sample(
        &metrics,
        "veloxide_location_ca_certificate_expiry_timestamp_seconds",
        &[("location", "default")],
    )
    .unwrap();
    let ca_not_after = openssl::x509::X509::from_pem(&world.moto.pki.ca.cert_pem()).unwrap();
    let epoch = openssl::asn1::Asn1Time::from_unix(0).unwrap();
    let diff = epoch.diff(ca_not_after.not_after()).unwrap();
    assert_eq!(expiry as i64, diff.days as i64 * 86400 + diff.secs as i64);
    metrics
}

/// A CA Secret rotation re-checks, within seconds, the locations that name the Secret and
/// no other.
async fn a_ca_secret_rotation_rechecks_who_names_it(
    world: &World,
    server: &Server,
    other: &Pki,
    metrics: &str,
) {
    let kms_checks_before = sample(
        metrics,
        "veloxide_location_validations_total",
        &[("location", "kms"), ("result", "success")],
    )
    .unwrap();
    // "insecure" names no CA Secret and passed its last check: it must not be re-checked.
    let insecure_checks = |metrics: &str| {
        sample(
            metrics,
            "veloxide_location_validations_total",
            &[("location", "insecure")],
        )
    };
    let insecure_before = insecure_checks(metrics);
    let started = Instant::now();
    world
        .put_secret(
            "storage-ca-cert",
            &[("ca-bundle.crt", &other.ca.cert_pem())],
            None,
        )
        .await;
    world
        .wait_ready_reason("default", "X509UnknownAuthority", Duration::from_secs(10))
        .await;
    let unavailable_after = started.elapsed();
    // A bundle with the old and the new CA, as during a planned rotation: available again.
    let mut bundle = other.ca.cert_pem();
    bundle.extend_from_slice(&world.moto.pki.ca.cert_pem());
    world
        .put_secret("storage-ca-cert", &[("ca-bundle.crt", &bundle)], None)
        .await;
    world
        .wait_ready_reason("default", "Available", Duration::from_secs(10))
        .await;
    eprintln!("rotation: Unavailable {unavailable_after:?} after the Secret changed");
    // "kms" names the same Secret too; "wrong-ca" does not and was left alone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = server.metrics().await;
        let kms_checks = sample(
            &metrics,
            "veloxide_location_validations_total",
            &[("location", "kms"), ("result", "success")],
        )
        .unwrap();
        if kms_checks > kms_checks_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kms names the rotated Secret but was not re-checked"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        insecure_checks(&server.metrics().await),
        insecure_before,
        "a location that does not name the rotated Secret was re-checked"
    );
}

/// Deleting a location drops its metric series.
async fn deletion_drops_the_series(world: &World, server: &Server) {
    world.delete_location("wrong-ca").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.metrics().await.contains("\"wrong-ca\"") {
        assert!(Instant::now() < deadline, "wrong-ca's series outlived it");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// After a restart every gauge is rebuilt from the live objects.
async fn a_restart_rebuilds_every_gauge(world: &World, server: Server) {
    assert!(
        server.terminate().success(),
        "a SIGTERM'd server exits cleanly"
    );
    let server = Server::start(&world.server_kubeconfig, "server-b");
    server.wait_ready().await;
    let metrics = server.metrics().await;
    let gauge = |name: &str| {
        sample(
            &metrics,
            "velero_backup_location_status_gauge",
            &[("backup_location_name", name)],
        )
    };
    assert_eq!(gauge("default"), Some(1.0), "{metrics}");
    assert_eq!(gauge("no-kms-key"), Some(0.0));
    assert_eq!(
        sample(
            &metrics,
            "veloxide_location_insecure",
            &[("location", "insecure")]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &metrics,
            "veloxide_location_last_validation_timestamp_seconds",
            &[("location", "default")]
        )
        .is_some()
    );
    assert!(!metrics.contains("\"wrong-ca\""));
}
