//! The properties the simulator checks and the ghost state that lets it check
//! them after every step in time proportional to what the step changed.
//!
//! Every log position is identified by a hash of the whole log up to it (a
//! hash chain over the entries' terms and payloads). Two logs agree up to an
//! index exactly when their chains agree there, which turns Log Matching,
//! Leader Completeness and State Machine Safety into single comparisons:
//! - Log Matching: the first chain value seen for each (index, term) is
//!   remembered; any log that later holds that index and term must have the
//!   same chain value.
//! - State Machine Safety: the chain of the applied entries is shared; a node
//!   applying index i must extend it with the value already there (if any).
//! - Leader Completeness: an entry committed in term c must be in the log of
//!   every leader of a term after c. Each applied index remembers the lowest
//!   term a node was in when it applied it, a bound on the term it was
//!   committed in; a leader of term t must have, at the highest index whose
//!   bound is below t, the shared applied chain's value (commits happen in
//!   index order, so that covers every index below it).

use std::collections::HashMap;
use std::fmt;

use crate::raft::Entry;

/// A safety or liveness property of Raft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Property {
    /// At most one leader is elected in a term.
    ElectionSafety,
    /// Logs holding an entry of the same index and term are identical up to it.
    LogMatching,
    /// A leader holds every entry committed before its term.
    LeaderCompleteness,
    /// No two nodes apply different entries at one index.
    StateMachineSafety,
    /// A read is served at an index that includes every write applied before it.
    LinearizableRead,
    /// Once faults stop, a leader is elected and a new proposal commits everywhere.
    Liveness,
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Property::ElectionSafety => "Election Safety",
            Property::LogMatching => "Log Matching",
            Property::LeaderCompleteness => "Leader Completeness",
            Property::StateMachineSafety => "State Machine Safety",
            Property::LinearizableRead => "Linearizable Read",
            Property::Liveness => "Liveness",
        })
    }
}

/// A broken property and what broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// What was seen, in words.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.property, self.detail)
    }
}

/// The result of a step: `Err` when it broke a property.
pub type Checked<T = ()> = Result<T, Violation>;

pub(crate) fn violation<T>(property: Property, detail: String) -> Checked<T> {
    Err(Violation { property, detail })
}

/// The chain value of a log that ends with `entry` after `prev`.
pub(crate) fn chain(prev: u64, entry: &Entry) -> u64 {
    let mut payload = 0u64;
    for (i, b) in entry.data.iter().enumerate() {
        payload ^= u64::from(*b) << ((i % 8) * 8);
    }
    mix(prev
        ^ mix(entry.term.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ payload ^ entry.data.len() as u64))
}

/// The SplitMix64 finalizer: a cheap, well-mixing 64-bit permutation.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the whole run has seen, across crashes and truncations.
#[derive(Debug, Default)]
pub(crate) struct Ghost {
    /// The leader elected in each term (index: term).
    leaders: HashMap<u64, u8>,
    /// The chain value first seen for each (index, term), and on which node.
    positions: HashMap<(u64, u64), (u64, u8)>,
    /// The chain of applied entries: `applied[i]` for index i (0: empty log).
    applied: Vec<u64>,
    /// Which node first applied each index, for the report.
    applied_by: Vec<u8>,
    /// For each index, the lowest term a node applying it was in: the entry
    /// was committed in that term or an earlier one.
    committed_by: Vec<u64>,
    /// For each pending read: the highest index applied anywhere when it arrived.
    reads: HashMap<u64, u64>,
}

impl Ghost {
    /// Forgets everything, keeping the allocations.
    pub fn clear(&mut self) {
        self.leaders.clear();
        self.positions.clear();
        self.applied.clear();
        self.applied.push(0);
        self.applied_by.clear();
        self.applied_by.push(0);
        self.committed_by.clear();
        self.committed_by.push(0);
        self.reads.clear();
    }

    /// Highest index any node applied.
    pub fn applied_index(&self) -> u64 {
        self.applied.len() as u64 - 1
    }

    /// The applied chain's value at `index` (at most `applied_index()`).
    pub fn applied_chain(&self, index: u64) -> u64 {
        self.applied[index as usize]
    }

    /// Election Safety: `node` became leader of `term`.
    pub fn elected(&mut self, node: u8, term: u64) -> Checked {
        match self.leaders.insert(term, node) {
            Some(other) if other != node => violation(
                Property::ElectionSafety,
                format!(
                    "n{} and n{} were both elected leader of term {term}",
                    other + 1,
                    node + 1
                ),
            ),
            _ => Ok(()),
        }
    }

