//! Seeded, deterministic operation generators for the `register` and `set` workloads.
//!
//! The controller runs `threads` worker slots at once. Each slot draws its operations from
//! its own [`ThreadStream`] and tells it how each one ended ([`ThreadStream::observe`]).
//! The n-th operation a slot issues is a pure function of `(seed, thread)` and of the
//! outcomes of the slot's earlier operations, never of timing or of other slots: its key,
//! its kind and the value it writes depend on the seed alone, and only a compare-and-set's
//! expected value, the length of a watching epoch and the reads a successor process opens
//! with (both below) depend on what the slot saw.
//! Two runs with the same seed therefore issue the same keys, kinds and written values per
//! slot, and a replay fed the same outcomes issues the very same operations. (When a
//! logical process is retired after an indeterminate completion, the fresh process that
//! replaces it keeps drawing from the same slot's stream, knowing nothing.)
//!
//! In the register workload a successor opens by reading the key of the operation its slot
//! draws next, and only then issues that operation (the read draws no random numbers, so the
//! written values stay where they were). It learns the value its compare-and-set will
//! expect, and when its predecessor was retired because its node stopped answering (a
//! timeout while the node is paused or cut off), the read is what that node finds waiting
//! when it answers again: a node that still believes it leads, and answers from its own
//! state before it learns otherwise, then returns a value the other nodes overwrote
//! meanwhile. A set successor opens with a read of the set it adds to next only when its
//! predecessor's node said nothing before the deadline ([`Outcome::Unanswered`]: a paused
//! node, whose pending reads it answers from its own state the moment it resumes). After
//! other unknown outcomes it goes straight on adding: whole-set reads after every
//! retirement took the adds away that drive a crash fault's rolling restarts
//! (docs/bug-detection.md).
//!
//! Key rotation keeps checking cheap: operations are grouped into *epochs*, each with
//! `keys_per_epoch` fresh keys, and slots are split into groups of consecutive slots (about
//! three per group, at most one group per key). In one epoch a slot works only on its
//! group's keys (key `j` of the epoch belongs to group `j % groups`): exactly `per_thread =
//! ops_per_key / members` operations on each, in a seeded shuffled order, then it moves on
//! to the next epoch. A key therefore sees at most `members * per_thread <= ops_per_key`
//! operations from a few concurrent slots (plus a watcher's reads), and the linearizability
//! checker works on many short per-key histories. Consecutive slots talk to consecutive
//! nodes (process `p` is bound to node `p mod nodes`), so the slots sharing a key sit on
//! different nodes: a write through one node and a read through another of the same key is
//! what shows a stale read.
//!
//! A slot's operations on one key come in two phases: the first half of them follow the
//! configured mix, the second half read [`READ_PHASE_WEIGHT`] times as often, so every key
//! is read a lot while its other slots still write it. On a set key the first half only
//! adds, and in the second half one operation in [`SET_READ_EVERY`] reads the whole set, so
//! an acknowledged add missing from a read shows up during the run, not only in the final
//! reads.
//!
//! In the register workload the slots of a group take turns, one epoch each (never the
//! first), at *watching* the group's keys instead of writing them. A watcher reads the keys
//! in turn and moves on only once it has read, on each, a value written in the last quarter
//! of its writers' operations there (a value tells where it was written: see below), or
//! after [`WATCH_READS_PER_KEY`] times the per-slot count of reads per key. It therefore
//! keeps reading for as long as the others write, also while a fault holds them up: every
//! node takes watchers in turn, so a node that answers reads it should not (a deposed
//! leader that still believes in itself) is asked the whole time, not only by processes
//! that are free because they are not stuck on a write. A watcher draws no random numbers,
//! so the writers' streams stay a function of the seed.
//!
//! Written values are unique within a run: the value written by slot `t` as its `j`-th
//! operation on the key with global index `k` is `(k * ops_per_key + j) * threads + t + 1`.
//! A compare-and-set expects the last value the slot's current process read or wrote on that
//! key (Jepsen's "CAS from what you saw"), so it succeeds unless another slot wrote in
//! between. When the process knows nothing of the key (its first operation there, after a
//! failed compare-and-set, or as the successor of a retired process) it guesses a value some
//! member of its group may have written at the previous position. Set elements follow the
//! same formula, so every added element is unique too.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Target number of slots sharing one key.
const SLOTS_PER_KEY: usize = 3;

/// How many times the read weight is multiplied in the second half of a slot's operations
/// on a key (the read-heavy phase).
pub const READ_PHASE_WEIGHT: u32 = 4;

/// In the second half of a slot's operations on a set key, one in this many reads the
/// whole set (the rest add): reads of a set cost its size, so they stay few.
pub const SET_READ_EVERY: u32 = 8;

/// A watching slot counts a key's writers as nearly done once it reads a value written at
/// this fraction (numerator over 4) of their operations on the key or later.
const WATCH_LATE_QUARTERS: usize = 3;

/// A watching slot reads at most this many times its group's per-slot operation count on
/// each key before it moves on, so writers that stopped for good cannot hold it forever.
const WATCH_READS_PER_KEY: usize = 4;

