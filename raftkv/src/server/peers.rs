//! Outbound peer connections: one task per peer keeps a client-streaming `Send`
//! call open and pushes message batches down it.
//!
//! Peers connect lazily and reconnect forever with exponential backoff (10 ms to
//! 1 s): nodes get killed, paused and partitioned, and an unreachable peer must
//! never stop this node. While a peer is unreachable its messages are dropped
//! (Raft retransmits what matters). HTTP/2 keepalive pings detect a paused or
//! partitioned peer whose TCP connection still looks open; a bounded queue in
//! front of the stream drops messages rather than buffering without limit.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

use super::Cluster;
use crate::proto::message_to_proto;
use crate::proto::raft::raft_client::RaftClient;
use crate::proto::raft::MessageBatch;
use crate::raft::{Message, NodeId};

/// Largest peer message (snapshots travel in one message).
pub const MAX_PEER_MESSAGE_BYTES: usize = 1 << 30;
/// Batches that may wait for a slow stream before new ones are dropped.
const STREAM_QUEUE: usize = 256;

/// Handles to the per-peer sender tasks.
pub struct Peers {
    /// Queue of each peer's sender task.
    senders: HashMap<NodeId, mpsc::UnboundedSender<Vec<Message>>>,
}

impl Peers {
    /// Spawns a sender task for every member other than this node.
    pub fn spawn(cluster: &Cluster) -> Peers {
        let mut senders = HashMap::new();
        for (&id, (name, addr)) in &cluster.members {
            if id == cluster.self_id {
                continue;
            }
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(peer_task(name.clone(), addr.clone(), rx));
            senders.insert(id, tx);
        }
        Peers { senders }
    }

    /// Hands messages to their peers' sender tasks, one batch per peer.
    pub fn send(&self, messages: Vec<Message>) {
        let mut by_peer: HashMap<NodeId, Vec<Message>> = HashMap::new();
        for m in messages {
            by_peer.entry(m.to).or_default().push(m);
        }
        for (to, batch) in by_peer {
            match self.senders.get(&to) {
                // A closed queue means the runtime is shutting down.
                Some(tx) => drop(tx.send(batch)),
                None => tracing::warn!(to, "message to an unknown peer dropped"),
            }
        }
    }
}

/// Sleeps for `pause` while discarding queued messages; false once the queue closed.
async fn drain_for(rx: &mut mpsc::UnboundedReceiver<Vec<Message>>, pause: Duration) -> bool {
    let sleep = tokio::time::sleep(pause);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            batch = rx.recv() => if batch.is_none() { return false },
        }
    }
}

/// Delivers messages to one peer for as long as the node runs.
async fn peer_task(name: String, addr: String, mut rx: mpsc::UnboundedReceiver<Vec<Message>>) {
    let endpoint = match Endpoint::from_shared(format!("http://{addr}")) {
        Ok(endpoint) => endpoint
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_millis(500))
            .keep_alive_timeout(Duration::from_secs(1))
            .keep_alive_while_idle(true),
        Err(e) => {
            tracing::error!(peer = %name, %addr, "bad peer address, not connecting: {e}");
            return;
        }
    };
    let min_backoff = Duration::from_millis(10);
    let mut backoff = min_backoff;
    loop {
        let channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(_) => {
                if !drain_for(&mut rx, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let mut client = RaftClient::new(channel)
            .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES);
        let (tx, stream_rx) = mpsc::channel::<MessageBatch>(STREAM_QUEUE);
        let call = async move { client.send(ReceiverStream::new(stream_rx)).await };
        tokio::pin!(call);
        let mut delivered_any = false;
        loop {
            tokio::select! {
                result = &mut call => {
                    if let Err(status) = result {
                        tracing::debug!(peer = %name, "peer stream ended: {status}");
                    }
                    break;
                }
                batch = rx.recv() => {
                    let Some(mut messages) = batch else { return };
                    while let Ok(more) = rx.try_recv() {
                        messages.extend(more);
                    }
                    let batch = MessageBatch { messages: messages.iter().map(message_to_proto).collect() };
                    match tx.try_send(batch) {
                        Ok(()) => delivered_any = true,
                        Err(mpsc::error::TrySendError::Full(_)) => {}
                        Err(mpsc::error::TrySendError::Closed(_)) => break,
                    }
                }
            }
        }
        backoff = if delivered_any {
            min_backoff
        } else {
            (backoff * 2).min(Duration::from_secs(1))
        };
        if !drain_for(&mut rx, backoff).await {
            return;
        }
    }
}
