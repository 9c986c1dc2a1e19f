//! The test client of raftkv: how one logical process talks to a raftkv cluster.
//!
//! [`RaftkvClients`] holds a few lazily connected gRPC channels per node (HTTP/2
//! multiplexes many concurrent requests over each). A [`RaftkvClient`] is one logical
//! process: its own client id and write sequence numbers (the server's de-duplication
//! key), its own notion of which node to try first, and a deadline per operation.
//!
//! Errors are sorted by [`raftkv::client::classify_status`], the one classification
//! of raftkv's error contract (`proto/kv.proto`): "not leader" and requests that never
//! left this process are redirected to another node; `INVALID_ARGUMENT` is `fail`;
//! anything else is `info` for a write and `fail` for a read (see `crate::client`).
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
//! Routing ([`ClientRouting`], `--client-routing`):
//! - node-bound (the default): each logical process talks only to its home node
//!   ([`ClientOptions::home`]: its worker slot's node, so a retired process's
//!   successor stays there), as a Jepsen client does. raftkv followers forward to the
//!   leader they know; "not leader" (no leader known) and refused connections are
//!   retried at the same node, briefly pausing, until the deadline, and so are
//!   ambiguous writes. A deposed leader that still believes it leads keeps receiving
//!   its clients' reads and writes, which is what exposes a leader answering reads it
//!   should not.
//! - follow-leader: a "not leader" answer names the leader in its trailing metadata
//!   (`leader-id`); the client retries there at once, otherwise it walks the nodes in
//!   order, pausing briefly after each full round so an election can finish. Each
//!   logical process keeps its own guess, starting at its home node, and keeps talking
//!   to a node it believes leads until that node says otherwise.
//!
//! Every request carries the time left before the operation's deadline
//! (`grpc-timeout`), which bounds a follower's forwarding hop too. A node with no
//! outcome answers `DEADLINE_EXCEEDED` [`ANSWER_MARGIN`] before it, so a deadline that
//! passes with no answer at all (this client's timer, or tonic's "Timeout expired")
//! means the node said nothing: [`Completion::unanswered`]. An ambiguous write is not
//! sent again once less than that margin is left.
//!
//! The set workload appends `element,` to the key's value; a set is read back by
//! splitting on commas.

use std::sync::Arc;
use std::time::Duration;

use raftkv::client::{classify_status, describe, unanswered, ErrorClass, ANSWER_MARGIN};
use raftkv::proto::kv::kv_client::KvClient;
use raftkv::proto::kv::{
    AppendRequest, CasRequest, CrashRequest, GetRequest, GetResponse, PutRequest, RequestHeader,
    StatusRequest, StatusResponse,
};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::Status;
use workloads::generator::OpSpec;
use workloads::history::Value;

use super::{
    call, converged, decode_int, endpoints, BoxFuture, Client, ClientOptions, ClientRouting,
    Clients, Completion, ReadConsistency,
};

/// One node as clients see it.
#[derive(Debug)]
struct NodeChannels {
    /// The node's name (`n1`, ...), as reported in `leader-id`.
    id: String,
    /// A few channels to it; process `p` uses channel `p % len`.
    channels: Vec<KvClient<Channel>>,
}

/// Channels to every node of a raftkv cluster, and the options of its clients.
/// Cheap to clone: clones share the channels.
#[derive(Clone, Debug)]
pub struct RaftkvClients {
    /// All nodes in the controller's order.
    nodes: Arc<Vec<NodeChannels>>,
    /// How reads are served and how long an operation may take.
    options: ClientOptions,
}

impl RaftkvClients {
    /// Channels to `nodes` (name, `host:port`); nothing connects until first use.
    /// Must be called inside a tokio runtime.
    pub fn new(nodes: &[(String, String)], options: ClientOptions) -> anyhow::Result<Self> {
        let nodes = endpoints(nodes, &options)?
            .into_iter()
            .map(|(id, endpoint)| NodeChannels {
                channels: (0..options.channels_per_node)
                    .map(|_| KvClient::new(endpoint.connect_lazy()))
                    .collect(),
                id,
            })
            .collect();
        Ok(RaftkvClients {
            nodes: Arc::new(nodes),
            options,
        })
    }

