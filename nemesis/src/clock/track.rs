//! One node's clock as the driver set it: the setting last written, what comes next
//! (run, slew to a target, strobe, settle), and each step that plan takes, always a
//! step forwards or a change of rate, never a step back.

use std::time::{Duration, Instant};

use super::{ClockSetting, MAX_AHEAD_S, SLEW_RATE, START_SLACK_S};
use crate::control::ClusterControl;

/// What a node's clock does next, besides running at its rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Plan {
    /// Nothing more (a fast clock stops gaining at [`MAX_AHEAD_S`]).
    Run,
    /// At [`SLEW_RATE`] until the offset is down to `to_s`, then at real speed.
    SlewTo { to_s: f64 },
    /// A forward step of `step_s` every `period`, the next at `next`.
    Strobe {
        step_s: f64,
        period: Duration,
        next: Instant,
    },
    /// At [`SLEW_RATE`] until the clock can be set to the real one exactly without a
    /// step back, then real.
    Settle { since: Instant },
}

/// One node's clock as the driver set it.
#[derive(Debug)]
pub(super) struct Track {
    /// The setting last written, made at `since`.
    pub(super) setting: ClockSetting,
    /// When it was written.
    pub(super) since: Instant,
    /// What comes next.
    pub(super) plan: Plan,
    /// Specs written since the node's last fault started.
    pub(super) changes: u64,
    /// The first error since then.
    pub(super) error: Option<String>,
    /// How long the last settle took, seconds, once done.
    pub(super) settled_s: Option<f64>,
}

impl Track {
    /// The clock at `now`.
    pub(super) fn at(&self, now: Instant) -> ClockSetting {
        self.setting
            .after(now.saturating_duration_since(self.since).as_secs_f64())
    }

    /// Writes `setting` through `control` (the track keeps the old one on an error).
    fn write(
        &mut self,
        control: &dyn ClusterControl,
        node: &str,
        now: Instant,
        setting: ClockSetting,
    ) -> std::result::Result<String, String> {
        let spec = control.set_clock(node, setting)?;
        self.setting = setting;
        self.since = now;
        self.changes += 1;
        Ok(spec)
    }

    /// Steps the clock forwards by `step_s` and runs it at `rate` from `now`; a change
    /// of rate adds [`START_SLACK_S`] times the difference as a further forward step,
    /// so that libfaketime's start error cannot make it a step back.
    pub(super) fn change(
        &mut self,
        control: &dyn ClusterControl,
        node: &str,
        now: Instant,
        step_s: f64,
        rate: f64,
    ) -> std::result::Result<String, String> {
        assert!(step_s >= 0.0, "a clock never steps back");
        let current = self.at(now);
        let slack = START_SLACK_S * (rate - current.rate).abs();
        let next = ClockSetting {
            offset_s: current.offset_s + step_s + slack,
            rate,
        };
        self.write(control, node, now, next)
    }

    /// Whether the clock is far enough behind that `+0 x1` is a step forwards even
    /// with libfaketime's start error in its current spec.
    fn may_become_real(&self, now: Instant) -> bool {
        let current = self.at(now);
        current.offset_s <= -START_SLACK_S * (1.0 - current.rate).abs()
    }

    /// Seconds a settle started at `now` takes (0 when the clock is set real at once).
    pub(super) fn settle_time(&self, now: Instant) -> f64 {
        if self.may_become_real(now) {
            return 0.0;
        }
        let current = self.at(now);
        let slack = START_SLACK_S * (current.rate - SLEW_RATE).abs();
        let to_lose = current.offset_s + slack + START_SLACK_S * (1.0 - SLEW_RATE);
        to_lose / (1.0 - SLEW_RATE)
    }

    /// One step of the plan at `now`.
    pub(super) fn tick(
        &mut self,
        control: &dyn ClusterControl,
        node: &str,
        now: Instant,
    ) -> std::result::Result<(), String> {
        match self.plan {
            Plan::Run => {
                if self.setting.rate > 1.0 && self.at(now).offset_s >= MAX_AHEAD_S {
                    self.change(control, node, now, 0.0, 1.0)?;
                }
            }
            Plan::SlewTo { to_s } => {
                if self.at(now).offset_s <= to_s {
                    self.change(control, node, now, 0.0, 1.0)?;
                    self.plan = Plan::Run;
                }
            }
            Plan::Strobe {
                step_s,
                period,
                next,
            } => {
                if now >= next {
                    self.change(control, node, now, step_s, SLEW_RATE)?;
                    self.plan = Plan::Strobe {
                        step_s,
                        period,
                        next: (next + period).max(now),
                    };
                }
            }
            Plan::Settle { since } => {
                if self.may_become_real(now) {
                    self.write(control, node, now, ClockSetting::REAL)?;
                    self.plan = Plan::Run;
                    self.settled_s = Some(now.duration_since(since).as_secs_f64());
                } else if self.setting.rate != SLEW_RATE {
                    self.change(control, node, now, 0.0, SLEW_RATE)?;
                }
            }
        }
        Ok(())
    }

    /// Whether the clock is the real one with nothing pending.
    pub(super) fn is_real(&self) -> bool {
        self.plan == Plan::Run && self.setting == ClockSetting::REAL
    }
}
