//! Cron expressions as Velero reads them (robfig/cron's `ParseStandard`): five fields
//! (minute hour day-of-month month day-of-week), `@yearly`-style descriptors, `@every
//! <duration>`, and an optional `CRON_TZ=<zone> ` (or `TZ=<zone> `) prefix.
//!
//! Hand-written over jiff rather than taken from a cron crate: the next-time rule has to be
//! robfig's exactly (how day-of-month and day-of-week combine, what happens to a time inside
//! a daylight-saving gap or overlap), and every replica has to compute the same times, so the
//! zones come from the tzdb compiled into the binary, never from the image.

use std::sync::OnceLock;
use std::time::Duration;

use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{Timestamp, ToSpan, Zoned};

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Cron {
    kind: Kind,
    zone: TimeZone,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// `@every`: a fixed delay after the base time, whole seconds (robfig's ConstantDelay).
    Every(Duration),
    Fields(Fields),
}

/// One bit per allowed value; `STAR` records a field written `*` or `?` (robfig's starBit),
/// which decides how day-of-month and day-of-week combine.
#[derive(Clone, Debug, PartialEq)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

const STAR: u64 = 1 << 63;

/// Why an expression was refused; the text names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("the schedule is empty; write a cron expression such as \"0 3 * * *\" or \"@daily\"")]
    Empty,
    #[error(
        "unknown time zone {0:?} in the CRON_TZ prefix; use an IANA name such as \"Europe/Berlin\" or \"America/New_York\""
    )]
    UnknownZone(String),
    #[error(
        "{0:?} has no expression after the time zone; write it as \"CRON_TZ=Europe/Berlin 0 3 * * *\""
    )]
    ZoneOnly(String),
    #[error(
        "expected exactly 5 fields (minute hour day-of-month month day-of-week), found {found} in {text:?}; e.g. \"0 3 * * *\" runs at 03:00 every day"
    )]
    FieldCount { found: usize, text: String },
    #[error("{field} field {value:?}: {problem}")]
    Field {
        field: &'static str,
        value: String,
        problem: String,
    },
    #[error(
        "unknown descriptor {0:?}; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or \"@every <duration>\""
    )]
    Descriptor(String),
    #[error("@every {0:?}: {1}")]
    Every(String, String),
    #[error("{0:?} never matches a date (e.g. 30 February); pick a day every month or year has")]
    Never(String),
}

/// The zones compiled into the binary (see the module comment for why not the system's).
fn zones() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

impl Cron {
    /// Parse an expression as Velero's `spec.schedule`.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(CronError::Empty);
        }
        let (zone, spec) = match trimmed
            .strip_prefix("CRON_TZ=")
            .or_else(|| trimmed.strip_prefix("TZ="))
        {
            Some(rest) => {
                let (name, spec) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| CronError::ZoneOnly(trimmed.to_owned()))?;
                let zone = zone(name)?;
                (zone, spec.trim())
            }
            None => (TimeZone::UTC, trimmed),
        };
        let kind = if let Some(every) = spec.strip_prefix("@every") {
            let every = every.trim();
            let d = crate::api::duration::parse_go_duration(every)
                .map_err(|e| CronError::Every(every.to_owned(), e.to_string()))?;
            if d < Duration::from_secs(1) {
                return Err(CronError::Every(
                    every.to_owned(),
                    "the interval must be at least 1s".into(),
                ));
            }
            // robfig drops the sub-second part.
            Kind::Every(Duration::from_secs(d.as_secs()))
        } else if spec.starts_with('@') {
            let fields = match spec.to_ascii_lowercase().as_str() {
                "@yearly" | "@annually" => "0 0 1 1 *",
                "@monthly" => "0 0 1 * *",
                "@weekly" => "0 0 * * 0",
                "@daily" | "@midnight" => "0 0 * * *",
                "@hourly" => "0 * * * *",
                _ => return Err(CronError::Descriptor(spec.to_owned())),
            };
            Kind::Fields(Fields::parse(fields)?)
        } else {
            Kind::Fields(Fields::parse(spec)?)
        };
        let cron = Cron { kind, zone };
        // A field set that matches no date at all (30 February) would make every look-up
        // scan five years and find nothing: refuse it here instead.
        if cron.next(Timestamp::UNIX_EPOCH).is_none() {
            return Err(CronError::Never(spec.to_owned()));
        }
        Ok(cron)
    }

    /// The zone the fields are read in (UTC without a prefix).
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The fixed interval of an `@every` schedule.
    pub fn every(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(d) => Some(d),
            Kind::Fields(_) => None,
        }
    }

    /// The first time strictly after `after` the schedule names (robfig's `Next`); `None`
    /// when there is none within five years.
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(d) => {
                let secs = after.as_second();
                Timestamp::from_second(secs.checked_add(d.as_secs() as i64)?).ok()
            }
            Kind::Fields(f) => f.next(after, &self.zone),
        }
    }
}

