//! Synthetic run folders for the report benchmark (`faultline bench-report`) and the
//! browser test. The client operations come from the one synthetic history generator,
//! [`workloads::synth::register_history`] (concurrent processes on a perfect register
//! store, linearizable by construction); this module gives them realistic times, adds
//! a nemesis that kills and restarts a node periodically, and with `invalid` turns one
//! read in the middle into a stale read. `test.json` and `results.json` are then
//! written from the controller's own types, the verdicts by the real checkers, exactly
//! as after a real run.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use workloads::history::{HistoryWriter, Op, OpType, Process, Value};
use workloads::synth::{register_history, SynthConfig};

use crate::client::{ClientRouting, ReadConsistency};
use crate::run::config::{MixConfig, TestConfig, WorkloadName};
use crate::run::results::{Results, TestFile, Verdict};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// History lines to write (client and nemesis, invocations and completions).
    pub ops: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Concurrent client processes.
    pub concurrency: u64,
    /// Plant a stale read, so the checker finds a counterexample.
    pub invalid: bool,
}

/// Client invocations per key (the controller rotates keys in the same way).
const OPS_PER_KEY: usize = 1000;
/// Faults in a run.
const FAULTS: u64 = 6;
/// Mean time between two history events of one process, ns.
const MEAN_GAP_NS: f64 = 80_000.0;

/// Writes `test.json`, `history.jsonl`, `results.json` and `nodes/<n>/node.log` into
/// `dir` (which must exist).
pub fn write_run(dir: &Path, spec: &Spec) -> anyhow::Result<()> {
    assert!(spec.concurrency > 0, "at least one process is needed");
    let ops = history(spec);
    let mut w = HistoryWriter::create(dir.join(crate::store::HISTORY_FILE))?;
    for op in &ops {
        w.append(op)?;
    }
    w.flush()?;

    let config = config(spec);
    let started_at = "2026-01-01T00:00:00.000Z";
    let test = TestFile {
        schema_version: 1,
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
        faultline_commit: env!("FAULTLINE_COMMIT").to_string(),
        db_version: String::new(),
        run_id: "synth0".to_string(),
        started_at: started_at.to_string(),
        command_line: ["faultline", "bench-report", "--ops"]
            .map(str::to_string)
            .into_iter()
            .chain([spec.ops.to_string()])
            .collect(),
        config: config.clone(),
    };
    let mut results = Results::new(&config, &test.run_id, started_at);
    let (checkers, check) = crate::run::check::check_run(
        &dir.join(crate::store::HISTORY_FILE),
        &workloads::check::CheckOptions {
            model: Some(crate::run::check::model_of(WorkloadName::Register)),
            ..Default::default()
        },
        None,
    );
    results.verdict = Verdict::worst_of(checkers.iter().map(|c| c.verdict));
    results.checkers = checkers;
    results.check = check;
    results.duration_s = ops.last().map_or(0.0, |o| o.time as f64 / 1e9);
    for (name, value) in [
        (crate::store::TEST_FILE, serde_json::to_vec_pretty(&test)?),
        (
            crate::store::RESULTS_FILE,
            serde_json::to_vec_pretty(&results)?,
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, value).with_context(|| format!("cannot write {}", path.display()))?;
    }
    for node in ["n1", "n2", "n3"] {
        let d = dir.join("nodes").join(node);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        std::fs::write(d.join("node.log"), format!("{node}: synthetic log\n"))
            .with_context(|| format!("cannot write the log of {node}"))?;
    }
    Ok(())
}

/// The configuration recorded for a synthetic run.
fn config(spec: &Spec) -> TestConfig {
    TestConfig {
        db: "raftkv".into(),
        test_name: "synthetic-register".to_string(),
        workload: WorkloadName::Register,
        nodes: 3,
        time_limit_s: 60.0,
        concurrency: spec.concurrency as usize,
        rate: None,
        seed: spec.seed,
        nemesis: vec!["kill".to_string()],
        nemesis_interval_s: 10.0,
        op_timeout_ms: 1000,
        read_consistency: ReadConsistency::Linearizable,
        client_routing: ClientRouting::NodeBound,
        keys_per_epoch: 1,
        ops_per_key: OPS_PER_KEY,
        mix: MixConfig {
            read: 1,
            write: 1,
            cas: 1,
        },
        recovery_s: 2.0,
        leader_timeout_s: 30.0,
        test_keep_majority_paused: false,
        hosts: "loopback".to_string(),
        inventory: None,
        node_binary: None,
        node_args: Vec::new(),
        db_bugs: Vec::new(),
        results_dir: "results".into(),
    }
}

