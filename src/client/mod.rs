//! The client side of a test: the [`Client`] of one logical process and the
//! [`Clients`] of one run, as every store implements them, and how every completion
//! is classified.
//!
//! A [`Client`] is one logical process bound to the cluster (as in Jepsen): it
//! performs the generated operations (read, write, cas, add) and classifies each
//! completion. The rule that makes a Jepsen tool trustworthy is the same for every
//! store, erring on the side of `info` because a `fail` that actually happened would
//! make the checker reject a correct history:
//!
//! - `ok`: the store answered that it happened (for a CAS: the expectation held);
//! - `fail`: it certainly had no effect, now or later: a CAS whose expectation did not
//!   hold, a request the store rejected before it could be proposed, or a request that
//!   never left this process (connection refused) until the deadline. A read that did
//!   not succeed is `fail` too: a read has no effect either way;
//! - `info`: anything else for a write: a timeout after the request was sent, a reset
//!   connection, "leader changed", unknown errors. The worker retires the process
//!   afterwards.
//!
//! A write whose node said nothing at all before the deadline (the client's own timer
//! ran out, no answer of any kind arrived) is an `info` with the reason [`UNANSWERED`]:
//! the node may be paused, and the generator has the successor open with a read that
//! waits for it (`workloads::generator::Outcome::Unanswered`). A node that is alive but
//! has no outcome answers so itself before the deadline (raftkv does,
//! `raftkv::client::ANSWER_MARGIN` ahead), which is an ordinary `info`.
//!
//! [`Clients`] makes clients and does the two things the controller needs outside the
//! main phase: waiting until every node has applied what was committed, and the
//! final read of a key on one given node. Each store's module (`raftkv`, `etcd`)
//! implements both traits; the controller in `crate::run` knows only these.

pub mod etcd;
pub mod raftkv;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use workloads::generator::OpSpec;
use workloads::history::Value;

/// A boxed future, so that the traits below can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How reads are served.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    /// Confirmed by the leader (raftkv's ReadIndex, etcd's default): checkable for
    /// linearizability.
    Linearizable,
    /// Served from the contacted node's local state; fast, may be stale.
    Serializable,
}

/// Which node a logical process sends its operations to.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClientRouting {
    /// Each process talks only to its own node (Jepsen's rule), which forwards to
    /// the leader or answers "not leader"; a deposed leader keeps its clients.
    #[default]
    NodeBound,
    /// Each process follows the leader the nodes name (the behaviour of results
    /// written before routing was recorded).
    FollowLeader,
}

impl ClientRouting {
    /// The routing of results written before routing was recorded.
    pub fn legacy() -> ClientRouting {
        ClientRouting::FollowLeader
    }

    /// The flag value (`node-bound`, `follow-leader`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClientRouting::NodeBound => "node-bound",
            ClientRouting::FollowLeader => "follow-leader",
        }
    }
}

/// The outcome of one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// It happened; the value is the read result (or `Null` for writes).
    Ok(Value),
    /// It certainly did not happen; the reason.
    Fail(String),
    /// Unknown whether it happened; the reason.
    Info(String),
}

/// The reason recorded for an operation whose node said nothing at all before the
/// deadline: the request went out and no answer came back (a paused node, say).
pub const UNANSWERED: &str = "no answer before the deadline";

impl Completion {
    /// A compare-and-set that compared and found another value than it expected: it
    /// wrote nothing, and the checkers read it as that observation
    /// ([`workloads::history::CAS_MISMATCH`]).
    pub fn cas_mismatch() -> Completion {
        Completion::Fail(workloads::history::CAS_MISMATCH.to_string())
    }

    /// An operation its node never answered before the deadline: `fail` for a read (it
    /// changes nothing either way), `info` for a write (it may still take effect).
    pub fn unanswered(is_read: bool) -> Completion {
        if is_read {
            Completion::Fail(UNANSWERED.to_string())
        } else {
            Completion::Info(UNANSWERED.to_string())
        }
    }

