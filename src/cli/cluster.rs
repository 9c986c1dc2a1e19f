//! `faultline cluster`: starts a local raftkv cluster on loopback for a person to
//! play with (`faultline kv ...` against it); Ctrl-C stops it. Also the
//! [`LocalCluster`] helper that `faultline bench` uses.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use raftkv::client::KvClient;

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

/// Child node processes on loopback, killed when dropped.
pub struct LocalCluster {
    /// The running nodes, in name order.
    children: Vec<Child>,
    /// Client addresses, in name order.
    pub endpoints: Vec<String>,
    /// Where data directories and logs live.
    pub dir: PathBuf,
}

impl LocalCluster {
    /// Starts `nodes` nodes named n1..nN listening on the given ports.
    pub fn start(
        nodes: usize,
        ports: &[u16],
        dir: &Path,
        seed: u64,
    ) -> anyhow::Result<LocalCluster> {
        if nodes == 0 || nodes != ports.len() {
            bail!("need at least one node and one port per node");
        }
        let exe = std::env::current_exe().context("locating the faultline binary")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let endpoints: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let peers: Vec<String> = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| format!("n{}={e}", i + 1))
            .collect();
        let peers = peers.join(",");
        let mut cluster = LocalCluster {
            children: Vec::new(),
            endpoints: endpoints.clone(),
            dir: dir.to_path_buf(),
        };
        for (i, endpoint) in endpoints.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let log_path = dir.join(format!("{name}.log"));
            let log = File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?;
            let child = Command::new(&exe)
                .args([
                    "node",
                    "--id",
                    &name,
                    "--listen",
                    endpoint,
                    "--peers",
                    &peers,
                    "--seed",
                    &seed.to_string(),
                ])
                .arg("--data")
                .arg(dir.join(&name))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting node {name}"))?;
            cluster.children.push(child);
        }
        Ok(cluster)
    }

    /// Waits until some node reports itself leader; returns its address.
    pub async fn wait_for_leader(&mut self, timeout: Duration) -> anyhow::Result<String> {
        let client =
            KvClient::new(self.endpoints.clone(), 0)?.with_timeout(Duration::from_millis(200));
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(code) = self.exited() {
                bail!(
                    "a node exited early ({code}); see the logs in {}",
                    self.dir.display()
                );
            }
            for endpoint in &self.endpoints {
                if let Ok(status) = client.status(endpoint).await {
                    if status.role == "leader" {
                        return Ok(endpoint.clone());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "no leader elected within {timeout:?}; see the logs in {}",
            self.dir.display()
        )
    }

    /// Describes the first node that exited, if any.
    pub fn exited(&mut self) -> Option<String> {
        self.children.iter_mut().enumerate().find_map(|(i, child)| {
            child
                .try_wait()
                .ok()
                .flatten()
                .map(|status| format!("n{} {status}", i + 1))
        })
    }

    /// Stops every node: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        for child in &self.children {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for child in &mut self.children {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the cluster until Ctrl-C.
pub fn run(args: ClusterArgs) -> anyhow::Result<u8> {
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("raftkv-cluster-{}", std::process::id()))
    });
    let ports: Vec<u16> = (0..args.nodes)
        .map(|i| u16::try_from(usize::from(args.base_port) + i).context("--base-port too high"))
        .collect::<anyhow::Result<_>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut cluster = LocalCluster::start(args.nodes, &ports, &dir, args.seed)?;
    runtime.block_on(async {
        let leader = cluster.wait_for_leader(Duration::from_secs(10)).await?;
        let endpoints = cluster.endpoints.join(",");
        println!(
            "raftkv cluster of {} nodes is up; leader at {leader}",
            args.nodes
        );
        println!("data and logs: {}", dir.display());
        println!("try:  faultline kv --endpoints {endpoints} put k v");
        println!("      faultline kv --endpoints {endpoints} get k");
        println!("      faultline kv --endpoints {endpoints} status");
        println!("Ctrl-C stops the cluster.");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if let Some(exit) = cluster.exited() {
                        eprintln!("node {exit}; stopping the cluster");
                        break;
                    }
                }
            }
        }
        anyhow::Ok(())
    })?;
    cluster.stop();
    println!("cluster stopped");
    Ok(0)
}
