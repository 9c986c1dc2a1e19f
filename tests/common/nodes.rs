//! Local `faultline node` processes for the end-to-end tests that drive raftkv nodes
//! one by one (kill one, restart it, read its log). The controller's own spawner
//! (`db::nodes`) lives in the binary crate, which integration tests cannot link, and
//! `faultline cluster` restarts nodes on its own, so these tests start the nodes here:
//! each on a free loopback port, with its log at `<dir>/nI.log` and its data under
//! `<dir>/nI`, killed when the [`LocalNodes`] is dropped whatever the test outcome.
//! [`LocalNodes::start_with_clocks`] gives every node a clock of its own (libfaketime,
//! `nemesis::clock`), which [`LocalNodes::set_clock`] moves.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use nemesis::clock::{self, ClockSetting};
use nemesis::{Journal, JOURNAL_FILE};

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
    /// With clocks of their own: libfaketime and the journal of the control files.
    clocks: Option<(PathBuf, Arc<Journal>)>,
}

impl LocalNodes {
    /// Starts `n` nodes `n1..=n`, each with `extra` options after the usual ones.
    pub fn start(n: usize, extra: &[&str]) -> LocalNodes {
        Self::start_nodes(n, extra, false)
    }

    /// Starts `n` nodes like [`LocalNodes::start`], each with libfaketime preloaded and
    /// its own clock control file, so that [`LocalNodes::set_clock`] moves its clock.
    pub fn start_with_clocks(n: usize, extra: &[&str]) -> LocalNodes {
        Self::start_nodes(n, extra, true)
    }

    /// Starts `n` nodes, with clocks of their own when `clocks`.
    fn start_nodes(n: usize, extra: &[&str], clocks: bool) -> LocalNodes {
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
        let dir = tempfile::tempdir().expect("a temporary folder");
        let clocks = clocks.then(|| {
            let library = clock::find_library().expect("libfaketime is installed");
            let journal = Journal::create(&dir.path().join(JOURNAL_FILE)).expect("a journal");
            (library, journal)
        });
        let mut nodes = LocalNodes {
            children: (0..n).map(|_| None).collect(),
            endpoints,
            peers,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            dir,
            clocks,
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
        if let Some((library, journal)) = &self.clocks {
            clock::preload(
                &mut command,
                library,
                &self.clock_file(i),
                clock::ClockSetting::REAL,
                journal,
            )
            .expect("preload libfaketime");
        }
        let child = command
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
        if let Some((_, journal)) = &self.clocks {
            clock::record_shared_memory(journal, child.id() as i32).expect("journal");
        }
        self.children[i] = Some(child);
    }

    /// Node `i`'s clock control file.
    pub fn clock_file(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{}.faketime.rc", i + 1))
    }

    /// Sets node `i`'s clock (it must have been started with a clock of its own).
    pub fn set_clock(&self, i: usize, setting: ClockSetting) {
        assert!(self.clocks.is_some(), "started without clocks of their own");
        let pid = self.children[i].as_ref().map(|c| c.id() as i32);
        clock::set(&self.clock_file(i), pid, setting).expect("write the clock control file");
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
        if let Some((_, journal)) = &self.clocks {
            // Removes the control files and the journal's index entry.
            let _ = journal.cleanup();
        }
    }
}