    /// Log Matching: `node` now holds `entry` with chain value `value`.
    pub fn stored(&mut self, node: u8, entry: &Entry, value: u64) -> Checked {
        let first = *self
            .positions
            .entry((entry.index, entry.term))
            .or_insert((value, node));
        if first.0 != value {
            return violation(
                Property::LogMatching,
                format!(
                    "n{} and n{} both hold an entry at index {} of term {}, but their logs differ at or before it",
                    first.1 + 1,
                    node + 1,
                    entry.index,
                    entry.term
                ),
            );
        }
        Ok(())
    }

    /// State Machine Safety: `node`, in term `term`, applied `entry`, its
    /// applied chain now being `value`.
    pub fn applied(&mut self, node: u8, term: u64, entry: &Entry, value: u64) -> Checked {
        let i = entry.index as usize;
        assert!(i <= self.applied.len(), "entries are applied in order");
        if i == self.applied.len() {
            self.applied.push(value);
            self.applied_by.push(node);
            self.committed_by.push(term);
            return Ok(());
        }
        self.committed_by[i] = self.committed_by[i].min(term);
        if self.applied[i] != value {
            return violation(
                Property::StateMachineSafety,
                format!(
                    "n{} applied a different entry at index {i} (term {}) than n{} did",
                    node + 1,
                    entry.term,
                    self.applied_by[i] + 1
                ),
            );
        }
        Ok(())
    }

    /// The highest index a leader of `term` must hold: every entry up to it
    /// was committed in an earlier term.
    pub fn committed_before(&self, term: u64) -> u64 {
        let mut index = self.applied_index();
        while index > 0 && self.committed_by[index as usize] >= term {
            index -= 1;
        }
        index
    }

    /// Leader Completeness: `node`, just elected in `term`, has the chain
    /// value `value` at `committed_before(term)` (`None` if its log is shorter).
    pub fn complete(&self, node: u8, term: u64, value: Option<u64>) -> Checked {
        let index = self.committed_before(term);
        if value != Some(self.applied_chain(index)) {
            return violation(
                Property::LeaderCompleteness,
                format!(
                    "n{} was elected leader of term {term} without the committed entries up to index {index}",
                    node + 1
                ),
            );
        }
        Ok(())
    }

    /// A read with id `id` arrived at a leader.
    pub fn read_started(&mut self, id: u64) {
        self.reads.insert(id, self.applied_index());
    }

    /// The read `id` may be served once `node` applied `index`.
    pub fn read_ready(&mut self, node: u8, id: u64, index: u64) -> Checked {
        let Some(needed) = self.reads.remove(&id) else {
            return Ok(());
        };
        if index < needed {
            return violation(
                Property::LinearizableRead,
                format!(
                    "n{} served read {id} at index {index}, but index {needed} was applied before the read arrived",
                    node + 1
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            term,
            index,
            data: data.to_vec(),
        }
    }

    #[test]
    fn the_chain_tells_apart_terms_payloads_and_histories() {
        let a = chain(0, &entry(1, 1, b""));
        assert_ne!(a, chain(0, &entry(1, 2, b"")));
        assert_ne!(chain(a, &entry(2, 1, &[1])), chain(a, &entry(2, 1, &[2])));
        let b = chain(0, &entry(1, 2, b""));
        assert_ne!(chain(a, &entry(2, 3, b"")), chain(b, &entry(2, 3, b"")));
    }

    #[test]
    fn each_property_fails_on_the_state_that_breaks_it() {
        let mut g = Ghost::default();
        g.clear();
        g.elected(0, 1).unwrap();
        g.elected(0, 1).unwrap();
        let err = g.elected(1, 1).unwrap_err();
        assert_eq!(err.property, Property::ElectionSafety);

        let e = entry(1, 1, b"");
        g.stored(0, &e, 7).unwrap();
        g.stored(1, &e, 7).unwrap();
        assert_eq!(
            g.stored(2, &e, 8).unwrap_err().property,
            Property::LogMatching
        );

        g.applied(0, 1, &e, 7).unwrap();
        g.applied(1, 1, &e, 7).unwrap();
        let err = g.applied(2, 1, &e, 9).unwrap_err();
        assert_eq!(err.property, Property::StateMachineSafety);

        // Committed in term 1 at the latest: leaders of term 2 need it, a
        // leader of term 1 need not.
        g.complete(1, 1, Some(0)).unwrap();
        g.complete(0, 2, Some(7)).unwrap();
        assert_eq!(
            g.complete(1, 2, None).unwrap_err().property,
            Property::LeaderCompleteness
        );

        g.read_started(5);
        let err = g.read_ready(0, 5, 0).unwrap_err();
        assert_eq!(err.property, Property::LinearizableRead);
        g.read_started(6);
        g.read_ready(0, 6, 1).unwrap();
    }
}
