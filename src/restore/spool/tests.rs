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
        spool_bytes: 2500,
        expanded_bytes: 64 * 1024,
        entries: 5,
        path_bytes: 100,
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
    assert!(message.contains("restore spool's 2500 bytes"), "{message}");
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
