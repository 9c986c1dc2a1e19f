//! `faultline cluster`: starts a local raftkv cluster on loopback for a person to
//! play with (`faultline kv ...` against it); Ctrl-C stops it. The nodes are started
//! by the same adapter and spawner a test uses (`crate::db::local`).
//!
//! The cluster is there to play with failover, so a node that dies (say `kill -9` of
//! the pid it prints) is restarted on its own data and the rest keep running. A node
//! that exits on its own (not by a signal) within [`CRASH_LOOP`] of its start would
//! only fail again (a port in use, a broken data directory): it is reported with the
//! end of its log and left down, and the command ends (exit 3) when no node is left.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::db::local::{LocalCluster, LocalSpec};
use crate::db::nodes::{log_tail, Nodes};
use crate::db::Ports;

/// A node that exits on its own sooner than this after its start is not restarted.
const CRASH_LOOP: Duration = Duration::from_secs(2);

/// Flags of `faultline cluster`.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Directory for the nodes' data and logs (default: raftkv-cluster-<pid> in the temp directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Port of the first node; node i listens on base-port + i - 1.
    #[arg(long, default_value_t = 7001)]
    pub base_port: u16,
    /// Seed of the nodes' Raft randomness.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs the cluster until Ctrl-C (exit 0), or until no node is left (exit 3).
pub fn run(args: ClusterArgs) -> anyhow::Result<u8> {
    if args.nodes == 0 {
        anyhow::bail!("--nodes must be at least 1");
    }
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("raftkv-cluster-{}", std::process::id()))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let spec = LocalSpec {
        kind: crate::db::kind("raftkv")?,
        nodes: args.nodes,
        dir: &dir,
        ports: Ports::From(args.base_port),
        binary: None,
        seed: args.seed,
        lazyfs: false,
    };
    let (cluster, leader) =
        LocalCluster::start(spec, runtime.handle().clone(), Duration::from_secs(10))?;
    let nodes = cluster.db.nodes();
    let addrs = nodes.addrs(0);
    println!(
        "raftkv cluster of {} nodes is up; leader {leader}",
        args.nodes
    );
    for (name, addr) in &addrs {
        if let Some(pid) = nodes.pid(name) {
            println!("  {name} at {addr} pid {pid}");
        }
    }
    let endpoints = addrs
        .iter()
        .map(|(_, addr)| addr.as_str())
        .collect::<Vec<_>>()
        .join(",");
    println!("data and logs: {}", dir.display());
    println!("try:  faultline kv --endpoints {endpoints} put k v");
    println!("      faultline kv --endpoints {endpoints} get k");
    println!("      faultline kv --endpoints {endpoints} status");
    println!("A killed node is restarted (try kill -9 on a pid). Ctrl-C stops the cluster.");
    let mut supervisor = Supervisor::new(nodes);
    let mut code = 0;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        for line in supervisor.restart_exited() {
            eprintln!("{line}");
        }
        if !supervisor.any_running() {
            eprintln!("no node is left running; stopping");
            code = 3;
            break;
        }
    }
    drop(cluster);
    println!("cluster stopped");
    Ok(code)
}

/// Restarts the nodes that die, and gives up on those that fail at once.
struct Supervisor<'a> {
    /// The cluster's nodes.
    nodes: &'a Nodes,
    /// When each node still looked after was last started.
    started: BTreeMap<String, Instant>,
}

impl<'a> Supervisor<'a> {
    /// Looks after every node, taken as started now.
    fn new(nodes: &'a Nodes) -> Supervisor<'a> {
        let now = Instant::now();
        let started = nodes.names().into_iter().map(|n| (n, now)).collect();
        Supervisor { nodes, started }
    }

    /// Restarts every node that exited, or gives up on one that exited on its own
    /// within [`CRASH_LOOP`] of its start; says what it did, one line per node.
    fn restart_exited(&mut self) -> Vec<String> {
        let mut said = Vec::new();
        for (name, status) in self.nodes.reap_exited() {
            let ran = self
                .started
                .get(&name)
                .map_or(Duration::ZERO, Instant::elapsed);
            let cause = format!("node {name} exited ({status})");
            if status.signal().is_none() && ran < CRASH_LOOP {
                self.started.remove(&name);
                let log = self.nodes.spec(&name).map(|s| s.log()).unwrap_or_default();
                said.push(format!(
                    "{cause} {:.1} s after it started; not restarting it; its log ends:\n{}",
                    ran.as_secs_f64(),
                    log_tail(&log, 4)
                ));
                continue;
            }
            match self.nodes.start(&name) {
                Ok(()) => {
                    self.started.insert(name.clone(), Instant::now());
                    let pid = self.nodes.pid(&name).unwrap_or_default();
                    said.push(format!("{cause}; restarted it (pid {pid})"));
                }
                Err(e) => {
                    self.started.remove(&name);
                    said.push(format!("{cause}; restarting it failed: {e:#}"));
                }
            }
        }
        said
    }

    /// Whether some node is still looked after.
    fn any_running(&self) -> bool {
        !self.started.is_empty()
    }
}
