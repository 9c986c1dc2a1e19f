//! The Raft consensus core: one node of a replicated log, as a pure and
//! deterministic state machine.
//!
//! # Shape
//!
//! [`RaftNode`] does no IO and reads no clock. The runtime around it feeds it
//! three kinds of input — [`RaftNode::tick`] (a logical clock tick),
//! [`RaftNode::step`] (a message from a peer) and [`RaftNode::propose`] /
//! [`RaftNode::read_index`] (client requests) — and then collects the output with
//! [`RaftNode::ready`]: hard state and entries to persist, messages to send,
//! committed entries to apply, reads that may now be served. The only source
//! of randomness, the election timeout, comes from a ChaCha8 generator seeded by
//! [`Config::seed`], so the same inputs always give the same outputs. That is
//! what lets the unit tests replay a scenario step by step and lets the
//! stateright model explore every interleaving of a small cluster.
//!
//! The ordering contract is the one that makes Raft's promises durable: the
//! caller writes `Ready::snapshot`, `Ready::entries` and `Ready::hard_state` to
//! stable storage (fsynced) *before* it sends `Ready::messages` — a vote or an
//! acknowledgement is a promise about what is on disk — and it applies
//! `Ready::committed` after that. Only then does it call `ready()` again. The
//! leader therefore counts its own log toward the commit quorum as soon as the
//! entries were handed out: by the time any consequence of that count can leave
//! the node (in the next `Ready`), the entries are durable.
//!
//! This file holds the node's state, its inputs and `ready()`; the code of
//! each section below lives in a module of the same name: `election`,
//! `replication`, `reads` and `snapshot`, with the configuration and the bug
//! switches in `config`.
//!
//! # Elections (Raft paper §5.2, §5.4.1; thesis §9.6 PreVote, §6.2 CheckQuorum)
//!
//! Every node starts as a follower. A follower or candidate that hears nothing
//! from a leader for its randomized election timeout — drawn uniformly from
//! `[election_tick, 2 * election_tick)` ticks each time the timer is reset —
//! starts a campaign. With `pre_vote` it first becomes a *pre-candidate* and
//! asks the others whether they *would* vote for it in the next term, without
//! anyone changing state; only with a quorum of yeses does it increment its term
//! and ask for real votes. A node cut off by a partition therefore keeps its
//! term, and when the partition heals it cannot force the healthy leader to step
//! down by showing up with a larger term.
//!
//! A node grants a vote (or a pre-vote) only if the candidate's log is at least
//! as up to date as its own: a larger last term, or the same last term and at
//! least as long a log (§5.4.1). That rule is what makes every elected leader
//! hold every committed entry (Leader Completeness). A real vote is granted at
//! most once per term and is persisted before the answer is sent.
//!
//! With `check_quorum` a leader counts, every election timeout, which followers
//! answered it since the last count; without a quorum it steps down, so a leader
//! on the minority side of a partition stops accepting writes and reads within
//! one election timeout. Symmetrically, a node that heard from a live leader
//! less than an election timeout ago ignores (rejects) vote and pre-vote
//! requests for higher terms: the *leader lease*, or leader stickiness. The two
//! together stop a flapping node from disrupting a working cluster.
//!
//! # Replication (§5.3, §5.4.2)
//!
//! A new leader appends an empty no-op entry in its term and starts probing each
//! follower from the end of its own log. AppendEntries carries the index and
//! term of the entry preceding the new ones; the follower rejects it unless its
//! own log has that entry (the consistency check), so logs that agree on one
//! entry agree on all entries before it (Log Matching). A rejection carries a
//! hint for fast back-off — the term of the follower's conflicting entry and the
//! first index of that term, or the end of its log if it is too short — so the
//! leader skips a whole term per round trip instead of one entry. On success the
//! follower deletes conflicting uncommitted entries and appends the new ones.
//!
//! Replication is flow-controlled per follower (see `progress.rs`): a follower
//! whose match point is unknown is probed one message at a time; once it
//! matched, the leader pipelines up to `max_inflight_messages` messages of at
//! most `max_entries_per_message` entries. Proposals are batched: appends go
//! out when `ready()` is called. A follower that made no progress for a whole
//! heartbeat interval while behind is reset to probing, which retransmits
//! whatever the network lost.
//!
//! An entry is committed once a quorum stores it *and* it belongs to the
//! leader's current term; entries of earlier terms are committed only
//! indirectly, by a later entry of the current term (§5.4.2, Figure 8). Counting
//! replicas of an old-term entry is not enough: such an entry can still be
//! overwritten by a leader that never had it.
//!
//! # Linearizable reads (thesis §6.4, ReadIndex)
//!
//! A read needs no log entry. The leader records its commit index as the read
//! index, then confirms it is still the leader by a round of heartbeats tagged
//! with a read round number; once a quorum answered a round at least as new,
//! no other leader can have committed anything the read would miss, and the
//! read may be served as soon as the state machine applied the read index. A
//! new leader first waits for its no-op to commit, since before that its commit
//! index may lag behind entries committed by its predecessors. Reads pending on
//! a leader that loses its leadership are aborted (`Ready::aborted_reads`): the
//! read index of a deposed leader is never handed out.
//!
//! # Snapshots and compaction (§7)
//!
//! The runtime snapshots its state machine at some applied index and calls
//! [`RaftNode::compact`]; the core drops the entries the snapshot covers and
//! keeps the snapshot. When a follower needs an entry that was compacted away,
//! the leader sends the whole snapshot (InstallSnapshot, in one message). A
//! follower that already holds the snapshot's last entry just advances its
//! commit index; otherwise it discards its entire log, adopts the snapshot and
//! hands it out in `Ready::snapshot` for the runtime to persist and load.
//!
//! # Deliberate bugs
//!
//! [`Bugs`] switches reproduce known classes of Raft bugs so that faultline
//! can demonstrate that it catches them: granting votes without the
//! up-to-date-log rule (`vote_without_log_check`, loses committed writes),
//! committing earlier-term entries by counting replicas (`commit_old_term`,
//! the Figure 8 anomaly), and answering ReadIndex locally on the leader
//! (`leader_local_read`, stale reads from a deposed leader). All are off by
//! default. With `vote_without_log_check` or `commit_old_term` on, followers
//! also give up their refusal to overwrite entries they know are committed and
//! apply plain Raft's AppendEntries rule (which trusts Leader Completeness,
//! exactly what both bugs break), so a leader's log replaces committed entries,
//! as it would in an implementation without that extra check. With
//! `commit_old_term` on, a new leader appends no no-op either: it counts
//! replicas to commit what its predecessors left, as the implementations with
//! this bug do, and its first entry of the term is a client's. (With the no-op,
//! the bug would hardly ever act: the no-op travels in the same AppendEntries as
//! the old entries and commits them correctly.) The core never panics on what a
//! peer sends; the damage shows up where a real bug's would, in what clients
//! observe.
//!
//! # How it is tested
//!
//! `tests.rs` drives an in-memory cluster (storage, network with partitions,
//! crashes and restarts) through scripted scenarios — split votes, log repair
//! with fast back-off, Figure 8, PreVote after a partition heals, CheckQuorum,
//! ReadIndex on a deposed leader, snapshot catch-up — plus a seeded storm of
//! random faults. `tests/raft_model.rs` model-checks a three-node cluster of
//! these very nodes with stateright over a reordering network, checking
//! Election Safety, Log Matching, Leader Completeness and State Machine Safety
//! in every reachable state up to a bounded depth. The simulator
//! ([`crate::sim`], `scripts/simulate.sh`) goes deep where the model check goes
//! wide: thousands of random steps per seed over faulty networks, disks and
//! clocks, with the same properties checked after every step.
//!
//! # Left out, deliberately
//!
//! - Membership changes: the set of voters is fixed by [`Config::peers`].
//! - Leadership transfer, learners, and witness nodes.
//! - Chunked snapshot transfer: a snapshot travels as one message.
//! - Forwarding proposals or reads from followers to the leader: a follower
//!   answers [`NotLeader`] with its best guess of the leader, and the client
//!   retries there.
//! - Client request de-duplication lives in the state machine, not here.

