//! The gRPC services: the client API (`proto/kv.proto`) and the peer RPC
//! (`proto/raft.proto`). Both only validate, translate and queue events for the
//! node task ([`super::node`]); neither touches Raft state directly.
//!
//! Deadlines: a client request waits for the node task at most the server's request
//! timeout, and answers `DEADLINE_EXCEEDED` [`ANSWER_MARGIN`] before the client's own
//! deadline (its `grpc-timeout`) when that comes first, so a client hears "no outcome in
//! time" from a node that is alive, and silence only from one that is not answering.
//!
//! Limits: keys are 1 to [`MAX_KEY_BYTES`] bytes, values (and CAS expectations)
//! at most [`MAX_VALUE_BYTES`]; larger requests are INVALID_ARGUMENT. Appends can
//! make a stored value grow past the value limit; reads still return it as long as
//! it fits [`MAX_CLIENT_MESSAGE_BYTES`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::crash::CrashPoint;
use super::forward::{client_timeout, Forwarder};
use super::node::{Event, NodeStatus};
use super::state_machine::{Command, Request as KvRequest};
use super::Cluster;
use crate::client::ANSWER_MARGIN;
use crate::proto::kv::kv_client::KvClient;
use crate::proto::kv::kv_server::Kv;
use crate::proto::kv::{
    AppendRequest, CasRequest, CrashRequest, CrashResponse, DeleteRequest, GetRequest, GetResponse,
    PutRequest, RequestHeader, StatusRequest, StatusResponse, WriteResponse,
};
use crate::proto::message_from_proto;
use crate::proto::raft::raft_server::Raft;
use crate::proto::raft::{MessageBatch, SendResponse};
use crate::raft::NodeId;

/// Largest key accepted.
pub const MAX_KEY_BYTES: usize = 4096;
/// Largest value accepted in one request.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Largest client message the server reads or writes.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 << 20;

/// FAILED_PRECONDITION "not leader", with the leader's name and address when known.
pub fn not_leader(cluster: &Cluster, leader: Option<NodeId>) -> Status {
    let mut status = Status::failed_precondition("not leader");
    if let Some(id) = leader.filter(|&id| id != cluster.self_id) {
        if let (Some(name), Some(addr)) = (cluster.name(id), cluster.addr(id)) {
            if let (Ok(name), Ok(addr)) =
                (MetadataValue::try_from(name), MetadataValue::try_from(addr))
            {
                status.metadata_mut().insert("leader-id", name);
                status.metadata_mut().insert("leader-addr", addr);
            }
        }
    }
    status
}

/// The client API.
pub struct KvService {
    /// Queue of the node task.
    events: mpsc::Sender<Event>,
    /// The node's latest status.
    status: watch::Receiver<NodeStatus>,
    /// Names and addresses of the voters.
    cluster: Arc<Cluster>,
    /// How long a request may wait for the node task.
    timeout: Duration,
    /// Passes requests on to the leader when this node follows one.
    forwarder: Forwarder,
    /// Whether every read is served locally (the `stale-read` bug): never forwarded.
    local_reads: bool,
}

impl KvService {
    /// A service queueing events on `events`; with `local_reads` every read is
    /// served by this node (see [`Forwarder`] for the others).
    pub fn new(
        events: mpsc::Sender<Event>,
        status: watch::Receiver<NodeStatus>,
        cluster: Cluster,
        timeout: Duration,
        local_reads: bool,
    ) -> KvService {
        let cluster = Arc::new(cluster);
        KvService {
            forwarder: Forwarder::new(cluster.clone(), status.clone(), timeout),
            events,
            status,
            cluster,
            timeout,
            local_reads,
        }
    }

    /// How long `request` may wait for the node task: the server's request timeout, or
    /// until [`ANSWER_MARGIN`] before the client's deadline when that comes first.
    fn budget<T>(&self, request: &Request<T>) -> Duration {
        client_timeout(request).map_or(self.timeout, |client| {
            client.saturating_sub(ANSWER_MARGIN).min(self.timeout)
        })
    }

