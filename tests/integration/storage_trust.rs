//! Trust and client certificates against real TLS servers: moto over HTTPS, and HAProxy in
//! front of it presenting the certificate each case needs (or demanding a client
//! certificate with `verify required`, which sends the real TLS alert 116). Verification
//! stays on everywhere except in the insecureSkipTLSVerify case.

use crate::peers;
use crate::storage_support;

use peers::certs::{DAY, Usage};
use peers::{Haproxy, Pki};
use storage_support::*;
use veloxide::storage::{Outcome, Reason, StepName, client_identity};

/// HAProxy in front of the shared moto, showing `cert`.
fn front(cert: &peers::Issued, client_ca: Option<&peers::Issued>) -> Haproxy {
    Haproxy::in_front_of(moto(), cert, client_ca)
}

async fn bucket_for(test: &str) -> String {
    let b = bucket(test);
    moto().create_bucket(&b).await;
    b
}

#[tokio::test]
async fn certificate_problems_each_have_their_reason() {
    let bucket = bucket_for("trust").await;
    let ca = Pki::new("store CA");
    let secrets = secrets(&ca.ca.cert_pem());

    // Signed by a CA the location does not trust.
    let stranger = Pki::new("some other CA");
    let proxy = front(&stranger.server(&["localhost"], &["127.0.0.1"]), None);
    let report = check(&spec(&proxy.url("127.0.0.1"), &bucket, "", &[]), &secrets).await;
    assert_reason(&report, Reason::X509UnknownAuthority);
    assert_eq!(report.steps[1].name, StepName::TlsHandshake);
    assert!(
        report.steps[1]
            .message
            .contains("unable to get local issuer certificate"),
        "{}",
        report.steps[1].message
    );

    // Trusted CA, but the certificate names another host.
    let proxy = front(&ca.server(&["other.example"], &[]), None);
    let report = check(&spec(&proxy.url("localhost"), &bucket, "", &[]), &secrets).await;
    assert_reason(&report, Reason::X509HostnameMismatch);

    // An IP-address endpoint whose certificate names only a DNS name.
    let report = check(&spec(&proxy.url("127.0.0.1"), &bucket, "", &[]), &secrets).await;
    assert_reason(&report, Reason::X509HostnameMismatch);

    // Expired.
    let expired = ca.leaf(
        Usage::Server,
        &["localhost"],
        &["127.0.0.1"],
        -30 * DAY,
        -DAY,
    );
    let proxy = front(&expired, None);
    let report = check(&spec(&proxy.url("127.0.0.1"), &bucket, "", &[]), &secrets).await;
    assert_reason(&report, Reason::X509Expired);

    // The same expired store with insecureSkipTLSVerify: passes, and says so.
    let insecure = [("insecureSkipTLSVerify", "true")];
    let report = check(
        &spec(&proxy.url("127.0.0.1"), &bucket, "", &insecure),
        &secrets,
    )
    .await;
    assert_passed(&report);
    assert!(
        report.steps[1].message.contains("WITHOUT checking"),
        "{}",
        report.steps[1].message
    );

    // Nothing listening.
    let closed = format!("https://127.0.0.1:{}", peers::free_port());
    let report = check(&spec(&closed, &bucket, "", &[]), &secrets).await;
    assert_reason(&report, Reason::EndpointUnreachable);
}

#[tokio::test]
async fn ip_and_dns_endpoints_verify_against_their_sans() {
    let moto = moto();
    let bucket = bucket_for("sans").await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    // moto's certificate names 127.0.0.1 (an IP SAN) and localhost.
    assert_passed(&check(&spec(&moto.url(), &bucket, "", &[]), &secrets).await);
    let by_name = format!("https://localhost:{}", moto.port);
    assert_passed(&check(&spec(&by_name, &bucket, "", &[]), &secrets).await);
}

