//! The event loop that owns the Raft core, the storage and the state machine.
//!
//! See the module documentation of [`crate::server`] for the order in which a
//! `Ready` is handled. The loop runs on a dedicated thread (with a
//! single-threaded runtime for its timer and channels), so its storage calls may
//! block on fsync without stalling the gRPC tasks; events arriving meanwhile
//! queue up in the channel and form the next batch, which is how group commit
//! happens.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tonic::Status;

use super::bugs::BugSet;
use super::crash::{self, CrashPoint};
use super::peers::{Peers, MAX_PEER_MESSAGE_BYTES};
use super::service::{not_leader, KvService, RaftService, MAX_CLIENT_MESSAGE_BYTES};
use super::state_machine::{Applied, Command, KvStore, Request};
use super::{Cluster, NodeConfig, ServerError};
use crate::proto::kv::kv_server::KvServer;
use crate::proto::raft::raft_server::RaftServer;
use crate::raft::{self, Message, RaftNode, Ready, Role, Snapshot, SnapshotMeta};
use crate::storage::Storage;

/// Events queued for the node task.
pub enum Event {
    /// A client write, already encoded as entry data.
    Write {
        /// The encoded [`Request`](super::state_machine::Request).
        data: Vec<u8>,
        /// Where to send the outcome.
        reply: oneshot::Sender<Result<WriteOutcome, Status>>,
    },
    /// A client read.
    Read {
        /// The key.
        key: Vec<u8>,
        /// Serve from local state without confirming leadership.
        serializable: bool,
        /// Where to send the value.
        reply: oneshot::Sender<Result<ReadOutcome, Status>>,
    },
    /// Messages from a peer.
    Peer(Vec<Message>),
    /// Arm or disarm a crash point (a test hook, see [`super::crash`]).
    Crash {
        /// The point.
        point: CrashPoint,
        /// Arm (true) or disarm (false).
        armed: bool,
        /// When an armed point disarms itself (`None`: never).
        expires: Option<Instant>,
        /// Answered once done.
        reply: oneshot::Sender<Result<(), Status>>,
    },
}

/// What a committed write did.
#[derive(Debug, Clone, Copy)]
pub struct WriteOutcome {
    /// False only for a CAS whose expectation did not hold.
    pub succeeded: bool,
    /// Index of the entry that carried the write.
    pub index: u64,
}

/// A value read.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// The value, if the key exists.
    pub value: Option<Vec<u8>>,
    /// Applied index the read was served at.
    pub index: u64,
}

/// This node's view of the cluster, published for the Status RPC.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// Current role.
    pub role: Role,
    /// Current term.
    pub term: u64,
    /// Leader, if known.
    pub leader: Option<raft::NodeId>,
    /// Commit index.
    pub commit: u64,
    /// Applied index.
    pub applied: u64,
    /// Last log index.
    pub last_index: u64,
}

/// A write waiting for its entry to be applied.
struct PendingWrite {
    /// Term the entry was proposed in; a different term at its index means it was lost.
    term: u64,
    /// Where to answer.
    reply: oneshot::Sender<Result<WriteOutcome, Status>>,
}

/// A linearizable read waiting for its read index.
type PendingRead = (Vec<u8>, oneshot::Sender<Result<ReadOutcome, Status>>);

/// The state owned by the node task.
struct Node {
    /// The Raft core.
    raft: RaftNode,
    /// WAL and snapshots.
    storage: Storage,
    /// The state machine.
    kv: KvStore,
    /// Names and addresses of the voters.
    cluster: Cluster,
    /// Outbound message queues.
    peers: Peers,
    /// Applied index of the state machine.
    applied: u64,
    /// Term of the entry at `applied`.
    applied_term: u64,
    /// Index of the latest snapshot.
    snapshot_index: u64,
    /// Snapshot after this many applied entries.
    snapshot_every: u64,
    /// Writes by proposed index.
    writes: HashMap<u64, PendingWrite>,
    /// Reads gathered in the current event batch.
    read_batch: Vec<PendingRead>,
    /// Reads waiting for their ReadIndex round, by request id.
    reads: HashMap<u64, Vec<PendingRead>>,
    /// Reads whose round completed, waiting to reach their read index.
    ready_reads: BTreeMap<u64, Vec<PendingRead>>,
    /// Next ReadIndex request id.
    next_read_id: u64,
    /// Published status.
    status: watch::Sender<NodeStatus>,
    /// Role last logged.
    role: Role,
    /// Deliberate bugs switched on (see [`super::bugs`]).
    bugs: BugSet,
    /// Crash points armed by a test, with when each disarms itself (if ever).
    crash_points: BTreeMap<CrashPoint, Option<Instant>>,
    /// A vote was granted and no entries were stored since (for `after-vote`).
    voted_since_store: bool,
    /// The `lease-read` bug's lease: reads are served locally until then.
    lease_until: Option<Instant>,
    /// How long a confirmed ReadIndex round extends the lease: the election timeout
    /// less one tick, which is how long, on real clocks, a follower that answered the
    /// round refuses to vote for anyone else (its leader stickiness counts whole ticks,
    /// the first of which may come at once).
    lease: Duration,
    /// When each ReadIndex round in flight started (only with `lease-read`).
    read_started: HashMap<u64, Instant>,
    /// Start a ReadIndex round in this batch even without reads, to renew the lease.
    renew_lease: bool,
}

