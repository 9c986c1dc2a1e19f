//! The linearizability checker against two independent oracles, on thousands of small
//! random CAS-register histories (valid and invalid, with `fail` and `info` operations,
//! and failed CAS operations that found another value and so observed the register):
//! stateright's `LinearizabilityTester`, and a brute-force search over every order (and
//! every subset of indeterminate operations) written here.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stateright::semantics::SequentialSpec;
use workloads::check::{check_history, CheckOptions, Verdict};
use workloads::history::{Op, OpType, Value, CAS_MISMATCH};
use workloads::model::{CasRegister, Input, Model, ModelKind, Operation};
use workloads::prepare::{prepare, PrepareError};
use workloads::synth::apply_to_register;

mod common;

/// A CAS register as a stateright sequential specification.
#[derive(Clone, Debug, Default)]
struct Reg(Option<i64>);

#[derive(Clone, Debug)]
enum ROp {
    Read,
    Write(i64),
    Cas(i64, i64),
}

#[derive(Clone, Debug, PartialEq)]
enum RRet {
    Read(Option<i64>),
    Written,
    CasOk,
    CasFailed,
}

impl SequentialSpec for Reg {
    type Op = ROp;
    type Ret = RRet;
    fn invoke(&mut self, op: &ROp) -> RRet {
        match op {
            ROp::Read => RRet::Read(self.0),
            ROp::Write(v) => {
                self.0 = Some(*v);
                RRet::Written
            }
            ROp::Cas(a, b) if self.0 == Some(*a) => {
                self.0 = Some(*b);
                RRet::CasOk
            }
            ROp::Cas(..) => RRet::CasFailed,
        }
    }
}

fn line(index: usize, p: u64, t: OpType, f: &str, value: Value) -> Op {
    Op::client(index as u64, p, t, f, value)
}

/// A random history of at most `max_ops` operations on one register, with 1–4
/// concurrent processes, about one completion in `crash_one_in` indeterminate. Half the
/// time completions are produced by a real register (linearized at completion) with
/// occasional corruption; otherwise outcomes are random. Half the failed CAS operations
/// say they found another value ([`CAS_MISMATCH`]); the others only failed. In about a
/// third of the histories every write writes a value of its own.
fn random_history(rng: &mut ChaCha8Rng, max_ops: usize, crash_one_in: u32) -> Vec<Op> {
    let procs = rng.random_range(1..=4u64);
    let faithful = rng.random_bool(0.5);
    // Writes of values no other write uses, so that the checker's pruning of
    // indeterminate writes nobody observed comes into play.
    let unique = rng.random_bool(0.3);
    let mut next_unique = 100;
    let mut next_proc = procs;
    let mut active: Vec<u64> = (0..procs).collect();
    let mut pending: Vec<Option<(String, Value)>> = vec![None; 64];
    let mut state: Option<i64> = None;
    let mut h = Vec::new();
    let mut started = 0;
    let n_ops = rng.random_range(1..=max_ops);
    while started < n_ops || pending.iter().any(Option::is_some) {
        let slot = rng.random_range(0..active.len());
        let p = active[slot];
        match pending[p as usize].take() {
            None if started < n_ops => {
                started += 1;
                let (f, v) = match rng.random_range(0..3) {
                    0 => ("read", Value::Null),
                    1 => {
                        let v = rng.random_range(0..3);
                        next_unique += 1;
                        ("write", Value::Int(if unique { next_unique } else { v }))
                    }
                    _ => (
                        "cas",
                        Value::Ints(vec![rng.random_range(0..3), rng.random_range(0..3)]),
                    ),
                };
                h.push(line(h.len(), p, OpType::Invoke, f, v.clone()));
                pending[p as usize] = Some((f.to_string(), v));
            }
            None => {}
            Some((f, v)) => {
                let roll = rng.random_range(0..crash_one_in);
                if roll == 0 && next_proc < 63 {
                    // Indeterminate: maybe applied, process retired.
                    if faithful && rng.random_bool(0.5) {
                        apply_to_register(&mut state, &f, &v);
                    }
                    h.push(line(h.len(), p, OpType::Info, &f, v));
                    active[slot] = next_proc;
                    next_proc += 1;
                    continue;
                }
                let (t, out) = if faithful {
                    let ok = apply_to_register(&mut state, &f, &v);
                    let mut out = if f == "read" { Value::from(state) } else { v };
                    if f == "read" && rng.random_range(0..8) == 0 {
                        out = Value::Int(rng.random_range(0..3));
                    }
                    (if ok { OpType::Ok } else { OpType::Fail }, out)
                } else {
                    let t = if f == "cas" && rng.random_bool(0.4) {
                        OpType::Fail
                    } else {
                        OpType::Ok
                    };
                    let out = if f == "read" {
                        match rng.random_range(0..4) {
                            3 => Value::Null,
                            x => Value::Int(x),
                        }
                    } else {
                        v
                    };
                    (t, out)
                };
                let mismatch = f == "cas" && t == OpType::Fail && rng.random_bool(0.5);
                h.push(Op {
                    error: mismatch.then(|| CAS_MISMATCH.to_string()),
                    ..line(h.len(), p, t, &f, out)
                });
            }
        }
    }
    h
}