mod config;
mod election;
mod reads;
mod replication;
mod snapshot;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[cfg(test)]
pub(crate) use config::Planted;
pub use config::{Bugs, Config, ConfigError};
use reads::PendingRead;

use super::log::RaftLog;
use super::message::{Entry, HardState, Message, MessageBody, NodeId, Snapshot};
use super::progress::Progress;

/// What storage recovered at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// The last persisted hard state.
    pub hard_state: HardState,
    /// The latest persisted snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// The persisted entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

/// A node's role in the current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks whether the others would vote for it, without changing its term.
    PreCandidate,
    /// Campaigns for votes in its term.
    Candidate,
    /// Leads its term.
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        })
    }
}

/// A snapshot of a node's state for logging and status endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: u64,
    /// The leader it knows of in this term.
    pub leader: Option<NodeId>,
    /// Its commit index.
    pub commit: u64,
    /// Highest index handed out in `Ready::committed` (or covered by the snapshot).
    pub applied: u64,
    /// Index of its last log entry.
    pub last_index: u64,
    /// Index of the last entry its snapshot covers (0: none).
    pub snapshot_index: u64,
}

/// A read that may be served once the state machine applied `index`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReadState {
    /// The id given to [`RaftNode::read_index`].
    pub request_id: u64,
    /// The read index: serve the read once applied >= index.
    pub index: u64,
}

