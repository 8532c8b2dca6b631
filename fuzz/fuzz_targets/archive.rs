//! Any bytes as a backup archive: the reader (gzip, tar, the restore's bounds) and, for every
//! item it spools, the item's JSON through the restore's preparation. An error or a refusal,
//! never a panic, and never an object placed anywhere but where its path says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veloxide::restore::Limits;
use veloxide::restore::apply::api_resource;
use veloxide::restore::parse::parse;
use veloxide::restore::prepare::{Place, Rules, prepare};
use veloxide::restore::spool::spool_blocking;

fuzz_target!(|data: &[u8]| {
    // Small bounds, so the fuzzer reaches them.
    let limits = Limits {
        item_bytes: 64 * 1024,
        spool_bytes: 256 * 1024,
        expanded_bytes: 1024 * 1024,
        entries: 256,
        files: 64,
        path_bytes: 512,
        header_bytes: 1024,
    };
    let Ok(spooled) = spool_blocking(data, limits) else {
        return;
    };
    let rules = Rules {
        namespace_mapping: [("app".to_owned(), "app-copy".to_owned())].into(),
        preserve_node_ports: false,
        backup: "b".into(),
        restore: "r".into(),
    };
    for item in &spooled.items {
        let bytes = item.read().expect("a spooled item reads back");
        assert!(bytes.len() as u64 <= limits.item_bytes);
        let Ok(mut object) = parse(&bytes) else {
            continue;
        };
        let place = Place {
            namespace: item.namespace.as_deref(),
            name: &item.name,
        };
        if prepare(&mut object, &rules, place).is_ok() {
            // Prepared: the object sits exactly where its path (mapped) says.
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(|v| v.as_str());
            let expected = item.namespace.as_deref().map(|n| rules.target_namespace(n));
            assert_eq!(ns, expected);
            let _ = api_resource(&object, &item.group_resource);
        }
    }
});
