//! Well-formedness of a history: the rules every recording must follow before a checker
//! may trust it. `faultline test` runs them on its own recording (a violation there is a
//! harness bug, and the run is `unknown`); `faultline check` runs the same rules on the
//! file it is given and refuses a history that breaks them (bad input, exit 3).
//!
//! The rules:
//!
//! - `index` strictly increases from line to line;
//! - `time` never goes backwards between client operations (nemesis lines carry the
//!   moment the fault happened, which may precede the line before them);
//! - every client process alternates invocation and completion: it never invokes while
//!   an operation of its own is pending, and never completes what it did not invoke;
//! - a process whose operation ended `info` is retired: it never invokes again (its
//!   operation may still take effect at any time, so the process is not sequential any
//!   more);
//! - keys are all or nothing: when one client operation names a key, every client
//!   operation must (a missing or misspelled `key` would otherwise be checked as a
//!   separate key-less object).
//!
//! A problem names the operation by its position in the history (1-based), so that a
//! reader can turn it into a line of the file.

use std::collections::HashMap;

use crate::history::{Op, OpType, Process};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based position of the offending operation in the history.
    pub position: usize,
    /// Its `index` field.
    pub index: u64,
    /// What is wrong, in words.
    pub message: String,
}

/// Per client process: the position of its pending invocation, and where it retired.
#[derive(Default)]
struct ProcessState {
    /// Position (0-based) of the open invocation, if any.
    open: Option<usize>,
    /// `index` of the `info` completion that retired it, if any.
    retired_at: Option<u64>,
}

/// Checks every rule and returns at most `limit` problems, in history order.
pub fn problems(ops: &[Op], limit: usize) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut processes: HashMap<u64, ProcessState> = HashMap::new();
    let mut last_client_time: Option<u64> = None;
    let keyed = ops.iter().find(|o| !o.is_nemesis() && o.key.is_some());
    for (pos, op) in ops.iter().enumerate() {
        if out.len() >= limit {
            break;
        }
        let mut report = |message: String| {
            out.push(Problem {
                position: pos + 1,
                index: op.index,
                message,
            })
        };
        if pos > 0 && op.index <= ops[pos - 1].index {
            report(format!(
                "index {} does not increase (the line before has index {})",
                op.index,
                ops[pos - 1].index
            ));
        }
        let Process::Client(p) = op.process else {
            continue;
        };
        if let Some(t) = last_client_time.filter(|&t| op.time < t) {
            report(format!(
                "time {} goes backwards (an earlier client operation has time {t})",
                op.time
            ));
        }
        last_client_time = Some(last_client_time.map_or(op.time, |t| t.max(op.time)));
        if let (None, Some(k)) = (&op.key, keyed) {
            report(format!(
                "field key is missing (other operations have one, e.g. index {})",
                k.index
            ));
        }
        let state = processes.entry(p).or_default();
        match op.op_type {
            OpType::Invoke => {
                if let Some(open) = state.open {
                    report(format!(
                        "process {p} invokes again while its operation at index {} is pending",
                        ops[open].index
                    ));
                } else if let Some(at) = state.retired_at {
                    report(format!(
                        "process {p} invokes again after its info at index {at} \
                         (a process with an unknown outcome must be retired)"
                    ));
                }
                state.open = Some(pos);
            }
            t => {
                if state.open.take().is_none() {
                    report(format!(
                        "process {p} completes an operation it never invoked"
                    ));
                }
                if t == OpType::Info {
                    state.retired_at.get_or_insert(op.index);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Value;

    fn op(index: u64, time: u64, p: u64, t: OpType, key: Option<&str>) -> Op {
        Op {
            time,
            key: key.map(str::to_string),
            ..Op::client(index, p, t, "read", Value::Null)
        }
    }

    fn messages(ops: &[Op]) -> Vec<String> {
        problems(ops, 10).into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn a_clean_history_has_no_problem() {
        let h = [
            op(0, 1, 1, OpType::Invoke, Some("a")),
            op(1, 2, 2, OpType::Invoke, Some("b")),
            op(2, 2, 1, OpType::Ok, Some("a")),
            op(3, 5, 2, OpType::Info, Some("b")),
            op(4, 6, 3, OpType::Invoke, Some("b")),
        ];
        assert_eq!(messages(&h), Vec::<String>::new());
    }

    #[test]
    fn each_rule_is_enforced() {
        let out_of_order = [
            op(1, 1, 1, OpType::Invoke, None),
            op(0, 2, 1, OpType::Ok, None),
        ];
        assert!(messages(&out_of_order)[0].contains("does not increase"));
        let backwards = [
            op(0, 5, 1, OpType::Invoke, None),
            op(1, 4, 1, OpType::Ok, None),
        ];
        assert!(messages(&backwards)[0].contains("goes backwards"));
        let reused = [
            op(0, 1, 1, OpType::Invoke, None),
            op(1, 2, 1, OpType::Info, None),
            op(2, 3, 1, OpType::Invoke, None),
        ];
        assert!(messages(&reused)[0].contains("after its info at index 1"));
        let twice = [
            op(0, 1, 1, OpType::Invoke, None),
            op(1, 2, 1, OpType::Invoke, None),
        ];
        assert!(messages(&twice)[0].contains("while its operation at index 0"));
        let orphan = [op(0, 1, 1, OpType::Ok, None)];
        assert!(messages(&orphan)[0].contains("never invoked"));
        let keyless = [
            op(0, 1, 1, OpType::Invoke, Some("a")),
            op(1, 2, 1, OpType::Ok, None),
        ];
        let p = problems(&keyless, 10);
        assert_eq!(p[0].position, 2);
        assert!(p[0].message.contains("field key is missing"), "{p:?}");
    }

    #[test]
    fn nemesis_lines_may_carry_earlier_times() {
        let mut nemesis = op(1, 0, 0, OpType::Info, None);
        nemesis.process = Process::Nemesis;
        let h = [op(0, 5, 1, OpType::Invoke, None), nemesis];
        assert_eq!(messages(&h), Vec::<String>::new());
    }

    #[test]
    fn stops_at_the_limit() {
        let h: Vec<Op> = (0..50).map(|i| op(i, 1, 1, OpType::Ok, None)).collect();
        assert_eq!(problems(&h, 3).len(), 3);
    }
}
