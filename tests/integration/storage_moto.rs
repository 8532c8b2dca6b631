//! The storage layer against a real moto server over HTTPS (CA made for this run): every
//! encryption mode, single and multipart writes, the HEAD check of what the store recorded,
//! KMS key checks, prefix layout, checksums and presigned links.
//!
//! moto does not implement SSE-C: it stores plaintext and confirms nothing. SSE-C tests
//! therefore go through the recording proxy in `e2e/src/peers/recorder.rs`, which asserts the
//! headers on the wire and (in `Emulate` mode) stands in for S3's SSE-C behaviour.

use crate::peers;
use crate::storage_support;

use bytes::Bytes;
use peers::{Recorder, SseCMode};
use storage_support::*;
use veloxide::storage::{MultipartOptions, Outcome, Reason, StepName};

const MIB: usize = 1024 * 1024;

/// 5 MiB parts and a 16.5 MiB body: four parts, the last one short.
fn multipart() -> MultipartOptions {
    MultipartOptions {
        part_size: 5 * MIB,
        max_in_flight: 2,
    }
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn read_all(store: &veloxide::storage::ObjectStore, key: &str) -> Vec<u8> {
    store
        .get(key)
        .await
        .expect("get")
        .read_all()
        .await
        .expect("read")
}

#[tokio::test]
async fn every_server_side_mode_is_applied_and_confirmed_single_and_multipart() {
    let moto = moto();
    let bucket = bucket("modes");
    moto.create_bucket(&bucket).await;
    moto.create_kms_key("alias/velero-modes").await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    // (mode, config entries, the encryption the store must record)
    type Mode<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);
    let modes: [Mode; 4] = [
        ("none", vec![], None),
        (
            "sse-s3",
            vec![("serverSideEncryption", "AES256")],
            Some("AES256"),
        ),
        (
            "sse-kms",
            vec![
                ("serverSideEncryption", "aws:kms"),
                ("kmsKeyId", "alias/velero-modes"),
            ],
            Some("aws:kms"),
        ),
        (
            "sse-kms-bucket-key",
            vec![
                ("serverSideEncryption", "aws:kms"),
                ("kmsKeyId", "alias/velero-modes"),
                ("bucketKeyEnabled", "true"),
            ],
            Some("aws:kms"),
        ),
    ];
    for (name, config, algorithm) in modes {
        let spec = spec(&moto.url(), &bucket, name, &config);
        let report = check(&spec, &secrets).await;
        assert_passed(&report);

        let store = store(&spec, &secrets).await.with_multipart(multipart());
        let small = store
            .put("backups/b1/small.json", Bytes::from_static(b"{}"))
            .await
            .expect("put");
        assert_eq!(small.algorithm.as_deref(), algorithm, "{name}: {small:?}");

        let data = body(16 * MIB + MIB / 2);
        let result = store.upload("backups/b1/big.tar.gz", &data[..]).await;
        if name == "sse-kms-bucket-key" {
            // moto drops the bucket-key flag of CreateMultipartUpload (single puts keep it), so
            // the HEAD check must catch that the store did not record what was asked.
            let err = result.expect_err("moto does not record a bucket key on multipart uploads");
            assert_eq!(err.reason(), Reason::EncryptionMismatch, "{err}");
            assert!(err.to_string().contains("Bucket Key"), "{err}");
            continue;
        }
        let uploaded = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(uploaded.parts, 4, "{name}");
        assert_eq!(uploaded.size, data.len() as u64);
        assert_eq!(
            uploaded.encryption.algorithm.as_deref(),
            algorithm,
            "{name}"
        );
        if name == "sse-kms" {
            assert_eq!(
                uploaded.encryption.kms_key_id.as_deref(),
                Some("alias/velero-modes")
            );
        }
        assert_eq!(
            read_all(&store, "backups/b1/big.tar.gz").await,
            data,
            "{name}"
        );
        let listing = store.list("backups/b1/", None).await.expect("list");
        assert_eq!(
            listing.keys,
            ["backups/b1/big.tar.gz", "backups/b1/small.json"]
        );
        store.delete("backups/b1/big.tar.gz").await.expect("delete");
        assert!(
            store
                .head("backups/b1/big.tar.gz")
                .await
                .expect("head")
                .is_none()
        );
    }
}

