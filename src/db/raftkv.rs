//! The adapter for raftkv, the bundled Raft key-value store.
//!
//! Each node is `<node-binary> node --id nI --listen ADDR --peers n1=ADDR,... --data DIR`
//! started on its host (inside its network namespace, or on a loopback port), in its own
//! process group, with stdout and stderr appended to `nodes/nI/node.log` in the run
//! folder and its data directory at `nodes/nI/data`. Every process is recorded in the
//! run's cleanup journal before the controller relies on it. The Status RPC answers
//! "who leads".

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nemesis::{HostMode, Network, NodeProcess};

use super::Db;
use crate::client::{Cluster, ReadConsistency};
use crate::store::RunDir;

/// Port every node listens on inside its own namespace.
const NAMESPACE_PORT: u16 = 7000;

/// One node's fixed facts.
#[derive(Debug)]
struct NodeSpec {
    /// `n1`, `n2`, ...
    name: String,
    /// Where it listens (and peers and clients dial).
    addr: SocketAddr,
    /// Its folder in the run folder.
    dir: PathBuf,
}

/// raftkv nodes on the hosts of a [`Network`].
pub struct RaftkvDb {
    /// Hosts and the cleanup journal.
    network: Arc<Network>,
    /// The nodes, in order.
    specs: Vec<NodeSpec>,
    /// Running processes by node name.
    procs: Mutex<BTreeMap<String, NodeProcess>>,
    /// The program started as `<binary> node ...`.
    binary: PathBuf,
    /// Extra node arguments.
    extra_args: Vec<String>,
    /// The run's seed; node `i` (0-based) gets `seed + i` for its Raft timeouts.
    seed: u64,
    /// Status probes.
    cluster: Cluster,
    /// For blocking on status probes from non-async threads.
    runtime: tokio::runtime::Handle,
}

impl RaftkvDb {
    /// Setup: assigns addresses (a free port per node in loopback mode) and creates
    /// each node's folder. Nothing runs yet.
    pub fn setup(
        network: Arc<Network>,
        run: &RunDir,
        binary: PathBuf,
        extra_args: Vec<String>,
        seed: u64,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<RaftkvDb> {
        let hosts = network.hosts();
        let ports = match network.mode() {
            HostMode::Namespaces => vec![NAMESPACE_PORT; hosts.len()],
            HostMode::Loopback => {
                nemesis::free_loopback_ports(hosts.len()).context("finding free loopback ports")?
            }
        };
        let mut specs = Vec::with_capacity(hosts.len());
        for (host, port) in hosts.iter().zip(ports) {
            let dir = run.node_dir(&host.node);
            std::fs::create_dir_all(dir.join("data"))
                .with_context(|| format!("creating {}", dir.join("data").display()))?;
            specs.push(NodeSpec {
                name: host.node.clone(),
                addr: SocketAddr::new(host.ip, port),
                dir,
            });
        }
        let addrs: Vec<(String, String)> = specs
            .iter()
            .map(|s| (s.name.clone(), s.addr.to_string()))
            .collect();
        let cluster = {
            let _guard = runtime.enter();
            Cluster::new(&addrs, 1, ReadConsistency::Linearizable)?
        };
        Ok(RaftkvDb {
            network,
            specs,
            procs: Mutex::new(BTreeMap::new()),
            binary,
            extra_args,
            seed,
            cluster,
            runtime,
        })
    }

    /// The spec of a node.
    fn spec(&self, node: &str) -> anyhow::Result<&NodeSpec> {
        self.specs
            .iter()
            .find(|s| s.name == node)
            .with_context(|| format!("no node called {node}"))
    }

    /// The command line of a node.
    fn command(&self, spec: &NodeSpec) -> Command {
        let index = self
            .specs
            .iter()
            .position(|s| s.name == spec.name)
            .expect("the spec is one of ours");
        let peers = self
            .specs
            .iter()
            .map(|s| format!("{}={}", s.name, s.addr))
            .collect::<Vec<_>>()
            .join(",");
        let mut cmd = Command::new(&self.binary);
        cmd.arg("node")
            .arg("--id")
            .arg(&spec.name)
            .arg("--listen")
            .arg(spec.addr.to_string())
            .arg("--peers")
            .arg(peers)
            .arg("--data")
            .arg(spec.dir.join("data"))
            .arg("--seed")
            .arg(self.seed.wrapping_add(index as u64).to_string())
            .args(&self.extra_args);
        cmd
    }

    /// Nodes whose process has exited on its own, with status and log tail.
    fn exited_nodes(&self) -> Vec<String> {
        let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (name, proc) in procs.iter_mut() {
            if let Ok(Some(status)) = proc.try_wait() {
                let log = self
                    .spec(name)
                    .map(|s| s.dir.join("node.log"))
                    .unwrap_or_default();
                out.push(format!(
                    "node {name} exited ({status}); log {}:\n{}",
                    log.display(),
                    log_tail(&log, 8)
                ));
            }
        }
        out
    }
}

impl Db for RaftkvDb {
    fn name(&self) -> &'static str {
        "raftkv"
    }

