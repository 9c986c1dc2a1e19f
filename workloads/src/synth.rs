//! Synthetic histories for benchmarks and tests, produced by simulating clients
//! against a perfect in-memory register store, so they are linearizable by construction
//! (unless deliberately built otherwise).
//!
//! Every step picks a random process: an idle one invokes a read, write or CAS on a
//! random key (written values are unique), a busy one completes its operation, which
//! takes effect at that moment. A fraction of completions are `info`: the operation
//! takes effect or not (coin flip) and the process is retired, as the controller does.
//! A CAS whose expected value is not current completes with `fail`.

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
            index,
            time: index * 1000,
            process: Process::Client(p),
            op_type: t,
            f: f.to_string(),
            key: Some(format!("k{key}")),
            value,
            error: None,
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
            index,
            time: index,
            process: Process::Client(p as u64),
            op_type: t,
            f: f.to_string(),
            key: Some("x".to_string()),
            value: v,
            error: None,
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