/// Which workload the operations belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// Multi-key read / write / compare-and-set register.
    Register,
    /// Unique element additions to a few keys (checked for lost writes by final reads).
    Set,
}

/// Relative weights of the register operations (they need not sum to anything).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Weight of reads.
    pub read: u32,
    /// Weight of blind writes.
    pub write: u32,
    /// Weight of compare-and-set operations.
    pub cas: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            read: 1,
            write: 1,
            cas: 1,
        }
    }
}

/// Everything that determines the operation streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// The workload.
    pub kind: WorkloadKind,
    /// The run's seed.
    pub seed: u64,
    /// Number of worker slots (the test's concurrency).
    pub threads: usize,
    /// Keys in use at once (per epoch).
    pub keys_per_epoch: usize,
    /// Upper bound on the operations one key receives over the whole run.
    pub ops_per_key: usize,
    /// Register operation mix (ignored by the set workload).
    pub mix: Mix,
}

/// Errors in a generator configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GeneratorError {
    /// A count that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// All register mix weights are zero.
    #[error("the operation mix needs at least one non-zero weight")]
    EmptyMix,
    /// `ops_per_key` cannot give every slot at least one operation per key.
    #[error("ops per key ({ops_per_key}) must be at least the concurrency ({threads})")]
    TooFewOpsPerKey {
        /// The configured bound.
        ops_per_key: usize,
        /// The configured concurrency.
        threads: usize,
    },
}

impl GeneratorConfig {
    /// Checks the configuration; every stream constructor calls this first.
    pub fn validate(&self) -> Result<(), GeneratorError> {
        if self.threads == 0 {
            return Err(GeneratorError::Zero("concurrency"));
        }
        if self.keys_per_epoch == 0 {
            return Err(GeneratorError::Zero("keys per epoch"));
        }
        if self.ops_per_key == 0 {
            return Err(GeneratorError::Zero("ops per key"));
        }
        if self.ops_per_key < self.threads {
            return Err(GeneratorError::TooFewOpsPerKey {
                ops_per_key: self.ops_per_key,
                threads: self.threads,
            });
        }
        if self.kind == WorkloadKind::Register
            && self.mix.read == 0
            && self.mix.write == 0
            && self.mix.cas == 0
        {
            return Err(GeneratorError::EmptyMix);
        }
        Ok(())
    }

    /// Number of slot groups: about three slots share a key, and every group has at
    /// least one key per epoch.
    pub fn groups(&self) -> usize {
        (self.threads / SLOTS_PER_KEY).clamp(1, self.keys_per_epoch)
    }

    /// The group of slot `thread`: groups are runs of consecutive slots.
    fn group_of(&self, thread: usize) -> usize {
        assert!(thread < self.threads, "slot index beyond the concurrency");
        thread * self.groups() / self.threads
    }

    /// The first slot of group `group` (`group == groups` gives the concurrency).
    fn first_slot(&self, group: usize) -> usize {
        let groups = self.groups();
        assert!(group <= groups, "group index beyond the group count");
        (group * self.threads).div_ceil(groups)
    }

    /// Slots in group `group`.
    fn members(&self, group: usize) -> usize {
        self.first_slot(group + 1) - self.first_slot(group)
    }

    /// Operations a slot of group `group` issues on one key: `ops_per_key / members`.
    fn per_thread(&self, group: usize) -> usize {
        self.ops_per_key / self.members(group)
    }

    /// Builds one stream per worker slot.
    pub fn streams(&self) -> Result<Vec<ThreadStream>, GeneratorError> {
        self.validate()?;
        Ok((0..self.threads)
            .map(|t| ThreadStream::new(self.clone(), t))
            .collect())
    }

    /// The name of the key with global index `index`.
    pub fn key_name(&self, index: u64) -> String {
        match self.kind {
            WorkloadKind::Register => format!("r{index}"),
            WorkloadKind::Set => format!("s{index}"),
        }
    }

    /// The read of the key with global index `index`: its value in the register
    /// workload, the whole set in the set workload.
    pub fn read_of(&self, index: u64) -> OpSpec {
        let key = self.key_name(index);
        match self.kind {
            WorkloadKind::Register => OpSpec::Read { key },
            WorkloadKind::Set => OpSpec::ReadSet { key },
        }
    }

    /// Whether slot `thread` watches its group's keys in epoch `epoch` (register workload,
    /// groups of two or more): the group's slots take turns, one epoch each, and none
    /// watches the first epoch.
    fn watches(&self, thread: usize, epoch: u64) -> bool {
        let group = self.group_of(thread);
        let members = self.members(group) as u64;
        self.kind == WorkloadKind::Register
            && members >= 2
            && epoch > 0
            && epoch % members == (thread - self.first_slot(group)) as u64
    }

    /// The position at which `value` was written on the key with global index `key`, if
    /// it is a value written there (see [`GeneratorConfig::value`]).
    fn position_of(&self, key: u64, value: u64) -> Option<usize> {
        let rest = value.checked_sub(1)? / self.threads as u64;
        let ops = self.ops_per_key as u64;
        (rest / ops == key).then_some((rest % ops) as usize)
    }

