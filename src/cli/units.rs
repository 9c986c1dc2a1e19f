//! Units on the command line: one parser for durations and one for sizes, used by every
//! flag that takes one, so `30s`, `500ms`, `2m` and `1G` mean the same everywhere.
//!
//! A duration is a non-negative decimal number with an optional unit `ms`, `s`, `m` or
//! `h`. Without a unit it is in the flag's own unit: seconds for most flags, and
//! milliseconds for the few whose name says so (`--op-timeout-ms`, `--timeout-ms`,
//! `--tick-ms`, ...), which keeps every existing command line meaning what it meant.
//! A size is a number with an optional binary unit `K`, `M`, `G` or `T` (`KiB`, `MB`,
//! ... are read the same way); a bare number is in MiB.

use std::time::Duration;

/// Parses a duration whose bare numbers are seconds (`30`, `30s`, `500ms`, `2m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_with_default_unit(s, 1.0)
}

/// [`parse_duration`] as seconds, for flags stored as `f64` seconds.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    parse_duration(s).map(|d| d.as_secs_f64())
}

/// Parses a duration whose bare numbers are milliseconds (`1000`, `1s`, `250ms`), as
/// whole milliseconds.
pub fn parse_millis(s: &str) -> Result<u64, String> {
    let d = parse_with_default_unit(s, 1e-3)?;
    u64::try_from(d.as_millis()).map_err(|_| format!("duration {s:?} is too long"))
}

/// Parses a duration; a bare number is in units of `bare_unit_s` seconds.
fn parse_with_default_unit(s: &str, bare_unit_s: f64) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?} (e.g. 30s, 500ms, 2m, or a plain number)");
    let (n, unit) = number_and_unit(s).ok_or_else(bad)?;
    let scale = match unit {
        "" => bare_unit_s,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "bad duration unit {other:?} in {s:?} (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(n * scale).map_err(|_| bad())
}

/// Splits `12.5ms` into its non-negative number and its (trimmed) unit.
fn number_and_unit(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    Some((num.parse().ok()?, unit.trim()))
}

/// Parses a size in bytes: `1G`, `512M`, `64KiB`, or a bare number of MiB.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let bad = || format!("bad size {s:?} (e.g. 512M, 1G, or a plain number of MiB)");
    let (n, unit) = number_and_unit(s).ok_or_else(bad)?;
    let unit = unit.to_ascii_uppercase();
    let shift = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" if unit.is_empty() => 20,
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("bad size unit in {s:?} (use K, M, G or T)")),
    };
    let bytes = n * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= usize::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_bare_numbers_keep_the_flags_unit() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 7 "), Ok(Duration::from_secs(7)));
        assert_eq!(parse_seconds("250ms"), Ok(0.25));
        assert_eq!(parse_millis("1000"), Ok(1000));
        assert_eq!(parse_millis("2s"), Ok(2000));
        assert_eq!(parse_millis("1.5m"), Ok(90_000));
    }

    #[test]
    fn bad_durations_are_errors_not_panics() {
        for bad in [
            "",
            "s",
            "-5",
            "5x",
            "5 sec",
            "1e400",
            "99999999999999999999999h",
            ".",
            "nan",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_millis("99999999999999999999999h").is_err());
    }

    #[test]
    fn sizes_take_binary_units_and_bare_numbers_are_mib() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("1024"), Ok(1 << 30));
        assert_eq!(parse_size("0.5G"), Ok(1 << 29));
        for bad in ["", "G", "1X", "-1G", "1e9G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}