/// Brute force: tries every order of every subset of indeterminate operations.
fn brute_force(ops: &[Operation]) -> bool {
    fn go(ops: &[Operation], placed: &mut Vec<bool>, state: Option<i64>) -> bool {
        let model = CasRegister::default();
        if ops
            .iter()
            .zip(placed.iter())
            .all(|(o, &p)| p || o.is_indeterminate())
        {
            return true;
        }
        for (i, op) in ops.iter().enumerate() {
            if placed[i] {
                continue;
            }
            // Every unplaced operation that returned before this one began must go first.
            let blocked = ops
                .iter()
                .enumerate()
                .any(|(j, o)| !placed[j] && j != i && o.ret < op.call);
            if blocked {
                continue;
            }
            if let Some(next) = model.step(&state, op) {
                placed[i] = true;
                if go(ops, placed, next) {
                    return true;
                }
                placed[i] = false;
            }
        }
        false
    }
    // Indeterminate operations never block others (their return is infinite), so
    // leaving one unplaced is the same as dropping it.
    go(ops, &mut vec![false; ops.len()], None)
}

fn stateright_verdict(h: &[Op]) -> bool {
    common::stateright(
        h,
        Reg::default(),
        |op| match (op.f.as_str(), &op.value) {
            ("read", _) => ROp::Read,
            ("write", Value::Int(v)) => ROp::Write(*v),
            (_, Value::Ints(ab)) => ROp::Cas(ab[0], ab[1]),
            other => panic!("unexpected op {other:?}"),
        },
        |op| match (op.f.as_str(), &op.value) {
            ("read", v) => RRet::Read(v.as_int()),
            ("write", _) => RRet::Written,
            _ if op.op_type == OpType::Fail => RRet::CasFailed,
            _ => RRet::CasOk,
        },
    )
}

#[test]
fn agrees_with_stateright_and_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let opts = CheckOptions {
        model: Some(ModelKind::CasRegister),
        ..CheckOptions::default()
    };
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..3000 {
        let h = random_history(&mut rng, 7, 10);
        let report = match check_history(&h, &opts) {
            // Every operation failed: nothing to check, and no verdict claimed.
            Err(PrepareError::NoOperations(_)) => continue,
            other => other.expect("well-formed history"),
        };
        let ours = match report.verdict {
            Verdict::Valid => true,
            Verdict::Invalid => false,
            Verdict::Unknown => panic!("case {case}: unknown on a tiny history"),
        };
        let prepared = prepare(&h, ModelKind::CasRegister).unwrap();
        let brute = brute_force(&prepared.ops);
        let sr = stateright_verdict(&h);
        assert_eq!(ours, brute, "case {case}: brute force disagrees on {h:#?}");
        assert_eq!(ours, sr, "case {case}: stateright disagrees on {h:#?}");
        if ours {
            valid += 1;
        } else {
            invalid += 1;
            assert!(!report.checkers.linearizable.counterexamples.is_empty());
        }
    }
    assert!(
        valid > 500 && invalid > 500,
        "both verdicts are exercised: {valid} valid, {invalid} invalid"
    );
}