    /// The unique value slot `thread` writes as its `position`-th operation on key `key`.
    fn value(&self, key: u64, position: usize, thread: usize) -> u64 {
        assert!(
            position < self.ops_per_key,
            "a key sees at most ops_per_key ops"
        );
        (key * self.ops_per_key as u64 + position as u64) * self.threads as u64 + thread as u64 + 1
    }
}

/// One generated operation, before it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpSpec {
    /// Read a register key.
    Read {
        /// The key.
        key: String,
    },
    /// Read every element of a set key.
    ReadSet {
        /// The key.
        key: String,
    },
    /// Write a unique value.
    Write {
        /// The key.
        key: String,
        /// The value.
        value: u64,
    },
    /// Compare-and-set from `expected` to `new`.
    Cas {
        /// The key.
        key: String,
        /// The value the key must hold.
        expected: u64,
        /// The value to write.
        new: u64,
    },
    /// Add a unique element to a set key.
    Add {
        /// The key.
        key: String,
        /// The element.
        element: u64,
    },
}

impl OpSpec {
    /// Whether the operation only reads (it changes nothing, whatever its outcome).
    pub fn is_read(&self) -> bool {
        matches!(self, OpSpec::Read { .. } | OpSpec::ReadSet { .. })
    }

    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            OpSpec::Read { key }
            | OpSpec::ReadSet { key }
            | OpSpec::Write { key, .. }
            | OpSpec::Cas { key, .. }
            | OpSpec::Add { key, .. } => key,
        }
    }
}

/// How an operation ended, as the stream needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect; for a read, the integer value read (`None`: absent or not a number).
    Ok(Option<u64>),
    /// It did not take effect (a compare-and-set mismatch, a refused request).
    Fail,
    /// Unknown: the process is retired and its successor starts knowing nothing.
    Unknown,
    /// Unknown because the node said nothing at all before the deadline (it may be
    /// paused): as [`Outcome::Unknown`], and in either workload the successor opens with a
    /// read.
    Unanswered,
}

/// The deterministic operation stream of one worker slot.
#[derive(Clone, Debug)]
pub struct ThreadStream {
    /// The configuration shared by all slots.
    config: GeneratorConfig,
    /// This slot's index.
    thread: usize,
    /// The slot's random source: the run seed, on the stream numbered after the slot.
    rng: ChaCha8Rng,
    /// The current epoch.
    epoch: u64,
    /// Key slots (0..keys_per_epoch) still to visit in this epoch, in visiting order (popped
    /// from the back).
    pending: Vec<usize>,
    /// Operations issued so far on each key of the current epoch.
    positions: Vec<usize>,
    /// Operations issued so far by this slot.
    issued: u64,
    /// Per key of the current epoch, the last value the current process read or wrote there.
    seen: Vec<Option<u64>>,
    /// The last operation issued and not yet observed: its key slot, the value it writes
    /// (`None` for a read) and whether it is a compare-and-set.
    last: Option<(usize, Option<u64>, bool)>,
    /// Set in an epoch where this slot watches its group's keys instead of writing them.
    watch: Option<Watch>,
    /// Set after an unknown outcome in the register workload, or an unanswered one in
    /// either: the successor process opens with a read.
    successor: bool,
}

/// A watching slot's progress through its epoch.
#[derive(Clone, Debug)]
struct Watch {
    /// The group's key slots in this epoch, read in turn.
    keys: Vec<usize>,
    /// Per entry of `keys`: whether a late write was seen there (its writers are nearly done).
    done: Vec<bool>,
    /// Index into `keys` of the key read last.
    turn: usize,
    /// Reads issued in this epoch.
    reads: usize,
    /// Reads after which the epoch ends whatever was seen.
    max_reads: usize,
    /// The first position of the writers' last quarter on a key (see [`WATCH_LATE_QUARTERS`]).
    late: usize,
}

impl Watch {
    /// Whether the epoch is over: every key's writers nearly done, or the reads spent.
    fn over(&self) -> bool {
        self.reads >= self.max_reads || self.done.iter().all(|&d| d)
    }

    /// The next key slot to read: the one after the last read that is not done yet.
    fn next_key(&mut self) -> usize {
        assert!(!self.over(), "a watch that is over reads no more");
        loop {
            self.turn = (self.turn + 1) % self.keys.len();
            if !self.done[self.turn] {
                self.reads += 1;
                return self.keys[self.turn];
            }
        }
    }
}

impl ThreadStream {
    /// The stream of slot `thread`; `config` must be valid.
    fn new(config: GeneratorConfig, thread: usize) -> Self {
        assert!(thread < config.threads, "slot index beyond the concurrency");
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(thread as u64);
        let positions = vec![0; config.keys_per_epoch];
        let seen = vec![None; config.keys_per_epoch];
        ThreadStream {
            config,
            thread,
            rng,
            epoch: 0,
            pending: Vec::new(),
            seen,
            positions,
            issued: 0,
            last: None,
            watch: None,
            successor: false,
        }
    }

    /// Operations this stream has produced so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Every key this stream has touched or is touching: indices `0..=` the current epoch's
    /// last key. Final reads cover these.
    pub fn keys_touched(&self) -> u64 {
        (self.epoch + 1) * self.config.keys_per_epoch as u64
    }

