//! The resolved configuration of one test run: every flag after defaults and
//! validation, the seed actually used, and the host mode. It is written verbatim into
//! `test.json`, so the same run can be issued again (`command_line` holds the flags,
//! and passing `--seed` with the recorded seed reproduces the op stream and schedule).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::client::{ClientRouting, ReadConsistency};

/// The workload a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadName {
    /// Multi-key read/write/cas registers, final reads on every node, checked for
    /// linearizability.
    Register,
    /// Unique adds to sets, final reads on every node, checked for lost writes.
    Set,
}

impl WorkloadName {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadName::Register => "register",
            WorkloadName::Set => "set",
        }
    }
}

/// Where nodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HostsFlag {
    /// Network namespaces when root, loopback otherwise.
    Auto,
    /// One network namespace per node (needs root).
    Namespaces,
    /// Plain processes on 127.0.0.1 ports (no partitions).
    Loopback,
    /// The remote machines of an inventory file, over SSH.
    Ssh,
}

/// Relative weights of reads, writes and compare-and-sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixConfig {
    /// Weight of reads.
    pub read: u32,
    /// Weight of writes.
    pub write: u32,
    /// Weight of compare-and-sets.
    pub cas: u32,
}

/// Everything a run needs, resolved before any work starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestConfig {
    /// Name of the test (first path component under the results folder).
    pub test_name: String,
    /// The store under test (`--db`: `raftkv`, `etcd`).
    #[serde(default = "default_db")]
    pub db: String,
    /// The workload.
    pub workload: WorkloadName,
    /// Number of nodes.
    pub nodes: usize,
    /// Length of the main phase in seconds.
    pub time_limit_s: f64,
    /// Number of concurrent logical processes.
    pub concurrency: usize,
    /// Target total request rate (ops/s); `None` = as fast as the cluster answers.
    pub rate: Option<f64>,
    /// The seed of every random choice.
    pub seed: u64,
    /// Fault kinds of the nemesis (`kill`, `pause`, `partition`); empty = none.
    pub nemesis: Vec<String>,
    /// Mean seconds between fault starts.
    pub nemesis_interval_s: f64,
    /// Deadline of one client operation in milliseconds.
    pub op_timeout_ms: u64,
    /// How reads are served.
    pub read_consistency: ReadConsistency,
    /// Which node each process talks to (`follow-leader` in files written before
    /// it was recorded).
    #[serde(default = "ClientRouting::legacy")]
    pub client_routing: ClientRouting,
    /// Keys in use at once (register and set).
    pub keys_per_epoch: usize,
    /// Upper bound on operations per key.
    pub ops_per_key: usize,
    /// Register operation mix.
    pub mix: MixConfig,
    /// Seconds between healing and final reads.
    pub recovery_s: f64,
    /// Seconds to wait for the cluster to elect a leader at start.
    pub leader_timeout_s: f64,
    /// Where nodes run: `namespaces`, `loopback` or `ssh` (resolved from `--hosts`).
    pub hosts: String,
    /// The inventory of SSH hosts (`--inventory`, with `hosts = "ssh"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<PathBuf>,
    /// The program the nodes run (`--db-binary`); `None`: the store's default (this
    /// faultline for raftkv, `etcd` on PATH for etcd).
    #[serde(default)]
    pub node_binary: Option<PathBuf>,
    /// Extra arguments given to every node.
    pub node_args: Vec<String>,
    /// Deliberate bugs switched on in every node (`--db-bug`; raftkv passes each as
    /// `--bug NAME`); empty for the correct server.
    #[serde(default)]
    pub db_bugs: Vec<String>,
    /// The results folder.
    pub results_dir: PathBuf,
    /// Test only (hidden `--test-keep-majority-paused`): a majority of the nodes stays
    /// SIGSTOPped through the recovery phase, so the cluster cannot recover.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_keep_majority_paused: bool,
}

/// The store of a file that names none (recorded before `--db` existed, when every
/// run was of raftkv).
pub(crate) fn default_db() -> String {
    "raftkv".to_string()
}
