//! `faultline cluster`: starts a local raftkv cluster on loopback for a person to
//! play with (`faultline kv ...` against it); Ctrl-C stops it. The nodes are started
//! by the same adapter and spawner a test uses (`crate::db::local`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::db::local::{LocalCluster, LocalSpec};
use crate::db::Ports;

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

/// Runs the cluster until Ctrl-C.
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
    };
    let (cluster, leader) =
        LocalCluster::start(spec, runtime.handle().clone(), Duration::from_secs(10))?;
    let endpoints = cluster
        .db
        .nodes()
        .addrs(0)
        .into_iter()
        .map(|(_, addr)| addr)
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "raftkv cluster of {} nodes is up; leader {leader}",
        args.nodes
    );
    println!("data and logs: {}", dir.display());
    println!("try:  faultline kv --endpoints {endpoints} put k v");
    println!("      faultline kv --endpoints {endpoints} get k");
    println!("      faultline kv --endpoints {endpoints} status");
    println!("Ctrl-C stops the cluster.");
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let exited = cluster.db.nodes().exited();
        if !exited.is_empty() {
            eprintln!("{}\nstopping the cluster", exited.join("\n"));
            break;
        }
    }
    drop(cluster);
    println!("cluster stopped");
    Ok(0)
}
