//! A client library for raftkv's gRPC API with leader discovery and outcome
//! classification, used by `faultline kv`, `faultline bench` and `faultline cluster`
//! and the crash tests. Its error classification, [`classify_status`], is the one
//! faultline's test client for raftkv builds on too.
//!
//! A raftkv follower forwards requests to the leader it knows
//! ([`crate::server::forward`]); a node that knows none answers FAILED_PRECONDITION
//! "not leader", with the leader's id and address in the trailing metadata
//! (`leader-id`, `leader-addr`) when it can name one. [`KvClient`] goes to the leader
//! directly all the same (one hop fewer): it remembers the last leader it heard of,
//! follows hints, and otherwise tries the configured endpoints in turn, until the
//! operation's deadline.
//!
//! Every error is classified for a checker:
//! - [`ClientError::Rejected`]: the operation certainly had no effect (rejected
//!   before it was proposed, invalid, or the connection was refused every time);
//! - [`ClientError::Unknown`]: the operation may have taken effect, now or later
//!   (timeout, leadership lost after proposing, connection broken mid-request).
//!
//! Writes carry this client's id and a fresh sequence number; retries of one
//! write reuse its sequence number, so the server applies it at most once even
//! when several attempts reach the log. Two `KvClient`s must therefore never
//! share a client id, and one client should keep at most 64 writes in flight
//! (the server's de-duplication window). Reads have no effect: any read error
//! may be treated as a failure, whatever its class.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::proto::kv::kv_client::KvClient as GrpcClient;
use crate::proto::kv::{
    AppendRequest, CasRequest, DeleteRequest, GetRequest, PutRequest, RequestHeader, StatusRequest,
    StatusResponse, WriteResponse,
};

/// Largest gRPC message the client accepts (values grow by appends).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How an operation failed, in terms a consistency checker can use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The operation certainly had no effect.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The operation may or may not have taken effect.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

impl ClientError {
    /// True when the operation certainly had no effect.
    pub fn is_rejected(&self) -> bool {
        matches!(self, ClientError::Rejected(_))
    }
}

/// A connection to a raftkv cluster. Cheap to clone; clones share the client id,
/// the sequence counter, the leader hint and the connections.
#[derive(Clone)]
pub struct KvClient {
    /// Connections and leader hint (shared with clones and [`KvClient::with_client_id`]).
    inner: Arc<Inner>,
    /// De-duplication identity (shared with clones only).
    session: Arc<Session>,
    /// Deadline of one operation, retries included.
    timeout: Duration,
    /// Deadline of one attempt at one node (a paused node must not eat the whole budget).
    attempt_timeout: Duration,
    /// Whether to retry on other nodes until the deadline (true) or make one attempt.
    retry: bool,
}

/// A client's de-duplication identity.
struct Session {
    /// This client's de-duplication id.
    client_id: u64,
    /// Last sequence number used.
    sequence: AtomicU64,
}

/// Connections and leader knowledge, shareable between clients.
struct Inner {
    /// The configured node addresses (`host:port`).
    endpoints: Vec<String>,
    /// Address of the node believed to lead, if any.
    leader: Mutex<Option<String>>,
    /// Round-robin position among `endpoints` when no leader is known.
    next_endpoint: AtomicUsize,
    /// Lazily connected channels by address.
    channels: Mutex<HashMap<String, Channel>>,
}

/// The result of one attempt.
enum Attempt<T> {
    /// The node answered.
    Done(T),
    /// The node is not the leader; it may name one.
    NotLeader(Option<String>),
    /// Definitely no effect, and retrying cannot help.
    Rejected(String),
    /// Definitely no effect (e.g. connection refused); another node may work.
    Refused(String),
    /// The request may have had an effect.
    Unknown(String),
}

