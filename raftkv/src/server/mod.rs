//! The node runtime around the pure Raft core: storage IO, the gRPC services for
//! clients and peers, timers and snapshots.
//!
//! One task ([`node`]) owns the `RaftNode`, the [`Storage`](crate::storage::Storage)
//! and the [`KvStore`](state_machine::KvStore). Everything else talks to it through
//! a channel of events: client writes and reads (from [`service`]), message
//! batches from peers (also [`service`]), and its own ticks. After each batch of
//! events it drains the core's `Ready`:
//!
//! 1. a received snapshot is made durable and loaded into the state machine;
//! 2. hard state and new entries are appended to the WAL with one fsync (group
//!    commit: every proposal gathered in the batch shares it);
//! 3. only then are the outgoing messages handed to the peer senders ([`peers`]);
//! 4. committed entries are applied in order and the waiting clients answered;
//! 5. ReadIndex reads are served once the applied index reaches their read index.
//!
//! Every 10,000 applied entries (configurable) the state machine is snapshotted,
//! the snapshot made durable, the WAL compacted and the core told to `compact`.
//!
//! Nodes are named (`n1`, `n2`, ...); the core's numeric ids are the positions of
//! the names in the sorted peer list (1-based), identical on every node that is
//! given the same peer list, across restarts ([`Cluster`]).
//!
//! Clients may talk to any node: a follower that knows the leader forwards
//! linearizable reads and writes to it once ([`forward`], as etcd does); a node that
//! knows no leader answers FAILED_PRECONDITION "not leader", with the leader's name
//! and address in the `leader-id` / `leader-addr` trailing metadata when it can
//! name one (see `proto/kv.proto`).

pub mod bugs;
pub mod crash;
pub mod forward;
pub mod node;
pub mod peers;
pub mod service;
pub mod state_machine;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::raft::NodeId;
use crate::storage::codec::DecodeError;
use crate::storage::StorageError;

/// A failure that stops a node.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing the data directory failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A snapshot on disk or from the leader does not decode.
    #[error("snapshot does not decode: {0}")]
    Snapshot(#[from] DecodeError),
    /// The listen address could not be bound (in use, not local, not permitted).
    #[error("cannot listen on {0}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// Serving the listen address failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's name (must appear in `peers`).
    pub name: String,
    /// Address to serve the client API and the peer RPC on.
    pub listen: SocketAddr,
    /// Every voter (this node included) as `(name, address)`; the address is
    /// where the others (and clients following leader hints) reach it.
    pub peers: Vec<(String, String)>,
    /// Data directory (WAL and snapshot).
    pub data_dir: PathBuf,
    /// Seed of the core's randomness (mixed with the node id).
    pub seed: u64,
    /// Length of one tick.
    pub tick: Duration,
    /// Election timeout; the core randomizes it in `[e, 2e)`.
    pub election_timeout: Duration,
    /// Leader heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Snapshot and compact after this many applied entries.
    pub snapshot_every: u64,
    /// How long a client request may wait inside the node before it is answered
    /// DEADLINE_EXCEEDED (a write's outcome is then unknown).
    pub request_timeout: Duration,
    /// Deliberate bugs switched on (none by default; see [`bugs`]).
    pub bugs: bugs::BugSet,
}

impl NodeConfig {
    /// A configuration with the default timing: 10 ms ticks, 150 ms election
    /// timeout (randomized to 150–300 ms), 50 ms heartbeats, snapshots every
    /// 10,000 entries.
    pub fn new(
        name: String,
        listen: SocketAddr,
        peers: Vec<(String, String)>,
        data_dir: PathBuf,
    ) -> NodeConfig {
        NodeConfig {
            name,
            listen,
            peers,
            data_dir,
            seed: 0,
            tick: Duration::from_millis(10),
            election_timeout: Duration::from_millis(150),
            heartbeat_interval: Duration::from_millis(50),
            snapshot_every: 10_000,
            request_timeout: Duration::from_secs(10),
            bugs: bugs::BugSet::default(),
        }
    }
}

/// The names, ids and addresses of the voters.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// This node's id.
    pub self_id: NodeId,
    /// `(name, address)` by id.
    pub members: BTreeMap<NodeId, (String, String)>,
}

impl Cluster {
    /// Assigns ids 1..=N to the peer names in sorted order.
    pub fn new(self_name: &str, peers: &[(String, String)]) -> Result<Cluster, ServerError> {
        let mut sorted: Vec<(String, String)> = peers.to_vec();
        sorted.sort();
        for pair in sorted.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(ServerError::Config(format!(
                    "peer {} is listed twice",
                    pair[0].0
                )));
            }
        }
        let members: BTreeMap<NodeId, (String, String)> = sorted
            .into_iter()
            .enumerate()
            .map(|(i, p)| (i as NodeId + 1, p))
            .collect();
        let self_id = members
            .iter()
            .find(|(_, (name, _))| name == self_name)
            .map(|(id, _)| *id)
            .ok_or_else(|| {
                ServerError::Config(format!("node {self_name} is not in the peer list"))
            })?;
        Ok(Cluster { self_id, members })
    }

    /// The name of node `id`.
    pub fn name(&self, id: NodeId) -> Option<&str> {
        self.members.get(&id).map(|(name, _)| name.as_str())
    }

    /// The address of node `id`.
    pub fn addr(&self, id: NodeId) -> Option<&str> {
        self.members.get(&id).map(|(_, addr)| addr.as_str())
    }
}

/// Parses `n1=host:port,n2=host:port,...`.
pub fn parse_peers(spec: &str) -> Result<Vec<(String, String)>, ServerError> {
    spec.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (name, addr) = part.trim().split_once('=').ok_or_else(|| {
                ServerError::Config(format!("peer {part:?} is not NAME=HOST:PORT"))
            })?;
            if name.is_empty() || !addr.contains(':') {
                return Err(ServerError::Config(format!(
                    "peer {part:?} is not NAME=HOST:PORT"
                )));
            }
            Ok((name.to_string(), addr.to_string()))
        })
        .collect()
}

/// Runs a node until `shutdown` resolves, then stops serving and returns.
pub async fn run(
    config: NodeConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    node::run(config, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_sorted_names_regardless_of_order() {
        let a = parse_peers("n2=h:2,n1=h:1,n3=h:3").unwrap();
        let b = parse_peers("n3=h:3,n1=h:1,n2=h:2").unwrap();
        let ca = Cluster::new("n2", &a).unwrap();
        let cb = Cluster::new("n2", &b).unwrap();
        assert_eq!(ca.self_id, 2);
        assert_eq!(ca.members, cb.members);
        assert_eq!(ca.name(1), Some("n1"));
        assert_eq!(ca.addr(3), Some("h:3"));
        assert!(Cluster::new("n9", &a).is_err());
        assert!(Cluster::new("n1", &parse_peers("n1=h:1,n1=h:2").unwrap()).is_err());
        assert!(parse_peers("n1").is_err());
        assert!(parse_peers("n1=nohostport").is_err());
    }
}
