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

use anyhow::Context;
use raftkv::server::bugs::Bug;

use super::nodes::{CommandFn, NodeSpec, Nodes};
use super::{Db, DbKind, Running, Setup, Wants};
use crate::client::raftkv::RaftkvClients;

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

    /// Each node's command line; nothing runs yet.
    fn setup(&self, setup: Setup<'_>) -> anyhow::Result<Arc<dyn Db>> {
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
        let running = Running::new("raftkv", nodes, RaftkvClients::new, setup.runtime)?;
        Ok(Arc::new(running))
    }
}
