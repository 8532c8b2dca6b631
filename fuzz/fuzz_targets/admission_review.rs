//! Any bytes posted to the webhook: an answer or a 400, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = veloxide::webhook::review(data) {
        // A decoded review is always answered with a JSON AdmissionReview.
        let value: serde_json::Value = serde_json::from_slice(&answer).expect("answer is JSON");
        assert_eq!(value["kind"], "AdmissionReview");
    }
});
