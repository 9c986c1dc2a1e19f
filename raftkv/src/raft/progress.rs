//! What a leader knows about one follower's log, and the flow control that
//! decides when it may send the follower more.
//!
//! A follower is in one of three replication states:
//! - `Probe`: the leader does not know where the logs match; it sends one
//!   AppendEntries and waits for the answer (or the next heartbeat) before
//!   sending another, walking `next` back with the follower's conflict hints.
//! - `Replicate`: the logs match up to `matched`; the leader streams entries
//!   optimistically, advancing `next` as it sends, with at most
//!   `max_inflight_messages` unacknowledged messages.
//! - `Snapshot`: the entries the follower needs were compacted away; an
//!   InstallSnapshot is in flight and nothing else is sent until it is answered.

use std::collections::VecDeque;

/// The replication state of one follower, as seen by the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ReplicaState {
    /// Searching for the match point, one message at a time.
    Probe {
        /// An AppendEntries is outstanding: wait for its answer.
        sent: bool,
    },
    /// Streaming entries.
    Replicate,
    /// An InstallSnapshot of the snapshot ending at this index is outstanding.
    Snapshot {
        /// Index of the snapshot that was sent.
        index: u64,
    },
}

/// The leader's view of one follower.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Progress {
    /// Highest index known to be replicated on the follower.
    pub matched: u64,
    /// Next index to send.
    pub next: u64,
    /// Flow-control state.
    pub state: ReplicaState,
    /// Last index of each unacknowledged AppendEntries, oldest first (Replicate only).
    pub inflight: VecDeque<u64>,
    /// Whether the follower answered anything since the last CheckQuorum round.
    pub recent_active: bool,
    /// Heartbeat intervals that passed without `matched` advancing while the
    /// follower was behind; drives retransmission of lost messages.
    pub stalled: u32,
}

impl Progress {
    /// A fresh view, as a new leader has it: probe from the end of its own log.
    pub fn new(next: u64) -> Progress {
        Progress {
            matched: 0,
            next,
            state: ReplicaState::Probe { sent: false },
            inflight: VecDeque::new(),
            recent_active: false,
            stalled: 0,
        }
    }

    /// Whether nothing more may be sent right now.
    pub fn is_paused(&self, max_inflight: usize) -> bool {
        match self.state {
            ReplicaState::Probe { sent } => sent,
            ReplicaState::Replicate => self.inflight.len() >= max_inflight,
            ReplicaState::Snapshot { .. } => true,
        }
    }

    /// Falls back to probing from `next` (after a rejection or a stall).
    pub fn become_probe(&mut self, next: u64) {
        self.next = next.max(self.matched + 1);
        self.state = ReplicaState::Probe { sent: false };
        self.inflight.clear();
    }

    /// Records an acknowledgement up to `index`; returns whether `matched` advanced.
    pub fn ack(&mut self, index: u64) -> bool {
        while self.inflight.front().is_some_and(|&last| last <= index) {
            self.inflight.pop_front();
        }
        if index <= self.matched {
            return false;
        }
        self.matched = index;
        self.next = self.next.max(index + 1);
        self.stalled = 0;
        match self.state {
            ReplicaState::Probe { .. } => self.state = ReplicaState::Replicate,
            ReplicaState::Snapshot { index: pending } if index >= pending => {
                self.state = ReplicaState::Probe { sent: false };
            }
            _ => {}
        }
        true
    }
}
