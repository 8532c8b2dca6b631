//! Any bytes as a `velero-backup.json` the sync and expiry read back from a bucket other
//! clusters may write: the sync's decode refuses or succeeds and never panics; expiry's facts and
//! its rewrite of the expiration never panic, and a rewrite reads back with the new expiration
//! and the same uid. (The read itself stops at `backup::stored::METADATA_LIMIT` bytes; the
//! decode builds only the typed Backup, so memory stays a small multiple of what is kept.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use veloxide::backup::stored;
use veloxide::controller::sync::plan::decode;

fuzz_target!(|data: &[u8]| {
    if let Ok(backup) = decode(data) {
        let _ = backup.phase();
    }
    let Ok(facts) = stored::facts(data) else {
        return;
    };
    let to = jiff::Timestamp::from_second(1_800_000_000).expect("a valid time");
    if let Ok(out) = stored::with_expiration(data, to) {
        let again = stored::facts(&out).expect("a rewrite reads back");
        assert_eq!(again.expiration, Some(to));
        assert_eq!(again.uid, facts.uid);
    }
});