    /// Queues an event built around a reply channel and waits `budget` for the answer.
    async fn call<T>(
        &self,
        budget: Duration,
        make: impl FnOnce(oneshot::Sender<Result<T, Status>>) -> Event,
    ) -> Result<T, Status> {
        let (tx, rx) = oneshot::channel();
        self.events
            .send(make(tx))
            .await
            .map_err(|_| Status::unavailable("node is shutting down"))?;
        match tokio::time::timeout(budget, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Status::unavailable(
                "node is shutting down; outcome unknown",
            )),
            Err(_) if budget < self.timeout => Err(Status::deadline_exceeded(
                "no outcome before the client's deadline; outcome unknown",
            )),
            Err(_) => Err(Status::deadline_exceeded(
                "no outcome within the server's request timeout",
            )),
        }
    }

    /// Validates and proposes a write.
    async fn write(
        &self,
        budget: Duration,
        header: Option<RequestHeader>,
        command: Command,
    ) -> Result<Response<WriteResponse>, Status> {
        let header = header.ok_or_else(|| {
            Status::invalid_argument("missing request header (client id, sequence)")
        })?;
        let request = KvRequest {
            client_id: header.client_id,
            sequence: header.sequence,
            command,
        };
        let data = request.encode();
        let outcome = self
            .call(budget, |reply| Event::Write { data, reply })
            .await?;
        Ok(Response::new(WriteResponse {
            succeeded: outcome.succeeded,
            index: outcome.index,
        }))
    }
}

