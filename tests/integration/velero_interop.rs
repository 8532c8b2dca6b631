//! Velero itself beside veloxide: backups move both ways between the two through one moto
//! bucket, each side on its own control plane (both serve the `velero.io` CRD names).
//!
//! - Velero → veloxide: Velero v1.18 (built by `make velero-peer`) backs up a namespace through
//!   a location with SSE-S3 and one with SSE-KMS; veloxide's backup sync finds both,
//!   `veloxide backup describe|logs` read them, and veloxide restores every object equal and
//!   every byte.
//! - veloxide → Velero: veloxide backs up the same kind of namespace; Velero's backup sync finds
//!   it, `velero backup describe --details` and `velero backup logs` read it, and
//!   `velero restore create --from-backup --wait` recreates everything equal.
//! - The same BackupStorageLocation manifests are applied to both clusters unchanged, and
//!   veloxide's admission answers them as the API server would ask.
//!
//! One test (two control planes, one Velero server, one veloxide server): the two directions
//! share the costly part, the set-up.

use crate::backup_support;
use crate::common;
use crate::restore_support;
use crate::server_support;
use crate::velero_support;

use std::collections::BTreeMap;
use std::time::Duration;

use backup_support::{backed_up, backups, eventually, head, list_keys};
use kube::api::{Api, DynamicObject};
use restore_support::{
    MADE_BY_THE_CLUSTER, base64_of, bytes_of, cli, comparable, create_restore, stderr, stdout,
};
use serde_json::{Value, json};
use server_support::{BUCKET, Server, World};
use velero_support::{VeleroSide, apply, resource};
use veloxide::api::{BackupPhase, RestorePhase};

/// How often both servers sync their locations here (Velero's default is a minute).
const SYNC: &str = "2s";
const WAIT: Duration = Duration::from_secs(90);

/// Every byte value, then every byte value backwards.
fn every_byte() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}

/// What both sides back up and restore (`apiVersion`, plural) in the test namespaces.
const KINDS: &[(&str, &str)] = &[
    ("v1", "configmaps"),
    ("v1", "secrets"),
    ("v1", "serviceaccounts"),
    ("v1", "services"),
    ("apps/v1", "deployments"),
    ("example.com/v1", "widgets"),
];

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                   "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

/// The namespace both directions carry: ConfigMaps with every byte value, Secrets, a
/// ServiceAccount, a Service, a Deployment and a Widget (whose CRD the cluster must have).
fn workload(ns: &str) -> Vec<Value> {
    let bytes = base64_of(&every_byte());
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": "shop"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "blobs", "namespace": ns, "labels": {"app": "web"}},
               "data": {"mode": "ünïcode ✓", "empty": ""},
               "binaryData": {"every-byte": bytes, "zero": base64_of(&[0])}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "settings", "namespace": ns,
                            "annotations": {"example.com/note": "kept as is"}},
               "data": {"config.yaml": "a: 1\nb: [x, y]\n"}}),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "raw", "namespace": ns}, "type": "Opaque",
               "data": {"every-byte": bytes}}),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "login", "namespace": ns}, "type": "kubernetes.io/basic-auth",
               "stringData": {"username": "admin", "password": "p@ss\u{0}word"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "robot", "namespace": ns, "labels": {"app": "web"}}}),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": ns},
               "spec": {"selector": {"app": "web"},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"serviceAccountName": "robot",
                                              "containers": [{"name": "web", "image": "nginx:1.27"}]}}}}),
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
               "metadata": {"name": "gear", "namespace": ns}, "spec": {"teeth": 12, "sizes": [1, 2.5]}}),
    ]
}

/// The two locations, exactly as a user would write them for Velero: moto over HTTPS trusted
/// through the inline `caCert`, one with SSE-S3, one with SSE-KMS (`kmsKeyId` alone means
/// `aws:kms` to both).
fn locations(ca_pem: &[u8], s3_url: &str, kms_key: &str) -> Vec<Value> {
    let location = |name: &str, encryption: Value| {
        let mut config =
            json!({"region": "us-east-1", "s3Url": s3_url, "s3ForcePathStyle": "true"});
        for (k, v) in encryption.as_object().unwrap() {
            config[k] = v.clone();
        }
        json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": name, "namespace": "velero"},
            "spec": {
                "provider": "aws",
                "objectStorage": {"bucket": BUCKET, "prefix": name, "caCert": base64_of(ca_pem)},
                "credential": {"name": "cloud-credentials", "key": "cloud"},
                "config": config,
            }
        })
    };
    vec![
        location("sse-s3", json!({"serverSideEncryption": "AES256"})),
        location("sse-kms", json!({"kmsKeyId": kms_key})),
    ]
}