/// Opens storage, starts the gRPC server and the peer senders, and runs the
/// event loop until `shutdown` resolves.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let cluster = Cluster::new(&config.name, &config.peers)?;
    let tick_ms = config.tick.as_millis().max(1);
    let election_tick = (config.election_timeout.as_millis() / tick_ms).max(2) as u32;
    let heartbeat_tick = (config.heartbeat_interval.as_millis() / tick_ms).max(1) as u32;
    if heartbeat_tick >= election_tick {
        return Err(ServerError::Config(format!(
            "heartbeat interval ({:?}) must be shorter than the election timeout ({:?})",
            config.heartbeat_interval, config.election_timeout
        )));
    }

    let (mut storage, recovered) = tokio::task::block_in_place(|| Storage::open(&config.data_dir))?;
    storage.set_bugs(config.bugs.storage);
    if recovered.discarded_bytes > 0 {
        tracing::warn!(
            bytes = recovered.discarded_bytes,
            "cut a torn tail off the write-ahead log"
        );
    }
    let mut kv = match &recovered.snapshot {
        Some(snapshot) => KvStore::from_snapshot(&snapshot.data)?,
        None => KvStore::default(),
    };
    if config.bugs.no_dedup {
        kv.disable_dedup();
    }
    let mut hard_state = recovered.hard_state;
    if config.bugs.forget_vote {
        // The `forget-vote` bug: behave as if term and vote were never written,
        // inferring the term from the log alone.
        let log_term = recovered
            .entries
            .last()
            .map(|e| e.term)
            .or(recovered.snapshot.as_ref().map(|s| s.meta.term))
            .unwrap_or(0);
        tracing::warn!(
            persisted_term = hard_state.term,
            vote = ?hard_state.vote,
            log_term,
            "bug forget-vote: dropping the persisted term and vote"
        );
        hard_state.term = log_term;
        hard_state.vote = None;
    }
    let snapshot_meta = recovered
        .snapshot
        .as_ref()
        .map(|s| s.meta)
        .unwrap_or_default();
    tracing::info!(
        node = %config.name,
        id = cluster.self_id,
        term = hard_state.term,
        snapshot = snapshot_meta.index,
        entries = recovered.entries.len(),
        "recovered"
    );

    let mut raft_config = raft::Config::new(
        cluster.self_id,
        cluster.members.keys().copied().collect(),
        config.seed ^ cluster.self_id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    raft_config.election_tick = election_tick;
    raft_config.heartbeat_tick = heartbeat_tick;
    raft_config.pre_vote = true;
    raft_config.check_quorum = true;
    raft_config.max_entries_per_message = 1024;
    raft_config.max_inflight_messages = 64;
    raft_config.bugs = config.bugs.core;
    raft_config
        .validate()
        .map_err(|e| ServerError::Config(e.to_string()))?;
    let raft = RaftNode::new(
        raft_config,
        raft::Restored {
            hard_state,
            snapshot: recovered.snapshot,
            entries: recovered.entries,
        },
    );

    let initial = raft.status();
    let (status_tx, status_rx) = watch::channel(NodeStatus {
        role: initial.role,
        term: initial.term,
        leader: initial.leader,
        commit: initial.commit,
        applied: initial.applied,
        last_index: initial.last_index,
    });
    let (events_tx, events_rx) = mpsc::channel(4096);
    let node = Node {
        raft,
        storage,
        kv,
        peers: Peers::spawn(&cluster),
        cluster: cluster.clone(),
        applied: snapshot_meta.index,
        applied_term: snapshot_meta.term,
        snapshot_index: snapshot_meta.index,
        snapshot_every: config.snapshot_every.max(1),
        writes: HashMap::new(),
        read_batch: Vec::new(),
        reads: HashMap::new(),
        ready_reads: BTreeMap::new(),
        next_read_id: 1,
        status: status_tx,
        role: initial.role,
        bugs: config.bugs,
        crash_points: BTreeMap::new(),
        voted_since_store: false,
        lease_until: None,
        lease: config.election_timeout.saturating_sub(config.tick),
        read_started: HashMap::new(),
        renew_lease: false,
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServerError::Bind(config.listen, e))?;
    tracing::info!(node = %config.name, listen = %listener.local_addr()?, "serving");
    let kv_service = KvService::new(
        events_tx.clone(),
        status_rx,
        cluster.clone(),
        config.request_timeout,
        config.bugs.stale_read,
    );
    let raft_service = RaftService::new(events_tx, cluster.self_id);
    // Accepted connections need TCP_NODELAY too: small responses must not wait
    // for Nagle's algorithm and the peer's delayed ACK (a 40 ms stall).
    let incoming = TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(stream)
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(
            KvServer::new(kv_service)
                .max_decoding_message_size(MAX_CLIENT_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_CLIENT_MESSAGE_BYTES),
        )
        .add_service(
            RaftServer::new(raft_service)
                .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = server_stop.changed().await;
        });
    let server = tokio::spawn(server);
    let (done_tx, mut event_loop) = oneshot::channel();
    let tick = config.tick;
    std::thread::Builder::new()
        .name("raft-node".into())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(node.run(events_rx, stop_rx, tick)),
                Err(e) => Err(ServerError::Io(e)),
            };
            let _ = done_tx.send(result);
        })?;

    let joined = tokio::select! {
        _ = shutdown => {
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
            (&mut event_loop).await
        }
        joined = &mut event_loop => joined,
    };
    let _ = stop_tx.send(true);
    let loop_result =
        joined.map_err(|e| ServerError::Config(format!("event loop panicked: {e}")))?;
    // Open peer streams may keep the server from finishing a graceful shutdown.
    match tokio::time::timeout(Duration::from_secs(2), server).await {
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Err(e)) => return Err(ServerError::Config(format!("gRPC server panicked: {e}"))),
        Ok(Ok(Ok(()))) | Err(_) => {}
    }
    loop_result
}

