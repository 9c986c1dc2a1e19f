//! Db adapters: how the controller sets up, starts, kills, restarts and tears down the
//! nodes of one particular system, and where their logs are.
//!
//! The rest of the controller (clients aside) knows a system only through [`Db`], so a
//! second store (say etcd) needs a new adapter here and a client, nothing else. An
//! adapter is built by its own constructor (the *setup* step: hosts, folders, ports) and
//! is then shared between the controller and the nemesis thread, hence `&self` methods
//! and interior mutability. Pausing and partitioning need no adapter support: the
//! nemesis signals the pids and edits the namespaces the adapter reports.

pub mod raftkv;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// One system under test, running on a set of hosts.
pub trait Db: Send + Sync {
    /// The system's name (`raftkv`).
    fn name(&self) -> &'static str;
    /// Node names in a stable order.
    fn node_names(&self) -> Vec<String>;
    /// `(node, host:port)` pairs where clients reach each node.
    fn client_addrs(&self) -> Vec<(String, String)>;
    /// Starts every node.
    fn start_all(&self) -> anyhow::Result<()>;
    /// Waits until the cluster reports a leader and returns it; fails with a message
    /// naming the cause (a node that exited, its log) when it cannot within `timeout`,
    /// or as soon as `cancel` is set (Ctrl-C).
    fn wait_for_leader(&self, timeout: Duration, cancel: &AtomicBool) -> anyhow::Result<String>;
    /// SIGKILLs one node and reaps it.
    fn kill(&self, node: &str) -> anyhow::Result<()>;
    /// Starts a node that is not running (after a kill).
    fn start(&self, node: &str) -> anyhow::Result<()>;
    /// The pid (and process group) of a running node.
    fn pid(&self, node: &str) -> Option<i32>;
    /// The node's leader according to the cluster, asked quickly; `None` if unknown.
    fn leader(&self) -> Option<String>;
    /// Paths of the node logs (they are written in place, in the run folder).
    fn logs(&self) -> Vec<PathBuf>;
    /// Stops every node and removes what setup created (namespaces, bridge). Safe to
    /// call more than once.
    fn teardown(&self) -> anyhow::Result<()>;
}
