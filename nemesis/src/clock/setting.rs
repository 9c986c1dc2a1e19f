//! A node's clock relative to the real one, and the libfaketime spec that makes it
//! true for a process of a given age.

use serde::Serialize;

/// A node's clock relative to the real one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockSetting {
    /// How far the clock is ahead (negative: behind) when the setting is made, seconds.
    pub offset_s: f64,
    /// How fast it runs from then on (1: real speed, 2: twice as fast).
    pub rate: f64,
}

impl ClockSetting {
    /// The real clock.
    pub const REAL: ClockSetting = ClockSetting {
        offset_s: 0.0,
        rate: 1.0,
    };

    /// The libfaketime spec that makes this setting true, from now on, for a process
    /// that started `age_s` seconds ago (libfaketime scales the time since the
    /// process's start, see [`crate::clock`]).
    pub fn spec(&self, age_s: f64) -> String {
        assert!(self.rate > 0.0, "a clock runs forwards");
        let offset = self.offset_s + age_s * (1.0 - self.rate);
        format!("{offset:+.6} x{:.6}", self.rate)
    }

    /// The same clock `elapsed_s` seconds later: its offset has grown by what its rate
    /// gained or lost meanwhile.
    pub fn after(&self, elapsed_s: f64) -> ClockSetting {
        ClockSetting {
            offset_s: self.offset_s + elapsed_s * (self.rate - 1.0),
            rate: self.rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_rate_continues_from_the_current_time() {
        assert_eq!(ClockSetting::REAL.spec(12.0), "+0.000000 x1.000000");
        let jump = ClockSetting {
            offset_s: -90.5,
            rate: 1.0,
        };
        assert_eq!(jump.spec(40.0), "-90.500000 x1.000000");
        // libfaketime: start + age * rate + offset must equal start + age now.
        let fast = ClockSetting {
            offset_s: 0.0,
            rate: 3.0,
        };
        assert_eq!(fast.spec(10.0), "-20.000000 x3.000000");
        let slow = ClockSetting {
            offset_s: 5.0,
            rate: 0.5,
        };
        assert_eq!(slow.spec(10.0), "+10.000000 x0.500000");
    }
}
