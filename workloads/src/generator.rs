//! Seeded, deterministic operation generators for the `register` and `set` workloads.
//!
//! The controller runs `threads` worker slots at once. Each slot draws its operations from
//! its own [`ThreadStream`], a pure function of `(seed, thread)`: the n-th operation a slot
//! issues never depends on timing, on responses, or on what other slots did. Two runs with
//! the same seed and configuration therefore issue the same operations per slot, however the
//! cluster behaves. (When a logical process is retired after an indeterminate completion, the
//! fresh process that replaces it keeps drawing from the same slot's stream.)
//!
//! Key rotation keeps checking cheap: operations are grouped into *epochs*, each with
//! `keys_per_epoch` fresh keys, and slots are split into groups (about three slots per
//! group, at most one group per key). Slot `t` belongs to group `t % groups` and in one
//! epoch works only on its group's keys (key `j` of the epoch belongs to group
//! `j % groups`): exactly `per_thread = ops_per_key / members` operations on each, in a
//! seeded shuffled order, then it moves on to the next epoch. A key therefore sees at most
//! `members * per_thread <= ops_per_key` operations from a few concurrent slots, and the
//! linearizability checker works on many short per-key histories.
//!
//! Written values are unique within a run: the value written by slot `t` as its `j`-th
//! operation on the key with global index `k` is `(k * ops_per_key + j) * threads + t + 1`.
//! A compare-and-set at position `j > 0` expects a value some member of its group may have
//! written at position `j - 1` of the same key (at position 0, at position 0), so with few
//! slots per key it succeeds often enough to matter. Set elements follow the same formula,
//! so every added element is unique too.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Target number of slots sharing one key.
const SLOTS_PER_KEY: usize = 3;

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

    /// Slots in group `group`.
    fn members(&self, group: usize) -> usize {
        let groups = self.groups();
        assert!(group < groups, "group index beyond the group count");
        (self.threads - group).div_ceil(groups)
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
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            OpSpec::Read { key }
            | OpSpec::Write { key, .. }
            | OpSpec::Cas { key, .. }
            | OpSpec::Add { key, .. } => key,
        }
    }
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
}

impl ThreadStream {
    /// The stream of slot `thread`; `config` must be valid.
    fn new(config: GeneratorConfig, thread: usize) -> Self {
        assert!(thread < config.threads, "slot index beyond the concurrency");
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(thread as u64);
        let positions = vec![0; config.keys_per_epoch];
        ThreadStream {
            config,
            thread,
            rng,
            epoch: 0,
            pending: Vec::new(),
            positions,
            issued: 0,
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

    /// Produces the slot's next operation.
    pub fn next_op(&mut self) -> OpSpec {
        if self.pending.is_empty() {
            if self.issued > 0 {
                self.epoch += 1;
            }
            let groups = self.config.groups();
            let group = self.thread % groups;
            let per_thread = self.config.per_thread(group);
            self.pending = (0..self.config.keys_per_epoch)
                .filter(|slot| slot % groups == group)
                .flat_map(|slot| std::iter::repeat_n(slot, per_thread))
                .collect();
            self.pending.shuffle(&mut self.rng);
            self.positions.iter_mut().for_each(|p| *p = 0);
        }
        let slot = self.pending.pop().expect("an epoch has at least one op");
        let position = self.positions[slot];
        self.positions[slot] += 1;
        self.issued += 1;
        let key_index = self.epoch * self.config.keys_per_epoch as u64 + slot as u64;
        let key = self.config.key_name(key_index);
        let value = self.config.value(key_index, position, self.thread);
        match self.config.kind {
            WorkloadKind::Set => OpSpec::Add {
                key,
                element: value,
            },
            WorkloadKind::Register => {
                let mix = self.config.mix;
                let roll = self.rng.random_range(0..mix.read + mix.write + mix.cas);
                if roll < mix.read {
                    OpSpec::Read { key }
                } else if roll < mix.read + mix.write {
                    OpSpec::Write { key, value }
                } else {
                    let groups = self.config.groups();
                    let group = self.thread % groups;
                    let member = self.rng.random_range(0..self.config.members(group));
                    let other = group + member * groups;
                    let expected = self
                        .config
                        .value(key_index, position.saturating_sub(1), other);
                    OpSpec::Cas {
                        key,
                        expected,
                        new: value,
                    }
                }
            }
        }
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

    fn take(stream: &mut ThreadStream, n: usize) -> Vec<OpSpec> {
        (0..n).map(|_| stream.next_op()).collect()
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
                b_ops[t].push(s.next_op());
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
                        OpSpec::Read { .. } => continue,
                    };
                    assert!(seen.insert(v), "value {v} written twice");
                }
            }
            assert!(seen.len() > 500);
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
        assert!(per_key.values().all(|&n| n <= cfg.ops_per_key));
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
    fn few_slots_share_a_key() {
        let cfg = GeneratorConfig {
            threads: 10,
            keys_per_epoch: 8,
            ops_per_key: 300,
            ..config(WorkloadKind::Register, 13)
        };
        assert_eq!(cfg.groups(), 3);
        let mut users: HashMap<String, HashSet<usize>> = HashMap::new();
        for (t, mut s) in cfg.streams().unwrap().into_iter().enumerate() {
            for op in take(&mut s, 2000) {
                users.entry(op.key().to_string()).or_default().insert(t);
            }
        }
        assert!(users.values().all(|u| u.len() <= 4), "{users:?}");
        assert!(
            users.values().any(|u| u.len() > 1),
            "keys are still contended"
        );
    }

    #[test]
    fn set_workload_only_adds() {
        let mut s = config(WorkloadKind::Set, 9).streams().unwrap();
        assert!(take(&mut s[2], 100)
            .iter()
            .all(|op| matches!(op, OpSpec::Add { key, .. } if key.starts_with('s'))));
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