impl KvClient {
    /// A client of the nodes at `endpoints` (`host:port`), identified by
    /// `client_id` for de-duplication (unique per client). Connects lazily.
    pub fn new(endpoints: Vec<String>, client_id: u64) -> Result<KvClient, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::Rejected("no endpoints given".into()));
        }
        for endpoint in &endpoints {
            Endpoint::from_shared(format!("http://{endpoint}"))
                .map_err(|e| ClientError::Rejected(format!("bad endpoint {endpoint:?}: {e}")))?;
        }
        Ok(KvClient {
            session: Arc::new(Session {
                client_id,
                sequence: AtomicU64::new(0),
            }),
            inner: Arc::new(Inner {
                endpoints,
                leader: Mutex::new(None),
                next_endpoint: AtomicUsize::new(0),
                channels: Mutex::new(HashMap::new()),
            }),
            timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(1),
            retry: true,
        })
    }

    /// Sets the deadline of each operation, retries included (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> KvClient {
        self.timeout = timeout;
        self
    }

    /// Sets the deadline of a single attempt at one node (default 1 s), after
    /// which the client tries another node (with the same sequence number).
    /// Without retries the single attempt gets the whole operation timeout.
    pub fn with_attempt_timeout(mut self, attempt_timeout: Duration) -> KvClient {
        self.attempt_timeout = attempt_timeout;
        self
    }

    /// With `false`, each operation makes a single attempt at the node believed
    /// to lead, without following hints (default: retry until the deadline).
    pub fn with_retries(mut self, retry: bool) -> KvClient {
        self.retry = retry;
        self
    }

    /// A new client with its own id (and sequence numbers) that shares this
    /// one's connections and leader hint: many logical clients over one HTTP/2
    /// connection per node.
    pub fn with_client_id(&self, client_id: u64) -> KvClient {
        KvClient {
            inner: Arc::clone(&self.inner),
            session: Arc::new(Session {
                client_id,
                sequence: AtomicU64::new(0),
            }),
            timeout: self.timeout,
            attempt_timeout: self.attempt_timeout,
            retry: self.retry,
        }
    }

    /// This client's de-duplication id.
    pub fn client_id(&self) -> u64 {
        self.session.client_id
    }

    /// The address of the node this client believes leads, if any.
    pub fn leader_hint(&self) -> Option<String> {
        self.inner.leader.lock().expect("leader lock").clone()
    }

    /// Reads `key`: `Ok(None)` when absent. Linearizable unless `serializable`
    /// (which reads one node's possibly stale local state).
    pub async fn get(
        &self,
        key: &[u8],
        serializable: bool,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let request = GetRequest {
            key: key.to_vec(),
            serializable,
        };
        let response = self
            .run(move |mut c| {
                let request = request.clone();
                async move { c.get(request).await }
            })
            .await?;
        Ok(response.found.then_some(response.value))
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let request = PutRequest {
            header: Some(self.header()),
            key: key.to_vec(),
            value: value.to_vec(),
        };
        self.write(move |mut c| {
            let request = request.clone();
            async move { c.put(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &[u8]) -> Result<(), ClientError> {
        let request = DeleteRequest {
            header: Some(self.header()),
            key: key.to_vec(),
        };
        self.write(move |mut c| {
            let request = request.clone();
            async move { c.delete(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Sets `key` to `new_value` if it holds `expected` (`None`: if it is absent).
    /// `Ok(false)`: the expectation did not hold and nothing was written.
    pub async fn cas(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new_value: &[u8],
    ) -> Result<bool, ClientError> {
        let request = CasRequest {
            header: Some(self.header()),
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
            new_value: new_value.to_vec(),
        };
        self.write(move |mut c| {
            let request = request.clone();
            async move { c.cas(request).await }
        })
        .await
        .map(|r| r.succeeded)
    }

    /// Appends `value` to the value of `key` (an absent key counts as empty).
    pub async fn append(&self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let request = AppendRequest {
            header: Some(self.header()),
            key: key.to_vec(),
            value: value.to_vec(),
        };
        self.write(move |mut c| {
            let request = request.clone();
            async move { c.append(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Asks one node (`host:port`, need not be a configured endpoint) for its status.
    pub async fn status(&self, endpoint: &str) -> Result<StatusResponse, ClientError> {
        let mut client = self.connect(endpoint)?;
        match tokio::time::timeout(self.timeout, client.status(StatusRequest {})).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) if never_sent(&status) => Err(ClientError::Rejected(format!(
                "{endpoint}: cannot connect: {}",
                describe(&status)
            ))),
            Ok(Err(status)) => Err(ClientError::Rejected(format!(
                "{endpoint}: {}",
                status.message()
            ))),
            Err(_) => Err(ClientError::Rejected(format!("{endpoint}: timed out"))),
        }
    }

    /// A fresh request header (next sequence number).
    fn header(&self) -> RequestHeader {
        RequestHeader {
            client_id: self.session.client_id,
            sequence: self.session.sequence.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// Runs a write; the response is the server's [`WriteResponse`].
    async fn write<F, Fut>(&self, call: F) -> Result<WriteResponse, ClientError>
    where
        F: Fn(GrpcClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<WriteResponse>, Status>>,
    {
        self.run(call).await
    }

    /// Runs one operation with leader discovery and retries until the deadline.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(GrpcClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut maybe_applied = false;
        let mut last_error = String::from("no attempt made");
        let mut backoff = Duration::from_millis(5);
        loop {
            let endpoint = self.pick_endpoint();
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let limit = if self.retry {
                remaining.min(self.attempt_timeout)
            } else {
                remaining
            };
            let attempt = match self.connect(&endpoint) {
                Ok(client) => match tokio::time::timeout(limit, call(client)).await {
                    Ok(result) => classify(result),
                    Err(_) => Attempt::Unknown("timed out".into()),
                },
                Err(e) => Attempt::Rejected(e.to_string()),
            };
            match attempt {
                Attempt::Done(response) => {
                    self.set_leader(Some(endpoint));
                    return Ok(response);
                }
                Attempt::NotLeader(hint) => {
                    last_error = format!("{endpoint}: not leader");
                    if hint.as_deref() == Some(endpoint.as_str()) || hint.is_none() {
                        self.set_leader(None);
                        self.inner.next_endpoint.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.set_leader(hint);
                        if self.retry {
                            continue;
                        }
                    }
                }
                Attempt::Rejected(message) => {
                    let message = format!("{endpoint}: {message}");
                    return Err(if maybe_applied {
                        ClientError::Unknown(message)
                    } else {
                        ClientError::Rejected(message)
                    });
                }
                Attempt::Refused(message) => {
                    last_error = format!("{endpoint}: {message}");
                    self.set_leader(None);
                    self.inner.next_endpoint.fetch_add(1, Ordering::Relaxed);
                }
                Attempt::Unknown(message) => {
                    last_error = format!("{endpoint}: {message}");
                    maybe_applied = true;
                    self.set_leader(None);
                    self.inner.next_endpoint.fetch_add(1, Ordering::Relaxed);
                }
            }
            if !self.retry {
                break;
            }
            let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
        Err(if maybe_applied {
            ClientError::Unknown(last_error)
        } else {
            ClientError::Rejected(last_error)
        })
    }

    /// The leader if known, else the next endpoint in turn.
    fn pick_endpoint(&self) -> String {
        if let Some(leader) = self.leader_hint() {
            return leader;
        }
        let i = self.inner.next_endpoint.load(Ordering::Relaxed) % self.inner.endpoints.len();
        self.inner.endpoints[i].clone()
    }

    fn set_leader(&self, leader: Option<String>) {
        *self.inner.leader.lock().expect("leader lock") = leader;
    }

    /// A gRPC client for `endpoint` over a cached, lazily connected channel.
    fn connect(&self, endpoint: &str) -> Result<GrpcClient<Channel>, ClientError> {
        let mut channels = self.inner.channels.lock().expect("channels lock");
        let channel = match channels.get(endpoint) {
            Some(channel) => channel.clone(),
            None => {
                let channel = Endpoint::from_shared(format!("http://{endpoint}"))
                    .map_err(|e| ClientError::Rejected(format!("bad endpoint {endpoint:?}: {e}")))?
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
                    .connect_lazy();
                channels.insert(endpoint.to_string(), channel.clone());
                channel
            }
        };
        Ok(GrpcClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES))
    }
}

/// Sorts a gRPC outcome into what it means for the operation.
fn classify<T>(result: Result<tonic::Response<T>, Status>) -> Attempt<T> {
    let status = match result {
        Ok(response) => return Attempt::Done(response.into_inner()),
        Err(status) => status,
    };
    match classify_status(&status) {
        ErrorClass::NotLeader { leader_addr, .. } => Attempt::NotLeader(leader_addr),
        ErrorClass::Invalid(message) => Attempt::Rejected(message),
        ErrorClass::NeverSent(message) => Attempt::Refused(message),
        ErrorClass::Unknown(message) => Attempt::Unknown(message),
    }
}

/// What an error status from a raftkv node says about the request, following the
/// error contract in `proto/kv.proto`. This is the one classification of raftkv
/// errors: [`KvClient`] and faultline's test client both build on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// `FAILED_PRECONDITION`: the node does not lead and did not propose the request;
    /// it may name the leader (trailing metadata `leader-id`, `leader-addr`).
    NotLeader {
        /// The leader's node name, if the node knows it.
        leader_id: Option<String>,
        /// The leader's address, if the node knows it.
        leader_addr: Option<String>,
    },
    /// `INVALID_ARGUMENT`: rejected, and retrying cannot help.
    Invalid(String),
    /// The connection could not be established: the request never left this process.
    NeverSent(String),
    /// Anything else: the request may have taken effect, now or later.
    Unknown(String),
}

/// Classifies an error status of a raftkv node (see [`ErrorClass`]).
pub fn classify_status(status: &Status) -> ErrorClass {
    let metadata = |name: &str| {
        status
            .metadata()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    match status.code() {
        Code::FailedPrecondition => ErrorClass::NotLeader {
            leader_id: metadata("leader-id"),
            leader_addr: metadata("leader-addr"),
        },
        Code::InvalidArgument => ErrorClass::Invalid(describe(status)),
        _ if never_sent(status) => ErrorClass::NeverSent(describe(status)),
        _ => ErrorClass::Unknown(describe(status)),
    }
}

/// True when the status says the connection could not be established (refused,
/// unreachable, connect timeout), so the request never left this process. tonic keeps
/// the transport error as the status's source; its [`tonic::ConnectError`] marks
/// failures of the connector, before any byte of the request was written.
pub fn never_sent(status: &Status) -> bool {
    causes(status).any(|err| err.downcast_ref::<tonic::ConnectError>().is_some())
}

/// How long before a client's deadline (its `grpc-timeout`) a raftkv node that has no
/// outcome yet answers `DEADLINE_EXCEEDED`, so the answer reaches the client in time. A
/// client that hears nothing at all before its deadline then knows the node said nothing
/// (a paused node, say), not that it was waiting for a commit; and a client retrying an
/// ambiguous write stops once less than this is left, since no node could answer it.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(50);

/// True when the status is the client's own deadline passing before any answer came:
/// tonic's channel enforces the request's `grpc-timeout` and reports it as `CANCELLED`
/// "Timeout expired", built locally (a status decoded from a response carries the
/// response's headers as metadata).
pub fn unanswered(status: &Status) -> bool {
    status.code() == Code::Cancelled
        && status.message() == tonic::TimeoutExpired(()).to_string()
        && status.metadata().is_empty()
}

/// The chain of errors underneath a status, outermost first.
fn causes(status: &Status) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(status), |err| err.source())
}

/// A short text for a status: code and message, and the root cause underneath a
/// transport error (say "Connection refused (os error 111)"), which tonic's message
/// alone ("tcp connect error") leaves out.
pub fn describe(status: &Status) -> String {
    let msg = status.message();
    let text = if msg.is_empty() {
        format!("{:?}", status.code())
    } else {
        format!("{:?}: {msg}", status.code())
    };
    match causes(status).last().map(ToString::to_string) {
        Some(root) if !text.contains(&root) => format!("{text}: {root}"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Silent;

    /// Every kind of write that times out is `Unknown` (info), never `Rejected`.
    #[tokio::test]
    async fn a_timed_out_write_is_unknown_never_rejected() {
        let server = Silent::start();
        let client = KvClient::new(vec![server.addr.clone()], 7)
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        let outcomes = [
            ("put", client.put(b"k", b"1").await.err()),
            ("delete", client.delete(b"k").await.err()),
            ("cas", client.cas(b"k", None, b"2").await.err()),
            ("append", client.append(b"k", b"3").await.err()),
        ];
        for (write, outcome) in outcomes {
            match outcome {
                Some(ClientError::Unknown(why)) => assert!(why.contains("timed out"), "{why}"),
                other => panic!("a timed-out {write} must be Unknown, got {other:?}"),
            }
        }
    }
}