#[test]
fn larger_histories_agree_with_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let opts = CheckOptions {
        model: Some(ModelKind::CasRegister),
        ..CheckOptions::default()
    };
    for case in 0..300 {
        let h = random_history(&mut rng, 11, 10);
        let ours = match check_history(&h, &opts) {
            Err(PrepareError::NoOperations(_)) => continue,
            other => other.unwrap().verdict == Verdict::Valid,
        };
        let prepared = prepare(&h, ModelKind::CasRegister).unwrap();
        assert_eq!(ours, brute_force(&prepared.ops), "case {case}: {h:#?}");
    }
}

/// Histories where a third of the operations crash, over three values, so that many
/// open writes and CASes repeat one another: the search's reductions for them
/// ([`workloads::symmetry`]) must change no verdict.
#[test]
fn crash_heavy_histories_agree_with_brute_force_with_and_without_reductions() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    // Histories seen invalid, valid.
    let mut seen = [0usize; 2];
    for case in 0..600 {
        let h = random_history(&mut rng, 10, 3);
        let Ok(prepared) = prepare(&h, ModelKind::CasRegister) else {
            continue;
        };
        let brute = brute_force(&prepared.ops);
        for symmetry in [true, false] {
            let opts = CheckOptions {
                model: Some(ModelKind::CasRegister),
                symmetry,
                ..CheckOptions::default()
            };
            let ours = check_history(&h, &opts).unwrap().verdict == Verdict::Valid;
            assert_eq!(ours, brute, "case {case} (reductions {symmetry}): {h:#?}");
        }
        seen[usize::from(brute)] += 1;
    }
    assert!(
        seen.iter().all(|&n| n > 100),
        "both verdicts are exercised: {} valid, {} invalid",
        seen[1],
        seen[0]
    );
}

/// The cache may stand a configuration for another that used a *superset* of its
/// crashed operations, never any other set: here the search first reaches "read 2
/// done" through both crashed writes (1, then 2), fails, and must still try it through
/// write 2 alone, keeping write 1 for the last read.
#[test]
fn a_crashed_write_used_early_is_not_a_crashed_write_kept() {
    use OpType::{Info, Invoke, Ok};
    let h = vec![
        line(0, 0, Invoke, "write", Value::Int(1)),
        line(1, 1, Invoke, "write", Value::Int(2)),
        line(2, 2, Invoke, "read", Value::Null),
        line(3, 2, Ok, "read", Value::Int(2)),
        line(4, 0, Info, "write", Value::Int(1)),
        line(5, 1, Info, "write", Value::Int(2)),
        line(6, 3, Invoke, "read", Value::Null),
        line(7, 3, Ok, "read", Value::Int(1)),
    ];
    for symmetry in [true, false] {
        let opts = CheckOptions {
            symmetry,
            ..CheckOptions::default()
        };
        let report = check_history(&h, &opts).unwrap();
        assert_eq!(report.verdict, Verdict::Valid, "reductions {symmetry}");
    }
}

#[test]
fn operations_keep_their_inputs() {
    let h = vec![
        line(0, 1, OpType::Invoke, "cas", Value::Ints(vec![1, 2])),
        line(1, 1, OpType::Ok, "cas", Value::Ints(vec![1, 2])),
    ];
    let p = prepare(&h, ModelKind::CasRegister).unwrap();
    assert_eq!(p.ops[0].input, Input::Cas(1, 2));
}
