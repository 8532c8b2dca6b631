//! The real kubectl against a real control plane (one per test binary, `common::cluster`; or
//! VELOXIDE_E2E_KUBECONFIG's cluster): applying the project's CRDs and the reference documents'
//! Secret and BackupStorageLocation, printer columns, server-side validation, deletion, and the
//! admission webhook as a user meets it: registered by a ValidatingWebhookConfiguration and
//! called by kube-apiserver itself, so the denial and the warning kubectl prints are the real
//! server's.

mod common;

use std::process::{Child, Command, Stdio};

use base64::Engine;
use common::{CRDS, cluster, fails, kubectl, kubectl_stdin, ok, repo, veloxide_binary};

fn testdata(name: &str) -> String {
    repo().join("e2e/testdata").join(name).display().to_string()
}

#[test]
fn kubectl_applies_crds_and_locations() {
    let s = cluster();
    let crds = repo().join("crds").display().to_string();
    let guard = CRDS.lock().unwrap_or_else(|e| e.into_inner());
    let out = ok(kubectl(s, &["apply", "-f", &crds]));
    drop(guard);
    // A real API server establishes a CRD asynchronously: wait before using its kind.
    wait_established(s);
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/backupstoragelocations.velero.io"
        ),
        "{out}"
    );
    let out = ok(kubectl(s, &["get", "crd"]));
    assert!(out.contains("backupstoragelocations.velero.io"), "{out}");

    ok(kubectl(
        s,
        &["apply", "-f", &testdata("velero-secrets.yaml")],
    ));
    let out = ok(kubectl(
        s,
        &["apply", "-f", &testdata("bsl-cacertref.yaml")],
    ));
    assert!(
        out.contains("backupstoragelocation.velero.io/default created"),
        "{out}"
    );
    let out = ok(kubectl(
        s,
        &["apply", "-f", &testdata("bsl-cacertref.yaml")],
    ));
    assert!(
        out.contains("backupstoragelocation.velero.io/default unchanged"),
        "{out}"
    );

    let out = ok(kubectl(s, &["get", "bsl", "-n", "velero"]));
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "LAST", "VALIDATED", "AGE", "DEFAULT"],
        "{out}"
    );
    assert!(out.lines().nth(1).unwrap().starts_with("default "), "{out}");
    let out = ok(kubectl(
        s,
        &[
            "get",
            "secret",
            "cloud-credentials",
            "-n",
            "velero",
            "-o",
            "jsonpath={.data.cloud}",
        ],
    ));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(out.trim())
        .unwrap();
    assert!(
        String::from_utf8(decoded)
            .unwrap()
            .contains("aws_access_key_id=minio"),
        "stringData lands in data"
    );

    // validation happens at apply time, without --validate=false
    let unknown = "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {name: typo, namespace: velero}\n\
                   spec: {provider: aws, objectStorage: {bucket: b}, bukket: b}\n";
    let out = fails(kubectl_stdin(s, &["apply", "-f", "-"], unknown));
    assert!(out.contains("unknown field \"spec.bukket\""), "{out}");
    let missing = "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {name: nobucket, namespace: velero}\n\
                   spec: {provider: aws, objectStorage: {prefix: p}}\n";
    let out = fails(kubectl_stdin(s, &["apply", "-f", "-"], missing));
    assert!(
        out.contains("spec.objectStorage.bucket: Required value"),
        "{out}"
    );

    let out = ok(kubectl(
        s,
        &["delete", "-f", &testdata("bsl-cacertref.yaml")],
    ));
    assert!(
        out.contains("backupstoragelocation.velero.io \"default\" deleted"),
        "{out}"
    );
    let out = fails(kubectl(s, &["get", "bsl", "default", "-n", "velero"]));
    assert!(
        out.contains("NotFound") || out.contains("not found"),
        "{out}"
    );
}

