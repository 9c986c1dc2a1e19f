//! The client side of a test: how one logical process talks to the cluster, and how
//! every completion is classified.
//!
//! A [`Cluster`] holds a few lazily connected gRPC channels per node (HTTP/2 multiplexes
//! many concurrent requests over each). A [`Client`] is
//! one logical process: its own client id and write sequence numbers (the server's
//! de-duplication key), its own notion of which node to try first, and a deadline per
//! operation.
//!
//! Classification follows the error contract written in `proto/kv.proto`, erring on the
//! side of `info`, because a `fail` that actually happened would make the checker reject
//! a correct history:
//!
//! - `ok`: the server answered; for a CAS whose expectation held.
//! - `fail`: certainly no effect, now or later: a CAS whose expectation did not hold,
//!   `INVALID_ARGUMENT`, or only "not leader" rejections and refused connections (the
//!   request never reached a state machine) until the deadline. Reads that did not
//!   succeed are `fail` too: a read has no effect either way.
//! - `info`: anything else for a write: a timeout after the request was sent, a reset
//!   connection, `ABORTED` (leadership lost after proposing), `UNAVAILABLE` from a
//!   connected node, unknown codes. The caller retires the process afterwards.
//!
//! Retries of ambiguous writes: a write answered ambiguously (`ABORTED`, a reset
//! connection, `UNAVAILABLE` after sending, ...) is sent again, with the *same* client
//! id and sequence number, to the next node, until the operation's deadline. This is
//! what real clients do, and the server's de-duplication (client id + sequence) makes
//! the retry apply at most once, so a correct server stays valid: a retry answered
//! `ok` completes the operation as `ok`; when the deadline runs out first the
//! completion is `info`, never `fail`, because an earlier attempt may still apply. A
//! server without de-duplication applies such a write twice (the set checker reports
//! the element as duplicated).
//!
//! Leader discovery: a "not leader" answer names the leader in its trailing metadata
//! (`leader-id`); the client retries there at once, otherwise it walks the nodes in
//! order, pausing briefly after each full round so an election can finish. Each
//! logical process keeps its own guess, starting at node `process % nodes` (as a
//! Jepsen client is bound to one node): processes spread over the nodes, and a process
//! keeps talking to a node it believes leads until that node says otherwise, which is
//! how a deposed leader or a follower answering reads it should not gets exercised.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use raftkv::proto::kv::kv_client::KvClient;
use raftkv::proto::kv::{
    AppendRequest, CasRequest, CrashRequest, GetRequest, PutRequest, RequestHeader, StatusRequest,
    StatusResponse,
};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use workloads::generator::OpSpec;
use workloads::history::Value;

/// How reads are served.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    /// Confirmed by the leader (ReadIndex): the default, checkable for linearizability.
    Linearizable,
    /// Served from the contacted node's local state; fast, may be stale.
    Serializable,
}

/// One node as clients see it.
#[derive(Debug)]
struct NodeChannels {
    /// The node's name (`n1`, ...), as reported in `leader-id`.
    id: String,
    /// A few channels to it; process `p` uses channel `p % len`.
    channels: Vec<KvClient<Channel>>,
}

