//! Tar extension headers (GNU long name and long link, PAX), each read only once its size is
//! known to be within [`Limits::header_bytes`]: the tar crate reads them whole, whatever their
//! size, so the spool reads the archive's raw entries and handles these itself.

use std::io::{self, Read};

use super::limits::{Limits, over};

/// What extension headers (GNU long name, PAX) say about the next entry.
#[derive(Default)]
pub(super) struct Extended {
    /// The next entry's path, when a header gave it.
    pub(super) path: Option<Vec<u8>>,
}

impl Extended {
    /// If `entry` is an extension header, read it (bounded) and keep what it says of the next
    /// entry; `false` for any other entry.
    pub(super) fn take_extension<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        limits: Limits,
    ) -> io::Result<bool> {
        let kind = entry.header().entry_type();
        let what = if kind.is_gnu_longname() {
            "GNU long-name"
        } else if kind.is_gnu_longlink() {
            "GNU long-link"
        } else if kind.is_pax_local_extensions() {
            "PAX"
        } else if kind.is_pax_global_extensions() {
            "PAX global"
        } else {
            return Ok(false);
        };
        let size = entry.size();
        if size > limits.header_bytes {
            return Err(over(format!(
                "a {what} header of {size} bytes, over the bound of {} bytes for one \
                 extension header",
                limits.header_bytes
            )));
        }
        let mut body = Vec::with_capacity(size as usize);
        entry.by_ref().take(size).read_to_end(&mut body)?;
        if kind.is_gnu_longname() {
            while body.last() == Some(&0) {
                body.pop();
            }
            self.path = Some(body);
        } else if kind.is_pax_local_extensions() {
            for record in tar::PaxExtensions::new(&body) {
                let record = record?;
                match record.key_bytes() {
                    b"path" => self.path = Some(record.value_bytes().to_vec()),
                    // Entries are skipped by their header's size here: a PAX size that says
                    // otherwise would misalign the archive.
                    b"size" => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "a PAX header sets an entry's size: no item of a backup needs one",
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(true)
    }
}
