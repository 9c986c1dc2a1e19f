//! The controller driven through its two traits only, against a tiny in-process fake
//! store: what a third store needs is a `DbKind`, a `Db`, `Clients` and a `Client`,
//! nothing in `crate::run`. The fake implements `Db` itself rather than using
//! `db::Running`, as a store with no client-side leader probe would. The fake's data lives in this process (a map behind a
//! lock, so it is linearizable); its "nodes" are `sleep` processes, so that the
//! nemesis has real pids to kill, restart and pause. A variant that serves reads from
//! the value before the last write must be reported invalid.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nemesis::FaultKind;
use serde_json::Value as Json;
use workloads::generator::OpSpec;
use workloads::history::Value;

use super::config::{MixConfig, TestConfig, WorkloadName};
use super::run_with;
use crate::client::{
    BoxFuture, Client, ClientOptions, ClientRouting, Clients, Completion, ReadConsistency,
};
use crate::db::nodes::{CommandFn, Nodes};
use crate::db::{find_program, Db, DbKind, Setup, Wants};

/// The fake store, correct or with one of two planted bugs.
struct Fake {
    /// Whether reads are stale: served from the value before the last write.
    stale: bool,
    /// Whether the second node's own state lost the last write to each register: the
    /// store answers correctly, but a final read on that node shows the older value.
    diverged: bool,
}

/// The correct fake.
static FAKE: Fake = Fake {
    stale: false,
    diverged: false,
};
/// The fake with stale reads.
static STALE: Fake = Fake {
    stale: true,
    diverged: false,
};
/// The fake whose second node diverged.
static DIVERGED: Fake = Fake {
    stale: false,
    diverged: true,
};

impl DbKind for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn check(&self, wants: &Wants) -> anyhow::Result<()> {
        anyhow::ensure!(
            !wants.faults.contains(&FaultKind::Crash),
            "the fake store has no crash points"
        );
        anyhow::ensure!(wants.bugs.is_empty(), "the fake store has no bug switches");
        Ok(())
    }

    fn default_binary(&self) -> anyhow::Result<PathBuf> {
        find_program("sleep").ok_or_else(|| anyhow::anyhow!("no `sleep` on PATH"))
    }

    fn version(&self, _binary: &Path) -> anyhow::Result<String> {
        Ok("fake 1".into())
    }

    fn setup(&self, setup: Setup<'_>) -> anyhow::Result<Arc<dyn Db>> {
        let binary = setup.binary.clone();
        let command: CommandFn = Box::new(move |_, _| {
            let mut cmd = Command::new(&binary);
            cmd.arg("600");
            cmd
        });
        let nodes = Nodes::setup(
            setup.network,
            setup.nodes_dir,
            &[1],
            setup.ports,
            setup.binary,
            command,
        )?;
        let clients = FakeClients {
            state: Arc::new(Mutex::new(State::default())),
            names: nodes.names(),
            stale: self.stale,
            diverged: self.diverged,
        };
        Ok(Arc::new(FakeDb { nodes, clients }))
    }
}

/// The fake's data.
#[derive(Default)]
struct State {
    /// Registers: current value and the one before it.
    registers: HashMap<String, (i64, Option<i64>)>,
    /// Sets.
    sets: HashMap<String, BTreeSet<i64>>,
}

impl State {
    /// The elements of set `key`, as a read returns them.
    fn set(&self, key: &str) -> Value {
        let set = self.sets.get(key).cloned().unwrap_or_default();
        Value::Ints(set.into_iter().collect())
    }

    /// Register `key`: its current value, or with `previous` the one before the last
    /// write (when there was one).
    fn register(&self, key: &str, previous: bool) -> Value {
        match self.registers.get(key) {
            Some((_, Some(before))) if previous => Value::Int(*before),
            Some((current, _)) => Value::Int(*current),
            None => Value::Null,
        }
    }
}

/// The fake running: placeholder processes and the shared data.
struct FakeDb {
    /// The `sleep` processes.
    nodes: Nodes,
    /// Clients over the shared data.
    clients: FakeClients,
}

impl Db for FakeDb {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn nodes(&self) -> &Nodes {
        &self.nodes
    }

    /// The first node leads; the data is in this process and always ready.
    fn wait_ready(&self, _timeout: Duration, _cancel: &AtomicBool) -> anyhow::Result<String> {
        Ok(self.clients.names[0].clone())
    }

    fn leader(&self) -> Option<String> {
        self.clients.names.first().cloned()
    }

    fn set_crash_point(
        &self,
        _node: &str,
        _point: nemesis::CrashPoint,
        _armed_for: Option<Duration>,
    ) -> Result<(), String> {
        Err("the fake store has no crash points".into())
    }

    fn clients(&self, _options: ClientOptions) -> anyhow::Result<Arc<dyn Clients>> {
        Ok(Arc::new(self.clients.clone()))
    }
}

/// Clients of the fake: every one works on the same map.
#[derive(Clone)]
struct FakeClients {
    /// The data.
    state: Arc<Mutex<State>>,
    /// Node names.
    names: Vec<String>,
    /// Whether reads are stale.
    stale: bool,
    /// Whether the second node's state lost the last write to each register.
    diverged: bool,
}

impl Clients for FakeClients {
    fn open(&self, _process: u64) -> Box<dyn Client> {
        Box::new(self.clone())
    }

    fn node_count(&self) -> usize {
        self.names.len()
    }

    fn node_name(&self, index: usize) -> String {
        self.names[index].clone()
    }