    fn node_names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name.clone()).collect()
    }

    fn client_addrs(&self) -> Vec<(String, String)> {
        self.specs
            .iter()
            .map(|s| (s.name.clone(), s.addr.to_string()))
            .collect()
    }

    fn start_all(&self) -> anyhow::Result<()> {
        for spec in &self.specs {
            self.start(&spec.name)?;
        }
        Ok(())
    }

    fn wait_for_leader(&self, timeout: Duration, cancel: &AtomicBool) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if cancel.load(Ordering::Relaxed) {
                bail!("interrupted while waiting for a leader");
            }
            let exited = self.exited_nodes();
            if !exited.is_empty() {
                bail!(
                    "a node exited before a leader was elected:\n{}",
                    exited.join("\n")
                );
            }
            let probe = self
                .runtime
                .block_on(self.cluster.find_leader(Duration::from_millis(300)));
            if let Some(leader) = probe {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                bail!(
                    "the cluster elected no leader within {:.0} s; node logs are in {}",
                    timeout.as_secs_f64(),
                    self.specs[0]
                        .dir
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&self, node: &str) -> anyhow::Result<()> {
        let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut proc) = procs.remove(node) {
            proc.kill()
                .with_context(|| format!("killing node {node}"))?;
        }
        Ok(())
    }

    fn start(&self, node: &str) -> anyhow::Result<()> {
        let spec = self.spec(node)?;
        let host = self
            .network
            .host(node)
            .with_context(|| format!("no host for node {node}"))?;
        let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = procs.get_mut(node) {
            match old.try_wait() {
                Ok(None) => bail!("node {node} is already running"),
                _ => {
                    procs.remove(node);
                }
            }
        }
        let proc = host
            .spawn(self.command(spec), &spec.dir.join("node.log"))
            .with_context(|| format!("starting node {node} with {}", self.binary.display()))?;
        procs.insert(node.to_string(), proc);
        Ok(())
    }

    fn pid(&self, node: &str) -> Option<i32> {
        let procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        procs.get(node).map(NodeProcess::pid)
    }

    fn leader(&self) -> Option<String> {
        self.runtime
            .block_on(self.cluster.find_leader(Duration::from_millis(200)))
    }

    fn logs(&self) -> Vec<PathBuf> {
        self.specs.iter().map(|s| s.dir.join("node.log")).collect()
    }

    fn teardown(&self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        for spec in &self.specs {
            if let Err(e) = self.kill(&spec.name) {
                errors.push(format!("{e:#}"));
            }
        }
        match self.network.teardown() {
            Ok(report) => errors.extend(report.failed),
            Err(e) => errors.push(format!("network teardown: {e}")),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("teardown left things behind: {}", errors.join("; "))
        }
    }
}

impl nemesis::ClusterControl for RaftkvDb {
    fn nodes(&self) -> Vec<String> {
        self.node_names()
    }

    fn pid(&self, node: &str) -> Option<i32> {
        Db::pid(self, node)
    }

    fn ip(&self, node: &str) -> Option<IpAddr> {
        self.network.host(node).map(|h| h.ip)
    }

    fn namespace(&self, node: &str) -> Option<String> {
        self.network.host(node).and_then(|h| h.namespace.clone())
    }

    fn restart(&self, node: &str) -> Result<(), String> {
        // The nemesis killed the process: reap it, then start a fresh one.
        {
            let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(mut old) = procs.remove(node) {
                old.wait()
                    .map_err(|e| format!("reaping node {node}: {e}"))?;
            }
        }
        self.start(node).map_err(|e| format!("{e:#}"))
    }

    fn leader(&self) -> Option<String> {
        Db::leader(self)
    }

    fn set_crash_point(
        &self,
        node: &str,
        point: nemesis::CrashPoint,
        armed_for: Option<Duration>,
    ) -> Result<(), String> {
        let index = (0..self.cluster.len())
            .find(|&i| self.cluster.node_id(i) == node)
            .ok_or_else(|| format!("no node called {node}"))?;
        self.runtime.block_on(self.cluster.set_crash_point(
            index,
            point.name(),
            armed_for,
            Duration::from_millis(500),
        ))
    }
}

/// The last `lines` lines of a log file (or a note that it cannot be read).
fn log_tail(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..]
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("  (cannot read: {e})"),
    }
}
