//! Replication: proposals, the follower's AppendEntries consistency check and
//! conflict hints, the leader's flow-controlled sending, heartbeats and
//! retransmission, and the commit rule that counts only entries of the current
//! term. The rules are described under "Replication" in the essay of
//! [`super`]; the per-follower flow control is in `progress.rs`.

use super::{NotLeader, RaftNode, RoleState};
use crate::raft::message::{Entry, Message, MessageBody, NodeId};
use crate::raft::progress::ReplicaState;

impl RaftNode {
    /// Proposes a command; on the leader it is appended to the log and
    /// replicated. Returns the index and term it will be committed at, if ever.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<(u64, u64), NotLeader> {
        let RoleState::Leader(ls) = &mut self.role else {
            return Err(NotLeader {
                leader: self.leader,
            });
        };
        ls.broadcast_pending = true;
        let index = self.log.last_index() + 1;
        self.log.push(Entry {
            term: self.term,
            index,
            data,
        });
        Ok((index, self.term))
    }

    /// An AppendEntries or InstallSnapshot of the current term arrived from
    /// `from`: follow it. Returns false if this node leads the term itself.
    pub(super) fn accept_leader(&mut self, from: NodeId) -> bool {
        match self.role {
            // Two leaders in one term cannot happen; ignore a peer claiming it.
            RoleState::Leader(_) => false,
            RoleState::Follower if self.leader == Some(from) => {
                self.reset_election_timer();
                true
            }
            _ => {
                let term = self.term;
                self.become_follower(term, Some(from));
                true
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_append(
        &mut self,
        from: NodeId,
        prev: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        read_round: u64,
        msg_term: u64,
    ) {
        let well_formed = entries.iter().enumerate().all(|(i, e)| {
            e.index == prev + 1 + i as u64
                && e.term <= msg_term
                && e.term >= prev_term
                && (i == 0 || e.term >= entries[i - 1].term)
        });
        if !well_formed {
            return;
        }
        let reply = |success, match_index, conflict_index, conflict_term| {
            MessageBody::AppendEntriesResponse {
                success,
                match_index,
                conflict_index,
                conflict_term,
                read_round,
            }
        };
        let commit = self.log.commit;
        // This node refuses to overwrite entries it knows are committed, which a
        // correct leader never asks for. With the vote or the commit bug on it
        // behaves like plain Raft's AppendEntries rule instead, trusting that every
        // leader holds all committed entries: conflicting entries are overwritten
        // wherever they are, so a leader elected with a stale log, or one that
        // never had an entry committed by counting, erases committed writes.
        let protect_committed =
            !(self.config.bugs.vote_without_log_check || self.config.bugs.commit_old_term);
        if prev < commit && (protect_committed || self.log.term(prev).is_none()) {
            // Everything up to the commit index matches any leader's log.
            self.send(from, self.term, reply(true, commit, 0, 0));
            return;
        }
        if prev > self.log.last_index() {
            let body = reply(false, prev, self.log.last_index() + 1, 0);
            self.send(from, self.term, body);
            return;
        }
        let term_at_prev = self.log.term(prev).expect("prev is within the log");
        if term_at_prev != prev_term {
            let conflict_index = if prev >= self.log.first_index() {
                self.log
                    .first_index_of_term_at(prev)
                    .max(commit + 1)
                    .min(prev)
            } else {
                prev
            };
            self.send(
                from,
                self.term,
                reply(false, prev, conflict_index, term_at_prev),
            );
            return;
        }
        let last_new = prev + entries.len() as u64;
        for entry in entries {
            match self.log.term(entry.index) {
                Some(t) if t == entry.term => continue,
                Some(t) => {
                    if entry.index <= self.log.commit && protect_committed {
                        // Only a leader that lost committed entries sends this;
                        // never truncate them.
                        let body = reply(false, prev, entry.index, t);
                        self.send(from, self.term, body);
                        return;
                    }
                    // (With the vote bug: forget they were committed; whatever the
                    // state machine applied of them stays applied.)
                    self.log.commit = self.log.commit.min(entry.index - 1);
                    self.log.truncate_from(entry.index);
                    self.log.push(entry);
                }
                None => self.log.push(entry),
            }
        }
        if self.config.bugs.planted().truncate_after_append
            && last_new < self.log.last_index()
            && last_new >= self.log.commit
        {
            self.log.truncate_from(last_new + 1);
        }
        let verified = if self.config.bugs.planted().commit_unverified_tail {
            self.log.last_index()
        } else {
            last_new
        };
        let new_commit = leader_commit.min(verified);
        if new_commit > self.log.commit {
            self.log.commit = new_commit;
        }
        self.send(from, self.term, reply(true, last_new, 0, 0));
    }

    pub(super) fn handle_append_response(
        &mut self,
        from: NodeId,
        success: bool,
        match_index: u64,
        conflict_index: u64,
        conflict_term: u64,
        read_round: u64,
    ) {
        let last_index = self.log.last_index();
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let Some(pr) = ls.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if read_round > 0 && read_round <= ls.read_round {
            let acked = ls.read_acks.entry(from).or_insert(0);
            *acked = (*acked).max(read_round);
        }
        if match_index > last_index {
            // Nothing this leader sent can be acknowledged beyond its log.
            self.release_reads();
            return;
        }
        if success {
            let advanced = pr.ack(match_index);
            if let ReplicaState::Probe { .. } = pr.state {
                if match_index + 1 >= pr.next {
                    pr.state = ReplicaState::Replicate;
                    pr.next = pr.matched + 1;
                }
            }
            if advanced {
                self.maybe_commit();
            }
        } else {
            let rejected = match_index;
            let stale = match pr.state {
                ReplicaState::Replicate => rejected <= pr.matched,
                ReplicaState::Probe { .. } => rejected + 1 != pr.next,
                ReplicaState::Snapshot { .. } => true,
            };
            if !stale {
                let hint = if conflict_term == 0 {
                    conflict_index
                } else {
                    match self.log.last_index_of_term(conflict_term, rejected) {
                        Some(k) => k + 1,
                        None => conflict_index,
                    }
                };
                pr.become_probe(hint.min(rejected).max(1));
            }
        }
        self.release_reads();
        self.send_append(from);
    }

    /// Commits the highest index a quorum stores, if it is of the current term.
    pub(super) fn maybe_commit(&mut self) {
        let RoleState::Leader(ls) = &self.role else {
            unreachable!("only a leader counts replicas")
        };
        let mut matched: Vec<u64> = ls.progress.values().map(|p| p.matched).collect();
        matched.push(self.log.stable_last.min(self.log.last_index()));
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let index = matched[self.config.quorum() - 1];
        let in_term = self.log.term(index) == Some(self.term);
        if index > self.log.commit && (in_term || self.config.bugs.commit_old_term) {
            self.log.commit = index;
            self.release_reads();
        }
    }

    /// Sends `to` whatever flow control allows: entries, or the snapshot if
    /// the entries it needs were compacted away.
    pub(super) fn send_append(&mut self, to: NodeId) {
        let RoleState::Leader(ls) = &mut self.role else {
            unreachable!("only a leader replicates")
        };
        let pr = ls
            .progress
            .get_mut(&to)
            .expect("progress exists for every peer");
        if pr.is_paused(self.config.max_inflight_messages) {
            return;
        }
        let prev = pr.next - 1;
        let Some(prev_term) = self.log.term(prev) else {
            let snapshot = self
                .snapshot
                .clone()
                .expect("the log was compacted, so a snapshot exists");
            pr.state = ReplicaState::Snapshot {
                index: snapshot.meta.index,
            };
            pr.inflight.clear();
            self.msgs.push(Message {
                from: self.config.id,
                to,
                term: self.term,
                body: MessageBody::InstallSnapshot { snapshot },
            });
            return;
        };
        let last = self
            .log
            .last_index()
            .min(prev + self.config.max_entries_per_message as u64);
        if pr.state == ReplicaState::Replicate && last == prev {
            return;
        }
        let entries = self.log.slice(prev + 1, last).to_vec();
        match pr.state {
            ReplicaState::Replicate => {
                pr.next = last + 1;
                pr.inflight.push_back(last);
            }
            ReplicaState::Probe { .. } => pr.state = ReplicaState::Probe { sent: true },
            ReplicaState::Snapshot { .. } => unreachable!("paused while a snapshot is in flight"),
        }
        let read_round = ls.read_round;
        self.msgs.push(Message {
            from: self.config.id,
            to,
            term: self.term,
            body: MessageBody::AppendEntries {
                prev_log_index: prev,
                prev_log_term: prev_term,
                entries,
                leader_commit: self.log.commit,
                read_round,
            },
        });
    }

    pub(super) fn broadcast_append(&mut self) {
        for peer in self.others() {
            self.send_append(peer);
        }
    }

    /// The heartbeat timer fired: retransmit to stalled followers, then
    /// heartbeat everyone.
    pub(super) fn heartbeat(&mut self) {
        let last_index = self.log.last_index();
        let snapshot_patience = (self.config.election_tick / self.config.heartbeat_tick).max(2);
        let RoleState::Leader(ls) = &mut self.role else {
            unreachable!("only a leader heartbeats")
        };
        let mut retransmit = Vec::new();
        for (&peer, pr) in ls.progress.iter_mut() {
            if pr.matched >= last_index {
                pr.stalled = 0;
                continue;
            }
            pr.stalled += 1;
            let patience = match pr.state {
                ReplicaState::Snapshot { .. } => snapshot_patience,
                _ => 1,
            };
            if pr.stalled > patience {
                pr.stalled = 0;
                let next = pr.matched + 1;
                pr.become_probe(next);
                retransmit.push(peer);
            }
        }
        for peer in retransmit {
            self.send_append(peer);
        }
        self.broadcast_heartbeat();
    }

    /// An empty AppendEntries to every follower, at a point known to match,
    /// carrying the commit index and the latest read round.
    pub(super) fn broadcast_heartbeat(&mut self) {
        let RoleState::Leader(ls) = &self.role else {
            unreachable!("only a leader heartbeats")
        };
        let mut out = Vec::new();
        for (&peer, pr) in &ls.progress {
            let prev = pr
                .matched
                .max(self.log.snapshot.index)
                .min(self.log.last_index());
            let prev_term = self.log.term(prev).expect("prev lies within the held log");
            out.push(Message {
                from: self.config.id,
                to: peer,
                term: self.term,
                body: MessageBody::AppendEntries {
                    prev_log_index: prev,
                    prev_log_term: prev_term,
                    entries: Vec::new(),
                    leader_commit: self.log.commit,
                    read_round: ls.read_round,
                },
            });
        }
        self.msgs.extend(out);
    }
}
