//! A store started on loopback outside a test: the cluster of `faultline cluster`
//! and the clusters `faultline bench` measures. The same setup step and spawner as a
//! test's (a cleanup journal in the folder, one process group per node, logs in
//! `<dir>/nodes/nI/node.log`); dropping it kills the nodes.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nemesis::{HostMode, Journal, Network, JOURNAL_FILE};

use super::{Db, DbKind, Ports, Setup};

/// A running local cluster; its nodes are killed when it is dropped.
pub struct LocalCluster {
    /// The store's nodes.
    pub db: Arc<dyn Db>,
    /// The store's version.
    pub version: String,
}

/// What to start.
pub struct LocalSpec<'a> {
    /// The store.
    pub kind: &'static dyn DbKind,
    /// Number of nodes.
    pub nodes: usize,
    /// Folder of the journal and the nodes' data and logs.
    pub dir: &'a Path,
    /// Where the ports come from.
    pub ports: Ports,
    /// The program the nodes run (`None`: the store's default).
    pub binary: Option<PathBuf>,
    /// Seed of the nodes' randomness.
    pub seed: u64,
    /// Whether the nodes' data directories are on lazy filesystems (`crate::db::disk`).
    pub lazyfs: bool,
}

impl LocalCluster {
    /// Starts the nodes and waits (up to `timeout`) until the cluster has a leader,
    /// which is returned too.
    pub fn start(
        spec: LocalSpec<'_>,
        runtime: tokio::runtime::Handle,
        timeout: Duration,
    ) -> anyhow::Result<(LocalCluster, String)> {
        let binary = match spec.binary {
            Some(binary) => binary,
            None => spec.kind.default_binary()?,
        };
        let version = spec.kind.version(&binary)?;
        std::fs::create_dir_all(spec.dir)
            .with_context(|| format!("creating {}", spec.dir.display()))?;
        let journal = Journal::create(&spec.dir.join(JOURNAL_FILE))
            .with_context(|| format!("creating the cleanup journal in {}", spec.dir.display()))?;
        let names: Vec<String> = (1..=spec.nodes).map(|i| format!("n{i}")).collect();
        let network = Arc::new(Network::create(journal, &names, HostMode::Loopback)?);
        let db = spec.kind.setup(Setup {
            network: network.clone(),
            nodes_dir: &spec.dir.join("nodes"),
            ports: spec.ports,
            binary,
            node_args: Vec::new(),
            bugs: Vec::new(),
            seed: spec.seed,
            runtime,
        });
        let db = match db {
            Ok(db) => db,
            Err(e) => {
                let _ = network.teardown();
                return Err(e);
            }
        };
        let cluster = LocalCluster { db, version };
        if spec.lazyfs {
            cluster.db.nodes().mount_lazyfs()?;
        }
        cluster.db.nodes().start_all()?;
        let leader = cluster.db.wait_ready(timeout, &AtomicBool::new(false))?;
        Ok((cluster, leader))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(e) = self.db.nodes().teardown() {
            eprintln!("faultline: {e:#}");
        }
    }
}
