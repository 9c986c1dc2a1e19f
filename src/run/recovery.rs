//! Liveness after the final heal: the recovery phase and the `recovery` checker.
//!
//! Safety checkers accept a cluster that stops answering: a history of timeouts is
//! trivially linearizable. So once the nemesis has healed everything, the workers run
//! again for `--recovery-time` seconds, continuing the same seeded op streams (every
//! workload, so the final reads also cover what was written here), each
//! slot as a fresh logical process. Their operations are real history operations:
//! checked like the rest, and counted as "ok after the last fault" in the report.
//!
//! The `recovery` checker then reads the history: among the client operations invoked
//! inside the recovery window, the first `ok` completion says how long the cluster took
//! to answer again, measured from the start of the window (the end of the heal). None
//! at all is the anomaly "did not recover within N s" and makes the run invalid (exit
//! 1): a cluster that never comes back must not pass. A window cut short by Ctrl-C, or
//! one in which no operation was invoked, proves nothing either way: `unknown`.
//!
//! For the end-to-end test of that verdict, the hidden `--test-keep-majority-paused`
//! flag SIGSTOPs a majority of the nodes for the whole window (and SIGCONTs them after
//! it), so the cluster deliberately cannot recover.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal as UnixSignal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use workloads::generator::ThreadStream;
use workloads::history::{Op, OpType, Process};

use super::results::{CheckerReport, CheckerResult, Verdict};
use super::workers::{self, Signal, WorkerParams};
use super::Interrupt;
use crate::db::Db;

/// The recovery window, as the checker needs it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Window {
    /// Start of the window in nanoseconds since the history's time zero.
    pub start_ns: u64,
    /// How long clients were given to get an answer.
    pub limit: Duration,
    /// Whether Ctrl-C/SIGTERM cut the window short.
    pub interrupted: bool,
}

/// One worker slot between phases: its op stream and the last process id it used.
pub type Slot = (ThreadStream, u64);

/// What the recovery phase runs with.
pub(super) struct Phase<'a> {
    /// The run's runtime.
    pub(super) runtime: &'a tokio::runtime::Runtime,
    /// The workers' shared parameters (cluster, recorder, timeouts).
    pub(super) params: &'a Arc<WorkerParams>,
    /// The workers' signal (also written by the Ctrl-C handler).
    pub(super) signal_tx: &'a watch::Sender<Signal>,
    /// Ctrl-C/SIGTERM.
    pub(super) interrupt: &'a Interrupt,
    /// The nodes, for `keep_majority_paused`.
    pub(super) db: &'a dyn Db,
    /// Test only: keep a majority of the nodes SIGSTOPped for the whole window.
    pub(super) keep_majority_paused: bool,
}

impl Phase<'_> {
    /// Runs the workers for `limit`, each slot continuing its stream as process
    /// `last + concurrency`; returns the slots afterwards and the window.
    pub(super) fn run(
        &self,
        slots: Vec<Slot>,
        limit: Duration,
    ) -> anyhow::Result<(Vec<Slot>, Window)> {
        let paused = if self.keep_majority_paused {
            pause_majority(self.db)?
        } else {
            Vec::new()
        };
        let start = Instant::now();
        // From Drain back to Run, unless the Ctrl-C handler already said Abort.
        self.signal_tx.send_modify(|s| {
            if *s == Signal::Drain {
                *s = Signal::Run;
            }
        });
        let concurrency = self.params.concurrency as u64;
        let tasks: Vec<_> = slots
            .into_iter()
            .enumerate()
            .map(|(slot, (stream, last))| {
                self.runtime.spawn(workers::run_slot(
                    slot,
                    last + concurrency,
                    stream,
                    self.params.clone(),
                    self.signal_tx.subscribe(),
                ))
            })
            .collect();
        super::sleep_unless(limit, self.interrupt);
        self.signal_tx.send_modify(|s| {
            if *s == Signal::Run {
                *s = Signal::Drain;
            }
        });
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(
                self.runtime
                    .block_on(task)
                    .context("a client worker panicked in the recovery phase")?,
            );
        }
        resume(&paused);
        let window = Window {
            start_ns: self.params.recorder.nanos(start),
            limit,
            interrupted: self.interrupt.is_set(),
        };
        Ok((out, window))
    }
}

