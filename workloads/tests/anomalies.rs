//! Hand-written histories with known verdicts for every model, including the classic
//! anomalies (stale read, lost write, garbage read, a failed CAS that was applied,
//! duplicates), and the budget: a history built to explode ends `unknown` in time.

use std::time::Duration;

use workloads::check::{check_history, Anomaly, CheckOptions, CheckReport, Verdict};
use workloads::history::{Op, OpType, Value, CAS_MISMATCH};
use workloads::linear::UnknownReason;
use workloads::model::ModelKind;
use workloads::synth::{explosive_history, register_history, SynthConfig};

/// Builds histories line by line: `h.inv(p, f, v)` / `h.ok(p, f, v)` / ...
#[derive(Default)]
struct H(Vec<Op>);

impl H {
    fn add(mut self, p: u64, t: OpType, f: &str, key: &str, v: Value) -> H {
        let index = self.0.len() as u64;
        self.0.push(Op {
            key: Some(key.into()),
            ..Op::client(index, p, t, f, v)
        });
        self
    }
    fn inv(self, p: u64, f: &str, v: Value) -> H {
        self.add(p, OpType::Invoke, f, "k", v)
    }
    fn ok(self, p: u64, f: &str, v: Value) -> H {
        self.add(p, OpType::Ok, f, "k", v)
    }
    fn fail(self, p: u64, f: &str, v: Value) -> H {
        self.add(p, OpType::Fail, f, "k", v)
    }
    /// A cas of `p` that completes `fail` with `error`.
    fn cas_fails(mut self, p: u64, expected: i64, new: i64, error: &str) -> H {
        let value = Value::Ints(vec![expected, new]);
        self = self.inv(p, "cas", value.clone()).fail(p, "cas", value);
        self.0.last_mut().expect("just added").error = Some(error.into());
        self
    }
    fn info(self, p: u64, f: &str, v: Value) -> H {
        self.add(p, OpType::Info, f, "k", v)
    }
    /// A complete sequential operation.
    fn op(self, p: u64, f: &str, inv: Value, out: Value) -> H {
        self.inv(p, f, inv).ok(p, f, out)
    }
    fn w(self, p: u64, v: i64) -> H {
        self.op(p, "write", Value::Int(v), Value::Int(v))
    }
    fn r(self, p: u64, v: Option<i64>) -> H {
        self.op(p, "read", Value::Null, Value::from(v))
    }
}

fn check(h: &H, model: Option<ModelKind>) -> CheckReport {
    check_history(
        &h.0,
        &CheckOptions {
            model,
            ..CheckOptions::default()
        },
    )
    .expect("well-formed history")
}

fn anomaly(r: &CheckReport) -> Option<Anomaly> {
    r.checkers.linearizable.counterexamples[0].anomaly
}

#[test]
fn register_valid_histories() {
    let h = H::default().r(1, None).w(1, 1).r(2, Some(1));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    // A read concurrent with a write may see either value.
    let h = H::default()
        .inv(1, "write", Value::Int(1))
        .inv(2, "read", Value::Null)
        .ok(2, "read", Value::Int(1))
        .ok(1, "write", Value::Int(1))
        .r(3, Some(1));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    // An info write may take effect later, once observed.
    let h = H::default()
        .w(1, 1)
        .inv(2, "write", Value::Int(2))
        .info(2, "write", Value::Int(2))
        .r(3, Some(1))
        .r(3, Some(2))
        .r(3, Some(2));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    // A never-completed write may never happen.
    let h = H::default().inv(1, "write", Value::Int(5)).r(2, None);
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    // A failed write did not happen.
    let h = H::default()
        .inv(1, "write", Value::Int(5))
        .fail(1, "write", Value::Int(5))
        .r(2, None);
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
}

#[test]
fn stale_read_is_invalid() {
    let h = H::default().w(1, 1).w(2, 2).r(3, Some(1)).r(3, Some(2));
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::StaleRead));
    let c = &r.checkers.linearizable.counterexamples[0];
    assert_eq!(c.key, "k");
    assert_eq!(c.op.invoke_index, 4);
    assert_eq!(c.states, vec!["2".to_string()]);
    assert_eq!(c.prefix_len, 2);
}

#[test]
fn lost_write_is_invalid() {
    let h = H::default().w(1, 1).w(2, 2).r(3, Some(1));
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::LostWrite));
}

