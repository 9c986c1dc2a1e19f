//! What a clock fault does to one node's clock (a jump either way, a skew, a strobe),
//! drawn from the run's seeded generator when the fault starts.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{round_ms, MAX_AHEAD_S, SLEW_RATE};
use crate::schedule::ClockMode;

/// What a clock fault does to one node, drawn when the fault starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "change")]
pub enum NodeClock {
    /// The clock steps forwards by this many seconds (no further than
    /// [`MAX_AHEAD_S`] ahead of real time) and runs at real speed.
    Forward {
        /// The step, seconds.
        step_s: f64,
    },
    /// The clock goes back by this many seconds: it runs at [`SLEW_RATE`] until it is
    /// that much further behind, then at real speed.
    Back {
        /// How far back, seconds.
        by_s: f64,
    },
    /// The clock runs at this rate (a fast one stops gaining at [`MAX_AHEAD_S`]).
    Skew {
        /// The rate (1: real speed).
        rate: f64,
    },
    /// A sawtooth: a forward step, slewed back at [`SLEW_RATE`] within the period,
    /// again every period.
    Strobe {
        /// Each step, seconds.
        step_s: f64,
        /// Time between steps, milliseconds: as long as slewing the step back takes.
        period_ms: u64,
    },
}

impl NodeClock {
    /// Draws one node's change for `mode`: jumps of 1–20 s either way; a rate of
    /// 0.2–0.6 for the leader (its lease outlives real time) and 1.5–4 for the other
    /// nodes (their election timeouts end early); strobes of 0.05–1 s steps.
    pub fn draw(mode: ClockMode, leader: bool, rng: &mut ChaCha8Rng) -> NodeClock {
        match mode {
            ClockMode::Jump => {
                let size = round_ms(rng.random_range(1.0..MAX_AHEAD_S));
                if rng.random_bool(0.5) {
                    NodeClock::Forward { step_s: size }
                } else {
                    NodeClock::Back { by_s: size }
                }
            }
            ClockMode::Skew => {
                let rate = if leader {
                    rng.random_range(0.2..0.6)
                } else {
                    rng.random_range(1.5..4.0)
                };
                NodeClock::Skew {
                    rate: (rate * 100.0_f64).round() / 100.0,
                }
            }
            ClockMode::Strobe => {
                let step_s = round_ms(rng.random_range(0.05..1.0));
                NodeClock::Strobe {
                    step_s,
                    period_ms: (step_s / (1.0 - SLEW_RATE) * 1000.0).ceil() as u64,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut forward, mut back) = (0, 0);
        for _ in 0..200 {
            match NodeClock::draw(ClockMode::Jump, false, &mut rng) {
                NodeClock::Forward { step_s } => {
                    assert!((1.0..=MAX_AHEAD_S).contains(&step_s));
                    forward += 1
                }
                NodeClock::Back { by_s } => {
                    assert!((1.0..=MAX_AHEAD_S).contains(&by_s));
                    back += 1
                }
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Skew, true, &mut rng) {
                NodeClock::Skew { rate } => assert!((0.2..=0.6).contains(&rate), "{rate}"),
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Skew, false, &mut rng) {
                NodeClock::Skew { rate } => assert!((1.5..=4.0).contains(&rate), "{rate}"),
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Strobe, false, &mut rng) {
                NodeClock::Strobe { step_s, period_ms } => {
                    assert!((0.05..=1.0).contains(&step_s));
                    // The period is as long as slewing the step back takes.
                    let back_ms = step_s / (1.0 - SLEW_RATE) * 1000.0;
                    assert!(period_ms as f64 >= back_ms && (period_ms as f64) < back_ms + 1.0);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(forward > 0 && back > 0);
    }
}