/// SIGSTOPs the first majority of the nodes; returns their pids.
fn pause_majority(db: &dyn Db) -> anyhow::Result<Vec<Pid>> {
    let names = db.nodes().names();
    let majority = names.len() / 2 + 1;
    let mut paused = Vec::with_capacity(majority);
    for name in &names[..majority] {
        let pid = db
            .nodes()
            .pid(name)
            .with_context(|| format!("--test-keep-majority-paused: node {name} is not running"))?;
        let pid = Pid::from_raw(pid);
        kill(pid, UnixSignal::SIGSTOP)
            .with_context(|| format!("--test-keep-majority-paused: pausing node {name}"))?;
        paused.push(pid);
    }
    eprintln!(
        "faultline: test flag: {} of {} nodes stay paused during recovery",
        majority,
        names.len()
    );
    Ok(paused)
}

/// SIGCONTs what [`pause_majority`] stopped (a node that died meanwhile is ignored:
/// teardown reports it).
fn resume(paused: &[Pid]) {
    for &pid in paused {
        let _ = kill(pid, UnixSignal::SIGCONT);
    }
}

/// What the `recovery` checker found, as written into results.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryReport {
    /// `valid`, `invalid` or `unknown`.
    pub verdict: Verdict,
    /// The anomaly's name when invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<String>,
    /// One sentence for people.
    pub explanation: String,
    /// Start of the window, seconds since the history's time zero.
    pub window_start_s: f64,
    /// Length of the window in seconds.
    pub limit_s: f64,
    /// Seconds from the start of the window to the first `ok` completion.
    pub recovered_after_s: Option<f64>,
    /// Client operations invoked in the window.
    pub ops: u64,
    /// Of which completed `ok`.
    pub ok: u64,
    /// Whether Ctrl-C/SIGTERM cut the window short.
    pub interrupted: bool,
}

