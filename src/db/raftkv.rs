//! The adapter for raftkv, the bundled Raft key-value store.
//!
//! Each node is `<binary> node --id nI --listen ADDR --peers n1=ADDR,... --data DIR
//! --seed S [--bug NAME ...]`, one port per node (7000 inside each namespace). The
//! program is this faultline binary unless `--db-binary` names another. raftkv has
//! everything the nemesis can use: crash points (armed over its Crash RPC) and
//! deliberate bug switches; its Status RPC answers "who leads".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use raftkv::server::bugs::Bug;

use super::nodes::{CommandFn, NodeSpec, Nodes};
use super::{Db, DbKind, Setup, Wants};
use crate::client::raftkv::RaftkvClients;
use crate::client::{ClientOptions, Clients};

/// Port every node listens on inside its own namespace.
const NAMESPACE_PORT: u16 = 7000;

/// raftkv as `--db raftkv`.
pub struct Raftkv;

impl DbKind for Raftkv {
    fn name(&self) -> &'static str {
        "raftkv"
    }

    fn check(&self, wants: &Wants) -> anyhow::Result<()> {
        for bug in &wants.bugs {
            bug.parse::<Bug>()
                .map_err(|e| anyhow::anyhow!("--db-bug: {e}"))?;
        }
        Ok(())
    }

    fn default_binary(&self) -> anyhow::Result<PathBuf> {
        std::env::current_exe().context("locating the faultline binary")
    }

    fn version(&self, _binary: &Path) -> anyhow::Result<String> {
        Ok(format!("raftkv {}", env!("CARGO_PKG_VERSION")))
    }

    fn setup(&self, setup: Setup<'_>) -> anyhow::Result<Arc<dyn Db>> {
        Ok(Arc::new(RaftkvDb::setup(setup)?))
    }
}

/// raftkv nodes on the hosts of one run.
pub struct RaftkvDb {
    /// The node processes.
    nodes: Nodes,
    /// Status probes and crash points.
    probes: RaftkvClients,
    /// For blocking on probes from non-async threads.
    runtime: tokio::runtime::Handle,
}

impl RaftkvDb {
    /// Assigns addresses and creates each node's folder. Nothing runs yet.
    pub fn setup(setup: Setup<'_>) -> anyhow::Result<RaftkvDb> {
        let mut extra = setup.node_args.clone();
        for bug in &setup.bugs {
            extra.extend(["--bug".to_string(), bug.clone()]);
        }
        let binary = setup.binary.clone();
        let seed = setup.seed;
        let command: CommandFn = Box::new(move |spec: &NodeSpec, all: &[NodeSpec]| {
            let peers = all
                .iter()
                .map(|s| format!("{}={}", s.name, s.addr(0)))
                .collect::<Vec<_>>()
                .join(",");
            let mut cmd = Command::new(&binary);
            cmd.arg("node")
                .arg("--id")
                .arg(&spec.name)
                .arg("--listen")
                .arg(spec.addr(0).to_string())
                .arg("--peers")
                .arg(peers)
                .arg("--data")
                .arg(spec.data())
                .arg("--seed")
                .arg(seed.wrapping_add(spec.index as u64).to_string())
                .args(&extra);
            cmd
        });
        let nodes = Nodes::setup(
            setup.network,
            setup.nodes_dir,
            &[NAMESPACE_PORT],
            setup.ports,
            setup.binary,
            command,
        )?;
        let probes = {
            let _guard = setup.runtime.enter();
            RaftkvClients::new(&nodes.addrs(0), ClientOptions::probes())?
        };
        Ok(RaftkvDb {
            nodes,
            probes,
            runtime: setup.runtime,
        })
    }
}

impl Db for RaftkvDb {
    fn name(&self) -> &'static str {
        "raftkv"
    }

    fn nodes(&self) -> &Nodes {
        &self.nodes
    }

    fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    fn probes(&self) -> &dyn Clients {
        &self.probes
    }

    fn set_crash_point(
        &self,
        node: &str,
        point: nemesis::CrashPoint,
        armed_for: Option<Duration>,
    ) -> Result<(), String> {
        self.runtime.block_on(self.probes.set_crash_point(
            node,
            point.name(),
            armed_for,
            Duration::from_millis(500),
        ))
    }

    fn clients(&self, options: ClientOptions) -> anyhow::Result<Arc<dyn Clients>> {
        let _guard = self.runtime.enter();
        Ok(Arc::new(RaftkvClients::new(&self.nodes.addrs(0), options)?))
    }
}