#[test]
fn garbage_read_is_invalid() {
    let h = H::default().w(1, 1).r(2, Some(7));
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::GarbageRead));
    let text = workloads::check::render_text(&r);
    assert!(text.contains("garbage read"), "{text}");
}

#[test]
fn failed_cas_that_was_applied_is_invalid() {
    let h = H::default()
        .w(1, 1)
        .inv(2, "cas", Value::Ints(vec![1, 2]))
        .fail(2, "cas", Value::Ints(vec![1, 2]))
        .r(3, Some(2));
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::FailedWriteApplied));
}

#[test]
fn a_cas_mismatch_is_an_observation() {
    // The write of 1 completed and nothing else wrote: a CAS expecting 1 cannot find
    // another value.
    let h = H::default().w(1, 1).cas_fails(2, 1, 2, CAS_MISMATCH);
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::LostWrite));
    let text = workloads::check::render_text(&r);
    assert!(text.contains("found another value"), "{text}");
    // A write of 3 concurrent with the CAS explains it.
    let h = H::default()
        .w(1, 1)
        .inv(3, "write", Value::Int(3))
        .cas_fails(2, 1, 2, CAS_MISMATCH)
        .ok(3, "write", Value::Int(3))
        .r(1, Some(3));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    // Expecting a value nobody wrote and not finding it is what a register does.
    let h = H::default()
        .w(1, 1)
        .cas_fails(2, 7, 2, CAS_MISMATCH)
        .r(1, Some(1));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    // It wrote nothing: the value it would have written, read later, was never written.
    let h = H::default()
        .w(1, 1)
        .w(1, 3)
        .cas_fails(2, 1, 2, CAS_MISMATCH)
        .r(3, Some(2));
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::FailedWriteApplied));
    // An indeterminate write nobody read may explain it: it can have taken effect just
    // before the CAS.
    let h = H::default()
        .w(1, 1)
        .inv(3, "write", Value::Int(5))
        .cas_fails(2, 1, 2, CAS_MISMATCH)
        .w(2, 6)
        .info(3, "write", Value::Int(5));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    // A CAS that failed for another reason only did not happen.
    let h = H::default()
        .w(1, 1)
        .cas_fails(2, 1, 2, "deadline exceeded")
        .r(1, Some(1));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
}

#[test]
fn cas_semantics_and_initial_value() {
    let h = H::default()
        .w(1, 1)
        .op(2, "cas", Value::Ints(vec![1, 2]), Value::Ints(vec![1, 2]))
        .r(3, Some(2));
    assert_eq!(check(&h, None).verdict, Verdict::Valid);
    let h = H::default()
        .w(1, 1)
        .op(2, "cas", Value::Ints(vec![3, 2]), Value::Ints(vec![3, 2]));
    assert_eq!(check(&h, None).verdict, Verdict::Invalid);
    let h = H::default().r(1, Some(0));
    assert_eq!(check(&h, None).verdict, Verdict::Invalid);
    let r = check_history(
        &h.0,
        &CheckOptions {
            initial: Some(0),
            ..CheckOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
    // The plain register has no CAS.
    let h = H::default().op(2, "cas", Value::Ints(vec![1, 2]), Value::Ints(vec![1, 2]));
    assert!(check_history(
        &h.0,
        &CheckOptions {
            model: Some(ModelKind::Register),
            ..CheckOptions::default()
        }
    )
    .is_err());
}

#[test]
fn kv_keys_are_independent() {
    let mut h = H::default()
        .add(1, OpType::Invoke, "write", "a", Value::Int(1))
        .add(1, OpType::Ok, "write", "a", Value::Int(1))
        .add(2, OpType::Invoke, "write", "b", Value::Int(2))
        .add(2, OpType::Ok, "write", "b", Value::Int(2))
        .add(3, OpType::Invoke, "read", "a", Value::Null)
        .add(3, OpType::Ok, "read", "a", Value::Int(1));
    assert_eq!(check(&h, Some(ModelKind::Kv)).verdict, Verdict::Valid);
    h = h.add(3, OpType::Invoke, "read", "a", Value::Null).add(
        3,
        OpType::Ok,
        "read",
        "a",
        Value::Int(2),
    );
    let r = check(&h, Some(ModelKind::Kv));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.checkers.linearizable.invalid_keys, vec!["a".to_string()]);
    assert_eq!(r.checkers.linearizable.keys_valid, 1);
}

fn add(h: H, p: u64, e: i64) -> H {
    h.op(p, "add", Value::Int(e), Value::Int(e))
}

fn read_set(h: H, p: u64, v: Vec<i64>) -> H {
    h.op(p, "read", Value::Null, Value::Ints(v))
}

#[test]
fn set_histories() {
    let h = read_set(add(add(H::default(), 1, 1), 2, 2), 3, vec![2, 1]);
    let r = check(&h, None);
    assert_eq!(r.model, ModelKind::Set);
    assert_eq!(r.verdict, Verdict::Valid);
    assert_eq!(r.checkers.lost_writes.as_ref().unwrap().ok_count, 2);

    let h = read_set(add(add(H::default(), 1, 1), 2, 2), 3, vec![2]);
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::LostWrite));
    let lw = r.checkers.lost_writes.unwrap();
    assert_eq!((lw.lost_count, lw.lost[0].element), (1, 1));

    let h = read_set(add(H::default(), 1, 1), 3, vec![1, 1]);
    let r = check(&h, None);
    assert_eq!(anomaly(&r), Some(Anomaly::Duplicate));
    assert_eq!(r.checkers.lost_writes.unwrap().duplicated.len(), 1);

    let h = read_set(add(H::default(), 1, 1), 3, vec![1, 9]);
    let r = check(&h, None);
    assert_eq!(anomaly(&r), Some(Anomaly::GarbageRead));
    assert_eq!(r.checkers.lost_writes.unwrap().unexpected[0].element, 9);

    // Stale: missing once, present later.
    let h = read_set(read_set(add(H::default(), 1, 1), 3, vec![]), 3, vec![1]);
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.checkers.lost_writes.unwrap().stale_count, 1);

    // An info add may show up; a never-read add is reported, not invalid.
    let h = read_set(
        H::default()
            .inv(1, "add", Value::Int(4))
            .info(1, "add", Value::Int(4)),
        2,
        vec![4],
    );
    let h = add(read_set(add(h, 3, 5), 2, vec![5, 4]), 3, 6);
    let r = check(&h, None);
    assert_eq!(r.verdict, Verdict::Valid);
    let lw = r.checkers.lost_writes.unwrap();
    assert_eq!(
        (lw.recovered_count, lw.ok_count, lw.never_read_count),
        (1, 2, 1)
    );
}

