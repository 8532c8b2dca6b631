//! Reading a backup archive as it streams from the store: every item is written to its own
//! file in a temporary directory (as Velero extracts the tarball to disk), and only a small
//! index stays in memory. The restore then applies the items in dependency order, which a
//! single pass over the stream could not do.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use limits::over;
pub use limits::{
    BLOCK_BYTES, DEFAULT_SPOOL_BYTES, Limits, MAX_HEADER_BYTES, MAX_ITEM_BYTES, OverBound,
    over_bound,
};

/// One object of the archive, spooled to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Velero's `GroupResource.String()`: `configmaps`, `deployments.apps`.
    pub group_resource: String,
    /// The backup's namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    /// Bytes of the item's JSON (at most [`Limits::item_bytes`]).
    pub size: u64,
    /// The spool directory (shared) and the item's number in it: no path per item in memory.
    dir: Arc<Path>,
    number: usize,
}

impl Item {
    /// The object's JSON, as backed up.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        std::fs::read(file_of(&self.dir, self.number))
    }
}

/// Numbered files: names from the archive never become paths.
fn file_of(dir: &Path, number: usize) -> PathBuf {
    dir.join(format!("{number}.json"))
}

/// Items on disk; the directory goes when this is dropped.
pub struct Spool {
    _dir: Cleanup,
    pub items: Vec<Item>,
    /// `metadata/version`, when the archive has one.
    pub format_version: Option<String>,
}

/// The spool's directory, deleted on a blocking thread when dropped inside the runtime: one
/// file per item makes 100,000 files for a large restore, and deleting them where the restore
/// ends held a runtime worker for seconds, long enough for the lease renewal behind it to miss
/// its window.
struct Cleanup(Option<tempfile::TempDir>);

impl From<tempfile::TempDir> for Cleanup {
    fn from(dir: tempfile::TempDir) -> Self {
        Cleanup(Some(dir))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(dir) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || drop(dir));
            }
            // Outside a runtime (the fuzz target): nothing else waits on this thread.
            Err(_) => drop(dir),
        }
    }
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
pub async fn spool<R>(mut reader: R, limits: Limits) -> io::Result<Spool>
where
    R: AsyncRead + Unpin + Send,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(DEPTH);
    let blocking = tokio::task::spawn_blocking(move || {
        spool_blocking(
            ChannelReader {
                rx,
                current: Bytes::new(),
            },
            limits,
        )
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

/// [`spool`] over a blocking reader (the fuzz target's way in; the restore uses [`spool`]).
pub fn spool_blocking(reader: impl Read, limits: Limits) -> io::Result<Spool> {
    let dir = tempfile::Builder::new()
        .prefix("veloxide-restore-")
        .tempdir()?;
    let tripped = std::rc::Rc::new(std::cell::Cell::new(false));
    let expanded = Capped {
        inner: flate2::read::GzDecoder::new(reader),
        left: limits.expanded_bytes,
        tripped: tripped.clone(),
    };
    let mut archive = tar::Archive::new(expanded);
    // The tar reader may wrap the cap's error in its own: the flag says what happened.
    spool_entries(&mut archive, limits, dir).map_err(|e| {
        if tripped.get() {
            over(format!(
                "the archive expands to more than {} bytes (the restore's bound on \
                 decompressed size)",
                limits.expanded_bytes
            ))
        } else {
            e
        }
    })
}

fn spool_entries(
    archive: &mut tar::Archive<impl Read>,
    limits: Limits,
    dir: tempfile::TempDir,
) -> io::Result<Spool> {
    let shared: Arc<Path> = dir.path().into();
    let mut items = Vec::new();
    let mut format_version = None;
    let mut spooled = 0u64;
    // Raw entries: the tar crate would read a GNU long name or a PAX header whole, whatever
    // its size, before this loop could look at it. Here each is bounded first.
    let mut extended = Extended::default();
    for (count, entry) in archive.entries()?.raw(true).enumerate() {
        if count >= limits.entries {
            return Err(over(format!(
                "the archive holds more than {} entries (the restore's bound on entries)",
                limits.entries
            )));
        }
        let mut entry = entry?;
        if extended.take_extension(&mut entry, limits)? {
            continue;
        }
        let raw_path = extended
            .path
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        if raw_path.len() > limits.path_bytes {
            return Err(over(format!(
                "an entry's path is {} bytes, over the bound of {} bytes",
                raw_path.len(),
                limits.path_bytes
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_gnu_sparse() {
            // Its extra headers follow unannounced; a backup never holds one.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a GNU sparse file entry: not part of a backup archive",
            ));
        }
        if !kind.is_file() {
            continue;
        }
        let path = String::from_utf8_lossy(&raw_path).into_owned();
        if path == "metadata/version" {
            let mut text = String::new();
            entry.by_ref().take(64).read_to_string(&mut text)?;
            format_version = Some(text.trim().to_owned());
            continue;
        }
        let Some((group_resource, namespace, name)) = item_of(&path) else {
            continue;
        };
        let size = entry.size();
        if size > limits.item_bytes {
            return Err(over(format!(
                "{path} is {size} bytes, over the bound of {} bytes for one item (the API \
                 server's own limit on an object)",
                limits.item_bytes
            )));
        }
        if items.len() >= limits.files {
            return Err(over(format!(
                "the archive holds more than {} items (the restore's bound on spooled files)",
                limits.files
            )));
        }
        spooled += size.div_ceil(BLOCK_BYTES).max(1) * BLOCK_BYTES;
        if spooled > limits.spool_bytes {
            return Err(over(format!(
                "the archive's items need more than the restore spool's {} bytes, each file \
                 counted in whole {BLOCK_BYTES}-byte blocks (--restore-spool-limit, the chart's \
                 restoreSpool.sizeLimit): raise it to restore this backup",
                limits.spool_bytes
            )));
        }
        let number = items.len();
        copy_to(&mut entry, &file_of(&shared, number))?;
        items.push(Item {
            group_resource,
            namespace,
            name,
            size,
            dir: shared.clone(),
            number,
        });
    }
    if extended.path.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the archive ends with an extension header and no entry it describes",
        ));
    }
    Ok(Spool {
        _dir: dir.into(),
        items,
        format_version,
    })
}

/// A reader that fails (and sets `tripped`) once it has given `left` bytes.
struct Capped<R> {
    inner: R,
    left: u64,
    tripped: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One more byte would be over: check there is one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.tripped.set(true);
                    Err(over("decompressed size".into()))
                }
            };
        }
        let want = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut out[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn copy_to(entry: &mut impl Read, file: &Path) -> io::Result<()> {
    let mut out = std::fs::File::create(file)?;
    io::copy(entry, &mut out)?;
    Ok(())
}

mod extension;
mod limits;
use extension::Extended;

#[cfg(test)]
mod tests;
