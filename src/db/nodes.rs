//! The node processes of a store on their hosts: the one spawner every adapter (and
//! `faultline cluster` and `faultline bench`) uses.
//!
//! A store says how to build a node's command line from its [`NodeSpec`] (name, host
//! address, ports, folder); [`Nodes`] does the rest the same way for every store:
//! each node runs on its host (inside its network namespace, or on loopback ports),
//! in its own process group, with stdout and stderr appended to `<dir>/node.log` and
//! its data under `<dir>/data`. Every process is recorded in the run's cleanup journal
//! before anything relies on it (`nemesis::Host::spawn`). A node that exits on its
//! own is reported with its exit status and the tail of its log.
//!
//! With clock faults ([`Nodes::fake_clocks`]) every local node starts with libfaketime
//! preloaded and its own control file, `<dir>/faketime.rc` (`nemesis::clock`), through
//! which the nemesis sets that node's clock ([`Nodes::set_clock`]).
//!
//! On SSH hosts the node's folder is on its host, `<remote_dir>/runs/<run id>/<node>`,
//! the program is uploaded there by the host, and at teardown each node's log is
//! copied back into the run folder (`nodes/<node>/node.log`), where local nodes write
//! it directly.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nemesis::clock::{self, ClockSetting};
use nemesis::{HostMode, Network, NodeProcess};

/// Where the nodes' ports come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// The store's fixed ports in namespaces (each node has its own address), free
    /// loopback ports otherwise.
    Auto,
    /// Consecutive loopback ports from this one: node `i` (0-based) of a store with
    /// `k` ports per node gets `base + i*k .. base + i*k + k`.
    From(u16),
}

/// One node's fixed facts.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// `n1`, `n2`, ...
    pub name: String,
    /// 0-based position among the nodes.
    pub index: usize,
    /// The host's address (the namespace's IP, or 127.0.0.1).
    pub ip: IpAddr,
    /// The node's ports, in the order the store asked for them.
    pub ports: Vec<u16>,
    /// Its folder on its host: `node.log` and `data/`.
    pub dir: PathBuf,
    /// Its folder in the run folder (the same as `dir` except on SSH hosts), where
    /// its log is at the end.
    pub local_dir: PathBuf,
}

impl NodeSpec {
    /// The address of the node's `i`-th port.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(self.ip, self.ports[i])
    }

    /// The node's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    /// The node's data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// Builds the command line of one node.
pub type CommandFn = Box<dyn Fn(&NodeSpec, &[NodeSpec]) -> Command + Send + Sync>;

/// The node processes of one store on the hosts of a [`Network`].
pub struct Nodes {
    /// Hosts and the cleanup journal.
    network: Arc<Network>,
    /// The nodes, in order.
    specs: Vec<NodeSpec>,
    /// Running processes by node name.
    procs: Mutex<BTreeMap<String, NodeProcess>>,
    /// The program the nodes run (for messages).
    program: PathBuf,
    /// How a node's command is built.
    command: CommandFn,
    /// Lazy filesystems under the data directories, when mounted.
    disks: Mutex<super::disk::Disks>,
    /// The libfaketime preloaded into every node, once clock faults are enabled.
    faketime: OnceLock<PathBuf>,
    /// Each node's clock as last set, and when (a restarted node continues it).
    clocks: Mutex<BTreeMap<String, (ClockSetting, Instant)>>,
}

