//! The durability model's contract, checked against the backing directory itself
//! (what a remount after a power loss would find) as well as through the model.

use super::*;

/// A fresh disk over a temporary backing directory.
fn disk() -> (tempfile::TempDir, Disk) {
    let dir = tempfile::tempdir().unwrap();
    let disk = Disk::open(dir.path()).unwrap();
    (dir, disk)
}

/// The whole visible content of `ino`.
fn content(disk: &mut Disk, ino: u64) -> Vec<u8> {
    disk.read(ino, 0, u32::MAX).unwrap()
}

/// Writes `data` to a new file `tmp`, fsyncs it and renames it over `name` (the
/// atomic replace, without the directory sync).
fn replace(disk: &mut Disk, tmp: &str, name: &str, data: &[u8]) {
    let f = disk.create(ROOT, OsStr::new(tmp), 0o644).unwrap().ino;
    disk.write(f, 0, data).unwrap();
    disk.fsync(f).unwrap();
    disk.rename(ROOT, OsStr::new(tmp), ROOT, OsStr::new(name), false)
        .unwrap();
}

/// The content visible under `name` in the root.
fn content_of(disk: &mut Disk, name: &str) -> Vec<u8> {
    let ino = disk.lookup(ROOT, OsStr::new(name)).unwrap().ino;
    content(disk, ino)
}

/// What a remount of the backing directory finds at `name` (`None`: no such file).
fn remounted(backing: &Path, name: &str) -> Option<Vec<u8>> {
    let mut disk = Disk::open(backing).unwrap();
    let attr = disk.lookup(ROOT, OsStr::new(name)).ok()?;
    Some(content(&mut disk, attr.ino))
}

#[test]
fn unsynced_data_is_readable_before_the_fault_and_gone_after() {
    let (_dir, mut disk) = disk();
    let f = disk.create(ROOT, OsStr::new("wal"), 0o644).unwrap().ino;
    disk.fsync_dir(ROOT).unwrap();
    disk.write(f, 0, b"synced|").unwrap();
    disk.fsync(f).unwrap();
    disk.write(f, 7, b"unsynced").unwrap();
    assert_eq!(content(&mut disk, f), b"synced|unsynced");
    assert_eq!(disk.attr(f).unwrap().size, 15);
    let status = disk.status();
    assert_eq!(
        (status.bytes, status.files.clone()),
        (8, vec!["wal".into()])
    );

    let report = disk.lose_unsynced().unwrap();
    assert_eq!(report.bytes, 8);
    assert_eq!(report.files, vec!["wal".to_string()]);
    assert_eq!(content(&mut disk, f), b"synced|");
    assert_eq!(disk.attr(f).unwrap().size, 7);
    assert_eq!(disk.status(), Report::default(), "nothing left unsynced");
}

#[test]
fn synced_data_survives_a_power_loss_and_a_remount() {
    let (dir, mut disk) = disk();
    let f = disk.create(ROOT, OsStr::new("wal"), 0o644).unwrap().ino;
    disk.write(f, 0, b"hello world").unwrap();
    disk.fsync(f).unwrap();
    disk.fsync_dir(ROOT).unwrap();
    // Overwrite and truncate in the middle, then sync: the store holds the result.
    disk.write(f, 6, b"there").unwrap();
    disk.truncate(f, 8).unwrap();
    disk.fsync(f).unwrap();
    disk.write(f, 0, b"XXXX").unwrap(); // lost below
    disk.lose_unsynced().unwrap();
    assert_eq!(content(&mut disk, f), b"hello th");
    drop(disk);
    assert_eq!(fs::read(dir.path().join("wal")).unwrap(), b"hello th");
    assert_eq!(remounted(dir.path(), "wal").unwrap(), b"hello th");
}

#[test]
fn file_creation_is_durable_only_once_its_directory_is_synced() {
    let (dir, mut disk) = disk();
    let f = disk.create(ROOT, OsStr::new("new"), 0o644).unwrap().ino;
    disk.write(f, 0, b"data").unwrap();
    disk.fsync(f).unwrap(); // the data is durable, the name is not
    assert!(disk.lookup(ROOT, OsStr::new("new")).is_ok());
    let report = disk.lose_unsynced().unwrap();
    assert_eq!(report.names, vec!["new".to_string()]);
    assert_eq!(
        disk.lookup(ROOT, OsStr::new("new")).unwrap_err(),
        Errno(libc::ENOENT)
    );
    assert!(!dir.path().join("new").exists());

    let g = disk.create(ROOT, OsStr::new("new"), 0o644).unwrap().ino;
    disk.write(g, 0, b"again").unwrap();
    disk.fsync(g).unwrap();
    disk.fsync_dir(ROOT).unwrap();
    disk.lose_unsynced().unwrap();
    assert_eq!(content(&mut disk, g), b"again");
    drop(disk);
    assert_eq!(remounted(dir.path(), "new").unwrap(), b"again");
}