/// The request was refused because this node is not the leader; nothing was
/// proposed or registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not the leader ({})", leader.map_or_else(|| "no leader known".to_string(), |l| format!("the leader is node {l}")))]
pub struct NotLeader {
    /// The leader this node knows of, if any.
    pub leader: Option<NodeId>,
}

/// Everything the core produced since the last call to [`RaftNode::ready`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Persist if `Some` (changed since the last `Ready`).
    pub hard_state: Option<HardState>,
    /// Append to the stable log; if `entries[0].index` is at or below the last
    /// stored index, storage first truncates from there.
    pub entries: Vec<Entry>,
    /// A snapshot received from the leader: persist it and load it into the
    /// state machine. It replaces the *whole* previous log (none of the old
    /// entries survive, neither before nor after it); persist it before
    /// `entries`, which then follow it.
    pub snapshot: Option<Snapshot>,
    /// Send only after `hard_state`, `snapshot` and `entries` are durable.
    pub messages: Vec<Message>,
    /// Apply in order, after persisting.
    pub committed: Vec<Entry>,
    /// Reads that may be served once the state machine applied their index.
    pub read_states: Vec<ReadState>,
    /// Read request ids dropped because this node is no longer the leader.
    pub aborted_reads: Vec<u64>,
    /// `Some` when the role, term or leader changed since the last `Ready`.
    pub role_change: Option<Status>,
}

impl Ready {
    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        *self == Ready::default()
    }
}

/// The election-timeout generator; hashed by its position so model-checker
/// states that differ only in consumed randomness stay distinct.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ElectionRng(ChaCha8Rng);

impl Hash for ElectionRng {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.get_seed().hash(state);
        self.0.get_stream().hash(state);
        self.0.get_word_pos().hash(state);
    }
}

/// State only a leader has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct LeaderState {
    /// Replication progress of every other voter.
    progress: BTreeMap<NodeId, Progress>,
    /// Reads awaiting confirmation, oldest (lowest round) first.
    reads: VecDeque<PendingRead>,
    /// The latest read round started; every AppendEntries carries it.
    read_round: u64,
    /// Highest read round each follower has answered.
    read_acks: BTreeMap<NodeId, u64>,
    /// New entries were proposed; send appends at the next `ready()`.
    broadcast_pending: bool,
}

/// The role together with the state that exists only in that role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RoleState {
    /// Following `RaftNode::leader` (if known).
    Follower,
    /// Collecting pre-votes for `term + 1`: who answered and how.
    PreCandidate { votes: BTreeMap<NodeId, bool> },
    /// Collecting votes for `term`.
    Candidate { votes: BTreeMap<NodeId, bool> },
    /// Leading `term`.
    Leader(LeaderState),
}

