//! Cron specs as daprd's cron binding reads them (dapr/kit's fork of robfig/cron with the flags
//! `SecondOptional | Minute | Hour | Dom | Month | Dow | Descriptor`), and the pure "next fire
//! time" computation the binding's loop is driven by.
//!
//! Parsing follows robfig's rules and error texts (field counts, ranges, steps, names, `?`,
//! descriptors, `@every`, `TZ=`/`CRON_TZ=` prefixes); the calendar search itself is delegated to
//! croner, fed with explicit value lists so that its semantics cannot drift from robfig's.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bindery_core::duration::parse_go_duration;
use chrono::{DateTime, Local, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Where a spec schedule is evaluated: Go's `time.Local` unless a `TZ=` prefix names a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Local,
    Zone(Tz),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local => f.write_str("Local"),
            Location::Zone(tz) => f.write_str(tz.name()),
        }
    }
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// `@every <duration>`: fires every `delay` (whole seconds, at least one), aligned on seconds.
    Every(Duration),
    /// A field spec or descriptor, evaluated in `location`.
    Spec { cron: Box<Cron>, location: Location },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

impl Schedule {
    /// The first fire time strictly after `after`, or `None` if the spec never fires again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_after(self, after)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        parse(spec)
    }
}

/// The first fire time strictly after `after`, as robfig computes it: `@every` adds the delay
/// to `after` with its sub-second part dropped; specs search from the next whole second.
pub fn next_after(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Every(delay) => {
            let base = after.trunc_subsecs(0);
            Some(base + chrono::Duration::from_std(*delay).ok()?)
        }
        Schedule::Spec { cron, location } => {
            let base = after.trunc_subsecs(0);
            match location {
                Location::Local => cron
                    .find_next_occurrence(&base.with_timezone(&Local), false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                Location::Zone(tz) => cron
                    .find_next_occurrence(&base.with_timezone(tz), false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
            }
        }
    }
}

/// Parses a spec with robfig's rules.
pub fn parse(spec: &str) -> Result<Schedule, ScheduleError> {
    if spec.is_empty() {
        return Err(ScheduleError("empty spec string".to_owned()));
    }
    let mut rest = spec;
    let mut location = Location::Local;
    if rest.starts_with("TZ=") || rest.starts_with("CRON_TZ=") {
        let (Some(eq), Some(space)) = (rest.find('='), rest.find(' ')) else {
            return Err(ScheduleError(format!(
                "provided bad location {rest}: missing spec"
            )));
        };
        let name = &rest[eq + 1..space];
        location = load_location(name)?;
        rest = rest[space..].trim();
    }
    if rest.starts_with('@') {
        return parse_descriptor(rest, location);
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if !(5..=6).contains(&fields.len()) {
        return Err(ScheduleError(format!(
            "expected 5 to 6 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        )));
    }
    let mut all = Vec::with_capacity(6);
    if fields.len() == 5 {
        all.push("0");
    }
    all.extend(fields);
    let bits = [
        parse_field(all[0], &SECONDS)?,
        parse_field(all[1], &MINUTES)?,
        parse_field(all[2], &HOURS)?,
        parse_field(all[3], &DOM)?,
        parse_field(all[4], &MONTHS)?,
        parse_field(all[5], &DOW)?,
    ];
    build(bits, location)
}

fn load_location(name: &str) -> Result<Location, ScheduleError> {
    match name {
        "Local" => Ok(Location::Local),
        "" | "UTC" => Ok(Location::Zone(Tz::UTC)),
        _ => name.parse::<Tz>().map(Location::Zone).map_err(|_| {
            ScheduleError(format!(
                "provided bad location {name}: unknown time zone {name}"
            ))
        }),
    }
}

fn parse_descriptor(descriptor: &str, location: Location) -> Result<Schedule, ScheduleError> {
    let all = |b: &Bounds| FieldBits {
        bits: b.all(),
        star: true,
    };
    let one = |v: u32| FieldBits {
        bits: 1 << v,
        star: false,
    };
    let (sec, min, hour, dom, month, dow) = match descriptor {
        "@yearly" | "@annually" => (one(0), one(0), one(0), one(1), one(1), all(&DOW)),
        "@monthly" => (one(0), one(0), one(0), one(1), all(&MONTHS), all(&DOW)),
        "@weekly" => (one(0), one(0), one(0), all(&DOM), all(&MONTHS), one(0)),
        "@daily" | "@midnight" => (one(0), one(0), one(0), all(&DOM), all(&MONTHS), all(&DOW)),
        "@hourly" => (
            one(0),
            one(0),
            all(&HOURS),
            all(&DOM),
            all(&MONTHS),
            all(&DOW),
        ),
        _ => {
            if let Some(text) = descriptor.strip_prefix("@every ") {
                let delay = parse_go_duration(text).map_err(|e| {
                    ScheduleError(format!("failed to parse duration {descriptor}: {e}"))
                })?;
                // robfig: at least one second, sub-second parts dropped.
                let secs = delay.as_secs().max(1);
                return Ok(Schedule::Every(Duration::from_secs(secs)));
            }
            return Err(ScheduleError(format!(
                "unrecognized descriptor: {descriptor}"
            )));
        }
    };
    build([sec, min, hour, dom, month, dow], location)
}

/// Renders the bit sets as a croner pattern of explicit lists (`*` only where robfig's star bit
/// is set, which is what selects AND instead of OR between day-of-month and day-of-week).
fn build(bits: [FieldBits; 6], location: Location) -> Result<Schedule, ScheduleError> {
    let bounds = [&SECONDS, &MINUTES, &HOURS, &DOM, &MONTHS, &DOW];
    let parts: Vec<String> = bits
        .iter()
        .zip(bounds)
        .map(|(field, b)| {
            if field.star || field.bits == b.all() {
                "*".to_owned()
            } else {
                (b.min..=b.max)
                    .filter(|v| field.bits & (1 << v) != 0)
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        })
        .collect();
    let pattern = parts.join(" ");
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(&pattern)
        .map_err(|e| ScheduleError(e.to_string()))?;
    Ok(Schedule::Spec {
        cron: Box::new(cron),
        location,
    })
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

impl Bounds {
    fn all(&self) -> u64 {
        (self.min..=self.max).fold(0, |acc, v| acc | (1 << v))
    }
}

const SECONDS: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

#[derive(Debug, Clone, Copy)]
struct FieldBits {
    bits: u64,
    star: bool,
}

fn parse_field(field: &str, bounds: &Bounds) -> Result<FieldBits, ScheduleError> {
    let mut out = FieldBits {
        bits: 0,
        star: false,
    };
    for expr in field.split(',') {
        let (bits, star) = parse_range(expr, bounds)?;
        out.bits |= bits;
        out.star |= star;
    }
    Ok(out)
}

fn parse_range(expr: &str, b: &Bounds) -> Result<(u64, bool), ScheduleError> {
    let err = |m: String| Err(ScheduleError(m));
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut star);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        start = b.min;
        end = b.max;
        star = true;
    } else {
        start = int_or_name(low_and_high[0], b)?;
        end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], b)?,
            _ => return err(format!("too many hyphens: {expr}")),
        };
        star = false;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return err(format!("step of range should be a positive number: {expr}"));
    }
    let bits = (start..=end)
        .step_by(step as usize)
        .fold(0u64, |acc, v| acc | (1 << v));
    Ok((bits, star))
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u32, ScheduleError> {
    let lower = expr.to_ascii_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    parse_int(expr)
}

fn parse_int(expr: &str) -> Result<u32, ScheduleError> {
    let n: i64 = expr.parse().map_err(|_| {
        ScheduleError(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"
        ))
    })?;
    if n < 0 {
        return Err(ScheduleError(format!(
            "negative number ({n}) not allowed: {expr}"
        )));
    }
    // Anything this large is out of every field's range; clamp so the range check reports it.
    Ok(n.min(i64::from(u32::MAX / 2)) as u32)
}

/// Formats an instant exactly like Go's `time.Now().UTC().String()`:
/// `2024-05-01 10:00:00.123456789 +0000 UTC`, with trailing zeros of the fraction trimmed and
/// no fraction at all when it is zero.
pub fn go_utc_string(t: DateTime<Utc>) -> String {
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid test date")
    }

    fn next(spec: &str, after: DateTime<Utc>) -> DateTime<Utc> {
        let s: Schedule = format!("TZ=UTC {spec}").parse().expect(spec);
        s.next_after(after).expect("fires")
    }

    #[test]
    fn every_n_seconds_with_six_fields() {
        let t = utc(2024, 5, 1, 10, 0, 1) + chrono::Duration::milliseconds(250);
        assert_eq!(next("*/3 * * * * *", t), utc(2024, 5, 1, 10, 0, 3));
        assert_eq!(
            next("*/3 * * * * *", utc(2024, 5, 1, 10, 0, 3)),
            utc(2024, 5, 1, 10, 0, 6)
        );
        assert_eq!(
            next("*/3 * * * * *", utc(2024, 5, 1, 10, 0, 58)),
            utc(2024, 5, 1, 10, 1, 0)
        );
    }

    #[test]
    fn five_fields_mean_second_zero() {
        assert_eq!(
            next("*/15 * * * *", utc(2024, 5, 1, 10, 0, 0)),
            utc(2024, 5, 1, 10, 15, 0)
        );
        assert_eq!(
            next("*/15 * * * *", utc(2024, 5, 1, 10, 59, 59)),
            utc(2024, 5, 1, 11, 0, 0)
        );
        assert_eq!(
            next("0 0 1 * *", utc(2024, 5, 1, 0, 0, 0)),
            utc(2024, 6, 1, 0, 0, 0)
        );
    }

    #[test]
    fn quartz_question_mark() {
        assert_eq!(
            next("0 0 */6 ? * *", utc(2024, 5, 1, 10, 0, 0)),
            utc(2024, 5, 1, 12, 0, 0)
        );
        assert_eq!(
            next("0 0 */6 ? * *", utc(2024, 5, 1, 23, 0, 0)),
            utc(2024, 5, 2, 0, 0, 0)
        );
        // robfig accepts `?` in any field.
        assert_eq!(
            next("? 0 0 1 1 *", utc(2024, 5, 1, 0, 0, 0)),
            utc(2025, 1, 1, 0, 0, 0)
        );
    }

    #[test]
    fn descriptors() {
        let t = utc(2024, 5, 1, 10, 30, 0);
        assert_eq!(next("@daily", t), utc(2024, 5, 2, 0, 0, 0));
        assert_eq!(next("@midnight", t), utc(2024, 5, 2, 0, 0, 0));
        assert_eq!(next("@hourly", t), utc(2024, 5, 1, 11, 0, 0));
        assert_eq!(next("@monthly", t), utc(2024, 6, 1, 0, 0, 0));
        assert_eq!(next("@yearly", t), utc(2025, 1, 1, 0, 0, 0));
        assert_eq!(next("@annually", t), utc(2025, 1, 1, 0, 0, 0));
        // 2024-05-01 is a Wednesday; the next Sunday is the 5th.
        assert_eq!(next("@weekly", t), utc(2024, 5, 5, 0, 0, 0));
    }

    #[test]
    fn every_duration() {
        let s: Schedule = "@every 1s".parse().unwrap();
        let t = utc(2024, 5, 1, 10, 0, 0) + chrono::Duration::nanoseconds(1_200_000);
        assert_eq!(s.next_after(t), Some(utc(2024, 5, 1, 10, 0, 1)));
        let s: Schedule = "@every 1m30s".parse().unwrap();
        assert_eq!(
            s.next_after(utc(2024, 5, 1, 10, 0, 0)),
            Some(utc(2024, 5, 1, 10, 1, 30))
        );
        // Below one second rounds up to one second, fractions are dropped.
        let s: Schedule = "@every 300ms".parse().unwrap();
        assert!(matches!(s, Schedule::Every(d) if d == Duration::from_secs(1)));
        let s: Schedule = "@every 2.5s".parse().unwrap();
        assert!(matches!(s, Schedule::Every(d) if d == Duration::from_secs(2)));
    }

    #[test]
    fn timezone_prefixes() {
        let s: Schedule = "CRON_TZ=America/New_York 0 30 4 * * *".parse().unwrap();
        // 04:30 EDT is 08:30 UTC.
        assert_eq!(
            s.next_after(utc(2024, 5, 1, 0, 0, 0)),
            Some(utc(2024, 5, 1, 8, 30, 0))
        );
        let s: Schedule = "TZ=Asia/Tokyo @daily".parse().unwrap();
        assert_eq!(
            s.next_after(utc(2024, 5, 1, 0, 0, 0)),
            Some(utc(2024, 5, 1, 15, 0, 0))
        );
        assert!(
            matches!(s, Schedule::Spec { location, .. } if location.to_string() == "Asia/Tokyo")
        );
        let s: Schedule = "* * * * *".parse().unwrap();
        assert!(matches!(
            s,
            Schedule::Spec {
                location: Location::Local,
                ..
            }
        ));
    }

    #[test]
    fn day_of_month_and_week_or_unless_one_is_a_star() {
        // Both restricted: either matches (the 15th, or any Monday).
        // 2024-05-06 is a Monday, before the 15th.
        assert_eq!(
            next("0 0 15 * MON", utc(2024, 5, 1, 0, 0, 0)),
            utc(2024, 5, 6, 0, 0, 0)
        );
        // Day-of-week is a star: only the 15th.
        assert_eq!(
            next("0 0 15 * *", utc(2024, 5, 1, 0, 0, 0)),
            utc(2024, 5, 15, 0, 0, 0)
        );
        assert_eq!(
            next("0 0 * JAN-mar sun", utc(2024, 5, 1, 0, 0, 0)),
            utc(2025, 1, 5, 0, 0, 0)
        );
    }

    #[test]
    fn robfig_errors() {
        let err = |s: &str| parse(s).unwrap_err().to_string();
        assert_eq!(err(""), "empty spec string");
        assert_eq!(err("* * * *"), "expected 5 to 6 fields, found 4: [* * * *]");
        assert_eq!(
            err("* * * * * * *"),
            "expected 5 to 6 fields, found 7: [* * * * * * *]"
        );
        assert_eq!(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
        assert!(err("@every x").starts_with("failed to parse duration @every x: "));
        assert_eq!(
            err("60 * * * * *"),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            err("* * * 0 * *"),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(err("* * * * * 7"), "end of range (7) above maximum (6): 7");
        assert_eq!(
            err("5-1 * * * *"),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(
            err("*/0 * * * *"),
            "step of range should be a positive number: */0"
        );
        assert_eq!(err("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(err("*/2/3 * * * *"), "too many slashes: */2/3");
        assert!(err("x * * * *").starts_with("failed to parse int from x"));
        assert!(err("L * * * *").starts_with("failed to parse int from L"));
        assert!(err("TZ=Nowhere/City * * * * *").starts_with("provided bad location Nowhere/City"));
        assert!(err("* * * * JAN").starts_with("failed to parse int from JAN"));
    }

    #[test]
    fn single_value_with_step_runs_to_the_maximum() {
        assert_eq!(
            next("5/20 * * * * *", utc(2024, 5, 1, 0, 0, 6)),
            utc(2024, 5, 1, 0, 0, 25)
        );
        assert_eq!(
            next("5/20 * * * * *", utc(2024, 5, 1, 0, 0, 45)),
            utc(2024, 5, 1, 0, 1, 5)
        );
    }

    #[test]
    fn go_time_string() {
        let t = utc(2024, 5, 1, 10, 0, 0);
        assert_eq!(go_utc_string(t), "2024-05-01 10:00:00 +0000 UTC");
        let t = t + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(go_utc_string(t), "2024-05-01 10:00:00.123456789 +0000 UTC");
        let t = utc(2024, 5, 1, 10, 0, 0) + chrono::Duration::milliseconds(120);
        assert_eq!(go_utc_string(t), "2024-05-01 10:00:00.12 +0000 UTC");
    }
}