#[tokio::test]
async fn sse_c_headers_go_on_every_object_request_and_the_store_confirms_them() {
    let moto = moto();
    let bucket = bucket("ssec");
    moto.create_bucket(&bucket).await;
    let proxy = Recorder::in_front_of(moto, SseCMode::Emulate).await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let spec = spec(
        &proxy.url(),
        &bucket,
        "",
        &[("customerKeyEncryptionSecret", "sse-c/key")],
    );
    assert_passed(&check(&spec, &secrets).await);

    proxy.clear();
    let store = store(&spec, &secrets).await.with_multipart(multipart());
    let data = body(11 * MIB);
    let uploaded = store
        .upload("backups/c/data.tar.gz", &data[..])
        .await
        .expect("upload");
    assert_eq!(uploaded.parts, 3);
    assert_eq!(
        uploaded.encryption.customer_algorithm.as_deref(),
        Some("AES256")
    );
    assert_eq!(read_all(&store, "backups/c/data.tar.gz").await, data);
    store.list("backups/", None).await.expect("list");
    store.delete("backups/c/data.tar.gz").await.expect("delete");

    use base64::Engine as _;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(CUSTOMER_KEY);
    let requests = proxy.requests();
    let mut seen = std::collections::BTreeSet::new();
    for r in &requests {
        let op = match (r.method.as_str(), r.target.as_str()) {
            ("POST", t) if t.contains("?uploads") => "CreateMultipartUpload",
            ("PUT", t) if t.contains("partNumber=") => "UploadPart",
            ("POST", t) if t.contains("uploadId=") => "CompleteMultipartUpload",
            ("GET", t) if t.contains("list-type=2") => "ListObjectsV2",
            ("GET", _) => "GetObject",
            ("HEAD", _) => "HeadObject",
            ("DELETE", _) => "DeleteObject",
            (m, t) => panic!("unexpected request {m} {t}"),
        };
        seen.insert(op);
        let carries = r.header("x-amz-server-side-encryption-customer-algorithm") == Some("AES256")
            && r.header("x-amz-server-side-encryption-customer-key") == Some(key_b64.as_str())
            && r.header("x-amz-server-side-encryption-customer-key-md5")
                .is_some();
        let should = !matches!(op, "ListObjectsV2" | "DeleteObject");
        assert_eq!(
            carries, should,
            "{op} ({} {}) SSE-C headers",
            r.method, r.target
        );
        assert!(
            r.header("x-amz-server-side-encryption").is_none(),
            "{op}: no SSE-S3/KMS header with SSE-C"
        );
    }
    for op in [
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "GetObject",
        "HeadObject",
    ] {
        assert!(seen.contains(op), "{op} was not exercised: {seen:?}");
    }
}

#[tokio::test]
async fn a_store_ignoring_or_refusing_sse_c_is_reported() {
    let moto = moto();
    let bucket = bucket("ssec-bad");
    moto.create_bucket(&bucket).await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let config = [("customerKeyEncryptionSecret", "sse-c/key")];
    // moto itself ignores the customer key: the HEAD check notices nothing was confirmed.
    let report = check(&spec(&moto.url(), &bucket, "", &config), &secrets).await;
    assert_reason(&report, Reason::EncryptionMismatch);
    let proxy = Recorder::in_front_of(moto, SseCMode::Reject).await;
    let report = check(&spec(&proxy.url(), &bucket, "", &config), &secrets).await;
    assert_reason(&report, Reason::SseCRejected);
    // A key that is not 32 bytes never reaches the store.
    let mut short = secrets.clone();
    put(&mut short, "sse-c", "key", b"too-short");
    let report = check(&spec(&moto.url(), &bucket, "", &config), &short).await;
    assert_reason(&report, Reason::SseCKeyInvalid);
    let failed = &report.steps[0];
    assert_eq!(failed.name, StepName::Secrets);
    assert!(
        failed.message.contains("\"sse-c\"") && failed.message.contains("9 bytes"),
        "{}",
        failed.message
    );
}

#[tokio::test]
async fn kms_key_problems_have_their_own_reasons() {
    let moto = moto();
    let bucket = bucket("kms");
    moto.create_bucket(&bucket).await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let kms = |alias: &'static str| [("serverSideEncryption", "aws:kms"), ("kmsKeyId", alias)];
    let report = check(
        &spec(&moto.url(), &bucket, "", &kms("alias/missing")),
        &secrets,
    )
    .await;
    assert_reason(&report, Reason::KmsKeyNotFound);
    let id = moto.create_kms_key("alias/disabled").await;
    moto.disable_kms_key(&id).await;
    let report = check(
        &spec(&moto.url(), &bucket, "", &kms("alias/disabled")),
        &secrets,
    )
    .await;
    assert_reason(&report, Reason::KmsKeyDisabled);
    moto.create_kms_key("alias/ok").await;
    let report = check(&spec(&moto.url(), &bucket, "", &kms("alias/ok")), &secrets).await;
    assert_passed(&report);
    let kms_step = report
        .steps
        .iter()
        .find(|s| s.name == StepName::KmsKey)
        .unwrap();
    assert!(
        kms_step.message.contains("rotation is off"),
        "{}",
        kms_step.message
    );
}

