//! `veloxide install`, the real binary against a real control plane (kube-apiserver with RBAC,
//! kube-controller-manager, etcd: `e2e::cluster::Cluster`, one per test, since each installs the
//! same cluster-scoped objects) and the real kubectl:
//! - `--dry-run -o yaml` prints every object (the location with `caCertRef`, never `caCert`),
//!   a webhook certificate that chains to the `caBundle` and names the Service, and applies
//!   with `kubectl apply`; no secret is printed outside the Secrets;
//! - a real install creates the objects with server-side apply; `veloxide server`, run with the
//!   installed ServiceAccount's identity (so a permission the install forgot fails the test) and
//!   the certificate from the installed Secret, writes the installed location's status and
//!   becomes ready; kube-apiserver itself calls the installed webhook through the installed
//!   Service (its Endpoints routed to the local server over a veth pair, `e2e::netns`) trusting
//!   the installed caBundle, and kubectl shows its denial of a bad location; a second run
//!   succeeds (through the webhook) and changes nothing;
//! - a bad `--backup-location-config`, an unreadable or garbage `--cacert` are refused with
//!   the parser's message before anything is created.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2e::cluster::Cluster;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams};
use serde::Deserialize;
use serde_json::Value;

const SECRET_KEY: &str = "wJalrXUtnFEMI-not-a-real-key-7MDENG";
const KINDS: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Secret",
    "Service",
    "Deployment",
    "BackupStorageLocation",
    "ValidatingWebhookConfiguration",
];

