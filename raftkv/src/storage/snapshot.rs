//! The snapshot file: the state machine at one log index, stored atomically.
//!
//! Layout: `b"FLSNAP01" | crc32c(body): u32 | body`, with body
//! `index: u64 | term: u64 | data (length-prefixed)`. [`save`] writes a
//! temporary file, fsyncs it, renames it over the previous snapshot and fsyncs
//! the directory, so a crash leaves either the old or the new snapshot, never a
//! mixture. A snapshot that fails its checksum on [`load`] is therefore real
//! damage and an error.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::codec::{put_bytes, put_u32, put_u64, Reader};
use super::{sync_dir, StorageError};
use crate::raft::{Snapshot, SnapshotMeta};

/// File name of the snapshot inside the data directory.
pub const FILE_NAME: &str = "snapshot";
/// Magic bytes that start every snapshot file.
const MAGIC: &[u8; 8] = b"FLSNAP01";

/// Durably replaces the snapshot in `dir` with `snapshot` (without `sync_directory`,
/// the `skip-dir-sync` bug: the rename is not made durable).
pub fn save(dir: &Path, snapshot: &Snapshot, sync_directory: bool) -> Result<(), StorageError> {
    let mut body = Vec::with_capacity(snapshot.data.len() + 24);
    put_u64(&mut body, snapshot.meta.index);
    put_u64(&mut body, snapshot.meta.term);
    put_bytes(&mut body, &snapshot.data);
    let mut file_bytes = Vec::with_capacity(body.len() + 12);
    file_bytes.extend_from_slice(MAGIC);
    put_u32(&mut file_bytes, crc32c::crc32c(&body));
    file_bytes.extend_from_slice(&body);

    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let io_tmp = |source| StorageError::Io {
        path: tmp.clone(),
        source,
    };
    let mut file = File::create(&tmp).map_err(io_tmp)?;
    file.write_all(&file_bytes).map_err(io_tmp)?;
    file.sync_all().map_err(io_tmp)?;
    drop(file);
    let target = dir.join(FILE_NAME);
    std::fs::rename(&tmp, &target).map_err(|source| StorageError::Io {
        path: target,
        source,
    })?;
    if sync_directory {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Loads the snapshot in `dir`, if there is one.
pub fn load(dir: &Path) -> Result<Option<Snapshot>, StorageError> {
    let path = dir.join(FILE_NAME);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|source| StorageError::Io {
        path: path.clone(),
        source,
    })?;
    let corrupt = |reason: String| StorageError::Corrupt {
        path: path.clone(),
        offset: 0,
        reason,
    };
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(corrupt(
            "not a snapshot file (bad magic or too short)".into(),
        ));
    }
    let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let body = &bytes[12..];
    if crc32c::crc32c(body) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    let mut r = Reader::new(body);
    let decoded = (|| {
        let index = r.u64("index")?;
        let term = r.u64("term")?;
        let data = r.bytes("data")?.to_vec();
        Ok::<_, super::codec::DecodeError>(Snapshot {
            meta: SnapshotMeta { index, term },
            data,
        })
    })();
    let snapshot = decoded.map_err(|e| corrupt(e.to_string()))?;
    r.finish().map_err(|e| corrupt(e.to_string()))?;
    Ok(Some(snapshot))
}
