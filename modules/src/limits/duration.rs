//! Go-style duration strings (`"90s"`, `"1m30s"`, `"2h"`, `"1.5m"`, `"500ms"`), as ngrok's
//! `rate`, `window_duration` and `tripped_duration` fields are written.

use std::time::Duration;

/// Nanoseconds per unit, longest unit names first where one is a prefix of another.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a non-negative Go duration: one or more `<number><unit>` pairs, where the number may
/// have a fraction and the unit is one of `ns`, `us`, `ms`, `s`, `m`, `h`. `"0"` alone is zero.
/// Returns a short reason on failure.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("an empty string is not a duration".into());
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits_end];
        rest = &rest[digits_end..];
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(format!(
                "{text:?} is not a duration (expected e.g. \"90s\", \"10m\", \"1h30m\")"
            ));
        }
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!("{text:?} is missing a unit (ns, us, ms, s, m or h)")
            } else {
                format!("{text:?} has an unknown unit {unit:?} (use ns, us, ms, s, m or h)")
            });
        };
        let too_long = || format!("{text:?} is too long a duration");
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(too_long)?;
        // Fraction digits beyond nanosecond precision are dropped, as Go does.
        let mut place = scale;
        for d in frac.chars() {
            place /= 10;
            if place == 0 {
                break;
            }
            value += u128::from(d.to_digit(10).unwrap_or(0)) * place;
        }
        total = total.checked_add(value).ok_or_else(too_long)?;
    }
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| format!("{text:?} is too long a duration"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("60s"), Ok(s(60)));
        assert_eq!(parse_duration("90s"), Ok(s(90)));
        assert_eq!(parse_duration("1m30s"), Ok(s(90)));
        assert_eq!(parse_duration("10m"), Ok(s(600)));
        assert_eq!(parse_duration("2h"), Ok(s(7200)));
        assert_eq!(parse_duration("1h0m10s"), Ok(s(3610)));
        assert_eq!(parse_duration("1.5m"), Ok(s(90)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1500us"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "",
            "60",
            "s",
            "1d",
            "-5s",
            "1m30",
            "1..5s",
            "ten s",
            "99999999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
