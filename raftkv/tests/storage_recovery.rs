//! Crash-recovery tests of the write-ahead log and snapshot files: the log is cut
//! at every byte offset and damaged at every byte, and recovery must keep exactly
//! the records that were completely written before the damage (a torn tail), or
//! refuse to start when intact records follow the damage.

use std::path::Path;

use raftkv::raft::{Entry, HardState, Snapshot, SnapshotMeta};
use raftkv::storage::{Storage, StorageError, WAL_FILE};

/// The durable state expected after some prefix of the writes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    hard_state: HardState,
    entries: Vec<Entry>,
}

fn entry(term: u64, index: u64, data: &str) -> Entry {
    Entry {
        term,
        index,
        data: data.as_bytes().to_vec(),
    }
}

/// Writes one record per `persist` call and returns the log bytes together with
/// (end offset, state) after every record: each is the point where a write was
/// fsynced and could have been acknowledged.
fn build_log(dir: &Path) -> (Vec<u8>, Vec<(usize, Expected)>) {
    let (mut storage, recovered) = Storage::open(dir).unwrap();
    assert!(recovered.entries.is_empty() && recovered.snapshot.is_none());
    let mut state = Expected {
        hard_state: HardState::default(),
        entries: Vec::new(),
    };
    let mut points = vec![(0, state.clone())];
    let wal = dir.join(WAL_FILE);
    let mut record =
        |storage: &mut Storage, hs: Option<HardState>, e: Option<Entry>, state: &mut Expected| {
            storage.persist(hs.as_ref(), e.as_slice()).unwrap();
            if let Some(hs) = hs {
                state.hard_state = hs;
            }
            if let Some(e) = e {
                state.entries.truncate((e.index - 1) as usize);
                state.entries.push(e);
            }
            points.push((
                std::fs::metadata(&wal).unwrap().len() as usize,
                state.clone(),
            ));
        };
    record(
        &mut storage,
        Some(HardState {
            term: 1,
            vote: Some(1),
            commit: 0,
        }),
        None,
        &mut state,
    );
    record(&mut storage, None, Some(entry(1, 1, "")), &mut state);
    record(&mut storage, None, Some(entry(1, 2, "put a=1")), &mut state);
    record(&mut storage, None, Some(entry(1, 3, "put b=2")), &mut state);
    record(
        &mut storage,
        Some(HardState {
            term: 2,
            vote: None,
            commit: 2,
        }),
        None,
        &mut state,
    );
    // A new leader overwrites the uncommitted entry 3.
    record(
        &mut storage,
        None,
        Some(entry(2, 3, "put c=3 from the new leader")),
        &mut state,
    );
    record(
        &mut storage,
        None,
        Some(entry(2, 4, &"x".repeat(100))),
        &mut state,
    );
    record(
        &mut storage,
        Some(HardState {
            term: 2,
            vote: Some(3),
            commit: 4,
        }),
        None,
        &mut state,
    );
    drop(storage);
    (std::fs::read(&wal).unwrap(), points)
}

/// Opens a fresh data directory whose log holds `bytes`.
fn open_with(
    bytes: &[u8],
) -> (
    tempfile::TempDir,
    Result<(Storage, raftkv::storage::Recovered), StorageError>,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(WAL_FILE), bytes).unwrap();
    let opened = Storage::open(dir.path());
    (dir, opened)
}

#[test]
fn truncation_at_every_offset_keeps_the_durable_prefix() {
    let src = tempfile::tempdir().unwrap();
    let (bytes, points) = build_log(src.path());
    for cut in 0..=bytes.len() {
        let (dir, opened) = open_with(&bytes[..cut]);
        let (mut storage, recovered) = opened.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let (end, expected) = points.iter().rev().find(|(end, _)| *end <= cut).unwrap();
        let got = Expected {
            hard_state: recovered.hard_state,
            entries: recovered.entries,
        };
        assert_eq!(&got, expected, "cut at {cut}: recovered state");
        assert_eq!(
            recovered.discarded_bytes,
            (cut - end) as u64,
            "cut at {cut}: discarded tail"
        );
        // The torn tail is gone from the file, so new records follow intact ones.
        let next = Entry {
            term: 9,
            index: expected.entries.len() as u64 + 1,
            data: b"after".to_vec(),
        };
        storage.persist(None, std::slice::from_ref(&next)).unwrap();
        drop(storage);
        let (_, again) = Storage::open(dir.path()).unwrap();
        assert_eq!(
            again.entries.last(),
            Some(&next),
            "cut at {cut}: append after recovery"
        );
        assert_eq!(again.discarded_bytes, 0);
    }
}

#[test]
fn a_damaged_byte_is_a_torn_tail_only_in_the_last_record() {
    let src = tempfile::tempdir().unwrap();
    let (bytes, points) = build_log(src.path());
    let last_start = points[points.len() - 2].0;
    for pos in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[pos] ^= 0x5a;
        let (_dir, opened) = open_with(&damaged);
        if pos >= last_start {
            let (_, recovered) = opened.unwrap_or_else(|e| panic!("flip at {pos}: {e}"));
            let expected = &points[points.len() - 2].1;
            assert_eq!(recovered.hard_state, expected.hard_state, "flip at {pos}");
            assert_eq!(recovered.entries, expected.entries, "flip at {pos}");
        } else {
            match opened {
                Err(StorageError::Corrupt { offset, reason, .. }) => {
                    assert!(
                        offset as usize <= pos,
                        "flip at {pos}: reported at {offset}"
                    );
                    assert!(reason.contains("refusing"), "flip at {pos}: {reason}");
                }
                Err(other) => panic!("flip at {pos}: wrong error {other}"),
                Ok(_) => panic!("flip at {pos}: mid-log damage was accepted"),
            }
        }
    }
}