/// The `recovery` checker (see the module docs).
pub fn check(ops: &[Op], window: &Window) -> CheckerResult {
    let limit_ns = u64::try_from(window.limit.as_nanos()).unwrap_or(u64::MAX);
    let end_ns = window.start_ns.saturating_add(limit_ns);
    // Client processes with an invocation in the window still open.
    let mut open: HashSet<u64> = HashSet::new();
    let (mut invoked, mut ok) = (0u64, 0u64);
    let mut first_ok: Option<u64> = None;
    for op in ops {
        let Process::Client(p) = op.process else {
            continue;
        };
        match op.op_type {
            OpType::Invoke => {
                if (window.start_ns..=end_ns).contains(&op.time) {
                    open.insert(p);
                    invoked += 1;
                }
            }
            OpType::Ok => {
                if open.remove(&p) {
                    ok += 1;
                    first_ok = Some(first_ok.map_or(op.time, |t| t.min(op.time)));
                }
            }
            OpType::Fail | OpType::Info => {
                open.remove(&p);
            }
        }
    }
    let limit_s = window.limit.as_secs_f64();
    let recovered_after_s = first_ok.map(|t| t.saturating_sub(window.start_ns) as f64 / 1e9);
    let (verdict, anomaly, explanation) = match recovered_after_s {
        Some(after) => (
            Verdict::Valid,
            None,
            format!(
                "answered again {after:.2} s after the heal; {ok} of {invoked} operations ok \
                 in the {limit_s:.0} s recovery window"
            ),
        ),
        None if window.interrupted => (
            Verdict::Unknown,
            None,
            "the recovery window was interrupted before any operation succeeded".to_string(),
        ),
        None if invoked == 0 => (
            Verdict::Unknown,
            None,
            "no operation was invoked in the recovery window".to_string(),
        ),
        None => {
            let anomaly = format!("did not recover within {limit_s:.0} s");
            let explanation = format!(
                "{anomaly}: none of the {invoked} operations invoked after the heal succeeded"
            );
            (Verdict::Invalid, Some(anomaly), explanation)
        }
    };
    let report = RecoveryReport {
        verdict,
        anomaly,
        explanation,
        window_start_s: window.start_ns as f64 / 1e9,
        limit_s,
        recovered_after_s,
        ops: invoked,
        ok,
        interrupted: window.interrupted,
    };
    CheckerResult {
        name: "recovery".into(),
        verdict,
        report: CheckerReport::Recovery(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::history::Value;
    use OpType::{Fail, Info, Invoke, Ok as Done};
    use Process::Client as C;

    const S: u64 = 1_000_000_000;

    fn op(process: Process, op_type: OpType, time: u64) -> Op {
        Op {
            index: 0,
            time,
            process,
            op_type,
            f: "read".into(),
            key: Some("k".into()),
            value: Value::Null,
            error: None,
        }
    }

    fn window(start_s: u64, limit_s: u64) -> Window {
        Window {
            start_ns: start_s * S,
            limit: Duration::from_secs(limit_s),
            interrupted: false,
        }
    }

    #[test]
    fn first_ok_in_the_window_is_the_recovery_time() {
        let ops = vec![
            // Before the window: an ok that must not count.
            op(C(0), Invoke, S),
            op(C(0), Done, 2 * S),
            op(C(10), Invoke, 10 * S),
            op(Process::Nemesis, Info, 10 * S + 1),
            op(C(10), Fail, 11 * S),
            op(C(20), Invoke, 11 * S),
            op(C(20), Done, 12 * S + S / 2),
        ];
        let r = check(&ops, &window(10, 5));
        assert_eq!(r.verdict, Verdict::Valid);
        assert_eq!(r.report.to_json()["ok"], 1);
        assert_eq!(r.report.to_json()["ops"], 2);
        assert_eq!(r.report.to_json()["recovered_after_s"], 2.5);
        assert!(
            r.explanation().contains("2.50 s after the heal"),
            "{}",
            r.explanation()
        );
    }

    #[test]
    fn no_ok_in_the_window_is_invalid_even_with_oks_before_it() {
        let ops = vec![
            op(C(0), Invoke, S),
            op(C(0), Done, 2 * S),
            op(C(10), Invoke, 10 * S),
            op(C(10), Info, 11 * S),
            op(C(20), Invoke, 11 * S),
            op(C(20), Fail, 12 * S),
            // Invoked after the window: not part of recovery.
            op(C(30), Invoke, 16 * S),
            op(C(30), Done, 16 * S + 1),
        ];
        let r = check(&ops, &window(10, 5));
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.report.to_json()["anomaly"], "did not recover within 5 s");
        assert_eq!(r.report.to_json()["ops"], 2);
        assert!(r.report.to_json()["recovered_after_s"].is_null());
        assert!(r.explanation().starts_with("did not recover within 5 s"));
    }

    #[test]
    fn an_ok_of_an_invocation_from_before_the_window_does_not_count() {
        let ops = vec![
            op(C(0), Invoke, 9 * S),
            op(C(1), Invoke, 10 * S),
            op(C(0), Done, 11 * S),
            op(C(1), Fail, 12 * S),
        ];
        let r = check(&ops, &window(10, 5));
        assert_eq!(r.verdict, Verdict::Invalid);
    }

    #[test]
    fn an_empty_or_interrupted_window_is_unknown() {
        assert_eq!(check(&[], &window(10, 5)).verdict, Verdict::Unknown);
        let ops = vec![op(C(1), Invoke, 10 * S), op(C(1), Fail, 11 * S)];
        let mut w = window(10, 5);
        w.interrupted = true;
        assert_eq!(check(&ops, &w).verdict, Verdict::Unknown);
    }
}
