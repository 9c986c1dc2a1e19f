//! The in-memory view of one node's replicated log: the snapshot that replaced
//! its prefix, the entries after it, the commit index, and which entries have
//! not yet been handed to storage.
//!
//! Storage owns the durable copy; this structure mirrors it and remembers what
//! still has to be written (`unstable_from`), so that `RaftNode::ready` can hand
//! exactly the new suffix to the caller.

use super::message::{Entry, SnapshotMeta};

/// A node's log: `snapshot` covers indexes `1..=snapshot.index`, `entries` hold
/// `snapshot.index + 1 ..= last_index()` contiguously.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RaftLog {
    /// Index and term of the last entry the snapshot replaced (0/0: no snapshot).
    pub snapshot: SnapshotMeta,
    /// The entries after the snapshot, in index order without gaps.
    pub entries: Vec<Entry>,
    /// Highest index known to be committed.
    pub commit: u64,
    /// Highest index handed out for applying (or covered by the snapshot).
    pub applied: u64,
    /// First index not yet handed to storage; `last_index() + 1` when all is stable.
    pub unstable_from: u64,
    /// Last index handed to storage in a `Ready` (durable by the next `ready()` call).
    pub stable_last: u64,
}

impl RaftLog {
    /// A log restored from storage: everything in it is already durable.
    /// Panics if the entries do not follow the snapshot contiguously.
    pub fn restore(snapshot: SnapshotMeta, entries: Vec<Entry>, commit: u64) -> RaftLog {
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                snapshot.index + 1 + i as u64,
                "restored entries must follow the snapshot without gaps"
            );
        }
        let last = snapshot.index + entries.len() as u64;
        // A commit index beyond the log means a crash tore an unsynced write
        // (its entries are gone, and the ones left may be older versions of
        // them). The commit index is only a hint: fall back to the snapshot,
        // which certainly is committed, and let the leader tell the rest.
        let commit = if commit > last {
            snapshot.index
        } else {
            commit
        };
        RaftLog {
            snapshot,
            entries,
            commit: commit.max(snapshot.index),
            applied: snapshot.index,
            unstable_from: last + 1,
            stable_last: last,
        }
    }

    /// Index of the last entry (the snapshot's index when there are no entries).
    pub fn last_index(&self) -> u64 {
        self.snapshot.index + self.entries.len() as u64
    }

    /// Term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot.term, |e| e.term)
    }

    /// First index still held as an entry.
    pub fn first_index(&self) -> u64 {
        self.snapshot.index + 1
    }

    /// Term of the entry at `index`, if known: `Some(0)` for index 0, the
    /// snapshot's term at its index, `None` when compacted away or beyond the end.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.index {
            return Some(self.snapshot.term);
        }
        if index < self.snapshot.index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.first_index()) as usize].term)
    }

    /// The entry at `index`, if held.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index < self.first_index() || index > self.last_index() {
            return None;
        }
        Some(&self.entries[(index - self.first_index()) as usize])
    }

    /// Entries `from..=to` (both must be held).
    pub fn slice(&self, from: u64, to: u64) -> &[Entry] {
        assert!(
            from >= self.first_index() && to <= self.last_index() && from <= to + 1,
            "slice {from}..={to} outside the held entries {}..={}",
            self.first_index(),
            self.last_index()
        );
        let base = self.first_index();
        &self.entries[(from - base) as usize..(to + 1 - base) as usize]
    }

    /// Whether a log ending at (`last_index`, `last_term`) is at least as up to
    /// date as this one (§5.4.1).
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Appends one entry at the end.
    pub fn push(&mut self, entry: Entry) {
        assert_eq!(
            entry.index,
            self.last_index() + 1,
            "log entries must be contiguous"
        );
        self.entries.push(entry);
    }

    /// Removes every entry from `index` on; they are not committed.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(
            index > self.commit,
            "truncating at {index} would remove committed entries (commit {})",
            self.commit
        );
        assert!(index >= self.first_index(), "truncating into the snapshot");
        self.entries.truncate((index - self.first_index()) as usize);
        self.unstable_from = self.unstable_from.min(index);
        self.stable_last = self.stable_last.min(index - 1);
    }

    /// Replaces the whole log by a snapshot (received from the leader).
    pub fn reset_to_snapshot(&mut self, meta: SnapshotMeta) {
        self.snapshot = meta;
        self.entries.clear();
        self.commit = meta.index;
        self.applied = meta.index;
        self.unstable_from = meta.index + 1;
        self.stable_last = meta.index;
    }

    /// Drops the entries up to `meta.index`, which a local snapshot now covers.
    pub fn compact_to(&mut self, meta: SnapshotMeta) {
        assert!(
            meta.index <= self.applied,
            "cannot compact beyond the applied index"
        );
        assert_eq!(
            self.term(meta.index),
            Some(meta.term),
            "snapshot term does not match the log"
        );
        let keep_from = (meta.index + 1 - self.first_index()) as usize;
        self.entries.drain(..keep_from);
        self.snapshot = meta;
    }

    /// Index of the last entry with term `term` at or below `at`, scanning no
    /// further back than the snapshot.
    pub fn last_index_of_term(&self, term: u64, at: u64) -> Option<u64> {
        let mut index = at.min(self.last_index());
        while index >= self.first_index() {
            let t = self.entries[(index - self.first_index()) as usize].term;
            if t == term {
                return Some(index);
            }
            if t < term {
                return None;
            }
            index -= 1;
        }
        None
    }

    /// First index of the run of entries with the same term as the entry at
    /// `index` (which must be held).
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let term = self.entry(index).expect("index is held").term;
        let mut first = index;
        while first > self.first_index()
            && self.entries[(first - 1 - self.first_index()) as usize].term == term
        {
            first -= 1;
        }
        first
    }
}