/// Every object of [`KINDS`] in `ns`, comparable across clusters: server-set fields, the
/// restore's labels and what the cluster makes by itself (kube-root-ca.crt, the default
/// ServiceAccount) left out; a Service's cluster IPs are the cluster's own.
async fn snapshot(client: &kube::Client, ns: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (api_version, plural) in KINDS {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &resource(api_version, plural));
        for o in api.list(&Default::default()).await.unwrap().items {
            let key = format!("{plural}/{}", o.metadata.name.clone().unwrap());
            if MADE_BY_THE_CLUSTER.contains(&key.as_str()) {
                continue;
            }
            let mut v = comparable(&serde_json::to_value(o).unwrap());
            if *plural == "services"
                && let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
            out.insert(key, v);
        }
    }
    out
}

/// The objects of `ns` in `from` and `to` are equal, each named.
async fn assert_same(from: &kube::Client, to: &kube::Client, ns: &str, to_ns: &str, what: &str) {
    let a = snapshot(from, ns).await;
    let b = snapshot(to, to_ns).await;
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: the same objects"
    );
    assert_eq!(a.len(), 8, "{what}: {:?}", a.keys());
    for (key, object) in &a {
        assert_eq!(
            object,
            &b[key],
            "{what}: {key} differs\noriginal: {}\nrestored: {}",
            serde_json::to_string_pretty(object).unwrap(),
            serde_json::to_string_pretty(&b[key]).unwrap()
        );
    }
    let blobs = &b["configmaps/blobs"];
    assert_eq!(
        bytes_of(&blobs["binaryData"]["every-byte"]),
        every_byte(),
        "{what}"
    );
    assert_eq!(
        bytes_of(&b["secrets/raw"]["data"]["every-byte"]),
        every_byte(),
        "{what}"
    );
}

