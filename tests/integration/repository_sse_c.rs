//! The repository with SSE-C through a store that enforces it (LocalStack; moto does not):
//! every repository object veloxide writes is refused to a reader without the customer key
//! (400), HEAD with the key shows SSE-C, and a restore, whose pack reads are ranged GETs
//! carrying the key, gives back the source entry by entry.

use std::sync::Arc;

use crate::peers;
use crate::repository_support::{differences, inventory, known_tree};
use crate::storage_support::{CUSTOMER_KEY, bucket, secrets, spec, store};
use e2e::peers::LocalStack;
use veloxide::repository::{
    Create, Progress, RepoAddress, RepoPassword, SnapshotRequest, Uploader, open,
};

#[tokio::test]
async fn sse_c_repository_round_trip_through_a_store_that_enforces_it() {
    let pki = peers::Pki::new("veloxide repository SSE-C CA");
    let localstack = LocalStack::start_with(pki.clone());
    let bucket = bucket("repo-ssec");
    localstack.create_bucket(&bucket).await;
    let secrets = secrets(&pki.ca.cert_pem());
    let config = [("customerKeyEncryptionSecret", "sse-c/key")];
    let store = Arc::new(store(&spec(&localstack.url(), &bucket, "c", &config), &secrets).await);
    let work = peers::TempDir::new("repo-ssec");
    let source = work.path().join("volume");
    known_tree(&source);
    let want = inventory(&source);

    let address = RepoAddress::new(Uploader::Restic, "shop").unwrap();
    let repo: Arc<dyn veloxide::repository::VolumeRepository> = open(
        store.clone(),
        address,
        RepoPassword::new("ssec-repo-password"),
        Create::IfMissing,
    )
    .await
    .unwrap_or_else(|e| panic!("open: {e}"))
    .into();
    let (r, src) = (repo.clone(), source.clone());
    let snap = tokio::task::spawn_blocking(move || {
        r.backup(&src, &SnapshotRequest::default(), &Progress::default())
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("backup: {e}"));

    let objects = store.list_sized("restic/shop/").await.unwrap();
    assert!(objects.len() >= 5, "{objects:?}");
    for (key, _) in &objects {
        let head = store.head(key).await.unwrap().expect("listed");
        assert_eq!(
            head.encryption.customer_algorithm.as_deref(),
            Some("AES256"),
            "{key}"
        );
        let full = format!("c/{key}");
        let (status, _) = localstack
            .object(reqwest::Method::GET, &bucket, &full, None)
            .await;
        assert_eq!(status, 400, "{key}: read without the customer key");
        let (status, _) = localstack
            .object(reqwest::Method::GET, &bucket, &full, Some(CUSTOMER_KEY))
            .await;
        assert_eq!(status, 200, "{key}: read with the customer key");
    }

    let target = work.path().join("restored");
    let (r, id, t) = (repo.clone(), snap.id.clone(), target.clone());
    tokio::task::spawn_blocking(move || r.restore(&id, &t, &Progress::default()))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("restore: {e}"));
    let diff = differences(&want, &inventory(&target));
    assert!(diff.is_empty(), "restore differs:\n{}", diff.join("\n"));
}
