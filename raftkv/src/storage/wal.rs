//! The write-ahead log: one append-only file of checksummed records holding the
//! Raft hard state and log entries.
//!
//! Record layout: `len: u32 | crc32c(payload): u32 | payload`, where the payload's
//! first byte is its kind (hard state or entry). [`Wal::append`] writes a whole
//! batch with one `write` and one `fdatasync` (group commit: every proposal
//! gathered into one Ready batch shares that fsync). A batch holds its entries
//! first and its hard state last, so a batch torn by a crash never keeps a
//! commit index without the entries it counts.
//!
//! Replay ([`Wal::open`]) rebuilds the hard state and the entry list. An entry
//! whose index is at or below the last one replayed truncates the list there
//! first, mirroring how the Raft core overwrites a conflicting suffix, so a
//! truncation needs no record of its own.
//!
//! Damage is told apart as follows. A record that is short, has an impossible
//! length or fails its checksum ends the valid prefix. If no valid record can be
//! found anywhere after it, the damage is a torn tail (a write cut short by a
//! crash, which was therefore never acknowledged): the file is truncated to the
//! valid prefix and fsynced. If a valid record follows, the damage is in the middle
//! of the log and replay stops with [`StorageError::Corrupt`]: silently dropping
//! records that were acknowledged would be worse than refusing to start.
//!
//! Compaction ([`Wal::rewrite`]) writes the retained state to a temporary file,
//! fsyncs it, renames it over the log and fsyncs the directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::codec::{put_bytes, put_u32, put_u64, put_u8, DecodeError, Reader};
use super::{sync_dir, StorageError, SyncBugs};
use crate::raft::{Entry, HardState};

/// Size of a record header: length and checksum.
const HEADER: usize = 8;
/// Largest payload a record may have; anything larger is treated as damage.
const MAX_PAYLOAD: usize = 1 << 30;
/// Payload kind: a hard state.
const KIND_HARD_STATE: u8 = 1;
/// Payload kind: a log entry.
const KIND_ENTRY: u8 = 2;

/// What replaying a log produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The last hard state written (default when none was).
    pub hard_state: HardState,
    /// The surviving entries, contiguous by index.
    pub entries: Vec<Entry>,
    /// How many bytes of torn tail were cut off.
    pub discarded_bytes: u64,
}

/// An open write-ahead log.
pub struct Wal {
    /// Path of the log file.
    path: PathBuf,
    /// The file, opened for appending.
    file: File,
    /// Scratch buffer reused across appends.
    buf: Vec<u8>,
    /// Durability bugs switched on.
    pub(super) bugs: SyncBugs,
}

