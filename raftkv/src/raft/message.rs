//! The data the Raft core exchanges with the outside world: log entries, the hard
//! state that must be persisted, snapshots, and the messages between peers.
//!
//! These types are plain data with no behaviour, shared by the core
//! (`raft::node`), the storage (`storage`) and the runtime that carries messages
//! over gRPC (`server`).

use serde::{Deserialize, Serialize};

/// A node's identity inside the Raft core. The runtime maps names such as `n1` to ids.
pub type NodeId = u64;

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    /// Term of the leader that created the entry.
    pub term: u64,
    /// Position in the log, starting at 1.
    pub index: u64,
    /// Command for the state machine; empty for the no-op a new leader appends.
    pub data: Vec<u8>,
}

/// State that must be on stable storage before any message that depends on it is sent.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct HardState {
    /// Latest term this node has seen.
    pub term: u64,
    /// Candidate voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// Highest index known to be committed (persisting it is an optimisation only).
    pub commit: u64,
}

/// Position of the last entry a snapshot covers.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct SnapshotMeta {
    /// Index of the last entry included in the snapshot.
    pub index: u64,
    /// Term of that entry.
    pub term: u64,
}

/// A snapshot of the state machine up to `meta.index`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which prefix of the log the snapshot replaces.
    pub meta: SnapshotMeta,
    /// The state machine's serialized state.
    pub data: Vec<u8>,
}

/// A message between two Raft peers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Sender's term (for PreVote: the term the sender would campaign in).
    pub term: u64,
    /// What the message says.
    pub body: MessageBody,
}

/// The kinds of peer messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MessageBody {
    /// Would you vote for me in `term`? Changes no state on the receiver.
    PreVote {
        /// Index of the candidate's last log entry.
        last_log_index: u64,
        /// Term of the candidate's last log entry.
        last_log_term: u64,
    },
    /// Answer to `PreVote`.
    PreVoteResponse {
        /// Whether the receiver would grant its vote.
        granted: bool,
    },
    /// Vote for me in `term`.
    RequestVote {
        /// Index of the candidate's last log entry.
        last_log_index: u64,
        /// Term of the candidate's last log entry.
        last_log_term: u64,
    },
    /// Answer to `RequestVote`.
    RequestVoteResponse {
        /// Whether the vote was granted.
        granted: bool,
    },
    /// Replicate entries (or just heartbeat, when `entries` is empty).
    AppendEntries {
        /// Index of the entry just before `entries`.
        prev_log_index: u64,
        /// Term of that entry.
        prev_log_term: u64,
        /// Entries to append, possibly none.
        entries: Vec<Entry>,
        /// Leader's commit index.
        leader_commit: u64,
        /// ReadIndex round this message confirms leadership for (0: none).
        read_round: u64,
    },
    /// Answer to `AppendEntries`.
    AppendEntriesResponse {
        /// Whether the log matched at `prev_log_index` and the entries were appended.
        success: bool,
        /// On success, the index of the last entry known to match the leader's log;
        /// on rejection, the `prev_log_index` that was rejected (lets the leader
        /// recognise a stale rejection).
        match_index: u64,
        /// On rejection, a hint for fast back-off: the first index of the
        /// conflicting term, or the follower's last index + 1 if its log is short.
        conflict_index: u64,
        /// On rejection, the term of the conflicting entry (0 if the log is short).
        conflict_term: u64,
        /// Echo of the request's `read_round`.
        read_round: u64,
    },
    /// Replace the receiver's log prefix with a snapshot.
    InstallSnapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Answer to `InstallSnapshot`.
    InstallSnapshotResponse {
        /// Index of the snapshot the receiver now has.
        last_index: u64,
    },
}
