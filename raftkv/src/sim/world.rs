//! The simulated cluster: real Raft nodes, a model of each node's disk and
//! state machine, and a network of per-link queues. [`World::apply`] performs
//! one [`Action`] and checks the properties on everything it changed.

use std::collections::VecDeque;

use super::action::{Action, NodeName};
use super::checks::{chain, violation, Checked, Ghost, Property};
use super::generate::Setup;
use crate::raft::{
    Entry, HardState, Message, MessageBody, RaftNode, Ready, Restored, Role, Snapshot, SnapshotMeta,
};

/// What one node's disk holds: what the write-ahead log and the snapshot file
/// of the real storage would hold, plus the chain value of every position.
#[derive(Clone, Debug, Default)]
struct Disk {
    /// The last hard state written.
    hard_state: HardState,
    /// The latest snapshot.
    snapshot: Option<Snapshot>,
    /// Chain value at the snapshot's index (0 without one).
    snapshot_chain: u64,
    /// The entries after the snapshot, contiguous.
    entries: Vec<Entry>,
    /// `chains[k]`: the chain value at `entries[k]`.
    chains: Vec<u64>,
}

impl Disk {
    fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot.as_ref().map(|s| s.meta).unwrap_or_default()
    }

    /// The chain value at `index`, if the disk holds a log that reaches it.
    fn chain_at(&self, index: u64) -> Option<u64> {
        let base = self.snapshot_meta().index;
        assert!(index >= base, "snapshots cover only applied entries");
        if index == base {
            return Some(self.snapshot_chain);
        }
        self.chains.get((index - base - 1) as usize).copied()
    }

    /// Writes `entry`, truncating whatever the log held from its index on.
    fn append(&mut self, entry: Entry) -> u64 {
        let base = self.snapshot_meta().index;
        assert!(entry.index > base, "entries follow the snapshot");
        let keep = (entry.index - base - 1) as usize;
        assert!(
            keep <= self.entries.len(),
            "entries are written without gaps"
        );
        self.entries.truncate(keep);
        self.chains.truncate(keep);
        let prev = self.chains.last().copied().unwrap_or(self.snapshot_chain);
        let value = chain(prev, &entry);
        self.entries.push(entry);
        self.chains.push(value);
        value
    }

    /// Replaces the log up to `snapshot` (all of it when `whole`).
    fn store_snapshot(&mut self, snapshot: Snapshot, value: u64, whole: bool) {
        let index = snapshot.meta.index;
        let base = self.snapshot_meta().index;
        let covered = if whole {
            self.entries.len()
        } else {
            ((index - base) as usize).min(self.entries.len())
        };
        self.entries.drain(..covered);
        self.chains.drain(..covered);
        self.snapshot = Some(snapshot);
        self.snapshot_chain = value;
    }
}

/// A node's state machine: how far it applied and the chain value there.
#[derive(Clone, Copy, Debug, Default)]
struct Machine {
    /// Highest index applied.
    index: u64,
    /// Term of that entry.
    term: u64,
    /// Chain value of the applied entries.
    chain: u64,
}

impl Machine {
    /// The state machine a snapshot holds: the chain value is its data.
    fn from_snapshot(snapshot: &Snapshot) -> Machine {
        let bytes: [u8; 8] = snapshot.data[..]
            .try_into()
            .expect("simulated snapshots hold one chain value");
        Machine {
            index: snapshot.meta.index,
            term: snapshot.meta.term,
            chain: u64::from_le_bytes(bytes),
        }
    }
}

/// The simulated cluster.
pub(crate) struct World {
    /// What the trace runs on.
    setup: Setup,
    /// Cluster size.
    n: usize,
    /// The nodes; `None` while crashed.
    nodes: Vec<Option<RaftNode>>,
    disks: Vec<Disk>,
    machines: Vec<Machine>,
    /// Stopped nodes (SIGSTOP).
    paused: Vec<bool>,
    /// Nodes armed to crash in their next write, keeping that many records.
    torn: Vec<Option<u8>>,
    /// Partition: nodes with their bit set are cut from the others (0: none).
    cut: u8,
    /// Message queues, one per directed link (`from * n + to`).
    links: Vec<VecDeque<Message>>,
    /// Messages in all queues.
    in_flight: usize,
    /// Payload of the next proposal.
    next_write: u64,
    /// Id of the next read.
    next_read: u64,
    /// Proposals at or after this number count for liveness (`u64::MAX`: none yet).
    settle_writes_from: u64,
    /// Nodes that applied a proposal counted for liveness (bit per node).
    settled: u8,
    /// Ghost state of the checks.
    ghost: Ghost,
    /// Steps applied, including those that had no effect.
    steps: u64,
}