impl Wal {
    /// Opens (creating if needed) the log at `path`, replays it and cuts off a torn tail.
    pub fn open(path: &Path) -> Result<(Wal, Replayed), StorageError> {
        let io = |source| StorageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let existed = path.exists();
        let data = if existed {
            std::fs::read(path).map_err(io)?
        } else {
            Vec::new()
        };
        let (replayed, valid_len) = replay(path, &data)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if valid_len < data.len() {
            file.set_len(valid_len as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        if !existed {
            file.sync_all().map_err(io)?;
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        }
        Ok((
            Wal {
                path: path.to_path_buf(),
                file,
                buf: Vec::new(),
                bugs: SyncBugs::default(),
            },
            replayed,
        ))
    }

    /// Appends an optional hard state and entries, then fsyncs once. When this
    /// returns, everything passed is durable.
    pub fn append(
        &mut self,
        hard_state: Option<&HardState>,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        if hard_state.is_none() && entries.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        encode_batch(&mut self.buf, hard_state, entries);
        let io = |source| StorageError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&self.buf).map_err(io)?;
        if self.bugs.skip_fsync {
            return Ok(());
        }
        self.file.sync_data().map_err(io)
    }

    /// Replaces the whole log with `entries` and `hard_state`, atomically.
    pub fn rewrite(
        &mut self,
        hard_state: &HardState,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        let tmp = self.path.with_extension("tmp");
        let io_tmp = |source| StorageError::Io {
            path: tmp.clone(),
            source,
        };
        let mut buf = Vec::new();
        encode_batch(&mut buf, Some(hard_state), entries);
        let mut file = File::create(&tmp).map_err(io_tmp)?;
        file.write_all(&buf).map_err(io_tmp)?;
        file.sync_all().map_err(io_tmp)?;
        drop(file);
        let io = |source| StorageError::Io {
            path: self.path.clone(),
            source,
        };
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if !self.bugs.skip_dir_sync {
            sync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        Ok(())
    }
}

/// Encodes a hard state (if any) and entries as consecutive records.
fn encode_batch(buf: &mut Vec<u8>, hard_state: Option<&HardState>, entries: &[Entry]) {
    let mut payload = Vec::new();
    // Entries first: a torn batch must not keep a commit index without the
    // entries it counts (recovery would apply older entries at those indexes).
    for entry in entries {
        payload.clear();
        put_u8(&mut payload, KIND_ENTRY);
        put_u64(&mut payload, entry.term);
        put_u64(&mut payload, entry.index);
        put_bytes(&mut payload, &entry.data);
        push_record(buf, &payload);
    }
    if let Some(hs) = hard_state {
        payload.clear();
        put_u8(&mut payload, KIND_HARD_STATE);
        put_u64(&mut payload, hs.term);
        match hs.vote {
            Some(vote) => {
                put_u8(&mut payload, 1);
                put_u64(&mut payload, vote);
            }
            None => {
                put_u8(&mut payload, 0);
                put_u64(&mut payload, 0);
            }
        }
        put_u64(&mut payload, hs.commit);
        push_record(buf, &payload);
    }
}

/// Frames one payload as a record.
fn push_record(buf: &mut Vec<u8>, payload: &[u8]) {
    assert!(
        payload.len() <= MAX_PAYLOAD,
        "record payload over the 1 GiB limit"
    );
    put_u32(buf, payload.len() as u32);
    put_u32(buf, crc32c::crc32c(payload));
    buf.extend_from_slice(payload);
}

/// Returns the payload and total size of the record at the start of `buf`, or
/// `None` if no intact record starts there.
fn read_record(buf: &[u8]) -> Option<(&[u8], usize)> {
    if buf.len() < HEADER {
        return None;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    if len == 0 || len > MAX_PAYLOAD || HEADER + len > buf.len() {
        return None;
    }
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    let payload = &buf[HEADER..HEADER + len];
    if crc32c::crc32c(payload) != crc || !matches!(payload[0], KIND_HARD_STATE | KIND_ENTRY) {
        return None;
    }
    Some((payload, HEADER + len))
}

/// Replays `data`; returns the state and the length of the valid prefix.
fn replay(path: &Path, data: &[u8]) -> Result<(Replayed, usize), StorageError> {
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut out = Replayed::default();
    let mut pos = 0;
    while pos < data.len() {
        let Some((payload, size)) = read_record(&data[pos..]) else {
            if let Some(later) = (pos + 1..data.len()).find(|&p| read_record(&data[p..]).is_some())
            {
                return Err(corrupt(
                    pos,
                    format!("damaged record followed by an intact one at byte {later}; refusing to drop acknowledged data"),
                ));
            }
            out.discarded_bytes = (data.len() - pos) as u64;
            break;
        };
        apply_record(&mut out, payload).map_err(|reason| corrupt(pos, reason))?;
        pos += size;
    }
    Ok((out, pos))
}

/// Decodes one checksummed payload: `Some(entry)` or `None` after updating the hard state.
fn decode_payload(out: &mut Replayed, payload: &[u8]) -> Result<Option<Entry>, DecodeError> {
    let mut r = Reader::new(payload);
    let kind = r.u8("kind")?;
    if kind == KIND_HARD_STATE {
        let term = r.u64("term")?;
        let has_vote = r.u8("vote flag")?;
        let vote = r.u64("vote")?;
        let commit = r.u64("commit")?;
        r.finish()?;
        out.hard_state = HardState {
            term,
            vote: (has_vote == 1).then_some(vote),
            commit,
        };
        return Ok(None);
    }
    let term = r.u64("term")?;
    let index = r.u64("index")?;
    let data = r.bytes("data")?.to_vec();
    r.finish()?;
    Ok(Some(Entry { term, index, data }))
}

/// Applies one checksummed payload to the replay state.
fn apply_record(out: &mut Replayed, payload: &[u8]) -> Result<(), String> {
    let Some(entry) = decode_payload(out, payload).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    if let (Some(first), Some(last)) = (out.entries.first(), out.entries.last()) {
        if entry.index > last.index + 1 {
            return Err(format!(
                "entry {} after entry {}: gap in the log",
                entry.index, last.index
            ));
        }
        if entry.index < first.index {
            return Err(format!(
                "entry {} before the first entry {}",
                entry.index, first.index
            ));
        }
        let keep = (entry.index - first.index) as usize;
        out.entries.truncate(keep);
    }
    out.entries.push(entry);
    Ok(())
}