    /// Records how the last operation from [`ThreadStream::next_op`] ended; the next
    /// compare-and-set on that key starts from what it showed.
    pub fn observe(&mut self, outcome: Outcome) {
        let (slot, written, cas) = self
            .last
            .take()
            .expect("observe follows next_op, once per operation");
        let key = self.epoch_key(slot);
        if let (Some(watch), Outcome::Ok(Some(value))) = (&mut self.watch, outcome) {
            if self
                .config
                .position_of(key, value)
                .is_some_and(|position| position >= watch.late)
            {
                let entry = watch.keys.iter().position(|&k| k == slot);
                watch.done[entry.expect("a watcher reads only its keys")] = true;
            }
        }
        match outcome {
            Outcome::Ok(read) => self.seen[slot] = written.or(read),
            Outcome::Fail if cas => self.seen[slot] = None,
            Outcome::Fail => {}
            Outcome::Unknown | Outcome::Unanswered => {
                self.seen.iter_mut().for_each(|v| *v = None);
                self.successor =
                    self.config.kind == WorkloadKind::Register || outcome == Outcome::Unanswered;
            }
        }
    }

    /// The global index of key slot `slot` of the current epoch.
    fn epoch_key(&self, slot: usize) -> u64 {
        self.epoch * self.config.keys_per_epoch as u64 + slot as u64
    }

    /// Moves to the next epoch (the first one before any operation) and sets up this
    /// slot's part in it: watching its group's keys, or its shuffled operations on them.
    fn start_epoch(&mut self) {
        if self.issued > 0 {
            self.epoch += 1;
        }
        let groups = self.config.groups();
        let group = self.config.group_of(self.thread);
        let per_thread = self.config.per_thread(group);
        let keys: Vec<usize> = (0..self.config.keys_per_epoch)
            .filter(|slot| slot % groups == group)
            .collect();
        self.positions.iter_mut().for_each(|p| *p = 0);
        self.seen.iter_mut().for_each(|v| *v = None);
        self.pending.clear();
        self.watch = None;
        if self.config.watches(self.thread, self.epoch) {
            self.watch = Some(Watch {
                done: vec![false; keys.len()],
                turn: keys.len() - 1,
                reads: 0,
                max_reads: WATCH_READS_PER_KEY * per_thread * keys.len(),
                late: per_thread * WATCH_LATE_QUARTERS / 4,
                keys,
            });
        } else {
            self.pending = keys
                .into_iter()
                .flat_map(|slot| std::iter::repeat_n(slot, per_thread))
                .collect();
            self.pending.shuffle(&mut self.rng);
        }
    }

