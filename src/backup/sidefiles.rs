//! The files written next to the archive: the log, the resource list and the results.
//!
//! The log and the resource list grow with the cluster, so they are gzipped into temporary
//! files as the backup runs instead of being held in memory. The results keep at most
//! [`MAX_MESSAGES`] messages per kind (and count the rest) for the same reason.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

/// Messages kept per kind (errors, warnings) in the results file.
pub const MAX_MESSAGES: usize = 1000;

/// A gzip stream into an anonymous temporary file.
pub struct GzSpool {
    encoder: GzEncoder<File>,
}

impl GzSpool {
    pub fn new() -> io::Result<GzSpool> {
        Ok(GzSpool {
            encoder: GzEncoder::new(tempfile::tempfile()?, Compression::default()),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.encoder.write_all(bytes)
    }

    /// Finish the gzip stream; the file is rewound, ready to upload.
    pub fn finish(self) -> io::Result<File> {
        let mut file = self.encoder.finish()?;
        file.rewind()?;
        Ok(file)
    }
}

/// Velero's `<backup>-resource-list.json.gz`: `{"<group/version>/<Kind>": ["ns/name", ...]}`.
/// Written as items arrive; callers add every item of one key before the next key.
pub struct ResourceList {
    spool: GzSpool,
    current: Option<String>,
}

impl ResourceList {
    pub fn new() -> io::Result<ResourceList> {
        let mut spool = GzSpool::new()?;
        spool.write(b"{")?;
        Ok(ResourceList {
            spool,
            current: None,
        })
    }

    pub fn add(&mut self, gvk_key: &str, namespace: Option<&str>, name: &str) -> io::Result<()> {
        let entry = match namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        };
        let quoted = serde_json::to_string(&entry).expect("a string serializes");
        if self.current.as_deref() == Some(gvk_key) {
            return self.spool.write(format!(",{quoted}").as_bytes());
        }
        let open = if self.current.is_some() { "]," } else { "" };
        let key = serde_json::to_string(gvk_key).expect("a string serializes");
        self.spool
            .write(format!("{open}{key}:[{quoted}").as_bytes())?;
        self.current = Some(gvk_key.to_owned());
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<File> {
        let close: &[u8] = if self.current.is_some() { b"]}" } else { b"}" };
        self.spool.write(close)?;
        self.spool.finish()
    }
}

/// The backup's log, `<backup>-logs.gz`, in logrus' text format as Velero writes it.
pub struct BackupLog {
    spool: GzSpool,
    backup: String,
}

impl BackupLog {
    /// `backup` is `namespace/name`.
    pub fn new(backup: &str) -> io::Result<BackupLog> {
        Ok(BackupLog {
            spool: GzSpool::new()?,
            backup: backup.to_owned(),
        })
    }

    /// One line; a log that cannot be written never fails the backup.
    pub fn line(&mut self, level: &str, message: &str) {
        let time = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let msg = serde_json::to_string(message).expect("a string serializes");
        let line = format!(
            "time=\"{time}\" level={level} msg={msg} backup={}\n",
            self.backup
        );
        let _ = self.spool.write(line.as_bytes());
    }

    pub fn finish(self) -> io::Result<File> {
        self.spool.finish()
    }
}

/// Velero's `Result`: messages about the server, the cluster, and each namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResultSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub velero: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, Vec<String>>,
    #[serde(skip)]
    count: u64,
}

impl ResultSet {
    /// Record a message about an object in `namespace` (or a cluster-scoped one).
    pub fn add(&mut self, namespace: Option<&str>, message: String) {
        self.count += 1;
        if self.count > MAX_MESSAGES as u64 {
            return;
        }
        match namespace {
            Some(ns) => self
                .namespaces
                .entry(ns.to_owned())
                .or_default()
                .push(message),
            None => self.cluster.push(message),
        }
    }

    /// A message about the backup as a whole.
    pub fn add_general(&mut self, message: String) {
        self.count += 1;
        if self.count <= MAX_MESSAGES as u64 {
            self.velero.push(message);
        }
    }

    /// Every message recorded, kept or not.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// `<backup>-results.gz`: `{"errors": Result, "warnings": Result}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Results {
    pub errors: ResultSet,
    pub warnings: ResultSet,
}

impl Results {
    pub fn to_gzip(&self) -> io::Result<Vec<u8>> {
        let mut results = self.clone();
        for set in [&mut results.errors, &mut results.warnings] {
            if set.count > MAX_MESSAGES as u64 {
                let dropped = set.count - MAX_MESSAGES as u64;
                set.velero
                    .push(format!("{dropped} more messages are in the backup's log"));
            }
        }
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        serde_json::to_writer(&mut encoder, &results)?;
        encoder.finish()
    }
}

/// Gzip a small document in memory.
pub fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(mut file: impl Read) -> String {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn resource_list_is_velero_s_map() {
        let mut list = ResourceList::new().unwrap();
        list.add("apps/v1/Deployment", Some("app"), "web").unwrap();
        list.add("v1/ConfigMap", Some("app"), "a").unwrap();
        list.add("v1/ConfigMap", Some("app"), "b").unwrap();
        list.add("v1/Namespace", None, "app").unwrap();
        let text = gunzip(list.finish().unwrap());
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"apps/v1/Deployment": ["app/web"], "v1/ConfigMap": ["app/a", "app/b"],
                               "v1/Namespace": ["app"]})
        );
        let empty = gunzip(ResourceList::new().unwrap().finish().unwrap());
        assert_eq!(empty, "{}");
    }

    #[test]
    fn results_keep_a_bounded_number_of_messages() {
        let mut results = Results::default();
        results
            .errors
            .add(Some("app"), "listing secrets: forbidden".into());
        results.warnings.add(None, "unknown resource nope".into());
        for i in 0..MAX_MESSAGES + 5 {
            results.errors.add(Some("big"), format!("e{i}"));
        }
        assert_eq!(results.errors.count(), MAX_MESSAGES as u64 + 6);
        let text = gunzip(results.to_gzip().unwrap().as_slice());
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value["errors"]["namespaces"]["app"][0],
            "listing secrets: forbidden"
        );
        assert_eq!(value["warnings"]["cluster"][0], "unknown resource nope");
        assert_eq!(
            value["errors"]["namespaces"]["big"]
                .as_array()
                .unwrap()
                .len(),
            MAX_MESSAGES - 1
        );
        assert!(
            value["errors"]["velero"][0]
                .as_str()
                .unwrap()
                .contains("6 more")
        );
        assert!(value["warnings"].get("namespaces").is_none());
    }

    #[test]
    fn log_lines_are_logrus_text() {
        let mut log = BackupLog::new("velero/b1").unwrap();
        log.line("info", "Backing up \"configmaps\"");
        let text = gunzip(log.finish().unwrap());
        assert!(text.starts_with("time=\""), "{text}");
        assert!(
            text.contains(r#"level=info msg="Backing up \"configmaps\"" backup=velero/b1"#),
            "{text}"
        );
    }
}
