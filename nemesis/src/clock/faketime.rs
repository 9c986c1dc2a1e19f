//! libfaketime in a node process: where the library is installed, the environment
//! that preloads it, the control file each node's clock is read from (written whole
//! through a rename, journaled, removed), and the shared memory the library leaves
//! behind a killed process.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::ClockSetting;
use crate::error::{Error, Result};
use crate::journal::{Action, Journal};

/// The library's file name.
pub const LIBRARY: &str = "libfaketime.so.1";

/// The control file's name in a node's folder.
pub const CONTROL_FILE: &str = "faketime.rc";

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on every Linux
/// architecture faultline runs on).
const USER_HZ: f64 = 100.0;

/// The installed `libfaketime.so.1`, looked for in the multiarch library folders
/// (`/usr/lib/<triplet>/faketime/`) and the usual others; `Err` says how to install it.
pub fn find_library() -> std::result::Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().contains("-linux-"))
                })
                .map(|p| p.join("faketime"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.extend(
        [
            "/usr/lib/faketime",
            "/usr/local/lib/faketime",
            "/usr/lib64/faketime",
        ]
        .map(PathBuf::from),
    );
    dirs.into_iter()
        .map(|d| d.join(LIBRARY))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "clock faults need libfaketime (libfaketime.so.1 under /usr/lib/<multiarch>/faketime): \
             apt-get install -y libfaketime (scripts/setup.sh installs it)"
                .to_string()
        })
}

/// Seconds since the process `pid` started; `None` when it is gone.
fn process_age(pid: i32) -> Option<f64> {
    let started = crate::process::proc_stat(pid)?.start_time as f64 / USER_HZ;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((uptime - started).max(0.0))
}

/// Makes `cmd` run with libfaketime preloaded, its clock controlled by `file` and set
/// to `now` for a process that starts at once (a restarted node continues its clock
/// where the one before left it). The file is journaled before it is first created.
pub fn preload(
    cmd: &mut Command,
    library: &Path,
    file: &Path,
    now: ClockSetting,
    journal: &Journal,
) -> Result<()> {
    if !file.exists() {
        journal.record(Action::ClockFile {
            path: file.to_path_buf(),
        })?;
    }
    write_spec(file, &now.spec(0.0))?;
    cmd.env("LD_PRELOAD", library)
        .env("FAKETIME_TIMESTAMP_FILE", file)
        .env("FAKETIME_NO_CACHE", "1");
    for inherited in [
        "FAKETIME",
        "FAKETIME_SHARED",
        "FAKETIME_DONT_FAKE_MONOTONIC",
        "FAKETIME_XRESET",
        "FAKETIME_CACHE_DURATION",
    ] {
        cmd.env_remove(inherited);
    }
    Ok(())
}

/// Sets the clock of the process `pid` (`None`: not running; the spec then holds for
/// a process that starts now) through its control `file`; returns the spec written.
pub fn set(file: &Path, pid: Option<i32>, setting: ClockSetting) -> Result<String> {
    let age = pid.and_then(process_age).unwrap_or(0.0);
    let spec = setting.spec(age);
    write_spec(file, &spec)?;
    Ok(spec)
}

/// Replaces the control file's content in one rename.
fn write_spec(file: &Path, spec: &str) -> Result<()> {
    let next = staging(file);
    std::fs::write(&next, format!("{spec}\n"))
        .and_then(|()| std::fs::rename(&next, file))
        .map_err(|e| Error::io(format!("writing clock control file {}", file.display()), e))
}

/// The temporary file a new spec is written to before it replaces `file`.
fn staging(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Journals the shared memory libfaketime creates in the process `pid` (see
/// [`crate::clock`]), so that teardown and `faultline cleanup` remove it once the
/// process is gone.
pub fn record_shared_memory(journal: &Journal, pid: i32) -> Result<()> {
    journal.record(Action::ClockShm { pid }).map(drop)
}

/// The files of libfaketime's shared memory and semaphore for the process `pid`.
pub(crate) fn shared_memory_files(pid: i32) -> [PathBuf; 2] {
    [
        PathBuf::from(format!("/dev/shm/faketime_shm_{pid}")),
        PathBuf::from(format!("/dev/shm/sem.faketime_sem_{pid}")),
    ]
}

/// Removes a control file (and a temporary one left by a crash); gone is success.
pub(crate) fn remove(file: &Path) -> Result<()> {
    remove_files(&[staging(file), file.to_path_buf()])
}

/// Removes `paths`; gone is success.
pub(crate) fn remove_files(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_file_is_replaced_whole_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONTROL_FILE);
        let spec = set(&file, None, ClockSetting::REAL).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{spec}\n"));
        let jump = ClockSetting {
            offset_s: 61.0,
            rate: 1.0,
        };
        set(&file, Some(std::process::id() as i32), jump).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "+61.000000 x1.000000\n"
        );
        assert!(!staging(&file).exists());
        remove(&file).unwrap();
        assert!(!file.exists());
        remove(&file).unwrap();
    }
}
