//! The check phase: the history is read back from disk (exactly what `faultline check`
//! would read later) and handed to the checkers.
//!
//! Besides the workload's checker, the controller checks its own recording: every
//! client process alternates invoke and completion, and a process never invokes again
//! after an `info` (such a history would be unsound to check). A violation of that is a
//! harness bug and makes the run `unknown`, not `invalid`.

use std::collections::HashMap;
use std::path::Path;

use workloads::history::{read_jsonl_lenient, Op, OpType, Process};

use super::config::WorkloadName;
use super::results::{CheckerResult, Verdict};

/// Reads the history and runs every checker of `workload`.
pub fn check_run(history: &Path, workload: WorkloadName) -> Vec<CheckerResult> {
    let ops = match read_jsonl_lenient(history) {
        Ok((ops, _)) => ops,
        Err(e) => {
            return vec![CheckerResult {
                name: "history".into(),
                verdict: Verdict::Unknown,
                report: serde_json::json!({ "error": e.to_string() }),
                summary: format!("cannot read the history: {e}"),
            }]
        }
    };
    let mut out = vec![well_formed(&ops)];
    out.extend(workload_checkers(&ops, workload));
    out
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

/// The workload's checkers.
fn workload_checkers(_ops: &[Op], _workload: WorkloadName) -> Vec<CheckerResult> {
    Vec::new()
}