    /// Asks node `index` for its status, within `timeout`.
    pub async fn status(&self, index: usize, timeout: Duration) -> Result<StatusResponse, String> {
        let mut kv = self.nodes[index].channels[0].clone();
        call(timeout, kv.status(StatusRequest {})).await
    }

    /// Index of the node called `id`.
    fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

impl Clients for RaftkvClients {
    fn open(&self, process: u64) -> Box<dyn Client> {
        Box::new(RaftkvClient::new(self.clone(), process))
    }

    fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn node_name(&self, index: usize) -> String {
        self.nodes[index].id.clone()
    }

    /// Some node's answer, asking each in turn: itself if it leads, else the leader it
    /// names.
    fn find_leader(&self, timeout: Duration) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            for i in 0..self.nodes.len() {
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
        })
    }

    /// Armed over the node's Crash RPC, for `armed_for` rounded up to whole
    /// milliseconds.
    fn set_crash_point<'a>(
        &'a self,
        node: &'a str,
        point: &'a str,
        armed_for: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let index = self
                .index_of(node)
                .ok_or_else(|| format!("no node called {node}"))?;
            let mut kv = self.nodes[index].channels[0].clone();
            let request = CrashRequest {
                point: point.to_string(),
                armed: armed_for.is_some(),
                expires_in_ms: armed_for.map_or(0, |d| d.as_millis() as u64 + 1),
            };
            call(Duration::from_millis(500), kv.crash(request))
                .await
                .map(|_| ())
        })
    }

    fn wait_converged(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(converged(self.nodes.len(), timeout, move |i| async move {
            let s = self.status(i, Duration::from_millis(500)).await.ok()?;
            Some((s.applied_index, s.commit_index))
        }))
    }

    fn read_local<'a>(
        &'a self,
        index: usize,
        read: &'a OpSpec,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
            let mut kv = self.nodes[index].channels[0].clone();
            let req = GetRequest {
                key: read.key().as_bytes().to_vec(),
                serializable: true,
            };
            call(timeout, kv.get(req))
                .await
                .map(|resp| decode_get(read, &resp))
        })
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
pub struct RaftkvClient {
    /// The shared channels.
    clients: RaftkvClients,
    /// Which channel of each node this process uses.
    channel: usize,
    /// Index of the node this process last saw leading (a hint, not a fact); with
    /// node-bound routing, its home node, always.
    leader: usize,
    /// De-duplication id: unique per logical process within the run.
    client_id: u64,
    /// Sequence number of the next write.
    sequence: u64,
}

impl Client for RaftkvClient {
    fn invoke<'a>(&'a mut self, op: &'a OpSpec) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

impl RaftkvClient {
    /// The client of logical process `process`.
    pub fn new(clients: RaftkvClients, process: u64) -> RaftkvClient {
        let channel = (process as usize) % clients.nodes[0].channels.len();
        let leader = clients.options.home(process, clients.nodes.len());
        RaftkvClient {
            clients,
            channel,
            leader,
            client_id: process + 1,
            sequence: 0,
        }
    }

