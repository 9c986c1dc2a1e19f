//! Shared helpers of the nemesis integration tests: a small cluster of shell
//! "nodes" implementing `ClusterControl`, and the root/iptables check.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nemesis::{
    ClusterControl, CrashPoint, Host, HostMode, Journal, Nemesis, NemesisConfig, NemesisHandle,
    NemesisOp, Network, NodeProcess, JOURNAL_FILE,
};

/// True when the test can use namespaces and iptables; otherwise fails under
/// `CI=true` and says why it is skipped elsewhere (see [`nemesis::test_can_run`]).
pub fn can_use_namespaces() -> bool {
    use nemesis::Need;
    nemesis::test_can_run(&[
        Need::Root,
        Need::Program("ip"),
        Need::Program("iptables"),
        Need::Namespaces,
    ])
}

/// A node program that writes an increasing counter to `file` every 20 ms.
pub fn counter_command(file: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("i=0; while :; do i=$((i+1)); echo $i > \"$1\"; sleep 0.02; done")
        .arg("counter")
        .arg(file);
    cmd
}

/// Reads the counter a `counter_command` node writes (0 before its first write).
pub fn read_counter(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A cluster of counter processes, one per host.
pub struct TestCluster {
    /// The run folder.
    pub dir: PathBuf,
    /// The network (loopback or namespaces).
    pub network: Network,
    /// The current process of each node.
    pub procs: Mutex<BTreeMap<String, NodeProcess>>,
    /// Restarts performed through `ClusterControl::restart`.
    pub restarts: AtomicUsize,
    /// The node `leader()` reports; `None` reports no leader. See also
    /// [`TestCluster::lowest_running_leads`].
    pub leader: Mutex<Option<String>>,
    /// When set, `leader()` reports the first node (in name order) whose process
    /// runs, as if the others elected one of them whenever the leader died.
    pub lowest_running_leads: AtomicBool,
    /// Set by [`TestCluster::simulate_crash`]: dropping leaves everything behind.
    crashed: AtomicBool,
    /// Nodes whose process "reaches" any crash point as soon as it is armed: the
    /// counter program has no crash points, so arming one SIGKILLs it at once.
    pub crash_at_once: Mutex<Vec<String>>,
    /// Nodes whose arming answer is lost: `set_crash_point` does its work, then
    /// returns an error, as when the node died while answering.
    pub crash_answer_lost: Mutex<Vec<String>>,
    /// Every `set_crash_point` call: node, point name, armed.
    pub crash_calls: Mutex<Vec<(String, String, bool)>>,
    /// Every `disk` call, with whether the node ran at the time. An armed fsync EIO
    /// SIGKILLs the node at once, as a store that exits on a failed fsync would.
    pub disk_calls: Mutex<Vec<(String, nemesis::DiskRequest, bool)>>,
}

impl TestCluster {
    /// Starts `n` counter nodes in `mode` with a journal in `dir`.
    pub fn start(dir: &Path, n: usize, mode: HostMode) -> Arc<TestCluster> {
        let journal = Journal::create(&dir.join(JOURNAL_FILE)).expect("journal");
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let network = Network::create(journal, &names, mode).expect("network");
        let cluster = TestCluster {
            dir: dir.to_path_buf(),
            network,
            procs: Mutex::new(BTreeMap::new()),
            restarts: AtomicUsize::new(0),
            leader: Mutex::new(Some("n1".into())),
            lowest_running_leads: AtomicBool::new(false),
            crashed: AtomicBool::new(false),
            crash_at_once: Mutex::new(Vec::new()),
            crash_answer_lost: Mutex::new(Vec::new()),
            crash_calls: Mutex::new(Vec::new()),
            disk_calls: Mutex::new(Vec::new()),
        };
        for name in &names {
            let p = cluster.spawn(name);
            cluster.procs.lock().unwrap().insert(name.clone(), p);
        }
        Arc::new(cluster)
    }

    /// The counter file of a node.
    pub fn counter_file(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.count"))
    }

    /// Starts a node's process on its host.
    fn spawn(&self, node: &str) -> NodeProcess {
        let host: &Host = self.network.host(node).expect("known node");
        host.spawn(
            counter_command(&self.counter_file(node)),
            &self.dir.join(format!("{node}.log")),
        )
        .expect("spawn")
    }

    /// Makes the next drop behave like a controller killed with SIGKILL: nothing is
    /// healed, killed or removed (the journal lock is still released).
    pub fn simulate_crash(&self) {
        self.crashed.store(true, Ordering::SeqCst);
    }

    /// Kills every node process.
    pub fn kill_all(&self) {
        for p in self.procs.lock().unwrap().values_mut() {
            p.kill().expect("kill");
        }
    }
}

impl Drop for TestCluster {
    /// A failing test still removes what it started.
    fn drop(&mut self) {
        if !self.crashed.load(Ordering::SeqCst) {
            for p in self.procs.get_mut().unwrap().values_mut() {
                let _ = p.kill();
            }
            let _ = self.network.teardown();
        }
    }
}

/// The operations a test nemesis reported, in order.
pub type OpLog = Arc<Mutex<Vec<NemesisOp>>>;

/// Starts a nemesis with `config` on `cluster`; its operations gather in the log.
pub fn start_nemesis(cluster: &Arc<TestCluster>, config: NemesisConfig) -> (NemesisHandle, OpLog) {
    let ops = OpLog::default();
    let sink_ops = Arc::clone(&ops);
    let control: Arc<dyn ClusterControl> = cluster.clone();
    let handle = Nemesis::start(
        config,
        control,
        cluster.network.journal().clone(),
        Box::new(move |op| sink_ops.lock().unwrap().push(op)),
    );
    (handle, ops)
}

/// Bound of every wait for a condition: generous, so that a loaded machine only makes
/// a test slower, never failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `cond` every 10 ms for up to [`PATIENCE`]; true as soon as it holds.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl ClusterControl for TestCluster {
    fn nodes(&self) -> Vec<String> {
        self.network
            .hosts()
            .iter()
            .map(|h| h.node.clone())
            .collect()
    }
    fn pid(&self, node: &str) -> Option<i32> {
        self.procs.lock().unwrap().get(node).map(NodeProcess::pid)
    }
    fn ip(&self, node: &str) -> Option<IpAddr> {
        self.network.host(node).map(|h| h.ip)
    }
    fn host(&self, node: &str) -> Option<nemesis::Host> {
        self.network.host(node).cloned()
    }
    fn restart(&self, node: &str) -> Result<(), String> {
        let mut procs = self.procs.lock().unwrap();
        let old = procs.get_mut(node).ok_or("unknown node")?;
        old.wait().map_err(|e| e.to_string())?;
        let new = self.spawn(node);
        procs.insert(node.to_string(), new);
        self.restarts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn leader(&self) -> Option<String> {
        if self.lowest_running_leads.load(Ordering::SeqCst) {
            let mut nodes = self.nodes();
            nodes.sort();
            return nodes
                .into_iter()
                .find(|node| self.pid(node).is_some_and(nemesis::process::is_running));
        }
        self.leader.lock().unwrap().clone()
    }
    fn set_crash_point(
        &self,
        node: &str,
        point: CrashPoint,
        armed_for: Option<Duration>,
    ) -> Result<(), String> {
        let armed = armed_for.is_some();
        self.crash_calls
            .lock()
            .unwrap()
            .push((node.to_string(), point.name().to_string(), armed));
        if armed && self.crash_at_once.lock().unwrap().iter().any(|n| n == node) {
            let pid = self.pid(node).ok_or("not running")?;
            nemesis::process::send_signal(pid, nix::sys::signal::Signal::SIGKILL)
                .map_err(|e| e.to_string())?;
        }
        if self
            .crash_answer_lost
            .lock()
            .unwrap()
            .iter()
            .any(|n| n == node)
        {
            return Err("transport error: broken pipe".into());
        }
        Ok(())
    }
    fn disk(&self, node: &str, request: nemesis::DiskRequest) -> Result<serde_json::Value, String> {
        use nemesis::DiskRequest;
        let pid = self.pid(node).ok_or("not running")?;
        let running = nemesis::process::is_running(pid);
        self.disk_calls
            .lock()
            .unwrap()
            .push((node.to_string(), request, running));
        Ok(match request {
            DiskRequest::LoseUnsynced | DiskRequest::Torn(_) => {
                serde_json::json!({ "bytes": 7, "files": ["wal"], "names": [] })
            }
            DiskRequest::FsyncEio => {
                nemesis::process::send_signal(pid, nix::sys::signal::Signal::SIGKILL)
                    .map_err(|e| e.to_string())?;
                serde_json::json!({ "armed": true })
            }
            DiskRequest::Disarm => serde_json::json!({ "was_armed": false }),
        })
    }
}
