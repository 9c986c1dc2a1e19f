//! Db adapters: how the controller sets up, starts, kills, restarts and tears down the
//! nodes of one particular store, what the store supports, and how its clients are
//! made.
//!
//! Two traits. A [`DbKind`] is a store as the command line knows it before anything
//! runs: its name, its version, the program it runs by default, which of the options
//! it can honour (crash points, bug switches; anything else is refused at start,
//! exit 3), and the *setup* step that turns hosts into a [`Db`]. A [`Db`] is that
//! store running on the hosts of one run: its nodes (a [`Nodes`] of processes, the
//! same spawner for every store), readiness, leader, crash points if it has them,
//! its [`Clients`], and teardown. The controller in `crate::run` knows a store only
//! through these two traits and the client traits in `crate::client`.
//!
//! Adding a store: a `db/<store>.rs` with a `DbKind` and a `Db`, a `client/<store>.rs`
//! with the clients, and one line in [`KINDS`]. The controller's test
//! (`run::tests`) drives an in-process fake store through the same traits.
//!
//! Pausing and partitioning need no adapter support: the nemesis signals the pids and
//! edits the namespaces the adapter's nodes report ([`Control`]).

pub mod disk;
pub mod etcd;
pub mod local;
pub mod nodes;
pub mod raftkv;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use nemesis::{FaultKind, Network};

use crate::client::{ClientOptions, Clients};
pub use nodes::{Nodes, Ports};

/// Every store faultline can test: the one place a store is listed.
pub const KINDS: &[&dyn DbKind] = &[&raftkv::Raftkv, &etcd::Etcd];

/// The store called `name`, or an error listing the known ones.
pub fn kind(name: &str) -> anyhow::Result<&'static dyn DbKind> {
    match KINDS.iter().find(|k| k.name() == name) {
        Some(kind) => Ok(*kind),
        None => bail!(
            "unknown store {name:?}; faultline knows: {}",
            names().join(", ")
        ),
    }
}

/// The names of the known stores.
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// What a run asks of a store beyond reads and writes.
#[derive(Clone, Debug, Default)]
pub struct Wants {
    /// Deliberate bug switches (`--db-bug`).
    pub bugs: Vec<String>,
    /// Fault kinds of the nemesis.
    pub faults: Vec<FaultKind>,
}

/// Everything the setup step of a store gets.
pub struct Setup<'a> {
    /// The hosts (and the run's cleanup journal).
    pub network: Arc<Network>,
    /// Node `nI`'s folder is `nodes_dir/nI`.
    pub nodes_dir: &'a Path,
    /// Where the ports come from.
    pub ports: Ports,
    /// The program the nodes run.
    pub binary: PathBuf,
    /// Extra arguments for every node.
    pub node_args: Vec<String>,
    /// Bug switches (already accepted by [`DbKind::check`]).
    pub bugs: Vec<String>,
    /// The run's seed (stores with seeded randomness derive theirs from it).
    pub seed: u64,
    /// The async runtime clients and probes use.
    pub runtime: tokio::runtime::Handle,
}

/// A store as the command line knows it.
pub trait DbKind: Sync {
    /// The name `--db` selects it by.
    fn name(&self) -> &'static str;
    /// Refuses what the store cannot do, with a message saying so.
    fn check(&self, wants: &Wants) -> anyhow::Result<()>;
    /// The program the nodes run when `--db-binary` is not given; an error says how
    /// to install it.
    fn default_binary(&self) -> anyhow::Result<PathBuf>;
    /// The version of `binary` (recorded in test.json and shown in the report).
    fn version(&self, binary: &Path) -> anyhow::Result<String>;
    /// Assigns addresses and creates the nodes' folders; nothing runs yet.
    fn setup(&self, setup: Setup<'_>) -> anyhow::Result<Arc<dyn Db>>;
}

/// One store running on the hosts of one run. Shared between the controller and the
/// nemesis thread, hence `&self` methods.
pub trait Db: Send + Sync {
    /// The store's name.
    fn name(&self) -> &'static str;
    /// The node processes.
    fn nodes(&self) -> &Nodes;
    /// Waits until the cluster has a leader and returns it; fails with the cause (a
    /// node that exited, its log tail) when it cannot within `timeout`, or as soon as
    /// `cancel` is set.
    fn wait_ready(&self, timeout: Duration, cancel: &AtomicBool) -> anyhow::Result<String>;
    /// The node the cluster reports as leader, asked quickly; `None` if unknown.
    fn leader(&self) -> Option<String>;
    /// Arms (or with `None` disarms) a crash point in a node; `Err` says why not.
    fn set_crash_point(
        &self,
        node: &str,
        point: nemesis::CrashPoint,
        armed_for: Option<Duration>,
    ) -> Result<(), String>;
    /// The clients of this cluster.
    fn clients(&self, options: ClientOptions) -> anyhow::Result<Arc<dyn Clients>>;
}

/// Makes a store's clients from its nodes' `(name, host:port)` client addresses.
/// Called inside the async runtime.
pub type Connect<C> = fn(&[(String, String)], ClientOptions) -> anyhow::Result<C>;

/// A store's nodes and the clients that reach them on each node's first port: the
/// [`Db`] of raftkv and etcd. The leader, readiness and crash points are asked through
/// the clients ([`Clients::find_leader`], [`Clients::set_crash_point`]).
pub struct Running<C> {
    /// The store's name.
    name: &'static str,
    /// The node processes.
    nodes: Nodes,
    /// Clients for the controller's own questions.
    probes: C,
    /// How clients are made.
    connect: Connect<C>,
    /// For blocking on probes from non-async threads.
    runtime: tokio::runtime::Handle,
}

impl<C: Clients> Running<C> {
    /// The store `name` on `nodes`, with its probes connected (lazily).
    pub fn new(
        name: &'static str,
        nodes: Nodes,
        connect: Connect<C>,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<Running<C>> {
        let probes = {
            let _guard = runtime.enter();
            connect(&nodes.addrs(0), ClientOptions::probes())?
        };
        Ok(Running {
            name,
            nodes,
            probes,
            connect,
            runtime,
        })
    }
}

impl<C: Clients + 'static> Db for Running<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn nodes(&self) -> &Nodes {
        &self.nodes
    }