/// One Raft node: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RaftNode {
    /// Static configuration.
    config: Config,
    /// Current term (persisted).
    term: u64,
    /// Vote in the current term (persisted).
    vote: Option<NodeId>,
    /// The leader of the current term, if known.
    leader: Option<NodeId>,
    /// Role and role-specific state.
    role: RoleState,
    /// The log.
    log: RaftLog,
    /// Ticks since the last reset of the election timer (for a leader: since
    /// the last CheckQuorum round).
    election_elapsed: u32,
    /// Ticks since the leader's last heartbeat.
    heartbeat_elapsed: u32,
    /// The current randomized election timeout.
    randomized_timeout: u32,
    /// Election-timeout randomness.
    rng: ElectionRng,
    /// The latest snapshot (local or received), sent to lagging followers.
    snapshot: Option<Snapshot>,
    /// A snapshot received from the leader, not yet handed out.
    received_snapshot: Option<Snapshot>,
    /// Messages not yet handed out.
    msgs: Vec<Message>,
    /// Confirmed reads not yet handed out.
    read_states: Vec<ReadState>,
    /// Aborted reads not yet handed out.
    aborted_reads: Vec<u64>,
    /// The hard state as of the last `Ready`.
    prev_hard_state: HardState,
    /// Role, term and leader as of the last `Ready`.
    prev_role: (Role, u64, Option<NodeId>),
}

