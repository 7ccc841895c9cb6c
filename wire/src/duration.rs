//! Durations written the Go way (`time.ParseDuration`), as ngrok's policies, agent config and
//! edge config write them: `"90s"`, `"1m30s"`, `"1.5h"`, `"500ms"`, `"0"`.
//!
//! Hand-written because the crates that parse Go durations either accept a different grammar
//! (humantime: spaces, days, `sec`) or round through floats; this follows Go's grammar exactly:
//! an optional `+`, then one or more `<number><unit>` pairs, where the number is decimal with an
//! optional fraction and the unit is `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m` or `h`; `"0"` alone
//! is zero. Fractions are exact to the nanosecond (further digits are dropped, as Go does).
//! Negative durations are refused: every caller needs a span of time, not an offset.

use std::time::Duration;

/// Nanoseconds per unit.
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

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing to parse.
    #[error("an empty string is not a duration")]
    Empty,
    /// Not `<number><unit>` pairs.
    #[error("{0:?} is not a duration (expected e.g. \"90s\", \"10m\", \"1h30m\")")]
    Invalid(String),
    /// A number without a unit.
    #[error("{0:?} is missing a unit (ns, us, ms, s, m or h)")]
    MissingUnit(String),
    /// A unit Go does not know (`d`, `sec`, …).
    #[error("{text:?} has an unknown unit {unit:?} (use ns, us, ms, s, m or h)")]
    UnknownUnit {
        /// The whole input.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// A negative duration.
    #[error("{0:?} is negative")]
    Negative(String),
    /// More than `Duration` holds.
    #[error("{0:?} is too long a duration")]
    Overflow(String),
}

/// Parses a non-negative Go duration (see the module docs for the grammar).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let duration = parse_magnitude(text, magnitude)?;
    if negative && !duration.is_zero() {
        return Err(DurationError::Negative(text.to_owned()));
    }
    Ok(duration)
}

/// Parses `rest`, the unsigned part of `text`.
fn parse_magnitude(text: &str, mut rest: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let too_long = || DurationError::Overflow(text.to_owned());
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(if text.is_empty() {
            DurationError::Empty
        } else {
            invalid()
        });
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let whole_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let whole = &rest[..whole_end];
        rest = &rest[whole_end..];
        let frac = match rest.strip_prefix('.') {
            Some(after) => {
                let frac_end = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                rest = &after[frac_end..];
                &after[..frac_end]
            }
            None => "",
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                DurationError::MissingUnit(text.to_owned())
            } else {
                DurationError::UnknownUnit {
                    text: text.to_owned(),
                    unit: unit.to_owned(),
                }
            });
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(too_long)?;
        let mut place = scale;
        for digit in frac.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            value += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(too_long)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_long())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let s = Duration::from_secs;
        let cases = [
            ("60s", s(60)),
            ("90s", s(90)),
            ("1m30s", s(90)),
            ("10m", s(600)),
            ("2h", s(7200)),
            ("1h0m10s", s(3610)),
            ("1.5m", s(90)),
            ("1.5h", s(5400)),
            (".5s", Duration::from_millis(500)),
            ("1.s", s(1)),
            ("500ms", Duration::from_millis(500)),
            ("1500us", Duration::from_micros(1500)),
            ("3µs", Duration::from_micros(3)),
            ("3μs", Duration::from_micros(3)),
            ("7ns", Duration::from_nanos(7)),
            ("1.0000000019s", Duration::new(1, 1)),
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("-0s", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("+5s", s(5)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "", "60", "s", "1d", "1m30", "1..5s", ".s", "ten s", " 5s", "5s ", "5 s", "1e3s", "+",
            "-", "5S", "1sec",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(
            parse_duration("-5s"),
            Err(DurationError::Negative("-5s".into()))
        );
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("99999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("1d"),
            Err(DurationError::UnknownUnit { .. })
        ));
    }
}
