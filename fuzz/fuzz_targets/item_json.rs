//! Any bytes as an item's JSON: the restore's estimate of what a parse holds
//! (`restore::parse::estimate`) is an upper bound of what serde_json really allocates, so an
//! item admitted within the multiple of its size never costs more than the restore reserved.
#![no_main]

#[path = "counting.rs"]
mod counting;

use libfuzzer_sys::fuzz_target;
use veloxide::restore::parse::{admit, estimate};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fuzz_target!(|data: &[u8]| {
    let admitted = admit(data);
    let base = counting::reset();
    let parsed = serde_json::from_slice::<serde_json::Value>(data);
    let peak = counting::peak_since(base) as u64;
    drop(parsed);
    // The estimate holds for any text, admitted or not (it is what admission compares).
    assert!(
        peak <= estimate(data),
        "{} bytes of JSON took {peak} bytes parsed, over the estimate {}",
        data.len(),
        estimate(data)
    );
    if let Ok(cost) = admitted {
        assert_eq!(cost, estimate(data));
    }
});
