//! Clock faults: every node on this machine gets a clock of its own, which the
//! nemesis jumps, skews and strobes.
//!
//! Mechanism: libfaketime (Debian's `libfaketime`). When a run asks for clock faults,
//! each node process is started with `LD_PRELOAD` of `libfaketime.so.1` (found at run
//! time under `/usr/lib/<multiarch>/faketime/`) and `FAKETIME_TIMESTAMP_FILE` naming a
//! control file of its own, `faketime.rc` in the node's folder, with the cache off
//! (`FAKETIME_NO_CACHE=1`) so that every clock call reads it and a change applies at
//! once. The file holds a libfaketime spec, `+OFFSET xRATE`; it starts as `+0 x1`
//! (the real clock). libfaketime then answers the process's `clock_gettime`,
//! `gettimeofday` and `time` calls for every clock it fakes: `CLOCK_REALTIME`,
//! `CLOCK_MONOTONIC` (and its `_RAW`/`_COARSE` variants) and `CLOCK_BOOTTIME`
//! (monotonic faking is on unless `FAKETIME_DONT_FAKE_MONOTONIC` is set, which the
//! node's environment never carries). Its sleeps (`nanosleep`, `poll` timeouts) are
//! scaled by the rate too. A Rust program's `Instant` and `SystemTime` (and so
//! tokio's timers) go through libc's `clock_gettime`, so raftkv's ticks, election
//! timeouts and any lease it measures follow the faked clock; a backward jump of the
//! monotonic clock freezes tokio's timers until the clock catches up, a forward jump
//! fires what is due at once.
//!
//! What it cannot reach: a program that does not call libc's clock functions at all
//! — statically linked, or Go, which reads the vDSO itself (etcd) — keeps the real
//! clock. [`check_binary`] reads the program's ELF headers and refuses such a store
//! before anything starts, rather than pretend to fault its clock.
//!
//! libfaketime computes `start + (now - start) * rate + offset` from the process's
//! start, so a spec that only set a rate would make the clock leap by the whole
//! uptime times `rate - 1`. [`ClockSetting::spec`] therefore folds the process's
//! age into the offset: the clock continues from where it is and runs at the new
//! rate from now on. Healing writes the real clock back (`+0 x1`, a jump by whatever
//! the fault accumulated, as an NTP step would make). The control file is journaled
//! before it is created and removed at teardown or by `faultline cleanup`; writes go
//! through a temporary file and a rename, so the library never reads half a spec.
//! libfaketime also creates a shared memory segment and a semaphore per process
//! (`/dev/shm/faketime_shm_PID`, `/dev/shm/sem.faketime_sem_PID`) for children to share
//! its clock, and removes them only at a clean exit; a node ends with SIGKILL, so each
//! node process's pair is journaled when it starts ([`record_shared_memory`]) and
//! removed with the rest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::control::ClusterControl;
use crate::error::{Error, Result};
use crate::journal::{Action, Journal};
use crate::schedule::ClockMode;

/// The library's file name.
pub const LIBRARY: &str = "libfaketime.so.1";

/// The control file's name in a node's folder.
pub const CONTROL_FILE: &str = "faketime.rc";

/// libc functions through which a program reads the clock; a program that imports
/// none of them is not affected by libfaketime.
const LIBC_CLOCK_FUNCTIONS: [&str; 3] = ["clock_gettime", "gettimeofday", "time"];

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

/// `Ok` when `program` reads the clock through libc, so that a preloaded libfaketime
/// fakes it; `Err` says why its clock cannot be faulted (statically linked, or
/// dynamically linked without importing any libc clock function, as Go programs
/// such as etcd, which read the vDSO directly).
pub fn check_binary(program: &Path) -> std::result::Result<(), String> {
    let bytes = std::fs::read(program).map_err(|e| {
        format!(
            "cannot read {} to check its clock calls: {e}",
            program.display()
        )
    })?;
    let refuse = |why: &str| {
        Err(format!(
            "clock faults cannot act on {}: {why}, so a preloaded libfaketime does not \
             change the clock it sees; drop `clock` from --nemesis for this store",
            program.display()
        ))
    };
    match linkage(&bytes) {
        None => refuse("it is not a 64-bit little-endian ELF program faultline can inspect"),
        Some(Linkage::Static) => refuse("it is statically linked (no ELF interpreter)"),
        Some(Linkage::NoLibcClock) => refuse(
            "it imports none of libc's clock functions (clock_gettime, gettimeofday, time); \
             Go programs, for one, read the clock through the vDSO themselves",
        ),
        Some(Linkage::LibcClock) => Ok(()),
    }
}

/// How a program reaches the clock, as far as its ELF headers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linkage {
    /// No program interpreter: libc (if any) is linked in, preloading has no effect.
    Static,
    /// Dynamically linked, but no libc clock function is imported.
    NoLibcClock,
    /// Imports a libc clock function: preloading intercepts it.
    LibcClock,
}