impl RaftNode {
    /// A node that resumes from what storage recovered.
    ///
    /// The state machine is expected to hold the restored snapshot; the
    /// committed entries after it are handed out again in `Ready::committed`
    /// as the commit index becomes known (the persisted commit index is a
    /// hint that is used at once when it lies within the restored log).
    ///
    /// Panics if the configuration is invalid (check it with
    /// [`Config::validate`] first) or the restored entries do not follow the
    /// snapshot contiguously.
    pub fn new(config: Config, restored: Restored) -> RaftNode {
        if let Err(e) = config.validate() {
            panic!("invalid Raft configuration: {e}");
        }
        let meta = restored
            .snapshot
            .as_ref()
            .map(|s| s.meta)
            .unwrap_or_default();
        let log = RaftLog::restore(meta, restored.entries, restored.hard_state.commit);
        // Entries of a later term than the persisted hard state come from a
        // write that was torn before its fsync completed, so nothing that
        // depended on it (no vote, no acknowledgement) was ever sent: adopt
        // the term, with no vote in it.
        let (term, vote) = if log.last_term() > restored.hard_state.term {
            (log.last_term(), None)
        } else {
            (restored.hard_state.term, restored.hard_state.vote)
        };
        let mut rng = ElectionRng(ChaCha8Rng::seed_from_u64(config.seed));
        let randomized_timeout = config.election_tick + rng.0.random_range(0..config.election_tick);
        let hard_state = HardState {
            term,
            vote,
            commit: log.commit,
        };
        RaftNode {
            term: hard_state.term,
            vote: hard_state.vote,
            leader: None,
            role: RoleState::Follower,
            log,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_timeout,
            rng,
            snapshot: restored.snapshot,
            received_snapshot: None,
            msgs: Vec::new(),
            read_states: Vec::new(),
            aborted_reads: Vec::new(),
            prev_hard_state: restored.hard_state,
            prev_role: (Role::Follower, hard_state.term, None),
            config,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The current role.
    pub fn role(&self) -> Role {
        match self.role {
            RoleState::Follower => Role::Follower,
            RoleState::PreCandidate { .. } => Role::PreCandidate,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    /// Current state for logs and status endpoints.
    pub fn status(&self) -> Status {
        Status {
            id: self.config.id,
            role: self.role(),
            term: self.term,
            leader: self.leader,
            commit: self.log.commit,
            applied: self.log.applied,
            last_index: self.log.last_index(),
            snapshot_index: self.log.snapshot.index,
        }
    }

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        self.election_elapsed += 1;
        if !matches!(self.role, RoleState::Leader(_)) {
            if self.election_elapsed >= self.randomized_timeout {
                self.campaign();
            }
            return;
        }
        if self.election_elapsed >= self.config.election_tick {
            self.election_elapsed = 0;
            if self.config.check_quorum && !self.check_quorum() {
                let term = self.term;
                self.become_follower(term, None);
                return;
            }
        }
        self.heartbeat_elapsed += 1;
        if self.heartbeat_elapsed >= self.config.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.heartbeat();
        }
    }

    /// Handles a message from a peer. Messages for other nodes, from unknown
    /// nodes, stale or malformed ones are ignored (or answered per Raft).
    pub fn step(&mut self, msg: Message) {
        if msg.to != self.config.id
            || msg.from == self.config.id
            || !self.config.peers.contains(&msg.from)
            || !is_plausible(&msg)
        {
            return;
        }
        if msg.term > self.term {
            let is_vote = matches!(
                msg.body,
                MessageBody::PreVote { .. } | MessageBody::RequestVote { .. }
            );
            if is_vote && self.in_lease() {
                // Leader stickiness: a live leader exists, refuse to help depose it.
                let body = match msg.body {
                    MessageBody::PreVote { .. } => MessageBody::PreVoteResponse { granted: false },
                    _ => MessageBody::RequestVoteResponse { granted: false },
                };
                self.send(msg.from, self.term, body);
                return;
            }
            match msg.body {
                MessageBody::PreVote { .. } | MessageBody::PreVoteResponse { granted: true } => {}
                MessageBody::AppendEntries { .. } | MessageBody::InstallSnapshot { .. } => {
                    self.become_follower(msg.term, Some(msg.from))
                }
                _ => self.become_follower(msg.term, None),
            }
        } else if msg.term < self.term {
            if let (true, MessageBody::RequestVoteResponse { granted }) =
                (self.config.bugs.planted().count_stale_votes, &msg.body)
            {
                self.handle_vote_response(msg.from, *granted);
                return;
            }
            // Tell a stale sender the current term, so it steps down.
            let body = match msg.body {
                MessageBody::AppendEntries { read_round, .. } => {
                    MessageBody::AppendEntriesResponse {
                        success: false,
                        match_index: 0,
                        conflict_index: 0,
                        conflict_term: 0,
                        read_round,
                    }
                }
                MessageBody::InstallSnapshot { .. } => {
                    MessageBody::InstallSnapshotResponse { last_index: 0 }
                }
                MessageBody::PreVote { .. } => MessageBody::PreVoteResponse { granted: false },
                MessageBody::RequestVote { .. } => {
                    MessageBody::RequestVoteResponse { granted: false }
                }
                _ => return,
            };
            self.send(msg.from, self.term, body);
            return;
        }

        let from = msg.from;
        match msg.body {
            MessageBody::PreVote {
                last_log_index,
                last_log_term,
            } => self.handle_pre_vote(from, msg.term, last_log_index, last_log_term),
            MessageBody::RequestVote {
                last_log_index,
                last_log_term,
            } => self.handle_request_vote(from, last_log_index, last_log_term),
            MessageBody::PreVoteResponse { granted } => {
                self.handle_pre_vote_response(from, msg.term, granted)
            }
            MessageBody::RequestVoteResponse { granted } => {
                self.handle_vote_response(from, granted)
            }
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_round,
            } => {
                if !self.accept_leader(from) {
                    return;
                }
                self.handle_append(
                    from,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                    read_round,
                    msg.term,
                );
            }
            MessageBody::InstallSnapshot { snapshot } => {
                if !self.accept_leader(from) {
                    return;
                }
                self.handle_install_snapshot(from, snapshot, msg.term);
            }
            MessageBody::AppendEntriesResponse {
                success,
                match_index,
                conflict_index,
                conflict_term,
                read_round,
            } => self.handle_append_response(
                from,
                success,
                match_index,
                conflict_index,
                conflict_term,
                read_round,
            ),
            MessageBody::InstallSnapshotResponse { last_index } => {
                self.handle_snapshot_response(from, last_index)
            }
        }
    }

    /// Whether anything is waiting to be taken with [`RaftNode::ready`].
    pub fn has_ready(&self) -> bool {
        self.hard_state() != self.prev_hard_state
            || self.log.unstable_from <= self.log.last_index()
            || self.received_snapshot.is_some()
            || !self.msgs.is_empty()
            || self.log.commit > self.log.applied
            || !self.read_states.is_empty()
            || !self.aborted_reads.is_empty()
            || self.role_key() != self.prev_role
            || matches!(&self.role, RoleState::Leader(ls) if ls.broadcast_pending)
    }

    /// Takes everything pending. The caller persists `snapshot`, `entries`
    /// and `hard_state`, then sends `messages`, then applies `committed`,
    /// before calling `ready()` again.
    pub fn ready(&mut self) -> Ready {
        if let RoleState::Leader(ls) = &mut self.role {
            if std::mem::take(&mut ls.broadcast_pending) {
                self.broadcast_append();
            }
        }
        let hard_state = self.hard_state();
        let hard_state = (hard_state != self.prev_hard_state).then(|| {
            self.prev_hard_state = hard_state;
            hard_state
        });
        let last = self.log.last_index();
        let entries = if self.log.unstable_from <= last {
            self.log.slice(self.log.unstable_from, last).to_vec()
        } else {
            Vec::new()
        };
        self.log.unstable_from = last + 1;
        self.log.stable_last = last;
        let committed = if self.log.commit > self.log.applied {
            self.log
                .slice(self.log.applied + 1, self.log.commit)
                .to_vec()
        } else {
            Vec::new()
        };
        // (Only the vote bug lowers the commit index below what was applied.)
        self.log.applied = self.log.applied.max(self.log.commit);
        let role = self.role_key();
        let role_change = (role != self.prev_role).then(|| {
            self.prev_role = role;
            self.status()
        });
        let ready = Ready {
            hard_state,
            entries,
            snapshot: self.received_snapshot.take(),
            messages: std::mem::take(&mut self.msgs),
            committed,
            read_states: std::mem::take(&mut self.read_states),
            aborted_reads: std::mem::take(&mut self.aborted_reads),
            role_change,
        };
        // The entries just handed out count for the leader from now on: any
        // commit they enable only leaves the node in the next Ready.
        if matches!(self.role, RoleState::Leader(_)) {
            self.maybe_commit();
        }
        ready
    }

    // ---- helpers ----

    fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.commit,
        }
    }

    fn role_key(&self) -> (Role, u64, Option<NodeId>) {
        (self.role(), self.term, self.leader)
    }

    fn others(&self) -> Vec<NodeId> {
        self.config
            .peers
            .iter()
            .copied()
            .filter(|&p| p != self.config.id)
            .collect()
    }

    fn send(&mut self, to: NodeId, term: u64, body: MessageBody) {
        self.msgs.push(Message {
            from: self.config.id,
            to,
            term,
            body,
        });
    }
}