    /// Whether this is the `info` of a write its node never answered
    /// ([`Completion::unanswered`]).
    pub fn is_unanswered_write(&self) -> bool {
        matches!(self, Completion::Info(reason) if reason == UNANSWERED)
    }
}

/// How the clients of one run talk to the store.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// Connections per node shared by the logical processes (HTTP/2 multiplexes).
    pub channels_per_node: usize,
    /// How reads are served.
    pub reads: ReadConsistency,
    /// How long one operation may take in total, retries included.
    pub op_timeout: Duration,
    /// Which node a process talks to.
    pub routing: ClientRouting,
    /// Worker slots: a retired process `p` is succeeded by `p + slots`.
    pub slots: usize,
}

impl ClientOptions {
    /// The options of the controller's own probes (status, leader, crash points).
    pub fn probes() -> ClientOptions {
        ClientOptions {
            channels_per_node: 1,
            reads: ReadConsistency::Linearizable,
            op_timeout: Duration::from_secs(1),
            routing: ClientRouting::NodeBound,
            slots: 1,
        }
    }

    /// The node process `process` is bound to: its slot's node, so a retired
    /// process's successor (`process + slots`) stays on the same node.
    pub fn home(&self, process: u64, nodes: usize) -> usize {
        assert!(nodes > 0, "a cluster has nodes");
        (process as usize % self.slots.max(1)) % nodes
    }
}

/// One logical process's connection to the store.
pub trait Client: Send {
    /// Performs `op` and classifies its completion (see the module docs). A read's
    /// `Ok` carries the value read (`Null` when absent).
    fn invoke<'a>(&'a mut self, op: &'a OpSpec) -> BoxFuture<'a, Completion>;
}

/// The client side of one run: makes clients, and serves the controller's own reads.
pub trait Clients: Send + Sync {
    /// The client of logical process `process` (process ids are unique in a run).
    fn open(&self, process: u64) -> Box<dyn Client>;
    /// Number of nodes.
    fn node_count(&self) -> usize;
    /// The name of node `index`.
    fn node_name(&self, index: usize) -> String;
    /// The node the cluster reports as leader (each node asked within `timeout`);
    /// `None` when none is known.
    fn find_leader(&self, timeout: Duration) -> BoxFuture<'_, Option<String>>;
    /// Arms a crash point in node `node` for `armed_for`, or disarms it (`None`);
    /// `Err` says why not. A store without crash points keeps this refusal.
    fn set_crash_point<'a>(
        &'a self,
        node: &'a str,
        point: &'a str,
        armed_for: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), String>> {
        let _ = (node, point, armed_for);
        Box::pin(async { Err("this store has no crash points".to_string()) })
    }
    /// Waits until every node answers and has applied everything the most advanced
    /// node committed, or until `timeout`; returns whether they converged.
    fn wait_converged(&self, timeout: Duration) -> BoxFuture<'_, bool>;
    /// Performs `read` (an [`OpSpec::Read`] or [`OpSpec::ReadSet`]) on node `index`
    /// only, from its local state (final reads after recovery): a register's value, or
    /// a set's sorted elements as `Value::Ints`; anything undecodable as `Value::Json`.
    /// `Err` when the node did not answer.
    fn read_local<'a>(
        &'a self,
        index: usize,
        read: &'a OpSpec,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, String>>;
}

/// The gRPC endpoint of each of `nodes` (name, `host:port`), in order, for a store
/// client's constructor: nothing connects until first use (`connect_lazy`), a
/// connection attempt gives up after 500 ms. `Err` names a node whose address is bad.
pub fn endpoints(
    nodes: &[(String, String)],
    options: &ClientOptions,
) -> anyhow::Result<Vec<(String, tonic::transport::Endpoint)>> {
    assert!(!nodes.is_empty(), "a cluster has at least one node");
    assert!(
        options.channels_per_node > 0,
        "at least one channel per node"
    );
    nodes
        .iter()
        .map(|(name, addr)| {
            let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .with_context(|| format!("bad address {addr:?} for node {name}"))?
                .connect_timeout(Duration::from_millis(500))
                .tcp_nodelay(true);
            Ok((name.clone(), endpoint))
        })
        .collect()
}

