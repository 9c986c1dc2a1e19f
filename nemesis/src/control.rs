//! The contract between the nemesis and the controller: [`ClusterControl`], which
//! the controller implements so faults can find nodes, their pids, addresses and
//! hosts, restart them, ask who leads, arm crash points and set clocks; and [`NemesisOp`],
//! the records the nemesis hands back for every fault start and stop, which the
//! controller writes into the history as operations with `"process": "nemesis"`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock::ClockSetting;
use crate::disk::DiskRequest;
use crate::host::Host;
use crate::schedule::CrashPoint;

/// What the nemesis needs from the controller. Implementations must be cheap and
/// must not block for long: the nemesis thread calls them while injecting faults.
pub trait ClusterControl: Send + Sync {
    /// Names of all nodes, in a stable order.
    fn nodes(&self) -> Vec<String>;
    /// The pid of the node's current process (its process group id), if it runs.
    fn pid(&self, node: &str) -> Option<i32>;
    /// The node's address (its namespace IP).
    fn ip(&self, node: &str) -> Option<IpAddr>;
    /// The node's host: where its process runs and how signals and iptables rules
    /// reach it (its namespace, or its remote machine over SSH).
    fn host(&self, node: &str) -> Option<Host>;
    /// Starts the node again after the nemesis killed it. The controller reaps the old
    /// process (`NodeProcess::wait`) and spawns a new one on the same host.
    fn restart(&self, node: &str) -> Result<(), String>;
    /// The node the cluster currently reports as leader (e.g. via the Status API).
    fn leader(&self) -> Option<String>;
    /// Arms a crash point in the node's running process for `armed_for` (the process
    /// kills itself if it reaches the point within that time), or disarms it when
    /// `armed_for` is `None`. `Err` says why not (a database without crash points
    /// refuses).
    fn set_crash_point(
        &self,
        node: &str,
        point: CrashPoint,
        armed_for: Option<Duration>,
    ) -> Result<(), String>;
    /// Sends a request to the lazy filesystem under the node's data directory and
    /// returns its answer (what was dropped). `Err` says why not; a store whose nodes
    /// run without the lazy filesystem refuses.
    fn disk(&self, node: &str, request: DiskRequest) -> Result<serde_json::Value, String> {
        let _ = request;
        Err(format!(
            "node {node} has no lazy filesystem under its data directory"
        ))
    }
    /// Sets the node's clock (its libfaketime control file, see [`crate::clock`]) and
    /// returns the spec written. A cluster whose nodes run without a controllable
    /// clock refuses, as this default does.
    fn set_clock(&self, node: &str, setting: ClockSetting) -> Result<String, String> {
        let _ = setting;
        Err(format!(
            "node {node} was not started with a controllable clock"
        ))
    }
}

pub use workloads::history::OpType;

/// One nemesis operation for the history (`"process": "nemesis"`).
#[derive(Debug, Clone, Serialize)]
pub struct NemesisOp {
    /// `Invoke` when the fault (or its healing) is about to start; `Ok` when it
    /// completed (the `value` says what was done: `installed` or `skipped`); `Info`
    /// when it is unknown whether it took effect (`indeterminate`). Never `Fail`.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// `kill`, `restart`, `pause`, `resume`, `partition`, `heal`, `crash`, `crash-stop`,
    /// `packet`, `packet-stop`.
    pub f: String,
    /// What was targeted (invoke) or actually done and its `outcome` (completion).
    pub value: serde_json::Value,
    /// How a completion ended (also in `value.outcome`); `None` for an invocation.
    #[serde(skip)]
    pub outcome: Option<Outcome>,
    /// When it happened; the controller converts it to nanoseconds since the test began.
    #[serde(skip)]
    pub at: Instant,
}

/// How a fault action ended, stored as `value.outcome` of the completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It was done as described.
    Installed,
    /// It was not done; `value.reason` says why.
    Skipped,
    /// Part of it may have been done; `value.error` says what failed.
    Indeterminate,
}

impl Outcome {
    /// The name in histories and results (`installed`, `skipped`, `indeterminate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Installed => "installed",
            Outcome::Skipped => "skipped",
            Outcome::Indeterminate => "indeterminate",
        }
    }

    /// The op type a completion with this outcome gets.
    pub fn op_type(self) -> OpType {
        match self {
            Outcome::Installed | Outcome::Skipped => OpType::Ok,
            Outcome::Indeterminate => OpType::Info,
        }
    }
}
