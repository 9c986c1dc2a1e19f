//! Serving one mount: `faultline lazyfs --backing DIR --mount DIR --control SOCKET`.
//!
//! [`run`] opens the backing directory (creating it with the mount point's permission
//! bits if missing), listens on the control socket, mounts the filesystem over the
//! mount point (as root, by `mount(2)` on `/dev/fuse`; otherwise through
//! `fusermount3`) and serves until SIGTERM, SIGINT or SIGHUP, or until someone
//! unmounts it. It then detaches the mount (`umount2(MNT_DETACH)`: a node still holding
//! files open cannot keep it busy), removes the control socket and the store of files
//! that never got a durable name, and returns: the backing directory is left holding
//! exactly the durable state.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fuser::MountOption;

use crate::control;
use crate::disk::{Disk, STORE_DIR};
use crate::fuse::LazyFs;

/// What to serve.
#[derive(Debug, Clone)]
pub struct MountSpec {
    /// The real directory holding the durable state.
    pub backing: PathBuf,
    /// Where the filesystem is mounted.
    pub mountpoint: PathBuf,
    /// The control socket's path.
    pub control: PathBuf,
}

/// Serves `spec` until a stop signal or an unmount; `ready` is called once mounted.
pub fn run(spec: &MountSpec, ready: impl FnOnce()) -> std::io::Result<()> {
    // Stop signals are taken by `sigtimedwait` below, so every thread must block them.
    let stops = stop_signals();
    // SAFETY: pthread_sigmask on a valid, initialised set; no threads run yet.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &stops, std::ptr::null_mut()) };
    if !spec.backing.exists() {
        let mode = std::fs::metadata(&spec.mountpoint)?.permissions().mode();
        std::fs::create_dir_all(&spec.backing)?;
        std::fs::set_permissions(&spec.backing, std::fs::Permissions::from_mode(mode))?;
    }
    let disk = Arc::new(Mutex::new(Disk::open(&spec.backing)?));
    let _ = std::fs::remove_file(&spec.control);
    let listener = UnixListener::bind(&spec.control)?;
    let served = Arc::clone(&disk);
    std::thread::Builder::new()
        .name("lazyfs-control".into())
        .spawn(move || control::serve(listener, served))?;
    let options = [
        MountOption::FSName("lazyfs".into()),
        MountOption::Subtype("lazyfs".into()),
        MountOption::RW,
    ];
    let session = fuser::spawn_mount2(
        LazyFs::new(Arc::clone(&disk), spec.backing.clone()),
        &spec.mountpoint,
        &options,
    )?;
    ready();
    loop {
        if session.guard.is_finished() {
            break; // unmounted from outside
        }
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        // SAFETY: valid set and timespec; a null siginfo pointer is allowed.
        let sig = unsafe { libc::sigtimedwait(&stops, std::ptr::null_mut(), &timeout) };
        if sig > 0 {
            break;
        }
    }
    detach(&spec.mountpoint);
    drop(session);
    let _ = std::fs::remove_file(&spec.control);
    let _ = std::fs::remove_dir_all(spec.backing.join(STORE_DIR));
    Ok(())
}

/// SIGTERM, SIGINT and SIGHUP.
fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset uses it.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Lazily unmounts `path` (errors ignored: it may be unmounted already).
fn detach(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}
