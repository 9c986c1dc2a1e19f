//! Forwarding of client requests from a follower to the leader it knows, as etcd
//! does, so a client may keep talking to one node through elections and partitions.
//!
//! A node that does not lead but knows a leader passes a linearizable read or a
//! write on unchanged (its request header, client id and sequence, included, so the
//! leader's de-duplication still holds) and returns the leader's answer. A node that
//! knows no leader, or believes it leads, handles the request itself (the node task
//! answers "not leader" when it cannot). Serializable reads are never forwarded.
//!
//! Loops: a forwarded request carries the [`FORWARDED`] metadata and is never
//! forwarded again; a non-leader that receives one answers "not leader" itself.
//!
//! Deadline: the hop is bounded by the client's deadline (its `grpc-timeout`) and by
//! the node's own request timeout, whichever is shorter. A forward that times out or
//! loses its connection after sending is answered with an error the client must
//! classify as unknown (`DEADLINE_EXCEEDED`, `UNAVAILABLE`): the leader may have
//! applied it. Only a connection to the leader that could not be established at all
//! (the request never left this node) is answered "not leader". A forward also ends,
//! as `UNAVAILABLE`, as soon as this node stops following the leader it went to (the
//! node campaigns or hears of another leader): its clients then learn within an
//! election timeout that the leader is cut off, not at their deadline, and reach the
//! next leader while the old one may still answer its own clients.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::node::NodeStatus;
use super::service::{not_leader, MAX_CLIENT_MESSAGE_BYTES};
use super::Cluster;
use crate::client::{describe, never_sent};
use crate::proto::kv::kv_client::KvClient;
use crate::raft::{NodeId, Role};

/// Request metadata marking a forwarded request (value: the forwarding node's name).
pub const FORWARDED: &str = "raftkv-forwarded";

/// Forwards requests to the leader over lazily connected channels.
pub struct Forwarder {
    /// Names and addresses of the voters.
    cluster: Arc<Cluster>,
    /// The node's latest status (role and known leader).
    status: watch::Receiver<NodeStatus>,
    /// One channel per leader forwarded to so far.
    channels: Mutex<HashMap<NodeId, Channel>>,
    /// The node's request timeout, the longest a forward may take.
    timeout: Duration,
}

impl Forwarder {
    /// A forwarder for the node described by `cluster` and `status`.
    pub fn new(
        cluster: Arc<Cluster>,
        status: watch::Receiver<NodeStatus>,
        timeout: Duration,
    ) -> Forwarder {
        Forwarder {
            cluster,
            status,
            channels: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// The leader to forward `request` to: some other node this node follows, unless
    /// the request was forwarded already.
    pub fn leader_for<T>(&self, request: &Request<T>) -> Option<NodeId> {
        if request.metadata().contains_key(FORWARDED) {
            return None;
        }
        let status = self.status.borrow();
        if status.role == Role::Leader {
            return None;
        }
        status.leader.filter(|&id| id != self.cluster.self_id)
    }

    /// Sends `request` to `leader` with `call` and returns its answer (see the
    /// module docs for the errors).
    pub async fn forward<Req, Resp, F, Fut>(
        &self,
        leader: NodeId,
        request: Request<Req>,
        call: F,
    ) -> Result<Response<Resp>, Status>
    where
        F: FnOnce(KvClient<Channel>, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let budget = client_timeout(&request).map_or(self.timeout, |t| t.min(self.timeout));
        let name = self.cluster.name(leader).unwrap_or("?").to_string();
        let client = self.client(leader)?;
        let mut forwarded = Request::new(request.into_inner());
        forwarded.set_timeout(budget);
        let me = self.cluster.name(self.cluster.self_id).unwrap_or("?");
        if let Ok(me) = MetadataValue::try_from(me) {
            forwarded.metadata_mut().insert(FORWARDED, me);
        }
        let answer = tokio::select! {
            answer = tokio::time::timeout(budget, call(client, forwarded)) => answer,
            () = self.no_longer_following(leader) => {
                return Err(Status::unavailable(format!(
                    "forwarded to leader {name}, which this node no longer follows; outcome unknown"
                )));
            }
        };
        match answer {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(status)) if never_sent(&status) => Err(Status::failed_precondition(format!(
                "not leader (leader {name} unreachable: {})",
                describe(&status)
            ))),
            // The leader's own answer (decoded from the wire, so without a local cause).
            Ok(Err(status)) if std::error::Error::source(&status).is_none() => Err(status),
            Ok(Err(status)) => Err(Status::unavailable(format!(
                "forwarded to leader {name}; outcome unknown: {}",
                describe(&status)
            ))),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "forwarded to leader {name}; no answer within {budget:?}, outcome unknown"
            ))),
        }
    }

    /// Resolves once this node stops following `leader` (it campaigns, or hears of
    /// another leader): a forward still waiting then will not be answered in time,
    /// since a leader cut off from this node is the usual reason for both.
    async fn no_longer_following(&self, leader: NodeId) {
        let mut status = self.status.clone();
        if status.wait_for(|s| s.leader != Some(leader)).await.is_err() {
            // The node is shutting down: the forward's own deadline ends it.
            std::future::pending::<()>().await;
        }
    }

    /// A client of `leader` over its cached channel.
    fn client(&self, leader: NodeId) -> Result<KvClient<Channel>, Status> {
        let mut channels = self.channels.lock().expect("channels lock");
        let channel = match channels.get(&leader) {
            Some(channel) => channel.clone(),
            None => {
                let addr = self
                    .cluster
                    .addr(leader)
                    .ok_or_else(|| not_leader(&self.cluster, None))?;
                let channel = Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|e| Status::internal(format!("bad peer address {addr:?}: {e}")))?
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
                    .connect_lazy();
                channels.insert(leader, channel.clone());
                channel
            }
        };
        Ok(KvClient::new(channel)
            .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_CLIENT_MESSAGE_BYTES))
    }
}

