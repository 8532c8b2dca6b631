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

/// Check a `--ttl` and write it as Go's `time.Duration.String()` would (`24h0m0s`).
pub(crate) fn go_duration(text: &str) -> Result<String, String> {
    let d = crate::api::duration::parse_go_duration(text).map_err(|e| e.to_string())?;
    let secs = d.as_secs();
    let frac = d.subsec_nanos();
    if secs == 0 && frac == 0 {
        return Ok("0s".into());
    }
    let seconds = if frac == 0 {
        format!("{}", secs % 60)
    } else {
        let f = format!("{}.{frac:09}", secs % 60);
        f.trim_end_matches('0').to_owned()
    };
    Ok(match (secs / 3600, secs / 60 % 60) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_written_as_go_writes_it() {
        for (given, written) in [
            ("720h", "720h0m0s"),
            ("90m", "1h30m0s"),
            ("45s", "45s"),
            ("1.5s", "1.5s"),
            ("0", "0s"),
            ("2m", "2m0s"),
        ] {
            assert_eq!(go_duration(given).unwrap(), written, "{given}");
        }
        assert!(go_duration("30d").is_err());
    }
}