/// The credentials file and a CA bundle, in a temporary directory.
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Inputs {
        let dir = tempfile::tempdir().unwrap();
        let creds = format!(
            "[default]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key={SECRET_KEY}\n"
        );
        std::fs::write(dir.path().join("credentials"), creds).unwrap();
        let pki = e2e::peers::certs::Pki::new("store-ca");
        std::fs::write(dir.path().join("ca.crt"), pki.ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("ca.key"), pki.ca.key_pem()).unwrap();
        std::fs::write(dir.path().join("garbage.pem"), "not a certificate\n").unwrap();
        Inputs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `veloxide install` with the usual flags, then `extra`.
    fn install(&self, kubeconfig: Option<&Path>, extra: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veloxide"));
        cmd.args(["install", "--provider", "aws", "--bucket", "velero-backups"])
            .args(["--secret-file", &self.path("credentials")])
            .args(extra)
            .env_remove("VELERO_NAMESPACE");
        match kubeconfig {
            Some(k) => cmd.env("KUBECONFIG", k),
            None => cmd.env("KUBECONFIG", self.dir.path().join("no-cluster")),
        };
        cmd.output().expect("veloxide runs")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn config_flags(extra: &str) -> String {
    format!("region=us-east-1,s3Url=https://minio.example:9000,s3ForcePathStyle=true{extra}")
}

fn kubectl(s: &Cluster, args: &[&str], stdin: Option<&str>) -> Output {
    let home = s.dir().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = Command::new(s.kubectl_program())
        .args(args)
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", &home)
        .env("KUBECACHEDIR", home.join("kube-cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// A control plane of the test's own: every test here installs (or must find absent) the same
/// cluster-scoped objects (CRDs, ClusterRoles, the ValidatingWebhookConfiguration).
fn cluster() -> Cluster {
    Cluster::start().expect("the control plane starts")
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} missing"))
}

fn b64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn dry_run_prints_every_object_and_kubectl_applies_it() {
    let inputs = Inputs::new();
    let out = inputs.install(
        None,
        &[
            "--cacert",
            &inputs.path("ca.crt"),
            "--config",
            &config_flags(",serverSideEncryption=AES256"),
            "--prefix",
            "cluster-a",
            "--dry-run",
            "-o",
            "yaml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8(out.stdout.clone()).unwrap();
    let objects = docs(&yaml);
    for kind in KINDS {
        assert!(objects.iter().any(|o| o["kind"] == *kind), "{kind} missing");
    }
    assert_eq!(
        objects
            .iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .count(),
        veloxide::crds::all().len()
    );

    // The location: caCertRef to the Secret holding the bundle, never the inline caCert.
    let bsl = find(&objects, "BackupStorageLocation", "default");
    let storage = &bsl["spec"]["objectStorage"];
    assert_eq!(
        storage["caCertRef"],
        serde_json::json!({"name": "storage-ca-cert", "key": "ca-bundle.crt"})
    );
    assert!(storage.get("caCert").is_none(), "{bsl}");
    assert_eq!(storage["prefix"], "cluster-a");
    assert_eq!(bsl["spec"]["default"], true);
    assert_eq!(bsl["spec"]["config"]["serverSideEncryption"], "AES256");
    assert_eq!(
        bsl["spec"]["credential"],
        serde_json::json!({"name": "cloud-credentials", "key": "cloud"})
    );
    let bundle = find(&objects, "Secret", "storage-ca-cert");
    assert_eq!(
        b64(&bundle["data"]["ca-bundle.crt"]),
        std::fs::read(inputs.path("ca.crt")).unwrap()
    );
    let creds = find(&objects, "Secret", "cloud-credentials");
    assert!(
        String::from_utf8(b64(&creds["data"]["cloud"]))
            .unwrap()
            .contains(SECRET_KEY)
    );
    // Secret material only inside the Secrets: not in plain text anywhere, not on stderr.
    assert!(!yaml.contains(SECRET_KEY));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET_KEY));

    // The webhook: its certificate chains to the caBundle and names the Service.
    let vwc = find(&objects, "ValidatingWebhookConfiguration", "veloxide");
    let hook = &vwc["webhooks"][0];
    assert_eq!(hook["clientConfig"]["service"]["name"], "veloxide");
    assert_eq!(hook["failurePolicy"], "Fail");
    let ca = openssl::x509::X509::from_pem(&b64(&hook["clientConfig"]["caBundle"])).unwrap();
    let tls = find(&objects, "Secret", "veloxide-webhook-tls");
    assert_eq!(tls["type"], "kubernetes.io/tls");
    let leaf = openssl::x509::X509::from_pem(&b64(&tls["data"]["tls.crt"])).unwrap();
    assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
    let sans: Vec<String> = leaf
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|n| n.dnsname().map(String::from))
        .collect();
    assert!(sans.contains(&"veloxide.velero.svc".to_owned()), "{sans:?}");
    let deployment = find(&objects, "Deployment", "veloxide");
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    for flag in [
        "server",
        "--tls-cert-file=/certs/tls.crt",
        "--tls-key-file=/certs/tls.key",
        "--webhook-listen=0.0.0.0:9443",
    ] {
        assert!(args.as_array().unwrap().contains(&flag.into()), "{args}");
    }
    let service = find(&objects, "Service", "veloxide");
    assert!(service["spec"]["ports"].to_string().contains("\"webhook\""));

    // -o json: the same objects as one List.
    let out = inputs.install(
        None,
        &[
            "--cacert",
            &inputs.path("ca.crt"),
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), objects.len());

    // kubectl maps every kind before it applies anything, so on a new cluster the CRDs go
    // first (docs/install.md says so); then the whole output applies, and applies again.
    let s = cluster();
    let crds = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .arg("crds")
        .output()
        .unwrap();
    let out = kubectl(
        &s,
        &["apply", "-f", "-"],
        Some(&String::from_utf8(crds.stdout).unwrap()),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(
        &s,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/backupstoragelocations.velero.io",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    for _ in 0..2 {
        let out = kubectl(&s, &["apply", "-f", "-"], Some(&yaml));
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = kubectl(
        &s,
        &[
            "get",
            "bsl,secret,deployment,service",
            "-n",
            "velero",
            "-o",
            "name",
        ],
        None,
    );
    let names = text(&out);
    for n in [
        "backupstoragelocation.velero.io/default",
        "secret/cloud-credentials",
        "secret/storage-ca-cert",
        "secret/veloxide-webhook-tls",
        "deployment.apps/veloxide",
        "service/veloxide",
    ] {
        assert!(names.contains(n), "{n} in {names}");
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `veloxide server` as the installed Deployment runs it: the installed ServiceAccount's
/// identity (`server_kubeconfig`), the certificate from the installed Secret, its webhook on
/// `port` (where the installed Service's Endpoints lead). Returns the server and its metrics URL.
fn start_server(server_kubeconfig: &Path, port: u16, cert: &Path, key: &Path) -> (Server, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_veloxide"));
    command
        .args([
            "server",
            "--namespace=velero",
            "--metrics-listen=127.0.0.1:0",
        ])
        .arg(format!("--webhook-listen=127.0.0.1:{port}"))
        .arg(format!("--tls-cert-file={}", cert.display()))
        .arg(format!("--tls-key-file={}", key.display()))
        .env("KUBECONFIG", server_kubeconfig)
        .env("POD_NAME", "veloxide-install-test")
        .env("RUST_LOG", "info")
        .stderr(Stdio::inherit());
    let (child, mut lines) = e2e::peers::process::spawn_listening(
        &mut command,
        &[
            "veloxide metrics listening on ",
            "veloxide webhook listening on",
        ],
    );
    (Server(child), lines.swap_remove(0))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every object install manages, by kind/name, with its content (everything but `status` and
/// the metadata the server keeps). The content is compared, not `resourceVersion`: the running
/// server writes the location's status between the two installs, which moves its version.
async fn contents(client: &kube::Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (api_version, kind, plural, ns) in [
        ("v1", "Namespace", "namespaces", None),
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            None,
        ),
        ("v1", "ServiceAccount", "serviceaccounts", Some("velero")),
        (
            "rbac.authorization.k8s.io/v1",
            "Role",
            "roles",
            Some("velero"),
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "rolebindings",
            Some("velero"),
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "clusterroles",
            None,
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            None,
        ),
        ("v1", "Secret", "secrets", Some("velero")),
        ("v1", "Service", "services", Some("velero")),
        ("apps/v1", "Deployment", "deployments", Some("velero")),
        (
            "velero.io/v1",
            "BackupStorageLocation",
            "backupstoragelocations",
            Some("velero"),
        ),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            None,
        ),
    ] {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        for o in api.list(&ListParams::default()).await.unwrap().items {
            let managed = o
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .any(|m| m.manager.as_deref() == Some("veloxide-install"));
            if managed {
                let mut content = o.data.clone();
                if let Some(fields) = content.as_object_mut() {
                    fields.remove("status");
                }
                content["labels"] = serde_json::json!(o.metadata.labels);
                content["annotations"] = serde_json::json!(o.metadata.annotations);
                out.push((
                    format!("{kind}/{}", o.metadata.name.unwrap()),
                    content.to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_applies_in_order_its_webhook_works_and_a_rerun_changes_nothing() {
    let inputs = Inputs::new();
    let port = free_port();
    let s = cluster();
    let client = s.client().await.unwrap();
    let flags = [
        "--cacert",
        &inputs.path("ca.crt"),
        "--backup-location-config",
        &config_flags(""),
    ];
    let out = inputs.install(Some(&s.kubeconfig), &flags);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains(SECRET_KEY) && !said.contains("PRIVATE KEY"),
        "{said}"
    );
    let first = contents(&client).await;
    let kinds: Vec<&str> = first
        .iter()
        .map(|(k, _)| k.split('/').next().unwrap())
        .collect();
    for kind in KINDS {
        assert!(
            kinds.contains(kind),
            "{kind} not applied by veloxide-install: {first:?}"
        );
    }
    // Fifteen objects besides the CRDs.
    assert_eq!(first.len(), 15 + veloxide::crds::all().len(), "{first:?}");
    // Applied in dependency order: the namespace first, the webhook last.
    let order: Vec<&str> = said.lines().filter(|l| l.ends_with(": applied")).collect();
    assert_eq!(order.first(), Some(&"Namespace/velero: applied"), "{said}");
    assert_eq!(
        order.last(),
        Some(&"ValidatingWebhookConfiguration/veloxide: applied"),
        "{said}"
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "velero");
    let stored = secrets.get("cloud-credentials").await.unwrap();
    assert!(
        String::from_utf8(stored.data.unwrap()["cloud"].0.clone())
            .unwrap()
            .contains(SECRET_KEY)
    );
    let webhook_tls = secrets
        .get("veloxide-webhook-tls")
        .await
        .unwrap()
        .data
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &webhook_tls["tls.crt"].0).unwrap();
    std::fs::write(&key, &webhook_tls["tls.key"].0).unwrap();
    // The server runs as the installed ServiceAccount: what the install's RBAC forgot fails here
    // (readiness needs its caches of locations and Secrets synced; the status write needs
    // backupstoragelocations/status).
    let server_kubeconfig = s
        .kubeconfig_for_service_account("velero", "veloxide")
        .unwrap();
    let (_server, metrics_url) = start_server(&server_kubeconfig, port, &cert, &key);
    // kube-apiserver reaches a webhook through its Service's Endpoints and refuses loopback
    // addresses: the installed Service's `webhook` port leads to a veth address forwarding to
    // the local server (what a pod behind the Service is to the API server).
    let exposed = e2e::netns::Exposed::start(port)
        .await
        .expect("a network namespace for the webhook's route (needs root)");
    e2e::netns::route_service(&client, "velero", "veloxide", "webhook", &exposed)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = reqwest::get(format!("{metrics_url}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server, as the installed ServiceAccount, never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let locations = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "velero",
        &ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("velero.io", "v1", "BackupStorageLocation"),
            "backupstoragelocations",
        ),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let bsl = locations.get("default").await.unwrap();
        if bsl.data["status"]["phase"].is_string() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server, as the installed ServiceAccount, never wrote the location's status: {}",
            bsl.data
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The installed webhook answers through the Service, trusted by the installed caBundle.
    let bad = "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {name: bad, namespace: velero}\n\
               spec: {provider: aws, objectStorage: {bucket: b}, config: {serverSideEncryption: 'aws:kms'}}\n";
    let out = kubectl(&s, &["apply", "-f", "-"], Some(bad));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("admission webhook \"bsl.veloxide.velero.io\" denied"),
        "{said}"
    );
    assert!(said.contains("spec.config.kmsKeyId"), "{said}");

    // Again: succeeds (through the webhook, for the location), keeps the certificates, and
    // changes no object.
    let out = inputs.install(Some(&s.kubeconfig), &flags);
    assert!(out.status.success(), "{}", text(&out));
    let again = secrets
        .get("veloxide-webhook-tls")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        again, webhook_tls,
        "the webhook's certificates were replaced"
    );
    assert_eq!(
        contents(&client).await,
        first,
        "a second install changed objects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_location_config_and_bad_cacert_are_refused_before_anything_is_created() {
    let inputs = Inputs::new();
    let s = cluster();
    let client = s.client().await.unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--config".into(),
                config_flags(",serverSideEncryption=aws:kms"),
            ],
            "spec.config.kmsKeyId: is required when serverSideEncryption is \"aws:kms\"",
        ),
        (
            vec![
                "--backup-location-config".into(),
                config_flags(",kmsKeyID=alias/k"),
            ],
            "spec.config.kmsKeyID",
        ),
        (
            vec!["--cacert".into(), inputs.path("missing.crt")],
            "cannot read --cacert",
        ),
        (
            vec!["--cacert".into(), inputs.path("garbage.pem")],
            "holds no PEM block",
        ),
        (
            vec!["--cacert".into(), inputs.path("ca.key")],
            "a private key must never go in a CA bundle",
        ),
    ];
    let key_pem = std::fs::read_to_string(inputs.path("ca.key")).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap();
    for (flags, expected) in &cases {
        let args: Vec<&str> = flags.iter().map(String::as_str).collect();
        for dry_run in [false, true] {
            let mut args = args.clone();
            if dry_run {
                args.push("--dry-run");
            }
            let out = inputs.install(Some(&s.kubeconfig), &args);
            let said = text(&out);
            assert!(!out.status.success(), "{args:?} was accepted:\n{said}");
            assert!(
                said.contains(expected),
                "{args:?}: {expected:?} not in\n{said}"
            );
            assert!(
                !said.contains(key_body) && !said.contains(SECRET_KEY),
                "{said}"
            );
            assert!(out.stdout.is_empty(), "{args:?} printed objects:\n{said}");
        }
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("velero").await.unwrap().is_none());
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    assert!(
        crds.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
