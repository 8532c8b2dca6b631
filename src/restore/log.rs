//! A restore's log, in Velero's text format.

use crate::backup::sidefiles::GzSpool;

/// Velero's text log with the restore's name on every line.
pub struct RestoreLog {
    pub spool: GzSpool,
    pub restore: String,
}

impl RestoreLog {
    pub fn line(&mut self, level: &str, message: &str) {
        let time = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let msg = serde_json::to_string(message).expect("a string serializes");
        let line = format!(
            "time=\"{time}\" level={level} msg={msg} restore={}\n",
            self.restore
        );
        let _ = self.spool.write(line.as_bytes());
    }
}
