//! The everyday command line, the real binary against the real control plane (kube-apiserver,
//! kube-controller-manager, etcd; `World::start`):
//! - `restore get` and `backup-location get` print Velero's column headers, `-o json` parses,
//!   `--selector` filters, and the verb-first forms print the same as the noun-first ones;
//! - `restore delete` and `backup-location delete` refuse without `--confirm` when stdin is not
//!   a terminal (exit 2) and delete what was chosen, nothing else;
//! - `backup-location create` refuses a location with the admission parser's own message before
//!   anything is sent, stores `--cacert` in a Secret named by `caCertRef` (never inline), and
//!   `set` keeps one default;
//! - the global `-n`, `--kubeconfig`, `--context`, `$VELOXIDE_NAMESPACE` and `$VELERO_NAMESPACE`;
//!   `version` reads the server's from its Deployment; usage mistakes exit 2;
//! - `completion bash`, sourced in bash, completes `veloxide ba<TAB>`;
//! - `backup create --wait` shows progress as one updating line under a pseudo-terminal
//!   (`script`), as plain lines otherwise;
//! - `uninstall` waits for the server to stop, then removes what install makes, CRDs with
//!   `--crds`, and every object in the bucket is still there afterwards.

use crate::backup_support;
use crate::server_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use backup_support::{backups, create, create_widget_crd, create_workload, list_keys};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use server_support::{NS, World};
use veloxide::api::{BackupStorageLocation, Restore};
use veloxide::location::LocationConfig;

