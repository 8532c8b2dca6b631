//! Archive bombs against the server's memory, not only its disk: each planted archive costs a
//! few MiB in the bucket and would make the server hold far more than its chart memory limit
//! (256 MiB) if a bound held only on disk. After each restore the server's peak RSS (VmHWM)
//! must be under the limit, the restore Failed (or its items refused) naming the bound, and the
//! server still serving:
//! - a GNU long-name header of 900 MiB (the tar crate reads one whole before any check);
//! - a PAX header of 900 MiB (the same);
//! - 70,000 one-byte items: 70 KB by bytes, 273 MiB of 4 KiB blocks (and files) in the spool;
//! - 16 items of 3 MiB of dense JSON (`{}` after `{}`), each some 700 MiB as a parsed value,
//!   created 16 at a time.

use crate::backup_support;
use crate::restore_support;
use crate::server_support;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use backup_support::*;
use restore_support::*;
use serde_json::json;
use server_support::{Server, World};
use veloxide::api::RestorePhase;

/// The chart's `resources.limits.memory`.
const CHART_LIMIT: u64 = 256 << 20;

/// A tar.gz of one extension header (`kind`) whose body is `size` zero bytes, then one small
/// item: written as a stream, never held.
fn header_bomb(kind: tar::EntryType, size: u64) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_path("././@LongLink").unwrap();
    header.set_cksum();
    tar.append(&header, std::io::repeat(0).take(size)).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// The server's peak resident set so far, from /proc.
fn peak_rss(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_bombs_stay_under_the_chart_memory_limit() {
    let world = World::start().await;
    create(
        &world,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}),
    )
    .await;
    let server = Server::start_logged(
        &world.server_kubeconfig,
        "server-a",
        "info",
        Stdio::inherit(),
        &["--restore-spool-limit", "256Mi"],
    );
    server.wait_ready().await;
    world
        .create_available_location("plain", json!({}), json!({}))
        .await;
    let tiny: Vec<(String, Vec<u8>)> = (0..70_000)
        .map(|i| {
            (
                format!("resources/configmaps/namespaces/app/t{i}.json"),
                b"x".to_vec(),
            )
        })
        .collect();
    let dense = |i: usize| {
        let padding = "{},".repeat(1_000_000);
        (
            format!("resources/configmaps/namespaces/app/dense-{i}.json"),
            format!(
                r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"dense-{i}"}},"padding":[{padding}{{}}]}}"#
            )
            .into_bytes(),
        )
    };
    let bombs: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "long-name",
            header_bomb(tar::EntryType::GNULongName, 900 << 20),
            "GNU long-name header of 943718400 bytes",
        ),
        (
            "pax",
            header_bomb(tar::EntryType::XHeader, 900 << 20),
            "PAX header of 943718400 bytes",
        ),
        ("tiny", crafted_archive(&tiny), "4096-byte blocks"),
        (
            "dense",
            crafted_archive(&(0..16).map(dense).collect::<Vec<_>>()),
            "times an item's size",
        ),
    ];
    let mut figures = Vec::new();
    let mut failures = Vec::new();
    for (name, archive, says) in bombs {
        let compressed = archive.len();
        backed_up(
            &world,
            name,
            json!({"includedNamespaces": ["app"], "storageLocation": "plain"}),
            Duration::from_secs(60),
        )
        .await;
        plant_archive(&world, "plain", name, archive).await;
        let restore = format!("r-{name}");
        create_restore(&world, &restore, json!({"backupName": name})).await;
        let ended = wait_restore_ended(&world, &restore).await;
        let status = serde_json::to_string(&ended.status).unwrap();
        // A restore still running after a minute has no results file yet.
        let results = if ended.phase().is_terminal() {
            restore_results(&world, "plain", &restore).to_string()
        } else {
            String::new()
        };
        let peak = peak_rss(&server);
        let figure = format!(
            "{name}: {compressed} bytes in the bucket, phase {:?}, server peak RSS {} MiB",
            ended.phase(),
            peak >> 20
        );
        eprintln!("{figure}");
        figures.push(figure);
        if !(status.contains(says) || results.contains(says)) {
            failures.push(format!(
                "{name}: the bound is named ({says}): {status} {results}"
            ));
        }
        if name != "dense" && ended.phase() != RestorePhase::Failed {
            failures.push(format!("{name}: the restore fails: {status}"));
        }
        if peak >= CHART_LIMIT {
            failures.push(format!("{name}: peak RSS {} MiB", peak >> 20));
        }
        if !server.ready().await {
            failures.push(format!("{name}: the server stopped serving"));
            break;
        }
    }
    println!("{}", figures.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        figures.join("\n")
    );
}