    /// Performs `op` with retries until the deadline (see the module docs).
    async fn perform(&mut self, op: &OpSpec) -> Completion {
        let is_read = op.is_read();
        if !is_read {
            self.sequence += 1;
        }
        let header = RequestHeader {
            client_id: self.client_id,
            sequence: self.sequence,
        };
        let deadline = Instant::now() + self.clients.options.op_timeout;
        let bound = self.clients.options.routing == ClientRouting::NodeBound;
        // Node-bound: every retry goes to the home node (`target` never moves).
        let n = if bound { 1 } else { self.clients.nodes.len() };
        let mut target = self.leader;
        let next = |target: usize| {
            if bound {
                target
            } else {
                (target + 1) % self.clients.nodes.len()
            }
        };
        let mut tried_in_round = 0;
        let mut last_reason = String::from("no node answered");
        // Set once an attempt may have taken effect: the outcome can no longer be `fail`.
        let mut ambiguous = false;
        loop {
            let now = Instant::now();
            // No node answers in less than ANSWER_MARGIN: another try could only time out.
            if now + ANSWER_MARGIN >= deadline && ambiguous {
                return Completion::Info(format!("retried until the deadline: {last_reason}"));
            }
            if now >= deadline {
                return Completion::Fail(format!("not applied before the deadline: {last_reason}"));
            }
            let left = deadline - now;
            let attempt = tokio::time::timeout(left, self.attempt(target, op, header, left)).await;
            match attempt {
                Err(_) => return Completion::unanswered(is_read),
                Ok(Attempt::Done(c)) if c.is_unanswered_write() => return c,
                Ok(Attempt::Done(Completion::Info(reason))) if !is_read => {
                    // Ambiguous: retry the same (client id, sequence) elsewhere.
                    ambiguous = true;
                    last_reason = reason;
                    target = next(target);
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
                        Some(leader) if leader != target && !bound => {
                            self.leader = leader;
                            target = leader;
                        }
                        _ => {
                            target = next(target);
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

    /// One request to node `target`, telling it the time `left`.
    async fn attempt(
        &self,
        target: usize,
        op: &OpSpec,
        header: RequestHeader,
        left: Duration,
    ) -> Attempt {
        let mut kv = self.clients.nodes[target].channels[self.channel].clone();
        let serializable = self.clients.options.reads == ReadConsistency::Serializable;
        let result = match op {
            OpSpec::Read { key } | OpSpec::ReadSet { key } => {
                let req = GetRequest {
                    key: key.as_bytes().to_vec(),
                    serializable,
                };
                match kv.get(timed(req, left)).await {
                    Ok(resp) => {
                        return Attempt::Done(Completion::Ok(decode_get(op, &resp.into_inner())))
                    }
                    Err(status) => Err(status),
                }
            }
            OpSpec::Write { key, value } => kv
                .put(timed(
                    PutRequest {
                        header: Some(header),
                        key: key.as_bytes().to_vec(),
                        value: value.to_string().into_bytes(),
                    },
                    left,
                ))
                .await
                .map(|r| r.into_inner().succeeded),
            OpSpec::Cas { key, expected, new } => kv
                .cas(timed(
                    CasRequest {
                        header: Some(header),
                        key: key.as_bytes().to_vec(),
                        expected: Some(expected.to_string().into_bytes()),
                        new_value: new.to_string().into_bytes(),
                    },
                    left,
                ))
                .await
                .map(|r| r.into_inner().succeeded),
            OpSpec::Add { key, element } => kv
                .append(timed(
                    AppendRequest {
                        header: Some(header),
                        key: key.as_bytes().to_vec(),
                        value: format!("{element},").into_bytes(),
                    },
                    left,
                ))
                .await
                .map(|r| r.into_inner().succeeded),
        };
        match result {
            Ok(true) => Attempt::Done(Completion::Ok(Value::Null)),
            Ok(false) => Attempt::Done(Completion::cas_mismatch()),
            Err(status) => self.classify(&status, op.is_read()),
        }
    }

    /// Maps an error status to a retry or a final completion (see the module docs).
    fn classify(&self, status: &Status, is_read: bool) -> Attempt {
        if unanswered(status) {
            return Attempt::Done(Completion::unanswered(is_read));
        }
        match classify_status(status) {
            ErrorClass::NotLeader { leader_id, .. } => {
                let hint = leader_id.and_then(|id| self.clients.index_of(&id));
                Attempt::Redirect(hint, describe(status))
            }
            ErrorClass::NeverSent(reason) => Attempt::Redirect(None, reason),
            ErrorClass::Invalid(reason) => Attempt::Done(Completion::Fail(reason)),
            ErrorClass::Unknown(reason) if is_read => Attempt::Done(Completion::Fail(reason)),
            ErrorClass::Unknown(reason) => Attempt::Done(Completion::Info(reason)),
        }
    }
}

/// `message` as a request telling the server the time `left` (`grpc-timeout`).
fn timed<T>(message: T, left: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(left);
    request
}

/// The value a read `op` returns from a `Get` answer: the set's elements for a
/// [`OpSpec::ReadSet`], the register's value (`Null` when the key was never written)
/// for a [`OpSpec::Read`].
fn decode_get(op: &OpSpec, resp: &GetResponse) -> Value {
    match op {
        OpSpec::ReadSet { .. } => decode_set(&resp.value),
        _ if resp.found => decode_int(&resp.value),
        _ => Value::Null,
    }
}

/// Decodes a set (comma-terminated decimal elements, as appended by the set workload)
/// into sorted `Value::Ints`; a value that is not such a list is kept as a JSON string
/// so the checker sees it.
pub fn decode_set(bytes: &[u8]) -> Value {
    let elements: Option<Vec<i64>> = std::str::from_utf8(bytes).ok().and_then(|text| {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().ok())
            .collect()
    });
    match elements {
        Some(mut elements) => {
            elements.sort_unstable();
            Value::Ints(elements)
        }
        None => Value::Json(String::from_utf8_lossy(bytes).into_owned().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{
        assert_refused_write_fails, assert_silence_is_info_for_writes, options, refused_addr,
        Silent,
    };

    #[test]
    fn decodes_sets() {
        assert_eq!(decode_set(b"9,1,5,"), Value::Ints(vec![1, 5, 9]));
        assert_eq!(decode_set(b""), Value::Ints(vec![]));
        assert_eq!(decode_set(b"1,z,"), Value::Json("1,z,".into()));
    }

    /// Clients of one node at `addr` with a short deadline.
    fn clients(addr: String) -> RaftkvClients {
        RaftkvClients::new(&[("n1".into(), addr)], options()).unwrap()
    }

    #[tokio::test]
    async fn refused_connections_end_as_fail_not_info() {
        assert_refused_write_fails(&clients(refused_addr()), "deadline").await;
    }

    /// A listener that counts the connections it accepts (and never answers).
    fn counting() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(stream);
            }
        });
        (addr, count)
    }

    /// Process 0 lives on n1, which refuses every connection; n2 counts connections.
    async fn connections_to_n2(routing: ClientRouting) -> usize {
        let (addr, count) = counting();
        let nodes = [("n1".into(), refused_addr()), ("n2".into(), addr)];
        let options = ClientOptions {
            routing,
            slots: 2,
            ..options()
        };
        let clients = RaftkvClients::new(&nodes, options).unwrap();
        assert_eq!(clients.options.home(0, 2), 0);
        assert_eq!(clients.options.home(2, 2), 0, "a successor stays home");
        for process in [0, 2] {
            let op = OpSpec::Write {
                key: "r0".into(),
                value: 1,
            };
            let completion = clients.open(process).invoke(&op).await;
            if routing == ClientRouting::NodeBound {
                assert!(matches!(completion, Completion::Fail(_)), "{completion:?}");
            }
        }
        count.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn node_bound_processes_never_talk_to_another_node() {
        assert_eq!(connections_to_n2(ClientRouting::NodeBound).await, 0);
        // The control: a leader-following process does go elsewhere.
        assert!(connections_to_n2(ClientRouting::FollowLeader).await > 0);
    }

    #[tokio::test]
    async fn a_timed_out_write_is_info_and_a_timed_out_read_is_fail() {
        let silent = Silent::start();
        assert_silence_is_info_for_writes(&clients(silent.addr.clone())).await;
    }
}
