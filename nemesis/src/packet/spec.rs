//! The packet fault vocabulary: what `--nemesis packet:NAME[=VALUE]` asks for, parsed
//! and checked, with the defaults a bare name gets.
//!
//! | name        | value                | default      | effect on a packet leaving an affected node |
//! |-------------|----------------------|--------------|---------------------------------------------|
//! | `delay`     | `DELAY[~JITTER]`     | `50ms~10ms`  | held DELAY ± JITTER (uniform), so packets also reorder when JITTER is large |
//! | `loss`      | `PERCENT`            | `10%`        | dropped with that probability |
//! | `duplicate` | `PERCENT`            | `10%`        | sent twice with that probability |
//! | `reorder`   | `PERCENT`            | `25%`        | that share is sent at once, the rest held [`REORDER_HOLD`], so the first overtake the others (netem's `reorder`) |
//! | `rate`      | `RATE` (`kbit`, `mbit`, `gbit`, `bit`) | `1mbit` | queued behind a bandwidth limit |
//!
//! Durations take `us`, `ms` or `s` (a plain number is milliseconds); percentages may
//! omit the `%`. A negative delay, a percentage outside (0, 100] or a zero rate is a
//! usage error naming the parameter.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};

/// How long `reorder` holds the packets that do not jump the queue.
pub const REORDER_HOLD: Duration = Duration::from_millis(20);

/// One packet fault with its parameters. Probabilities are parts per million and
/// times microseconds, so the fault is `Eq` and `Copy` like every other fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum PacketFault {
    /// Hold each packet for `delay_us` ± `jitter_us` (uniform).
    Delay {
        /// The mean delay.
        delay_us: u64,
        /// The half-width of the uniform spread around it.
        jitter_us: u64,
    },
    /// Drop each packet with this probability.
    Loss {
        /// Parts per million.
        ppm: u32,
    },
    /// Send each packet twice with this probability.
    Duplicate {
        /// Parts per million.
        ppm: u32,
    },
    /// Send this share of the packets at once and hold the others [`REORDER_HOLD`].
    Reorder {
        /// Parts per million sent at once.
        ppm: u32,
    },
    /// Limit the bandwidth to this many bits per second.
    Rate {
        /// Bits per second.
        bits_per_s: u64,
    },
}

impl PacketFault {
    /// Every packet fault, with its default parameters: what a bare `packet` means.
    pub const DEFAULTS: [PacketFault; 5] = [
        PacketFault::Delay {
            delay_us: 50_000,
            jitter_us: 10_000,
        },
        PacketFault::Loss { ppm: 100_000 },
        PacketFault::Duplicate { ppm: 100_000 },
        PacketFault::Reorder { ppm: 250_000 },
        PacketFault::Rate {
            bits_per_s: 1_000_000,
        },
    ];

    /// The fault's name (`delay`, `loss`, `duplicate`, `reorder`, `rate`).
    pub fn name(self) -> &'static str {
        match self {
            PacketFault::Delay { .. } => "delay",
            PacketFault::Loss { .. } => "loss",
            PacketFault::Duplicate { .. } => "duplicate",
            PacketFault::Reorder { .. } => "reorder",
            PacketFault::Rate { .. } => "rate",
        }
    }

    /// The parameters for a history op's value, in readable units (`delay_ms`,
    /// `jitter_ms`, `percent`, `hold_ms`, `rate_kbit`).
    pub fn parameters(self) -> serde_json::Value {
        let ms = |us: u64| us as f64 / 1000.0;
        let percent = |ppm: u32| f64::from(ppm) / 10_000.0;
        match self {
            PacketFault::Delay {
                delay_us,
                jitter_us,
            } => serde_json::json!({ "delay_ms": ms(delay_us), "jitter_ms": ms(jitter_us) }),
            PacketFault::Loss { ppm } | PacketFault::Duplicate { ppm } => {
                serde_json::json!({ "percent": percent(ppm) })
            }
            PacketFault::Reorder { ppm } => serde_json::json!({
                "percent": percent(ppm),
                "hold_ms": ms(REORDER_HOLD.as_micros() as u64),
            }),
            PacketFault::Rate { bits_per_s } => {
                serde_json::json!({ "rate_kbit": bits_per_s as f64 / 1000.0 })
            }
        }
    }
}

