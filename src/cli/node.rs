//! `faultline node`: runs one raftkv node (the bundled Raft key-value server).
//!
//! The listen address serves both the client API and the peer RPC. Node names
//! in `--peers` map to the Raft core's ids by sorted order, so every node must
//! be given the same peer list. SIGTERM or SIGINT stops the node cleanly (all
//! acknowledged state is already fsynced); SIGKILL is also safe, by design.
//!
//! `--bug NAME` (repeatable) switches on a deliberate bug, so that faultline can
//! prove it catches the anomaly; the switches are documented in
//! `raftkv::server::bugs` and listed in `faultline node --help`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use raftkv::server::bugs::{Bug, BugSet};
use raftkv::server::{self, NodeConfig};

/// Flags of `faultline node`.
#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// This node's name; must appear in --peers.
    #[arg(long)]
    pub id: String,
    /// Address to serve clients and peers on (e.g. 0.0.0.0:7001 or 10.0.0.2:7001).
    #[arg(long)]
    pub listen: String,
    /// All nodes, this one included: n1=HOST:PORT,n2=HOST:PORT,...
    #[arg(long)]
    pub peers: String,
    /// Data directory for the write-ahead log and snapshots (created if missing).
    #[arg(long)]
    pub data: PathBuf,
    /// Seed of the Raft core's randomness (election timeouts); mixed with the node id.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Length of one Raft tick (plain numbers are milliseconds; 10ms, 0.5s also work).
    #[arg(long, default_value = "10", value_parser = super::units::parse_millis)]
    pub tick_ms: u64,
    /// Election timeout, randomized to [e, 2e) (plain numbers are milliseconds).
    #[arg(long, default_value = "150", value_parser = super::units::parse_millis)]
    pub election_ms: u64,
    /// Leader heartbeat interval (plain numbers are milliseconds).
    #[arg(long, default_value = "50", value_parser = super::units::parse_millis)]
    pub heartbeat_ms: u64,
    /// Snapshot the state machine and compact the log every this many applied entries.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// Switch on a deliberate bug (repeatable; all off by default). The node is then
    /// NOT safe: these exist to prove that faultline catches them.
    #[arg(long = "bug", value_name = "NAME", long_help = BUG_HELP)]
    pub bugs: Vec<Bug>,
}

/// `--help` text of `--bug`.
const BUG_HELP: &str = "Switch on a deliberate bug (repeatable; all off by default). \
The node is then NOT safe: these exist to prove that faultline catches them.
  stale-read              any node answers linearizable reads from its local state, \
without ReadIndex (stale reads)
  leader-local-read       the leader answers reads without confirming it still leads \
(stale reads from a deposed leader)
  ack-before-commit       the leader acknowledges a put/append once it is in its own log, \
before a quorum has it (lost writes)
  vote-without-log-check  votes are granted without the up-to-date-log rule, and followers \
let a leader overwrite committed entries (a stale leader erases them: lost writes)
  forget-vote             term and vote are not persisted, so a restarted node may vote \
twice in one term (two leaders of one term; exposed by the after-vote crash point)
  commit-old-term         a leader commits earlier-term entries by counting replicas and \
appends no no-op when elected (Raft Figure 8; exposed by the after-append crash point)
  no-dedup                retried writes are applied again (duplicates)
  skip-fsync              log appends are written but not fsynced before acknowledging \
(lost writes after a power loss: the disk:lose-unsynced fault)
  skip-dir-sync           snapshots and compacted logs are renamed into place without \
fsyncing the directory (the log reverts to before the last compaction after a power loss)
  lease-read              the leader serves reads from a lease (election timeout, on its \
own clock, no allowance for drift) instead of a ReadIndex round, and trusts it after a newer \
leader appears (stale reads when clocks disagree; exposed by clock faults on a leader that is cut off)";

/// Runs the node until SIGTERM or SIGINT.
pub fn run(args: NodeArgs) -> anyhow::Result<u8> {
    init_logging();
    let listen = resolve(&args.listen).with_context(|| format!("--listen {}", args.listen))?;
    let peers = server::parse_peers(&args.peers).context("--peers")?;
    if args.tick_ms == 0
        || args.heartbeat_ms < args.tick_ms
        || args.election_ms <= args.heartbeat_ms
    {
        bail!("need 0 < --tick-ms <= --heartbeat-ms < --election-ms");
    }
    let mut config = NodeConfig::new(args.id, listen, peers, args.data);
    config.seed = args.seed;
    config.tick = Duration::from_millis(args.tick_ms);
    config.election_timeout = Duration::from_millis(args.election_ms);
    config.heartbeat_interval = Duration::from_millis(args.heartbeat_ms);
    config.snapshot_every = args.snapshot_every;
    config.bugs = BugSet::from_bugs(&args.bugs);
    if !args.bugs.is_empty() {
        tracing::warn!(bugs = ?args.bugs, "deliberate bugs switched on: this node is not safe");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        server::run(config, shutdown).await.context("raftkv node")
    })?;
    Ok(0)
}

/// Resolves `host:port` to one socket address.
fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .context("expected HOST:PORT")?
        .next()
        .context("the address resolved to nothing")
}

/// Logs to stderr with timestamps; `RUST_LOG` overrides the default `info` level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,h2=warn,tower=warn,hyper=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