/// A veloxide Restore, waited for; anything but Completed fails with its description and log.
async fn veloxide_restore(x: &World, name: &str, spec: Value) {
    create_restore(x, name, spec).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let restore = restore_support::restores(x).get(name).await.unwrap();
        if restore.phase().is_terminal() {
            if restore.phase() != RestorePhase::Completed {
                let described = cli(x, &["restore", "describe", name, "--details"]).await;
                let logs = cli(x, &["restore", "logs", name]).await;
                panic!(
                    "{name}: {:?}\n{}{}\n--- log ---\n{}{}",
                    restore.phase(),
                    stdout(&described),
                    stderr(&described),
                    stdout(&logs),
                    stderr(&logs)
                );
            }
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} unfinished after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// veloxide's admission answer for a location manifest, as the API server would ask for it.
fn admission(location: &Value) -> (bool, String, Vec<String>) {
    let body = common::cases::review("interop", "CREATE", Some(location.clone()));
    let answer: Value =
        serde_json::from_slice(&veloxide::webhook::review(body.to_string().as_bytes()).unwrap())
            .unwrap();
    let response = &answer["response"];
    let warnings = response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w.as_str().unwrap_or_default().to_owned())
        .collect();
    (
        response["allowed"].as_bool().unwrap_or(false),
        response["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        warnings,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_and_veloxide_restore_each_others_backups() {
    // veloxide's cluster (with moto and its bucket) and Velero's, sharing the bucket.
    // The chart's restore role names what restores may write, custom resources included (Velero
    // runs as cluster-admin): without this, the Widget fails Forbidden and the restore is
    // PartiallyFailed.
    let x = World::start_with_rbac(&[
        "rbac.secretsScope=cluster",
        r"rbac.restore.resources.example\.com={widgets}",
        "rbac.backup.customResourceGroups={example.com}",
    ])
    .await;
    let mut v = VeleroSide::start(x.moto.clone()).await;
    let kms_key = x.moto.create_kms_key("alias/interop").await;
    let bsls = locations(&x.moto.pki.ca.cert_pem(), &x.moto.url(), &kms_key);

    // The same manifests go to both clusters. veloxide's admission allows them (the inline
    // caCert with a deprecation warning: it points at `caCertRef`).
    for bsl in &bsls {
        let (allowed, message, warnings) = admission(bsl);
        assert!(
            allowed,
            "veloxide's admission refused {}: {message}",
            bsl["metadata"]["name"]
        );
        assert!(
            warnings.iter().any(|w| w.contains("caCertRef")),
            "{warnings:?}"
        );
    }
    v.apply(&bsls).await;
    // The workload before the server: Velero reads API discovery when it starts and again only
    // every 5 minutes, so a backup misses (silently) the resources of a CRD created since.
    apply(&v.client, &[widget_crd()]).await;
    eventually(
        "the widget CRD is served in Velero's cluster",
        WAIT,
        || async {
            let api: Api<DynamicObject> = Api::namespaced_with(
                v.client.clone(),
                "default",
                &resource("example.com/v1", "widgets"),
            );
            api.list(&Default::default()).await.is_ok()
        },
    )
    .await;
    apply(&v.client, &workload("interop")).await;
    v.start_server(&[&format!("--backup-sync-period={SYNC}")]);
    for bsl in ["sse-s3", "sse-kms"] {
        v.wait_location_available(bsl, WAIT).await;
    }

    // ---- Velero → veloxide ----
    for (backup, location) in [("velero-s3", "sse-s3"), ("velero-kms", "sse-kms")] {
        v.velero_ok(&[
            "backup",
            "create",
            backup,
            "--include-namespaces",
            "interop",
            "--storage-location",
            location,
            "--wait",
        ])
        .await;
        let made = v.get("backups", backup).await.unwrap();
        assert_eq!(made["status"]["phase"], "Completed", "{}", made["status"]);
    }
    // Velero wrote them encrypted as asked (HEAD through awscli, which shares no code with
    // either side).
    let sse_s3 = head(&x, "sse-s3/backups/velero-s3/velero-s3.tar.gz");
    assert_eq!(sse_s3["ServerSideEncryption"], "AES256", "{sse_s3}");
    let sse_kms = head(&x, "sse-kms/backups/velero-kms/velero-kms.tar.gz");
    assert_eq!(sse_kms["ServerSideEncryption"], "aws:kms", "{sse_kms}");
    assert!(
        sse_kms["SSEKMSKeyId"]
            .as_str()
            .unwrap_or_default()
            .contains(&kms_key),
        "{sse_kms}"
    );
    let velero_files = list_keys(&x, "sse-kms/backups/velero-kms/");

    // veloxide's cluster: its server, the same two manifests, and the sync finds both backups.
    let server = Server::start_with(
        &x.server_kubeconfig,
        "interop",
        &["--backup-sync-period", SYNC],
    );
    server.wait_ready().await;
    apply(&x.client, &bsls).await;
    for bsl in ["sse-s3", "sse-kms"] {
        x.wait_ready_reason(bsl, "Available", WAIT).await;
    }
    for backup in ["velero-s3", "velero-kms"] {
        eventually(
            &format!("Velero's {backup} synced into veloxide's cluster"),
            WAIT,
            || async {
                backups(&x)
                    .get_opt(backup)
                    .await
                    .unwrap()
                    .is_some_and(|b| b.phase() == BackupPhase::Completed)
            },
        )
        .await;
    }
    let described = cli(&x, &["backup", "describe", "velero-kms", "--details"]).await;
    assert!(described.status.success(), "{}", stderr(&described));
    let text = stdout(&described);
    for expected in [
        "Completed",
        "sse-kms",
        "interop",
        "widgets.example.com",
        "blobs",
    ] {
        assert!(
            text.contains(expected),
            "describe lacks {expected:?}:\n{text}"
        );
    }
    let logs = cli(&x, &["backup", "logs", "velero-kms"]).await;
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(
        stdout(&logs).contains("interop"),
        "Velero's log, read by veloxide:\n{}",
        stdout(&logs)
    );

    // A veloxide restore of each: the KMS one into the same namespace, the SSE-S3 one mapped to
    // another. veloxide's cluster has no widgets CRD before: it comes from Velero's backup.
    veloxide_restore(&x, "from-velero-kms", json!({"backupName": "velero-kms"})).await;
    assert_same(
        &v.client,
        &x.client,
        "interop",
        "interop",
        "Velero (SSE-KMS) → veloxide",
    )
    .await;
    veloxide_restore(
        &x,
        "from-velero-s3",
        json!({"backupName": "velero-s3", "namespaceMapping": {"interop": "interop-s3"}}),
    )
    .await;
    assert_same(
        &v.client,
        &x.client,
        "interop",
        "interop-s3",
        "Velero (SSE-S3) → veloxide",
    )
    .await;
    // Reading and restoring changed nothing Velero wrote.
    assert_eq!(list_keys(&x, "sse-kms/backups/velero-kms/"), velero_files);

    // ---- veloxide → Velero ----
    apply(&x.client, &[widget_crd()]).await; // restored above; applied as a user would
    apply(&x.client, &workload("outbound")).await;
    backed_up(
        &x,
        "from-veloxide",
        json!({"includedNamespaces": ["outbound"], "storageLocation": "sse-kms"}),
        WAIT,
    )
    .await;
    let sse = head(&x, "sse-kms/backups/from-veloxide/from-veloxide.tar.gz");
    assert_eq!(sse["ServerSideEncryption"], "aws:kms", "{sse}");

    let mut synced = Value::Null;
    for _ in 0..(WAIT.as_millis() / 250) {
        if let Some(b) = v.get("backups", "from-veloxide").await {
            synced = b;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    v.assert_running();
    assert!(
        !synced.is_null(),
        "Velero's sync never found veloxide's backup\n{}",
        velero_support::tail(&v.server_log(), 80)
    );
    assert_eq!(synced["status"]["phase"], "Completed", "{synced}");
    assert_eq!(
        synced["metadata"]["labels"]["velero.io/storage-location"],
        "sse-kms"
    );
    let described = v
        .velero_ok(&["backup", "describe", "from-veloxide", "--details"])
        .await;
    // veloxide's backup carries the Widget's CRD as Velero's would (a veloxide bug, fixed with
    // this test: the CRD was left out).
    for expected in [
        "Completed",
        "outbound",
        "outbound/blobs",
        "widgets.example.com",
    ] {
        assert!(
            described.contains(expected),
            "velero backup describe lacks {expected:?}:\n{described}"
        );
    }
    let logs = v.velero_ok(&["backup", "logs", "from-veloxide"]).await;
    assert!(
        logs.contains("backup=velero/from-veloxide"),
        "veloxide's log, read by Velero:\n{logs}"
    );

    // Velero restores it into its cluster, which has no `outbound` namespace, and (deleted here)
    // no widgets CRD: it comes from veloxide's backup.
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(v.client.clone());
    crds.delete("widgets.example.com", &Default::default())
        .await
        .unwrap();
    eventually(
        "the widgets CRD is gone from Velero's cluster",
        WAIT,
        || async { crds.get_opt("widgets.example.com").await.unwrap().is_none() },
    )
    .await;
    v.velero_ok(&[
        "restore",
        "create",
        "to-velero",
        "--from-backup",
        "from-veloxide",
        "--wait",
    ])
    .await;
    let restore = v.get("restores", "to-velero").await.unwrap();
    assert_eq!(
        restore["status"]["phase"], "Completed",
        "{}",
        restore["status"]
    );
    assert_same(
        &x.client,
        &v.client,
        "outbound",
        "outbound",
        "veloxide → Velero",
    )
    .await;
    v.assert_running();
}

/// The reference documents' locations, and every location of the admission table, applied to a
/// cluster with Velero's CRDs (as `kubectl apply --dry-run=server`: Velero has no admission
/// webhook, its CRD schema is what refuses) and to veloxide's admission. The reference
/// documents' pass both. Each one veloxide refuses and Velero takes is printed with the rule
/// that refused it, and that rule names a field of README's table of admission rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_location_manifests_apply_to_both() {
    let cluster = e2e::cluster::Cluster::start().expect("the control plane starts");
    let client = cluster.client().await.unwrap();
    velero_support::create_crds(&client, &velero_support::velero_crds(&cluster.kubeconfig)).await;
    apply(
        &client,
        &[json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "velero"}})],
    )
    .await;
    let velero_takes = |manifest: Value| {
        let client = client.clone();
        async move {
            let api: Api<DynamicObject> = Api::namespaced_with(
                client,
                "velero",
                &resource("velero.io/v1", "backupstoragelocations"),
            );
            let object: DynamicObject = serde_json::from_value(manifest).unwrap();
            let dry_run = kube::api::PostParams {
                dry_run: true,
                ..Default::default()
            };
            api.create(&dry_run, &object).await.map(|_| ())
        }
    };

    // The reference documents' manifests, then the admission table's.
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(&seeds).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("seeds/{}", path.file_name().unwrap().to_string_lossy());
        manifests.push((name, one_yaml_doc(&std::fs::read_to_string(&path).unwrap())));
    }
    let seed_count = manifests.len();
    for case in common::cases::all() {
        manifests.push((case.name.to_owned(), common::cases::object(&case.spec)));
    }

    let rules = admission_rules_section();
    let (mut seeds_allowed, mut refused_by_veloxide_only) = (0, Vec::new());
    for (i, (name, manifest)) in manifests.into_iter().enumerate() {
        let (allowed, message, _) = admission(&manifest);
        let velero = velero_takes(manifest).await;
        if i < seed_count {
            assert!(
                velero.is_ok(),
                "{name}: Velero's API server refused: {velero:?}"
            );
            seeds_allowed += usize::from(allowed);
        }
        if allowed || velero.is_err() {
            continue;
        }
        let rule = message
            .lines()
            .find(|l| l.contains("spec."))
            .unwrap_or(&message)
            .trim()
            .to_owned();
        let path = rule
            .split_whitespace()
            .find_map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '.')
                    .strip_prefix("spec.")
            })
            .unwrap_or_else(|| panic!("{name}: the denial names no field path: {message}"))
            .to_owned();
        // The field the path ends in, or (for a rule about two fields, named at their parent)
        // a camelCase field the message names.
        let field = path.rsplit('.').next().unwrap_or(&path);
        let words = rule.split(|c: char| !c.is_alphanumeric());
        let camel = |w: &&str| w.starts_with(char::is_lowercase) && w.contains(char::is_uppercase);
        let named: Vec<&str> = std::iter::once(field).chain(words.filter(camel)).collect();
        assert!(
            named.iter().any(|f| rules.contains(f)),
            "{name}: refused for `{path}` ({rule}); README's table of admission rules names none of {named:?}"
        );
        refused_by_veloxide_only.push(format!("{name:<48} {rule}"));
    }
    assert!(
        seed_count >= 4 && seeds_allowed >= 3,
        "{seeds_allowed} of {seed_count} reference manifests allowed by veloxide"
    );
    assert!(
        !refused_by_veloxide_only.is_empty(),
        "no location that Velero takes and veloxide refuses: the table's denials are all schema errors?"
    );
    println!(
        "Velero applies, veloxide refuses at admission ({}):\n{}",
        refused_by_veloxide_only.len(),
        refused_by_veloxide_only.join("\n")
    );
}