impl fmt::Display for PacketFault {
    /// The fault as `--nemesis packet:` takes it, e.g. `delay=100ms~20ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        let percent = |ppm: u32| f64::from(ppm) / 10_000.0;
        match *self {
            PacketFault::Delay {
                delay_us,
                jitter_us,
            } => write!(f, "delay={}ms~{}ms", ms(delay_us), ms(jitter_us)),
            PacketFault::Loss { ppm } => write!(f, "loss={}%", percent(ppm)),
            PacketFault::Duplicate { ppm } => write!(f, "duplicate={}%", percent(ppm)),
            PacketFault::Reorder { ppm } => write!(f, "reorder={}%", percent(ppm)),
            PacketFault::Rate { bits_per_s } => {
                write!(f, "rate={}kbit", bits_per_s as f64 / 1000.0)
            }
        }
    }
}

impl FromStr for PacketFault {
    type Err = Error;

    /// Parses `NAME` or `NAME=VALUE` (see the module docs).
    fn from_str(word: &str) -> Result<PacketFault> {
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (word.trim(), None),
        };
        let default = PacketFault::DEFAULTS
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "unknown packet fault `{name}`: expected delay, loss, duplicate, reorder, \
                     rate, all-traffic or a target (one, minority, majority, leader, follower, all)"
                ))
            })?;
        let Some(value) = value else {
            return Ok(default);
        };
        let usage = |why: String| Error::Unsupported(format!("packet {name} `{value}`: {why}"));
        Ok(match default {
            PacketFault::Delay { .. } => {
                let (delay, jitter) = match value.split_once('~') {
                    Some((d, j)) => (d, Some(j)),
                    None => (value, None),
                };
                let delay_us = micros(delay).map_err(|e| usage(format!("delay {e}")))?;
                let jitter_us = match jitter {
                    Some(j) => micros(j).map_err(|e| usage(format!("jitter {e}")))?,
                    None => 0,
                };
                if delay_us == 0 {
                    return Err(usage("the delay must be above zero".into()));
                }
                PacketFault::Delay {
                    delay_us,
                    jitter_us,
                }
            }
            PacketFault::Loss { .. } => PacketFault::Loss {
                ppm: ppm(value).map_err(usage)?,
            },
            PacketFault::Duplicate { .. } => PacketFault::Duplicate {
                ppm: ppm(value).map_err(usage)?,
            },
            PacketFault::Reorder { .. } => PacketFault::Reorder {
                ppm: ppm(value).map_err(usage)?,
            },
            PacketFault::Rate { .. } => PacketFault::Rate {
                bits_per_s: bits_per_s(value).map_err(usage)?,
            },
        })
    }
}