/// Reads the linkage of an ELF64 little-endian file; `None` when it is not one (or
/// its headers point outside the file).
fn linkage(b: &[u8]) -> Option<Linkage> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| {
        let v = u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?);
        usize::try_from(v).ok()
    };
    if b.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?);
    let (shoff, shentsize, shnum) = (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?);
    const PT_INTERP: u32 = 3;
    const SHT_DYNSYM: u32 = 11;
    let mut interp = false;
    for i in 0..usize::from(phnum) {
        interp |= u32_at(phoff + i * usize::from(phentsize))? == PT_INTERP;
    }
    if !interp {
        return Some(Linkage::Static);
    }
    // (type, offset, size, link, entry size) of section `i`.
    let section = |i: usize| {
        let at = shoff + i * usize::from(shentsize);
        Some((
            u32_at(at + 4)?,
            u64_at(at + 0x18)?,
            u64_at(at + 0x20)?,
            u32_at(at + 0x28)?,
            u64_at(at + 0x38)?,
        ))
    };
    for i in 0..usize::from(shnum) {
        let (kind, offset, size, link, entsize) = section(i)?;
        if kind != SHT_DYNSYM || entsize == 0 {
            continue;
        }
        let (_, strings, strings_size, _, _) = section(link as usize)?;
        let names = b.get(strings..strings + strings_size)?;
        for sym in 0..size / entsize {
            let at = offset + sym * entsize;
            let undefined = u16_at(at + 6)? == 0;
            let name_at = u32_at(at)? as usize;
            let name = names.get(name_at..)?.split(|&c| c == 0).next()?;
            if undefined && LIBC_CLOCK_FUNCTIONS.iter().any(|f| f.as_bytes() == name) {
                return Some(Linkage::LibcClock);
            }
        }
    }
    Some(Linkage::NoLibcClock)
}

/// A node's clock relative to the real one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockSetting {
    /// How far the clock is ahead (negative: behind) when the setting is made, seconds.
    pub offset_s: f64,
    /// How fast it runs from then on (1: real speed, 2: twice as fast).
    pub rate: f64,
}

impl ClockSetting {
    /// The real clock.
    pub const REAL: ClockSetting = ClockSetting {
        offset_s: 0.0,
        rate: 1.0,
    };

    /// The libfaketime spec that makes this setting true, from now on, for a process
    /// that started `age_s` seconds ago (libfaketime scales the time since the
    /// process's start, see the module docs).
    pub fn spec(&self, age_s: f64) -> String {
        assert!(self.rate > 0.0, "a clock runs forwards");
        let offset = self.offset_s + age_s * (1.0 - self.rate);
        format!("{offset:+.6} x{:.6}", self.rate)
    }
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

/// Makes `cmd` run with libfaketime preloaded, its clock controlled by `file`, which
/// is created (journaled first) with the real clock if it does not exist yet.
pub fn preload(cmd: &mut Command, library: &Path, file: &Path, journal: &Journal) -> Result<()> {
    if !file.exists() {
        journal.record(Action::ClockFile {
            path: file.to_path_buf(),
        })?;
        write_spec(file, &ClockSetting::REAL.spec(0.0))?;
    }
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

/// Journals the shared memory libfaketime creates in the process `pid` (see the module
/// docs), so that teardown and `faultline cleanup` remove it once the process is gone.
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

/// What a clock fault does to one node, drawn when the fault starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum NodeClock {
    /// The clock jumps to this setting (rate 1) and stays.
    Jump(ClockSetting),
    /// The clock runs at this rate from now on.
    Skew(ClockSetting),
    /// The clock flips between real time and `offset_s` every `period_ms`.
    Strobe {
        /// The offset it flips to, seconds.
        offset_s: f64,
        /// Time between flips, milliseconds.
        period_ms: u64,
    },
}

impl NodeClock {
    /// Draws one node's change for `mode`: jumps of 2 s to 5 min either way; rates of
    /// 0.2–0.6 (slow) or 1.5–4 (fast); strobes of 0.2–30 s either way every 20–200 ms.
    pub fn draw(mode: ClockMode, rng: &mut ChaCha8Rng) -> NodeClock {
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        match mode {
            ClockMode::Jump => NodeClock::Jump(ClockSetting {
                offset_s: sign * round_ms(rng.random_range(2.0..300.0)),
                rate: 1.0,
            }),
            ClockMode::Skew => {
                let rate = if rng.random_bool(0.5) {
                    rng.random_range(0.2..0.6)
                } else {
                    rng.random_range(1.5..4.0)
                };
                NodeClock::Skew(ClockSetting {
                    offset_s: 0.0,
                    rate: (rate * 100.0_f64).round() / 100.0,
                })
            }
            ClockMode::Strobe => NodeClock::Strobe {
                offset_s: sign * round_ms(rng.random_range(0.2..30.0)),
                period_ms: rng.random_range(20..=200),
            },
        }
    }