/// The history: the generator's client operations with times, nemesis kill/restart
/// pairs spread over the run, the planted stale read, indices renumbered.
fn history(spec: &Spec) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    // Each invocation has one completion; the nemesis adds 4 lines per fault.
    let invocations = (spec.ops.saturating_sub(4 * FAULTS as usize) / 2).max(1);
    let mut client = register_history(&SynthConfig {
        seed: spec.seed,
        ops: invocations,
        keys: invocations.div_ceil(OPS_PER_KEY),
        processes: spec.concurrency as usize,
        info_rate: 0.002,
    });
    // The generator advances one process per event: with `concurrency` processes a
    // history event every MEAN_GAP_NS / concurrency on average.
    let mut t = 0u64;
    for op in &mut client {
        t += (MEAN_GAP_NS / spec.concurrency as f64 * -rng.random::<f64>().max(1e-9).ln()) as u64;
        op.time = t;
    }
    if spec.invalid {
        plant_stale_read(&mut client);
    }
    let end = t.max(1);
    let mut nemesis: Vec<Op> = (0..FAULTS)
        .flat_map(|i| {
            let start = end * (2 * i + 1) / (2 * FAULTS + 1);
            let stop = end * (2 * i + 2) / (2 * FAULTS + 1);
            [("kill", start), ("restart", stop)]
        })
        .flat_map(|(f, at)| {
            [
                Op::nemesis(at, OpType::Invoke, f, json!({"node": "n2"})),
                Op::nemesis(
                    at + 2_000_000,
                    OpType::Ok,
                    f,
                    json!({"node": "n2", "outcome": "installed"}),
                ),
            ]
        })
        .collect();
    let mut all = Vec::with_capacity(client.len() + nemesis.len());
    let mut client = client.into_iter().peekable();
    let mut nemesis_iter = nemesis.drain(..).peekable();
    loop {
        let take_nemesis = match (client.peek(), nemesis_iter.peek()) {
            (Some(c), Some(n)) => n.time <= c.time,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let next = if take_nemesis {
            nemesis_iter.next()
        } else {
            client.next()
        };
        let Some(mut op) = next else { break };
        op.index = all.len() as u64;
        all.push(op);
    }
    all
}

/// Turns the first `ok` read after the middle of the history that can be made stale
/// into a read of an old value: one its key held until a write that completed before
/// the read was invoked (written values are unique, so it can never come back).
fn plant_stale_read(ops: &mut [Op]) {
    if let Some((i, old)) = stale_read(ops) {
        ops[i].value = Value::Int(old);
    }
}

/// Where [`plant_stale_read`] plants the stale read, and the old value it returns.
fn stale_read(ops: &[Op]) -> Option<(usize, i64)> {
    // Per key: the value of the last ok write, the value it replaced, and where the
    // write completed.
    let mut last: HashMap<String, (i64, Option<i64>, usize)> = HashMap::new();
    // Per process: where its open invocation is.
    let mut invoked: HashMap<Process, usize> = HashMap::new();
    let middle = ops.len() / 2;
    for (i, op) in ops.iter().enumerate() {
        if op.op_type == OpType::Invoke {
            invoked.insert(op.process, i);
            continue;
        }
        let (Some(key), OpType::Ok) = (op.key.clone(), op.op_type) else {
            continue;
        };
        let written = match (op.f.as_str(), &op.value) {
            ("write", Value::Int(v)) => Some(*v),
            ("cas", Value::Ints(v)) => Some(v[1]),
            _ => None,
        };
        if let Some(v) = written {
            let old = last.get(&key).map(|l| l.0);
            last.insert(key, (v, old, i));
            continue;
        }
        let since = invoked.get(&op.process).copied().unwrap_or(i);
        if let (true, Some((_, Some(old), at))) = (i >= middle, last.get(&key)) {
            if *at < since {
                return Some((i, *old));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_runs_are_checked_by_the_real_checker() {
        for invalid in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let spec = Spec {
                ops: 4000,
                seed: 3,
                concurrency: 5,
                invalid,
            };
            write_run(dir.path(), &spec).unwrap();
            let results: Results = crate::report::run::read_json(&dir.path().join("results.json"))
                .unwrap()
                .unwrap();
            let expected = if invalid {
                Verdict::Invalid
            } else {
                Verdict::Valid
            };
            assert_eq!(results.verdict, expected, "invalid: {invalid}");
            let ops = workloads::history::read_jsonl(dir.path().join("history.jsonl")).unwrap();
            assert!(ops
                .windows(2)
                .all(|w| w[0].time <= w[1].time && w[1].index == w[0].index + 1));
            assert_eq!(
                ops.iter().filter(|o| o.process == Process::Nemesis).count(),
                4 * FAULTS as usize
            );
        }
    }
}
