//! Any bytes as `backups/<name>/velero-backup.json` (backup sync reads it from a bucket other
//! clusters may write): the Backup type decodes or refuses, never panics, and what it decodes
//! re-encodes to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veloxide::api::Backup;

fuzz_target!(|data: &[u8]| {
    let Ok(backup) = serde_json::from_slice::<Backup>(data) else {
        return;
    };
    let _ = backup.phase();
    let again = serde_json::to_vec(&backup).expect("a decoded Backup encodes");
    let back: Backup = serde_json::from_slice(&again).expect("an encoded Backup decodes");
    assert_eq!(
        serde_json::to_value(&back).expect("encodes"),
        serde_json::to_value(&backup).expect("encodes")
    );
});
