//! Any bytes as the tar inside a backup archive (gzipped here, so the fuzzer shapes headers,
//! GNU long names, PAX records and entry sizes directly): the spool's memory stays within a
//! fixed bound whatever the archive says, extension headers included, and what it spools keeps
//! to the files and blocks bounds.
#![no_main]

#[path = "counting.rs"]
mod counting;

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use veloxide::restore::Limits;
use veloxide::restore::spool::{BLOCK_BYTES, spool_blocking};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// What the spool may hold, with these limits: the gzip window and buffers, the tar reader's,
/// one extension header, the index of at most `files` items. Far under what an unbounded
/// header (up to `expanded_bytes`) would take.
const MEMORY_BOUND: usize = 512 * 1024;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        item_bytes: 64 * 1024,
        spool_bytes: 64 * BLOCK_BYTES,
        expanded_bytes: 8 << 20,
        entries: 512,
        files: 32,
        path_bytes: 512,
        header_bytes: 1024,
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    let archive = gz.finish().unwrap();
    let base = counting::reset();
    let spooled = spool_blocking(archive.as_slice(), limits);
    let peak = counting::peak_since(base);
    assert!(peak < MEMORY_BOUND, "the spool held {peak} bytes");
    if let Ok(spooled) = spooled {
        assert!(spooled.items.len() <= limits.files);
        let blocks: u64 = spooled
            .items
            .iter()
            .map(|i| i.size.div_ceil(BLOCK_BYTES).max(1) * BLOCK_BYTES)
            .sum();
        assert!(blocks <= limits.spool_bytes);
    }
});