impl World {
    /// A fresh cluster of `setup.nodes` nodes with empty disks.
    pub fn new(setup: Setup) -> World {
        let n = setup.nodes as usize;
        assert!((1..=8).contains(&n), "between 1 and 8 nodes");
        let mut ghost = Ghost::default();
        ghost.clear();
        World {
            nodes: (0..n)
                .map(|i| Some(RaftNode::new(setup.config(i as u8), Restored::default())))
                .collect(),
            disks: vec![Disk::default(); n],
            machines: vec![Machine::default(); n],
            paused: vec![false; n],
            torn: vec![None; n],
            cut: 0,
            links: vec![VecDeque::new(); n * n],
            in_flight: 0,
            next_write: 1,
            next_read: 1,
            settle_writes_from: u64::MAX,
            settled: 0,
            ghost,
            steps: 0,
            setup,
            n,
        }
    }

    /// Cluster size.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Steps applied so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Whether node `i` is running (not crashed).
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    /// Whether node `i` is paused.
    pub fn is_paused(&self, i: usize) -> bool {
        self.paused[i]
    }

    /// Whether node `i` is armed to crash in its next write.
    pub fn is_armed(&self, i: usize) -> bool {
        self.torn[i].is_some()
    }

    /// Whether a partition is in place.
    pub fn is_partitioned(&self) -> bool {
        self.cut != 0
    }

    /// Whether node `i` runs and believes it leads.
    pub fn is_leader(&self, i: usize) -> bool {
        self.nodes[i]
            .as_ref()
            .is_some_and(|n| n.role() == Role::Leader)
    }

    /// Messages waiting in all queues.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Messages waiting on the link `from → to`.
    pub fn queued(&self, from: usize, to: usize) -> usize {
        self.links[from * self.n + to].len()
    }

    /// The node's applied index is beyond its snapshot: it can compact.
    pub fn can_compact(&self, i: usize) -> bool {
        self.machines[i].index > self.disks[i].snapshot_meta().index
    }

    fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut != 0 && (self.cut >> a) & 1 != (self.cut >> b) & 1
    }

    /// Performs one step; returns whether it had any effect (a step whose
    /// node is down or whose message is gone does nothing).
    pub fn apply(&mut self, action: Action) -> Checked<bool> {
        self.steps += 1;
        match action {
            Action::Tick(i) => {
                let i = i as usize;
                let Some(node) = self.running(i) else {
                    return Ok(false);
                };
                node.tick();
                self.drain(i)?;
            }
            Action::Deliver { from, to, nth } => {
                let (from, to, nth) = (from as usize, to as usize, nth as usize);
                if self.paused[to] || nth >= self.queued(from, to) {
                    return Ok(false);
                }
                let msg = self.take(from, to, nth);
                if let Some(node) = self.nodes[to].as_mut() {
                    node.step(msg);
                    self.drain(to)?;
                }
            }
            Action::Drop { from, to, nth } => {
                if nth as usize >= self.queued(from as usize, to as usize) {
                    return Ok(false);
                }
                self.take(from as usize, to as usize, nth as usize);
            }
            Action::Duplicate { from, to, nth } => {
                let link = &mut self.links[from as usize * self.n + to as usize];
                let Some(msg) = link.get(nth as usize).cloned() else {
                    return Ok(false);
                };
                link.push_back(msg);
                self.in_flight += 1;
            }
            Action::Propose(i) => {
                let i = i as usize;
                let write = self.next_write;
                let Some(node) = self.running(i) else {
                    return Ok(false);
                };
                if node.propose(write.to_le_bytes().to_vec()).is_err() {
                    return Ok(false);
                }
                self.next_write += 1;
                self.drain(i)?;
            }
            Action::Read(i) => {
                let i = i as usize;
                let id = self.next_read;
                let Some(node) = self.running(i) else {
                    return Ok(false);
                };
                if node.read_index(id).is_err() {
                    return Ok(false);
                }
                self.next_read += 1;
                self.ghost.read_started(id);
                self.drain(i)?;
            }
            Action::Compact(i) => return self.compact(i as usize),
            Action::Crash(i) => {
                let i = i as usize;
                if self.nodes[i].is_none() {
                    return Ok(false);
                }
                self.crash(i);
            }
            Action::CrashInWrite { node, keep } => {
                let i = node as usize;
                if self.nodes[i].is_none() || self.torn[i].is_some() {
                    return Ok(false);
                }
                self.torn[i] = Some(keep);
            }
            Action::Restart(i) => {
                let i = i as usize;
                if self.nodes[i].is_some() {
                    return Ok(false);
                }
                self.restart(i)?;
            }
            Action::Pause(i) => {
                let i = i as usize;
                if self.nodes[i].is_none() || self.paused[i] {
                    return Ok(false);
                }
                self.paused[i] = true;
            }
            Action::Resume(i) => {
                if !self.paused[i as usize] {
                    return Ok(false);
                }
                self.paused[i as usize] = false;
            }
            Action::Partition(mask) => {
                let all = (1u16 << self.n) - 1;
                let mask = u16::from(mask) & all;
                if mask == 0 || mask == all || mask as u8 == self.cut {
                    return Ok(false);
                }
                self.cut = mask as u8;
                self.drop_cut_messages();
            }
            Action::Heal => {
                if self.cut == 0 {
                    return Ok(false);
                }
                self.cut = 0;
            }
        }
        Ok(true)
    }

    /// Node `i` if it runs and is not paused.
    fn running(&mut self, i: usize) -> Option<&mut RaftNode> {
        if self.paused[i] {
            return None;
        }
        self.nodes[i].as_mut()
    }

    fn take(&mut self, from: usize, to: usize, nth: usize) -> Message {
        self.in_flight -= 1;
        self.links[from * self.n + to]
            .remove(nth)
            .expect("the caller checked the queue length")
    }

    fn drop_cut_messages(&mut self) {
        for from in 0..self.n {
            for to in 0..self.n {
                if self.is_cut(from, to) {
                    let link = &mut self.links[from * self.n + to];
                    self.in_flight -= link.len();
                    link.clear();
                }
            }
        }
    }

    fn send(&mut self, messages: Vec<Message>) {
        for m in messages {
            let (from, to) = ((m.from - 1) as usize, (m.to - 1) as usize);
            if !self.is_cut(from, to) {
                self.links[from * self.n + to].push_back(m);
                self.in_flight += 1;
            }
        }
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
        self.paused[i] = false;
        self.torn[i] = None;
    }

    fn restart(&mut self, i: usize) -> Checked {
        let disk = &self.disks[i];
        let restored = Restored {
            hard_state: disk.hard_state,
            snapshot: disk.snapshot.clone(),
            entries: disk.entries.clone(),
        };
        self.machines[i] = disk
            .snapshot
            .as_ref()
            .map(Machine::from_snapshot)
            .unwrap_or_default();
        self.nodes[i] = Some(RaftNode::new(self.setup.config(i as u8), restored));
        self.drain(i)
    }

    fn compact(&mut self, i: usize) -> Checked<bool> {
        let m = self.machines[i];
        if self.paused[i] || self.nodes[i].is_none() || !self.can_compact(i) {
            return Ok(false);
        }
        // Only the vote and commit bugs truncate applied entries; a snapshot
        // of them would not match the log.
        let disk = &mut self.disks[i];
        if disk.chain_at(m.index) != Some(m.chain) {
            return Ok(false);
        }
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                index: m.index,
                term: m.term,
            },
            data: m.chain.to_le_bytes().to_vec(),
        };
        disk.store_snapshot(snapshot.clone(), m.chain, false);
        let node = self.nodes[i].as_mut().expect("checked above");
        node.compact(snapshot);
        self.drain(i)?;
        Ok(true)
    }

    /// Handles node `i`'s `Ready`s as the server does: persist, send, apply;
    /// checking every property the changes touch.
    fn drain(&mut self, i: usize) -> Checked {
        loop {
            let Some(node) = self.nodes[i].as_mut() else {
                return Ok(());
            };
            if !node.has_ready() {
                return Ok(());
            }
            let mut ready = node.ready();
            let early = self.setup.sends_before_persisting();
            if early {
                self.send(std::mem::take(&mut ready.messages));
            }
            let records = usize::from(ready.snapshot.is_some())
                + usize::from(ready.hard_state.is_some())
                + ready.entries.len();
            let torn = match self.torn[i] {
                Some(keep) if records > 0 => Some(usize::from(keep)),
                _ => None,
            };
            self.persist(i, &mut ready, torn.unwrap_or(usize::MAX))?;
            if torn.is_some() {
                self.crash(i);
                return Ok(());
            }
            self.send(std::mem::take(&mut ready.messages));
            self.apply_ready(i, ready)?;
        }
    }

    /// Writes at most `limit` records of `ready` (snapshot, entries, hard
    /// state: the order the storage writes them in).
    fn persist(&mut self, i: usize, ready: &mut Ready, limit: usize) -> Checked {
        let mut written = 0;
        if let Some(snapshot) = ready.snapshot.take() {
            if written == limit {
                return Ok(());
            }
            written += 1;
            let machine = Machine::from_snapshot(&snapshot);
            let index = machine.index;
            if index <= self.ghost.applied_index()
                && self.ghost.applied_chain(index) != machine.chain
            {
                return violation(
                    Property::StateMachineSafety,
                    format!(
                        "{} installed a snapshot up to index {index} that differs from what was applied there",
                        NodeName(i as u8)
                    ),
                );
            }
            self.disks[i].store_snapshot(snapshot, machine.chain, true);
            self.machines[i] = machine;
        }
        for entry in ready.entries.drain(..) {
            if written == limit {
                return Ok(());
            }
            written += 1;
            let value = self.disks[i].append(entry);
            let stored = self.disks[i].entries.last().expect("just appended");
            self.ghost.stored(i as u8, stored, value)?;
        }
        if let (Some(hs), true) = (ready.hard_state, written < limit) {
            self.disks[i].hard_state = hs;
        }
        Ok(())
    }

    /// Applies the committed entries, checks reads and elections.
    fn apply_ready(&mut self, i: usize, ready: Ready) -> Checked {
        let term = match &self.nodes[i] {
            Some(node) if !ready.committed.is_empty() => node.status().term,
            _ => 0,
        };
        for entry in &ready.committed {
            let m = &mut self.machines[i];
            if entry.index <= m.index {
                continue;
            }
            assert_eq!(entry.index, m.index + 1, "entries are applied in order");
            m.chain = chain(m.chain, entry);
            m.index = entry.index;
            m.term = entry.term;
            let value = m.chain;
            self.ghost.applied(i as u8, term, entry, value)?;
            if entry.data.len() == 8 {
                let write = u64::from_le_bytes(entry.data[..].try_into().expect("8 bytes"));
                if write >= self.settle_writes_from {
                    self.settled |= 1 << i;
                }
            }
        }
        for read in &ready.read_states {
            self.ghost
                .read_ready(i as u8, read.request_id, read.index)?;
        }
        if let Some(status) = ready.role_change {
            if status.role == Role::Leader {
                self.ghost.elected(i as u8, status.term)?;
                let value = self.disks[i].chain_at(self.ghost.committed_before(status.term));
                self.ghost.complete(i as u8, status.term, value)?;
            }
        }
        Ok(())
    }

    /// Stops every fault, then runs rounds (every node ticks once, then the
    /// network delivers everything in order) until a leader is elected and a
    /// proposal made after the faults is applied on every node. With `log`,
    /// every step that has an effect is described there.
    pub fn settle(&mut self, mut log: Option<&mut Vec<String>>) -> Checked {
        let mut step = |w: &mut World, a: Action| -> Checked<bool> {
            let described = log.is_some().then(|| w.describe(a));
            let effective = w.apply(a)?;
            if let (Some(log), Some(d), true) = (log.as_deref_mut(), described, effective) {
                log.push(d);
            }
            Ok(effective)
        };
        self.torn.iter_mut().for_each(|t| *t = None);
        step(self, Action::Heal)?;
        for i in 0..self.n as u8 {
            step(self, Action::Resume(i))?;
            step(self, Action::Restart(i))?;
        }
        self.settle_writes_from = self.next_write;
        let everyone = ((1u16 << self.n) - 1) as u8;
        let rounds = 40 * self.setup.raft.election_tick as usize + 40;
        let repropose = 4 * self.setup.raft.election_tick as usize + 4;
        let mut proposed_at = None;
        for round in 0..rounds {
            for i in 0..self.n as u8 {
                step(self, Action::Tick(i))?;
            }
            let mut passes = 0;
            while self.in_flight > 0 {
                passes += 1;
                if passes > 10_000 {
                    return violation(
                        Property::Liveness,
                        format!("{round} rounds after the faults stopped, the network never goes quiet: the nodes keep answering each other"),
                    );
                }
                for from in 0..self.n as u8 {
                    for to in 0..self.n as u8 {
                        if self.queued(from as usize, to as usize) > 0 {
                            step(self, Action::Deliver { from, to, nth: 0 })?;
                        }
                    }
                }
            }
            if self.settled == everyone {
                return Ok(());
            }
            let stale = proposed_at.is_none_or(|at| round >= at + repropose);
            if let (Some(leader), true) = ((0..self.n).find(|&i| self.is_leader(i)), stale) {
                if step(self, Action::Propose(leader as u8))? {
                    proposed_at = Some(round);
                }
            }
        }
        let roles: Vec<String> = (0..self.n)
            .map(|i| {
                let s = self.nodes[i].as_ref().expect("all restarted").status();
                format!(
                    "{} {} term {} commit {}",
                    NodeName(i as u8),
                    s.role,
                    s.term,
                    s.commit
                )
            })
            .collect();
        let missing: Vec<String> = (0..self.n)
            .filter(|i| self.settled & (1 << i) == 0)
            .map(|i| NodeName(i as u8).to_string())
            .collect();
        violation(
            Property::Liveness,
            format!(
                "{rounds} rounds after the faults stopped, {} still had not applied a new proposal ({})",
                missing.join(", "),
                roles.join("; ")
            ),
        )
    }

    /// The step in words, with the message it concerns when it names one.
    pub fn describe(&self, action: Action) -> String {
        let msg = match action {
            Action::Deliver { from, to, nth }
            | Action::Drop { from, to, nth }
            | Action::Duplicate { from, to, nth } => {
                self.links[from as usize * self.n + to as usize].get(nth as usize)
            }
            _ => None,
        };
        match msg {
            Some(m) => format!("{action}: {}", describe_message(m)),
            None => action.to_string(),
        }
    }
}

