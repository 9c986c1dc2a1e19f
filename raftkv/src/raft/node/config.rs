//! A node's static configuration, its validation, and the deliberate bug
//! switches (described under "Deliberate bugs" in the essay of [`super`]).

use crate::raft::message::NodeId;

/// Static configuration of one node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// This node's id.
    pub id: NodeId,
    /// All voters, including `id`.
    pub peers: Vec<NodeId>,
    /// Base election timeout in ticks; the actual timeout is drawn from
    /// `[election_tick, 2 * election_tick)` at every reset.
    pub election_tick: u32,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_tick: u32,
    /// Run a pre-vote round before incrementing the term (thesis §9.6).
    pub pre_vote: bool,
    /// Leaders step down without a quorum; followers honour the leader lease.
    pub check_quorum: bool,
    /// Most entries in one AppendEntries message.
    pub max_entries_per_message: usize,
    /// Most unacknowledged AppendEntries per follower while pipelining.
    pub max_inflight_messages: usize,
    /// Seed of the election-timeout generator.
    pub seed: u64,
    /// Deliberate bugs to switch on (all off by default).
    pub bugs: Bugs,
}

/// Deliberately broken behaviours, each reproducing a known class of Raft
/// bug so that faultline can prove it catches the anomaly it causes. All are
/// off by default; a cluster with any of them on is not safe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bugs {
    /// Grant votes and pre-votes without the up-to-date-log rule (§5.4.1): a
    /// node missing committed entries can win and overwrite them (lost writes).
    pub vote_without_log_check: bool,
    /// Commit entries of earlier terms by counting replicas (Figure 8): an
    /// entry reported committed can later be overwritten by another leader.
    pub commit_old_term: bool,
    /// Answer ReadIndex at once with the leader's commit index, without a
    /// heartbeat round: a deposed leader that does not know it yet serves
    /// stale reads.
    pub leader_local_read: bool,
    /// Further mistakes, planted only in unit-test builds.
    #[cfg(test)]
    pub(crate) planted: Planted,
}

impl Bugs {
    /// The planted mistakes that are on: none outside unit-test builds, where
    /// the compiler drops the code paths they guard.
    pub(crate) fn planted(&self) -> Planted {
        #[cfg(test)]
        return self.planted;
        #[cfg(not(test))]
        Planted::default()
    }
}

/// Mistakes real Raft implementations have shipped, which only unit-test
/// builds can switch on (through `Bugs::planted`), so that the simulator's
/// tests can show it finds them (`crate::sim`). Unlike the other [`Bugs`] no
/// server can run with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Planted {
    /// A candidate records a repeated grant from the same voter (a duplicated
    /// message) as one more vote: it can win without a majority.
    pub count_repeated_votes: bool,
    /// A candidate counts vote grants of an earlier term of its own (delayed
    /// answers to a campaign it gave up) as grants for its current campaign.
    pub count_stale_votes: bool,
    /// A follower advances its commit index to the leader's without bounding
    /// it by the last entry the message verified (Figure 2 says
    /// `min(leaderCommit, index of last new entry)`): it commits a stale tail.
    pub commit_unverified_tail: bool,
    /// A follower deletes every entry after the ones an AppendEntries carried,
    /// even when they matched: a delayed message erases entries it already
    /// acknowledged, which the leader counted toward a commit.
    pub truncate_after_append: bool,
}

/// Why a [`Config`] cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `peers` does not contain `id`.
    #[error("the peer list {peers:?} does not contain this node's id {id}")]
    SelfNotInPeers {
        /// This node's id.
        id: NodeId,
        /// The configured peers.
        peers: Vec<NodeId>,
    },
    /// An id appears twice in `peers`.
    #[error("node id {0} appears more than once in the peer list")]
    DuplicatePeer(NodeId),
    /// Timing parameters that cannot work.
    #[error("need 1 <= heartbeat_tick ({heartbeat}) < election_tick ({election})")]
    Ticks {
        /// The configured heartbeat interval.
        heartbeat: u32,
        /// The configured election timeout.
        election: u32,
    },
    /// A zero batching or pipelining limit.
    #[error("max_entries_per_message and max_inflight_messages must be at least 1")]
    Limits,
}

impl Config {
    /// A configuration with sensible defaults: election timeout 10 ticks,
    /// heartbeat every 2 ticks, PreVote and CheckQuorum on, 256 entries per
    /// message, 64 messages in flight per follower.
    pub fn new(id: NodeId, peers: Vec<NodeId>, seed: u64) -> Config {
        Config {
            id,
            peers,
            election_tick: 10,
            heartbeat_tick: 2,
            pre_vote: true,
            check_quorum: true,
            max_entries_per_message: 256,
            max_inflight_messages: 64,
            seed,
            bugs: Bugs::default(),
        }
    }

    /// Checks that the configuration can run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.peers.contains(&self.id) {
            return Err(ConfigError::SelfNotInPeers {
                id: self.id,
                peers: self.peers.clone(),
            });
        }
        for (i, p) in self.peers.iter().enumerate() {
            if self.peers[..i].contains(p) {
                return Err(ConfigError::DuplicatePeer(*p));
            }
        }
        if self.heartbeat_tick == 0 || self.heartbeat_tick >= self.election_tick {
            return Err(ConfigError::Ticks {
                heartbeat: self.heartbeat_tick,
                election: self.election_tick,
            });
        }
        if self.max_entries_per_message == 0 || self.max_inflight_messages == 0 {
            return Err(ConfigError::Limits);
        }
        Ok(())
    }

    /// Votes needed for a majority.
    pub(super) fn quorum(&self) -> usize {
        self.peers.len() / 2 + 1
    }
}
