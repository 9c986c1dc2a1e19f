//! The adapter for etcd (Debian's `etcd-server` package, 3.4 or newer, or a user's own
//! build given with `--db-binary`).
//!
//! One member per host, bootstrapped statically: every member is started with the
//! same `--initial-cluster n1=http://IP:PEER,...`, `--initial-cluster-state new` and a
//! cluster token naming the run. Inside namespaces each member serves clients on
//! `IP:2379` and peers on `IP:2380`; on loopback it gets two free ports. Its data
//! directory (`nodes/nI/data`, mode 0700 as etcd asks) and log (`nodes/nI/node.log`,
//! zap's JSON lines on stderr) are in the run folder like raftkv's. A killed member is
//! restarted with the same command and data directory: etcd then rejoins from its own
//! write-ahead log and ignores the bootstrap flags. etcd fsyncs its log before
//! acknowledging, as raftkv does.
//!
//! etcd has no crash points and none of raftkv's bug switches: asking for either is
//! refused before anything starts. The leader is what the members' Maintenance.Status
//! agree on.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{bail, Context};
use nemesis::FaultKind;

use super::nodes::{CommandFn, NodeSpec, Nodes};
use super::{find_program, version_line, Db, DbKind, Running, Setup, Wants};
use crate::client::etcd::EtcdClients;

/// Client and peer port of every member inside its own namespace.
const NAMESPACE_PORTS: [u16; 2] = [2379, 2380];

/// etcd as `--db etcd`.
pub struct Etcd;

impl DbKind for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn check(&self, wants: &Wants) -> anyhow::Result<()> {
        if !wants.bugs.is_empty() {
            bail!(
                "etcd has no bug switches (--db-bug {} is raftkv's); run etcd without --db-bug",
                wants.bugs.join(", ")
            );
        }
        if wants.faults.contains(&FaultKind::Crash) {
            bail!(
                "etcd has no crash points, so the crash fault cannot run against it; \
                 choose --nemesis kill,pause,partition (or all)"
            );
        }
        Ok(())
    }

    fn default_binary(&self) -> anyhow::Result<PathBuf> {
        find_program("etcd").context(
            "etcd is not installed (no `etcd` on PATH): install Debian's etcd-server \
             (`apt-get install -y etcd-server`; scripts/setup.sh does it) or pass \
             --db-binary PATH",
        )
    }

    fn version(&self, binary: &Path) -> anyhow::Result<String> {
        // "etcd Version: 3.4.23" -> "etcd 3.4.23"
        let line = version_line(binary)?;
        Ok(match line.split_once("Version:") {
            Some((_, v)) => format!("etcd {}", v.trim()),
            None => line,
        })
    }

    /// Each member's command line and a private data directory; nothing runs yet.
    fn setup(&self, setup: Setup<'_>) -> anyhow::Result<Arc<dyn Db>> {
        let binary = setup.binary.clone();
        let extra = setup.node_args.clone();
        let token = format!("faultline-{}", setup.network.run_id());
        let command: CommandFn = Box::new(move |spec: &NodeSpec, all: &[NodeSpec]| {
            let initial = all
                .iter()
                .map(|s| format!("{}=http://{}", s.name, s.addr(1)))
                .collect::<Vec<_>>()
                .join(",");
            let client_url = format!("http://{}", spec.addr(0));
            let peer_url = format!("http://{}", spec.addr(1));
            let mut cmd = Command::new(&binary);
            cmd.arg("--name")
                .arg(&spec.name)
                .arg("--data-dir")
                .arg(spec.data())
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &token])
                .args(["--logger", "zap", "--log-outputs", "stderr"])
                .args(&extra);
            cmd
        });
        let nodes = Nodes::setup(
            setup.network,
            setup.nodes_dir,
            &NAMESPACE_PORTS,
            setup.ports,
            setup.binary,
            command,
        )?;
        for spec in nodes.specs() {
            std::fs::set_permissions(spec.data(), std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private", spec.data().display()))?;
        }
        let running = Running::new("etcd", nodes, EtcdClients::new, setup.runtime)?;
        Ok(Arc::new(running))
    }
}
