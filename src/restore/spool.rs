//! Reading a backup archive as it streams from the store: every item is written to its own
//! file in a temporary directory (as Velero extracts the tarball to disk), and only a small
//! index stays in memory. The restore then applies the items in dependency order, which a
//! single pass over the stream could not do.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

/// The largest item accepted; Kubernetes itself refuses objects over ~1.5 MiB, so anything
/// far bigger is not an object the API server could take back.
pub const MAX_ITEM_BYTES: u64 = 16 * 1024 * 1024;

/// One object of the archive, spooled to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Velero's `GroupResource.String()`: `configmaps`, `deployments.apps`.
    pub group_resource: String,
    /// The backup's namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    file: PathBuf,
}

impl Item {
    /// The object's JSON, as backed up.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        std::fs::read(&self.file)
    }
}

/// Items on disk; the directory goes when this is dropped.
pub struct Spool {
    _dir: tempfile::TempDir,
    pub items: Vec<Item>,
    /// `metadata/version`, when the archive has one.
    pub format_version: Option<String>,
}

/// Where an archive entry belongs: `(group_resource, namespace, name)` for the unversioned
/// copy of an item, `None` for everything else (the `-preferredversion` copies hold the same
/// bytes; other files are not items).
pub fn item_of(path: &str) -> Option<(String, Option<String>, String)> {
    let segs: Vec<&str> = path.split('/').collect();
    let safe = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\\');
    if !segs.iter().all(|s| safe(s)) {
        return None;
    }
    match segs.as_slice() {
        ["resources", gr, "namespaces", ns, file] => Some((
            (*gr).into(),
            Some((*ns).into()),
            file.strip_suffix(".json")?.into(),
        )),
        ["resources", gr, "cluster", file] => {
            Some(((*gr).into(), None, file.strip_suffix(".json")?.into()))
        }
        _ => None,
    }
}

/// Chunks read ahead of the decoder: at most `DEPTH` × 64 KiB of the archive in memory.
const DEPTH: usize = 4;

/// Read the tar.gz from `reader` to its end, spooling items. Blocking work (gunzip, untar,
/// file writes) runs on the blocking pool, fed through a bounded channel.
pub async fn spool<R>(mut reader: R) -> io::Result<Spool>
where
    R: AsyncRead + Unpin + Send,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(DEPTH);
    let blocking = tokio::task::spawn_blocking(move || {
        spool_blocking(ChannelReader {
            rx,
            current: Bytes::new(),
        })
    });
    let feed = async move {
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            let chunk = match reader.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            // A closed channel means the decoder stopped (an error it reports itself).
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    };
    let (_, spooled) = tokio::join!(feed, blocking);
    spooled.map_err(io::Error::other)?
}

/// The blocking side of the channel, as a `Read`.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn spool_blocking(reader: impl Read) -> io::Result<Spool> {
    let dir = tempfile::Builder::new()
        .prefix("veloxide-restore-")
        .tempdir()?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut items = Vec::new();
    let mut format_version = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        if path == "metadata/version" {
            let mut text = String::new();
            entry.by_ref().take(64).read_to_string(&mut text)?;
            format_version = Some(text.trim().to_owned());
            continue;
        }
        let Some((group_resource, namespace, name)) = item_of(&path) else {
            continue;
        };
        if entry.size() > MAX_ITEM_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{path} is {} bytes, more than any object", entry.size()),
            ));
        }
        // Numbered files: names from the archive never become paths.
        let file = dir.path().join(format!("{}.json", items.len()));
        copy_to(&mut entry, &file)?;
        items.push(Item {
            group_resource,
            namespace,
            name,
            file,
        });
    }
    Ok(Spool {
        _dir: dir,
        items,
        format_version,
    })
}

fn copy_to(entry: &mut impl Read, file: &Path) -> io::Result<()> {
    let mut out = std::fs::File::create(file)?;
    io::copy(entry, &mut out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::archive::{ArchiveWriter, ItemRef};

    #[test]
    fn entries_map_to_items_and_unsafe_paths_do_not() {
        assert_eq!(
            item_of("resources/configmaps/namespaces/app/settings.json"),
            Some(("configmaps".into(), Some("app".into()), "settings".into()))
        );
        assert_eq!(
            item_of("resources/namespaces/cluster/app.json"),
            Some(("namespaces".into(), None, "app".into()))
        );
        for skipped in [
            "resources/configmaps/v1-preferredversion/namespaces/app/settings.json",
            "resources/configmaps/namespaces/../x.json",
            "resources/configmaps/namespaces/app/settings.yaml",
            "metadata/version",
            "resources//cluster/a.json",
        ] {
            assert_eq!(item_of(skipped), None, "{skipped}");
        }
    }

    #[tokio::test]
    async fn an_archive_written_by_backups_spools_back() {
        let mut writer = ArchiveWriter::new(Vec::new(), 0).unwrap();
        let item = ItemRef {
            group_resource: "configmaps",
            version: "v1",
            namespace: Some("app"),
            name: "a",
        };
        writer.add_item(&item, br#"{"kind":"ConfigMap"}"#).unwrap();
        let ns = ItemRef {
            group_resource: "namespaces",
            version: "v1",
            namespace: None,
            name: "app",
        };
        writer.add_item(&ns, br#"{"kind":"Namespace"}"#).unwrap();
        let bytes = writer.finish().unwrap();
        let spool = spool(std::io::Cursor::new(bytes)).await.unwrap();
        assert_eq!(spool.format_version.as_deref(), Some("1.1.0"));
        assert_eq!(spool.items.len(), 2);
        assert_eq!(spool.items[0].read().unwrap(), br#"{"kind":"ConfigMap"}"#);
        assert_eq!(spool.items[1].namespace, None);
    }

    #[tokio::test]
    async fn a_truncated_archive_is_an_error() {
        let mut writer = ArchiveWriter::new(Vec::new(), 0).unwrap();
        let item = ItemRef {
            group_resource: "configmaps",
            version: "v1",
            namespace: Some("app"),
            name: "a",
        };
        writer.add_item(&item, &[b'x'; 4096]).unwrap();
        let bytes = writer.finish().unwrap();
        let cut = bytes[..bytes.len() / 2].to_vec();
        assert!(spool(std::io::Cursor::new(cut)).await.is_err());
    }
}
