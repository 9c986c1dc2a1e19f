//! Model check of the Raft core with stateright.
//!
//! The model is a cluster of three real [`RaftNode`]s (the production code,
//! not a re-implementation) over a lossy, reordering network: in-flight
//! messages form a set, and any of them may be delivered next. Loss needs no
//! action of its own: a message that is never delivered is lost, and because
//! safety properties only look at node states, an explicit "drop" would add
//! states without adding behaviours. A node may also time out (its clock runs
//! until something happens), receive a client proposal, crash and restart
//! from what it persisted, or compact its log into a snapshot. After every
//! action the node's `Ready` is processed the way the runtime does it:
//! persist, send, apply.
//!
//! Breadth-first search up to a bounded depth checks in every reachable state
//! the safety properties of the Raft paper (Figure 3): Election Safety, Log
//! Matching, Leader Completeness and State Machine Safety. A second check
//! switches on a deliberate bug and expects the checker to find a
//! counterexample, which shows that the properties can fail.
//!
//! `RAFT_MODEL_DEPTH` (defaults 9 and 8) deepens the safety checks; each
//! extra level costs roughly three to four times the states and time.

use std::collections::{BTreeMap, BTreeSet};

use raftkv::raft::{
    Bugs, Config, Entry, HardState, Message, RaftNode, Restored, Role, Snapshot, SnapshotMeta,
};
use stateright::{Checker, HasDiscoveries, Model, Property};

/// What one node's storage holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Disk {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

impl Disk {
    /// Term of the persisted entry at `index`: `Some` for entries held, or
    /// the snapshot's own last index.
    fn term(&self, index: u64) -> Option<u64> {
        let snap = self.snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        if index == snap.index {
            return Some(snap.term);
        }
        self.entries
            .iter()
            .find(|e| e.index == index)
            .map(|e| e.term)
    }

    fn snapshot_index(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }
}

/// Broken properties, recorded when the action that broke them happens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Violations {
    /// A node applied an entry that differs from one applied elsewhere at the same index.
    state_machine: bool,
    /// A newly elected leader lacked an entry that was already committed.
    leader_completeness: bool,
}

/// The whole cluster: nodes, their disks and state machines, the network, and
/// ghost variables for the properties.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Cluster {
    nodes: Vec<RaftNode>,
    disks: Vec<Disk>,
    /// Each node's state machine: the entries applied, from index 1.
    applied: Vec<Vec<Entry>>,
    /// Messages in flight.
    network: BTreeSet<Message>,
    /// Ghost: every (term, leader) ever elected.
    elected: BTreeSet<(u64, u64)>,
    /// Ghost: every entry any node ever applied, by index.
    committed: BTreeMap<u64, Entry>,
    violations: Violations,
    /// Ghost: how many snapshots nodes received from a leader.
    snapshots_installed: u8,
    proposals: u8,
    restarts: u8,
    compactions: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Action {
    /// Run node i's clock until it does something (campaign, heartbeat).
    Timeout(usize),
    Deliver(Message),
    Propose(usize),
    Restart(usize),
    Compact(usize),
}

/// The model's parameters.
struct RaftModel {
    /// Cluster size.
    nodes: u64,
    /// Client proposals, in total.
    max_proposals: u8,
    /// Crash-restarts, in total.
    max_restarts: u8,
    /// Log compactions, in total.
    max_compactions: u8,
    /// Whether nodes run a pre-vote round before campaigning.
    pre_vote: bool,
    /// Whether nodes run CheckQuorum and honour the leader lease.
    check_quorum: bool,
    /// Bugs switched on in every node.
    bugs: Bugs,
    /// Skip the pristine start and explore from an elected leader only.
    elected_only: bool,
}

impl RaftModel {
    fn config(&self, id: u64) -> Config {
        let mut config = Config::new(id, (1..=self.nodes).collect(), id);
        config.election_tick = 2;
        config.heartbeat_tick = 1;
        config.pre_vote = self.pre_vote;
        config.check_quorum = self.check_quorum;
        config.bugs = self.bugs;
        config
    }

