//! Local `faultline node` processes for the end-to-end tests that drive raftkv nodes
//! one by one (kill one, restart it, read its log). The controller's own spawner
//! (`db::nodes`) lives in the binary crate, which integration tests cannot link, and
//! `faultline cluster` restarts nodes on its own, so these tests start the nodes here:
//! each on a free loopback port, with its log at `<dir>/nI.log` and its data under
//! `<dir>/nI`, killed when the [`LocalNodes`] is dropped whatever the test outcome.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The node processes of one raftkv cluster on loopback.
pub struct LocalNodes {
    /// Running nodes by index (`None` while killed).
    pub children: Vec<Option<Child>>,
    /// Each node's client address, `127.0.0.1:PORT`.
    pub endpoints: Vec<String>,
    /// `--peers` value.
    peers: String,
    /// Options added to every node's command line.
    extra: Vec<String>,
    /// Root of the logs and data directories.
    dir: tempfile::TempDir,
}

impl LocalNodes {
    /// Starts `n` nodes `n1..=n`, each with `extra` options after the usual ones.
    pub fn start(n: usize, extra: &[&str]) -> LocalNodes {
        assert!(n > 0, "a cluster has at least one node");
        let endpoints: Vec<String> = nemesis::free_loopback_ports(n)
            .expect("free loopback ports")
            .into_iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let peers = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| format!("n{}={e}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = LocalNodes {
            children: (0..n).map(|_| None).collect(),
            endpoints,
            peers,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        for i in 0..n {
            nodes.spawn(i);
        }
        nodes
    }

    /// Starts node `i` (0-based; again after a kill, from its data directory), seeded
    /// with its index.
    pub fn spawn(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "n{} is already running", i + 1);
        let name = format!("n{}", i + 1);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .expect("open the node's log");
        let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["node", "--id", &name, "--listen", &self.endpoints[i]])
            .args(["--peers", &self.peers, "--seed", &i.to_string()])
            .arg("--data")
            .arg(self.dir.path().join(&name))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start faultline node");
        self.children[i] = Some(child);
    }

    /// Kills node `i` with SIGKILL and reaps it.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("node is running");
        child.kill().expect("SIGKILL the node");
        child.wait().expect("reap the node");
    }

    /// Node `i`'s log so far (empty when it wrote none).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("n{}.log", i + 1))).unwrap_or_default()
    }

    /// Every node's log, each under a `--- nI` heading (for failure messages).
    pub fn logs(&self) -> String {
        (0..self.children.len())
            .map(|i| format!("--- n{}\n{}", i + 1, self.log(i)))
            .collect()
    }

    /// The folder holding the nodes' logs and data directories.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LocalNodes {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
