//! The backup archive in Velero's layout, as a tar.gz written to any `std::io::Write`.
//!
//! Transport-free: the writer knows nothing of Kubernetes or S3. The caller drains the sink
//! between items (see [`ArchiveWriter::sink_mut`]) and sends the bytes on, so the archive is
//! never held whole in memory.
//!
//! flate2 and tar (both synchronous) rather than async-compression + tokio-tar: tar is the
//! maintained, widely used implementation (tokio-tar is a fork that lags it), and a synchronous
//! encoder over an in-memory sink is simpler to test and to reason about; the async boundary
//! is one bounded channel in `run.rs`.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{Builder, EntryType, Header};

use crate::api::backup::FORMAT_VERSION;

/// One backed-up object's place in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemRef<'a> {
    /// Velero's `GroupResource.String()`: `configmaps`, `deployments.apps`.
    pub group_resource: &'a str,
    /// The API version the object was read at (the preferred one), e.g. `v1`.
    pub version: &'a str,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// The two paths Velero writes an object at: the unversioned one (for old readers) and the
/// `<version>-preferredversion` one.
pub fn item_paths(item: &ItemRef<'_>) -> [String; 2] {
    let scope = match item.namespace {
        Some(ns) => format!("namespaces/{ns}"),
        None => "cluster".to_owned(),
    };
    [
        format!(
            "resources/{}/{scope}/{}.json",
            item.group_resource, item.name
        ),
        format!(
            "resources/{}/{}-preferredversion/{scope}/{}.json",
            item.group_resource, item.version, item.name
        ),
    ]
}

/// A tar.gz being written: `metadata/version` first, then items as they come.
pub struct ArchiveWriter<W: Write> {
    tar: Builder<GzEncoder<W>>,
    mtime: u64,
    items: u64,
}

impl<W: Write> ArchiveWriter<W> {
    /// Start an archive; `mtime` (unix seconds) is stamped on every entry so the same input
    /// gives the same bytes.
    pub fn new(sink: W, mtime: u64) -> io::Result<Self> {
        let mut writer = ArchiveWriter {
            tar: Builder::new(GzEncoder::new(sink, Compression::default())),
            mtime,
            items: 0,
        };
        writer.add_file("metadata/version", format!("{FORMAT_VERSION}\n").as_bytes())?;
        Ok(writer)
    }

    /// Add one object (its JSON, compact, as Velero writes it) at both of its paths.
    pub fn add_item(&mut self, item: &ItemRef<'_>, json: &[u8]) -> io::Result<()> {
        for path in item_paths(item) {
            self.add_file(&path, json)?;
        }
        self.items += 1;
        Ok(())
    }

    /// Add one object read at a version other than its group's preferred one (Velero's
    /// `EnableAPIGroupVersions`): at `resources/<gr>/<version>/...` only.
    pub fn add_other_version(&mut self, item: &ItemRef<'_>, json: &[u8]) -> io::Result<()> {
        let scope = match item.namespace {
            Some(ns) => format!("namespaces/{ns}"),
            None => "cluster".to_owned(),
        };
        let path = format!(
            "resources/{}/{}/{scope}/{}.json",
            item.group_resource, item.version, item.name
        );
        self.add_file(&path, json)
    }

    /// Objects added so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// The sink, to take the compressed bytes produced so far.
    pub fn sink_mut(&mut self) -> &mut W {
        self.tar.get_mut().get_mut()
    }

    /// Write the tar trailer and the gzip footer; returns the sink with the last bytes.
    pub fn finish(self) -> io::Result<W> {
        self.tar.into_inner()?.finish()
    }

    fn add_file(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        // Velero's entries: regular files, mode 0755, no owner.
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o755);
        header.set_size(data.len() as u64);
        header.set_mtime(self.mtime);
        // append_data writes a GNU long-name entry when the path exceeds 100 bytes.
        self.tar.append_data(&mut header, path, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(bytes: &[u8]) -> Vec<(String, String, u32)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let mode = e.header().mode().unwrap();
                let mut text = String::new();
                e.read_to_string(&mut text).unwrap();
                (path, text, mode)
            })
            .collect()
    }

    #[test]
    fn layout_is_velero_s() {
        let mut w = ArchiveWriter::new(Vec::new(), 1_700_000_000).unwrap();
        w.add_item(
            &ItemRef {
                group_resource: "configmaps",
                version: "v1",
                namespace: Some("app"),
                name: "settings",
            },
            br#"{"kind":"ConfigMap"}"#,
        )
        .unwrap();
        w.add_item(
            &ItemRef {
                group_resource: "widgets.example.com",
                version: "v1beta1",
                namespace: None,
                name: "w1",
            },
            br#"{"kind":"Widget"}"#,
        )
        .unwrap();
        assert_eq!(w.items(), 2);
        let bytes = w.finish().unwrap();
        let got = entries(&bytes);
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata/version",
                "resources/configmaps/namespaces/app/settings.json",
                "resources/configmaps/v1-preferredversion/namespaces/app/settings.json",
                "resources/widgets.example.com/cluster/w1.json",
                "resources/widgets.example.com/v1beta1-preferredversion/cluster/w1.json",
            ]
        );
        assert_eq!(got[0].1, "1.1.0\n");
        assert_eq!(got[1].1, r#"{"kind":"ConfigMap"}"#);
        assert_eq!(got[4].1, r#"{"kind":"Widget"}"#);
        assert!(got.iter().all(|(_, _, mode)| *mode == 0o755));
    }

    /// Names near Kubernetes' 253-character limit make paths longer than tar's 100 bytes.
    #[test]
    fn long_names_survive() {
        let name = "n".repeat(253);
        let mut w = ArchiveWriter::new(Vec::new(), 0).unwrap();
        let item = ItemRef {
            group_resource: "customresourcedefinitions.apiextensions.k8s.io",
            version: "v1",
            namespace: None,
            name: &name,
        };
        w.add_item(&item, b"{}").unwrap();
        let got = entries(&w.finish().unwrap());
        assert_eq!(got[1].0, item_paths(&item)[0]);
        assert_eq!(got[2].0, item_paths(&item)[1]);
    }

    /// Draining the sink between items yields the same archive as writing it whole, so the
    /// streaming caller never needs more than one item's output in memory.
    #[test]
    fn draining_between_items_gives_the_same_bytes() {
        let write = |drain: bool| {
            let mut out = Vec::new();
            let mut w = ArchiveWriter::new(Vec::new(), 7).unwrap();
            for i in 0..500 {
                let name = format!("cm-{i}");
                let body = format!(r#"{{"data":{{"k":"{}"}}}}"#, "x".repeat(i % 97));
                w.add_item(
                    &ItemRef {
                        group_resource: "configmaps",
                        version: "v1",
                        namespace: Some("ns"),
                        name: &name,
                    },
                    body.as_bytes(),
                )
                .unwrap();
                if drain {
                    out.append(w.sink_mut());
                }
            }
            out.extend(w.finish().unwrap());
            out
        };
        let streamed = write(true);
        assert_eq!(streamed, write(false));
        assert_eq!(entries(&streamed).len(), 1 + 2 * 500);
    }
}
