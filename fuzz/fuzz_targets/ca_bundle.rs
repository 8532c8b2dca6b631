//! Any bytes as a CA bundle: a bundle or a message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    match veloxide::location::inspect_pem("caCert", data, now) {
        Ok(inspected) => assert!(!inspected.bundle.certificates.is_empty()),
        Err(message) => assert!(!message.is_empty()),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = veloxide::location::inspect_base64("caCert", text, now);
    }
});