#[test]
fn rename_durability_follows_the_directory_sync() {
    let (dir, mut disk) = disk();
    // The usual atomic replace: old file durable, new one written to a temporary
    // name, fsynced and renamed over it.
    let old = disk
        .create(ROOT, OsStr::new("snapshot"), 0o644)
        .unwrap()
        .ino;
    disk.write(old, 0, b"old").unwrap();
    disk.fsync(old).unwrap();
    disk.fsync_dir(ROOT).unwrap();
    replace(&mut disk, "snapshot.tmp", "snapshot", b"new");
    assert_eq!(content_of(&mut disk, "snapshot"), b"new");

    // Without the directory sync, the power loss brings the old file back.
    let report = disk.lose_unsynced().unwrap();
    assert_eq!(report.names, vec!["snapshot".to_string()]);
    assert_eq!(content_of(&mut disk, "snapshot"), b"old");
    assert!(disk.lookup(ROOT, OsStr::new("snapshot.tmp")).is_err());

    // With it, the new one stays, also for a remount.
    replace(&mut disk, "snapshot.tmp", "snapshot", b"newer");
    disk.fsync_dir(ROOT).unwrap();
    disk.lose_unsynced().unwrap();
    assert_eq!(content_of(&mut disk, "snapshot"), b"newer");
    drop(disk);
    assert_eq!(remounted(dir.path(), "snapshot").unwrap(), b"newer");
    assert_eq!(remounted(dir.path(), "snapshot.tmp"), None);
}

#[test]
fn unlink_is_undone_by_a_power_loss_before_the_directory_sync() {
    let (_dir, mut disk) = disk();
    let f = disk.create(ROOT, OsStr::new("f"), 0o644).unwrap().ino;
    disk.write(f, 0, b"keep").unwrap();
    disk.fsync(f).unwrap();
    disk.fsync_dir(ROOT).unwrap();
    disk.unlink(ROOT, OsStr::new("f")).unwrap();
    assert!(disk.lookup(ROOT, OsStr::new("f")).is_err());
    disk.lose_unsynced().unwrap();
    let back = disk.lookup(ROOT, OsStr::new("f")).unwrap();
    assert_eq!((back.ino, back.nlink), (f, 1));
    disk.unlink(ROOT, OsStr::new("f")).unwrap();
    disk.fsync_dir(ROOT).unwrap();
    disk.lose_unsynced().unwrap();
    assert!(disk.lookup(ROOT, OsStr::new("f")).is_err());
}

#[test]
fn torn_writes_stop_at_the_byte_asked_for() {
    for keep in [0u64, 1, 5, 9] {
        let (dir, mut disk) = disk();
        let f = disk.create(ROOT, OsStr::new("wal"), 0o644).unwrap().ino;
        disk.fsync_dir(ROOT).unwrap();
        disk.write(f, 0, b"aaaa").unwrap();
        disk.fsync(f).unwrap();
        disk.write(f, 4, b"bbbb").unwrap(); // unsynced, written before the last
        disk.write(f, 8, b"0123456789").unwrap(); // the last write: torn
        let report = disk.tear(keep).unwrap();
        let torn = report.torn.clone().expect("a write was torn");
        assert_eq!((torn.offset, torn.length, torn.kept), (8, 10, keep));
        assert_eq!(torn.file, "wal");
        assert_eq!(report.bytes, 10 - keep);
        let mut expected = b"aaaabbbb".to_vec();
        expected.extend_from_slice(&b"0123456789"[..keep as usize]);
        assert_eq!(content(&mut disk, f), expected, "keep {keep}");
        drop(disk);
        assert_eq!(remounted(dir.path(), "wal").unwrap(), expected);
    }
    // Any number picks a cut: it is taken modulo the write's length.
    let (_dir, mut disk) = disk();
    let f = disk.create(ROOT, OsStr::new("wal"), 0o644).unwrap().ino;
    disk.write(f, 0, b"abcdef").unwrap();
    assert_eq!(disk.tear(6 * 1000 + 2).unwrap().torn.unwrap().kept, 2);
    // With nothing unsynced a tear is a plain power loss.
    assert_eq!(disk.tear(3).unwrap(), Report::default());
}

#[test]
fn an_armed_fsync_fails_once_with_eio_and_persists_nothing() {
    let (_dir, mut disk) = disk();
    let f = disk.create(ROOT, OsStr::new("wal"), 0o644).unwrap().ino;
    disk.fsync_dir(ROOT).unwrap();
    disk.write(f, 0, b"x").unwrap();
    disk.arm_fsync_eio();
    assert_eq!(disk.fsync(f), Err(Errno(libc::EIO)));
    assert_eq!(disk.status().bytes, 1, "still unsynced after the failure");
    disk.fsync(f).unwrap();
    assert_eq!(disk.status().bytes, 0);
    disk.arm_fsync_eio();
    assert!(disk.disarm_fsync_eio());
    assert!(!disk.disarm_fsync_eio());
    disk.fsync(f).unwrap();
}

#[test]
fn directories_are_durable_at_once_and_hold_lazy_files() {
    let (dir, mut disk) = disk();
    let d = disk
        .mkdir(ROOT, OsStr::new("member.tmp"), 0o700)
        .unwrap()
        .ino;
    let f = disk.create(d, OsStr::new("0.wal"), 0o600).unwrap().ino;
    disk.write(f, 0, b"entries").unwrap();
    disk.fsync(f).unwrap();
    disk.fsync_dir(d).unwrap();
    disk.rename(
        ROOT,
        OsStr::new("member.tmp"),
        ROOT,
        OsStr::new("member"),
        false,
    )
    .unwrap();
    disk.lose_unsynced().unwrap();
    let d2 = disk.lookup(ROOT, OsStr::new("member")).unwrap();
    assert_eq!((d2.ino, d2.kind), (d, Kind::Dir));
    let f2 = disk.lookup(d, OsStr::new("0.wal")).unwrap().ino;
    assert_eq!(content(&mut disk, f2), b"entries");
    assert_eq!(
        disk.rmdir(ROOT, OsStr::new("member")),
        Err(Errno(libc::ENOTEMPTY))
    );
    drop(disk);
    assert_eq!(
        fs::read(dir.path().join("member/0.wal")).unwrap(),
        b"entries"
    );
}
