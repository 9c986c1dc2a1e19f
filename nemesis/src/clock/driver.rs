//! The clock driver: a thread of its own that applies each node's clock change,
//! keeps slews and strobes going, and brings clocks back to real time without a step
//! back when the faults end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::track::{Plan, Track};
use super::{round_ms, ClockSetting, NodeClock, MAX_AHEAD_S, SLEW_RATE, START_SLACK_S};
use crate::control::ClusterControl;

/// The nodes' clocks and the control that sets them.
struct Clocks {
    /// How clocks are set.
    control: Arc<dyn ClusterControl>,
    /// Each node's clock, once a fault touched it.
    tracks: Mutex<BTreeMap<String, Track>>,
}

impl Clocks {
    /// The tracks, locked.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Track>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Moves the nodes' clocks for clock faults: applies each change, keeps slews and
/// strobes going in a thread of its own (every 5 ms), and brings clocks back to real
/// time without ever stepping one back: a clock behind steps forwards to it, a clock
/// ahead runs at [`SLEW_RATE`] until real time has caught up.
pub struct ClockDriver {
    /// Shared with the thread.
    clocks: Arc<Clocks>,
    /// Set to stop the thread.
    stop: Arc<AtomicBool>,
    /// The thread.
    thread: Option<JoinHandle<()>>,
}

impl ClockDriver {
    /// Starts the driver's thread.
    pub fn start(control: Arc<dyn ClusterControl>) -> ClockDriver {
        let clocks = Arc::new(Clocks {
            control,
            tracks: Mutex::new(BTreeMap::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, flag) = (Arc::clone(&clocks), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("clock-driver".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    for (node, track) in shared.lock().iter_mut() {
                        if let Err(e) = track.tick(&*shared.control, node, now) {
                            track.error.get_or_insert(e);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .expect("spawning the clock driver thread");
        ClockDriver {
            clocks,
            stop,
            thread: Some(thread),
        }
    }

    /// Starts `change` on `node`'s clock; returns the spec written.
    pub fn begin(&self, node: &str, change: NodeClock) -> std::result::Result<String, String> {
        let now = Instant::now();
        let mut tracks = self.clocks.lock();
        let track = tracks.entry(node.to_string()).or_insert(Track {
            setting: ClockSetting::REAL,
            since: now,
            plan: Plan::Run,
            changes: 0,
            error: None,
            settled_s: None,
        });
        track.changes = 0;
        track.error = None;
        track.settled_s = None;
        let control = &*self.clocks.control;
        let ahead_room = (MAX_AHEAD_S - track.at(now).offset_s).max(0.0);
        let (spec, plan) = match change {
            NodeClock::Forward { step_s } => (
                track.change(control, node, now, step_s.min(ahead_room), 1.0),
                Plan::Run,
            ),
            NodeClock::Back { by_s } => {
                // Below the target by the slack the return to real speed adds.
                let to_s = track.at(now).offset_s - by_s - START_SLACK_S * (1.0 - SLEW_RATE);
                let spec = track.change(control, node, now, 0.0, SLEW_RATE);
                (spec, Plan::SlewTo { to_s })
            }
            NodeClock::Skew { rate } => (track.change(control, node, now, 0.0, rate), Plan::Run),
            NodeClock::Strobe { step_s, period_ms } => {
                let spec = track.change(control, node, now, step_s.min(ahead_room), SLEW_RATE);
                let period = Duration::from_millis(period_ms);
                let next = now + period;
                (
                    spec,
                    Plan::Strobe {
                        step_s,
                        period,
                        next,
                    },
                )
            }
        };
        if spec.is_ok() {
            track.plan = plan;
        }
        spec
    }

    /// Brings `nodes`' clocks back to the real one (the driver finishes it: at once
    /// for a clock behind, after a slew for one ahead). Returns, for each node, its
    /// offset and rate then, the specs written during its fault, its first error, and
    /// how long coming back will take.
    pub fn settle(&self, nodes: &[String]) -> BTreeMap<String, serde_json::Value> {
        let now = Instant::now();
        let mut done = BTreeMap::new();
        for node in nodes {
            if let Some(track) = self.clocks.lock().get_mut(node) {
                let current = track.at(now);
                done.insert(
                    node.clone(),
                    serde_json::json!({
                        "offset_s": round_ms(current.offset_s),
                        "rate": current.rate,
                        "changes": track.changes,
                        "error": track.error,
                        "settle_s": round_ms(track.settle_time(now)),
                    }),
                );
                track.plan = Plan::Settle { since: now };
            }
        }
        done
    }

    /// Settles every clock and waits until each is the real one, at most `limit`.
    /// Returns how long each node's last settle took, seconds, and the nodes still
    /// not real (with their offsets) when the limit ran out.
    pub fn settle_all(&self, limit: Duration) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
        let settling: Vec<String> = self
            .clocks
            .lock()
            .iter()
            .filter(|(_, track)| !track.is_real())
            .map(|(node, _)| node.clone())
            .collect();
        self.settle(&settling);
        let deadline = Instant::now() + limit;
        loop {
            let tracks = self.clocks.lock();
            let now = Instant::now();
            let pending: BTreeMap<String, f64> = settling
                .iter()
                .filter(|n| !tracks[*n].is_real())
                .map(|n| (n.clone(), round_ms(tracks[n].at(now).offset_s)))
                .collect();
            if pending.is_empty() || now >= deadline {
                let took = settling
                    .iter()
                    .filter_map(|n| Some((n.clone(), round_ms(tracks[n].settled_s?))))
                    .collect();
                return (took, pending);
            }
            drop(tracks);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The longest a settle can take: a clock at most [`MAX_AHEAD_S`] ahead (plus the
    /// slack of its changes) slewed back at [`SLEW_RATE`].
    pub fn longest_settle() -> Duration {
        Duration::from_secs_f64((MAX_AHEAD_S + 2.0) / (1.0 - SLEW_RATE))
    }
}

impl Drop for ClockDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster whose clock settings are recorded with the (real) time they were made.
    struct Recorder(Mutex<Vec<(Instant, ClockSetting)>>);

    impl ClusterControl for Recorder {
        fn nodes(&self) -> Vec<String> {
            vec!["n1".into()]
        }
        fn pid(&self, _: &str) -> Option<i32> {
            None
        }
        fn ip(&self, _: &str) -> Option<std::net::IpAddr> {
            None
        }
        fn host(&self, _: &str) -> Option<crate::host::Host> {
            None
        }
        fn restart(&self, _: &str) -> std::result::Result<(), String> {
            Ok(())
        }
        fn leader(&self) -> Option<String> {
            None
        }
        fn set_crash_point(
            &self,
            _: &str,
            _: crate::schedule::CrashPoint,
            _: Option<Duration>,
        ) -> std::result::Result<(), String> {
            Ok(())
        }
        fn set_clock(&self, _: &str, setting: ClockSetting) -> std::result::Result<String, String> {
            let mut log = self.0.lock().unwrap();
            log.push((Instant::now(), setting));
            Ok(setting.spec(0.0))
        }
    }

    /// How much later than the driver the recorder may read its clock (see
    /// [`never_back`]).
    const RECORDER_LAG_S: f64 = 0.025;

    /// Checks that no change can step the clock back: each adds at least
    /// [`START_SLACK_S`] times its change of rate as a forward step, which covers
    /// libfaketime's start error, and the exact `+0 x1` comes only when the clock is
    /// behind by more than that error. Returns the log.
    ///
    /// The recorder reads its clock when a change arrives, a little after the driver
    /// read its own (on a loaded machine, milliseconds later), and a clock that ran at
    /// `rate` meanwhile seems `|rate - 1|` times that much further off: the check
    /// allows [`RECORDER_LAG_S`] of such lag.
    fn never_back(recorder: &Recorder) -> Vec<(Instant, ClockSetting)> {
        let log = recorder.0.lock().unwrap().clone();
        for pair in log.windows(2) {
            let ((t0, before), (t1, after)) = (pair[0], pair[1]);
            let was = before.after(t1.duration_since(t0).as_secs_f64());
            let lag = 1e-3 + RECORDER_LAG_S * (was.rate - 1.0).abs();
            if after == ClockSetting::REAL {
                let worst = was.offset_s + START_SLACK_S * (1.0 - was.rate).abs();
                assert!(worst <= lag, "stepped back to real time: {was:?}");
            } else {
                let slack = START_SLACK_S * (after.rate - was.rate).abs();
                assert!(
                    after.offset_s - was.offset_s >= slack - lag,
                    "stepped back: {was:?} -> {after:?}"
                );
            }
        }
        log
    }

    #[test]
    fn clocks_come_back_to_real_time_without_a_step_back() {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let driver = ClockDriver::start(Arc::clone(&recorder) as Arc<dyn ClusterControl>);
        let node = ["n1".to_string()];
        // Ahead by 0.5 s, then healed: slewed back, then exactly real.
        driver
            .begin("n1", NodeClock::Forward { step_s: 0.5 })
            .unwrap();
        let healed = driver.settle(&node);
        let expect = healed["n1"]["settle_s"].as_f64().unwrap();
        assert!(expect > 0.5 / (1.0 - SLEW_RATE), "{healed:?}");
        let (took, pending) = driver.settle_all(Duration::from_secs(10));
        assert!(pending.is_empty(), "{pending:?}");
        assert!(took["n1"] >= 0.5, "{took:?}");
        let log = never_back(&recorder);
        assert_eq!(log.last().unwrap().1, ClockSetting::REAL);
        assert!(log.iter().any(|(_, s)| s.rate == SLEW_RATE), "{log:?}");
        // Behind (a backward jump slewed), fast, strobed: each healed, never back.
        recorder.0.lock().unwrap().clear();
        driver.begin("n1", NodeClock::Back { by_s: 0.05 }).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        driver.begin("n1", NodeClock::Skew { rate: 3.0 }).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        driver
            .begin(
                "n1",
                NodeClock::Strobe {
                    step_s: 0.05,
                    period_ms: 56,
                },
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let strobed = recorder.0.lock().unwrap().len();
        assert!(strobed >= 5, "the strobe kept stepping: {strobed} changes");
        let (_, pending) = driver.settle_all(Duration::from_secs(10));
        assert!(pending.is_empty(), "{pending:?}");
        let log = never_back(&recorder);
        assert_eq!(log.last().unwrap().1, ClockSetting::REAL);
        // A backward jump: slewed until that far behind, then real speed.
        recorder.0.lock().unwrap().clear();
        driver.begin("n1", NodeClock::Back { by_s: 0.09 }).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        let log = never_back(&recorder);
        let last = log.last().unwrap().1;
        assert_eq!(last.rate, 1.0, "{log:?}");
        assert!((last.offset_s + 0.09).abs() < 0.01, "{last:?}");
        // Behind and at real speed: healed by a step forwards at once.
        let healed = driver.settle(&node);
        assert_eq!(healed["n1"]["settle_s"].as_f64(), Some(0.0), "{healed:?}");
        let (_, pending) = driver.settle_all(Duration::from_secs(1));
        assert!(pending.is_empty());
        assert_eq!(never_back(&recorder).last().unwrap().1, ClockSetting::REAL);
    }

    #[test]
    fn a_fast_clock_stops_gaining_at_the_limit() {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let driver = ClockDriver::start(Arc::clone(&recorder) as Arc<dyn ClusterControl>);
        driver
            .begin(
                "n1",
                NodeClock::Forward {
                    step_s: MAX_AHEAD_S - 0.05,
                },
            )
            .unwrap();
        // Already at the limit: a further forward jump is no step at all.
        driver
            .begin("n1", NodeClock::Forward { step_s: 5.0 })
            .unwrap();
        driver.begin("n1", NodeClock::Skew { rate: 4.0 }).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let log = never_back(&recorder);
        assert_eq!(log.last().unwrap().1.rate, 1.0, "{log:?}");
        assert!(
            log.iter().all(|(_, s)| s.offset_s < MAX_AHEAD_S + 1.0),
            "{log:?}"
        );
        assert!(log[1].1.offset_s < MAX_AHEAD_S + 1e-6, "{log:?}");
    }
}