/// One gRPC call of the controller's own (a probe, a final read) within `timeout`:
/// the response, or a short text of the error (`timed out` when it took too long).
pub async fn call<T>(
    timeout: Duration,
    request: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, request).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(::raftkv::client::describe(&status)),
        Err(_) => Err("timed out".into()),
    }
}

/// Polls every node's `(applied, committed)` indexes (`None`: it did not answer)
/// until every node answered and has applied what the most advanced one committed
/// (true), or `timeout` passed (false).
pub async fn converged<F, Fut>(nodes: usize, timeout: Duration, mut indexes: F) -> bool
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Option<(u64, u64)>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let mut applied = Vec::with_capacity(nodes);
        let mut commit = 0;
        for node in 0..nodes {
            if let Some((a, c)) = indexes(node).await {
                applied.push(a);
                commit = commit.max(c);
            }
        }
        if applied.len() == nodes && applied.iter().all(|&a| a >= commit) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Decodes a register value (decimal text). Anything else is kept as a JSON string, so
/// the checker sees a value nobody wrote instead of the harness dropping it.
pub fn decode_int(bytes: &[u8]) -> Value {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(Value::Int)
        .unwrap_or_else(|| Value::Json(String::from_utf8_lossy(bytes).into_owned().into()))
}

#[cfg(test)]
pub mod testing {
    //! The classification tests every store's client must pass: a peer that accepts
    //! TCP connections and never answers (every request times out after it was sent,
    //! the case that must end as `info` for a write), and a port nobody listens on.

    use std::time::Duration;

    use workloads::generator::OpSpec;

    use super::{ClientOptions, ClientRouting, Clients, Completion, ReadConsistency};

    pub use ::raftkv::testing::Silent;

    /// A loopback port nobody listens on (bound, learnt, closed).
    pub fn refused_addr() -> String {
        let port = nemesis::free_loopback_ports(1).expect("a free loopback port")[0];
        format!("127.0.0.1:{port}")
    }

    /// The client options of these tests: one channel, a 300 ms deadline.
    pub fn options() -> ClientOptions {
        ClientOptions {
            channels_per_node: 1,
            reads: ReadConsistency::Linearizable,
            op_timeout: Duration::from_millis(300),
            routing: ClientRouting::NodeBound,
            slots: 1,
        }
    }

    /// A write that never left the client (connection refused until the deadline) is
    /// `fail`, with a reason containing `why`.
    pub async fn assert_refused_write_fails(clients: &dyn Clients, why: &str) {
        let op = OpSpec::Write {
            key: "r0".into(),
            value: 1,
        };
        match clients.open(0).invoke(&op).await {
            Completion::Fail(reason) => assert!(reason.contains(why), "{reason}"),
            other => panic!("a write that never left the client must fail, got {other:?}"),
        }
    }

    /// Against a [`Silent`] peer, every kind of write is `info` (sent, never answered)
    /// and a read is `fail` (a read has no effect either way).
    pub async fn assert_silence_is_info_for_writes(clients: &dyn Clients) {
        let writes = [
            OpSpec::Write {
                key: "r0".into(),
                value: 1,
            },
            OpSpec::Cas {
                key: "r0".into(),
                expected: 1,
                new: 2,
            },
            OpSpec::Add {
                key: "s0".into(),
                element: 3,
            },
        ];
        for op in &writes {
            let completion = clients.open(0).invoke(op).await;
            assert!(
                completion.is_unanswered_write(),
                "{op:?} sent and never answered must be info, saying so, got {completion:?}"
            );
        }
        let read = OpSpec::Read { key: "r0".into() };
        let completion = clients.open(0).invoke(&read).await;
        assert_eq!(
            completion,
            Completion::unanswered(true),
            "a read has no effect"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_register_values() {
        assert_eq!(decode_int(b"42"), Value::Int(42));
        assert_eq!(decode_int(b"x"), Value::Json("x".into()));
    }
}
