//! What an archive may cost a restore: the bounds, and the error that names the one broken.
//! A leaf: the spool and its extension-header reader both use it.

use std::io;

/// The largest item accepted: the API server's own limit on a request body (3 MiB; etcd
/// keeps objects under 1.5 MiB by default), so a larger item is not an object the API server
/// could take back, only a way to make the restore hold it in memory.
pub const MAX_ITEM_BYTES: u64 = 3 * 1024 * 1024;

/// The largest body of a tar extension header (a GNU long name or long link, a PAX header):
/// these are read whole into memory, so their size is checked before a byte is read. A path is
/// at most `Limits::path_bytes`; a PAX header holds it and a few short records.
pub const MAX_HEADER_BYTES: u64 = 8 * 1024;

/// What one spooled file costs its volume at least: a filesystem block, however small the
/// item (a million one-byte items fill 4 GiB of disk, not 1 MB).
pub const BLOCK_BYTES: u64 = 4096;

/// What an archive may cost a restore. Every bound is checked as the archive streams, before
/// the cost is paid: over one, the spool stops with [`OverBound`] naming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one item (the tar header's size, which the reader holds it to).
    pub item_bytes: u64,
    /// Bytes of all items written to the spool directory, each rounded up to whole
    /// [`BLOCK_BYTES`] blocks: at most what its volume holds.
    pub spool_bytes: u64,
    /// Bytes the gzip stream may expand to, every entry counted (a gzip bomb stops here).
    pub expanded_bytes: u64,
    /// Tar entries of any kind.
    pub entries: usize,
    /// Files in the spool (items): each costs an inode and a line of the in-memory index.
    pub files: usize,
    /// Bytes of an entry's path.
    pub path_bytes: usize,
    /// Bytes of one extension header's body (GNU long name or link, PAX), read into memory.
    pub header_bytes: u64,
}

impl Limits {
    /// The bounds for a spool of `spool_bytes`. An archive holds each item twice (the
    /// unversioned copy and the `-preferredversion` one) plus small files, so it may expand to
    /// four times the spool and 64 MiB more; past that it is not a backup, or one the spool
    /// could not take anyway.
    pub fn for_spool(spool_bytes: u64) -> Self {
        Limits {
            item_bytes: MAX_ITEM_BYTES,
            spool_bytes,
            expanded_bytes: spool_bytes.saturating_mul(4).saturating_add(64 << 20),
            entries: 2_000_000,
            files: 1_000_000,
            path_bytes: 1024,
            header_bytes: MAX_HEADER_BYTES,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::for_spool(DEFAULT_SPOOL_BYTES)
    }
}

/// The spool's default size (`--restore-spool-limit`; the chart's `restoreSpool.sizeLimit`).
pub const DEFAULT_SPOOL_BYTES: u64 = 1024 * 1024 * 1024;

/// An archive over one of the [`Limits`]; the message names the bound and its value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OverBound(pub String);

pub(super) fn over(message: String) -> io::Error {
    io::Error::other(OverBound(message))
}

/// The bound an error of [`spool`] broke, if that is what it is.
pub fn over_bound(e: &io::Error) -> Option<&OverBound> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<OverBound>())
}