    /// Three fresh nodes with empty disks.
    fn pristine(&self) -> Cluster {
        let n = self.nodes as usize;
        Cluster {
            nodes: (1..=self.nodes)
                .map(|id| RaftNode::new(self.config(id), Restored::default()))
                .collect(),
            disks: vec![Disk::default(); n],
            applied: vec![Vec::new(); n],
            network: BTreeSet::new(),
            elected: BTreeSet::new(),
            committed: BTreeMap::new(),
            violations: Violations::default(),
            snapshots_installed: 0,
            proposals: 0,
            restarts: 0,
            compactions: 0,
        }
    }

    /// Node 1 times out and wins term 1; the network delivers everything in
    /// order (except to and from node 3 if `without_3`), three rounds.
    fn elect_node_1(&self, pristine: &Cluster, without_3: bool) -> Cluster {
        let mut s = pristine.clone();
        for _ in 0..3 {
            s = self.next_state(&s, Action::Timeout(0)).expect("acts");
            while let Some(m) = s.network.first().cloned() {
                s = if without_3 && (m.to == 3 || m.from == 3) {
                    let mut t = s.clone();
                    t.network.remove(&m);
                    t
                } else {
                    self.next_state(&s, Action::Deliver(m)).expect("delivers")
                };
            }
        }
        assert_eq!(s.nodes[0].role(), Role::Leader, "node 1 won");
        s
    }

    /// Persists, sends and applies what node `i` has ready, updating the ghosts.
    fn drain(&self, s: &mut Cluster, i: usize) {
        while s.nodes[i].has_ready() {
            let ready = s.nodes[i].ready();
            let disk = &mut s.disks[i];
            if let Some(snapshot) = ready.snapshot {
                let sm: Vec<Entry> =
                    serde_json::from_slice(&snapshot.data).expect("model snapshots decode");
                for e in &sm {
                    check_apply(&mut s.committed, &mut s.violations, e);
                }
                s.applied[i] = sm;
                s.snapshots_installed += 1;
                disk.entries.clear();
                disk.snapshot = Some(snapshot);
            }
            if let Some(first) = ready.entries.first() {
                disk.entries.retain(|e| e.index < first.index);
                disk.entries.extend(ready.entries.iter().cloned());
            }
            if let Some(hs) = ready.hard_state {
                disk.hard_state = hs;
            }
            s.network.extend(ready.messages);
            for e in ready.committed {
                assert_eq!(e.index, s.applied[i].len() as u64 + 1, "applied in order");
                check_apply(&mut s.committed, &mut s.violations, &e);
                s.applied[i].push(e);
            }
            if let Some(status) = ready.role_change {
                if status.role == Role::Leader {
                    s.elected.insert((status.term, status.id));
                    // Leader Completeness: the new leader holds every entry
                    // committed so far (its disk now holds its whole log).
                    let disk = &s.disks[i];
                    let complete = s.committed.values().all(|e| {
                        e.index <= disk.snapshot_index() || disk.term(e.index) == Some(e.term)
                    });
                    if !complete {
                        s.violations.leader_completeness = true;
                    }
                }
            }
        }
    }
}

/// Records that `e` was applied, flagging a different entry at its index.
fn check_apply(committed: &mut BTreeMap<u64, Entry>, violations: &mut Violations, e: &Entry) {
    match committed.get(&e.index) {
        Some(prev) if prev != e => violations.state_machine = true,
        Some(_) => {}
        None => {
            committed.insert(e.index, e.clone());
        }
    }
}

impl Model for RaftModel {
    type State = Cluster;
    type Action = Action;

