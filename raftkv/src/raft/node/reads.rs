//! Linearizable reads (ReadIndex): registering a read on the leader, releasing
//! it once a quorum confirmed a heartbeat round newer than it and an entry of
//! the leader's term is committed, and aborting the pending reads of a leader
//! that steps down. The rules are described under "Linearizable reads" in the
//! essay of [`super`].

use super::{NotLeader, RaftNode, ReadState, RoleState};

/// A read waiting for leadership confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct PendingRead {
    /// The caller's id for it.
    request_id: u64,
    /// The commit index when it arrived; `None` if the leader had not yet
    /// committed an entry of its term (then the commit index at that point).
    index: Option<u64>,
    /// The heartbeat round that confirms it.
    round: u64,
}

impl RaftNode {
    /// Registers a linearizable read; its [`ReadState`] appears in a later
    /// `Ready` once leadership is confirmed, or its id in `aborted_reads`.
    pub fn read_index(&mut self, request_id: u64) -> Result<(), NotLeader> {
        let committed_in_term = self.committed_in_term();
        let commit = self.log.commit;
        let RoleState::Leader(ls) = &mut self.role else {
            return Err(NotLeader {
                leader: self.leader,
            });
        };
        if self.config.bugs.leader_local_read {
            self.read_states.push(ReadState {
                request_id,
                index: commit,
            });
            return Ok(());
        }
        ls.read_round += 1;
        ls.reads.push_back(PendingRead {
            request_id,
            index: committed_in_term.then_some(commit),
            round: ls.read_round,
        });
        self.broadcast_heartbeat();
        self.release_reads();
        Ok(())
    }

    /// Drops pending reads of a leader that is stepping down.
    pub(super) fn abort_reads(&mut self) {
        if let RoleState::Leader(ls) = &mut self.role {
            self.aborted_reads
                .extend(ls.reads.drain(..).map(|r| r.request_id));
        }
    }

    fn committed_in_term(&self) -> bool {
        self.log.term(self.log.commit) == Some(self.term)
    }

    /// Hands out every pending read whose round a quorum confirmed, once the
    /// leader committed an entry of its term.
    pub(super) fn release_reads(&mut self) {
        if !self.committed_in_term() {
            return;
        }
        let quorum = self.config.quorum();
        let commit = self.log.commit;
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        while let Some(read) = ls.reads.front() {
            let acks = 1 + ls.read_acks.values().filter(|&&r| r >= read.round).count();
            if acks < quorum {
                break;
            }
            let read = ls.reads.pop_front().expect("front exists");
            self.read_states.push(ReadState {
                request_id: read.request_id,
                index: read.index.unwrap_or(commit),
            });
        }
    }
}