    /// Produces the slot's next operation; [`ThreadStream::observe`] must report how it
    /// ended before the next call.
    pub fn next_op(&mut self) -> OpSpec {
        assert!(
            self.last.is_none(),
            "the outcome of the previous operation was not observed"
        );
        let epoch_over = match &self.watch {
            Some(watch) => watch.over(),
            None => self.pending.is_empty(),
        };
        if epoch_over {
            self.start_epoch();
        }
        let successor = std::mem::take(&mut self.successor);
        // A watcher reads its group's keys; a successor first reads the key it goes on to use.
        let read_slot = match &mut self.watch {
            Some(watch) => Some(watch.next_key()),
            None if successor => self.pending.last().copied(),
            None => None,
        };
        if let Some(slot) = read_slot {
            self.issued += 1;
            self.last = Some((slot, None, false));
            return self.config.read_of(self.epoch_key(slot));
        }
        let slot = self.pending.pop().expect("an epoch has at least one op");
        let position = self.positions[slot];
        self.positions[slot] += 1;
        self.issued += 1;
        let key_index = self.epoch_key(slot);
        let key = self.config.key_name(key_index);
        let value = self.config.value(key_index, position, self.thread);
        let group = self.config.group_of(self.thread);
        let read_phase = position >= self.config.per_thread(group) / 2;
        let (op, written, cas) = match self.config.kind {
            WorkloadKind::Set if read_phase && self.rng.random_range(0..SET_READ_EVERY) == 0 => {
                (OpSpec::ReadSet { key }, None, false)
            }
            WorkloadKind::Set => (
                OpSpec::Add {
                    key,
                    element: value,
                },
                Some(value),
                false,
            ),
            WorkloadKind::Register => {
                let mix = self.config.mix;
                let read = if read_phase {
                    mix.read * READ_PHASE_WEIGHT
                } else {
                    mix.read
                };
                let roll = self.rng.random_range(0..read + mix.write + mix.cas);
                if roll < read {
                    (OpSpec::Read { key }, None, false)
                } else if roll < read + mix.write {
                    (OpSpec::Write { key, value }, Some(value), false)
                } else {
                    // Drawn whether or not it is used, so that the random sequence never
                    // depends on outcomes.
                    let member = self.rng.random_range(0..self.config.members(group));
                    let other = self.config.first_slot(group) + member;
                    let guess = self
                        .config
                        .value(key_index, position.saturating_sub(1), other);
                    let expected = self.seen[slot].unwrap_or(guess);
                    let op = OpSpec::Cas {
                        key,
                        expected,
                        new: value,
                    };
                    (op, Some(value), true)
                }
            }
        };
        self.last = Some((slot, written, cas));
        op
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn config(kind: WorkloadKind, seed: u64) -> GeneratorConfig {
        GeneratorConfig {
            kind,
            seed,
            threads: 4,
            keys_per_epoch: 3,
            ops_per_key: 20,
            mix: Mix::default(),
        }
    }

    /// `n` operations, each reported as done without showing a value.
    fn take(stream: &mut ThreadStream, n: usize) -> Vec<OpSpec> {
        (0..n)
            .map(|_| {
                let op = stream.next_op();
                stream.observe(Outcome::Ok(None));
                op
            })
            .collect()
    }

    /// Performs `op` on an in-memory register store: the outcome a correct store gives.
    fn apply(store: &mut HashMap<String, u64>, op: &OpSpec) -> Outcome {
        match op {
            OpSpec::Read { key } => Outcome::Ok(store.get(key).copied()),
            OpSpec::Write { key, value } => {
                store.insert(key.clone(), *value);
                Outcome::Ok(None)
            }
            OpSpec::Cas { key, expected, new } => {
                if store.get(key) == Some(expected) {
                    store.insert(key.clone(), *new);
                    Outcome::Ok(None)
                } else {
                    Outcome::Fail
                }
            }
            OpSpec::Add { .. } | OpSpec::ReadSet { .. } => Outcome::Ok(None),
        }
    }

    /// Runs every stream of `cfg` against one in-memory store, `rounds` operations each,
    /// interleaved in an order drawn from `order_seed`; returns each slot's operations
    /// and the outcomes it was told.
    fn simulate(
        cfg: &GeneratorConfig,
        rounds: usize,
        order_seed: u64,
    ) -> Vec<Vec<(OpSpec, Outcome)>> {
        simulate_told(cfg, rounds, order_seed, |outcome| outcome)
    }

    /// [`simulate`], telling each stream `tell(outcome)` instead of the outcome.
    fn simulate_told(
        cfg: &GeneratorConfig,
        rounds: usize,
        order_seed: u64,
        tell: impl Fn(Outcome) -> Outcome,
    ) -> Vec<Vec<(OpSpec, Outcome)>> {
        let mut streams = cfg.streams().unwrap();
        let mut order: Vec<usize> = (0..cfg.threads)
            .flat_map(|t| std::iter::repeat_n(t, rounds))
            .collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(order_seed));
        let mut store = HashMap::new();
        let mut out = vec![Vec::new(); cfg.threads];
        for t in order {
            let op = streams[t].next_op();
            let outcome = apply(&mut store, &op);
            streams[t].observe(tell(outcome));
            out[t].push((op, outcome));
        }
        out
    }

    /// An operation without its compare-and-set expectation: what the seed alone decides.
    fn shape(op: &OpSpec) -> OpSpec {
        match op {
            OpSpec::Cas { key, new, .. } => OpSpec::Cas {
                key: key.clone(),
                expected: 0,
                new: *new,
            },
            other => other.clone(),
        }
    }

    #[test]
    fn same_seed_same_streams_regardless_of_interleaving() {
        let cfg = config(WorkloadKind::Register, 7);
        let mut a = cfg.streams().unwrap();
        let mut b = cfg.streams().unwrap();
        // Drain `a` slot by slot and `b` round-robin: each slot's sequence must match.
        let a_ops: Vec<Vec<OpSpec>> = a.iter_mut().map(|s| take(s, 100)).collect();
        let mut b_ops = vec![Vec::new(); 4];
        for _ in 0..100 {
            for (t, s) in b.iter_mut().enumerate().rev() {
                b_ops[t].extend(take(s, 1));
            }
        }
        assert_eq!(a_ops, b_ops);
    }

    #[test]
    fn different_seeds_differ() {
        let mut a = config(WorkloadKind::Register, 1).streams().unwrap();
        let mut b = config(WorkloadKind::Register, 2).streams().unwrap();
        assert_ne!(take(&mut a[0], 50), take(&mut b[0], 50));
    }

    #[test]
    fn written_values_and_elements_are_unique() {
        for kind in [WorkloadKind::Register, WorkloadKind::Set] {
            let mut seen = HashSet::new();
            for mut s in config(kind, 3).streams().unwrap() {
                for op in take(&mut s, 500) {
                    let v = match op {
                        OpSpec::Write { value, .. } => value,
                        OpSpec::Cas { new, .. } => new,
                        OpSpec::Add { element, .. } => element,
                        OpSpec::Read { .. } | OpSpec::ReadSet { .. } => continue,
                    };
                    assert!(seen.insert(v), "value {v} written twice");
                }
            }
            assert!(seen.len() > 300, "{} values", seen.len());
        }
    }