#[tokio::test]
async fn a_bundle_with_old_and_new_ca_trusts_both_during_rotation() {
    let bucket = bucket_for("rotation").await;
    let old = Pki::new("store CA 2025");
    let new = Pki::new("store CA 2026");
    let mut bundle = old.ca.cert_pem();
    bundle.extend_from_slice(&new.ca.cert_pem());
    let secrets = secrets(&bundle);
    for (label, pki) in [("old", &old), ("new", &new)] {
        let proxy = front(&pki.server(&["localhost"], &["127.0.0.1"]), None);
        let report = check(&spec(&proxy.url("127.0.0.1"), &bucket, "", &[]), &secrets).await;
        assert!(
            report.passed(),
            "server cert from the {label} CA:\n{}",
            show(&report)
        );
    }
    // Only the new CA: a store still on the old certificate is refused.
    let proxy = front(&old.server(&["localhost"], &["127.0.0.1"]), None);
    let report = check(
        &spec(&proxy.url("127.0.0.1"), &bucket, "", &[]),
        &storage_support::secrets(&new.ca.cert_pem()),
    )
    .await;
    assert_reason(&report, Reason::X509UnknownAuthority);
}

#[tokio::test]
async fn client_certificates_required_by_haproxy() {
    let bucket = bucket_for("mtls").await;
    let ca = Pki::new("store CA");
    let clients = Pki::new("client CA");
    let proxy = front(
        &ca.server(&["localhost"], &["127.0.0.1"]),
        Some(&clients.ca),
    );
    let url = proxy.url("127.0.0.1");

    // No client certificate: HAProxy sends TLS alert 116.
    let secrets = secrets(&ca.ca.cert_pem());
    let report = check(&spec(&url, &bucket, "", &[]), &secrets).await;
    assert_reason(&report, Reason::TLSClientCertificateRequired);
    assert!(
        report.steps[1].message.contains("certificate required"),
        "{}",
        report.steps[1].message
    );

    // clientCertRef naming a certificate the store trusts.
    let mut with_cert = secrets.clone();
    let client = clients.client("veloxide");
    put(
        &mut with_cert,
        "store-client",
        "tls.crt",
        &client.cert_pem(),
    );
    // A PKCS#1/SEC1 key as many kubernetes.io/tls Secrets hold: converted for native-tls.
    put(
        &mut with_cert,
        "store-client",
        "tls.key",
        &client.key.private_key_to_pem_pkcs8().unwrap(),
    );
    let mut mtls = spec(&url, &bucket, "", &[]);
    mtls.object_storage.client_cert_ref = Some(veloxide::api::LocalObjectReference {
        name: Some("store-client".into()),
    });
    let report = check(&mtls, &with_cert).await;
    assert_passed(&report);
    assert!(report.steps.iter().all(|s| s.outcome != Outcome::Failed));

    // A client certificate from a CA the store does not trust.
    let mut foreign = secrets.clone();
    let other = Pki::new("unknown client CA").client("veloxide");
    put(&mut foreign, "store-client", "tls.crt", &other.cert_pem());
    put(
        &mut foreign,
        "store-client",
        "tls.key",
        &other.key.private_key_to_pem_pkcs8().unwrap(),
    );
    let report = check(&mtls, &foreign).await;
    assert_reason(&report, Reason::TLSClientCertificateRejected);
}

#[test]
fn client_keys_in_sec1_form_are_accepted_and_mismatched_pairs_refused() {
    let pki = Pki::new("client CA");
    let a = pki.client("a");
    let b = pki.client("b");
    let sec1 = a.key.ec_key().unwrap().private_key_to_pem().unwrap();
    assert!(String::from_utf8_lossy(&sec1).contains("EC PRIVATE KEY"));
    let identity =
        client_identity("store-client", &a.cert_pem(), &sec1).expect("SEC1 key accepted");
    assert!(!format!("{identity:?}").contains("PRIVATE KEY"));
    let err = client_identity("store-client", &a.cert_pem(), &b.key_pem()).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
}
