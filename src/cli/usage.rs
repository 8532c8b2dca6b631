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

/// A list flag's items, blanks dropped; `None` when nothing is left (the field stays unset).
pub(super) fn non_empty(items: &[String]) -> Option<Vec<&String>> {
    let kept: Vec<&String> = items.iter().filter(|s| !s.trim().is_empty()).collect();
    (!kept.is_empty()).then_some(kept)
}

/// `KEY=VALUE` items of `--flag` as a map; `None` when there are none.
pub(super) fn key_values(
    flag: &str,
    items: &[String],
) -> Result<Option<std::collections::BTreeMap<String, String>>, UsageError> {
    let map = items
        .iter()
        .filter(|i| !i.is_empty())
        .map(|i| match i.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(UsageError(format!("--{flag}: {i:?} is not KEY=VALUE"))),
        })
        .collect::<Result<std::collections::BTreeMap<_, _>, _>>()?;
    Ok((!map.is_empty()).then_some(map))
}