/// `veloxide ARGS` with KUBECONFIG at the world's API server, no terminal on stdin, and no
/// namespace variables unless `env` sets them.
fn run(world: &World, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veloxide"));
    cmd.args(args)
        .env("KUBECONFIG", world.kubeconfig())
        .env_remove("VELERO_NAMESPACE")
        .env_remove("VELOXIDE_NAMESPACE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("veloxide runs")
}

fn veloxide(world: &World, args: &[&str]) -> Output {
    run(world, args, &[])
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A table's header cells (split on kubectl's runs of 3+ spaces).
fn header(table: &str) -> Vec<String> {
    cells(table.lines().next().unwrap_or_default())
}

fn cells(line: &str) -> Vec<String> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

async fn put_restore(world: &World, name: &str, labels: Value) {
    let restore: Restore = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"backupName": "nightly"},
    }))
    .unwrap();
    Api::<Restore>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &restore)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_listed_and_deleted_as_velero_does() {
    let world = World::start().await;
    let out = veloxide(&world, &["restore", "get"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("No restores found in namespace velero."));

    put_restore(&world, "r1", json!({"app": "a"})).await;
    put_restore(&world, "r2", json!({"app": "b"})).await;
    let out = veloxide(&world, &["restore", "get"]);
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    // Velero's restore_printer.go columns.
    assert_eq!(
        header(&table),
        [
            "NAME",
            "BACKUP",
            "STATUS",
            "STARTED",
            "COMPLETED",
            "ERRORS",
            "WARNINGS",
            "CREATED",
            "SELECTOR"
        ],
        "{table}"
    );
    let row = cells(table.lines().nth(1).unwrap());
    assert_eq!(
        row[..5],
        ["r1", "nightly", "New", "<nil>", "<nil>"],
        "{table}"
    );
    // The verb-first form is the same command.
    let verb_first = veloxide(&world, &["get", "restores"]);
    assert_eq!(verb_first.stdout, out.stdout);

    let list = json_of(&veloxide(&world, &["restore", "get", "-o", "json"]));
    assert_eq!(list["kind"], "RestoreList");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let one = json_of(&veloxide(
        &world,
        &["get", "restore", "-l", "app=a", "-o", "json"],
    ));
    assert_eq!(
        (one["kind"].as_str(), one["metadata"]["name"].as_str()),
        (Some("Restore"), Some("r1"))
    );
    let yaml = veloxide(&world, &["restore", "get", "r2", "-o", "yaml"]);
    let parsed: Value = serde_norway::from_slice(&yaml.stdout).unwrap();
    assert_eq!(parsed["spec"]["backupName"], "nightly");
    let missing = veloxide(&world, &["restore", "get", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).contains("restore \"nope\" not found in namespace velero"));

    // Flag values that do not parse are usage errors wherever they are found.
    for bad in [
        &[
            "restore",
            "create",
            "--from-backup",
            "b",
            "--namespace-mappings",
            "nocolon",
        ][..],
        &["backup", "create", "b", "--labels", "novalue"],
        &["backup", "create", "b", "--selector", "a in (x"],
    ] {
        let out = veloxide(&world, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }

    // Refusals: no way chosen, or no --confirm without a terminal (both usage, exit 2).
    let out = veloxide(&world, &["restore", "delete"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "you must specify exactly one of: specific restore name(s), the --all flag, or the --selector flag"
        ),
        "{}",
        text(&out)
    );
    let out = veloxide(&world, &["restore", "delete", "r1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("refusing without --confirm"),
        "{}",
        text(&out)
    );
    let out = veloxide(&world, &["restore", "delete", "r1", "--all", "--confirm"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = veloxide(
        &world,
        &["restore", "delete", "--selector", "app in (a", "--confirm"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let names = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_else(|| {
                vec![
                    v["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ]
            })
    };
    assert_eq!(
        names(json_of(&veloxide(
            &world,
            &["restore", "get", "-o", "json"]
        ))),
        ["r1", "r2"]
    );

    // By selector: r1 only.
    let out = veloxide(
        &world,
        &["restore", "delete", "--selector", "app=a", "--confirm"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Request to delete restore \"r1\" submitted successfully."));
    assert_eq!(
        names(json_of(&veloxide(
            &world,
            &["restore", "get", "-o", "json"]
        ))),
        ["r2"]
    );
    // Verb-first, --all.
    let out = veloxide(&world, &["delete", "restores", "--all", "--confirm"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = veloxide(&world, &["restore", "get", "-o", "json"]);
    assert_eq!(json_of(&out)["items"], json!([]));
    let out = veloxide(&world, &["restore", "delete", "gone", "--confirm"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

/// Steps on one world, in order (each relies on the locations the earlier ones left), each a
/// function named for what it checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_created_set_listed_and_deleted() {
    let world = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, world.moto.pki.ca.cert_pem()).unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let ca = ca.to_str().unwrap();
    let s3 = format!(
        "region=us-east-1,s3Url={},s3ForcePathStyle=true",
        world.moto.url()
    );

    a_bad_location_is_refused_offline_and_o_prints_without_creating(&world, &s3, &garbage).await;
    created_with_its_cacert_in_a_secret_it_owns(&world, &s3, ca).await;
    one_default_and_set_cacert(&world, &s3, ca, &garbage).await;
    get_prints_velero_s_columns(&world).await;
    delete_needs_confirm_and_removes_only_the_named(&world).await;
    global_options_choose_namespace_kubeconfig_and_context(&world).await;
    usage_mistakes_exit_2(&world).await;
    version_of_the_client_then_the_server(&world).await;
}

/// Refused offline with the parser's own message (nothing reaches the API server); `-o` prints
/// the location without creating it; an unreadable `--cacert` is refused.
async fn a_bad_location_is_refused_offline_and_o_prints_without_creating(
    world: &World,
    s3: &str,
    garbage: &Path,
) {
    let bad = [
        "backup-location",
        "create",
        "bad",
        "--provider",
        "aws",
        "--bucket",
        "b",
        "--config",
        "region=us-east-1,serverSideEncryption=bogus",
    ];
    let out = veloxide(world, &bad);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let spec: BackupStorageLocation = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": "bad"},
        "spec": {"provider": "aws", "objectStorage": {"bucket": "b"},
                 "accessMode": "ReadWrite",
                 "config": {"region": "us-east-1", "serverSideEncryption": "bogus"}},
    }))
    .unwrap();
    let message = LocationConfig::from_spec(&spec.spec)
        .unwrap_err()
        .to_string();
    assert!(
        text(&out).contains(&message),
        "{} lacks {message}",
        text(&out)
    );
    assert!(world.locations().get_opt("bad").await.unwrap().is_none());
    // --dry-run style -o: the location, not created.
    let printed = veloxide(
        world,
        &[
            "create",
            "backup-location",
            "dr",
            "--provider",
            "aws",
            "--bucket",
            "velero-backups",
            "--config",
            s3,
            "-o",
            "json",
        ],
    );
    assert_eq!(
        json_of(&printed)["spec"]["objectStorage"]["bucket"],
        "velero-backups"
    );
    assert!(world.locations().get_opt("dr").await.unwrap().is_none());
    let out = veloxide(
        world,
        &[
            "backup-location",
            "create",
            "dr",
            "--provider",
            "aws",
            "--bucket",
            "velero-backups",
            "--cacert",
            garbage.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--cacert"), "{}", text(&out));
}

/// Created: `--cacert` in a Secret the location names, owned by it; never inline.
async fn created_with_its_cacert_in_a_secret_it_owns(world: &World, s3: &str, ca: &str) {
    let out = veloxide(
        world,
        &[
            "backup-location",
            "create",
            "dr",
            "--provider",
            "aws",
            "--bucket",
            "velero-backups",
            "--prefix",
            "dr",
            "--config",
            s3,
            "--credential",
            "cloud-credentials=cloud",
            "--cacert",
            ca,
            "--default",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Backup storage location \"dr\" configured successfully."));
    let dr = world.locations().get("dr").await.unwrap();
    let storage = &dr.spec.object_storage;
    assert_eq!(storage.ca_cert, None);
    let reference = storage.ca_cert_ref.clone().unwrap();
    assert_eq!(
        (reference.name.as_deref(), reference.key.as_deref()),
        (Some("dr-ca-cert"), Some("ca-bundle.crt"))
    );
    let secret = Api::<Secret>::namespaced(world.client.clone(), NS)
        .get("dr-ca-cert")
        .await
        .unwrap();
    assert_eq!(
        secret.data.unwrap()["ca-bundle.crt"].0,
        world.moto.pki.ca.cert_pem()
    );
    let owner = &secret.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), Some(&owner.uid)),
        ("BackupStorageLocation", dr.metadata.uid.as_ref())
    );
    assert_eq!(dr.spec.default, Some(true));
}

/// One default: a second is refused, until the first is unset. `set --cacert`: the same
/// Secret scheme, an inline caCert removed.
async fn one_default_and_set_cacert(world: &World, s3: &str, ca: &str, garbage: &Path) {
    let other = [
        "backup-location",
        "create",
        "other",
        "--provider",
        "aws",
        "--bucket",
        "velero-backups",
        "--prefix",
        "other",
        "--config",
        s3,
        "--access-mode",
        "ReadOnly",
    ];
    let mut with_default = other.to_vec();
    with_default.push("--default");
    let out = veloxide(world, &with_default);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("there is already a default backup storage location (dr)"),
        "{}",
        text(&out)
    );
    assert!(veloxide(world, &other).status.success());
    let out = veloxide(world, &["backup-location", "set", "other", "--default"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        veloxide(world, &["backup-location", "set", "dr", "--default=false"])
            .status
            .success()
    );
    let out = veloxide(world, &["backup-location", "set", "other", "--default"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = veloxide(world, &["backup-location", "set", "other"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = veloxide(
        world,
        &[
            "backup-location",
            "set",
            "other",
            "--cacert",
            garbage.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // set --cacert: the same Secret scheme, an inline caCert removed.
    let out = veloxide(world, &["backup-location", "set", "other", "--cacert", ca]);
    assert!(out.status.success(), "{}", text(&out));
    let other_now = world.locations().get("other").await.unwrap();
    assert_eq!(
        other_now
            .spec
            .object_storage
            .ca_cert_ref
            .unwrap()
            .name
            .as_deref(),
        Some("other-ca-cert")
    );
}

/// get: Velero's columns, the default marked, -o json, --default, the verb-first form.
async fn get_prints_velero_s_columns(world: &World) {
    let out = veloxide(world, &["backup-location", "get"]);
    let table = text(&out);
    assert_eq!(
        header(&table),
        [
            "NAME",
            "PROVIDER",
            "BUCKET/PREFIX",
            "PHASE",
            "LAST VALIDATED",
            "ACCESS MODE",
            "DEFAULT"
        ],
        "{table}"
    );
    let rows: Vec<Vec<String>> = table.lines().skip(1).map(cells).collect();
    assert_eq!(
        rows[0],
        [
            "dr",
            "aws",
            "velero-backups/dr",
            "Unknown",
            "Unknown",
            "ReadWrite"
        ],
        "{table}"
    );
    assert_eq!(
        rows[1],
        [
            "other",
            "aws",
            "velero-backups/other",
            "Unknown",
            "Unknown",
            "ReadOnly",
            "true"
        ],
        "{table}"
    );
    assert_eq!(
        veloxide(world, &["get", "backup-locations"]).stdout,
        out.stdout
    );
    let list = json_of(&veloxide(world, &["backup-location", "get", "-o", "json"]));
    assert_eq!(list["kind"], "BackupStorageLocationList");
    let default = json_of(&veloxide(world, &["bsl", "get", "--default", "-o", "json"]));
    assert_eq!(default["metadata"]["name"], "other");
}

/// delete: refused without --confirm, then only the one named goes.
async fn delete_needs_confirm_and_removes_only_the_named(world: &World) {
    let out = veloxide(world, &["backup-location", "delete", "dr"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = veloxide(world, &["backup-location", "delete", "dr", "--confirm"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(world.locations().get_opt("dr").await.unwrap().is_none());
    assert!(world.locations().get_opt("other").await.unwrap().is_some());
}

/// Global options: -n before the subcommand, the variables, --kubeconfig, --context.
async fn global_options_choose_namespace_kubeconfig_and_context(world: &World) {
    let out = veloxide(world, &["-n", "elsewhere", "backup-location", "get"]);
    assert!(
        text(&out).contains("No backup storage locations found in namespace elsewhere."),
        "{}",
        text(&out)
    );
    let out = run(
        world,
        &["backup-location", "get"],
        &[("VELERO_NAMESPACE", "from-velero")],
    );
    assert!(
        text(&out).contains("namespace from-velero."),
        "{}",
        text(&out)
    );
    let out = run(
        world,
        &["backup-location", "get"],
        &[
            ("VELERO_NAMESPACE", "from-velero"),
            ("VELOXIDE_NAMESPACE", "from-veloxide"),
        ],
    );
    assert!(
        text(&out).contains("namespace from-veloxide."),
        "{}",
        text(&out)
    );
    let kubeconfig = world.kubeconfig().to_str().unwrap();
    let out = run(
        world,
        &[
            "--kubeconfig",
            kubeconfig,
            "bsl",
            "get",
            "other",
            "-o",
            "json",
        ],
        &[("KUBECONFIG", "/nonexistent")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = veloxide(world, &["bsl", "get", "--context", "no-such-context"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no-such-context"), "{}", text(&out));
}

/// Usage mistakes exit 2; --help documents the exit statuses.
async fn usage_mistakes_exit_2(world: &World) {
    let out = veloxide(world, &["backup-location", "get", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = veloxide(world, &["restore", "get", "-o", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    let help = text(&veloxide(world, &["--help"]));
    assert!(
        help.contains("Exit status:") && help.contains("2  usage"),
        "{help}"
    );
}

/// version: the client's, then the server's from its Deployment's image.
async fn version_of_the_client_then_the_server(world: &World) {
    let out = veloxide(world, &["version"]);
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "Client:\n\tVersion: {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{said}"
    );
    assert!(
        said.contains("<error getting server version: no Deployment veloxide"),
        "{said}"
    );
    create(
        world,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "veloxide", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "v"}},
                 "template": {"metadata": {"labels": {"app": "v"}},
                              "spec": {"containers": [{"name": "server", "image": "ghcr.io/veloxide/veloxide:9.9.1"}]}}}}),
    )
    .await;
    let said = text(&veloxide(world, &["version"]));
    assert!(said.contains("Server:\n\tVersion: 9.9.1"), "{said}");
    assert!(
        said.contains(
            "# WARNING: the client version does not match the server version. Please update client"
        ),
        "{said}"
    );
    let said = text(&veloxide(world, &["version", "--client-only"]));
    assert!(!said.contains("Server"), "{said}");
}

#[test]
fn bash_completion_completes_commands() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("veloxide.bash");
    let out = Command::new(env!("CARGO_BIN_EXE_veloxide"))
        .args(["completion", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |line: &str| -> Vec<String> {
        let driver = format!(
            r#"source {script}
fn=$(complete -p veloxide | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
"$fn" veloxide "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
            script = script.display()
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &driver])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut words: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        words.sort();
        words
    };
    assert_eq!(complete("veloxide ba"), ["backup", "backup-location"]);
    assert!(complete("veloxide backup-location cr").contains(&"create".to_owned()));
    assert!(complete("veloxide get ").contains(&"backup-locations".to_owned()));
}

/// Run the CLI under a pseudo-terminal (util-linux `script`), as a person at a terminal.
fn under_pty(world: &World, args: &[&str]) -> (bool, String) {
    let line = std::iter::once(env!("CARGO_BIN_EXE_veloxide"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("KUBECONFIG", world.kubeconfig())
        .env("TERM", "xterm-256color")
        .env_remove("VELERO_NAMESPACE")
        .env_remove("VELOXIDE_NAMESPACE")
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    (out.status.success(), text(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_shows_progress_and_uninstall_leaves_the_bucket_alone() {
    let world = World::start().await;
    create_widget_crd(&world).await;
    create_workload(&world, "shop", 40).await;
    let server = backup_support::serve_plain_location(&world, "default").await;

    // On a terminal: one line, redrawn in place, with items, rate, bytes and elapsed time.
    let (ok, said) = under_pty(
        &world,
        &[
            "backup",
            "create",
            "tty-1",
            "--include-namespaces",
            "shop",
            "--wait",
        ],
    );
    assert!(ok, "{said}");
    let items = backups(&world)
        .get("tty-1")
        .await
        .unwrap()
        .status
        .unwrap()
        .progress
        .unwrap();
    let done = items.items_backed_up.unwrap();
    assert!(done > 40, "{items:?}");
    assert!(items.bytes_uploaded.unwrap() > 0, "{items:?}");
    assert!(
        said.contains("\x1b["),
        "no terminal control sequences: {said:?}"
    );
    let last = format!("Completed: {done} of {done} items, ");
    assert!(
        said.contains(&last) && said.contains("uploaded") && said.contains("items/s"),
        "{said:?}"
    );
    // The final line stays, and what follows starts on a line of its own.
    assert!(
        said.lines()
            .any(|l| l.starts_with("Backup completed with status: Completed.")),
        "{said:?}"
    );

    // Not a terminal: plain lines, no control sequences, no carriage returns.
    let out = veloxide(
        &world,
        &[
            "create",
            "backup",
            "plain-1",
            "--include-namespaces",
            "shop",
            "--wait",
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains('\x1b') && !said.contains('\r'), "{said:?}");
    let progress_lines: Vec<&str> = said.lines().filter(|l| l.contains(" items, ")).collect();
    assert!(
        progress_lines
            .last()
            .is_some_and(|l| l.starts_with(&last) && l.ends_with("elapsed")),
        "{said}"
    );
    // describe of a finished backup shows no progress line, but its numbers.
    let said = text(&veloxide(&world, &["describe", "backup", "plain-1"]));
    assert!(
        said.contains(&format!("Items backed up:              {done}")),
        "{said}"
    );

    // A restore, so the bucket holds restore files too.
    let out = veloxide(
        &world,
        &[
            "restore",
            "create",
            "r-1",
            "--from-backup",
            "plain-1",
            "--wait",
        ],
    );
    assert!(
        text(&out).contains("Restore completed with status:"),
        "{}",
        text(&out)
    );
    let before = list_keys(&world, "");
    assert!(
        before
            .iter()
            .any(|k| k.starts_with("default/restores/r-1/")),
        "{before:?}"
    );

    // uninstall refuses to go on while a server leads (it would act on the deletions).
    let namespaces: Api<Namespace> = Api::all(world.client.clone());
    let label =
        json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "veloxide-install"}}});
    namespaces
        .patch(NS, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let out = veloxide(
        &world,
        &["uninstall", "--crds", "--force", "--timeout", "2s"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("a veloxide server still runs"),
        "{}",
        text(&out)
    );
    assert!(backups(&world).get_opt("tty-1").await.unwrap().is_some());
    // Without --force and no terminal: a usage error, nothing removed.
    let out = veloxide(&world, &["uninstall"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    server.terminate();
    let out = veloxide(&world, &["uninstall", "--crds", "--force"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("Nothing in any bucket was deleted."),
        "{said}"
    );
    assert!(namespaces.get_opt(NS).await.unwrap().is_none(), "{said}");
    let crds: Api<CustomResourceDefinition> = Api::all(world.client.clone());
    // Deleted; the API server removes a CRD once its objects are gone.
    backup_support::eventually(
        "the Backup CRD is gone",
        Duration::from_secs(60),
        || async { crds.get_opt("backups.velero.io").await.unwrap().is_none() },
    )
    .await;
    assert_eq!(list_keys(&world, ""), before, "the bucket changed");
}
