//! Property tests over decoding and validation (the stable-toolchain counterpart of `make fuzz`):
//! whatever arrives, the webhook answers with an AdmissionReview or a 400, never a panic, and a
//! denial always carries a message.

use crate::common;

use proptest::prelude::*;
use serde_json::{Value, json};

const KEYS: &[&str] = &[
    "region",
    "s3Url",
    "publicUrl",
    "s3ForcePathStyle",
    "insecureSkipTLSVerify",
    "profile",
    "credentialsFile",
    "serverSideEncryption",
    "kmsKeyId",
    "bucketKeyEnabled",
    "customerKeyEncryptionFile",
    "customerKeyEncryptionSecret",
    "checksumAlgorithm",
    "tagging",
    "kmsKeyID",
    "bucket",
    "signatureVersion",
    "",
];
const VALUES: &[&str] = &[
    "",
    "true",
    "FALSE",
    "yes",
    "AES256",
    "aws:kms",
    "alias/k",
    "https://10.0.0.1:9000",
    "http://minio:9000",
    "ftp://x",
    "a/b",
    "a",
    "/",
    "k=v&k2=v2",
    "CRC32",
    "MD5",
    "1m0s",
    "-1s",
    "ü",
    "\u{0}",
];

fn config() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![
            prop::sample::select(KEYS).prop_map(str::to_owned),
            ".{0,12}"
        ],
        prop_oneof![
            prop::sample::select(VALUES).prop_map(str::to_owned),
            ".{0,40}"
        ],
        0..6,
    )
    .prop_map(|m| json!(m))
}

fn ca_cert() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        ".{0,80}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| {
            use base64::Engine as _;
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }),
        "(-----BEGIN [A-Z ]{0,20}-----\n[A-Za-z0-9+/=. ]{0,100}\n(-----END [A-Z ]{0,20}-----\n)?){0,3}"
            .prop_map(|pem| {
                use base64::Engine as _;
                Value::String(base64::engine::general_purpose::STANDARD.encode(pem))
            }),
    ]
}

fn spec() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("aws".to_owned()), ".{0,10}"],
        ".{0,20}",
        ca_cert(),
        prop::option::of((prop::option::of(".{0,8}"), prop::option::of(".{0,8}"))),
        config(),
        prop::option::of(prop_oneof![Just("1m0s".to_owned()), ".{0,8}"]),
        prop::option::of(prop_oneof![Just(json!("ReadOnly")), Just(json!("ReadWrite")), Just(json!(5)), Just(json!("x"))]),
    )
        .prop_map(|(provider, bucket, ca, reference, config, freq, mode)| {
            let mut spec = json!({"provider": provider, "objectStorage": {"bucket": bucket}, "config": config});
            if !ca.is_null() {
                spec["objectStorage"]["caCert"] = ca;
            }
            if let Some((name, key)) = reference {
                spec["objectStorage"]["caCertRef"] = json!({"name": name, "key": key});
            }
            if let Some(freq) = freq {
                spec["validationFrequency"] = json!(freq);
            }
            if let Some(mode) = mode {
                spec["accessMode"] = mode;
            }
            spec
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = veloxide::webhook::review(&body);
    }

    #[test]
    fn arbitrary_locations_get_an_answer(spec in spec(), operation in prop::sample::select(&["CREATE", "UPDATE", "DELETE"][..])) {
        let review = common::cases::review("prop", operation, Some(common::cases::object(&spec)));
        let answer = veloxide::webhook::review(&serde_json::to_vec(&review).unwrap())
            .expect("a well-formed AdmissionReview is always answered");
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        prop_assert_eq!(&answer["response"]["uid"], "prop");
        let allowed = answer["response"]["allowed"].as_bool().unwrap();
        if operation == "DELETE" {
            prop_assert!(allowed);
        }
        if !allowed {
            let message = answer["response"]["status"]["message"].as_str().unwrap_or("");
            prop_assert!(message.contains("spec") || message.contains("read"), "{}", message);
        }
    }

    #[test]
    fn arbitrary_ca_bundles_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let now = jiff::Timestamp::now();
        if let Ok(inspected) = veloxide::location::inspect_pem("caCert", &bytes, now) {
            prop_assert!(!inspected.bundle.certificates.is_empty());
        }
    }
}
