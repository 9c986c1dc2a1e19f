//! The check phase: the history is read back from disk (exactly what `faultline check`
//! would read later) and handed to the checkers.
//!
//! Besides the workload's checker, the controller checks its own recording: every
//! client process alternates invoke and completion, and a process never invokes again
//! after an `info` (such a history would be unsound to check). A violation of that is a
//! harness bug and makes the run `unknown`, not `invalid`.

use std::collections::HashMap;
use std::path::Path;

use workloads::check::{check_history, CheckOptions};
use workloads::history::{read_jsonl_lenient, Op, OpType, Process};
use workloads::model::ModelKind;

use super::config::WorkloadName;
use super::recovery::Window;
use super::results::{CheckerResult, Verdict};

/// Reads the history and runs every checker of `workload`, and the `recovery` checker
/// when the run had a recovery window. Returns the per-checker results and the
/// workload checker's whole report (for `results.json`).
pub fn check_run(
    history: &Path,
    workload: WorkloadName,
    recovery: Option<&Window>,
) -> (Vec<CheckerResult>, Option<serde_json::Value>) {
    let ops = match read_jsonl_lenient(history) {
        Ok((ops, _)) => ops,
        Err(e) => {
            let result = CheckerResult {
                name: "history".into(),
                verdict: Verdict::Unknown,
                report: serde_json::json!({ "error": e.to_string() }),
                summary: format!("cannot read the history: {e}"),
            };
            return (vec![result], None);
        }
    };
    let mut out = vec![well_formed(&ops)];
    let (checkers, report) = workload_checkers(&ops, workload);
    out.extend(checkers);
    out.extend(recovery.map(|w| super::recovery::check(&ops, w)));
    (out, report)
}

/// The recording self-check (see the module docs).
fn well_formed(ops: &[Op]) -> CheckerResult {
    // Per process: whether an invocation is open, and whether it ended in info.
    let mut open: HashMap<u64, bool> = HashMap::new();
    let mut retired: HashMap<u64, bool> = HashMap::new();
    let mut problems = Vec::new();
    for op in ops {
        let Process::Client(p) = op.process else {
            continue;
        };
        let is_open = open.entry(p).or_insert(false);
        match op.op_type {
            OpType::Invoke => {
                if *is_open {
                    problems.push(format!("index {}: process {p} invokes twice", op.index));
                }
                if retired.get(&p).copied().unwrap_or(false) {
                    problems.push(format!(
                        "index {}: process {p} invokes after an info",
                        op.index
                    ));
                }
                *is_open = true;
            }
            t => {
                if !*is_open {
                    problems.push(format!(
                        "index {}: process {p} completes without invocation",
                        op.index
                    ));
                }
                *is_open = false;
                if t == OpType::Info {
                    retired.insert(p, true);
                }
            }
        }
        if problems.len() >= 10 {
            break;
        }
    }
    let verdict = if problems.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Unknown
    };
    let summary = if problems.is_empty() {
        format!("{} ops well-formed", ops.len())
    } else {
        format!("malformed history: {}", problems[0])
    };
    CheckerResult {
        name: "history".into(),
        verdict,
        report: serde_json::json!({ "ops": ops.len(), "problems": problems }),
        summary,
    }
}

/// The workload's checkers: linearizability against the workload's model, plus lost
/// writes for sets. Returns the per-checker results and the whole report.
fn workload_checkers(
    ops: &[Op],
    workload: WorkloadName,
) -> (Vec<CheckerResult>, Option<serde_json::Value>) {
    let model = match workload {
        WorkloadName::Register => ModelKind::CasRegister,
        WorkloadName::Set => ModelKind::Set,
    };
    let opts = CheckOptions {
        model: Some(model),
        ..CheckOptions::default()
    };
    let report = match check_history(ops, &opts) {
        Ok(r) => r,
        Err(e) => {
            let result = CheckerResult {
                name: "linearizable".into(),
                verdict: Verdict::Unknown,
                report: serde_json::json!({ "error": e.to_string() }),
                summary: format!("cannot interpret the history: {e}"),
            };
            return (vec![result], None);
        }
    };
    let lin = &report.checkers.linearizable;
    let mut out = vec![CheckerResult {
        name: "linearizable".into(),
        verdict: lin.verdict,
        report: serde_json::to_value(lin).unwrap_or_default(),
        summary: format!(
            "{} keys checked, {} invalid, {} unknown ({} model, {} ms){}",
            lin.keys_checked,
            lin.invalid_keys.len(),
            lin.unknown_keys.len(),
            report.model.as_str(),
            report.stats.elapsed_ms,
            lin.counterexamples
                .first()
                .map(|c| format!(": {}", c.summary))
                .unwrap_or_default()
        ),
    }];
    if let Some(lost) = &report.checkers.lost_writes {
        out.push(CheckerResult {
            name: "lost-writes".into(),
            verdict: lost.verdict,
            report: serde_json::to_value(lost).unwrap_or_default(),
            summary: format!(
                "{} acknowledged adds, {} lost, {} stale, {} never read",
                lost.acknowledged, lost.lost_count, lost.stale_count, lost.never_read_count
            ),
        });
    }
    (out, serde_json::to_value(&report).ok())
}