    /// Three starting points: a pristine cluster (explores elections); the
    /// same cluster after node 1 won term 1 and everyone applied its no-op
    /// (spends the depth budget on replication, commits and leader changes);
    /// and one where node 3 missed all that and node 1 compacted its log
    /// (explores InstallSnapshot).
    fn init_states(&self) -> Vec<Cluster> {
        let pristine = self.pristine();
        let elected = self.elect_node_1(&pristine, false);
        assert!(
            elected.applied.iter().all(|a| a.len() == 1),
            "the no-op is applied everywhere"
        );
        if self.elected_only {
            return vec![elected];
        }
        // Node 3 missed everything and node 1 compacted its log: catching
        // node 3 up needs InstallSnapshot.
        let mut lagging = self.elect_node_1(&pristine, true);
        assert!(lagging.applied[2].is_empty(), "node 3 knows nothing");
        lagging = self
            .next_state(&lagging, Action::Compact(0))
            .expect("compacts");
        lagging.compactions = 0;
        vec![pristine, elected, lagging]
    }

    fn actions(&self, s: &Cluster, actions: &mut Vec<Action>) {
        for i in 0..s.nodes.len() {
            actions.push(Action::Timeout(i));
            if s.nodes[i].role() == Role::Leader && s.proposals < self.max_proposals {
                actions.push(Action::Propose(i));
            }
            if s.restarts < self.max_restarts && s.disks[i] != Disk::default() {
                actions.push(Action::Restart(i));
            }
            if s.compactions < self.max_compactions
                && s.applied[i].len() as u64 > s.disks[i].snapshot_index()
            {
                actions.push(Action::Compact(i));
            }
        }
        for m in &s.network {
            actions.push(Action::Deliver(m.clone()));
        }
    }

    fn next_state(&self, last: &Cluster, action: Action) -> Option<Cluster> {
        let mut s = last.clone();
        let i = match action {
            Action::Timeout(i) => {
                let before = s.nodes[i].status();
                for _ in 0..8 {
                    s.nodes[i].tick();
                    if s.nodes[i].has_ready() {
                        break;
                    }
                }
                if !s.nodes[i].has_ready() && s.nodes[i].status() == before {
                    return None;
                }
                i
            }
            Action::Deliver(m) => {
                s.network.remove(&m);
                let i = (m.to - 1) as usize;
                s.nodes[i].step(m);
                i
            }
            Action::Propose(i) => {
                s.proposals += 1;
                let data = vec![s.proposals];
                s.nodes[i]
                    .propose(data)
                    .expect("only leaders are offered proposals");
                i
            }
            Action::Restart(i) => {
                s.restarts += 1;
                let disk = s.disks[i].clone();
                s.applied[i] = match &disk.snapshot {
                    Some(snap) => serde_json::from_slice(&snap.data).expect("decodes"),
                    None => Vec::new(),
                };
                let restored = Restored {
                    hard_state: disk.hard_state,
                    snapshot: disk.snapshot,
                    entries: disk.entries,
                };
                s.nodes[i] = RaftNode::new(self.config(i as u64 + 1), restored);
                i
            }
            Action::Compact(i) => {
                s.compactions += 1;
                let sm = &s.applied[i];
                let last = sm.last().expect("something applied");
                let snapshot = Snapshot {
                    meta: SnapshotMeta {
                        index: last.index,
                        term: last.term,
                    },
                    data: serde_json::to_vec(sm).expect("encodes"),
                };
                let disk = &mut s.disks[i];
                disk.entries.retain(|e| e.index > last.index);
                disk.snapshot = Some(snapshot.clone());
                s.nodes[i].compact(snapshot);
                i
            }
        };
        self.drain(&mut s, i);
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("election safety", |_, s: &Cluster| {
                let terms: Vec<u64> = s.elected.iter().map(|(t, _)| *t).collect();
                terms.windows(2).all(|w| w[0] != w[1])
            }),
            Property::always("log matching", |_, s: &Cluster| {
                s.disks.iter().all(|a| {
                    s.disks.iter().all(|b| {
                        a.entries.iter().all(|ea| {
                            let same_term = b.term(ea.index) == Some(ea.term);
                            !same_term
                                || a.entries.iter().filter(|x| x.index <= ea.index).all(|x| {
                                    b.entries
                                        .iter()
                                        .find(|y| y.index == x.index)
                                        .is_none_or(|y| y == x)
                                })
                        })
                    })
                })
            }),
            Property::always("leader completeness", |_, s: &Cluster| {
                !s.violations.leader_completeness
            }),
            Property::always("state machine safety", |_, s: &Cluster| {
                !s.violations.state_machine
                    && s.applied.iter().all(|a| {
                        s.applied.iter().all(|b| {
                            let n = a.len().min(b.len());
                            a[..n] == b[..n]
                        })
                    })
            }),
            Property::sometimes("a leader is elected", |_, s: &Cluster| {
                !s.elected.is_empty()
            }),
            Property::sometimes("a proposal is applied", |_, s: &Cluster| {
                s.committed.values().any(|e| !e.data.is_empty())
            }),
            Property::sometimes("a snapshot is installed", |_, s: &Cluster| {
                s.snapshots_installed > 0
            }),
        ]
    }
}

