//! `faultline cluster`: starts a local raftkv cluster on loopback for a person to
//! play with (`faultline kv ...` against it); Ctrl-C stops it. Also the
//! [`LocalCluster`] helper that `faultline bench` uses.
//!
//! The cluster is there to play with failover, so a node that dies (say `kill -9` of
//! the pid it prints) is restarted on its own data and the rest keep running. A node
//! that exits on its own (not by a signal) within [`CRASH_LOOP`] of its start would
//! only fail again (a port in use, a broken data directory): it is reported with the
//! cause from its log and left down, and the command ends when no node is left. A node that cannot start says
//! why in one line, e.g. "node n1 cannot listen on 127.0.0.1:7001: address already in
//! use".

use std::fs::{File, OpenOptions};
use std::os::unix::process::ExitStatusExt;
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

/// A node that exits on its own sooner than this after its start is not restarted.
const CRASH_LOOP: Duration = Duration::from_secs(2);

/// Child node processes on loopback, killed when dropped.
pub struct LocalCluster {
    /// The nodes in name order (`None` once given up on).
    children: Vec<Option<Running>>,
    /// Client addresses, in name order.
    pub endpoints: Vec<String>,
    /// Where data directories and logs live.
    pub dir: PathBuf,
    /// The program started as `<exe> node ...`.
    exe: PathBuf,
    /// Seed of the nodes' Raft randomness.
    seed: u64,
}

/// One started node process.
struct Running {
    /// The process.
    child: Child,
    /// When it was started.
    started: Instant,
    /// Length of its log before it started: what it wrote comes after.
    log_from: u64,
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
        let mut cluster = LocalCluster {
            children: Vec::new(),
            endpoints,
            dir: dir.to_path_buf(),
            exe,
            seed,
        };
        for i in 0..nodes {
            let log = cluster.log_path(i);
            File::create(&log).with_context(|| format!("creating {}", log.display()))?;
            let node = cluster.spawn(i)?;
            cluster.children.push(Some(node));
        }
        Ok(cluster)
    }

    /// Starts node `i` (0-based) on its data directory, appending to its log.
    fn spawn(&self, i: usize) -> anyhow::Result<Running> {
        let peers: Vec<String> = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| format!("n{}={e}", i + 1))
            .collect();
        let name = format!("n{}", i + 1);
        let log_path = self.log_path(i);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let log_from = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = Command::new(&self.exe)
            .args([
                "node",
                "--id",
                &name,
                "--listen",
                &self.endpoints[i],
                "--peers",
                &peers.join(","),
                "--seed",
                &self.seed.to_string(),
            ])
            .arg("--data")
            .arg(self.dir.join(&name))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {name}"))?;
        Ok(Running {
            child,
            started: Instant::now(),
            log_from,
        })
    }

    /// The log file of node `i`.
    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{}.log", i + 1))
    }

    /// The pids of the running nodes, in name order.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.children
            .iter()
            .map(|c| c.as_ref().map(|r| r.child.id()))
            .collect()
    }

    /// Waits until some node reports itself leader; returns its address.
    pub async fn wait_for_leader(&mut self, timeout: Duration) -> anyhow::Result<String> {
        let client =
            KvClient::new(self.endpoints.clone(), 0)?.with_timeout(Duration::from_millis(200));
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(why) = self.exited() {
                bail!("{why}; the logs are in {}", self.dir.display());
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

    /// Describes the first node that exited, if any, with the cause from its log.
    pub fn exited(&mut self) -> Option<String> {
        (0..self.children.len()).find_map(|i| {
            let node = self.children[i].as_mut()?;
            let status = node.child.try_wait().ok().flatten()?;
            Some(self.exit_cause(i, status))
        })
    }

    /// Restarts every node that exited, or gives up on one that exited on its own
    /// within [`CRASH_LOOP`] of its start; says what it did, one line per node.
    pub fn supervise(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..self.children.len() {
            let Some(node) = self.children[i].as_mut() else {
                continue;
            };
            let Ok(Some(status)) = node.child.try_wait() else {
                continue;
            };
            let ran = node.started.elapsed();
            let cause = self.exit_cause(i, status);
            if status.signal().is_none() && ran < CRASH_LOOP {
                self.children[i] = None;
                out.push(format!(
                    "{cause} {:.1} s after it started; not restarting it",
                    ran.as_secs_f64()
                ));
                continue;
            }
            match self.spawn(i) {
                Ok(new) => {
                    let pid = new.child.id();
                    self.children[i] = Some(new);
                    out.push(format!("{cause}; restarted it (pid {pid})"));
                }
                Err(e) => {
                    self.children[i] = None;
                    out.push(format!("{cause}; restarting it failed: {e:#}"));
                }
            }
        }
        out
    }

    /// Whether some node is still running (or was restarted).
    pub fn any_running(&self) -> bool {
        self.children.iter().any(Option::is_some)
    }

    /// One line on why node `i` exited: "cannot listen on ADDR: address already in use"
    /// when its log says so, else its exit status and the last error line of its log.
    fn exit_cause(&self, i: usize, status: std::process::ExitStatus) -> String {
        let from = self.children[i].as_ref().map_or(0, |r| r.log_from);
        let log = std::fs::read(self.log_path(i)).unwrap_or_default();
        let log = String::from_utf8_lossy(log.get(from as usize..).unwrap_or_default());
        let last_error = log
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(str::trim);
        let name = format!("n{}", i + 1);
        match last_error {
            Some(l) if l.to_ascii_lowercase().contains("address already in use") => format!(
                "node {name} cannot listen on {}: address already in use",
                self.endpoints[i]
            ),
            Some(l) => format!("node {name} exited ({status}): {l}"),
            None => format!("node {name} exited ({status})"),
        }
    }

    /// Stops every node: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        for node in self.children.iter().flatten() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(node.child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for child in self.children.iter_mut().flatten().map(|n| &mut n.child) {
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

/// Runs the cluster until Ctrl-C (exit 0), or until no node is left (exit 3).
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
    let code = runtime.block_on(async {
        let leader = cluster.wait_for_leader(Duration::from_secs(10)).await?;
        let endpoints = cluster.endpoints.join(",");
        println!(
            "raftkv cluster of {} nodes is up; leader at {leader}",
            args.nodes
        );
        for (i, pid) in cluster.pids().iter().enumerate() {
            if let Some(pid) = pid {
                println!("  n{} at {} pid {pid}", i + 1, cluster.endpoints[i]);
            }
        }
        println!("data and logs: {}", dir.display());
        println!("try:  faultline kv --endpoints {endpoints} put k v");
        println!("      faultline kv --endpoints {endpoints} get k");
        println!("      faultline kv --endpoints {endpoints} status");
        println!("A killed node is restarted (try kill -9 on a pid). Ctrl-C stops the cluster.");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    for line in cluster.supervise() {
                        eprintln!("{line}");
                    }
                    if !cluster.any_running() {
                        eprintln!("no node is left running; stopping");
                        return anyhow::Ok(3);
                    }
                }
            }
        }
        anyhow::Ok(0)
    })?;
    cluster.stop();
    println!("cluster stopped");
    Ok(code)
}