    fn wait_ready(&self, timeout: Duration, cancel: &AtomicBool) -> anyhow::Result<String> {
        self.nodes.wait_until("leader", timeout, cancel, || {
            self.runtime
                .block_on(self.probes.find_leader(Duration::from_millis(300)))
        })
    }

    fn leader(&self) -> Option<String> {
        self.runtime
            .block_on(self.probes.find_leader(Duration::from_millis(200)))
    }

    fn set_crash_point(
        &self,
        node: &str,
        point: nemesis::CrashPoint,
        armed_for: Option<Duration>,
    ) -> Result<(), String> {
        self.runtime
            .block_on(self.probes.set_crash_point(node, point.name(), armed_for))
    }

    fn clients(&self, options: ClientOptions) -> anyhow::Result<Arc<dyn Clients>> {
        let _guard = self.runtime.enter();
        Ok(Arc::new((self.connect)(&self.nodes.addrs(0), options)?))
    }
}

/// The nemesis's view of a [`Db`].
pub struct Control(pub Arc<dyn Db>);

impl nemesis::ClusterControl for Control {
    fn nodes(&self) -> Vec<String> {
        self.0.nodes().names()
    }

    fn pid(&self, node: &str) -> Option<i32> {
        self.0.nodes().pid(node)
    }

    fn ip(&self, node: &str) -> Option<std::net::IpAddr> {
        self.0.nodes().ip(node)
    }

    fn host(&self, node: &str) -> Option<nemesis::Host> {
        self.0.nodes().host(node)
    }

    fn restart(&self, node: &str) -> Result<(), String> {
        self.0.nodes().restart(node).map_err(|e| format!("{e:#}"))
    }

    fn leader(&self) -> Option<String> {
        self.0.leader()
    }

    fn set_crash_point(
        &self,
        node: &str,
        point: nemesis::CrashPoint,
        armed_for: Option<Duration>,
    ) -> Result<(), String> {
        self.0.set_crash_point(node, point, armed_for)
    }

    fn disk(&self, node: &str, request: nemesis::DiskRequest) -> Result<serde_json::Value, String> {
        self.0.nodes().disk(node, request)
    }

    fn set_clock(
        &self,
        node: &str,
        setting: nemesis::clock::ClockSetting,
    ) -> Result<String, String> {
        self.0
            .nodes()
            .set_clock(node, setting)
            .map_err(|e| format!("{e:#}"))
    }
}

/// The first line `program --version` prints (or why it could not run).
pub fn version_line(program: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {} --version: {e}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().next() {
        Some(line) if out.status.success() => Ok(line.trim().to_string()),
        _ => bail!(
            "{} --version failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// `program` looked up on `PATH` (a path with a slash is taken as given).
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_is_found_by_its_name_and_unknown_names_list_them() {
        for name in names() {
            assert_eq!(kind(name).unwrap().name(), name);
        }
        let err = kind("mongo").err().expect("an unknown store is refused");
        let text = err.to_string();
        assert!(text.contains("raftkv") && text.contains("etcd"), "{text}");
    }

    #[test]
    fn finds_programs_on_the_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-faultline").is_none());
    }
}