/// Rejects an empty or oversized key.
fn check_key(key: &[u8]) -> Result<(), Status> {
    if key.is_empty() {
        return Err(Status::invalid_argument("empty key"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Status::invalid_argument(format!(
            "key of {} bytes exceeds {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

/// Rejects an oversized value.
fn check_value(value: &[u8]) -> Result<(), Status> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Status::invalid_argument(format!(
            "value of {} bytes exceeds {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        if !request.get_ref().serializable && !self.local_reads {
            if let Some(leader) = self.forwarder.leader_for(&request) {
                let call = |mut c: KvClient<Channel>, r| async move { c.get(r).await };
                return self.forwarder.forward(leader, request, call).await;
            }
        }
        let budget = self.budget(&request);
        let GetRequest { key, serializable } = request.into_inner();
        check_key(&key)?;
        let outcome = self
            .call(budget, |reply| Event::Read {
                key,
                serializable,
                reply,
            })
            .await?;
        Ok(Response::new(GetResponse {
            found: outcome.value.is_some(),
            value: outcome.value.unwrap_or_default(),
            index: outcome.index,
        }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<WriteResponse>, Status> {
        if let Some(leader) = self.forwarder.leader_for(&request) {
            let call = |mut c: KvClient<Channel>, r| async move { c.put(r).await };
            return self.forwarder.forward(leader, request, call).await;
        }
        let budget = self.budget(&request);
        let PutRequest { header, key, value } = request.into_inner();
        check_key(&key)?;
        check_value(&value)?;
        self.write(budget, header, Command::Put { key, value })
            .await
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<WriteResponse>, Status> {
        if let Some(leader) = self.forwarder.leader_for(&request) {
            let call = |mut c: KvClient<Channel>, r| async move { c.delete(r).await };
            return self.forwarder.forward(leader, request, call).await;
        }
        let budget = self.budget(&request);
        let DeleteRequest { header, key } = request.into_inner();
        check_key(&key)?;
        self.write(budget, header, Command::Delete { key }).await
    }

    async fn cas(&self, request: Request<CasRequest>) -> Result<Response<WriteResponse>, Status> {
        if let Some(leader) = self.forwarder.leader_for(&request) {
            let call = |mut c: KvClient<Channel>, r| async move { c.cas(r).await };
            return self.forwarder.forward(leader, request, call).await;
        }
        let budget = self.budget(&request);
        let CasRequest {
            header,
            key,
            expected,
            new_value,
        } = request.into_inner();
        check_key(&key)?;
        check_value(&new_value)?;
        if let Some(expected) = &expected {
            check_value(expected)?;
        }
        self.write(
            budget,
            header,
            Command::Cas {
                key,
                expected,
                new_value,
            },
        )
        .await
    }

    async fn append(
        &self,
        request: Request<AppendRequest>,
    ) -> Result<Response<WriteResponse>, Status> {
        if let Some(leader) = self.forwarder.leader_for(&request) {
            let call = |mut c: KvClient<Channel>, r| async move { c.append(r).await };
            return self.forwarder.forward(leader, request, call).await;
        }
        let budget = self.budget(&request);
        let AppendRequest { header, key, value } = request.into_inner();
        check_key(&key)?;
        check_value(&value)?;
        self.write(budget, header, Command::Append { key, value })
            .await
    }

    async fn crash(
        &self,
        request: Request<CrashRequest>,
    ) -> Result<Response<CrashResponse>, Status> {
        let budget = self.budget(&request);
        let CrashRequest {
            point,
            armed,
            expires_in_ms,
        } = request.into_inner();
        let point = point
            .parse::<CrashPoint>()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let expires =
            (expires_in_ms > 0).then(|| Instant::now() + Duration::from_millis(expires_in_ms));
        self.call(budget, |reply| Event::Crash {
            point,
            armed,
            expires,
            reply,
        })
        .await?;
        Ok(Response::new(CrashResponse {}))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let status = self.status.borrow().clone();
        let cluster = &self.cluster;
        let name = |id: Option<NodeId>| {
            id.and_then(|id| cluster.name(id))
                .unwrap_or_default()
                .to_string()
        };
        let addr = |id: Option<NodeId>| {
            id.and_then(|id| cluster.addr(id))
                .unwrap_or_default()
                .to_string()
        };
        Ok(Response::new(StatusResponse {
            node_id: name(Some(cluster.self_id)),
            role: status.role.to_string(),
            term: status.term,
            leader_id: name(status.leader),
            commit_index: status.commit,
            applied_index: status.applied,
            last_log_index: status.last_index,
            leader_addr: addr(status.leader),
        }))
    }
}

/// The peer RPC: forwards received message batches to the node task.
pub struct RaftService {
    /// Queue of the node task.
    events: mpsc::Sender<Event>,
    /// This node's id; messages addressed elsewhere are dropped.
    self_id: NodeId,
}

impl RaftService {
    /// A service queueing peer messages on `events`.
    pub fn new(events: mpsc::Sender<Event>, self_id: NodeId) -> RaftService {
        RaftService { events, self_id }
    }
}

#[tonic::async_trait]
impl Raft for RaftService {
    async fn send(
        &self,
        request: Request<Streaming<MessageBatch>>,
    ) -> Result<Response<SendResponse>, Status> {
        let mut stream = request.into_inner();
        while let Some(batch) = stream.message().await? {
            let mut messages = Vec::with_capacity(batch.messages.len());
            for m in batch.messages {
                let m = message_from_proto(m)
                    .ok_or_else(|| Status::invalid_argument("message without a body"))?;
                if m.to == self.self_id {
                    messages.push(m);
                }
            }
            if messages.is_empty() {
                continue;
            }
            self.events
                .send(Event::Peer(messages))
                .await
                .map_err(|_| Status::unavailable("node is shutting down"))?;
        }
        Ok(Response::new(SendResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::Role;

    /// A service whose node task never answers (nobody reads its events), that believes
    /// it leads (so it forwards nothing), with a server request timeout of `timeout`.
    fn unanswered_service(
        timeout: Duration,
    ) -> (KvService, mpsc::Receiver<Event>, watch::Sender<NodeStatus>) {
        let (events, queued) = mpsc::channel(8);
        let (status_tx, status) = watch::channel(NodeStatus {
            role: Role::Leader,
            term: 1,
            leader: Some(1),
            commit: 0,
            applied: 0,
            last_index: 0,
        });
        let peers = [("n1".to_string(), "127.0.0.1:1".to_string())];
        let cluster = Cluster::new("n1", &peers).unwrap();
        let service = KvService::new(events, status, cluster, timeout, false);
        (service, queued, status_tx)
    }

    fn put(timeout: Option<Duration>) -> Request<PutRequest> {
        let mut request = Request::new(PutRequest {
            header: Some(RequestHeader {
                client_id: 1,
                sequence: 1,
            }),
            key: b"k".to_vec(),
            value: b"1".to_vec(),
        });
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        request
    }

    #[tokio::test]
    async fn a_write_without_outcome_is_answered_before_the_clients_deadline() {
        let (service, _queued, _status) = unanswered_service(Duration::from_secs(600));
        let request = put(Some(Duration::from_millis(300)));
        assert_eq!(
            service.budget(&request),
            Duration::from_millis(300) - ANSWER_MARGIN,
            "the node gives up a margin before the client does"
        );
        let status = service.put(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        assert!(
            status.message().contains("before the client's deadline"),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn without_a_client_deadline_the_servers_request_timeout_bounds_a_write() {
        let (service, _queued, _status) = unanswered_service(Duration::from_millis(100));
        let request = put(None);
        assert_eq!(service.budget(&request), Duration::from_millis(100));
        let status = service.put(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        assert!(
            status.message().contains("server's request timeout"),
            "{status:?}"
        );
        // A client deadline beyond the server's timeout does not lengthen it.
        let late = put(Some(Duration::from_secs(60)));
        assert_eq!(service.budget(&late), Duration::from_millis(100));
    }
}
