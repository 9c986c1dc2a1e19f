//! Helpers shared by the report tests: synthetic run folders (test.json,
//! history.jsonl, results.json, nodes/) built from small known histories, and a way
//! to run the faultline binary on them.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value as Json};
use workloads::check::{check_history, CheckOptions};
use workloads::history::{HistoryWriter, Op, OpType, Process, Value};
use workloads::model::ModelKind;

/// One history line.
pub fn op(
    index: u64,
    time_ms: u64,
    process: Process,
    op_type: OpType,
    f: &str,
    key: Option<&str>,
    value: Value,
) -> Op {
    Op {
        index,
        time: time_ms * 1_000_000,
        process,
        op_type,
        f: f.to_string(),
        key: key.map(str::to_string),
        value,
        error: None,
    }
}

/// A register history on key `k1` with a kill/restart: write 1, write 2, reads of 2.
pub fn valid_history() -> Vec<Op> {
    use OpType::*;
    let c = Process::Client;
    let n = Process::Nemesis;
    let k = Some("k1");
    let lines = vec![
        (0, c(0), Invoke, "write", k, Value::Int(1)),
        (2, c(0), Ok, "write", k, Value::Int(1)),
        (
            3,
            n,
            Invoke,
            "kill",
            None,
            Value::Json(json!({"node": "n2"})),
        ),
        (
            4,
            n,
            Ok,
            "kill",
            None,
            Value::Json(json!({"node": "n2", "outcome": "installed"})),
        ),
        (5, c(1), Invoke, "write", k, Value::Int(2)),
        (7, c(1), Ok, "write", k, Value::Int(2)),
        (8, c(0), Invoke, "read", k, Value::Null),
        (9, c(0), Ok, "read", k, Value::Int(2)),
        (10, c(2), Invoke, "cas", k, Value::Ints(vec![2, 3])),
        (12, c(2), Info, "cas", k, Value::Ints(vec![2, 3])),
        (
            13,
            n,
            Invoke,
            "restart",
            None,
            Value::Json(json!({"node": "n2"})),
        ),
        (
            14,
            n,
            Ok,
            "restart",
            None,
            Value::Json(json!({"node": "n2", "outcome": "installed"})),
        ),
        (15, c(1), Invoke, "read", k, Value::Null),
        (16, c(1), Ok, "read", k, Value::Int(3)),
    ];
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (t, p, ty, f, key, v))| op(i as u64, t, p, ty, f, key, v))
        .collect()
}

/// A known-bad register history: after write 2 completed, a read returns the old 1.
/// Index 7 (the read's completion) is the stale read.
pub fn stale_read_history() -> Vec<Op> {
    use OpType::*;
    let c = Process::Client;
    let k = Some("k1");
    let lines = vec![
        (0, c(0), Invoke, "write", k, Value::Int(1)),
        (2, c(0), Ok, "write", k, Value::Int(1)),
        (3, c(1), Invoke, "write", k, Value::Int(2)),
        (5, c(1), Ok, "write", k, Value::Int(2)),
        (6, c(2), Invoke, "read", Some("k2"), Value::Null),
        (6, c(0), Invoke, "read", k, Value::Null),
        (7, c(2), Ok, "read", Some("k2"), Value::Null),
        (8, c(0), Ok, "read", k, Value::Int(1)),
    ];
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (t, p, ty, f, key, v))| op(i as u64, t, p, ty, f, key, v))
        .collect()
}

/// A set history on key `s1` whose final read misses the acknowledged add of 2: a
/// lost write.
pub fn lost_add_history() -> Vec<Op> {
    use OpType::*;
    let c = Process::Client;
    let k = Some("s1");
    let lines = vec![
        (0, c(0), Invoke, "add", k, Value::Int(1)),
        (1, c(0), Ok, "add", k, Value::Int(1)),
        (2, c(1), Invoke, "add", k, Value::Int(2)),
        (3, c(1), Ok, "add", k, Value::Int(2)),
        (5, c(0), Invoke, "read", k, Value::Null),
        (6, c(0), Ok, "read", k, Value::Ints(vec![1])),
    ];
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (t, p, ty, f, key, v))| op(i as u64, t, p, ty, f, key, v))
        .collect()
}

