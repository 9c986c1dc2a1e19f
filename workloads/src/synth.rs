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
    /// Fraction of writes and CASes that crash outside partitions: complete `info`,
    /// take effect later or never.
    pub crash_rate: f64,
    /// Fraction of the time a partition cuts two processes off; all their operations
    /// then crash (as requests to a minority node time out).
    pub partitioned: f64,
    /// Whether to plant a read that no linearization explains.
    pub invalid: bool,
}

/// A single-register history in the style of Jepsen's etcd test: reads, writes and
/// CASes of values 0..4 from a few processes; a crashed operation completes `info`,
/// takes effect at some later moment or never, and its process is replaced by a fresh
/// one (`process + processes`, as Jepsen numbers them). Other operations take effect
/// at their completion; a CAS whose expected value is not current fails. Crashes come
/// mostly in bursts, as in Jepsen's runs: partitions start and heal every few dozen
/// steps, and while one lasts every operation of two processes (those bound to the
/// minority side) crashes.
///
/// With `invalid`, value 0 is written only in the first half and only by operations
/// that do not crash; a read late in the history, invoked after a later write of
/// another value completed, is made to return 0. Every linearization puts all writers
/// of 0 before that write and the write before the read, so none explains it.
pub fn etcd_history(cfg: &EtcdConfig) -> Vec<Op> {
    assert!(cfg.processes > 0, "at least one process");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut state: Option<i64> = None;
    let mut slots: Vec<(u64, Option<(&'static str, Value)>)> =
        (0..cfg.processes).map(|p| (p as u64, None)).collect();
    // Effects of crashed operations still to land: (step at which, function, argument).
    let mut late: Vec<(usize, &'static str, Value)> = Vec::new();
    let mut h: Vec<Op> = Vec::with_capacity(cfg.ops * 2 + 4);
    let (mut invoked, mut busy, mut step) = (0, 0, 0);
    // Slots cut off by the current partition (empty when healed), and when it changes.
    let (mut cut, mut flip): (Vec<usize>, usize) = (Vec::new(), 0);
    let push = etcd_push;
    while invoked < cfg.ops || busy > 0 {
        step += 1;
        late.retain(|(at, f, v)| {
            if *at <= step {
                apply_to_register(&mut state, f, v);
            }
            *at > step
        });
        if step >= flip {
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
                let second_half = invoked >= cfg.ops / 2;
                let value = |rng: &mut ChaCha8Rng| {
                    let low = i64::from(cfg.invalid && second_half);
                    rng.random_range(low..5)
                };
                let (f, v) = match rng.random_range(0..3) {
                    0 => ("read", Value::Null),
                    1 => ("write", Value::Int(value(&mut rng))),
                    _ => ("cas", Value::Ints(vec![value(&mut rng), value(&mut rng)])),
                };
                invoked += 1;
                busy += 1;
                push(&mut h, process, OpType::Invoke, f, v.clone());
                slots[slot].1 = Some((f, v));
            }
            None => {}
            Some((f, v)) => {
                busy -= 1;
                let writes_zero =
                    matches!(&v, Value::Int(0)) || matches!(&v, Value::Ints(ab) if ab[1] == 0);
                let crash = !(cfg.invalid && writes_zero)
                    && (cut.contains(&slot) || (f != "read" && rng.random_bool(cfg.crash_rate)));
                if crash {
                    if f != "read" && rng.random_bool(0.5) {
                        late.push((step + rng.random_range(0..40), f, v.clone()));
                    }
                    push(&mut h, process, OpType::Info, f, v);
                    slots[slot].0 += cfg.processes as u64;
                } else if f == "read" {
                    push(&mut h, process, OpType::Ok, f, Value::from(state));
                } else {
                    let t = if apply_to_register(&mut state, f, &v) {
                        OpType::Ok
                    } else {
                        OpType::Fail
                    };
                    push(&mut h, process, t, f, v);
                }
            }
        }
    }
    if cfg.invalid {
        plant_stale_zero(&mut h, cfg.processes);
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

/// Makes a late read return 0 after every writer of 0 and then a write of another value
/// completed (see [`etcd_history`]); appends such a write and read if no read fits.
fn plant_stale_zero(h: &mut Vec<Op>, processes: usize) {
    let completes_at = |i: usize| {
        (i + 1..h.len()).find(|&j| h[j].process == h[i].process && h[j].op_type != OpType::Invoke)
    };
    let writes = |op: &Op, zero: bool| match (op.f.as_str(), &op.value) {
        ("write", Value::Int(x)) => (*x == 0) == zero,
        ("cas", Value::Ints(ab)) => (ab[1] == 0) == zero,
        _ => false,
    };
    let last_zero = (0..h.len())
        .filter(|&i| h[i].op_type != OpType::Invoke && writes(&h[i], true))
        .max()
        .unwrap_or(0);
    let fence = (last_zero..h.len())
        .filter(|&i| h[i].op_type == OpType::Invoke && writes(&h[i], false))
        .filter_map(|i| completes_at(i).map(|c| (i, c)))
        .find(|&(_, c)| h[c].op_type == OpType::Ok)
        .map(|(_, c)| c);
    let read = fence.and_then(|c| {
        (c..h.len())
            .rev()
            .filter(|&i| h[i].op_type == OpType::Invoke && h[i].f == "read")
            .find_map(|i| completes_at(i).filter(|&j| h[j].op_type == OpType::Ok))
    });
    match read {
        Some(j) => h[j].value = Value::Int(0),
        None => {
            let p = h
                .iter()
                .filter_map(|o| match o.process {
                    Process::Client(p) => Some(p),
                    Process::Nemesis => None,
                })
                .max()
                .unwrap_or(0)
                + processes as u64;
            for (t, f, v) in [
                (OpType::Invoke, "write", Value::Int(1)),
                (OpType::Ok, "write", Value::Int(1)),
                (OpType::Invoke, "read", Value::Null),
                (OpType::Ok, "read", Value::Int(0)),
            ] {
                etcd_push(h, p, t, f, v);
            }
        }
    }
}