/// The nodes of the cluster.
#[derive(Debug)]
pub struct Cluster {
    /// All nodes in the controller's order.
    nodes: Vec<NodeChannels>,
    /// How reads are served.
    reads: ReadConsistency,
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

impl Cluster {
    /// Channels to `nodes` (name, `host:port`); nothing connects until first use.
    pub fn new(
        nodes: &[(String, String)],
        channels_per_node: usize,
        reads: ReadConsistency,
    ) -> anyhow::Result<Cluster> {
        assert!(!nodes.is_empty(), "a cluster has at least one node");
        assert!(channels_per_node > 0, "at least one channel per node");
        let nodes = nodes
            .iter()
            .map(|(id, addr)| {
                let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                    .with_context(|| format!("bad address {addr:?} for node {id}"))?
                    .connect_timeout(Duration::from_millis(500))
                    .tcp_nodelay(true);
                let channels = (0..channels_per_node)
                    .map(|_| KvClient::new(endpoint.connect_lazy()))
                    .collect();
                Ok(NodeChannels {
                    id: id.clone(),
                    channels,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Cluster { nodes, reads })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The name of node `index`.
    pub fn node_id(&self, index: usize) -> &str {
        &self.nodes[index].id
    }

    /// Asks node `index` for its status, within `timeout`.
    pub async fn status(&self, index: usize, timeout: Duration) -> Result<StatusResponse, String> {
        let mut kv = self.nodes[index].channels[0].clone();
        match tokio::time::timeout(timeout, kv.status(StatusRequest {})).await {
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => Err(describe(&status)),
            Err(_) => Err("timed out".into()),
        }
    }

    /// Arms a crash point in node `index` for `armed_for` (rounded up to whole
    /// milliseconds), or disarms it (`None`), within `timeout`.
    pub async fn set_crash_point(
        &self,
        index: usize,
        point: &str,
        armed_for: Option<Duration>,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut kv = self.nodes[index].channels[0].clone();
        let request = CrashRequest {
            point: point.to_string(),
            armed: armed_for.is_some(),
            expires_in_ms: armed_for.map_or(0, |d| d.as_millis() as u64 + 1),
        };
        match tokio::time::timeout(timeout, kv.crash(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(describe(&status)),
            Err(_) => Err("timed out".into()),
        }
    }

    /// The node that some node reports as leader (asking each in turn), if any.
    pub async fn find_leader(&self, timeout: Duration) -> Option<String> {
        for i in 0..self.len() {
            if let Ok(s) = self.status(i, timeout).await {
                if s.role == "leader" {
                    return Some(s.node_id);
                }
                if !s.leader_id.is_empty() {
                    return Some(s.leader_id);
                }
            }
        }
        None
    }

    /// Reads `key` from node `index` only, serializably (its local state), for final
    /// reads after recovery. `Err` when the node did not answer.
    pub async fn read_local(
        &self,
        index: usize,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, String> {
        let mut kv = self.nodes[index].channels[0].clone();
        let req = GetRequest {
            key: key.as_bytes().to_vec(),
            serializable: true,
        };
        match tokio::time::timeout(timeout, kv.get(req)).await {
            Ok(Ok(resp)) => {
                let resp = resp.into_inner();
                Ok(resp.found.then_some(resp.value))
            }
            Ok(Err(status)) => Err(describe(&status)),
            Err(_) => Err("timed out".into()),
        }
    }

    /// Index of the node called `id`.
    fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

/// What one attempt at one node tells the retry loop.
enum Attempt {
    /// Final answer.
    Done(Completion),
    /// Rejected before it could take effect; try `hint` (or the next node).
    Redirect(Option<usize>, String),
}

/// One logical process's connection state.
#[derive(Debug)]
pub struct Client {
    /// The shared cluster view.
    cluster: Arc<Cluster>,
    /// Which channel of each node this process uses.
    channel: usize,
    /// Index of the node this process last saw leading (a hint, not a fact).
    leader: usize,
    /// De-duplication id: unique per logical process within the run.
    client_id: u64,
    /// Sequence number of the next write.
    sequence: u64,
    /// How long one operation may take in total.
    timeout: Duration,
}

impl Client {
    /// The client of logical process `process`.
    pub fn new(cluster: Arc<Cluster>, process: u64, timeout: Duration) -> Client {
        let channel = (process as usize) % cluster.nodes[0].channels.len();
        let leader = (process as usize) % cluster.nodes.len();
        Client {
            cluster,
            channel,
            leader,
            client_id: process + 1,
            sequence: 0,
            timeout,
        }
    }

    /// Performs `op` and classifies its completion.
    pub async fn invoke(&mut self, op: &OpSpec) -> Completion {
        let is_read = matches!(op, OpSpec::Read { .. });
        if !is_read {
            self.sequence += 1;
        }
        let header = RequestHeader {
            client_id: self.client_id,
            sequence: self.sequence,
        };
        let deadline = Instant::now() + self.timeout;
        let n = self.cluster.len();
        let mut target = self.leader % n;
        let mut tried_in_round = 0;
        let mut last_reason = String::from("no node answered");
        // Set once an attempt may have taken effect: the outcome can no longer be `fail`.
        let mut ambiguous = false;
        loop {
            let now = Instant::now();
            if now >= deadline && ambiguous {
                return Completion::Info(format!("retried until the deadline: {last_reason}"));
            }
            if now >= deadline {
                return Completion::Fail(format!("not applied before the deadline: {last_reason}"));
            }
            let attempt =
                tokio::time::timeout(deadline - now, self.attempt(target, op, header)).await;
            match attempt {
                Err(_) if is_read => return Completion::Fail("timeout".into()),
                Err(_) => return Completion::Info("timeout".into()),
                Ok(Attempt::Done(Completion::Info(reason))) if !is_read => {
                    // Ambiguous: retry the same (client id, sequence) elsewhere.
                    ambiguous = true;
                    last_reason = reason;
                    target = (target + 1) % n;
                    let pause = Duration::from_millis(20);
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(pause.min(left)).await;
                }
                Ok(Attempt::Done(c)) => {
                    if matches!(c, Completion::Ok(_)) {
                        self.leader = target;
                    }
                    return c;
                }
                Ok(Attempt::Redirect(hint, reason)) => {
                    last_reason = reason;
                    match hint {
                        Some(leader) if leader != target => {
                            self.leader = leader;
                            target = leader;
                        }
                        _ => {
                            target = (target + 1) % n;
                            tried_in_round += 1;
                            if tried_in_round >= n {
                                tried_in_round = 0;
                                let pause = Duration::from_millis(20);
                                let left = deadline.saturating_duration_since(Instant::now());
                                tokio::time::sleep(pause.min(left)).await;
                            }
                        }
                    }
                }
            }
        }
    }

    /// One request to node `target`.
    async fn attempt(&self, target: usize, op: &OpSpec, header: RequestHeader) -> Attempt {
        let mut kv = self.cluster.nodes[target].channels[self.channel].clone();
        let serializable = self.cluster.reads == ReadConsistency::Serializable;
        let result = match op {
            OpSpec::Read { key } => {
                let req = GetRequest {
                    key: key.as_bytes().to_vec(),
                    serializable,
                };
                match kv.get(req).await {
                    Ok(resp) => {
                        let resp = resp.into_inner();
                        let value = if resp.found {
                            decode_int(&resp.value)
                        } else {
                            Value::Null
                        };
                        return Attempt::Done(Completion::Ok(value));
                    }
                    Err(status) => Err(status),
                }
            }
            OpSpec::Write { key, value } => kv
                .put(PutRequest {
                    header: Some(header),
                    key: key.as_bytes().to_vec(),
                    value: value.to_string().into_bytes(),
                })
                .await
                .map(|r| r.into_inner().succeeded),
            OpSpec::Cas { key, expected, new } => kv
                .cas(CasRequest {
                    header: Some(header),
                    key: key.as_bytes().to_vec(),
                    expected: Some(expected.to_string().into_bytes()),
                    new_value: new.to_string().into_bytes(),
                })
                .await
                .map(|r| r.into_inner().succeeded),
            OpSpec::Add { key, element } => kv
                .append(AppendRequest {
                    header: Some(header),
                    key: key.as_bytes().to_vec(),
                    value: format!("{element},").into_bytes(),
                })
                .await
                .map(|r| r.into_inner().succeeded),
        };
        match result {
            Ok(true) => Attempt::Done(Completion::Ok(Value::Null)),
            Ok(false) => Attempt::Done(Completion::Fail("cas-mismatch".into())),
            Err(status) => self.classify(&status, matches!(op, OpSpec::Read { .. })),
        }
    }

    /// Maps an error status to a retry or a final completion (see the module docs).
    fn classify(&self, status: &Status, is_read: bool) -> Attempt {
        let reason = describe(status);
        match status.code() {
            Code::FailedPrecondition => {
                let hint = status
                    .metadata()
                    .get("leader-id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|id| self.cluster.index_of(id));
                Attempt::Redirect(hint, reason)
            }
            Code::Unavailable if never_sent(status) => Attempt::Redirect(None, reason),
            Code::InvalidArgument => Attempt::Done(Completion::Fail(reason)),
            _ if is_read => Attempt::Done(Completion::Fail(reason)),
            _ => Attempt::Done(Completion::Info(reason)),
        }
    }
}

/// True when the status says the connection could not be established, so the request
/// was never sent (tonic maps connection failures to `UNAVAILABLE` with the connector's
/// message).
fn never_sent(status: &Status) -> bool {
    let msg = status.message();
    msg.contains("connect error") || msg.contains("Connection refused")
}

/// A short text for a status: code and message.
fn describe(status: &Status) -> String {
    let msg = status.message();
    if msg.is_empty() {
        format!("{:?}", status.code())
    } else {
        format!("{:?}: {msg}", status.code())
    }
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

/// Decodes a set (comma-terminated decimal elements, as appended by the set workload).
/// `None` when some element is not a number.
pub fn decode_set(bytes: &[u8]) -> Option<Vec<i64>> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_register_values() {
        assert_eq!(decode_int(b"42"), Value::Int(42));
        assert_eq!(decode_int(b"x"), Value::Json("x".into()));
    }

    #[test]
    fn decodes_sets() {
        assert_eq!(decode_set(b"1,5,9,"), Some(vec![1, 5, 9]));
        assert_eq!(decode_set(b""), Some(vec![]));
        assert_eq!(decode_set(b"1,z,"), None);
    }

    #[tokio::test]
    async fn refused_connections_end_as_fail_not_info() {
        // A port nobody listens on: bind, learn the port, close it.
        let port = nemesis::free_loopback_ports(1).unwrap()[0];
        let cluster = Cluster::new(
            &[("n1".into(), format!("127.0.0.1:{port}"))],
            1,
            ReadConsistency::Linearizable,
        )
        .unwrap();
        let mut client = Client::new(Arc::new(cluster), 0, Duration::from_millis(300));
        let op = OpSpec::Write {
            key: "r0".into(),
            value: 1,
        };
        match client.invoke(&op).await {
            Completion::Fail(reason) => assert!(reason.contains("deadline"), "{reason}"),
            other => panic!("a write that never left the client must fail, got {other:?}"),
        }
    }

    /// Every kind of write sent to a node that never answers ends as `info` when the
    /// deadline runs out: it may still apply, so it must never be `fail`.
    #[tokio::test]
    async fn a_timed_out_write_is_info_never_fail() {
        let server = raftkv::testing::SilentServer::start().await.unwrap();
        let cluster = Cluster::new(
            &[("n1".into(), server.addr.to_string())],
            1,
            ReadConsistency::Linearizable,
        )
        .unwrap();
        let cluster = Arc::new(cluster);
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
        for (process, op) in writes.iter().enumerate() {
            let mut client = Client::new(
                Arc::clone(&cluster),
                process as u64,
                Duration::from_millis(300),
            );
            match client.invoke(op).await {
                Completion::Info(_) => {}
                other => panic!("a timed-out {op:?} must be info, got {other:?}"),
            }
        }
    }
}
