//! The lazy filesystem really mounted (root and /dev/fuse): real system calls see
//! unsynced data at once and lose it, a torn write or an EIO on request through the
//! control socket, and the backing directory ends up holding what was synced.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use lazyfs::mount::MountSpec;
use lazyfs::{request, Command};
use nemesis::preflight::Need;

fn read(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    File::open(path).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn a_mounted_lazy_filesystem_loses_tears_and_fails_on_request() {
    if !nemesis::test_can_run(&[Need::Root, Need::Program("fusermount3")]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = MountSpec {
        backing: dir.path().join("disk"),
        mountpoint: dir.path().join("data"),
        control: dir.path().join("lazyfs.sock"),
    };
    fs::create_dir(&spec.mountpoint).unwrap();
    let (tx, rx) = mpsc::channel();
    let served = spec.clone();
    let server =
        std::thread::spawn(move || lazyfs::mount::run(&served, move || tx.send(()).unwrap()));
    rx.recv_timeout(Duration::from_secs(20)).expect("mounted");
    assert!(nemesis::disk::is_mounted(&spec.mountpoint));
    let data = &spec.mountpoint;
    let socket = &spec.control;

    let mut wal = OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("wal"))
        .unwrap();
    wal.write_all(b"synced|").unwrap();
    wal.sync_data().unwrap();
    File::open(data).unwrap().sync_all().unwrap();
    wal.write_all(b"unsynced").unwrap();
    assert_eq!(read(&data.join("wal")), b"synced|unsynced");
    // A file synced without its directory, and an atomic replace without the
    // directory sync.
    let mut new = File::create(data.join("new")).unwrap();
    new.write_all(b"n").unwrap();
    new.sync_all().unwrap();
    let mut tmp = File::create(data.join("snap.tmp")).unwrap();
    tmp.write_all(b"snapshot").unwrap();
    tmp.sync_all().unwrap();
    fs::rename(data.join("snap.tmp"), data.join("snap")).unwrap();
    assert_eq!(read(&data.join("snap")), b"snapshot");
    drop((wal, new, tmp));

    let lost = request(socket, Command::LoseUnsynced).unwrap();
    assert_eq!(lost["bytes"], 8, "{lost}");
    assert_eq!(lost["files"], serde_json::json!(["wal"]), "{lost}");
    assert_eq!(read(&data.join("wal")), b"synced|");
    assert_eq!(fs::metadata(data.join("wal")).unwrap().len(), 7);
    for gone in ["new", "snap", "snap.tmp"] {
        let e = fs::metadata(data.join(gone)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::NotFound,
            "{gone} survived the power loss"
        );
    }

    let mut wal = OpenOptions::new()
        .append(true)
        .open(data.join("wal"))
        .unwrap();
    wal.write_all(b"abcdef").unwrap();
    drop(wal);
    let torn = request(socket, Command::Torn(3)).unwrap();
    assert_eq!(torn["torn"]["kept"], 3, "{torn}");
    assert_eq!(read(&data.join("wal")), b"synced|abc");

    let mut wal = OpenOptions::new()
        .append(true)
        .open(data.join("wal"))
        .unwrap();
    wal.write_all(b"!").unwrap();
    request(socket, Command::FsyncEio).unwrap();
    let e = wal.sync_data().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert_eq!(
        request(socket, Command::Disarm).unwrap()["was_armed"],
        false
    );
    wal.sync_data().unwrap();
    drop(wal);

    nemesis::disk::unmount(data).unwrap();
    server.join().unwrap().unwrap();
    assert!(!nemesis::disk::is_mounted(data));
    assert!(!socket.exists(), "the control socket is removed");
    assert_eq!(fs::read(spec.backing.join("wal")).unwrap(), b"synced|abc!");
    assert!(!spec.backing.join("new").exists());
    assert!(!spec.backing.join(lazyfs::disk::STORE_DIR).exists());
}
