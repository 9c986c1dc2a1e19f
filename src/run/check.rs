//! The check phase: the history is read back from disk (exactly what `faultline check`
//! would read later) and handed to the checkers. `faultline report --recompute` and
//! `faultline check --update` run the same checkers again on a stored run.
//!
//! Besides the workload's checker, the controller checks its own recording by the
//! rules of [`workloads::wellformed`] (every client process alternates invoke and
//! completion, never invokes again after an `info`, indexes increase, client times do
//! not go backwards). A violation of those is a harness bug and makes the run
//! `unknown`, not `invalid`.

use std::path::Path;

use workloads::check::{check_history, CheckOptions, CheckReport};
use workloads::history::{read_jsonl_lenient, Op};
use workloads::model::ModelKind;
use workloads::wellformed;

use super::config::WorkloadName;
use super::recovery::Window;
use super::results::{CheckerError, CheckerReport, CheckerResult, HistoryReport, Verdict};

/// The model a workload is checked against.
pub fn model_of(workload: WorkloadName) -> ModelKind {
    match workload {
        WorkloadName::Register => ModelKind::CasRegister,
        WorkloadName::Set => ModelKind::Set,
    }
}

/// Reads the history and runs every checker (see [`check_ops`]), and the `recovery`
/// checker when the run had a recovery window.
pub fn check_run(
    history: &Path,
    opts: &CheckOptions,
    recovery: Option<&Window>,
) -> (Vec<CheckerResult>, Option<CheckReport>) {
    let ops = match read_jsonl_lenient(history) {
        Ok((ops, _)) => ops,
        Err(e) => {
            let result = failed("history", format!("cannot read the history: {e}"));
            return (vec![result], None);
        }
    };
    let (mut checkers, report) = check_ops(&ops, opts);
    checkers.extend(recovery.map(|w| super::recovery::check(&ops, w)));
    (checkers, report)
}

/// Runs the recording self-check and the workload's checkers (`opts.model`, inferred
/// from the operations when `None`). Returns the per-checker results and the workload
/// checker's whole report (for `results.json`).
pub fn check_ops(ops: &[Op], opts: &CheckOptions) -> (Vec<CheckerResult>, Option<CheckReport>) {
    let mut out = vec![well_formed(ops)];
    let (checkers, report) = workload_checkers(ops, opts);
    out.extend(checkers);
    (out, report)
}

/// The recording self-check (see the module docs).
fn well_formed(ops: &[Op]) -> CheckerResult {
    let problems: Vec<String> = wellformed::problems(ops, 10)
        .into_iter()
        .map(|p| format!("index {}: {}", p.index, p.message))
        .collect();
    let verdict = if problems.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Unknown
    };
    CheckerResult {
        name: "history".into(),
        verdict,
        report: CheckerReport::History(HistoryReport {
            ops: ops.len(),
            problems,
        }),
    }
}

/// The result of checker `name` that could not run: unknown, with why.
fn failed(name: &str, error: String) -> CheckerResult {
    CheckerResult {
        name: name.into(),
        verdict: Verdict::Unknown,
        report: CheckerReport::Failed(CheckerError { error }),
    }
}

/// The workload's checkers: linearizability against the workload's model, plus lost
/// writes for sets. Returns the per-checker results and the whole report.
fn workload_checkers(ops: &[Op], opts: &CheckOptions) -> (Vec<CheckerResult>, Option<CheckReport>) {
    let report = match check_history(ops, opts) {
        Ok(r) => r,
        Err(e) => {
            let result = failed("linearizable", format!("cannot interpret the history: {e}"));
            return (vec![result], None);
        }
    };
    let lin = &report.checkers.linearizable;
    let mut out = vec![CheckerResult {
        name: "linearizable".into(),
        verdict: lin.verdict,
        report: CheckerReport::Linearizable(lin.clone()),
    }];
    if let Some(lost) = &report.checkers.lost_writes {
        out.push(CheckerResult {
            name: "lost-writes".into(),
            verdict: lost.verdict,
            report: CheckerReport::LostWrites(lost.clone()),
        });
    }
    (out, Some(report))
}
