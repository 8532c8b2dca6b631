//! The file-system backup repository (`veloxide::repository`, restic's format through
//! rustic_core) against the `restic` CLI as an independent peer, in moto over TLS with the
//! run's CA: what veloxide writes, `restic check --read-data` finds whole and `restic restore`
//! brings back equal to the source, entry by entry; what restic writes (as Velero's restic
//! uploader runs it), veloxide restores equal. Every repository object veloxide wrote is HEADed:
//! the store recorded the location's encryption for each (SSE-S3, SSE-KMS).
//!
//! SSE-C is not run here: moto does not enforce it, and restic 0.14 cannot send a customer key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::peers;
use crate::repository_support::*;
use crate::storage_support::{bucket, moto, secrets, spec, store};
use veloxide::repository::{
    Create, Progress, RepoAddress, RepoPassword, SnapshotRequest, Uploader, VolumeRepository, open,
};
use veloxide::storage::{ObjectStore, Reason};

const PASSWORD: &str = "repo-password-SENTINEL-7d1e";

async fn repository(store: Arc<ObjectStore>, create: Create) -> Arc<dyn VolumeRepository> {
    let address = RepoAddress::new(Uploader::Restic, "shop").unwrap();
    open(store, address, RepoPassword::new(PASSWORD), create)
        .await
        .unwrap_or_else(|e| panic!("open the repository: {e}"))
        .into()
}

/// Run a blocking repository call on a blocking thread, as the node agent does.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("task")
}

fn velero_tags() -> BTreeMap<String, String> {
    [
        ("backup", "shop-1"),
        ("ns", "shop"),
        ("pod", "db-0"),
        ("volume", "data"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn assert_same(what: &str, want: &Inventory, got_root: &Path) {
    let got = inventory(got_root);
    let diff = differences(want, &got);
    assert!(diff.is_empty(), "{what} differs:\n{}", diff.join("\n"));
}

/// What veloxide writes, restic checks (reading every pack) and restores equal, and veloxide
/// restores equal too; every object is stored with the location's encryption.
#[tokio::test]
async fn restic_checks_and_restores_what_we_write_with_each_sse_mode() {
    let moto = moto();
    let bucket = bucket("repo-ours");
    moto.create_bucket(&bucket).await;
    moto.create_kms_key("alias/velero-repo").await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let work = peers::TempDir::new("repo-ours");
    let source = work.path().join("volume");
    known_tree(&source);
    let want = inventory(&source);

    // (the location's prefix, its config, the encryption the store must record)
    type Mode<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let modes: [Mode; 2] = [
        ("sse-s3", vec![("serverSideEncryption", "AES256")], "AES256"),
        (
            "sse-kms",
            vec![
                ("serverSideEncryption", "aws:kms"),
                ("kmsKeyId", "alias/velero-repo"),
            ],
            "aws:kms",
        ),
    ];
    for (prefix, config, algorithm) in modes {
        let store = Arc::new(store(&spec(&moto.url(), &bucket, prefix, &config), &secrets).await);
        let repo = repository(store.clone(), Create::IfMissing).await;
        let (r, src) = (repo.clone(), source.clone());
        let request = SnapshotRequest {
            tags: velero_tags(),
            parent: None,
        };
        let snap = blocking(move || r.backup(&src, &request, &Progress::default()))
            .await
            .unwrap_or_else(|e| panic!("{prefix}: backup: {e}"));
        assert_eq!(snap.tags, velero_tags());
        assert!(snap.files >= 15, "{prefix}: {snap:?}");

        // Every repository object: the store recorded the location's encryption.
        let objects = store.list_sized("restic/shop/").await.unwrap();
        let dirs: std::collections::BTreeSet<&str> = objects
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("restic/shop/")?.split('/').next())
            .collect();
        assert_eq!(
            dirs.into_iter().collect::<Vec<_>>(),
            ["config", "data", "index", "keys", "snapshots"],
            "{prefix}: restic's layout"
        );
        for (key, _) in &objects {
            let head = store.head(key).await.unwrap().expect("listed object");
            assert_eq!(
                head.encryption.algorithm.as_deref(),
                Some(algorithm),
                "{prefix}: {key}"
            );
        }

        let restic = Restic::new(moto, &bucket, &format!("{prefix}/restic/shop"), PASSWORD);
        let checked = restic.ok(work.path(), &["check", "--read-data"]);
        assert!(checked.contains("no errors were found"), "{checked}");
        // Format version 2: compressed (zstd), which restic reads from 0.14 on.
        let config: serde_json::Value =
            serde_json::from_str(&restic.ok(work.path(), &["cat", "config"])).unwrap();
        assert_eq!(config["version"], 2, "{config}");
        let listed = restic.ok(work.path(), &["snapshots", "--json"]);
        assert!(
            listed.contains(&snap.id),
            "restic lists {}: {listed}",
            snap.id
        );
        assert!(listed.contains("\"hostname\":\"velero\""), "{listed}");

        let by_restic = work.path().join(format!("{prefix}-restic"));
        restic.ok(
            work.path(),
            &["restore", &snap.id, "--target", by_restic.to_str().unwrap()],
        );
        assert_same(&format!("{prefix}: restic's restore"), &want, &by_restic);

        let by_us = work.path().join(format!("{prefix}-ours"));
        let (r, id, target) = (repo.clone(), snap.id.clone(), by_us.clone());
        let restored = blocking(move || r.restore(&id, &target, &Progress::default()))
            .await
            .unwrap_or_else(|e| panic!("{prefix}: restore: {e}"));
        // The sparse file alone is 16 MiB long.
        assert!(restored.bytes > 16 << 20, "{restored:?}");
        assert_same(&format!("{prefix}: our restore"), &want, &by_us);
    }
}

/// What restic writes the way Velero's restic uploader runs it (`restic backup .` inside the
/// volume's directory, `--host=velero`, `key=value` tags), veloxide lists and restores equal.
#[tokio::test]
async fn we_restore_what_restic_writes_as_velero_runs_it() {
    let moto = moto();
    let bucket = bucket("repo-theirs");
    moto.create_bucket(&bucket).await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let work = peers::TempDir::new("repo-theirs");
    let source = work.path().join("volume");
    known_tree(&source);
    let want = inventory(&source);

    let restic = Restic::new(moto, &bucket, "velero/restic/shop", PASSWORD);
    restic.ok(work.path(), &["init"]);
    let mut args = vec!["backup", ".", "--host=velero", "--json"];
    let tags: Vec<String> = velero_tags()
        .iter()
        .map(|(k, v)| format!("--tag={k}={v}"))
        .collect();
    args.extend(tags.iter().map(String::as_str));
    restic.ok(&source, &args);

    let config = [("serverSideEncryption", "AES256")];
    let store = Arc::new(store(&spec(&moto.url(), &bucket, "velero", &config), &secrets).await);
    let repo = repository(store, Create::Never).await;
    let r = repo.clone();
    let snaps = blocking(move || r.snapshots()).await.expect("snapshots");
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0].tags, velero_tags());

    let target = work.path().join("ours");
    let (r, id, t) = (repo.clone(), snaps[0].id.clone(), target.clone());
    blocking(move || r.restore(&id, &t, &Progress::default()))
        .await
        .unwrap_or_else(|e| panic!("restore: {e}"));
    assert_same("our restore of restic's snapshot", &want, &target);
}

