//! Lazy filesystems under the nodes' data directories, for the disk fault (and for
//! `faultline bench --lazyfs`): any store with a data directory gets them, without
//! knowing.
//!
//! For each node, before it first starts: the mount is journaled
//! ([`nemesis::Action::Mount`]), then `faultline lazyfs --backing <dir>/disk --mount
//! <dir>/data --control <dir>/lazyfs.sock` is started on the node's host (journaled as
//! a process, its log in `<dir>/lazyfs.log`) and waited for until the mount shows in
//! `/proc/self/mountinfo`. The node then writes into `data/` as usual; what would
//! survive a power loss is in `disk/`. At teardown, after the nodes are killed, each
//! mount is detached, its server stopped (SIGTERM, then SIGKILL if it lingers) and the
//! journal records both undone; a run that dies first leaves them to `faultline
//! cleanup`, which kills the node, then the server, then unmounts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nemesis::{Action, DiskRequest, Network, NodeProcess};

use super::nodes::{log_tail, NodeSpec};

/// How long a server may take to mount.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One node's mounted lazy filesystem.
struct Mounted {
    /// The node's data directory, where it is mounted.
    mountpoint: PathBuf,
    /// Its control socket.
    socket: PathBuf,
    /// The `faultline lazyfs` process serving it.
    server: NodeProcess,
    /// The journal record of the mount.
    journal_id: u64,
}

/// The lazy filesystems of a store's nodes, by node name.
#[derive(Default)]
pub struct Disks {
    /// The mounts.
    mounts: BTreeMap<String, Mounted>,
}

impl Disks {
    /// Mounts a lazy filesystem over each node's data directory (the nodes must not
    /// run yet). On error, what was mounted so far is in the returned error's wake:
    /// the caller's teardown (or the journal) removes it, so `into` collects them.
    pub fn mount(network: &Network, specs: &[NodeSpec], into: &mut Disks) -> anyhow::Result<()> {
        let program = std::env::current_exe().context("locating the faultline binary")?;
        for spec in specs {
            let host = network
                .host(&spec.name)
                .with_context(|| format!("no host for node {}", spec.name))?;
            if host.ssh.is_some() {
                bail!(
                    "node {}: the lazy filesystem runs on this machine only, not on SSH hosts",
                    spec.name
                );
            }
            let mountpoint = std::path::absolute(spec.data())
                .with_context(|| format!("resolving {}", spec.data().display()))?;
            let socket = spec.dir.join("lazyfs.sock");
            let log = spec.dir.join("lazyfs.log");
            let journal_id = network.journal().record(Action::Mount {
                path: mountpoint.clone(),
                label: spec.name.clone(),
            })?;
            let mut cmd = Command::new(&program);
            cmd.arg("lazyfs")
                .arg("--backing")
                .arg(spec.dir.join("disk"))
                .arg("--mount")
                .arg(&mountpoint)
                .arg("--control")
                .arg(&socket);
            let server = host
                .spawn(cmd, &log)
                .with_context(|| format!("starting the lazy filesystem of node {}", spec.name))?;
            into.mounts.insert(
                spec.name.clone(),
                Mounted {
                    mountpoint: mountpoint.clone(),
                    socket: socket.clone(),
                    server,
                    journal_id,
                },
            );
            let deadline = Instant::now() + MOUNT_TIMEOUT;
            while !(nemesis::disk::is_mounted(&mountpoint) && socket.exists()) {
                let mounted = into.mounts.get_mut(&spec.name).expect("just inserted");
                if let Ok(Some(exit)) = mounted.server.try_wait() {
                    bail!(
                        "the lazy filesystem of node {} exited ({exit}); {}:\n{}",
                        spec.name,
                        log.display(),
                        log_tail(&log, 8)
                    );
                }
                if Instant::now() >= deadline {
                    bail!(
                        "the lazy filesystem of node {} did not mount within {} s; {}:\n{}",
                        spec.name,
                        MOUNT_TIMEOUT.as_secs(),
                        log.display(),
                        log_tail(&log, 8)
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Sends `request` to the node's filesystem and returns its answer.
    pub fn request(&self, node: &str, request: DiskRequest) -> Result<serde_json::Value, String> {
        let mounted = self
            .mounts
            .get(node)
            .ok_or_else(|| format!("node {node} has no lazy filesystem"))?;
        let command = match request {
            DiskRequest::LoseUnsynced => lazyfs::Command::LoseUnsynced,
            DiskRequest::Torn(keep) => lazyfs::Command::Torn(keep),
            DiskRequest::FsyncEio => lazyfs::Command::FsyncEio,
            DiskRequest::Disarm => lazyfs::Command::Disarm,
        };
        lazyfs::request(&mounted.socket, command)
    }

    /// Unmounts every filesystem and stops its server (the nodes must be dead);
    /// returns what could not be undone.
    pub fn unmount(&mut self, network: &Network) -> Vec<String> {
        let mut errors = Vec::new();
        for (node, mut m) in std::mem::take(&mut self.mounts) {
            if let Err(e) = nemesis::disk::unmount(&m.mountpoint) {
                errors.push(format!("node {node}: {e}"));
                continue;
            }
            if matches!(m.server.try_wait(), Ok(None)) {
                let _ = nemesis::process::send_signal(m.server.pid(), nix::sys::signal::SIGTERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while !matches!(m.server.try_wait(), Ok(Some(_)) | Err(_)) {
                if Instant::now() >= deadline {
                    if let Err(e) = m.server.kill() {
                        errors.push(format!("node {node}: stopping its lazy filesystem: {e}"));
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Err(e) = network.journal().undone(m.journal_id) {
                errors.push(format!("node {node}: {e}"));
            }
        }
        errors
    }
}
