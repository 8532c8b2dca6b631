//! Go-style durations (`1m0s`, `90s`, `1.5h`) as `metav1.Duration` serializes them.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A duration as written in a manifest. Kept as text so a bad value reaches the location
/// parser (and gets a message naming the field) instead of failing the whole object.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct GoDuration(pub String);

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration; write it as Go does, e.g. \"1m0s\", \"90s\" or \"1h30m\"")]
    Malformed(String),
    #[error("{0:?} is negative; use a duration of zero or more")]
    Negative(String),
}

impl GoDuration {
    /// Parse Go's `time.ParseDuration` grammar, refusing negative values.
    pub fn parse(&self) -> Result<Duration, DurationError> {
        parse_go_duration(&self.0)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Go's duration grammar: an optional sign, then one or more `<decimal><unit>` terms, where the
/// unit is one of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`; a bare `0` is allowed. Hand-written
/// because no maintained crate accepts exactly Go's grammar (humantime rejects `1.5h`, accepts
/// spaces and units Go refuses).
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let malformed = || DurationError::Malformed(text.to_owned());
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(malformed());
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(malformed)?;
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(malformed());
        }
        let value: f64 = number.parse().map_err(|_| malformed())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(malformed()),
        };
        total_ns += value * scale;
        rest = &rest[unit_len..];
    }
    // Go caps durations at about 292 years; anything larger is not a real setting.
    if total_ns > i64::MAX as f64 {
        return Err(malformed());
    }
    if negative && total_ns > 0.0 {
        return Err(DurationError::Negative(text.to_owned()));
    }
    Ok(Duration::from_nanos(total_ns.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_go_writes_and_reads() {
        let cases = [
            ("0", 0),
            ("1m0s", 60_000),
            ("90s", 90_000),
            ("1h30m", 5_400_000),
            ("1.5h", 5_400_000),
            ("300ms", 300),
            ("720h0m0s", 2_592_000_000),
            ("+5s", 5_000),
            ("-0s", 0),
        ];
        for (text, millis) in cases {
            let got = parse_go_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got, Duration::from_millis(millis), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_and_negatives() {
        for text in [
            "", "1", "m", "1x", "1 m", "1m 0s", "..5s", "1.2.3s", "5d", "s1", "-",
        ] {
            assert!(
                matches!(parse_go_duration(text), Err(DurationError::Malformed(_))),
                "{text:?} should be malformed"
            );
        }
        assert_eq!(
            parse_go_duration("-1m"),
            Err(DurationError::Negative("-1m".into()))
        );
    }
}