struct Webhook(Child);

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kubectl wait` until every CRD of crds/ is Established (a real API server establishes them
/// asynchronously).
fn wait_established(s: &e2e::cluster::Cluster) {
    ok(kubectl(
        s,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "-f",
            &repo().join("crds").display().to_string(),
        ],
    ));
}

const SERVICE: &str = "veloxide-webhook";

/// `veloxide webhook` on 127.0.0.1 with a certificate for `veloxide-webhook.NAMESPACE.svc` (the
/// name kube-apiserver verifies when it calls the Service). Returns the process, its port and
/// the CA's PEM.
fn start_webhook(dir: &std::path::Path, namespace: &str) -> (Webhook, u16, Vec<u8>) {
    let pki = e2e::peers::certs::Pki::new("webhook-test-ca");
    let host = format!("{SERVICE}.{namespace}.svc");
    let (cert, key) = pki.server(&[host.as_str()], &[]).write(dir, "tls");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (child, _) = e2e::peers::process::spawn_listening(
        Command::new(veloxide_binary())
            .args([
                "webhook",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--tls-cert-file",
            ])
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .stderr(Stdio::null()),
        &["veloxide webhook listening on"],
    );
    (Webhook(child), port, pki.ca.cert_pem())
}

/// The Service kube-apiserver calls (no selector: its Endpoints are written by the test) and a
/// ValidatingWebhookConfiguration for it. The configuration is limited to the test's namespace,
/// since the control plane is shared by this binary's tests (the scenario is otherwise the one a
/// cluster-wide install makes).
fn webhook_configuration(namespace: &str, ca_pem: &[u8]) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: {SERVICE}, namespace: {namespace}}}
spec:
  ports: [{{name: https, port: 443, targetPort: 9443}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: veloxide-{namespace}
webhooks:
- name: backupstoragelocations.velero.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  namespaceSelector:
    matchLabels: {{kubernetes.io/metadata.name: {namespace}}}
  clientConfig:
    caBundle: {ca}
    service: {{namespace: {namespace}, name: {SERVICE}, path: /validate-velero-io-v1-backupstoragelocation}}
  rules:
  - operations: [CREATE, UPDATE]
    apiGroups: [velero.io]
    apiVersions: [v1]
    resources: [backupstoragelocations]
"
    )
}

fn location(namespace: &str, name: &str, object_storage: &str) -> String {
    format!(
        "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  provider: aws\n  objectStorage: {object_storage}\n  config: {{region: us-east-1}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_runs_the_admission_webhook() {
    let s = cluster();
    if !s.is_local() {
        eprintln!(
            "skipped against an external cluster: its API server cannot reach a webhook on this machine (see e2e/README.md)"
        );
        return;
    }
    let client = s.client().await.unwrap();
    let ns = common::namespace(&client, "webhook").await;
    let scratch = std::env::temp_dir().join(format!("veloxide-webhook-{}", e2e::random_hex(4)));
    std::fs::create_dir_all(&scratch).unwrap();
    let (_hook, port, ca) = start_webhook(&scratch, &ns);
    {
        let _guard = CRDS.lock().unwrap_or_else(|e| e.into_inner());
        ok(kubectl(
            s,
            &["apply", "-f", &repo().join("crds").display().to_string()],
        ));
    }
    wait_established(s);
    ok(kubectl_stdin(
        s,
        &["apply", "-f", "-"],
        &webhook_configuration(&ns, &ca),
    ));
    // kube-apiserver calls a webhook through its Service's Endpoints and refuses loopback
    // addresses: the Service's port leads to a veth address forwarding to the local webhook.
    let exposed = e2e::netns::Exposed::start(port)
        .await
        .expect("a network namespace for the webhook's route (needs root)");
    e2e::netns::route_service(&client, &ns, SERVICE, "https", &exposed)
        .await
        .unwrap();

    let inline = base64::engine::general_purpose::STANDARD.encode(&ca);
    let both = location(
        &ns,
        "both",
        &format!(
            "{{bucket: b, caCert: {inline}, caCertRef: {{name: storage-ca-cert, key: ca-bundle.crt}}}}"
        ),
    );
    let out = fails(kubectl_stdin(s, &["apply", "-f", "-"], &both));
    assert!(
        out.contains("admission webhook \"backupstoragelocations.velero.io\" denied the request"),
        "{out}"
    );
    assert!(out.contains("caCertRef"), "{out}");
    eprintln!("kubectl printed for the refused location:\n{out}");

    let deprecated = location(&ns, "inline", &format!("{{bucket: b, caCert: {inline}}}"));
    let out = ok(kubectl_stdin(s, &["apply", "-f", "-"], &deprecated));
    assert!(
        out.contains("backupstoragelocation.velero.io/inline created"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("Warning:") && l.contains("deprecated")),
        "{out}"
    );
    ok(kubectl(
        s,
        &[
            "delete",
            "validatingwebhookconfiguration",
            &format!("veloxide-{ns}"),
        ],
    ));
    let _ = std::fs::remove_dir_all(&scratch);
}