fn zone(name: &str) -> Result<TimeZone, CronError> {
    if name.is_empty() || name == "Local" {
        return Err(CronError::UnknownZone(name.to_owned()));
    }
    zones()
        .get(name)
        .map_err(|_| CronError::UnknownZone(name.to_owned()))
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Fields {
    fn parse(spec: &str) -> Result<Fields, CronError> {
        let parts: Vec<&str> = spec.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(CronError::FieldCount {
                found: parts.len(),
                text: spec.to_owned(),
            });
        }
        Ok(Fields {
            minute: field("minute", parts[0], 0, 59, &[])?,
            hour: field("hour", parts[1], 0, 23, &[])?,
            dom: field("day-of-month", parts[2], 1, 31, &[])?,
            month: field("month", parts[3], 1, 12, &MONTHS)?,
            dow: field("day-of-week", parts[4], 0, 6, &DAYS)?,
        })
    }

    fn day_matches(&self, t: &Zoned) -> bool {
        let dom = self.dom & (1 << t.day()) != 0;
        let dow = self.dow & (1 << t.weekday().to_sunday_zero_offset()) != 0;
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// robfig's `SpecSchedule.Next`, second field fixed at 0: move to the next matching month,
    /// then day, hour and minute, zeroing the smaller fields the first time one moves, and
    /// starting over when a field wraps. Hours advance in absolute time, so an hour skipped by
    /// a daylight-saving change is never matched and a repeated one is matched twice.
    fn next(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let whole_minute = after.as_second().div_euclid(60) * 60 + 60;
        let mut t = Timestamp::from_second(whole_minute)
            .ok()?
            .to_zoned(zone.clone());
        let year_limit = t.year() + 5;
        let mut added = false;
        let at = |t: &Zoned, day: i8, hour: i8| -> Option<Zoned> {
            jiff::civil::date(t.year(), t.month(), day)
                .at(hour, 0, 0, 0)
                .to_zoned(zone.clone())
                .ok()
        };
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while self.month & (1 << t.month()) == 0 {
                if !added {
                    added = true;
                    t = at(&t, 1, 0)?;
                }
                t = t.checked_add(1.month()).ok()?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(&t) {
                if !added {
                    added = true;
                    t = at(&t, t.day(), 0)?;
                }
                t = t.checked_add(1.day()).ok()?;
                // A day starting at 01:00 (midnight skipped) or 23:00 (repeated): back to
                // the day's start, as robfig does.
                let h = i64::from(t.hour());
                if h != 0 {
                    t = if h > 12 {
                        t.checked_add((24 - h).hours()).ok()?
                    } else {
                        t.checked_sub(h.hours()).ok()?
                    };
                }
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while self.hour & (1 << t.hour()) == 0 {
                if !added {
                    added = true;
                    t = at(&t, t.day(), t.hour())?;
                }
                t = t.checked_add(1.hour()).ok()?;
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while self.minute & (1 << t.minute()) == 0 {
                added = true;
                t = t.checked_add(1.minute()).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            return Some(t.timestamp());
        }
    }
}

/// One field: comma-separated `*`, `?`, `N`, `A-B`, each with an optional `/STEP`.
fn field(
    name: &'static str,
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<u64, CronError> {
    let err = |problem: String| CronError::Field {
        field: name,
        value: text.to_owned(),
        problem,
    };
    let value = |s: &str| -> Result<u32, CronError> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + min);
        }
        s.parse::<u32>().map_err(|_| {
            err(format!(
                "{s:?} is not a number from {min} to {max}{}",
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" or a name such as {:?}", names[0].to_ascii_uppercase())
                }
            ))
        })
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                if s.contains('/') {
                    return Err(err("too many slashes".into()));
                }
                let step: u32 = s
                    .parse()
                    .map_err(|_| err(format!("step {s:?} must be a positive whole number")))?;
                if step == 0 {
                    return Err(err("step must be a positive whole number, not 0".into()));
                }
                // A step as long as the field's range matches its first value only (robfig
                // accepts `*/90` in minutes and runs hourly): almost surely not what was meant.
                if step > max - min {
                    return Err(err(format!(
                        "step {step} is past the field's range ({min}-{max}): it would match one \
                         value only; use a step up to {}, or name the value",
                        max - min
                    )));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (start, end, star) = if range == "*" || range == "?" {
            (min, max, step.unwrap_or(1) == 1)
        } else if let Some((a, b)) = range.split_once('-') {
            if b.contains('-') {
                return Err(err("too many hyphens".into()));
            }
            (value(a)?, value(b)?, false)
        } else {
            let v = value(range)?;
            // `N/STEP` runs from N to the end, as robfig reads it.
            (v, if step.is_some() { max } else { v }, false)
        };
        if start < min {
            return Err(err(format!("{start} is below the minimum {min}")));
        }
        if end > max {
            return Err(err(format!("{end} is above the maximum {max}")));
        }
        if start > end {
            return Err(err(format!(
                "the range starts ({start}) after it ends ({end})"
            )));
        }
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
        if star {
            bits |= STAR;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests;
