//! Go's `time.Duration` text format, both ways. Dapr metadata carries durations as Go strings
//! (`1h30m`, `300ms`, `1.5s`), and some responses (SQL `duration`) print them the Go way.

use std::time::Duration;

/// Parses a Go duration string such as `1h30m`, `300ms`, `1.5s` or `0`.
///
/// Negative durations are rejected: nothing in a binding's metadata means anything by them.
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("invalid duration {input:?}"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(format!("negative duration {input:?}"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {input:?}"))?;
        if number_len == 0 {
            return Err(format!("invalid duration {input:?}"));
        }
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            _ => return Err(format!("unknown unit {unit:?} in duration {input:?}")),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(format!("invalid duration {input:?}"));
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("invalid duration {input:?}"))?
        };
        // Up to 39 digits fit a u128, and times an hour's nanoseconds they do not.
        let mut nanos = whole
            .checked_mul(unit_nanos)
            .ok_or_else(|| format!("invalid duration {input:?}"))?;
        if !frac.is_empty() {
            let digits = frac.len().min(18) as u32;
            let frac_value: u128 = frac[..digits as usize]
                .parse()
                .map_err(|_| format!("invalid duration {input:?}"))?;
            nanos = nanos
                .checked_add(frac_value * unit_nanos / 10u128.pow(digits))
                .ok_or_else(|| format!("invalid duration {input:?}"))?;
        }
        total_nanos = total_nanos
            .checked_add(nanos)
            .ok_or_else(|| format!("invalid duration {input:?}"))?;
        rest = tail;
    }
    if total_nanos > i64::MAX as u128 {
        return Err(format!("invalid duration {input:?}"));
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

/// Parses what dapr/kit's metadata decoder accepts for a `time.Duration` field: a Go duration
/// string or else a bare integer meaning seconds.
pub fn parse_duration_or_seconds(input: &str) -> Result<Duration, String> {
    let trimmed = input.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    parse_go_duration(trimmed)
}

/// Formats a duration exactly as Go's `time.Duration.String()` does (`1.5s`, `294µs`, `2m3s`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let second_nanos = nanos % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", fraction(second_nanos, 1_000_000_000)));
    out
}

fn fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_forms() {
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_go_duration(".5s").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_go_duration("2µs").unwrap(), Duration::from_micros(2));
        assert_eq!(parse_go_duration("2us").unwrap(), Duration::from_micros(2));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("-1s").is_err());
    }

    /// A number that fits a u128 but not once scaled to nanoseconds is refused, not wrapped
    /// (or a panic where overflow checks are on).
    #[test]
    fn numbers_too_large_for_nanoseconds_are_refused() {
        let max = u128::MAX.to_string();
        for input in [
            format!("{max}h"),
            format!("{max}s"),
            format!("{max}.5ns"),
            "999999999999999999999999999999999s".to_owned(),
        ] {
            let err = parse_go_duration(&input).unwrap_err();
            assert!(err.starts_with("invalid duration"), "{input}: {err}");
        }
        assert!(parse_duration_or_seconds("999999999999999999999999999999999s").is_err());
    }

    #[test]
    fn bare_integers_are_seconds() {
        assert_eq!(
            parse_duration_or_seconds("60").unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            parse_duration_or_seconds("2m").unwrap(),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_nanos(15)), "15ns");
        assert_eq!(format_go_duration(Duration::from_nanos(294_000)), "294µs");
        assert_eq!(
            format_go_duration(Duration::from_nanos(1_234_567)),
            "1.234567ms"
        );
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format_go_duration(Duration::from_secs(120)), "2m0s");
    }
}