impl Node {
    /// Processes events, ticks and Ready batches until told to stop.
    async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        mut stop: watch::Receiver<bool>,
        tick: Duration,
    ) -> Result<(), ServerError> {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.raft.tick(),
                event = events.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    self.handle(event);
                    for _ in 0..4096 {
                        match events.try_recv() {
                            Ok(event) => self.handle(event),
                            Err(_) => break,
                        }
                    }
                }
                _ = stop.changed() => return Ok(()),
            }
            self.start_reads();
            while self.raft.has_ready() {
                let ready = self.raft.ready();
                if let Err(e) = self.process(ready) {
                    tracing::error!("stopping: {e}");
                    return Err(e);
                }
            }
            self.maybe_snapshot()?;
            self.publish_status();
        }
    }

    /// Handles one event.
    fn handle(&mut self, event: Event) {
        match event {
            Event::Peer(messages) => {
                for m in messages {
                    self.raft.step(m);
                }
            }
            Event::Write { data, reply } => match self.raft.propose(data) {
                Ok((index, term)) => {
                    if let Some(old) = self.writes.insert(index, PendingWrite { term, reply }) {
                        let _ = old
                            .reply
                            .send(Err(Status::aborted("leadership changed; outcome unknown")));
                    }
                }
                Err(e) => {
                    let _ = reply.send(Err(not_leader(&self.cluster, e.leader)));
                }
            },
            Event::Read {
                key,
                serializable,
                reply,
            } if serializable || self.bugs.stale_read || self.lease_holds() => {
                self.renew_lease_if_half_spent();
                let value = self.kv.get(&key).map(<[u8]>::to_vec);
                let _ = reply.send(Ok(ReadOutcome {
                    value,
                    index: self.applied,
                }));
            }
            Event::Read { key, reply, .. } => self.read_batch.push((key, reply)),
            Event::Crash {
                point,
                armed,
                expires,
                reply,
            } => {
                if armed {
                    self.crash_points.insert(point, expires);
                } else {
                    self.crash_points.remove(&point);
                }
                tracing::info!(%point, armed, "crash point set");
                let _ = reply.send(Ok(()));
            }
        }
    }

    /// The `lease-read` bug: whether this node's lease, measured on its own clock,
    /// still runs (whatever its role: the bug trusts the lease to mean leadership).
    fn lease_holds(&self) -> bool {
        self.bugs.lease_read && self.lease_until.is_some_and(|until| Instant::now() < until)
    }

    /// The `lease-read` bug: asks for a renewal round once half the lease is spent
    /// and none is in flight, so that a steady stream of reads keeps the lease.
    fn renew_lease_if_half_spent(&mut self) {
        let Some(until) = self.lease_until.filter(|_| self.bugs.lease_read) else {
            return;
        };
        if self.read_started.is_empty()
            && until.saturating_duration_since(Instant::now()) < self.lease / 2
        {
            self.renew_lease = true;
        }
    }

    /// Starts one ReadIndex round for all reads gathered in this batch (with
    /// `lease-read`, also one without reads when the lease asks for renewal).
    fn start_reads(&mut self) {
        let renew = std::mem::take(&mut self.renew_lease);
        if self.read_batch.is_empty() && !renew {
            return;
        }
        let batch = std::mem::take(&mut self.read_batch);
        let id = self.next_read_id;
        self.next_read_id += 1;
        match self.raft.read_index(id) {
            Ok(()) => {
                if self.bugs.lease_read {
                    self.read_started.insert(id, Instant::now());
                }
                self.reads.insert(id, batch);
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(not_leader(&self.cluster, e.leader)));
                }
            }
        }
    }

    /// Whether `point` is armed and has not expired.
    fn is_armed(&self, point: CrashPoint) -> bool {
        match self.crash_points.get(&point) {
            Some(Some(until)) => Instant::now() < *until,
            Some(None) => true,
            None => false,
        }
    }

    /// Handles one Ready in the order the core requires.
    fn process(&mut self, ready: Ready) -> Result<(), ServerError> {
        let stores_entries = ready.snapshot.is_some() || !ready.entries.is_empty();
        if stores_entries && self.voted_since_store {
            self.voted_since_store = false;
            if self.is_armed(CrashPoint::AfterVote) {
                crash::crash(CrashPoint::AfterVote);
            }
        }
        if let Some(snapshot) = &ready.snapshot {
            let mut kv = KvStore::from_snapshot(&snapshot.data)?;
            if self.bugs.no_dedup {
                kv.disable_dedup();
            }
            self.storage.install_snapshot(snapshot)?;
            self.kv = kv;
            self.applied = snapshot.meta.index;
            self.applied_term = snapshot.meta.term;
            self.snapshot_index = snapshot.meta.index;
            tracing::info!(
                index = snapshot.meta.index,
                "installed a snapshot from the leader"
            );
        }
        if ready.hard_state.is_some() || !ready.entries.is_empty() {
            self.storage
                .persist(ready.hard_state.as_ref(), &ready.entries)?;
        }
        let leads = ready.role_change.as_ref().map_or(self.role, |s| s.role) == Role::Leader;
        if leads && !ready.entries.is_empty() && self.is_armed(CrashPoint::AfterAppend) {
            crash::crash(CrashPoint::AfterAppend);
        }
        if self.bugs.ack_before_commit {
            self.ack_before_commit(&ready.entries);
        }
        if !ready.messages.is_empty() {
            self.voted_since_store |= ready.messages.iter().any(|m| {
                matches!(
                    m.body,
                    raft::MessageBody::RequestVoteResponse { granted: true }
                )
            });
            self.peers.send(ready.messages);
        }
        for entry in &ready.committed {
            if entry.index <= self.applied {
                continue;
            }
            assert_eq!(
                entry.index,
                self.applied + 1,
                "committed entries are applied in order without gaps"
            );
            let applied = self.kv.apply(entry);
            self.applied = entry.index;
            self.applied_term = entry.term;
            if let Some(pending) = self.writes.remove(&entry.index) {
                let result = match applied {
                    _ if pending.term != entry.term => Err(Status::aborted(
                        "the entry was replaced by another leader's; outcome unknown",
                    )),
                    Applied::Done { succeeded } | Applied::Duplicate { succeeded } => {
                        Ok(WriteOutcome {
                            succeeded,
                            index: entry.index,
                        })
                    }
                    Applied::Stale => Err(Status::aborted(
                        "sequence number older than the de-duplication window",
                    )),
                    Applied::Nothing => Err(Status::internal("the proposed entry did not decode")),
                };
                let _ = pending.reply.send(result);
            }
        }
        for read_state in ready.read_states {
            if let Some(started) = self.read_started.remove(&read_state.request_id) {
                // The `lease-read` bug: no allowance for clocks that drift or jump.
                let until = started + self.lease;
                self.lease_until = Some(self.lease_until.map_or(until, |u| u.max(until)));
            }
            if let Some(batch) = self.reads.remove(&read_state.request_id) {
                self.ready_reads
                    .entry(read_state.index)
                    .or_default()
                    .extend(batch);
            }
        }
        for id in ready.aborted_reads {
            self.read_started.remove(&id);
            for (_, reply) in self.reads.remove(&id).unwrap_or_default() {
                let _ = reply.send(Err(Status::unavailable(
                    "leadership lost before the read was confirmed",
                )));
            }
        }
        if let Some(status) = ready.role_change {
            let leader = status
                .leader
                .and_then(|id| self.cluster.name(id))
                .unwrap_or("none");
            tracing::info!(
                term = status.term,
                leader,
                "role change: {} -> {}",
                self.role,
                status.role
            );
            self.role = status.role;
            if status.role != Role::Leader {
                self.abort_all();
            }
        }
        self.serve_reads();
        Ok(())
    }

    /// The `ack-before-commit` bug: answers the writes among `entries` (just made
    /// durable in this node's own log) as done, before a quorum has them. A CAS
    /// still waits for its commit, since only applying it tells whether it held.
    fn ack_before_commit(&mut self, entries: &[raft::Entry]) {
        for entry in entries {
            let is_plain_write = Request::decode(&entry.data)
                .is_ok_and(|r| !matches!(r.command, Command::Cas { .. }));
            let ours = self
                .writes
                .get(&entry.index)
                .is_some_and(|w| w.term == entry.term);
            if is_plain_write && ours {
                if let Some(pending) = self.writes.remove(&entry.index) {
                    let _ = pending.reply.send(Ok(WriteOutcome {
                        succeeded: true,
                        index: entry.index,
                    }));
                }
            }
        }
    }

    /// Answers reads whose read index has been applied.
    fn serve_reads(&mut self) {
        while let Some(entry) = self.ready_reads.first_entry() {
            if *entry.key() > self.applied {
                break;
            }
            for (key, reply) in entry.remove() {
                let value = self.kv.get(&key).map(<[u8]>::to_vec);
                let _ = reply.send(Ok(ReadOutcome {
                    value,
                    index: self.applied,
                }));
            }
        }
    }

    /// Fails everything waiting on leadership this node no longer has.
    fn abort_all(&mut self) {
        for (_, pending) in self.writes.drain() {
            let _ = pending
                .reply
                .send(Err(Status::aborted("leadership lost; outcome unknown")));
        }
        self.read_started.clear();
        for (_, batch) in self.reads.drain() {
            for (_, reply) in batch {
                let _ = reply.send(Err(Status::unavailable(
                    "leadership lost before the read was confirmed",
                )));
            }
        }
    }

    /// Snapshots the state machine and compacts the log when enough entries were applied.
    fn maybe_snapshot(&mut self) -> Result<(), ServerError> {
        if self.applied < self.snapshot_index + self.snapshot_every {
            return Ok(());
        }
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                index: self.applied,
                term: self.applied_term,
            },
            data: self.kv.to_snapshot(),
        };
        self.storage.compact(&snapshot)?;
        tracing::info!(
            index = snapshot.meta.index,
            bytes = snapshot.data.len(),
            "snapshot taken, log compacted"
        );
        self.snapshot_index = snapshot.meta.index;
        self.raft.compact(snapshot);
        Ok(())
    }

    /// Publishes the core's status for the Status RPC.
    fn publish_status(&self) {
        let s = self.raft.status();
        self.status.send_if_modified(|current| {
            let next = NodeStatus {
                role: s.role,
                term: s.term,
                leader: s.leader,
                commit: s.commit,
                applied: self.applied,
                last_index: s.last_index,
            };
            let changed = current.role != next.role
                || current.term != next.term
                || current.leader != next.leader
                || current.commit != next.commit
                || current.applied != next.applied
                || current.last_index != next.last_index;
            *current = next;
            changed
        });
    }
}