    #[test]
    fn keys_receive_at_most_ops_per_key() {
        let cfg = config(WorkloadKind::Register, 11);
        let mut per_key: HashMap<String, usize> = HashMap::new();
        for mut s in cfg.streams().unwrap() {
            for op in take(&mut s, 1000) {
                *per_key.entry(op.key().to_string()).or_default() += 1;
            }
        }
        assert!(per_key.len() > 10, "keys rotate");
        // With one member's share of every key watched instead of written, and the
        // watcher told nothing, it spends its whole read budget there.
        let watched = WATCH_READS_PER_KEY * cfg.per_thread(0);
        assert!(per_key.values().all(|&n| n <= cfg.ops_per_key + watched));
    }

    #[test]
    fn cas_expectations_name_possible_values() {
        let cfg = config(WorkloadKind::Register, 5);
        let mut streams = cfg.streams().unwrap();
        let mut written = HashSet::new();
        let mut expected = Vec::new();
        for s in streams.iter_mut() {
            for op in take(s, 300) {
                match op {
                    OpSpec::Write { value, .. } => {
                        written.insert(value);
                    }
                    OpSpec::Cas {
                        expected: e, new, ..
                    } => {
                        written.insert(new);
                        expected.push(e);
                    }
                    _ => {}
                }
            }
        }
        assert!(!expected.is_empty());
        let hits = expected.iter().filter(|e| written.contains(e)).count();
        assert!(
            hits > 0,
            "some CAS expectations match values somebody writes"
        );
    }

    #[test]
    fn a_replay_fed_the_same_outcomes_issues_the_same_ops() {
        let cfg = config(WorkloadKind::Register, 21);
        let run = simulate(&cfg, 200, 1);
        for (t, mut stream) in cfg.streams().unwrap().into_iter().enumerate() {
            for (op, outcome) in &run[t] {
                assert_eq!(&stream.next_op(), op, "slot {t} diverged");
                stream.observe(*outcome);
            }
        }
        // Another interleaving gives other outcomes: only CAS expectations, and how long
        // a watcher reads, may change.
        let other = simulate(&cfg, 200, 2);
        let mut expectations_differ = false;
        let changes = |ops: &[(OpSpec, Outcome)]| -> Vec<OpSpec> {
            ops.iter()
                .map(|(op, _)| op.clone())
                .filter(|op| !op.is_read())
                .collect()
        };
        for (a, b) in run.iter().zip(&other) {
            for (op_a, op_b) in changes(a).iter().zip(&changes(b)) {
                assert_eq!(shape(op_a), shape(op_b));
                expectations_differ |= op_a != op_b;
            }
        }
        assert!(
            expectations_differ,
            "the outcomes feed the CAS expectations"
        );
    }

    #[test]
    fn cas_starts_from_the_last_value_the_process_saw() {
        let cfg = config(WorkloadKind::Register, 17);
        let run = simulate(&cfg, 300, 3);
        let (mut from_seen, mut cas_ok, mut cas_total) = (0, 0, 0);
        for ops in &run {
            let mut seen: HashMap<&str, u64> = HashMap::new();
            for (op, outcome) in ops {
                if let OpSpec::Cas { key, expected, .. } = op {
                    cas_total += 1;
                    cas_ok += usize::from(*outcome != Outcome::Fail);
                    if let Some(v) = seen.get(key.as_str()) {
                        assert_eq!(expected, v, "CAS on {key} ignores what was seen");
                        from_seen += 1;
                    }
                }
                match (op, outcome) {
                    (OpSpec::Read { key }, Outcome::Ok(Some(v))) => {
                        seen.insert(key, *v);
                    }
                    (OpSpec::Read { key }, Outcome::Ok(None)) => {
                        seen.remove(key.as_str());
                    }
                    (OpSpec::Write { key, value }, Outcome::Ok(_))
                    | (
                        OpSpec::Cas {
                            key, new: value, ..
                        },
                        Outcome::Ok(_),
                    ) => {
                        seen.insert(key, *value);
                    }
                    (OpSpec::Cas { key, .. }, Outcome::Fail) => {
                        seen.remove(key.as_str());
                    }
                    _ => {}
                }
            }
        }
        assert!(from_seen * 5 > cas_total * 2, "{from_seen} of {cas_total}");
        // The same streams blind to outcomes (every CAS guessed) succeed far less often.
        let blind = simulate_told(&cfg, 300, 3, |_| Outcome::Unknown);
        let blind_ok = blind
            .iter()
            .flatten()
            .filter(|(op, o)| matches!(op, OpSpec::Cas { .. }) && *o != Outcome::Fail)
            .count();
        eprintln!("CAS succeeded: {cas_ok} of {cas_total} (blind: {blind_ok})");
        assert!(cas_ok > 2 * blind_ok, "{cas_ok} vs {blind_ok} blind");
    }