impl Nodes {
    /// Assigns ports (`fixed` in namespaces, see [`Ports`]) and creates each node's
    /// data folder under `nodes_dir`. Nothing runs yet.
    pub fn setup(
        network: Arc<Network>,
        nodes_dir: &Path,
        fixed: &[u16],
        ports: Ports,
        program: PathBuf,
        command: CommandFn,
    ) -> anyhow::Result<Nodes> {
        let hosts = network.hosts();
        let k = fixed.len();
        let assigned: Vec<Vec<u16>> = match (network.mode(), ports) {
            (HostMode::Namespaces | HostMode::Ssh, _) => vec![fixed.to_vec(); hosts.len()],
            (HostMode::Loopback, Ports::Auto) => nemesis::free_loopback_ports(hosts.len() * k)
                .context("finding free loopback ports")?
                .chunks(k.max(1))
                .map(<[u16]>::to_vec)
                .collect(),
            (HostMode::Loopback, Ports::From(base)) => (0..hosts.len())
                .map(|i| {
                    (0..k)
                        .map(|j| {
                            u16::try_from(usize::from(base) + i * k + j)
                                .context("the base port is too high for this many nodes")
                        })
                        .collect()
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let mut specs = Vec::with_capacity(hosts.len());
        for (index, (host, ports)) in hosts.iter().zip(assigned).enumerate() {
            let local_dir = nodes_dir.join(&host.node);
            std::fs::create_dir_all(&local_dir)
                .with_context(|| format!("creating {}", local_dir.display()))?;
            let dir = match &host.ssh {
                Some(session) => session
                    .target()
                    .remote_dir
                    .join("runs")
                    .join(network.run_id())
                    .join(&host.node),
                None => local_dir.clone(),
            };
            host.make_dir(&dir.join("data"))
                .with_context(|| format!("creating the folder of node {}", host.node))?;
            specs.push(NodeSpec {
                name: host.node.clone(),
                index,
                ip: host.ip,
                ports,
                dir,
                local_dir,
            });
        }
        Ok(Nodes {
            network,
            specs,
            procs: Mutex::new(BTreeMap::new()),
            program,
            command,
            disks: Mutex::default(),
            faketime: OnceLock::new(),
            clocks: Mutex::default(),
        })
    }

    /// Makes every node started from now on run with libfaketime preloaded and a
    /// clock of its own. Refuses (before anything runs) a program that does not read
    /// the clock through libc, nodes on SSH hosts, and a machine without libfaketime.
    pub fn fake_clocks(&self) -> anyhow::Result<()> {
        if self.network.mode() == HostMode::Ssh {
            bail!("clock faults are not available on SSH hosts (see --nemesis clock)");
        }
        clock::check_binary(&self.program).map_err(anyhow::Error::msg)?;
        let library = clock::find_library().map_err(anyhow::Error::msg)?;
        let _ = self.faketime.set(library);
        Ok(())
    }

    /// Sets a node's clock through its control file; returns the libfaketime spec
    /// written. `Err` when clocks are not faked in this run.
    pub fn set_clock(&self, node: &str, setting: ClockSetting) -> anyhow::Result<String> {
        if self.faketime.get().is_none() {
            bail!("node {node} was not started with a controllable clock");
        }
        let file = self.spec(node)?.dir.join(clock::CONTROL_FILE);
        // Held (in this order, as `start` does) so that a node starting meanwhile
        // either gets this setting or has its pid here.
        let procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        let mut clocks = self.clocks.lock().unwrap_or_else(|p| p.into_inner());
        let spec = clock::set(&file, procs.get(node).map(NodeProcess::pid), setting)?;
        clocks.insert(node.to_string(), (setting, Instant::now()));
        Ok(spec)
    }

    /// The nodes, in order.
    pub fn specs(&self) -> &[NodeSpec] {
        &self.specs
    }

    /// `(node, host:port)` of every node's `port`-th port.
    pub fn addrs(&self, port: usize) -> Vec<(String, String)> {
        self.specs
            .iter()
            .map(|s| (s.name.clone(), s.addr(port).to_string()))
            .collect()
    }

    /// Node names, in order.
    pub fn names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name.clone()).collect()
    }

    /// The spec of a node.
    pub fn spec(&self, node: &str) -> anyhow::Result<&NodeSpec> {
        self.specs
            .iter()
            .find(|s| s.name == node)
            .with_context(|| format!("no node called {node}"))
    }

    /// Starts every node.
    pub fn start_all(&self) -> anyhow::Result<()> {
        for spec in &self.specs {
            self.start(&spec.name)?;
        }
        Ok(())
    }

    /// Starts a node that is not running.
    pub fn start(&self, node: &str) -> anyhow::Result<()> {
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
        let mut command = (self.command)(spec, &self.specs);
        if let Some(library) = self.faketime.get() {
            let file = spec.dir.join(clock::CONTROL_FILE);
            let clocks = self.clocks.lock().unwrap_or_else(|p| p.into_inner());
            let now = clocks
                .get(node)
                .map_or(ClockSetting::REAL, |(setting, at)| {
                    setting.after(at.elapsed().as_secs_f64())
                });
            clock::preload(&mut command, library, &file, now, self.network.journal())
                .with_context(|| format!("preparing the clock of node {node}"))?;
        }
        let proc = host
            .spawn(command, &spec.log())
            .with_context(|| format!("starting node {node} with {}", self.program.display()))?;
        if self.faketime.get().is_some() {
            clock::record_shared_memory(self.network.journal(), proc.pid())?;
        }
        procs.insert(node.to_string(), proc);
        Ok(())
    }

    /// Mounts a lazy filesystem over every node's data directory (before the nodes
    /// first start; see [`super::disk`]).
    pub fn mount_lazyfs(&self) -> anyhow::Result<()> {
        let mut disks = self.disks.lock().unwrap_or_else(|p| p.into_inner());
        super::disk::Disks::mount(&self.network, &self.specs, &mut disks)
    }

    /// Sends a request to the lazy filesystem under a node's data directory.
    pub fn disk(
        &self,
        node: &str,
        request: nemesis::DiskRequest,
    ) -> Result<serde_json::Value, String> {
        let disks = self.disks.lock().unwrap_or_else(|p| p.into_inner());
        disks.request(node, request)
    }

    /// SIGKILLs a node and reaps it (nothing if it does not run).
    pub fn kill(&self, node: &str) -> anyhow::Result<()> {
        let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut proc) = procs.remove(node) {
            proc.kill()
                .with_context(|| format!("killing node {node}"))?;
        }
        Ok(())
    }

