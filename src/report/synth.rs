//! Synthetic run folders for the report benchmark (`faultline bench-report`): a
//! seeded, deterministic register workload (read / write / cas over rotating keys)
//! by concurrent processes with realistic latencies, a nemesis that kills and
//! restarts a node periodically (operations during a fault fail or time out more
//! often), and `test.json` / `results.json` as the controller writes them. With
//! `invalid`, one read in the middle returns a stale value and `results.json`
//! carries a linearizability counterexample pointing at it.

use std::path::Path;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value as Json};
use workloads::history::{HistoryWriter, Op, OpType, Process, Value};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// History lines to write (client and nemesis, invocations and completions).
    pub ops: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Concurrent client processes.
    pub concurrency: u64,
    /// Plant a stale read and record a counterexample.
    pub invalid: bool,
}

/// A generated client operation in flight.
#[derive(Debug, Clone)]
struct Flight {
    /// Its function.
    f: &'static str,
    /// Its key.
    key: String,
    /// Its invocation value.
    value: Value,
    /// History index of its invocation.
    invoke_index: u64,
    /// Completion time, ns.
    done: u64,
}

/// Writes `test.json`, `history.jsonl`, `results.json` and `nodes/<n>/node.log` into
/// `dir` (which must exist).
pub fn write_run(dir: &Path, spec: &Spec) -> anyhow::Result<()> {
    assert!(spec.concurrency > 0, "at least one process is needed");
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut w = HistoryWriter::create(dir.join("history.jsonl"))?;
    let c = spec.concurrency;
    // Per worker: current process id, in-flight op, and time of its next event.
    let mut process: Vec<u64> = (0..c).collect();
    let mut flight: Vec<Option<Flight>> = vec![None; c as usize];
    let mut next: Vec<u64> = (0..c).map(|i| i * 10_000).collect();
    let mut registers: std::collections::HashMap<String, i64> = Default::default();
    let mut index = 0u64;
    let mut invoked = 0usize;
    // About six faults per run: an operation cycle takes about 0.8 ms per process.
    let estimated = (spec.ops as u64 / 2) * 800_000 / c;
    let fault_every = (estimated / 6).max(1_000_000);
    let fault_len = fault_every * 3 / 10;
    let mut nemesis_next = fault_every;
    let mut nemesis_up = true;
    let stale_at = spec.ops / 2;
    let mut counterexample = None;
    // History indices of the last few ok completions per key (the planted
    // counterexample's prefix).
    let mut last_ok: std::collections::HashMap<String, Vec<u64>> = Default::default();
    let emit = |op: Op, w: &mut HistoryWriter| -> anyhow::Result<()> {
        w.append(&op)?;
        Ok(())
    };
    while (index as usize) < spec.ops {
        let (wi, t) = next
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| **t)
            .map(|(i, t)| (i, *t))
            .unwrap_or((0, 0));
        if nemesis_next <= t {
            let (f, node) = if nemesis_up {
                ("kill", "n2")
            } else {
                ("restart", "n2")
            };
            let t0 = nemesis_next;
            for (ty, time, value) in [
                (OpType::Invoke, t0, json!({"node": node})),
                (
                    OpType::Ok,
                    t0 + 2_000_000,
                    json!({"node": node, "outcome": "installed"}),
                ),
            ] {
                emit(
                    Op {
                        index,
                        time,
                        process: Process::Nemesis,
                        op_type: ty,
                        f: f.to_string(),
                        key: None,
                        value: Value::Json(value),
                        error: None,
                    },
                    &mut w,
                )?;
                index += 1;
            }
            nemesis_up = !nemesis_up;
            nemesis_next += if nemesis_up {
                fault_every - fault_len
            } else {
                fault_len
            };
            continue;
        }
        let faulty = !nemesis_up;
        match flight[wi].take() {
            None => {
                let key = format!("k{}", invoked / 2000);
                invoked += 1;
                let r: f64 = rng.random();
                let (f, value) = if r < 0.5 {
                    ("read", Value::Null)
                } else if r < 0.8 {
                    ("write", Value::Int(rng.random_range(0..5)))
                } else {
                    let expected = registers.get(&key).copied().unwrap_or(0);
                    ("cas", Value::Ints(vec![expected, rng.random_range(0..5)]))
                };
                let base: f64 = if faulty { 4.0 } else { 0.6 };
                let latency = (base * (-rng.random::<f64>().max(1e-9).ln()) * 1e6) as u64 + 50_000;
                emit(
                    Op {
                        index,
                        time: t,
                        process: Process::Client(process[wi]),
                        op_type: OpType::Invoke,
                        f: f.to_string(),
                        key: Some(key.clone()),
                        value: value.clone(),
                        error: None,
                    },
                    &mut w,
                )?;
                index += 1;
                next[wi] = t + latency;
                flight[wi] = Some(Flight {
                    f,
                    key,
                    value,
                    invoke_index: index - 1,
                    done: t + latency,
                });
            }
            Some(op) => {
                let r: f64 = rng.random();
                let (ty, error) = if faulty && r < 0.15 {
                    (OpType::Info, Some("timeout".to_string()))
                } else if faulty && r < 0.3 {
                    (OpType::Fail, Some("not leader".to_string()))
                } else if r < 0.002 {
                    (OpType::Info, Some("timeout".to_string()))
                } else {
                    (OpType::Ok, None)
                };
                let current = registers.get(&op.key).copied();
                let mut result = op.value.clone();
                if ty == OpType::Ok {
                    match (op.f, &op.value) {
                        ("read", _) => result = Value::from(current),
                        ("write", Value::Int(v)) => {
                            registers.insert(op.key.clone(), *v);
                        }
                        ("cas", Value::Ints(v)) if current.unwrap_or(0) == v[0] => {
                            registers.insert(op.key.clone(), v[1]);
                        }
                        _ => {}
                    }
                }
                let (ty, result, error) = match (ty, op.f) {
                    (OpType::Ok, "cas") if !matches!(&op.value, Value::Ints(v) if current.unwrap_or(0) == v[0]) => {
                        (OpType::Fail, result, Some("cas mismatch".to_string()))
                    }
                    (OpType::Ok, "read")
                        if spec.invalid
                            && counterexample.is_none()
                            && index as usize >= stale_at =>
                    {
                        let stale = current.map_or(9, |v| v + 7);
                        let p = process[wi];
                        let describe = |i: &u64| {
                            json!({
                                "process": p, "description": format!("ok #{i}"),
                                "invoke_index": i, "complete_index": i, "indeterminate": false,
                            })
                        };
                        let tail: Vec<Json> = last_ok
                            .get(&op.key)
                            .map(|v| v.iter().map(describe).collect())
                            .unwrap_or_default();
                        let state = current.map_or("nil".to_string(), |v| v.to_string());
                        counterexample = Some(json!({
                            "key": op.key,
                            "anomaly": "stale-read",
                            "summary": format!(
                                "p{p} read {stale}, but {} held {state} when the read began",
                                op.key
                            ),
                            "op": {
                                "process": p,
                                "description": format!("p{p} read → {stale}"),
                                "invoke_index": op.invoke_index,
                                "complete_index": index,
                                "indeterminate": false,
                            },
                            "window": [],
                            "prefix_len": tail.len(),
                            "prefix_tail": tail,
                            "states": [state],
                        }));
                        (ty, Value::Int(stale), error)
                    }
                    _ => (ty, result, error),
                };
                emit(
                    Op {
                        index,
                        time: op.done,
                        process: Process::Client(process[wi]),
                        op_type: ty,
                        f: op.f.to_string(),
                        key: Some(op.key.clone()),
                        value: result,
                        error,
                    },
                    &mut w,
                )?;
                if ty == OpType::Ok {
                    let recent = last_ok.entry(op.key.clone()).or_default();
                    recent.push(index);
                    if recent.len() > 8 {
                        recent.remove(0);
                    }
                }
                index += 1;
                if ty == OpType::Info {
                    process[wi] += c;
                }
                next[wi] = op.done + rng.random_range(20_000..200_000);
            }
        }
    }
    w.flush()?;

    // test.json as the controller writes it: the resolved configuration under `config`.
    let test = json!({
        "schema_version": 1,
        "started_at": "2026-01-01T00:00:00.000Z",
        "command_line": ["faultline", "bench-report", "--ops", spec.ops.to_string(),
                         "--seed", spec.seed.to_string()],
        "config": {
            "test_name": "synthetic-register",
            "seed": spec.seed,
            "workload": "register",
            "concurrency": c,
            "nemesis": ["kill"],
            "nodes": 3,
        },
    });
    // results.json as the controller writes it: one {name, verdict, report} per
    // checker, the report in the checker's own shape.
    let verdict = if counterexample.is_some() {
        "invalid"
    } else {
        "valid"
    };
    let invalid_keys: Vec<&Json> = counterexample.iter().map(|c| &c["key"]).collect();
    let results = json!({
        "schema_version": 1,
        "test_name": "synthetic-register",
        "seed": spec.seed,
        "workload": "register",
        "verdict": verdict,
        "checkers": [{
            "name": "linearizable",
            "verdict": verdict,
            "report": {
                "verdict": verdict,
                "keys_checked": invoked / 2000 + 1,
                "keys_valid": invoked / 2000 + 1 - invalid_keys.len(),
                "invalid_keys": invalid_keys,
                "unknown_keys": [],
                "unknown_reason": null,
                "counterexamples": counterexample.iter().collect::<Vec<_>>(),
            },
        }],
        "harness_errors": [],
    });
    for (name, value) in [("test.json", &test), ("results.json", &results)] {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    for node in ["n1", "n2", "n3"] {
        let d = dir.join("nodes").join(node);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        std::fs::write(d.join("node.log"), format!("{node}: synthetic log\n"))
            .with_context(|| format!("cannot write the log of {node}"))?;
    }
    Ok(())
}