/// Terms and indexes beyond this are nonsense no real cluster reaches; a
/// message carrying one is dropped so that arithmetic on them cannot overflow.
const MAX_PLAUSIBLE: u64 = u64::MAX / 4;

/// Whether every term and index in `msg` is below [`MAX_PLAUSIBLE`].
fn is_plausible(msg: &Message) -> bool {
    let ok = |v: u64| v < MAX_PLAUSIBLE;
    ok(msg.term)
        && match &msg.body {
            MessageBody::PreVote {
                last_log_index,
                last_log_term,
            }
            | MessageBody::RequestVote {
                last_log_index,
                last_log_term,
            } => ok(*last_log_index) && ok(*last_log_term),
            MessageBody::PreVoteResponse { .. } | MessageBody::RequestVoteResponse { .. } => true,
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_round,
            } => {
                ok(*prev_log_index)
                    && ok(*prev_log_term)
                    && ok(*leader_commit)
                    && ok(*read_round)
                    && (entries.len() as u64) < MAX_PLAUSIBLE
                    && entries.iter().all(|e| ok(e.index) && ok(e.term))
            }
            MessageBody::AppendEntriesResponse {
                match_index,
                conflict_index,
                conflict_term,
                read_round,
                ..
            } => ok(*match_index) && ok(*conflict_index) && ok(*conflict_term) && ok(*read_round),
            MessageBody::InstallSnapshot { snapshot } => {
                ok(snapshot.meta.index) && ok(snapshot.meta.term)
            }
            MessageBody::InstallSnapshotResponse { last_index } => ok(*last_index),
        }
}
