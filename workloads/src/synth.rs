//! Synthetic histories for benchmarks and tests, produced by simulating clients
//! against a perfect in-memory register store, so they are linearizable by construction
//! (unless deliberately built otherwise).
//!
//! Every step picks a random process: an idle one invokes a read, write or CAS on a
//! random key (written values are unique), a busy one completes its operation, which
//! takes effect at that moment. A fraction of completions are `info`: the operation
//! takes effect or not (coin flip) and the process is retired, as the controller does.
//! A CAS whose expected value is not current completes with `fail`.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::history::{Op, OpType, Process, Value};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Seed of all random choices.
    pub seed: u64,
    /// Number of operations (invocations).
    pub ops: usize,
    /// Number of keys.
    pub keys: usize,
    /// Concurrent processes.
    pub processes: usize,
    /// Fraction of completions that are `info`.
    pub info_rate: f64,
}

/// A pending operation of a simulated process: function, key number, argument.
type Pending = (&'static str, usize, Value);

/// A linearizable multi-key CAS-register history.
pub fn register_history(cfg: &SynthConfig) -> Vec<Op> {
    assert!(
        cfg.keys > 0 && cfg.processes > 0,
        "at least one key and process"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut state: Vec<Option<i64>> = vec![None; cfg.keys];
    let mut slots: Vec<(u64, Option<Pending>)> =
        (0..cfg.processes).map(|p| (p as u64, None)).collect();
    let mut next_process = cfg.processes as u64;
    let mut next_value: i64 = 1;
    let mut h: Vec<Op> = Vec::with_capacity(cfg.ops * 2);
    let mut invoked = 0;
    let mut busy = 0;
    let push = |h: &mut Vec<Op>, p: u64, t: OpType, f: &str, key: usize, value: Value| {
        let index = h.len() as u64;
        h.push(Op {
            time: index * 1000,
            key: Some(format!("k{key}")),
            ..Op::client(index, p, t, f, value)
        });
    };
    while invoked < cfg.ops || busy > 0 {
        let slot = rng.random_range(0..slots.len());
        let process = slots[slot].0;
        match slots[slot].1.take() {
            None => {
                if invoked == cfg.ops {
                    continue;
                }
                invoked += 1;
                busy += 1;
                let key = rng.random_range(0..cfg.keys);
                let (f, value) = match rng.random_range(0..3) {
                    0 => ("read", Value::Null),
                    1 => {
                        next_value += 1;
                        ("write", Value::Int(next_value))
                    }
                    _ => {
                        next_value += 1;
                        let expected = state[key].unwrap_or(0);
                        ("cas", Value::Ints(vec![expected, next_value]))
                    }
                };
                push(&mut h, process, OpType::Invoke, f, key, value.clone());
                slots[slot].1 = Some((f, key, value));
            }
            Some((f, key, value)) => {
                busy -= 1;
                let info = rng.random_bool(cfg.info_rate);
                if info && !rng.random_bool(0.5) {
                    push(&mut h, process, OpType::Info, f, key, value);
                } else {
                    let result = match (f, &value) {
                        ("read", _) => Some(Value::from(state[key])),
                        ("write", Value::Int(v)) => {
                            state[key] = Some(*v);
                            Some(value.clone())
                        }
                        (_, Value::Ints(ab)) if state[key] == Some(ab[0]) => {
                            state[key] = Some(ab[1]);
                            Some(value.clone())
                        }
                        _ => None,
                    };
                    let t = match (info, &result) {
                        (true, _) => OpType::Info,
                        (false, Some(_)) => OpType::Ok,
                        (false, None) => OpType::Fail,
                    };
                    let out = if t == OpType::Info {
                        value
                    } else {
                        result.unwrap_or(value)
                    };
                    push(&mut h, process, t, f, key, out);
                }
                if info {
                    slots[slot].0 = next_process;
                    next_process += 1;
                }
            }
        }
    }
    h
}

/// A single-key history built to defeat the search: `n` concurrent writes and `n`
/// concurrent reads (read `i` returns write `i`'s value), then two sequential reads
/// that contradict each other. Deciding it means exploring about `n · 2^n` states.
pub fn explosive_history(n: usize) -> Vec<Op> {
    let mut h = Vec::new();
    let op = |h: &mut Vec<Op>, p: usize, t: OpType, f: &str, v: Value| {
        let index = h.len() as u64;
        h.push(Op {
            key: Some("x".to_string()),
            ..Op::client(index, p as u64, t, f, v)
        });
    };
    for i in 0..n {
        op(&mut h, i, OpType::Invoke, "write", Value::Int(i as i64 + 1));
        op(&mut h, n + i, OpType::Invoke, "read", Value::Null);
    }
    for i in 0..n {
        op(&mut h, i, OpType::Ok, "write", Value::Int(i as i64 + 1));
        op(&mut h, n + i, OpType::Ok, "read", Value::Int(i as i64 + 1));
    }
    for v in [1, 2] {
        op(&mut h, 2 * n, OpType::Invoke, "read", Value::Null);
        op(&mut h, 2 * n, OpType::Ok, "read", Value::Int(v));
    }
    h
}

/// What an etcd-style history looks like (see [`etcd_history`]).
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// Seed of all random choices.
    pub seed: u64,
    /// Number of operations (invocations).
    pub ops: usize,
    /// Concurrent processes (Jepsen's etcd test runs five).
    pub processes: usize,
    /// Fraction of writes and CASes that crash outside faults (once faults have
    /// begun): complete `info`, take effect later or never.
    pub crash_rate: f64,
    /// Fraction of the time (once faults have begun) a partition cuts two processes
    /// off; all their operations then crash (as requests to a minority node time out).
    pub partitioned: f64,
    /// Whether to plant a read that no linearization explains.
    pub invalid: bool,
}

/// A single-register history in the style of Jepsen's etcd test, shaped after the
/// etcd logs in Porcupine's test data: reads, writes and CASes of values 0..4 from a
/// few processes; a crashed operation completes `info`, takes effect at some later
/// moment or never, and its process is replaced by a fresh one (`process +
/// processes`, as Jepsen numbers them). Other operations take effect at their
/// completion; a CAS whose expected value is not current fails.
///
/// As in those logs, nothing crashes during a quiet first quarter of the operations
/// (their first crash comes at 22–33 % of the history); crashes then come mostly in
/// bursts: partitions start and heal every few dozen steps, and while one lasts every
/// operation of two processes (those bound to the minority side) crashes.
///
/// With `invalid`, one read invoked between 20 % and 50 % of the operations (where
/// the logs' first stale read falls) returns the value that the last write completed
/// before it overwrote, picked so that no operation that could write that value again
/// overlaps them: no linearization explains it.
pub fn etcd_history(cfg: &EtcdConfig) -> Vec<Op> {
    assert!(cfg.processes > 0, "at least one process");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut state: Option<i64> = None;
    let mut slots: Vec<(u64, Option<(&'static str, Value)>)> =
        (0..cfg.processes).map(|p| (p as u64, None)).collect();
    // Effects of crashed operations still to land: (step at which, function, argument).
    let mut late: Vec<(usize, &'static str, Value)> = Vec::new();
    let mut h: Vec<Op> = Vec::with_capacity(cfg.ops * 2 + 4);
    // The register's value before each successful write or CAS, by completion index.
    let mut overwritten: Vec<(usize, Option<i64>)> = Vec::new();
    let (mut invoked, mut busy, mut step) = (0, 0, 0);
    let quiet = cfg.ops / 4;
    // Slots cut off by the current partition (empty when healed), and when it changes.
    let (mut cut, mut flip): (Vec<usize>, usize) = (Vec::new(), 0);
    while invoked < cfg.ops || busy > 0 {
        step += 1;
        late.retain(|(at, f, v)| {
            if *at <= step {
                apply_to_register(&mut state, f, v);
            }
            *at > step
        });
        let faults = invoked >= quiet;
        if faults && step >= flip {
            cut = if cut.is_empty() && rng.random_bool(cfg.partitioned) {
                let mut all: Vec<usize> = (0..slots.len()).collect();
                all.shuffle(&mut rng);
                all.truncate(2.min(slots.len() / 2));
                all
            } else {
                Vec::new()
            };
            flip = step + rng.random_range(20..60);
        }
        let slot = rng.random_range(0..slots.len());
        let process = slots[slot].0;
        match slots[slot].1.take() {
            None if invoked < cfg.ops => {
                let (f, v) = match rng.random_range(0..3) {
                    0 => ("read", Value::Null),
                    1 => ("write", Value::Int(rng.random_range(0..5))),
                    _ => (
                        "cas",
                        Value::Ints(vec![rng.random_range(0..5), rng.random_range(0..5)]),
                    ),
                };
                invoked += 1;
                busy += 1;
                etcd_push(&mut h, process, OpType::Invoke, f, v.clone());
                slots[slot].1 = Some((f, v));
            }
            None => {}
            Some((f, v)) => {
                busy -= 1;
                let crash = faults
                    && (cut.contains(&slot) || (f != "read" && rng.random_bool(cfg.crash_rate)));
                if crash {
                    if f != "read" && rng.random_bool(0.5) {
                        late.push((step + rng.random_range(0..40), f, v.clone()));
                    }
                    etcd_push(&mut h, process, OpType::Info, f, v);
                    slots[slot].0 += cfg.processes as u64;
                } else if f == "read" {
                    etcd_push(&mut h, process, OpType::Ok, f, Value::from(state));
                } else {
                    let before = state;
                    let t = if apply_to_register(&mut state, f, &v) {
                        overwritten.push((h.len(), before));
                        OpType::Ok
                    } else {
                        OpType::Fail
                    };
                    etcd_push(&mut h, process, t, f, v);
                }
            }
        }
    }
    if cfg.invalid {
        plant_stale_read(&mut h, &overwritten, &mut rng);
    }
    h
}

/// Applies operation `f` with argument `v` to a CAS register holding `state` (`None`:
/// never written): a `write` of an integer sets it, a `cas` of `[expected, new]` sets
/// it when `expected` is current; anything else (a read) leaves it. Returns whether the
/// operation succeeded (false only for a CAS whose expectation did not hold).
pub fn apply_to_register(state: &mut Option<i64>, f: &str, v: &Value) -> bool {
    match (f, v) {
        ("write", Value::Int(x)) => {
            *state = Some(*x);
            true
        }
        ("cas", Value::Ints(ab)) if *state == Some(ab[0]) => {
            *state = Some(ab[1]);
            true
        }
        ("cas", _) => false,
        _ => true,
    }
}

/// Appends an operation of an etcd-style history (one millisecond apart; `info`
/// completions say `timeout`).
fn etcd_push(h: &mut Vec<Op>, p: u64, t: OpType, f: &str, value: Value) {
    let index = h.len() as u64;
    h.push(Op {
        time: index * 1_000_000,
        error: (t == OpType::Info).then(|| "timeout".to_string()),
        ..Op::client(index, p, t, f, value)
    });
}

/// One client operation of a finished history: where it was invoked and completed
/// (`None`: never, or `info`, which may take effect at any later time), how it
/// completed, and what it would write.
struct Span {
    invoke: usize,
    complete: Option<usize>,
    outcome: OpType,
    f: String,
    writes: Option<i64>,
}

impl Span {
    fn of(h: &[Op]) -> Vec<Span> {
        let mut spans: Vec<Span> = Vec::new();
        let mut open: Vec<(Process, usize)> = Vec::new();
        for (i, op) in h.iter().enumerate() {
            if op.op_type == OpType::Invoke {
                let writes = match (op.f.as_str(), &op.value) {
                    ("write", Value::Int(x)) => Some(*x),
                    ("cas", Value::Ints(ab)) => Some(ab[1]),
                    _ => None,
                };
                open.push((op.process, spans.len()));
                spans.push(Span {
                    invoke: i,
                    complete: None,
                    outcome: OpType::Info,
                    f: op.f.clone(),
                    writes,
                });
            } else if let Some(k) = open.iter().position(|(p, _)| *p == op.process) {
                let s = &mut spans[open.swap_remove(k).1];
                s.complete = (op.op_type != OpType::Info).then_some(i);
                s.outcome = op.op_type;
            }
        }
        spans
    }
}

/// Makes one read a stale read (see [`etcd_history`]): a read `r` invoked between 20 %
/// and 50 % of the operations (else later) now returns `v`, the value that a write `w`
/// overwrote, where `w` completed before `r` was invoked (the latest such write that
/// works). `v` is only accepted when no operation that may write `v` (ok, `info` or
/// never completed) overlaps the span from `w`'s invocation to `r`'s completion: every
/// linearization then puts `w` after all writes of `v` and before `r`. When no read
/// qualifies, a fresh process appends a write of 1 and a read of 5, a value nothing
/// writes.
fn plant_stale_read(h: &mut Vec<Op>, overwritten: &[(usize, Option<i64>)], rng: &mut ChaCha8Rng) {
    let spans = Span::of(h);
    let n = spans.len();
    let may_write = |v: i64, from: usize, to: usize| {
        spans.iter().any(|y| {
            y.writes == Some(v)
                && y.outcome != OpType::Fail
                && y.invoke < to
                && y.complete.is_none_or(|c| c > from)
        })
    };
    // Writes and CASes that took effect, latest completion first, with the value each
    // overwrote.
    let mut effects: Vec<(&Span, i64)> = spans
        .iter()
        .filter(|w| w.outcome == OpType::Ok && w.writes.is_some())
        .filter_map(|w| {
            let c = w.complete?;
            let (_, before) = overwritten.iter().find(|(at, _)| *at == c)?;
            before.filter(|&v| Some(v) != w.writes).map(|v| (w, v))
        })
        .collect();
    effects.sort_by_key(|(w, _)| std::cmp::Reverse(w.complete));
    for window in [n / 5..n / 2, n / 2..n] {
        let mut reads: Vec<&Span> = spans[window]
            .iter()
            .filter(|s| s.f == "read" && s.outcome == OpType::Ok)
            .collect();
        reads.shuffle(rng);
        for r in reads {
            let done = r.complete.expect("an ok read completed");
            let stale = effects
                .iter()
                .filter(|(w, _)| w.complete.is_some_and(|c| c < r.invoke))
                .find(|(w, v)| !may_write(*v, w.invoke, done));
            if let Some(&(_, v)) = stale {
                h[done].value = Value::Int(v);
                return;
            }
        }
    }
    let p = h
        .iter()
        .filter_map(|o| match o.process {
            Process::Client(p) => Some(p),
            Process::Nemesis => None,
        })
        .max()
        .unwrap_or(0)
        + 1;
    for (t, f, v) in [
        (OpType::Invoke, "write", Value::Int(1)),
        (OpType::Ok, "write", Value::Int(1)),
        (OpType::Invoke, "read", Value::Null),
        (OpType::Ok, "read", Value::Int(5)),
    ] {
        etcd_push(h, p, t, f, v);
    }
}
