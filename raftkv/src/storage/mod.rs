//! Durable storage of one raftkv node: the write-ahead log and the snapshot file
//! in the node's data directory.
//!
//! ```text
//! <data>/LOCK       flock()ed while a node uses the directory
//! <data>/wal.log    hard state and entries after the snapshot (see `wal`)
//! <data>/snapshot   the latest state machine snapshot (see `snapshot`)
//! ```
//!
//! To ensure correctness, the runtime must respect this order:
//! - [`Storage::persist`] returns only after the hard state (term, vote) and the
//!   entries are fsynced; only then may messages that depend on them be sent or
//!   writes be acknowledged. One call covers one Ready batch, so every proposal
//!   gathered into that batch shares one fsync.
//! - [`Storage::compact`] first makes the snapshot durable, then rewrites the
//!   log without the entries it covers. A crash in between leaves a snapshot and
//!   a log that overlap; recovery ignores entries at or below the snapshot index.
//! - [`Storage::install_snapshot`] (a snapshot received from the leader) replaces
//!   the whole log, as the Raft core does; the entries after it follow in the
//!   same Ready's `entries`.
//!
//! Recovery ([`Storage::open`]) detects a torn tail and truncates it; damage
//! in the middle of the log or a damaged snapshot is a startup error, because
//! silently losing acknowledged writes is worse than not starting.

pub mod codec;
pub mod snapshot;
pub mod wal;

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::raft::{Entry, HardState, Snapshot, SnapshotMeta};
use wal::Wal;

/// File name of the write-ahead log inside the data directory.
pub const WAL_FILE: &str = "wal.log";

/// A storage failure.
#[derive(Debug, Error)]
pub enum StorageError {
    /// An IO operation on a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file holds damaged data that cannot be a torn tail.
    #[error("{path}: corrupt data at byte {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another process")]
    Locked(PathBuf),
}

/// Deliberate durability bugs (the `skip-fsync` and `skip-dir-sync` switches of
/// [`crate::server::bugs`]); both off in a correct node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncBugs {
    /// Appends to the log are written but never fsynced before they are acknowledged.
    pub skip_fsync: bool,
    /// A snapshot or a rewritten log is renamed into place without fsyncing the
    /// directory, so the rename may be undone by a power loss.
    pub skip_dir_sync: bool,
}

/// What recovery found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Last persisted term, vote and commit index.
    pub hard_state: HardState,
    /// The latest snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot, contiguous by index.
    pub entries: Vec<Entry>,
    /// Bytes of torn tail cut from the log.
    pub discarded_bytes: u64,
}

/// The open storage of one node.
pub struct Storage {
    /// The data directory.
    dir: PathBuf,
    /// Held open for its advisory lock.
    _lock: File,
    /// The write-ahead log.
    wal: Wal,
    /// The last hard state persisted.
    hard_state: HardState,
    /// Last index and term the snapshot covers.
    snapshot_meta: SnapshotMeta,
    /// The entries in the log after the snapshot (kept for compaction rewrites).
    entries: Vec<Entry>,
    /// Durability bugs switched on.
    bugs: SyncBugs,
}

impl Storage {
    /// Opens (creating if needed) the data directory, locks it and recovers its state.
    pub fn open(dir: &Path) -> Result<(Storage, Recovered), StorageError> {
        let io = |source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StorageError::Io {
                path: lock_path.clone(),
                source,
            })?;
        // SAFETY: flock on a file descriptor we own; it is released when the file closes.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(StorageError::Locked(dir.to_path_buf()));
        }
        let snapshot = snapshot::load(dir)?;
        let (wal, replayed) = Wal::open(&dir.join(WAL_FILE))?;
        let snapshot_meta = snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        let entries: Vec<Entry> = replayed
            .entries
            .into_iter()
            .filter(|e| e.index > snapshot_meta.index)
            .collect();
        if let Some(first) = entries.first() {
            if first.index != snapshot_meta.index + 1 {
                return Err(StorageError::Corrupt {
                    path: dir.join(WAL_FILE),
                    offset: 0,
                    reason: format!(
                        "log starts at index {} but the snapshot ends at {}: entries are missing",
                        first.index, snapshot_meta.index
                    ),
                });
            }
        }
        let storage = Storage {
            dir: dir.to_path_buf(),
            _lock: lock,
            wal,
            hard_state: replayed.hard_state,
            snapshot_meta,
            entries: entries.clone(),
            bugs: SyncBugs::default(),
        };
        let recovered = Recovered {
            hard_state: replayed.hard_state,
            snapshot,
            entries,
            discarded_bytes: replayed.discarded_bytes,
        };
        Ok((storage, recovered))
    }

    /// Switches durability bugs on (a correct node never calls this).
    pub fn set_bugs(&mut self, bugs: SyncBugs) {
        self.bugs = bugs;
        self.wal.bugs = bugs;
    }

    /// Durably appends a hard state and entries (one fsync). If `entries[0]` is at
    /// or below the last stored index, the stored suffix from there is replaced.
    pub fn persist(
        &mut self,
        hard_state: Option<&HardState>,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        if let Some(first) = entries.first() {
            assert!(
                first.index > self.snapshot_meta.index,
                "entries to persist must follow the snapshot"
            );
            let next = self.snapshot_meta.index + self.entries.len() as u64 + 1;
            assert!(
                first.index <= next,
                "entries to persist must not leave a gap"
            );
            self.entries
                .truncate((first.index - self.snapshot_meta.index - 1) as usize);
        }
        self.wal.append(hard_state, entries)?;
        self.entries.extend_from_slice(entries);
        if let Some(hs) = hard_state {
            self.hard_state = *hs;
        }
        Ok(())
    }

    /// Stores a snapshot taken of the local state machine (covering entries this
    /// log holds) and drops the entries it covers.
    pub fn compact(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        assert!(
            snapshot.meta.index >= self.snapshot_meta.index,
            "a snapshot must not move backwards"
        );
        snapshot::save(&self.dir, snapshot, !self.bugs.skip_dir_sync)?;
        let covered = (snapshot.meta.index - self.snapshot_meta.index) as usize;
        self.entries.drain(..covered.min(self.entries.len()));
        self.snapshot_meta = snapshot.meta;
        self.wal.rewrite(&self.hard_state, &self.entries)
    }

    /// Stores a snapshot received from the leader. It replaces the whole log:
    /// the entries that follow arrive in later [`Storage::persist`] calls.
    pub fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        snapshot::save(&self.dir, snapshot, !self.bugs.skip_dir_sync)?;
        self.entries.clear();
        self.snapshot_meta = snapshot.meta;
        self.wal.rewrite(&self.hard_state, &self.entries)
    }

    /// Index of the last entry stored (or of the snapshot when the log is empty).
    pub fn last_index(&self) -> u64 {
        self.snapshot_meta.index + self.entries.len() as u64
    }
}

/// Fsyncs a directory so that renames and file creations in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        })
}