    /// Reaps a node someone else killed (the nemesis), then starts it again on the
    /// same host with the same data.
    pub fn restart(&self, node: &str) -> anyhow::Result<()> {
        {
            let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(mut old) = procs.remove(node) {
                old.wait().with_context(|| format!("reaping node {node}"))?;
            }
        }
        self.start(node)
    }

    /// The pid (and process group) of a running node.
    pub fn pid(&self, node: &str) -> Option<i32> {
        let procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        procs.get(node).map(NodeProcess::pid)
    }

    /// The node's address on its host.
    pub fn ip(&self, node: &str) -> Option<IpAddr> {
        self.network.host(node).map(|h| h.ip)
    }

    /// The node's host.
    pub fn host(&self, node: &str) -> Option<nemesis::Host> {
        self.network.host(node).cloned()
    }

    /// Paths of the node logs in the run folder.
    pub fn logs(&self) -> Vec<PathBuf> {
        self.specs
            .iter()
            .map(|s| s.local_dir.join("node.log"))
            .collect()
    }

    /// The last `lines` lines of a node's log, read on its host.
    fn tail(&self, spec: &NodeSpec, lines: usize) -> String {
        match self.network.host(&spec.name) {
            Some(host) => host.tail(&spec.log(), lines),
            None => format!("  (node {} has no host)", spec.name),
        }
    }

    /// Copies the logs of nodes on SSH hosts into the run folder.
    fn collect_logs(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for spec in &self.specs {
            let Some(session) = self.network.host(&spec.name).and_then(|h| h.ssh.clone()) else {
                continue;
            };
            let local = spec.local_dir.join("node.log");
            if let Err(e) = session.fetch(&spec.log(), &local) {
                errors.push(format!("collecting the log of node {}: {e}", spec.name));
            }
        }
        errors
    }

    /// Nodes whose process has exited on its own, each with its status and log tail
    /// (reaped, as by [`Nodes::reap_exited`]).
    pub fn exited(&self) -> Vec<String> {
        self.reap_exited()
            .into_iter()
            .filter_map(|(name, status)| {
                let spec = self.spec(&name).ok()?;
                Some(format!(
                    "node {name} exited ({status}); log {}:\n{}",
                    spec.log().display(),
                    self.tail(spec, 8)
                ))
            })
            .collect()
    }

    /// Nodes whose process has exited on its own, each with how it ended; they are
    /// reaped and forgotten, so [`Nodes::start`] may start them again.
    pub fn reap_exited(&self) -> Vec<(String, nemesis::Exit)> {
        let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        procs.retain(|name, proc| match proc.try_wait() {
            Ok(Some(status)) => {
                out.push((name.clone(), status));
                false
            }
            _ => true,
        });
        out
    }

    /// Calls `probe` until it returns an answer (returned), a node exits (an error
    /// with its log tail), `timeout` passes or `cancel` is set.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        cancel: &AtomicBool,
        mut probe: impl FnMut() -> Option<String>,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if cancel.load(Ordering::Relaxed) {
                bail!("interrupted while waiting for {what}");
            }
            let exited = self.exited();
            if !exited.is_empty() {
                bail!(
                    "a node exited before a leader was elected:\n{}",
                    exited.join("\n")
                );
            }
            if let Some(answer) = probe() {
                return Ok(answer);
            }
            if Instant::now() >= deadline {
                let tails: Vec<String> = self
                    .specs
                    .iter()
                    .map(|s| format!("{}:\n{}", s.log().display(), self.tail(s, 4)))
                    .collect();
                bail!(
                    "no {what} within {:.0} s; the node logs end:\n{}",
                    timeout.as_secs_f64(),
                    tails.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills every node, unmounts their lazy filesystems, collects the logs of remote
    /// nodes and removes what the hosts' setup created (namespaces, bridge). Safe to
    /// call more than once.
    pub fn teardown(&self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        for spec in &self.specs {
            if let Err(e) = self.kill(&spec.name) {
                errors.push(format!("{e:#}"));
            }
        }
        let mut disks = self.disks.lock().unwrap_or_else(|p| p.into_inner());
        errors.extend(disks.unmount(&self.network));
        drop(disks);
        errors.extend(self.collect_logs());
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

/// The last `lines` lines of a log file on this machine (or a note that it cannot be
/// read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => nemesis::sys::last_lines(&text, lines),
        Err(e) => format!("  (cannot read: {e})"),
    }
}