/// A non-negative duration (`250us`, `50ms`, `1.5s`, a plain number is milliseconds)
/// in microseconds.
fn micros(text: &str) -> std::result::Result<u64, String> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        (text, 1e3)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 50ms, 1s, 250us)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}` must not be negative"));
    }
    let us = value * scale;
    if us > 600e6 {
        return Err(format!("`{text}` is over 10 minutes"));
    }
    Ok(us.round() as u64)
}

/// A probability given as a percentage in (0, 100], in parts per million.
fn ppm(text: &str) -> std::result::Result<u32, String> {
    let number = text.strip_suffix('%').unwrap_or(text).trim();
    let percent: f64 = number
        .parse()
        .map_err(|_| "not a percentage (e.g. 10%)".to_string())?;
    if !percent.is_finite() || percent <= 0.0 {
        return Err("the percentage must be above 0%".into());
    }
    if percent > 100.0 {
        return Err("the percentage is over 100%".into());
    }
    Ok((percent * 10_000.0).round() as u32)
}

/// A positive bandwidth (`8kbit`, `1mbit`, `1gbit`, `500bit`) in bits per second.
fn bits_per_s(text: &str) -> std::result::Result<u64, String> {
    let lower = text.to_ascii_lowercase();
    let (number, scale) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .into_iter()
        .find_map(|(unit, scale)| lower.strip_suffix(unit).map(|n| (n.to_string(), scale)))
        .ok_or_else(|| "a rate needs a unit: bit, kbit, mbit or gbit (e.g. 1mbit)".to_string())?;
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| "not a rate (e.g. 1mbit)".to_string())?;
    let bits = value * scale;
    if !bits.is_finite() || bits < 8_000.0 {
        return Err("the rate must be at least 8kbit".into());
    }
    if bits > 100e9 {
        return Err("the rate is over 100gbit".into());
    }
    Ok(bits.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_take_their_defaults_and_display_parses_back() {
        for d in PacketFault::DEFAULTS {
            assert_eq!(d.name().parse::<PacketFault>().unwrap(), d);
            assert_eq!(d.to_string().parse::<PacketFault>().unwrap(), d, "{d}");
        }
    }

    #[test]
    fn parses_values_in_their_units() {
        let p = |s: &str| s.parse::<PacketFault>().unwrap();
        assert_eq!(
            p("delay=100ms~20ms"),
            PacketFault::Delay {
                delay_us: 100_000,
                jitter_us: 20_000
            }
        );
        assert_eq!(
            p("delay=1.5s"),
            PacketFault::Delay {
                delay_us: 1_500_000,
                jitter_us: 0
            }
        );
        assert_eq!(
            p("delay=250us~0"),
            PacketFault::Delay {
                delay_us: 250,
                jitter_us: 0
            }
        );
        assert_eq!(p("loss=2.5%"), PacketFault::Loss { ppm: 25_000 });
        assert_eq!(p("loss=100"), PacketFault::Loss { ppm: 1_000_000 });
        assert_eq!(p("duplicate=1%"), PacketFault::Duplicate { ppm: 10_000 });
        assert_eq!(p("reorder=50%"), PacketFault::Reorder { ppm: 500_000 });
        assert_eq!(
            p("rate=256kbit"),
            PacketFault::Rate {
                bits_per_s: 256_000
            }
        );
        assert_eq!(
            p("rate=1Gbit"),
            PacketFault::Rate {
                bits_per_s: 1_000_000_000
            }
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        for (word, wants) in [
            ("delay=-5ms", ["delay", "negative"]),
            ("delay=5ms~-1ms", ["jitter", "negative"]),
            ("delay=0ms", ["delay", "above zero"]),
            ("delay=fast", ["delay", "not a duration"]),
            ("loss=150%", ["loss", "over 100%"]),
            ("loss=-1%", ["loss", "above 0%"]),
            ("duplicate=0", ["duplicate", "above 0%"]),
            ("reorder=many", ["reorder", "percentage"]),
            ("rate=10", ["rate", "unit"]),
            ("rate=0kbit", ["rate", "at least"]),
            ("jitter=5ms", ["jitter", "unknown packet fault"]),
        ] {
            let err = word.parse::<PacketFault>().unwrap_err().to_string();
            for want in wants {
                assert!(err.contains(want), "{word}: {err}");
            }
        }
    }

    #[test]
    fn parameters_are_readable() {
        let v = "delay=100ms~20ms"
            .parse::<PacketFault>()
            .unwrap()
            .parameters();
        assert_eq!(v["delay_ms"], 100.0);
        assert_eq!(v["jitter_ms"], 20.0);
        let v = PacketFault::Loss { ppm: 25_000 }.parameters();
        assert_eq!(v["percent"], 2.5);
        let v = PacketFault::Rate {
            bits_per_s: 256_000,
        }
        .parameters();
        assert_eq!(v["rate_kbit"], 256.0);
    }
}