    #[test]
    fn an_unknown_outcome_forgets_what_was_seen() {
        let cfg = GeneratorConfig {
            threads: 1,
            keys_per_epoch: 1,
            mix: Mix {
                read: 0,
                write: 0,
                cas: 1,
            },
            ..config(WorkloadKind::Register, 5)
        };
        let mut s = cfg.streams().unwrap().remove(0);
        let first = s.next_op();
        s.observe(Outcome::Ok(None));
        let OpSpec::Cas { new, .. } = first else {
            panic!("only CAS: {first:?}")
        };
        let second = s.next_op();
        assert!(matches!(second, OpSpec::Cas { expected, .. } if expected == new));
        s.observe(Outcome::Unknown);
        assert!(
            s.seen.iter().all(Option::is_none),
            "a successor knows nothing"
        );
        let opening = s.next_op();
        assert_eq!(
            opening,
            OpSpec::Read { key: "r0".into() },
            "a successor reads first"
        );
        s.observe(Outcome::Ok(None));
        let third = s.next_op();
        assert!(
            matches!(third, OpSpec::Cas { expected, .. } if expected == cfg.value(0, 1, 0)),
            "it guesses the previous position: {third:?}"
        );
        s.observe(Outcome::Fail);
        assert!(
            s.seen.iter().all(Option::is_none),
            "a failed CAS shows nothing"
        );
    }

    #[test]
    fn a_successor_first_reads_the_key_of_its_next_operation_when_it_must() {
        for (kind, retirement) in [
            (WorkloadKind::Register, Outcome::Unknown),
            (WorkloadKind::Register, Outcome::Unanswered),
            (WorkloadKind::Set, Outcome::Unknown),
            (WorkloadKind::Set, Outcome::Unanswered),
        ] {
            let opens = kind == WorkloadKind::Register || retirement == Outcome::Unanswered;
            // One slot: no watchers, so every retirement is followed by an opening read.
            let cfg = GeneratorConfig {
                threads: 1,
                ..config(kind, 37)
            };
            let mut plain = cfg.streams().unwrap().remove(0);
            let mut retired = plain.clone();
            let expected = take(&mut plain, 60);
            let (mut issued, mut openings) = (Vec::new(), 0);
            let mut unknown = false;
            while issued.len() < expected.len() {
                let op = retired.next_op();
                if std::mem::take(&mut unknown) && opens {
                    retired.observe(Outcome::Ok(None));
                    let next = retired.clone().next_op();
                    assert!(
                        matches!(op, OpSpec::Read { .. } | OpSpec::ReadSet { .. }),
                        "a successor opens with a read: {op:?}"
                    );
                    assert_eq!(op.key(), next.key(), "of the key it goes on to use");
                    openings += 1;
                    continue;
                }
                // Every seventh operation ends unknown: its process is retired.
                unknown = issued.len() % 7 == 0;
                retired.observe(if unknown {
                    retirement
                } else {
                    Outcome::Ok(None)
                });
                issued.push(op);
            }
            let retirements = (0..expected.len() - 1).filter(|k| k % 7 == 0).count();
            let wanted = if opens { retirements } else { 0 };
            assert_eq!(openings, wanted, "{kind:?} {retirement:?}");
            let shapes = |ops: &[OpSpec]| ops.iter().map(shape).collect::<Vec<_>>();
            assert_eq!(
                shapes(&issued),
                shapes(&expected),
                "{kind:?}: besides the opening reads, the seed alone decides"
            );
        }
    }

    #[test]
    fn each_key_ends_in_a_read_heavy_phase() {
        let cfg = config(WorkloadKind::Register, 23);
        let half = cfg.per_thread(0) / 2;
        let (mut early, mut late) = ((0, 0), (0, 0));
        for mut s in cfg.streams().unwrap() {
            let mut positions: HashMap<String, usize> = HashMap::new();
            for _ in 0..2000 {
                let op = take(&mut s, 1).remove(0);
                if s.watch.is_some() {
                    continue;
                }
                let p = positions.entry(op.key().to_string()).or_default();
                let bucket = if *p < half { &mut early } else { &mut late };
                bucket.0 += usize::from(matches!(op, OpSpec::Read { .. }));
                bucket.1 += 1;
                *p += 1;
            }
        }
        let ratio = |(reads, all): (usize, usize)| reads as f64 / all as f64;
        assert!(
            ratio(early) < 0.45 && ratio(late) > 0.55,
            "reads: {early:?} early, {late:?} late"
        );
    }

