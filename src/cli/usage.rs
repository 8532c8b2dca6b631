//! The command line's values: the error for a mistake found after parsing, and the parsers
//! clap runs on flag values.

use std::time::Duration;

/// A mistake on the command line found after parsing: exit status 2, as clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A Go duration flag (`30s`, `2m`, `1h30m`).
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::api::duration::parse_go_duration(text).map_err(|e| e.to_string())
}