    fn find_leader(&self, _timeout: Duration) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { self.names.first().cloned() })
    }

    fn wait_converged(&self, _timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }

    fn read_local<'a>(
        &'a self,
        index: usize,
        read: &'a OpSpec,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
            let state = self.state.lock().unwrap();
            Ok(match read {
                OpSpec::ReadSet { key } => state.set(key),
                _ => state.register(read.key(), self.diverged && index == 1),
            })
        })
    }
}

impl Client for FakeClients {
    fn invoke<'a>(&'a mut self, op: &'a OpSpec) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            match op {
                OpSpec::Read { key } => Completion::Ok(state.register(key, self.stale)),
                OpSpec::ReadSet { key } => Completion::Ok(state.set(key)),
                OpSpec::Write { key, value } => {
                    let entry = state.registers.entry(key.clone()).or_insert((0, None));
                    *entry = (*value as i64, Some(entry.0));
                    Completion::Ok(Value::Null)
                }
                OpSpec::Cas { key, expected, new } => match state.registers.get_mut(key) {
                    Some(entry) if entry.0 == *expected as i64 => {
                        *entry = (*new as i64, Some(entry.0));
                        Completion::Ok(Value::Null)
                    }
                    _ => Completion::cas_mismatch(),
                },
                OpSpec::Add { key, element } => {
                    state
                        .sets
                        .entry(key.clone())
                        .or_default()
                        .insert(*element as i64);
                    Completion::Ok(Value::Null)
                }
            }
        })
    }
}

/// A short loopback run of the fake in `dir`.
fn config(dir: &Path, workload: WorkloadName, nemesis: &[&str]) -> TestConfig {
    TestConfig {
        test_name: "fake".into(),
        db: "fake".into(),
        workload,
        nodes: 3,
        time_limit_s: 1.5,
        concurrency: 4,
        rate: Some(400.0),
        seed: 7,
        nemesis: nemesis.iter().map(|s| s.to_string()).collect(),
        nemesis_interval_s: 0.3,
        op_timeout_ms: 500,
        read_consistency: ReadConsistency::Linearizable,
        client_routing: ClientRouting::NodeBound,
        keys_per_epoch: 2,
        ops_per_key: 100,
        mix: MixConfig {
            read: 1,
            write: 1,
            cas: 1,
        },
        recovery_s: 0.2,
        leader_timeout_s: 10.0,
        hosts: "loopback".into(),
        inventory: None,
        node_binary: None,
        node_args: Vec::new(),
        db_bugs: Vec::new(),
        results_dir: dir.to_path_buf(),
        test_keep_majority_paused: false,
    }
}

/// The results.json of the only run in `dir`.
fn results(dir: &Path) -> Json {
    let test = dir.join("fake");
    let run = std::fs::read_dir(&test)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("results.json").is_file())
        .expect("a run folder with results.json");
    serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap()
}

/// The verdict of the checker called `name`.
fn checker(results: &Json, name: &str) -> String {
    results["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {name} checker in {results}"))
}

#[test]
fn the_controller_runs_a_third_store_through_the_traits_with_faults() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), WorkloadName::Register, &["kill", "pause"]);
    let code = run_with(cfg, Vec::new(), |_| Ok(&FAKE)).unwrap();
    let r = results(dir.path());
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["db"], "fake");
    assert_eq!(r["db_version"], "fake 1");
    assert_eq!(checker(&r, "linearizable"), "valid");
    assert!(
        r["ops"]["total"]["ok"].as_u64().unwrap() > 50,
        "{}",
        r["ops"]
    );
    let faults = r["faults"].as_array().unwrap();
    assert!(
        faults.iter().any(|f| f["outcome"] == "installed"),
        "the nemesis acted on the fake's processes: {faults:?}"
    );
}

#[test]
fn stale_reads_of_a_third_store_are_reported_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), WorkloadName::Register, &[]);
    let code = run_with(cfg, Vec::new(), |_| Ok(&STALE)).unwrap();
    let r = results(dir.path());
    assert_eq!(code, 1, "{r}");
    assert_eq!(checker(&r, "linearizable"), "invalid");
}

#[test]
fn a_run_of_a_third_store_reads_every_node_at_the_end() {
    for workload in [WorkloadName::Set, WorkloadName::Register] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), workload, &[]);
        let code = run_with(cfg, Vec::new(), |_| Ok(&FAKE)).unwrap();
        let r = results(dir.path());
        assert_eq!(code, 0, "{r}");
        assert_eq!(checker(&r, "linearizable"), "valid");
        let phases: Vec<&str> = r["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(phases.contains(&"final-reads"), "{workload:?}: {phases:?}");
    }
}

#[test]
fn a_node_whose_registers_diverged_is_caught_by_the_final_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), WorkloadName::Register, &[]);
    let code = run_with(cfg, Vec::new(), |_| Ok(&DIVERGED)).unwrap();
    let r = results(dir.path());
    assert_eq!(code, 1, "{r}");
    assert_eq!(checker(&r, "linearizable"), "invalid");
}

#[test]
fn a_fault_the_store_cannot_do_is_refused_with_exit_3_and_results_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), WorkloadName::Register, &["crash"]);
    let code = run_with(cfg, Vec::new(), |_| Ok(&FAKE)).unwrap();
    assert_eq!(code, 3);
    let r = results(dir.path());
    let errors = r["harness_errors"].to_string();
    assert!(errors.contains("no crash points"), "{errors}");
    assert_eq!(r["verdict"], "unknown");

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), WorkloadName::Register, &[]);
    cfg.db = "mongo".into();
    let code = run_with(cfg, Vec::new(), crate::db::kind).unwrap();
    assert_eq!(code, 3);
    let errors = results(dir.path())["harness_errors"].to_string();
    assert!(
        errors.contains("unknown store") && errors.contains("etcd"),
        "{errors}"
    );
}
