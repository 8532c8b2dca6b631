//! A repository damaged in the bucket: a pack with one byte flipped, or cut short, makes
//! veloxide's restore fail (an error, not a panic: rustic_core 0.13 panics on a blob whose
//! authentication tag is wrong) without writing a byte the source did not hold, and
//! `restic check --read-data` agrees, naming the pack.

use std::sync::Arc;

use crate::peers;
use crate::repository_support::{Restic, noise};
use crate::storage_support::{bucket, moto, secrets, spec, store};
use veloxide::repository::{
    Create, Progress, RepoAddress, RepoPassword, SnapshotRequest, Uploader, open,
};

const PASSWORD: &str = "damage-test-password";

#[tokio::test]
async fn a_flipped_or_truncated_pack_fails_the_restore_and_restic_check_agrees() {
    let moto = moto();
    let bucket = bucket("repo-damage");
    moto.create_bucket(&bucket).await;
    let secrets = secrets(&moto.pki.ca.cert_pem());
    let store = Arc::new(store(&spec(&moto.url(), &bucket, "d", &[]), &secrets).await);
    let work = peers::TempDir::new("repo-damage");
    let source = work.path().join("volume");
    std::fs::create_dir_all(&source).unwrap();
    for i in 0..4u64 {
        std::fs::write(source.join(format!("f{i}")), noise(10 + i, 300_000)).unwrap();
    }
    let address = RepoAddress::new(Uploader::Restic, "shop").unwrap();
    let repo: Arc<dyn veloxide::repository::VolumeRepository> = open(
        store.clone(),
        address,
        RepoPassword::new(PASSWORD),
        Create::IfMissing,
    )
    .await
    .expect("open")
    .into();
    let (r, src) = (repo.clone(), source.clone());
    let snap = tokio::task::spawn_blocking(move || {
        r.backup(&src, &SnapshotRequest::default(), &Progress::default())
    })
    .await
    .unwrap()
    .expect("backup");

    // The largest pack holds the files' data.
    let packs = store.list_sized("restic/shop/data/").await.unwrap();
    let (pack, _) = packs.iter().max_by_key(|(_, size)| *size).expect("a pack");
    let original = store.get(pack).await.unwrap().read_all().await.unwrap();
    let pack_id = pack.rsplit('/').next().unwrap().to_owned();
    let put = |bytes: Vec<u8>| {
        let path = format!("/{bucket}/d/{pack}");
        async move { moto.s3(reqwest::Method::PUT, &path, bytes).await }
    };
    let restic = Restic::new(moto, &bucket, "d/restic/shop", PASSWORD);

    let mut flipped = original.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    let truncated = original[..original.len() / 2].to_vec();
    for (damage, bytes) in [("flipped", flipped), ("truncated", truncated)] {
        put(bytes).await;
        let target = work.path().join(damage);
        let (r, id, t) = (repo.clone(), snap.id.clone(), target.clone());
        let restored =
            tokio::task::spawn_blocking(move || r.restore(&id, &t, &Progress::default()))
                .await
                .unwrap();
        let err = restored
            .err()
            .unwrap_or_else(|| panic!("{damage}: the restore of a damaged pack succeeded"));
        let text = err.to_string();
        println!("{damage}: {text}");
        if damage == "truncated" {
            // The short read is the store's answer: the object is named.
            assert!(
                text.contains(pack.as_str()),
                "{damage}: names the pack: {text}"
            );
        } else {
            // rustic_core finds the blob's authentication tag wrong; which pack it was is not
            // in its error, restic check below names it.
            assert!(
                text.contains("MAC check failed") && text.contains("restic check --read-data"),
                "{damage}: {text}"
            );
        }
        // Every byte the restore wrote is the source's: what it could not read is a hole.
        for entry in std::fs::read_dir(&target).into_iter().flatten() {
            let path = entry.unwrap().path();
            let got = std::fs::read(&path).unwrap_or_default();
            let want = std::fs::read(source.join(path.file_name().unwrap())).unwrap();
            let wrong = got
                .iter()
                .zip(&want)
                .filter(|(g, w)| **g != 0 && g != w)
                .count();
            assert!(
                wrong == 0 && got.len() <= want.len(),
                "{damage}: {} holds {wrong} wrong bytes",
                path.display()
            );
        }
        let checked = restic.run_in(work.path(), &["check", "--read-data"]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(
            !checked.status.success(),
            "{damage}: restic check passed:\n{said}"
        );
        assert!(
            said.contains(&pack_id[..8]),
            "{damage}: restic names the pack:\n{said}"
        );
        put(original.clone()).await;
    }
}