/// A YAML manifest as JSON.
fn one_yaml_doc(text: &str) -> Value {
    let docs = e2e::manifests::yaml_docs(text).unwrap();
    assert_eq!(docs.len(), 1, "one document");
    docs.into_iter().next().unwrap()
}

/// README's "Admission rules for BackupStorageLocations" section.
fn admission_rules_section() -> String {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme
        .find("## Admission rules for BackupStorageLocations")
        .expect("README has the admission rules");
    let rest = &readme[start + 3..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
}

/// `velero version` and `velero plugin get`, run as a Velero user would against a cluster where
/// veloxide serves: the CLI creates a ServerStatusRequest and waits for the server's answer,
/// which veloxide gives (and deletes a minute later, as Velero does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_version_and_plugin_get_answer_from_a_veloxide_server() {
    use veloxide::api::ServerStatusRequest;
    let world = World::start().await;
    let server = Server::start(&world.server_kubeconfig, "server-a");
    server.wait_ready().await;
    let velero = |args: &[&str]| -> (bool, String) {
        let out = std::process::Command::new("timeout")
            .arg("90")
            .arg(velero_support::velero_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(&world.cluster.kubeconfig)
            .args(["--namespace", server_support::NS, "--timeout", "60s"])
            .env("HOME", world.cluster.dir())
            .env_remove("VELERO_NAMESPACE")
            .output()
            .expect("velero runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, version) = velero(&["version"]);
    assert!(ok, "{version}");
    assert!(version.contains("Server:"), "{version}");
    assert!(
        version.contains(&format!("veloxide-v{}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(
        !version.contains("error getting server version"),
        "{version}"
    );
    let (ok, plugins) = velero(&["plugin", "get"]);
    assert!(ok, "{plugins}");
    assert!(
        plugins.contains("velero.io/aws") && plugins.contains("ObjectStore"),
        "{plugins}"
    );
    let requests: Api<ServerStatusRequest> =
        Api::namespaced(world.client.clone(), server_support::NS);
    eventually(
        "answered ServerStatusRequests are deleted after a minute",
        Duration::from_secs(120),
        || async {
            requests
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .is_empty()
        },
    )
    .await;
}