/// Explores the model breadth-first to `depth` (`RAFT_MODEL_DEPTH` overrides
/// it), asserts every property and a lower bound on the number of states,
/// and prints the figures.
fn check_safety(name: &str, model: RaftModel, depth: usize, min_states: usize) {
    let depth: usize = std::env::var("RAFT_MODEL_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(depth);
    let started = std::time::Instant::now();
    let checker = model
        .checker()
        .threads(1)
        .target_max_depth(depth)
        .spawn_bfs()
        .join();
    let states = checker.unique_state_count();
    println!(
        "raft model ({name}): {states} unique states ({} generated) to depth {depth} in {:.1?}",
        checker.state_count(),
        started.elapsed()
    );
    checker.assert_properties();
    assert!(
        states > min_states,
        "the model explored only {states} states"
    );
}

#[test]
fn raft_core_is_safe_in_every_reachable_state() {
    let model = RaftModel {
        nodes: 3,
        max_proposals: 2,
        max_restarts: 1,
        max_compactions: 1,
        pre_vote: true,
        check_quorum: true,
        bugs: Bugs::default(),
        elected_only: false,
    };
    // RAFT_MODEL_DEPTH=10 explores a few million states (minutes).
    check_safety("pre-vote, check-quorum", model, 9, 600_000);
}

#[test]
fn plain_raft_is_safe_in_every_reachable_state() {
    let model = RaftModel {
        nodes: 3,
        max_proposals: 2,
        max_restarts: 1,
        max_compactions: 1,
        pre_vote: false,
        check_quorum: false,
        bugs: Bugs::default(),
        elected_only: false,
    };
    // Direct elections branch more: one level less keeps it as fast.
    check_safety("plain", model, 8, 300_000);
}

/// The properties have teeth: with votes granted regardless of log freshness,
/// the checker finds a leader elected without a committed entry.
#[test]
fn model_catches_votes_without_the_log_check() {
    let model = RaftModel {
        nodes: 3,
        max_proposals: 1,
        max_restarts: 0,
        max_compactions: 0,
        // Without the lease the counterexample is one step shorter.
        pre_vote: true,
        check_quorum: false,
        bugs: Bugs {
            vote_without_log_check: true,
            ..Bugs::default()
        },
        elected_only: true,
    };
    let checker = model
        .checker()
        .threads(1)
        .target_max_depth(10)
        .finish_when(HasDiscoveries::AnyFailures)
        .spawn_bfs()
        .join();
    let path = checker
        .discovery("leader completeness")
        .expect("the bug breaks Leader Completeness");
    println!(
        "counterexample after {} states, {} steps",
        checker.unique_state_count(),
        path.clone().into_actions().len()
    );
    assert!(path.last_state().violations.leader_completeness);
}
