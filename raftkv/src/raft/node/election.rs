//! Elections: the election timer, PreVote and real campaigns, vote handling
//! with the up-to-date-log rule, stepping down, becoming leader, and the
//! leader's CheckQuorum round. The rules are described under "Elections" in
//! the essay of [`super`].

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;

use super::{LeaderState, RaftNode, RoleState};
use crate::raft::message::{Entry, MessageBody, NodeId};
use crate::raft::progress::Progress;

impl RaftNode {
    /// A PreVote for `term` (this node's term + 1 when it is granted) arrived:
    /// answer whether this node would vote, changing nothing.
    pub(super) fn handle_pre_vote(
        &mut self,
        from: NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        let can_vote = term > self.term
            || self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none());
        let granted = can_vote && self.log_ok(last_log_index, last_log_term);
        let term = if granted { term } else { self.term };
        self.send(from, term, MessageBody::PreVoteResponse { granted });
    }

    /// A RequestVote of the current term arrived: grant it at most once per
    /// term, and only to a candidate whose log is at least as up to date.
    pub(super) fn handle_request_vote(
        &mut self,
        from: NodeId,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        let can_vote = self.vote == Some(from) || (self.vote.is_none() && self.leader.is_none());
        let granted = can_vote && self.log_ok(last_log_index, last_log_term);
        if granted {
            self.vote = Some(from);
            self.reset_election_timer();
        }
        self.send(
            from,
            self.term,
            MessageBody::RequestVoteResponse { granted },
        );
    }

    /// A pre-vote answer: a grant counts if it is for the next term, a refusal
    /// if it comes from this node's term.
    pub(super) fn handle_pre_vote_response(&mut self, from: NodeId, term: u64, granted: bool) {
        let counts = (granted && term == self.term + 1) || (!granted && term == self.term);
        if let (RoleState::PreCandidate { votes }, true) = (&mut self.role, counts) {
            votes.insert(from, granted);
            self.poll();
        }
    }

    /// A vote answer of the current term.
    pub(super) fn handle_vote_response(&mut self, from: NodeId, granted: bool) {
        if let RoleState::Candidate { votes } = &mut self.role {
            let repeated = granted && votes.get(&from) == Some(&true);
            if repeated && self.config.bugs.planted().count_repeated_votes {
                // Recorded under an id no peer has, as a vote counter would.
                votes.insert(NodeId::MAX - votes.len() as NodeId, true);
            }
            votes.insert(from, granted);
            self.poll();
        }
    }

    /// Whether a leader was heard from within the base election timeout.
    pub(super) fn in_lease(&self) -> bool {
        self.config.check_quorum
            && self.leader.is_some()
            && self.election_elapsed < self.config.election_tick
    }

    pub(super) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.randomized_timeout =
            self.config.election_tick + self.rng.0.random_range(0..self.config.election_tick);
    }

    /// Leaves whatever role this node had and follows `leader` in `term`.
    pub(super) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        assert!(term >= self.term, "terms never decrease");
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        self.abort_reads();
        self.leader = leader;
        self.role = RoleState::Follower;
        self.reset_election_timer();
    }

    /// The election timer fired: start a (pre-)campaign.
    pub(super) fn campaign(&mut self) {
        if self.config.pre_vote {
            self.abort_reads();
            self.leader = None;
            self.role = RoleState::PreCandidate {
                votes: BTreeMap::from([(self.config.id, true)]),
            };
            self.reset_election_timer();
            self.request_votes(true);
            self.poll();
        } else {
            self.become_candidate();
        }
    }

    fn become_candidate(&mut self) {
        self.abort_reads();
        self.term += 1;
        self.vote = Some(self.config.id);
        self.leader = None;
        self.role = RoleState::Candidate {
            votes: BTreeMap::from([(self.config.id, true)]),
        };
        self.reset_election_timer();
        self.request_votes(false);
        self.poll();
    }

    fn request_votes(&mut self, pre: bool) {
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let term = if pre { self.term + 1 } else { self.term };
        for peer in self.others() {
            let body = if pre {
                MessageBody::PreVote {
                    last_log_index,
                    last_log_term,
                }
            } else {
                MessageBody::RequestVote {
                    last_log_index,
                    last_log_term,
                }
            };
            self.send(peer, term, body);
        }
    }

    /// Counts the (pre-)votes and moves on when a quorum decided.
    fn poll(&mut self) {
        let quorum = self.config.quorum();
        let (votes, pre) = match &self.role {
            RoleState::PreCandidate { votes } => (votes, true),
            RoleState::Candidate { votes } => (votes, false),
            _ => return,
        };
        let granted = votes.values().filter(|g| **g).count();
        let rejected = votes.len() - granted;
        if granted >= quorum {
            if pre {
                self.become_candidate();
            } else {
                self.become_leader();
            }
        } else if rejected >= quorum {
            let term = self.term;
            self.become_follower(term, None);
        }
    }

    fn become_leader(&mut self) {
        assert!(
            matches!(self.role, RoleState::Candidate { .. }),
            "only a candidate can become leader"
        );
        assert_eq!(self.vote, Some(self.config.id), "a leader voted for itself");
        let next = self.log.last_index() + 1;
        let progress = self
            .others()
            .into_iter()
            .map(|p| (p, Progress::new(next)))
            .collect();
        self.role = RoleState::Leader(LeaderState {
            progress,
            reads: VecDeque::new(),
            read_round: 0,
            read_acks: BTreeMap::new(),
            broadcast_pending: true,
        });
        self.leader = Some(self.config.id);
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        // The no-op lets the leader commit (and serve reads) in its own term. A
        // leader with the commit-old-term bug commits its predecessors' entries by
        // counting replicas and so, like the implementations it imitates, has no
        // use for one: its first entry of the term is a client's.
        if !self.config.bugs.commit_old_term {
            self.log.push(Entry {
                term: self.term,
                index: next,
                data: Vec::new(),
            });
        }
        self.maybe_commit();
    }

    /// A leader's CheckQuorum round: whether a quorum was active, resetting
    /// the activity flags for the next round.
    pub(super) fn check_quorum(&mut self) -> bool {
        let RoleState::Leader(ls) = &mut self.role else {
            unreachable!("only a leader checks its quorum")
        };
        let mut active = 1;
        for pr in ls.progress.values_mut() {
            if std::mem::take(&mut pr.recent_active) {
                active += 1;
            }
        }
        active >= self.config.quorum()
    }

    /// The up-to-date-log rule for (pre-)votes, unless switched off as a bug.
    fn log_ok(&self, last_log_index: u64, last_log_term: u64) -> bool {
        self.config.bugs.vote_without_log_check
            || self.log.is_up_to_date(last_log_index, last_log_term)
    }
}