#[test]
fn zero_filled_tail_is_torn() {
    let src = tempfile::tempdir().unwrap();
    let (mut bytes, points) = build_log(src.path());
    bytes.extend_from_slice(&[0; 4096]);
    let (_dir, opened) = open_with(&bytes);
    let (_, recovered) = opened.unwrap();
    assert_eq!(recovered.entries, points.last().unwrap().1.entries);
    assert_eq!(recovered.discarded_bytes, 4096);
}

#[test]
fn compaction_keeps_the_suffix_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = Storage::open(dir.path()).unwrap();
    let hs = HardState {
        term: 3,
        vote: Some(2),
        commit: 5,
    };
    let entries: Vec<Entry> = (1..=8).map(|i| entry(3, i, &format!("e{i}"))).collect();
    storage.persist(Some(&hs), &entries).unwrap();
    let snap = Snapshot {
        meta: SnapshotMeta { index: 5, term: 3 },
        data: b"state@5".to_vec(),
    };
    storage.compact(&snap).unwrap();
    storage.persist(None, &[entry(3, 9, "e9")]).unwrap();
    assert_eq!(storage.last_index(), 9);
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).unwrap();
    assert_eq!(recovered.snapshot, Some(snap));
    assert_eq!(recovered.hard_state, hs);
    assert_eq!(
        recovered
            .entries
            .iter()
            .map(|e| e.index)
            .collect::<Vec<_>>(),
        vec![6, 7, 8, 9]
    );
    assert!(!dir.path().join("snapshot.tmp").exists());
}

#[test]
fn received_snapshot_replaces_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = Storage::open(dir.path()).unwrap();
    storage
        .persist(
            None,
            &(1..=4).map(|i| entry(1, i, "old")).collect::<Vec<_>>(),
        )
        .unwrap();
    storage
        .install_snapshot(&Snapshot {
            meta: SnapshotMeta { index: 3, term: 2 },
            data: vec![2],
        })
        .unwrap();
    assert_eq!(storage.last_index(), 3);
    storage.persist(None, &[entry(2, 4, "new")]).unwrap();
    drop(storage);
    let (_, recovered) = Storage::open(dir.path()).unwrap();
    assert_eq!(recovered.entries, vec![entry(2, 4, "new")]);
    assert_eq!(
        recovered.snapshot.unwrap().meta,
        SnapshotMeta { index: 3, term: 2 }
    );
}

#[test]
fn damaged_snapshot_and_a_second_opener_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = Storage::open(dir.path()).unwrap();
    assert!(matches!(
        Storage::open(dir.path()),
        Err(StorageError::Locked(_))
    ));
    storage.persist(None, &[entry(1, 1, "a")]).unwrap();
    storage
        .compact(&Snapshot {
            meta: SnapshotMeta { index: 1, term: 1 },
            data: b"abc".to_vec(),
        })
        .unwrap();
    drop(storage);
    let path = dir.path().join("snapshot");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = Storage::open(dir.path())
        .err()
        .expect("damaged snapshot must not load");
    assert!(err.to_string().contains("checksum"), "{err}");
}

/// A batch is written entries first, hard state last: a crash that tears the
/// batch can keep its new entries without its new commit index, never the
/// commit index without the entries it counts. (With the hard state first, a
/// torn batch kept `commit: 3` over the old entry 3 of term 1, and the node
/// applied that entry after restarting: found by the simulator, `raftkv::sim`.)
#[test]
fn a_torn_batch_keeps_no_commit_index_without_its_entries() {
    let src = tempfile::tempdir().unwrap();
    let (mut storage, _) = Storage::open(src.path()).unwrap();
    let old = [
        entry(1, 1, ""),
        entry(1, 2, "put a=1"),
        entry(1, 3, "put b=2"),
    ];
    let hs = |term, commit| HardState {
        term,
        vote: None,
        commit,
    };
    storage.persist(Some(&hs(1, 1)), &old).unwrap();
    let before = std::fs::metadata(src.path().join(WAL_FILE)).unwrap().len() as usize;
    let new = [entry(2, 2, ""), entry(2, 3, "put c=3")];
    storage.persist(Some(&hs(2, 3)), &new).unwrap();
    drop(storage);
    let bytes = std::fs::read(src.path().join(WAL_FILE)).unwrap();
    for cut in before..=bytes.len() {
        let (_dir, opened) = open_with(&bytes[..cut]);
        let (_, recovered) = opened.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let commit = recovered.hard_state.commit as usize;
        for e in &recovered.entries[..commit.min(recovered.entries.len())] {
            let expected = if e.index == 1 {
                &old[0]
            } else {
                &new[(e.index - 2) as usize]
            };
            assert!(
                commit == 1 || e == expected,
                "cut at {cut}: commit {commit} covers the stale entry {e:?}"
            );
        }
    }
}