    #[test]
    fn a_few_consecutive_slots_share_a_key() {
        let cfg = GeneratorConfig {
            threads: 10,
            keys_per_epoch: 8,
            ops_per_key: 300,
            ..config(WorkloadKind::Register, 29)
        };
        assert_eq!(cfg.groups(), 3);
        let mut users: HashMap<String, Vec<usize>> = HashMap::new();
        for (t, mut s) in cfg.streams().unwrap().into_iter().enumerate() {
            for op in take(&mut s, 200) {
                let u = users.entry(op.key().to_string()).or_default();
                if !u.contains(&t) {
                    u.push(t);
                }
            }
        }
        let groups: HashSet<Vec<usize>> = users.into_values().collect();
        assert_eq!(
            groups,
            HashSet::from([vec![0, 1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]),
            "three nodes: every key is used through every node"
        );
    }

    #[test]
    fn the_set_workload_adds_and_reads_late_in_a_key() {
        let cfg = config(WorkloadKind::Set, 9);
        let half = cfg.per_thread(0) / 2;
        let mut s = cfg.streams().unwrap().remove(2);
        let mut positions: HashMap<String, usize> = HashMap::new();
        let (mut adds, mut reads) = (0, 0);
        for op in take(&mut s, 400) {
            assert!(op.key().starts_with('s'), "{op:?}");
            let p = positions.entry(op.key().to_string()).or_default();
            match op {
                OpSpec::Add { .. } => adds += 1,
                OpSpec::ReadSet { .. } => {
                    assert!(*p >= half, "a read in the add-only half: {op:?}");
                    reads += 1;
                }
                other => panic!("not a set operation: {other:?}"),
            }
            *p += 1;
        }
        assert!(reads > 0 && adds > 6 * reads, "{adds} adds, {reads} reads");
    }

    /// A group of three slots sharing two keys per epoch, 10 operations each per key.
    fn watched_config() -> GeneratorConfig {
        GeneratorConfig {
            threads: 3,
            keys_per_epoch: 2,
            ops_per_key: 30,
            ..config(WorkloadKind::Register, 31)
        }
    }

    #[test]
    fn positions_are_read_back_from_written_values() {
        let cfg = watched_config();
        assert_eq!(cfg.position_of(5, cfg.value(5, 7, 2)), Some(7));
        assert_eq!(cfg.position_of(4, cfg.value(5, 7, 2)), None, "another key");
        assert_eq!(cfg.position_of(0, 0), None, "no value is 0");
    }

    #[test]
    fn a_watcher_reads_until_the_writers_of_every_key_are_nearly_done() {
        let cfg = watched_config();
        // Slot 1 watches epoch 1 (keys r2 and r3); epoch 0 is its 20 shuffled operations.
        let mut s = cfg.streams().unwrap().remove(1);
        let first: Vec<OpSpec> = take(&mut s, 20);
        assert!(first.iter().all(|op| ["r0", "r1"].contains(&op.key())));
        assert!(first.iter().any(|op| !op.is_read()), "epoch 0 writes");
        let read = |s: &mut ThreadStream, shown: Option<u64>| {
            let op = s.next_op();
            s.observe(Outcome::Ok(shown));
            op
        };
        // Values from early positions, or none: the watcher stays on r2 and r3.
        for n in 0..30 {
            let early = cfg.value(2 + n % 2, 6, 0);
            let op = read(&mut s, if n % 3 == 0 { None } else { Some(early) });
            assert!(op.is_read() && ["r2", "r3"].contains(&op.key()), "{op:?}");
        }
        // A late write on r2: only r3 is read from then on.
        let op = read(&mut s, Some(cfg.value(2, 8, 2)));
        assert!(op.is_read(), "{op:?}");
        let shown = |key: &str| Some(cfg.value(key[1..].parse().unwrap(), 4, 0));
        let mut rest = Vec::new();
        for _ in 0..5 {
            let op = s.next_op();
            s.observe(Outcome::Ok(shown(op.key())));
            rest.push(op);
        }
        assert!(
            rest.iter()
                .skip(1)
                .all(|op| *op == OpSpec::Read { key: "r3".into() }),
            "{rest:?}"
        );
        // Once r3 shows a late write too, epoch 2 (r4, r5) begins, and slot 1 writes there.
        read(&mut s, Some(cfg.value(3, 9, 0)));
        let next = take(&mut s, 20);
        assert!(
            next.iter().all(|op| ["r4", "r5"].contains(&op.key())),
            "{next:?}"
        );
        assert!(next.iter().any(|op| !op.is_read()), "{next:?}");
    }

    #[test]
    fn a_watcher_told_nothing_moves_on_after_its_read_budget() {
        let cfg = watched_config();
        let mut s = cfg.streams().unwrap().remove(1);
        take(&mut s, 20);
        let budget = WATCH_READS_PER_KEY * cfg.per_thread(0) * 2;
        let watched = take(&mut s, budget);
        assert!(watched
            .iter()
            .all(|op| op.is_read() && ["r2", "r3"].contains(&op.key())));
        let after = take(&mut s, 1).remove(0);
        assert!(["r4", "r5"].contains(&after.key()), "{after:?}");
        // The set workload has no watchers: every slot adds in every epoch.
        let mut set = GeneratorConfig {
            kind: WorkloadKind::Set,
            ..cfg
        }
        .streams()
        .unwrap()
        .remove(1);
        let adds = take(&mut set, 40);
        assert!(adds[20..].iter().any(|op| matches!(op, OpSpec::Add { .. })));
    }

    #[test]
    fn bad_configurations_are_errors() {
        let mut cfg = config(WorkloadKind::Register, 0);
        cfg.threads = 0;
        assert_eq!(
            cfg.streams().unwrap_err(),
            GeneratorError::Zero("concurrency")
        );
        let mut cfg = config(WorkloadKind::Register, 0);
        cfg.ops_per_key = 2;
        assert!(matches!(
            cfg.validate(),
            Err(GeneratorError::TooFewOpsPerKey { .. })
        ));
        let mut cfg = config(WorkloadKind::Register, 0);
        cfg.mix = Mix {
            read: 0,
            write: 0,
            cas: 0,
        };
        assert_eq!(cfg.validate(), Err(GeneratorError::EmptyMix));
    }
}