/// Checks a history with the real checker and returns results.json as the
/// controller writes it: `checkers` is a list of `{name, verdict, report}`.
pub fn checked_results(ops: &[Op], model: ModelKind, seed: u64) -> Json {
    let opts = CheckOptions {
        model: Some(model),
        ..CheckOptions::default()
    };
    let report = check_history(ops, &opts).expect("the history can be checked");
    let lin = &report.checkers.linearizable;
    let mut checkers = vec![json!({
        "name": "linearizable",
        "verdict": lin.verdict.as_str(),
        "report": serde_json::to_value(lin).unwrap(),
    })];
    if let Some(lost) = &report.checkers.lost_writes {
        checkers.push(json!({
            "name": "lost-writes",
            "verdict": lost.verdict.as_str(),
            "report": serde_json::to_value(lost).unwrap(),
        }));
    }
    results_file(
        "reg",
        seed,
        report.verdict.as_str(),
        checkers,
        serde_json::to_value(&report).unwrap(),
        &[],
    )
}

/// A whole results.json, every field the controller writes, with these verdicts.
pub fn results_file(
    name: &str,
    seed: u64,
    verdict: &str,
    checkers: Vec<Json>,
    check: Json,
    harness_errors: &[&str],
) -> Json {
    let counts = json!({"invoke": 0, "ok": 0, "fail": 0, "info": 0});
    json!({
        "schema_version": 1,
        "test_name": name,
        "run_id": "abc123",
        "seed": seed,
        "workload": "register",
        "db": "raftkv",
        "db_version": "raftkv 0.1.0",
        "started_at": "2026-11-21T10:00:00.000Z",
        "duration_s": 1.5,
        "verdict": verdict,
        "interrupted": false,
        "harness_errors": harness_errors,
        "checkers": checkers,
        "check": check,
        "ops": {"total": counts, "by_f": {}, "history_lines": 0, "processes": 0},
        "latency_ms": {},
        "throughput": {"mean_ok_per_s": 0.0, "per_second": []},
        "faults": [],
        "phases": [],
        "nodes": {},
        "files": {"test": "test.json", "history": "history.jsonl"},
        "config": config(name, seed),
    })
}

/// Writes a run folder.
pub fn write_run(dir: &Path, test: &Json, results: Option<&Json>, ops: &[Op]) {
    std::fs::create_dir_all(dir.join("nodes/n1")).unwrap();
    std::fs::write(dir.join("nodes/n1/node.log"), "n1 started\n").unwrap();
    std::fs::write(
        dir.join("test.json"),
        serde_json::to_vec_pretty(test).unwrap(),
    )
    .unwrap();
    if let Some(r) = results {
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_vec_pretty(r).unwrap(),
        )
        .unwrap();
    }
    let mut w = HistoryWriter::create(dir.join("history.jsonl")).unwrap();
    for o in ops {
        w.append(o).unwrap();
    }
    w.flush().unwrap();
}

/// The resolved configuration of a synthetic run, as test.json's `config` holds it.
pub fn config(name: &str, seed: u64) -> Json {
    json!({
        "test_name": name, "db": "raftkv", "workload": "register", "nodes": 3, "time_limit_s": 10.0,
        "concurrency": 3, "rate": null, "seed": seed, "nemesis": ["kill"],
        "nemesis_interval_s": 5.0, "op_timeout_ms": 1000, "read_consistency": "linearizable",
        "keys_per_epoch": 1, "ops_per_key": 100, "mix": {"read": 1, "write": 1, "cas": 1},
        "recovery_s": 2.0, "leader_timeout_s": 30.0, "hosts": "loopback",
        "node_binary": "/usr/bin/faultline", "node_args": [], "db_bugs": [],
        "results_dir": "results"
    })
}

/// test.json of a synthetic run, as the controller writes it.
pub fn test_spec(name: &str, seed: u64) -> Json {
    json!({
        "schema_version": 1,
        "faultline_version": "0.1.0",
        "run_id": "abc123",
        "started_at": "2026-11-21T10:00:00.000Z",
        "command_line": ["faultline", "test", "--test-name", name],
        "config": config(name, seed),
    })
}

/// results.json of a valid run (checked by the real checker).
pub fn valid_results(seed: u64) -> Json {
    checked_results(&valid_history(), ModelKind::CasRegister, seed)
}

/// results.json of the stale-read run (checked by the real checker).
pub fn invalid_results(seed: u64) -> Json {
    checked_results(&stale_read_history(), ModelKind::CasRegister, seed)
}

/// results.json of a run whose checker ran out of budget.
pub fn unknown_results(seed: u64) -> Json {
    results_file(
        "reg",
        seed,
        "unknown",
        vec![
            json!({"name": "linearizable", "verdict": "unknown", "report": {
            "verdict": "unknown", "keys_checked": 1, "keys_valid": 0, "invalid_keys": [],
            "unknown_keys": ["k1"], "unknown_reason": "time-limit", "counterexamples": []}}),
        ],
        Json::Null,
        &["node n3 did not stop within 5 s"],
    )
}

/// Runs the faultline binary.
pub fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("the faultline binary runs")
}

/// Reads a file of a run folder.
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