/// A message in a few words.
fn describe_message(m: &Message) -> String {
    let t = m.term;
    match &m.body {
        MessageBody::PreVote {
            last_log_index,
            last_log_term,
        } => format!("PreVote for term {t} (last log {last_log_index}/{last_log_term})"),
        MessageBody::PreVoteResponse { granted } => {
            format!("PreVoteResponse term {t} granted={granted}")
        }
        MessageBody::RequestVote {
            last_log_index,
            last_log_term,
        } => format!("RequestVote term {t} (last log {last_log_index}/{last_log_term})"),
        MessageBody::RequestVoteResponse { granted } => {
            format!("RequestVoteResponse term {t} granted={granted}")
        }
        MessageBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            ..
        } => {
            let span = match (entries.first(), entries.last()) {
                (Some(a), Some(b)) => format!(
                    "entries {}..={} (terms {}..={})",
                    a.index, b.index, a.term, b.term
                ),
                _ => "no entries".to_string(),
            };
            format!("AppendEntries term {t} after {prev_log_index}/{prev_log_term}, {span}, commit {leader_commit}")
        }
        MessageBody::AppendEntriesResponse {
            success,
            match_index,
            ..
        } => format!("AppendEntriesResponse term {t} success={success} index {match_index}"),
        MessageBody::InstallSnapshot { snapshot } => format!(
            "InstallSnapshot term {t} up to {}/{}",
            snapshot.meta.index, snapshot.meta.term
        ),
        MessageBody::InstallSnapshotResponse { last_index } => {
            format!("InstallSnapshotResponse term {t} index {last_index}")
        }
    }
}
