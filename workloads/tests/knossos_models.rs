//! Knossos' mutex, multi-register and queue models against independent oracles, on
//! thousands of small random histories (valid and invalid, with `fail` and `info`
//! operations): a brute-force search over every order and every subset of
//! indeterminate operations, stepping specifications written here (nondeterministic
//! where the model is: an indeterminate unordered dequeue may remove any element), and
//! stateright's `LinearizabilityTester`. Each history is checked with and without the
//! symmetry reduction; both must agree with the oracles.

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use stateright::semantics::SequentialSpec;
use workloads::check::{check_history, CheckOptions, Verdict};
use workloads::history::{Op, OpType, Process, Value};
use workloads::model::{Input, MicroOp, ModelKind, Operation, Output};
use workloads::prepare::{prepare, PrepareError};

mod common;
use common::brute_force;

/// A simulated object for the random histories.
trait Sim {
    /// A new operation of process `p`: its function and invocation value.
    fn invoke(&mut self, rng: &mut ChaCha8Rng, p: u64) -> (&'static str, Value);
    /// Performs it on the true object: the completion type and value.
    fn apply(&mut self, p: u64, f: &str, v: &Value) -> (OpType, Value);
    /// A made-up completion (often wrong).
    fn random(&mut self, rng: &mut ChaCha8Rng, f: &str, v: &Value) -> (OpType, Value);
}

/// Up to `max_ops` operations from 1–3 processes; completions come from the true object
/// half the time (occasionally corrupted), else are made up; one in eight is `info`
/// (applied or not) and retires its process.
fn random_history(rng: &mut ChaCha8Rng, sim: &mut dyn Sim, max_ops: usize) -> Vec<Op> {
    let procs = rng.random_range(1..=3u64);
    let faithful = rng.random_bool(0.5);
    let mut active: Vec<u64> = (0..procs).collect();
    let mut next_proc = procs;
    let mut pending: HashMap<u64, (&'static str, Value)> = HashMap::new();
    let mut h = Vec::new();
    let (mut started, n) = (0, rng.random_range(1..=max_ops));
    while started < n || !pending.is_empty() {
        let slot = rng.random_range(0..active.len());
        let p = active[slot];
        match pending.remove(&p) {
            None if started < n => {
                started += 1;
                let (f, v) = sim.invoke(rng, p);
                common::push(&mut h, p, OpType::Invoke, f, v.clone());
                pending.insert(p, (f, v));
            }
            None => {}
            Some((f, v)) => {
                if rng.random_range(0..8) == 0 {
                    if faithful && rng.random_bool(0.5) {
                        sim.apply(p, f, &v);
                    }
                    common::push(&mut h, p, OpType::Info, f, v);
                    active[slot] = next_proc;
                    next_proc += 1;
                    continue;
                }
                let (t, out) = if faithful && rng.random_range(0..8) != 0 {
                    sim.apply(p, f, &v)
                } else {
                    sim.random(rng, f, &v)
                };
                common::push(&mut h, p, t, f, out);
            }
        }
    }
    h
}

/// An independent verdict on a history, when it can give one.
type Oracle<'a> = &'a dyn Fn(&[Op]) -> Option<bool>;

/// Checks `cases` random histories of `kind` against brute force (and stateright when
/// given), with and without symmetry; returns (valid, invalid) counts.
fn agree<S: Clone>(
    kind: ModelKind,
    seed: u64,
    cases: usize,
    sim: &mut dyn FnMut() -> Box<dyn Sim>,
    init: S,
    succ: &dyn Fn(&S, &Operation) -> Vec<S>,
    oracle: Option<Oracle>,
) -> (usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..cases {
        let h = random_history(&mut rng, sim().as_mut(), 7);
        let prepared = match prepare(&h, kind) {
            Ok(p) => p,
            // Every operation failed: nothing to check, and `check` says so.
            Err(PrepareError::NoOperations(_)) => {
                let opts = CheckOptions {
                    model: Some(kind),
                    ..CheckOptions::default()
                };
                assert!(check_history(&h, &opts).is_err());
                continue;
            }
            Err(e) => panic!("well-formed history: {e}"),
        };
        let brute = brute_force(&prepared.ops, init.clone(), succ);
        for symmetry in [true, false] {
            let opts = CheckOptions {
                model: Some(kind),
                symmetry,
                ..CheckOptions::default()
            };
            let report = check_history(&h, &opts).expect("well-formed history");
            assert_ne!(report.verdict, Verdict::Unknown, "case {case}");
            assert_eq!(
                report.verdict == Verdict::Valid,
                brute,
                "case {case} (symmetry {symmetry}): brute force disagrees on {h:#?}"
            );
            if !brute {
                assert!(!report.checkers.linearizable.counterexamples.is_empty());
            }
        }
        if let Some(sr) = oracle.and_then(|o| o(&h)) {
            assert_eq!(sr, brute, "case {case}: stateright disagrees on {h:#?}");
        }
        if brute {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(
        valid > cases / 10 && invalid > cases / 10,
        "{kind}: both verdicts are exercised: {valid} valid, {invalid} invalid"
    );
    (valid, invalid)
}

// ---- mutex ----

struct MutexSim(Option<u64>);

impl Sim for MutexSim {
    fn invoke(&mut self, rng: &mut ChaCha8Rng, _p: u64) -> (&'static str, Value) {
        (
            if rng.random_bool(0.5) {
                "acquire"
            } else {
                "release"
            },
            Value::Null,
        )
    }
    fn apply(&mut self, p: u64, f: &str, _v: &Value) -> (OpType, Value) {
        let ok = match (f, self.0) {
            ("acquire", None) => {
                self.0 = Some(p);
                true
            }
            ("release", Some(h)) if h == p => {
                self.0 = None;
                true
            }
            _ => false,
        };
        (if ok { OpType::Ok } else { OpType::Fail }, Value::Null)
    }
    fn random(&mut self, rng: &mut ChaCha8Rng, _f: &str, _v: &Value) -> (OpType, Value) {
        (
            if rng.random_bool(0.7) {
                OpType::Ok
            } else {
                OpType::Fail
            },
            Value::Null,
        )
    }
}

#[derive(Clone, Debug, Default)]
struct Lock(Option<u64>);

impl SequentialSpec for Lock {
    type Op = (bool, u64);
    type Ret = bool;
    fn invoke(&mut self, &(acquire, p): &(bool, u64)) -> bool {
        match (acquire, self.0) {
            (true, None) => {
                self.0 = Some(p);
                true
            }
            (false, Some(h)) if h == p => {
                self.0 = None;
                true
            }
            _ => false,
        }
    }
}

fn process_of(op: &Op) -> u64 {
    match op.process {
        Process::Client(p) => p,
        Process::Nemesis => unreachable!("client operations only"),
    }
}

#[test]
fn mutex_agrees_with_brute_force_and_stateright() {
    let succ = |s: &Option<u64>, op: &Operation| match (&op.input, s) {
        (Input::Acquire, None) => vec![Some(op.process)],
        (Input::Release, Some(h)) if *h == op.process => vec![None],
        _ => vec![],
    };
    let oracle = |h: &[Op]| {
        Some(common::stateright(
            h,
            Lock::default(),
            |o| (o.f == "acquire", process_of(o)),
            |_| true,
        ))
    };
    agree(
        ModelKind::Mutex,
        21,
        2000,
        &mut || Box::new(MutexSim(None)),
        None,
        &succ,
        Some(&oracle),
    );
}

// ---- queues ----

struct QueueSim {
    fifo: bool,
    items: Vec<i64>,
    next: i64,
}

impl Sim for QueueSim {
    fn invoke(&mut self, rng: &mut ChaCha8Rng, _p: u64) -> (&'static str, Value) {
        if rng.random_bool(0.5) {
            self.next += 1;
            ("enqueue", Value::Int(self.next))
        } else {
            ("dequeue", Value::Null)
        }
    }
    fn apply(&mut self, _p: u64, f: &str, v: &Value) -> (OpType, Value) {
        if f == "enqueue" {
            self.items.push(v.as_int().expect("an element"));
            return (OpType::Ok, v.clone());
        }
        if self.items.is_empty() {
            return (OpType::Ok, Value::Null);
        }
        let at = if self.fifo { 0 } else { self.items.len() - 1 };
        (OpType::Ok, Value::Int(self.items.remove(at)))
    }
    fn random(&mut self, rng: &mut ChaCha8Rng, f: &str, v: &Value) -> (OpType, Value) {
        if f == "enqueue" {
            return (OpType::Ok, v.clone());
        }
        match rng.random_range(0..=self.next + 1) {
            0 => (OpType::Ok, Value::Null),
            x if x > self.next => (OpType::Fail, Value::Null),
            x => (OpType::Ok, Value::Int(x)),
        }
    }
}

fn queue_succ(fifo: bool) -> impl Fn(&Vec<i64>, &Operation) -> Vec<Vec<i64>> {
    move |s, op| match (&op.input, &op.output) {
        (Input::Enqueue(e), _) => vec![[s.as_slice(), &[*e]].concat()],
        (Input::Dequeue, Output::Value(None)) if s.is_empty() => vec![s.clone()],
        (Input::Dequeue, Output::Value(Some(e))) => s
            .iter()
            .position(|x| x == e)
            .filter(|&at| !fifo || at == 0)
            .map(|at| {
                let mut t = s.clone();
                t.remove(at);
                t
            })
            .into_iter()
            .collect(),
        (Input::Dequeue, Output::Unknown) => (0..s.len())
            .filter(|&at| !fifo || at == 0)
            .map(|at| {
                let mut t = s.clone();
                t.remove(at);
                t
            })
            .collect(),
        _ => vec![],
    }
}

#[derive(Clone, Debug, Default)]
struct Fifo(Vec<i64>);

impl SequentialSpec for Fifo {
    type Op = Option<i64>;
    type Ret = Option<i64>;
    fn invoke(&mut self, op: &Option<i64>) -> Option<i64> {
        match op {
            Some(e) => {
                self.0.push(*e);
                None
            }
            None if self.0.is_empty() => None,
            None => Some(self.0.remove(0)),
        }
    }
}

#[test]
fn fifo_queue_agrees_with_brute_force_and_stateright() {
    let succ = queue_succ(true);
    let oracle = |h: &[Op]| {
        Some(common::stateright(
            h,
            Fifo::default(),
            |o| o.value.as_int().filter(|_| o.f == "enqueue"),
            |o| o.value.as_int().filter(|_| o.f == "dequeue"),
        ))
    };
    agree(
        ModelKind::FifoQueue,
        22,
        2000,
        &mut || {
            Box::new(QueueSim {
                fifo: true,
                items: Vec::new(),
                next: 0,
            })
        },
        Vec::new(),
        &succ,
        Some(&oracle),
    );
}

#[test]
fn unordered_queue_agrees_with_brute_force() {
    let succ = queue_succ(false);
    agree(
        ModelKind::UnorderedQueue,
        23,
        2000,
        &mut || {
            Box::new(QueueSim {
                fifo: false,
                items: Vec::new(),
                next: 0,
            })
        },
        Vec::new(),
        &succ,
        None,
    );
}

// ---- multi-register ----

struct TxnSim(BTreeMap<String, i64>);

impl TxnSim {
    fn run(&mut self, v: &Value, corrupt: Option<&mut ChaCha8Rng>) -> Value {
        let Value::Json(serde_json::Value::Array(mops)) = v else {
            unreachable!("a transaction")
        };
        let mut rng = corrupt;
        let out: Vec<serde_json::Value> = mops
            .iter()
            .map(|m| {
                let (f, k) = (m[0].as_str().unwrap_or(""), m[1].as_str().unwrap_or(""));
                if f == "w" {
                    self.0.insert(k.to_string(), m[2].as_i64().unwrap_or(0));
                    return m.clone();
                }
                let truth = self.0.get(k).copied();
                let read = match rng.as_deref_mut() {
                    Some(r) => {
                        if r.random_bool(0.5) {
                            Some(r.random_range(0..3))
                        } else {
                            truth
                        }
                    }
                    None => truth,
                };
                json!(["r", k, read])
            })
            .collect();
        Value::Json(serde_json::Value::Array(out))
    }
}

impl Sim for TxnSim {
    fn invoke(&mut self, rng: &mut ChaCha8Rng, _p: u64) -> (&'static str, Value) {
        let n = rng.random_range(1..=2);
        let mops: Vec<serde_json::Value> = (0..n)
            .map(|_| {
                let k = if rng.random_bool(0.5) { "x" } else { "y" };
                if rng.random_bool(0.5) {
                    json!(["r", k, null])
                } else {
                    json!(["w", k, rng.random_range(0..3)])
                }
            })
            .collect();
        ("txn", Value::Json(serde_json::Value::Array(mops)))
    }
    fn apply(&mut self, _p: u64, _f: &str, v: &Value) -> (OpType, Value) {
        (OpType::Ok, self.run(v, None))
    }
    fn random(&mut self, rng: &mut ChaCha8Rng, _f: &str, v: &Value) -> (OpType, Value) {
        let mut scratch = TxnSim(self.0.clone());
        (OpType::Ok, scratch.run(v, Some(rng)))
    }
}

#[derive(Clone, Debug, Default)]
struct Regs(BTreeMap<String, i64>);

impl SequentialSpec for Regs {
    type Op = Vec<(bool, String, Option<i64>)>;
    type Ret = Vec<Option<i64>>;
    fn invoke(&mut self, op: &Self::Op) -> Vec<Option<i64>> {
        let mut reads = Vec::new();
        for (write, k, v) in op {
            if *write {
                self.0.insert(k.clone(), v.unwrap_or(0));
            } else {
                reads.push(self.0.get(k).copied());
            }
        }
        reads
    }
}

fn mops_of(op: &Op) -> Vec<(bool, String, Option<i64>)> {
    let Value::Json(serde_json::Value::Array(mops)) = &op.value else {
        unreachable!("a transaction")
    };
    mops.iter()
        .map(|m| {
            (
                m[0] == "w",
                m[1].as_str().unwrap_or("").to_string(),
                m[2].as_i64(),
            )
        })
        .collect()
}

#[test]
fn multi_register_agrees_with_brute_force_and_stateright() {
    let succ = |s: &BTreeMap<u32, Option<i64>>, op: &Operation| {
        let Input::Txn(mops) = &op.input else {
            return vec![];
        };
        let reads = match &op.output {
            Output::Reads(r) => Some(r.clone()),
            _ => None,
        };
        let mut t = s.clone();
        let mut n = 0;
        for m in mops {
            match m {
                MicroOp::Read(r) => {
                    let held = t.get(r).copied().flatten();
                    if reads.as_ref().is_some_and(|rs| rs[n] != held) {
                        return vec![];
                    }
                    n += 1;
                }
                MicroOp::Write(r, v) => {
                    t.insert(*r, *v);
                }
            }
        }
        vec![t]
    };
    let oracle = |h: &[Op]| {
        Some(common::stateright(h, Regs::default(), mops_of, |o| {
            mops_of(o)
                .into_iter()
                .filter(|(w, _, _)| !w)
                .map(|(_, _, v)| v)
                .collect()
        }))
    };
    agree(
        ModelKind::MultiRegister,
        24,
        2000,
        &mut || Box::new(TxnSim(BTreeMap::new())),
        BTreeMap::new(),
        &succ,
        Some(&oracle),
    );
}