/// The client's deadline from the `grpc-timeout` header (`<digits><H|M|S|m|u|n>`).
pub(super) fn client_timeout<T>(request: &Request<T>) -> Option<Duration> {
    let text = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::kv::{GetRequest, PutRequest, RequestHeader, StatusRequest};
    use crate::server::{run, NodeConfig};
    use tokio::sync::oneshot;
    use tonic::Code;

    /// Nodes `names` of a cluster of `size` on loopback (only `names` are started).
    struct Nodes {
        /// `(name, address)` of every member.
        peers: Vec<(String, String)>,
        /// Shutdown triggers and tasks of the started nodes.
        running: Vec<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
        /// Keeps the data directories.
        _dir: tempfile::TempDir,
    }

    impl Nodes {
        async fn start(size: usize, started: usize) -> Nodes {
            let dir = tempfile::tempdir().unwrap();
            let peers: Vec<(String, String)> = (1..=size)
                .map(|i| {
                    let port = std::net::TcpListener::bind("127.0.0.1:0")
                        .unwrap()
                        .local_addr()
                        .unwrap()
                        .port();
                    (format!("n{i}"), format!("127.0.0.1:{port}"))
                })
                .collect();
            let mut running = Vec::new();
            for (name, addr) in peers.iter().take(started) {
                let config = NodeConfig::new(
                    name.clone(),
                    addr.parse().unwrap(),
                    peers.clone(),
                    dir.path().join(name),
                );
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    run(config, async move {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("node runs");
                });
                running.push((stop, task));
            }
            Nodes {
                peers,
                running,
                _dir: dir,
            }
        }

        async fn client(&self, i: usize) -> KvClient<Channel> {
            let endpoint = Endpoint::from_shared(format!("http://{}", self.peers[i].1)).unwrap();
            KvClient::new(endpoint.connect_lazy())
        }

        /// The index of a follower that knows a leader (bounded wait).
        async fn follower(&self) -> usize {
            for _ in 0..300 {
                for i in 0..self.running.len() {
                    let mut c = self.client(i).await;
                    if let Ok(s) = c.status(StatusRequest {}).await {
                        let s = s.into_inner();
                        if s.role == "follower" && !s.leader_id.is_empty() {
                            return i;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no follower learned of a leader within 15 s");
        }

        async fn stop(self) {
            for (stop, task) in self.running {
                let _ = stop.send(());
                task.await.unwrap();
            }
        }
    }

    fn put(value: &str) -> PutRequest {
        PutRequest {
            header: Some(RequestHeader {
                client_id: 1,
                sequence: 1,
            }),
            key: b"k".to_vec(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follower_forwards_writes_and_reads_to_the_leader() {
        let nodes = Nodes::start(3, 3).await;
        let follower = nodes.follower().await;
        let mut c = nodes.client(follower).await;
        let written = c.put(put("v1")).await.expect("forwarded put succeeds");
        assert!(written.into_inner().succeeded);
        // A retry of the same (client id, sequence) is de-duplicated by the leader.
        let again = c.put(put("v2")).await.expect("forwarded retry succeeds");
        assert!(again.into_inner().succeeded);
        let read = c
            .get(GetRequest {
                key: b"k".to_vec(),
                serializable: false,
            })
            .await
            .expect("forwarded read succeeds")
            .into_inner();
        assert!(read.found);
        assert_eq!(read.value, b"v1", "the retry was applied once, not twice");
        // A request already forwarded once is not forwarded again.
        let mut marked = Request::new(put("v3"));
        marked
            .metadata_mut()
            .insert(FORWARDED, "n9".parse().unwrap());
        let status = c.put(marked).await.expect_err("no second hop");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(status.metadata().get("leader-id").is_some(), "{status:?}");
        nodes.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_that_knows_no_leader_answers_not_leader() {
        let nodes = Nodes::start(3, 1).await;
        let mut c = nodes.client(0).await;
        let mut answered = None;
        for _ in 0..100 {
            match c.put(put("v")).await {
                Err(status) if status.code() == Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => {
                    answered = Some(other);
                    break;
                }
            }
        }
        let status = answered
            .expect("the node answers within 5 s")
            .expect_err("no leader, no write");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(status.metadata().get("leader-id").is_none(), "{status:?}");
        let read = c
            .get(GetRequest {
                key: b"k".to_vec(),
                serializable: false,
            })
            .await
            .expect_err("no leader, no linearizable read");
        assert_eq!(read.code(), Code::FailedPrecondition, "{read:?}");
        nodes.stop().await;
    }

    /// Whether `forward` is still pending after 100 ms.
    async fn still_waiting<F: Future + Unpin>(forward: &mut F) -> bool {
        tokio::select! {
            _ = forward => false,
            () = tokio::time::sleep(Duration::from_millis(100)) => true,
        }
    }

    #[tokio::test]
    async fn a_forward_ends_when_the_node_stops_following_its_leader() {
        let peers = [("n1", "127.0.0.1:9"), ("n2", "127.0.0.1:10")]
            .map(|(name, addr)| (name.to_string(), addr.to_string()));
        let cluster = Arc::new(Cluster::new("n1", &peers).unwrap());
        let status = |leader, commit| NodeStatus {
            role: Role::Follower,
            term: 1,
            leader,
            commit,
            applied: commit,
            last_index: commit,
        };
        let (publish, watched) = watch::channel(status(Some(2), 0));
        // The node's own timeout is far beyond the test's bound: only the status
        // change below can end the forward.
        let forwarder = Forwarder::new(cluster, watched, Duration::from_secs(3600));
        let never_answered = |_, _| std::future::pending::<Result<Response<()>, Status>>();
        let forward = forwarder.forward(2, Request::new(put("v")), never_answered);
        tokio::pin!(forward);
        assert!(
            still_waiting(&mut forward).await,
            "the leader it follows may still answer"
        );
        publish.send(status(Some(2), 7)).unwrap();
        assert!(
            still_waiting(&mut forward).await,
            "progress under the same leader changes nothing"
        );
        publish.send(status(None, 7)).unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(60), &mut forward)
            .await
            .expect("the forward ends once the node campaigns");
        let status = answer.expect_err("no answer from the old leader");
        assert_eq!(
            status.code(),
            Code::Unavailable,
            "outcome unknown: {status:?}"
        );
    }

    #[test]
    fn reads_the_client_deadline() {
        let with = |value: &str| {
            let mut request = Request::new(());
            request
                .metadata_mut()
                .insert("grpc-timeout", value.parse().unwrap());
            client_timeout(&request)
        };
        assert_eq!(with("250m"), Some(Duration::from_millis(250)));
        assert_eq!(with("3S"), Some(Duration::from_secs(3)));
        assert_eq!(with("2M"), Some(Duration::from_secs(120)));
        assert_eq!(with("7x"), None);
        assert_eq!(with("m"), None);
        assert_eq!(client_timeout(&Request::new(())), None);
    }
}