/// A repository is opened only with its password; a missing one is not created by a restore.
#[tokio::test]
async fn wrong_password_and_missing_repository_are_named() {
    let moto = moto();
    let bucket = bucket("repo-refusals");
    moto.create_bucket(&bucket).await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let store = Arc::new(store(&spec(&moto.url(), &bucket, "p", &[]), &secrets).await);
    let address = RepoAddress::new(Uploader::Restic, "shop").unwrap();

    let missing = open(
        store.clone(),
        address.clone(),
        RepoPassword::new(PASSWORD),
        Create::Never,
    )
    .await
    .err()
    .expect("no repository there");
    assert!(
        missing
            .to_string()
            .contains("restic/shop/: no repository there"),
        "{missing}"
    );

    repository(store.clone(), Create::IfMissing).await;
    let wrong = open(
        store,
        address,
        RepoPassword::new("not-the-password"),
        Create::Never,
    )
    .await
    .err()
    .expect("the wrong password opens nothing");
    let text = wrong.to_string();
    assert!(
        text.contains("velero-repo-credentials") && text.contains("does not open it"),
        "{text}"
    );
    assert!(
        !text.contains("not-the-password") && !text.contains(PASSWORD),
        "{text}"
    );
}

/// A location whose CA did not sign the store's certificate: opening its repository fails with
/// the store's reason, `X509UnknownAuthority` (as the location's check says it), naming the
/// repository file it tried to reach; nothing is written.
#[tokio::test]
async fn a_wrong_ca_fails_with_the_store_s_reason() {
    let moto = moto();
    let bucket = bucket("repo-wrong-ca");
    moto.create_bucket(&bucket).await;
    let other = peers::Pki::new("not the store's CA");
    let secrets = secrets(&other.ca.cert_pem());
    let store = Arc::new(store(&spec(&moto.url(), &bucket, "p", &[]), &secrets).await);
    let address = RepoAddress::new(Uploader::Restic, "shop").unwrap();
    let err = open(
        store,
        address,
        RepoPassword::new(PASSWORD),
        Create::IfMissing,
    )
    .await
    .err()
    .expect("an untrusted store opens nothing");
    assert_eq!(err.reason(), Reason::X509UnknownAuthority, "{err}");
    assert!(err.to_string().contains("p/restic/shop/config"), "{err}");
    let right = Arc::new(
        store_for(
            &moto.pki.ca.cert_pem(),
            &spec(&moto.url(), &bucket, "p", &[]),
        )
        .await,
    );
    assert!(
        right.list_sized("").await.unwrap().is_empty(),
        "nothing was written"
    );
}

async fn store_for(ca_pem: &[u8], spec: &veloxide::api::BackupStorageLocationSpec) -> ObjectStore {
    store(spec, &secrets(ca_pem)).await
}