fn append(h: H, p: u64, e: i64) -> H {
    h.op(p, "append", Value::Int(e), Value::Int(e))
}

#[test]
fn list_histories() {
    let h = read_set(append(append(H::default(), 1, 1), 2, 2), 3, vec![1, 2]);
    let r = check(&h, None);
    assert_eq!(r.model, ModelKind::List);
    assert_eq!(r.verdict, Verdict::Valid);
    let h = read_set(append(append(H::default(), 1, 1), 2, 2), 3, vec![2, 1]);
    assert_eq!(check(&h, None).verdict, Verdict::Invalid);
    let h = read_set(append(H::default(), 1, 1), 3, vec![1, 1]);
    assert_eq!(anomaly(&check(&h, None)), Some(Anomaly::Duplicate));
}

#[test]
fn synthetic_histories_are_valid_and_corruption_is_caught() {
    let mut ops = register_history(&SynthConfig {
        seed: 3,
        ops: 20_000,
        keys: 20,
        processes: 12,
        info_rate: 0.05,
    });
    assert_eq!(
        check_history(&ops, &CheckOptions::default())
            .unwrap()
            .verdict,
        Verdict::Valid
    );
    let read = ops
        .iter()
        .rposition(|o| o.f == "read" && o.op_type == OpType::Ok && o.value.as_int().is_some())
        .expect("some read returned a value");
    ops[read].value = Value::Int(-1);
    let r = check_history(&ops, &CheckOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(anomaly(&r), Some(Anomaly::GarbageRead));
}

#[test]
fn explosive_history_ends_unknown_in_time() {
    let ops = explosive_history(40);
    let r = check_history(
        &ops,
        &CheckOptions {
            time_limit: Duration::from_millis(300),
            ..CheckOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(
        r.checkers.linearizable.unknown_reason,
        Some(UnknownReason::TimeLimit)
    );
    // How far past its limit the search runs is a figure of `faultline bench-check
    // --only explode` ("overrun N ms"), not an assertion: it depends on the machine's load.
    let r = check_history(
        &ops,
        &CheckOptions {
            memory_limit: 4 << 20,
            ..CheckOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(
        r.checkers.linearizable.unknown_reason,
        Some(UnknownReason::MemoryLimit)
    );
}
