//! The disk fault: a node's storage lies the way a disk does when its machine loses
//! power. The database's data directory is a lazy filesystem (`faultline lazyfs`,
//! mounted by the controller before the node starts) that keeps unsynced writes in
//! memory; the nemesis asks it, through [`ClusterControl::disk`], for one of three
//! [`DiskMode`]s on the nodes a [`Target`] picks:
//!
//! - `lose-unsynced`: SIGKILL the node, drop every write and name change it had not
//!   synced, restart it when the fault heals: a power loss of that one machine;
//! - `torn`: the same, but the disk is cut in the middle of the last unsynced write
//!   (earlier unsynced writes reached it, the last one up to a byte drawn from the
//!   fault's seed);
//! - `fsync-eio`: the node's next fsync fails with EIO (the node keeps running and must
//!   cope); at the heal an EIO not yet delivered is disarmed and a node that exited
//!   on it is restarted.
//!
//! The completion's `value.disk` holds, per node, what the filesystem reports: bytes
//! and files dropped, names whose creation or rename was undone, the torn write.
//! Mounts are journaled ([`crate::Action::Mount`]) before they are made; cleanup
//! unmounts them after killing the processes recorded with them.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Result};

/// What the disk fault does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskMode {
    /// Power loss: unsynced writes and names dropped.
    LoseUnsynced,
    /// Power loss in the middle of the last unsynced write.
    Torn,
    /// The next fsync fails with EIO.
    FsyncEio,
}

impl DiskMode {
    /// Every mode.
    pub const ALL: [DiskMode; 3] = [DiskMode::LoseUnsynced, DiskMode::Torn, DiskMode::FsyncEio];

    /// The mode's name in `--nemesis disk:NAME`.
    pub fn name(self) -> &'static str {
        match self {
            DiskMode::LoseUnsynced => "lose-unsynced",
            DiskMode::Torn => "torn",
            DiskMode::FsyncEio => "fsync-eio",
        }
    }

    /// Whether the mode kills the node and restarts it at the heal.
    pub fn is_power_loss(self) -> bool {
        matches!(self, DiskMode::LoseUnsynced | DiskMode::Torn)
    }
}

impl fmt::Display for DiskMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DiskMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<DiskMode> {
        DiskMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "unknown disk fault `{s}`: expected {} or a target (one, minority, \
                     majority, leader, follower, all)",
                    DiskMode::ALL.map(DiskMode::name).join(", ")
                ))
            })
    }
}

/// A disk fault of one mode on the nodes one target picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskFault {
    /// What happens to each node's disk.
    pub mode: DiskMode,
    /// Which nodes.
    pub target: crate::schedule::Target,
}

/// A request to a node's lazy filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskRequest {
    /// Drop everything unsynced (the node must be down).
    LoseUnsynced,
    /// Tear the last unsynced write after this many bytes (modulo its length) and
    /// drop the rest (the node must be down).
    Torn(u64),
    /// Fail the next fsync with EIO.
    FsyncEio,
    /// Disarm an EIO not yet delivered; answers `{"was_armed": bool}`.
    Disarm,
}

/// Refuses the disk fault where it cannot run: it needs `/dev/fuse` and root (the
/// lazy filesystem is mounted with `mount(2)`).
pub fn check_capable() -> std::result::Result<(), String> {
    let mut missing = Vec::new();
    if !crate::process::is_root() {
        missing.push("root (the lazy filesystem is mounted with mount(2))".to_string());
    }
    if !Path::new("/dev/fuse").exists() {
        missing.push("/dev/fuse: apt-get install -y fuse3 (and `modprobe fuse`)".to_string());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the disk fault cannot run on this machine; it needs {}",
            missing.join("; and ")
        ))
    }
}

/// Whether something is mounted at `path` (read from `/proc/self/mountinfo`).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    // A dead FUSE mount cannot be resolved (ENOTCONN): fall back to the plain path.
    let want = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    text.lines().any(|line| {
        // Field 5 is the mount point, with spaces and the like octal-escaped.
        line.split(' ')
            .nth(4)
            .is_some_and(|m| Path::new(&unescape_mount_path(m)) == want)
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mount_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Detaches the mount at `path` (`umount2(MNT_DETACH)`) and checks it is gone; an
/// unmounted path is success.
pub fn unmount(path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if !is_mounted(path) {
        return Ok(());
    }
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Unsupported(format!("bad mount path {}", path.display())))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(Error::io(format!("unmounting {}", path.display()), e));
        }
    }
    if crate::sys::poll_until(crate::sys::REMOVAL_GRACE, || !is_mounted(path)) {
        Ok(())
    } else {
        Err(Error::StillPresent {
            what: format!("mount {}", path.display()),
            state: "mounted after umount2(MNT_DETACH)".into(),
            waited: crate::sys::REMOVAL_GRACE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_by_name_and_mount_paths_unescape() {
        for mode in DiskMode::ALL {
            assert_eq!(mode.name().parse::<DiskMode>().unwrap(), mode);
        }
        let err = "melt".parse::<DiskMode>().unwrap_err().to_string();
        assert!(err.contains("melt") && err.contains("fsync-eio"), "{err}");
        assert_eq!(unescape_mount_path("/a\\040b/c"), "/a b/c");
        assert_eq!(unescape_mount_path("/plain\\x"), "/plain\\x");
        assert!(is_mounted(Path::new("/")), "the root is always mounted");
        assert!(!is_mounted(Path::new("/no/such/mount/point")));
        unmount(Path::new("/no/such/mount/point")).unwrap();
    }
}
