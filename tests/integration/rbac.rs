//! What the server's identity may and may not do, asked of a real kube-apiserver:
//! `kubectl auth can-i --as=system:serviceaccount:velero:veloxide` for every row of the table in
//! charts/veloxide/README.md ("What the server's identity may do"), with the RBAC of
//!   - the chart's default values,
//!   - the chart with `rbac.secretsScope=cluster`,
//!   - `veloxide install --dry-run -o yaml`,
//!
//! applied in turn to one control plane (each removed before the next). The table below is the
//! test's, the README's must be the same, and every answer must be the table's.
//! Besides, `veloxide install`'s RBAC (written by hand in src/cli/install/manifests/rbac.rs)
//! is compared with the chart's rendered with its default values, rule for rule.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use e2e::cluster::Cluster;
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

const NS: &str = "velero";
const AS: &str = "system:serviceaccount:velero:veloxide";

/// One row: verb, resource (`resource.group` and `/subresource` as kubectl writes them),
/// namespace (`velero`, `other`, `(all)`, or `—` for a cluster-scoped resource), and the answers
/// with the default chart, the chart with `rbac.secretsScope=cluster`, and `veloxide install`.
type Row = (&'static str, &'static str, &'static str, bool, bool, bool);

/// A configuration: its name, its YAML, and the table's column for it.
type Config = (&'static str, String, fn(&Row) -> bool);

const TABLE: &[Row] = &[
    (
        "get",
        "backupstoragelocations.velero.io",
        "velero",
        true,
        true,
        true,
    ),
    (
        "patch",
        "backupstoragelocations.velero.io/status",
        "velero",
        true,
        true,
        true,
    ),
    ("create", "backups.velero.io", "velero", true, true, true),
    (
        "update",
        "backups.velero.io/status",
        "velero",
        true,
        true,
        true,
    ),
    (
        "update",
        "backups.velero.io/finalizers",
        "velero",
        false,
        false,
        false,
    ),
    ("delete", "backups.velero.io", "velero", true, true, true),
    ("delete", "backups.velero.io", "other", false, false, false),
    ("watch", "restores.velero.io", "velero", true, true, true),
    (
        "create",
        "downloadrequests.velero.io",
        "velero",
        false,
        false,
        false,
    ),
    (
        "create",
        "schedules.velero.io",
        "velero",
        false,
        false,
        false,
    ),
    (
        "patch",
        "schedules.velero.io/status",
        "velero",
        true,
        true,
        true,
    ),
    (
        "create",
        "deletebackuprequests.velero.io",
        "velero",
        true,
        true,
        true,
    ),
    (
        "delete",
        "deletebackuprequests.velero.io",
        "velero",
        true,
        true,
        true,
    ),
    ("watch", "secrets", "velero", true, true, true),
    ("create", "secrets", "velero", false, true, false),
    ("get", "secrets", "other", false, true, false),
    ("list", "secrets", "(all)", false, true, false),
    (
        "update",
        "leases.coordination.k8s.io",
        "velero",
        true,
        true,
        true,
    ),
    ("create", "events", "velero", true, true, true),
    ("create", "events.events.k8s.io", "velero", true, true, true),
    ("create", "events", "other", false, false, false),
    ("list", "pods", "other", true, true, true),
    ("list", "deployments.apps", "(all)", true, true, true),
    ("create", "deployments.apps", "other", true, true, true),
    ("delete", "deployments.apps", "other", false, false, false),
    (
        "create",
        "mutatingwebhookconfigurations.admissionregistration.k8s.io",
        "—",
        false,
        false,
        false,
    ),
    (
        "create",
        "validatingadmissionpolicies.admissionregistration.k8s.io",
        "—",
        false,
        false,
        false,
    ),
    (
        "create",
        "leases.coordination.k8s.io",
        "other",
        false,
        false,
        false,
    ),
    (
        "create",
        "rolebindings.rbac.authorization.k8s.io",
        "other",
        false,
        false,
        false,
    ),
    (
        "create",
        "clusterrolebindings.rbac.authorization.k8s.io",
        "—",
        false,
        false,
        false,
    ),
    ("patch", "namespaces", "—", false, false, false),
    ("update", "deployments.apps", "other", false, false, false),
    ("patch", "configmaps", "other", false, false, false),
    ("create", "pods", "other", true, true, true),
    ("create", "namespaces", "—", true, true, true),
    ("delete", "namespaces", "—", false, false, false),
    ("list", "nodes", "—", false, true, false),
    ("create", "pods/exec", "other", false, false, false),
    ("create", "pods/attach", "other", false, false, false),
    ("create", "pods/portforward", "other", false, false, false),
    ("create", "pods/eviction", "other", false, false, false),
    (
        "create",
        "serviceaccounts/token",
        "other",
        false,
        false,
        false,
    ),
    // No configuration reads the core group through `*`, which reaches every subresource: on a
    // 1.34 API server a `get` of pods/exec is enough for an exec over WebSocket (1.35's
    // AuthorizePodWebsocketUpgradeCreatePermission also asks for `create`), nodes/proxy reaches
    // the kubelet, pods/log reads what a container printed. `list` would do too: a list
    // request with an empty name in the path and the field selector metadata.name=NAME reaches
    // the named object's subresource (`/api/v1/namespaces/N/pods//exec?fieldSelector=...` runs
    // the exec handler for that pod), so no `list` on `*` of the core group either.
    ("get", "pods/exec", "other", false, false, false),
    ("get", "pods/attach", "other", false, false, false),
    ("get", "pods/portforward", "other", false, false, false),
    ("get", "pods/log", "other", false, false, false),
    ("get", "nodes/proxy", "—", false, false, false),
    ("get", "services/proxy", "other", false, false, false),
    ("list", "pods/exec", "other", false, false, false),
    ("list", "nodes/proxy", "—", false, false, false),
    ("get", "pods", "other", true, true, true),
    // secretsScope=cluster reads every built-in group (here one the default leaves out).
    (
        "list",
        "apiservices.apiregistration.k8s.io",
        "—",
        false,
        true,
        false,
    ),
    (
        "escalate",
        "clusterroles.rbac.authorization.k8s.io",
        "—",
        false,
        false,
        false,
    ),
    (
        "bind",
        "clusterroles.rbac.authorization.k8s.io",
        "—",
        false,
        false,
        false,
    ),
    ("impersonate", "users", "—", false, false, false),
    // CSI snapshots: made, kept and removed by backups and their deletion (docs/volumes.md).
    (
        "patch",
        "volumesnapshotcontents.snapshot.storage.k8s.io",
        "—",
        true,
        true,
        true,
    ),
    (
        "delete",
        "volumesnapshotcontents.snapshot.storage.k8s.io",
        "—",
        true,
        true,
        true,
    ),
    (
        "delete",
        "volumesnapshots.snapshot.storage.k8s.io",
        "other",
        true,
        true,
        true,
    ),
    (
        "list",
        "volumesnapshotclasses.snapshot.storage.k8s.io",
        "—",
        true,
        true,
        true,
    ),
    (
        "update",
        "volumesnapshots.snapshot.storage.k8s.io",
        "other",
        false,
        false,
        false,
    ),
    ("*", "*", "other", false, false, false),
];

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The README's table, as rows of cells (backquotes removed).
fn readme_table() -> Vec<Vec<String>> {
    let path = e2e::manifests::repo().join("charts/veloxide/README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let section = text
        .split("### What the server's identity may do")
        .nth(1)
        .expect("charts/veloxide/README.md has the section \"What the server's identity may do\"");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| verb |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_documents_this_table() {
    let want: Vec<Vec<String>> = TABLE
        .iter()
        .map(|(verb, resource, ns, d, c, i)| {
            vec![
                verb.to_string(),
                resource.to_string(),
                ns.to_string(),
                yes_no(*d).into(),
                yes_no(*c).into(),
                yes_no(*i).into(),
            ]
        })
        .collect();
    assert_eq!(
        readme_table(),
        want,
        "charts/veloxide/README.md's table and tests/rbac.rs's differ"
    );
}

pub(crate) fn kubectl(cluster: &Cluster, args: &[&str]) -> Output {
    let home = cluster.dir().join("home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new(cluster.kubectl_program())
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HOME", &home)
        .env("KUBECACHEDIR", home.join("kube-cache"))
        .output()
        .expect("kubectl runs")
}

/// `kubectl auth can-i` for one row, as the server's ServiceAccount.
pub(crate) fn can_i(cluster: &Cluster, verb: &str, resource: &str, ns: &str) -> bool {
    let (resource, sub) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (resource, None),
    };
    let mut args = vec!["auth", "can-i", verb, resource, "--as", AS];
    let sub_flag;
    if let Some(sub) = sub {
        sub_flag = format!("--subresource={sub}");
        args.push(&sub_flag);
    }
    match ns {
        "(all)" | "—" => args.push("--all-namespaces"),
        ns => args.extend(["-n", ns]),
    }
    let out = kubectl(cluster, &args);
    let said = String::from_utf8_lossy(&out.stdout);
    match said.lines().next().map(str::trim) {
        Some("yes") => true,
        Some("no") => false,
        _ => panic!(
            "kubectl {args:?}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Asks every row, repeating the rows that differ until the table holds or 20 s pass (the
/// authorizer sees RBAC changes through a watch, a moment after they are written). Returns the
/// rows that still differ, so every configuration's differences are reported together.
fn check_table(cluster: &Cluster, config: &str, answer: impl Fn(&Row) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pending: Vec<&Row> = TABLE.iter().collect();
    loop {
        pending.retain(|row| can_i(cluster, row.0, row.1, row.2) != answer(row));
        if pending.is_empty() {
            return Vec::new();
        }
        if Instant::now() > deadline {
            return pending
                .iter()
                .map(|row| {
                    format!(
                        "  {config}: can-i {} {} in {}: expected {}",
                        row.0,
                        row.1,
                        row.2,
                        yes_no(answer(row))
                    )
                })
                .collect();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What `veloxide install --dry-run -o yaml` prints (into namespace `velero`), run in `dir`.
fn install_dry_run(dir: &Path) -> String {
    install_dry_run_with(dir, &[])
}

/// The same with `extra` flags.
fn install_dry_run_with(dir: &Path, extra: &[&str]) -> String {
    let credentials = dir.join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key=not-a-real-key\n",
    )
    .unwrap();
    let install = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["install", "--provider", "aws", "--bucket", "velero-backups"])
        .arg("--secret-file")
        .arg(&credentials)
        .args(["--dry-run", "-o", "yaml"])
        .args(extra)
        .env("KUBECONFIG", dir.join("no-cluster"))
        .env_remove("VELERO_NAMESPACE")
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "veloxide install --dry-run: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    String::from_utf8(install.stdout).unwrap()
}

/// The RBAC objects (and the ServiceAccount) of a rendered or printed manifest.
pub(crate) fn rbac_only(yaml: &str) -> Vec<Value> {
    e2e::manifests::yaml_docs(yaml)
        .unwrap()
        .into_iter()
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some(
                    "ServiceAccount"
                        | "Role"
                        | "RoleBinding"
                        | "ClusterRole"
                        | "ClusterRoleBinding"
                )
            )
        })
        .collect()
}

pub(crate) fn to_yaml(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_norway::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Deletes every object of `docs`, so the next configuration starts from nothing.
async fn delete_all(client: &kube::Client, docs: &[Value]) {
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for doc in docs {
        let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        let gvk = kube::core::GroupVersionKind::try_from(obj.types.as_ref().unwrap()).unwrap();
        let (resource, caps) = discovery.resolve_gvk(&gvk).unwrap();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                obj.metadata.namespace.as_deref().unwrap(),
                &resource,
            ),
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        api.delete(
            obj.metadata.name.as_deref().unwrap(),
            &DeleteParams::default(),
        )
        .await
        .unwrap();
    }
}

/// The three snapshot.storage.k8s.io kinds, with any content.
fn snapshot_crds() -> String {
    [
        ("volumesnapshots", "VolumeSnapshot", "Namespaced"),
        ("volumesnapshotcontents", "VolumeSnapshotContent", "Cluster"),
        ("volumesnapshotclasses", "VolumeSnapshotClass", "Cluster"),
    ]
    .iter()
    .map(|(plural, kind, scope)| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
             metadata: {{name: {plural}.snapshot.storage.k8s.io, labels: {{rbac-test: snapshots}}, \
             annotations: {{api-approved.kubernetes.io: \"https://github.com/kubernetes-csi/external-snapshotter/pull/814\"}}}}\n\
             spec:\n  group: snapshot.storage.k8s.io\n  scope: {scope}\n\
             \x20 names: {{plural: {plural}, kind: {kind}}}\n\
             \x20 versions: [{{name: v1, served: true, storage: true, schema: {{openAPIV3Schema: \
             {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}}}]\n---\n"
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_identity_may_do_what_the_table_says_and_no_more() {
    let cluster = Cluster::start().expect("the control plane starts");
    let client = cluster.client().await.unwrap();
    let crds = e2e::manifests::repo().join("crds").display().to_string();
    for args in [
        vec!["create", "namespace", NS],
        vec!["apply", "-f", &crds],
        vec![
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "-f",
            &crds,
        ],
    ] {
        let out = kubectl(&cluster, &args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The snapshot kinds' rows need the API server to serve them (kubectl asks discovery): a
    // stand-in CRD each, as the external-snapshotter's CRDs name them.
    let out = cluster
        .kubectl(&["apply", "-f", "-"], Some(&snapshot_crds()))
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd",
            "-l",
            "rbac-test=snapshots",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let install = install_dry_run(cluster.dir());
    let configs: Vec<Config> = vec![
        (
            "the chart's default values",
            e2e::manifests::chart_rbac(NS, &[]).unwrap(),
            |r| r.3,
        ),
        (
            "the chart with rbac.secretsScope=cluster",
            e2e::manifests::chart_rbac(NS, &["rbac.secretsScope=cluster"]).unwrap(),
            |r| r.4,
        ),
        ("veloxide install --dry-run -o yaml", install, |r| r.5),
    ];
    let mut wrong = Vec::new();
    for (config, yaml, answer) in configs {
        let docs = rbac_only(&yaml);
        assert!(
            docs.iter().any(|d| d["kind"] == "ClusterRoleBinding"),
            "{config}: no RBAC in\n{yaml}"
        );
        e2e::manifests::apply(&client, &to_yaml(&docs))
            .await
            .unwrap();
        let c = &cluster;
        wrong.extend(tokio::task::block_in_place(|| {
            check_table(c, config, answer)
        }));
        delete_all(&client, &docs).await;
        // Wait until the authorizer has seen the deletion (a row every configuration grants
        // answers no), so no answer for the next configuration comes from this one's rules.
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::task::block_in_place(|| {
            can_i(c, "get", "backupstoragelocations.velero.io", "velero")
        }) {
            assert!(
                Instant::now() < deadline,
                "{config}: still granted 20 s after its RBAC was deleted"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    assert!(
        wrong.is_empty(),
        "answers differ from the table:\n{}",
        wrong.join("\n")
    );
}

/// `veloxide install` writes the chart's RBAC by hand in src/cli/install/manifests/rbac.rs
/// and hooks.rs: for the chart's default values, and for each way of enabling hooks with the
/// flags that mirror them, the same objects, and rule for rule the same grants; and the
/// server's Deployment gets `--hooks-enabled` exactly when the chart's does.
#[test]
fn install_grants_what_the_chart_grants_with_its_default_values() {
    let dir = tempfile::tempdir().unwrap();
    let configs: [(&[&str], &[&str]); 3] = [
        (&[], &[]),
        (
            &["hooks.enabled=true", "hooks.namespaces={app,db}"],
            &["--hooks-enabled", "--hooks-namespaces=app,db"],
        ),
        (
            &["hooks.enabled=true", "hooks.clusterWide=true"],
            &["--hooks-enabled", "--hooks-cluster-wide"],
        ),
    ];
    for (values, flags) in configs {
        let printed = install_dry_run_with(dir.path(), flags);
        same_rbac(
            &format!("{values:?} / {flags:?}"),
            &rbac_only(&e2e::manifests::chart_rbac(NS, values).unwrap()),
            &rbac_only(&printed),
        );
        let deployment = e2e::manifests::yaml_docs(&printed)
            .unwrap()
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("install prints a Deployment");
        let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert_eq!(
            args.contains("\"--hooks-enabled\""),
            !flags.is_empty(),
            "{flags:?}: {args}"
        );
    }
    // Enabled with nowhere to exec is refused, as the chart refuses it.
    let refused = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args([
            "install",
            "--provider",
            "aws",
            "--bucket",
            "b",
            "--secret-file",
        ])
        .arg(dir.path().join("credentials"))
        .args(["--dry-run", "--hooks-enabled"])
        .env("KUBECONFIG", dir.path().join("no-cluster"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--hooks-namespaces"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The same objects (by kind, namespace and name) with the same roleRef, subjects and rules.
pub(crate) fn same_rbac(what: &str, chart: &[Value], install: &[Value]) {
    let id = |d: &Value| {
        format!(
            "{}/{}/{}",
            d["kind"].as_str().unwrap(),
            d["metadata"]["namespace"].as_str().unwrap_or("-"),
            d["metadata"]["name"].as_str().unwrap()
        )
    };
    let ids = |docs: &[Value]| docs.iter().map(id).collect::<Vec<_>>();
    let mut chart_ids = ids(chart);
    let mut install_ids = ids(install);
    chart_ids.sort();
    install_ids.sort();
    assert_eq!(
        install_ids, chart_ids,
        "{what}: install's RBAC objects vs the chart's"
    );
    for c in chart {
        let i = install.iter().find(|i| id(i) == id(c)).unwrap();
        let name = id(c);
        for field in ["roleRef", "subjects"] {
            assert_eq!(
                i[field], c[field],
                "{what}: {name}: {field} (install, then chart)"
            );
        }
        let rules = |d: &Value| d["rules"].as_array().cloned().unwrap_or_default();
        let (from_install, from_chart) = (rules(i), rules(c));
        for (n, (a, b)) in from_install.iter().zip(&from_chart).enumerate() {
            assert_eq!(
                a, b,
                "{what}: {name}: rule {n} differs (install, then chart)"
            );
        }
        assert_eq!(
            from_install.len(),
            from_chart.len(),
            "{what}: {name}: install has {} rules, the chart {}; the first not in both: {:?}",
            from_install.len(),
            from_chart.len(),
            from_install
                .get(from_chart.len())
                .or(from_chart.get(from_install.len()))
        );
    }
}

/// The exec right hooks need, by the chart's `hooks` values: verb, resource, namespace, then the
/// answer with `hooks.enabled=true,hooks.namespaces={app}` and with `hooks.clusterWide=true`.
/// (Hooks off, the default, grants neither: the main table's `pods/exec` rows.)
const HOOKS_TABLE: &[(&str, &str, &str, bool, bool)] = &[
    ("create", "pods/exec", "app", true, true),
    ("get", "pods/exec", "app", true, true),
    ("create", "pods/exec", "other", false, true),
    ("create", "pods/attach", "app", false, false),
    ("create", "pods/portforward", "app", false, false),
    ("delete", "pods", "app", false, false),
];

/// The README's hooks table, as rows of cells.
fn readme_hooks_table() -> Vec<Vec<String>> {
    let path = e2e::manifests::repo().join("charts/veloxide/README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let section = text
        .split("### What hooks add")
        .nth(1)
        .expect("charts/veloxide/README.md has the section \"What hooks add\"");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| verb |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_documents_the_hooks_table() {
    let want: Vec<Vec<String>> = HOOKS_TABLE
        .iter()
        .map(|(verb, resource, ns, listed, wide)| {
            vec![
                verb.to_string(),
                resource.to_string(),
                ns.to_string(),
                yes_no(*listed).into(),
                yes_no(*wide).into(),
            ]
        })
        .collect();
    assert_eq!(readme_hooks_table(), want);
}

/// `hooks.enabled` grants pods/exec only in `hooks.namespaces`, or everywhere with
/// `hooks.clusterWide`, and `veloxide install`'s `--hooks-*` flags the same; nothing more on
/// pods; and a chart asking for hooks with neither is refused at render time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_get_the_exec_right_only_where_the_chart_says() {
    let refused = e2e::manifests::chart_rbac(NS, &["hooks.enabled=true"]).unwrap_err();
    assert!(
        format!("{refused:#}").contains("hooks.namespaces"),
        "{refused:#}"
    );
    let cluster = Cluster::start().expect("the control plane starts");
    let client = cluster.client().await.unwrap();
    for ns in [NS, "app", "other"] {
        let out = kubectl(&cluster, &["create", "namespace", ns]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    type Answer = fn(&(&str, &str, &str, bool, bool)) -> bool;
    let chart = |values: &[&str]| e2e::manifests::chart_rbac(NS, values).unwrap();
    let install = |flags: &[&str]| install_dry_run_with(cluster.dir(), flags);
    // The chart's values, then `veloxide install`'s flags that mirror them.
    let configs: [(&str, String, Answer); 4] = [
        (
            "hooks.namespaces={app}",
            chart(&["hooks.enabled=true", "hooks.namespaces={app}"]),
            |r| r.3,
        ),
        (
            "hooks.clusterWide=true",
            chart(&["hooks.enabled=true", "hooks.clusterWide=true"]),
            |r| r.4,
        ),
        (
            "install --hooks-namespaces=app",
            install(&["--hooks-enabled", "--hooks-namespaces=app"]),
            |r| r.3,
        ),
        (
            "install --hooks-cluster-wide",
            install(&["--hooks-enabled", "--hooks-cluster-wide"]),
            |r| r.4,
        ),
    ];
    for (values, yaml, answer) in configs {
        let docs = rbac_only(&yaml);
        e2e::manifests::apply(&client, &to_yaml(&docs))
            .await
            .unwrap();
        let c = &cluster;
        tokio::task::block_in_place(|| {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut pending: Vec<_> = HOOKS_TABLE.iter().collect();
            loop {
                pending.retain(|r| can_i(c, r.0, r.1, r.2) != answer(r));
                if pending.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{values:?}: these answers differ from the table: {pending:?}"
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        delete_all(&client, &docs).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::task::block_in_place(|| can_i(c, "create", "pods/exec", "app")) {
            assert!(Instant::now() < deadline, "{values:?}: still granted");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