#[tokio::test]
async fn bucket_and_layout_problems_are_reported() {
    let moto = moto();
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let report = check(&spec(&moto.url(), "vx-no-such-bucket", "", &[]), &secrets).await;
    assert_reason(&report, Reason::NoSuchBucket);

    let bucket = bucket("layout");
    moto.create_bucket(&bucket).await;
    for dir in ["backups/x", "restores/y", "foreign/z"] {
        let path = format!("/{bucket}/velero/{dir}");
        moto.s3(reqwest::Method::PUT, &path, b"x".to_vec()).await;
    }
    let report = check(&spec(&moto.url(), &bucket, "velero", &[]), &secrets).await;
    assert_reason(&report, Reason::InvalidPrefixLayout);
    assert!(show(&report).contains("foreign"), "{}", show(&report));

    // Read-only locations are checked without writing.
    let mut read_only = spec(&moto.url(), &bucket, "empty", &[]);
    read_only.access_mode = Some(veloxide::api::AccessMode::ReadOnly);
    let report = check(&read_only, &secrets).await;
    assert_passed(&report);
    let round_trip = report
        .steps
        .iter()
        .find(|s| s.name == StepName::RoundTrip)
        .unwrap();
    assert_eq!(round_trip.outcome, Outcome::Skipped);
}

#[tokio::test]
async fn checksum_setting_controls_the_headers_sent() {
    let moto = moto();
    let bucket = bucket("checksum");
    moto.create_bucket(&bucket).await;
    let proxy = Recorder::in_front_of(moto, SseCMode::PassThrough).await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    for (setting, expect) in [(Some(""), false), (None, true), (Some("SHA256"), true)] {
        let extra: Vec<(&str, &str)> = setting
            .map(|s| ("checksumAlgorithm", s))
            .into_iter()
            .collect();
        let store = store(&spec(&proxy.url(), &bucket, "", &extra), &secrets)
            .await
            .with_multipart(multipart());
        proxy.clear();
        store
            .put("small", Bytes::from_static(b"abc"))
            .await
            .expect("put");
        store
            .upload("big", &body(6 * MIB)[..])
            .await
            .expect("upload");
        let writes: Vec<_> = proxy
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .collect();
        assert_eq!(writes.len(), 3, "one PutObject and two UploadPart");
        for r in writes {
            let has = r.headers.keys().any(|k| {
                k.starts_with("x-amz-checksum-")
                    || k == "x-amz-sdk-checksum-algorithm"
                    || k == "x-amz-trailer"
            });
            assert_eq!(
                has, expect,
                "checksumAlgorithm {setting:?}: {} {:?}",
                r.target, r.headers
            );
        }
    }
}

#[tokio::test]
async fn a_failed_multipart_upload_is_aborted() {
    let moto = moto();
    let bucket = bucket("abort");
    moto.create_bucket(&bucket).await;
    let store = store(
        &spec(&moto.url(), &bucket, "", &[]),
        &secrets(&moto.pki.ca.cert_pem()),
    )
    .await
    .with_multipart(multipart());
    // 12 MiB, then a read error: two parts went out before the body failed.
    let data = body(12 * MIB);
    let failing = tokio::io::AsyncReadExt::chain(&data[..], FailingReader);
    let err = store
        .upload("backups/broken", failing)
        .await
        .expect_err("the body fails");
    assert!(err.to_string().contains("disk on fire"), "{err}");
    assert_eq!(
        moto.multipart_uploads(&bucket).await,
        0,
        "the upload was aborted"
    );
    assert!(store.head("backups/broken").await.expect("head").is_none());
}

struct FailingReader;

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")))
    }
}

#[tokio::test]
async fn presigned_links_use_the_public_url() {
    let moto = moto();
    let bucket = bucket("presign");
    moto.create_bucket(&bucket).await;
    let public = format!("https://localhost:{}", moto.port);
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let store = store(
        &spec(&moto.url(), &bucket, "p", &[("publicUrl", &public)]),
        &secrets,
    )
    .await;
    store
        .put("backups/b/log.gz", Bytes::from_static(b"hello"))
        .await
        .expect("put");
    let link = store
        .presigned_get("backups/b/log.gz", std::time::Duration::from_secs(600))
        .await
        .expect("presign");
    assert!(
        link.starts_with(&format!("{public}/{bucket}/p/backups/b/log.gz?")),
        "{link}"
    );
    assert!(link.contains("X-Amz-Expires=600"), "{link}");
    let got = moto.http().get(&link).send().await.expect("GET link");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"hello");
}

#[tokio::test]
async fn clients_are_cached_until_trust_or_credentials_change() {
    let moto = moto();
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let spec = spec(&moto.url(), "vx-any", "", &[]);
    let cache = veloxide::storage::StoreCache::new();
    let resolved = veloxide::storage::resolve(&parse(&spec), &secrets)
        .await
        .unwrap();
    let a = cache.store("ns/a", &resolved).unwrap();
    let b = cache.store("ns/a", &resolved).unwrap();
    assert!(std::sync::Arc::ptr_eq(a.clients(), b.clients()));
    let mut rotated = secrets.clone();
    put(
        &mut rotated,
        "cloud-credentials",
        "cloud",
        b"[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
    );
    let resolved2 = veloxide::storage::resolve(&parse(&spec), &rotated)
        .await
        .unwrap();
    let c = cache.store("ns/a", &resolved2).unwrap();
    assert!(!std::sync::Arc::ptr_eq(a.clients(), c.clients()));
}
