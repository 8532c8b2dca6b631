use super::*;
use crate::backup::archive::{ArchiveWriter, ItemRef};

#[test]
fn entries_map_to_items_and_unsafe_paths_do_not() {
    assert_eq!(
        item_of("resources/configmaps/namespaces/app/settings.json"),
        Some(("configmaps".into(), Some("app".into()), "settings".into()))
    );
    assert_eq!(
        item_of("resources/namespaces/cluster/app.json"),
        Some(("namespaces".into(), None, "app".into()))
    );
    for skipped in [
        "resources/configmaps/v1-preferredversion/namespaces/app/settings.json",
        "resources/configmaps/namespaces/../x.json",
        "resources/configmaps/namespaces/app/settings.yaml",
        "metadata/version",
        "resources//cluster/a.json",
    ] {
        assert_eq!(item_of(skipped), None, "{skipped}");
    }
}

#[tokio::test]
async fn an_archive_written_by_backups_spools_back() {
    let mut writer = ArchiveWriter::new(Vec::new(), 0).unwrap();
    let item = ItemRef {
        group_resource: "configmaps",
        version: "v1",
        namespace: Some("app"),
        name: "a",
    };
    writer.add_item(&item, br#"{"kind":"ConfigMap"}"#).unwrap();
    let ns = ItemRef {
        group_resource: "namespaces",
        version: "v1",
        namespace: None,
        name: "app",
    };
    writer.add_item(&ns, br#"{"kind":"Namespace"}"#).unwrap();
    let bytes = writer.finish().unwrap();
    let spool = spool(std::io::Cursor::new(bytes), Limits::default())
        .await
        .unwrap();
    assert_eq!(spool.format_version.as_deref(), Some("1.1.0"));
    assert_eq!(spool.items.len(), 2);
    assert_eq!(spool.items[0].read().unwrap(), br#"{"kind":"ConfigMap"}"#);
    assert_eq!(spool.items[1].namespace, None);
}

#[tokio::test]
async fn a_truncated_archive_is_an_error() {
    let mut writer = ArchiveWriter::new(Vec::new(), 0).unwrap();
    let item = ItemRef {
        group_resource: "configmaps",
        version: "v1",
        namespace: Some("app"),
        name: "a",
    };
    writer.add_item(&item, &[b'x'; 4096]).unwrap();
    let bytes = writer.finish().unwrap();
    let cut = bytes[..bytes.len() / 2].to_vec();
    assert!(
        spool(std::io::Cursor::new(cut), Limits::default())
            .await
            .is_err()
    );
}

/// A tar.gz of `entries` (path, bytes), written by hand as a crafted archive would be.
fn crafted(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

async fn refused(bytes: Vec<u8>, limits: Limits) -> String {
    let err = spool(std::io::Cursor::new(bytes), limits)
        .await
        .err()
        .expect("over a bound");
    over_bound(&err).expect("an OverBound error").0.clone()
}

#[tokio::test]
async fn every_bound_stops_the_spool_and_names_itself() {
    let small = Limits {
        item_bytes: 1000,
        spool_bytes: 3 * 4096 - 1,
        expanded_bytes: 64 * 1024,
        entries: 5,
        files: 1000,
        path_bytes: 100,
        header_bytes: 512,
    };
    let item = |i: usize| format!("resources/configmaps/namespaces/app/c{i}.json");
    let kib = vec![b'x'; 900];
    // One item over the item bound.
    let big = vec![b'x'; 1001];
    let message = refused(crafted(&[(&item(0), &big)]), small).await;
    assert!(
        message.contains("over the bound of 1000 bytes for one item"),
        "{message}"
    );
    // Items together over the spool.
    let three: Vec<(String, &[u8])> = (0..3).map(|i| (item(i), kib.as_slice())).collect();
    let refs: Vec<(&str, &[u8])> = three.iter().map(|(p, d)| (p.as_str(), *d)).collect();
    let message = refused(crafted(&refs), small).await;
    assert!(message.contains("restore spool's 12287 bytes"), "{message}");
    // Too many entries, even tiny and not items.
    let many: Vec<(String, &[u8])> = (0..6).map(|i| (format!("x/{i}"), b"".as_slice())).collect();
    let refs: Vec<(&str, &[u8])> = many.iter().map(|(p, d)| (p.as_str(), *d)).collect();
    let message = refused(crafted(&refs), small).await;
    assert!(message.contains("more than 5 entries"), "{message}");
    // A long path.
    let long = format!(
        "resources/configmaps/namespaces/app/{}.json",
        "n".repeat(100)
    );
    let message = refused(crafted(&[(&long, b"{}")]), small).await;
    assert!(message.contains("over the bound of 100 bytes"), "{message}");
    // A gzip bomb: 1 MiB of zeros in a non-item entry, a few KiB compressed.
    let zeros = vec![0u8; 1024 * 1024];
    let bomb = crafted(&[("padding/zeros", &zeros)]);
    assert!(bomb.len() < 8 * 1024, "{}", bomb.len());
    let message = refused(bomb, small).await;
    assert!(
        message.contains("expands to more than 65536 bytes"),
        "{message}"
    );
    // Within every bound, it spools.
    let ok = crafted(&[(&item(0), &kib), (&item(1), &kib)]);
    let spooled = spool(std::io::Cursor::new(ok), small).await.unwrap();
    assert_eq!(spooled.items.len(), 2);
}

/// The bounds that hold in memory, not only on disk: extension headers are bounded before they
/// are read, tiny items cost whole blocks, and the number of files is bounded.
#[tokio::test]
async fn headers_blocks_and_files_are_bounded() {
    let small = Limits {
        item_bytes: 1000,
        spool_bytes: 2 * BLOCK_BYTES,
        expanded_bytes: 64 << 20,
        entries: 100,
        files: 3,
        path_bytes: 1024,
        header_bytes: 512,
    };
    let item = |i: usize| format!("resources/configmaps/namespaces/app/c{i}.json");
    // Three one-byte items: 3 bytes, but three blocks on disk.
    let tiny: Vec<(String, &[u8])> = (0..3).map(|i| (item(i), b"x".as_slice())).collect();
    let refs: Vec<(&str, &[u8])> = tiny.iter().map(|(p, d)| (p.as_str(), *d)).collect();
    let message = refused(crafted(&refs), small).await;
    assert!(message.contains("whole 4096-byte blocks"), "{message}");
    // Four items: over the files bound, whatever the room.
    let roomy = Limits {
        spool_bytes: 1 << 30,
        ..small
    };
    let four: Vec<(String, &[u8])> = (0..4).map(|i| (item(i), b"x".as_slice())).collect();
    let refs: Vec<(&str, &[u8])> = four.iter().map(|(p, d)| (p.as_str(), *d)).collect();
    let message = refused(crafted(&refs), roomy).await;
    assert!(message.contains("more than 3 items"), "{message}");
    // A GNU long name over the header bound (the tar crate writes one for a long path).
    let long = format!(
        "resources/configmaps/namespaces/app/{}.json",
        "n".repeat(600)
    );
    let message = refused(crafted(&[(&long, b"{}")]), roomy).await;
    assert!(
        message.contains("GNU long-name header of 642 bytes, over the bound of 512"),
        "{message}"
    );
    // PAX headers: one over the bound is refused before it is read; one within names the item.
    let pax = |path: &[u8]| {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut tar = tar::Builder::new(gz);
        tar.append_pax_extensions([("path", path)]).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, "short-name", &b"{}"[..])
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    };
    let message = refused(pax(&[b'p'; 600]), roomy).await;
    assert!(message.contains("PAX header of"), "{message}");
    let named = spool(
        std::io::Cursor::new(pax(b"resources/configmaps/namespaces/app/from-pax.json")),
        roomy,
    )
    .await
    .unwrap();
    assert_eq!(named.items.len(), 1);
    assert_eq!(named.items[0].name, "from-pax");
    // Within the bounds: a long name the header bound admits spools under that name.
    let ok_long = format!(
        "resources/configmaps/namespaces/app/{}.json",
        "n".repeat(200)
    );
    let spooled = spool(std::io::Cursor::new(crafted(&[(&ok_long, b"{}")])), roomy)
        .await
        .unwrap();
    assert_eq!(spooled.items[0].name, "n".repeat(200));
}

/// A restore of 100,000 items leaves 100,000 files to delete. Deleted where the spool is
/// dropped, on a runtime worker, they held that worker for many seconds, and the lease
/// renewal waiting behind it missed its window: the server stopped leading and failed its own
/// finished restore (`make bench-scale`'s 100,000-object restore, twice). The drop hands the
/// directory to a blocking thread and returns at once.
#[tokio::test(flavor = "current_thread")]
async fn dropping_a_spool_does_not_delete_its_files_on_the_runtime() {
    let dir = tempfile::Builder::new()
        .prefix("veloxide-restore-")
        .tempdir()
        .unwrap();
    let path = dir.path().to_owned();
    for n in 0..20_000 {
        std::fs::write(file_of(&path, n), b"{}").unwrap();
    }
    let spool = Spool {
        _dir: dir.into(),
        items: Vec::new(),
        format_version: None,
    };
    drop(spool);
    // Still there: nothing was deleted on this (the only) runtime thread.
    assert!(
        path.exists(),
        "the spool's 20,000 files were deleted inline, on the runtime"
    );
    // And gone soon after, from the blocking thread.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the spool directory was never deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
