//! What became of each hook: one record per hook run (or skipped), the line the backup or
//! restore log gets for it, and the counts Velero's `hookStatus` reports.

use super::exec::{ExecError, Output};
use super::rules::{Exec, HookSource};
use crate::api::{HookErrorMode, HookStatus};

/// The marker every hook's log line carries, so `backup describe --details` finds them.
pub const LOG_MARKER: &str = "hookPhase=";

/// How one hook ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    Succeeded(Output),
    /// Ran (or was tried) and failed; the message says why, the output what it printed.
    Failed(String, Option<Output>),
    /// Not run, for the reason given (the pod had finished, an earlier hook failed); not
    /// counted as attempted.
    Skipped(String),
}

/// One hook on one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRecord {
    /// `namespace/name`.
    pub pod: String,
    pub name: String,
    pub source: HookSource,
    /// `pre`, `post` (backup) or `post-restore` (restore exec), `init` (restore init).
    pub phase: &'static str,
    pub container: String,
    pub on_error: HookErrorMode,
    pub ended: Ended,
}

impl HookRecord {
    pub fn new(pod: &str, hook: &Exec, phase: &'static str, container: &str, ended: Ended) -> Self {
        HookRecord {
            pod: pod.to_owned(),
            name: hook.name.clone(),
            source: hook.source,
            phase,
            container: container.to_owned(),
            on_error: hook.on_error,
            ended,
        }
    }

    /// A record for a command that ran (or was tried).
    pub fn ran(
        pod: &str,
        hook: &Exec,
        phase: &'static str,
        container: &str,
        result: Result<Output, ExecError>,
    ) -> Self {
        let ended = match result {
            Ok(out) => Ended::Succeeded(out),
            Err(e) => Ended::Failed(e.to_string(), e.output().cloned()),
        };
        HookRecord::new(pod, hook, phase, container, ended)
    }

    pub fn failed(&self) -> bool {
        matches!(self.ended, Ended::Failed(..))
    }

    pub fn attempted(&self) -> bool {
        !matches!(self.ended, Ended::Skipped(_))
    }

    /// A failure the run must count as an error (onError `Fail`); a `Continue` one is a warning.
    pub fn fatal(&self) -> bool {
        self.failed() && self.on_error == HookErrorMode::Fail
    }

    /// The one-line summary: the results' message and the heart of the log line.
    pub fn summary(&self) -> String {
        let what = format!(
            "{} hook {:?} ({}) in pod {} container {:?}",
            self.phase,
            self.name,
            self.source.as_str(),
            self.pod,
            self.container
        );
        match &self.ended {
            Ended::Succeeded(_) => format!("{what}: succeeded"),
            Ended::Failed(why, _) => {
                format!("{what}: failed (onError {}): {why}", self.on_error.as_str())
            }
            Ended::Skipped(why) => format!("{what}: not run: {why}"),
        }
    }

    /// The log level and line, with the output (bounded by the exec) and fields a reader can
    /// grep, as Velero's `hookName`, `hookPhase`, `hookSource`.
    pub fn log_line(&self) -> (&'static str, String) {
        let level = match (&self.ended, self.fatal()) {
            (Ended::Failed(..), true) => "error",
            (Ended::Failed(..), false) => "warning",
            _ => "info",
        };
        let output = match &self.ended {
            Ended::Succeeded(o) | Ended::Failed(_, Some(o)) => o.clone(),
            _ => Output::default(),
        };
        let mut line = format!(
            "{} {LOG_MARKER}{} hookName={:?} hookSource={}",
            self.summary(),
            self.phase,
            self.name,
            self.source.as_str()
        );
        for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            if !text.is_empty() {
                line.push_str(&format!(" {stream}={:?}", text.trim_end()));
            }
        }
        if output.truncated {
            line.push_str(" (output cut at 4096 bytes a stream)");
        }
        (level, line)
    }
}

/// The summary of a hook's log line (as [`HookRecord::log_line`] wrote it, inside the log's
/// quoted `msg`), or `None` for any other line.
pub fn from_log_line(line: &str) -> Option<String> {
    let quoted = line.split_once(" msg=")?.1;
    // The message is a JSON string; the fields after it are the log's own.
    let mut de = serde_json::Deserializer::from_str(quoted).into_iter::<String>();
    let msg = de.next()?.ok()?;
    let at = msg.find(&format!(" {LOG_MARKER}"))?;
    Some(msg[..at].to_owned())
}

/// Counts for `status.hookStatus`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub attempted: u64,
    pub failed: u64,
}

impl Tally {
    pub fn add(&mut self, record: &HookRecord) {
        self.attempted += u64::from(record.attempted());
        self.failed += u64::from(record.failed());
    }

    /// The status block, `None` when no hook was tried (as Velero leaves it out).
    pub fn status(&self) -> Option<HookStatus> {
        (self.attempted > 0).then_some(HookStatus {
            hooks_attempted: Some(self.attempted as i64),
            hooks_failed: Some(self.failed as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hook(on_error: HookErrorMode) -> Exec {
        Exec {
            name: "freeze".into(),
            source: HookSource::Spec,
            container: None,
            command: vec!["sync".into()],
            on_error,
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn levels_and_counts() {
        let out = Output {
            stdout: "done\n".into(),
            ..Default::default()
        };
        let cases = [
            (HookErrorMode::Fail, Ended::Succeeded(out), "info", (1, 0)),
            (
                HookErrorMode::Fail,
                Ended::Failed("the command exited with code 1".into(), None),
                "error",
                (1, 1),
            ),
            (
                HookErrorMode::Continue,
                Ended::Failed("timed out after 1s".into(), None),
                "warning",
                (1, 1),
            ),
            (
                HookErrorMode::Fail,
                Ended::Skipped("the pod has finished".into()),
                "info",
                (0, 0),
            ),
        ];
        for (mode, ended, level, (attempted, failed)) in cases {
            let r = HookRecord::new("db/pg-0", &hook(mode), "pre", "pg", ended);
            let (got, line) = r.log_line();
            assert_eq!(got, level, "{line}");
            assert!(line.contains("hookPhase=pre hookName=\"freeze\""), "{line}");
            let mut t = Tally::default();
            t.add(&r);
            assert_eq!((t.attempted, t.failed), (attempted, failed));
        }
        assert_eq!(Tally::default().status(), None);
    }

    #[test]
    fn describe_finds_the_summary_in_the_log() {
        let r = HookRecord::new(
            "ns/p",
            &hook(HookErrorMode::Fail),
            "pre",
            "c",
            Ended::Succeeded(Output::default()),
        );
        let (_, msg) = r.log_line();
        let line = format!(
            "time=\"t\" level=info msg={} backup=velero/b",
            serde_json::to_string(&msg).unwrap()
        );
        assert_eq!(from_log_line(&line), Some(r.summary()));
        assert_eq!(
            from_log_line("time=\"t\" level=info msg=\"Starting backup\" backup=x"),
            None
        );
    }

    #[test]
    fn output_is_in_the_line_quoted() {
        let out = Output {
            stdout: "a \"b\"\n".into(),
            stderr: String::new(),
            truncated: true,
        };
        let r = HookRecord::new(
            "ns/p",
            &hook(HookErrorMode::Fail),
            "post",
            "c",
            Ended::Succeeded(out),
        );
        let (_, line) = r.log_line();
        assert!(line.contains(r#"stdout="a \"b\"""#), "{line}");
        assert!(line.ends_with("(output cut at 4096 bytes a stream)"));
    }
}