    /// The setting the node's clock gets when the fault starts.
    pub fn first(&self) -> ClockSetting {
        match *self {
            NodeClock::Jump(s) | NodeClock::Skew(s) => s,
            NodeClock::Strobe { offset_s, .. } => ClockSetting {
                offset_s,
                rate: 1.0,
            },
        }
    }
}

/// Rounds seconds to whole milliseconds (for readable histories).
fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// What a strobe thread did: how many flips it made, and its first error.
type StrobeResult = (u64, Option<String>);

/// A thread flipping the clocks of strobed nodes until stopped.
#[derive(Debug)]
pub struct Strobe {
    /// Set to stop the thread.
    stop: Arc<AtomicBool>,
    /// The thread (taken when stopped).
    thread: Mutex<Option<JoinHandle<StrobeResult>>>,
}

impl Strobe {
    /// Starts flipping each `(node, offset, period)` between its offset (set already
    /// when this is called) and the real clock.
    pub fn start(control: Arc<dyn ClusterControl>, nodes: Vec<(String, f64, u64)>) -> Strobe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("clock-strobe".into())
            .spawn(move || {
                let start = std::time::Instant::now();
                let (mut flips, mut error) = (0u64, None);
                let mut shown = vec![1u64; nodes.len()];
                while !flag.load(Ordering::Relaxed) {
                    let now = start.elapsed().as_millis() as u64;
                    for (i, (node, offset_s, period_ms)) in nodes.iter().enumerate() {
                        // Phase k of the node: odd phases show the offset.
                        let phase = now / (*period_ms).max(1) + 1;
                        if phase == shown[i] {
                            continue;
                        }
                        shown[i] = phase;
                        let setting = if phase % 2 == 1 {
                            ClockSetting {
                                offset_s: *offset_s,
                                rate: 1.0,
                            }
                        } else {
                            ClockSetting::REAL
                        };
                        match control.set_clock(node, setting) {
                            Ok(_) => flips += 1,
                            Err(e) => {
                                error.get_or_insert(format!("{node}: {e}"));
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                (flips, error)
            })
            .expect("spawning the clock strobe thread");
        Strobe {
            stop,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Stops flipping and waits for the thread; returns the number of flips made and
    /// the first error, if any (nothing the second time).
    pub fn stop(&self) -> StrobeResult {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match thread.map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => (0, Some("the strobe thread panicked".into())),
            None => (0, None),
        }
    }
}

impl Drop for Strobe {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_new_rate_continues_from_the_current_time() {
        assert_eq!(ClockSetting::REAL.spec(12.0), "+0.000000 x1.000000");
        let jump = ClockSetting {
            offset_s: -90.5,
            rate: 1.0,
        };
        assert_eq!(jump.spec(40.0), "-90.500000 x1.000000");
        // libfaketime: start + age * rate + offset must equal start + age now.
        let fast = ClockSetting {
            offset_s: 0.0,
            rate: 3.0,
        };
        assert_eq!(fast.spec(10.0), "-20.000000 x3.000000");
        let slow = ClockSetting {
            offset_s: 5.0,
            rate: 0.5,
        };
        assert_eq!(slow.spec(10.0), "+10.000000 x0.500000");
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut ahead, mut behind, mut fast, mut slow) = (0, 0, 0, 0);
        for _ in 0..200 {
            match NodeClock::draw(ClockMode::Jump, &mut rng) {
                NodeClock::Jump(s) => {
                    assert!((2.0..=300.0).contains(&s.offset_s.abs()) && s.rate == 1.0);
                    if s.offset_s > 0.0 {
                        ahead += 1
                    } else {
                        behind += 1
                    }
                }
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Skew, &mut rng) {
                NodeClock::Skew(s) if s.rate > 1.0 => {
                    assert!(s.rate <= 4.0);
                    fast += 1
                }
                NodeClock::Skew(s) => {
                    assert!(s.rate >= 0.2 && s.rate < 1.0);
                    slow += 1
                }
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Strobe, &mut rng) {
                NodeClock::Strobe {
                    offset_s,
                    period_ms,
                } => assert!(offset_s.abs() <= 30.0 && (20..=200).contains(&period_ms)),
                other => panic!("{other:?}"),
            }
        }
        assert!(ahead > 0 && behind > 0 && fast > 0 && slow > 0);
    }

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

    #[test]
    fn programs_that_bypass_libc_clocks_are_refused() {
        // This test program reads its clock through libc's clock_gettime.
        let me = std::env::current_exe().unwrap();
        check_binary(&me).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("script.sh");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        let err = check_binary(&text).unwrap_err();
        assert!(err.contains("not a 64-bit"), "{err}");
        // An ELF header with no program headers at all: no interpreter, static.
        let mut header = b"\x7fELF\x02\x01\x01".to_vec();
        header.resize(64, 0);
        let fake = dir.path().join("static");
        std::fs::write(&fake, &header).unwrap();
        let err = check_binary(&fake).unwrap_err();
        assert!(err.contains("statically linked"), "{err}");
        if let Some(etcd) = ["/usr/bin/etcd", "/usr/local/bin/etcd"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.is_file())
        {
            let err = check_binary(etcd).unwrap_err();
            assert!(err.contains("vDSO"), "{err}");
        }
    }
}
