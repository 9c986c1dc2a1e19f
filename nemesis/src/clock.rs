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
//! rate from now on.
//!
//! A clock never steps back. libfaketime moves the monotonic clock with the wall
//! clock, and a monotonic clock that goes back (which no kernel does) stalls or
//! misfires tokio's timers for the size of the step, so the [`ClockDriver`] only ever
//! steps a clock forwards or changes its rate: a backward change, the return half of
//! a strobe and the heal of a clock that is ahead all run the clock at [`SLEW_RATE`]
//! until real time has caught up. The process's start as libfaketime took it is known
//! only to within [`START_SLACK_S`], which makes a spec with a rate off by up to that
//! times `1 − rate`: every change of rate adds that error bound as a forward step, and
//! a clock is set back to exactly `+0 x1` only once it is behind by more than it.
//! The control file is journaled
//! before it is created and removed at teardown or by `faultline cleanup`; writes go
//! through a temporary file and a rename, so the library never reads half a spec.
//! libfaketime also creates a shared memory segment and a semaphore per process
//! (`/dev/shm/faketime_shm_PID`, `/dev/shm/sem.faketime_sem_PID`) for children to share
//! its clock, and removes them only at a clean exit; a node ends with SIGKILL, so each
//! node process's pair is journaled when it starts ([`record_shared_memory`]) and
//! removed with the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// How fast a clock runs while it goes back towards real time: a clock never steps
/// back (see the module docs), it is slowed until real time has caught up.
pub const SLEW_RATE: f64 = 0.1;

/// The most a clock is put ahead of real time, seconds. Coming back takes
/// `1 / (1 − SLEW_RATE)` times as long, which bounds the wait of the final heal.
pub const MAX_AHEAD_S: f64 = 20.0;

/// How far libfaketime's own start of a process may lie from the start faultline reads
/// in `/proc` (exec and loading, the 10 ms ticks of `/proc`), seconds. A spec with a
/// rate is off by up to this times `1 − rate` (see [`ClockSetting::spec`]), so a change
/// of rate adds this times the rate difference as a forward step, and a clock comes
/// back to `+0 x1` only once it is behind by more than that error.
pub const START_SLACK_S: f64 = 0.1;

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

    /// The same clock `elapsed_s` seconds later: its offset has grown by what its rate
    /// gained or lost meanwhile.
    pub fn after(&self, elapsed_s: f64) -> ClockSetting {
        ClockSetting {
            offset_s: self.offset_s + elapsed_s * (self.rate - 1.0),
            rate: self.rate,
        }
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
#[serde(rename_all = "kebab-case", tag = "change")]
pub enum NodeClock {
    /// The clock steps forwards by this many seconds (no further than
    /// [`MAX_AHEAD_S`] ahead of real time) and runs at real speed.
    Forward {
        /// The step, seconds.
        step_s: f64,
    },
    /// The clock goes back by this many seconds: it runs at [`SLEW_RATE`] until it is
    /// that much further behind, then at real speed.
    Back {
        /// How far back, seconds.
        by_s: f64,
    },
    /// The clock runs at this rate (a fast one stops gaining at [`MAX_AHEAD_S`]).
    Skew {
        /// The rate (1: real speed).
        rate: f64,
    },
    /// A sawtooth: a forward step, slewed back at [`SLEW_RATE`] within the period,
    /// again every period.
    Strobe {
        /// Each step, seconds.
        step_s: f64,
        /// Time between steps, milliseconds: as long as slewing the step back takes.
        period_ms: u64,
    },
}

impl NodeClock {
    /// Draws one node's change for `mode`: jumps of 1–20 s either way; a rate of
    /// 0.2–0.6 for the leader (its lease outlives real time) and 1.5–4 for the other
    /// nodes (their election timeouts end early); strobes of 0.05–1 s steps.
    pub fn draw(mode: ClockMode, leader: bool, rng: &mut ChaCha8Rng) -> NodeClock {
        match mode {
            ClockMode::Jump => {
                let size = round_ms(rng.random_range(1.0..MAX_AHEAD_S));
                if rng.random_bool(0.5) {
                    NodeClock::Forward { step_s: size }
                } else {
                    NodeClock::Back { by_s: size }
                }
            }
            ClockMode::Skew => {
                let rate = if leader {
                    rng.random_range(0.2..0.6)
                } else {
                    rng.random_range(1.5..4.0)
                };
                NodeClock::Skew {
                    rate: (rate * 100.0_f64).round() / 100.0,
                }
            }
            ClockMode::Strobe => {
                let step_s = round_ms(rng.random_range(0.05..1.0));
                NodeClock::Strobe {
                    step_s,
                    period_ms: (step_s / (1.0 - SLEW_RATE) * 1000.0).ceil() as u64,
                }
            }
        }
    }
}

/// Rounds seconds to whole milliseconds (for readable histories).
fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// What a node's clock does next, besides running at its rate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    /// Nothing more (a fast clock stops gaining at [`MAX_AHEAD_S`]).
    Run,
    /// At [`SLEW_RATE`] until the offset is down to `to_s`, then at real speed.
    SlewTo { to_s: f64 },
    /// A forward step of `step_s` every `period`, the next at `next`.
    Strobe {
        step_s: f64,
        period: Duration,
        next: Instant,
    },
    /// At [`SLEW_RATE`] until the clock can be set to the real one exactly without a
    /// step back, then real.
    Settle { since: Instant },
}

/// One node's clock as the driver set it.
#[derive(Debug)]
struct Track {
    /// The setting last written, made at `since`.
    setting: ClockSetting,
    /// When it was written.
    since: Instant,
    /// What comes next.
    plan: Plan,
    /// Specs written since the node's last fault started.
    changes: u64,
    /// The first error since then.
    error: Option<String>,
    /// How long the last settle took, seconds, once done.
    settled_s: Option<f64>,
}

impl Track {
    /// The clock at `now`.
    fn at(&self, now: Instant) -> ClockSetting {
        self.setting
            .after(now.saturating_duration_since(self.since).as_secs_f64())
    }

    /// Writes `setting` through `control` (the track keeps the old one on an error).
    fn write(
        &mut self,
        control: &dyn ClusterControl,
        node: &str,
        now: Instant,
        setting: ClockSetting,
    ) -> std::result::Result<String, String> {
        let spec = control.set_clock(node, setting)?;
        self.setting = setting;
        self.since = now;
        self.changes += 1;
        Ok(spec)
    }

    /// Steps the clock forwards by `step_s` and runs it at `rate` from `now`; a change
    /// of rate adds [`START_SLACK_S`] times the difference as a further forward step,
    /// so that libfaketime's start error cannot make it a step back.
    fn change(
        &mut self,
        control: &dyn ClusterControl,
        node: &str,
        now: Instant,
        step_s: f64,
        rate: f64,
    ) -> std::result::Result<String, String> {
        assert!(step_s >= 0.0, "a clock never steps back");
        let current = self.at(now);
        let slack = START_SLACK_S * (rate - current.rate).abs();
        let next = ClockSetting {
            offset_s: current.offset_s + step_s + slack,
            rate,
        };
        self.write(control, node, now, next)
    }

    /// Whether the clock is far enough behind that `+0 x1` is a step forwards even
    /// with libfaketime's start error in its current spec.
    fn may_become_real(&self, now: Instant) -> bool {
        let current = self.at(now);
        current.offset_s <= -START_SLACK_S * (1.0 - current.rate).abs()
    }

    /// Seconds a settle started at `now` takes (0 when the clock is set real at once).
    fn settle_time(&self, now: Instant) -> f64 {
        if self.may_become_real(now) {
            return 0.0;
        }
        let current = self.at(now);
        let slack = START_SLACK_S * (current.rate - SLEW_RATE).abs();
        let to_lose = current.offset_s + slack + START_SLACK_S * (1.0 - SLEW_RATE);
        to_lose / (1.0 - SLEW_RATE)
    }

    /// One step of the plan at `now`.
    fn tick(
        &mut self,
        control: &dyn ClusterControl,
        node: &str,
        now: Instant,
    ) -> std::result::Result<(), String> {
        match self.plan {
            Plan::Run => {
                if self.setting.rate > 1.0 && self.at(now).offset_s >= MAX_AHEAD_S {
                    self.change(control, node, now, 0.0, 1.0)?;
                }
            }
            Plan::SlewTo { to_s } => {
                if self.at(now).offset_s <= to_s {
                    self.change(control, node, now, 0.0, 1.0)?;
                    self.plan = Plan::Run;
                }
            }
            Plan::Strobe {
                step_s,
                period,
                next,
            } => {
                if now >= next {
                    self.change(control, node, now, step_s, SLEW_RATE)?;
                    self.plan = Plan::Strobe {
                        step_s,
                        period,
                        next: (next + period).max(now),
                    };
                }
            }
            Plan::Settle { since } => {
                if self.may_become_real(now) {
                    self.write(control, node, now, ClockSetting::REAL)?;
                    self.plan = Plan::Run;
                    self.settled_s = Some(now.duration_since(since).as_secs_f64());
                } else if self.setting.rate != SLEW_RATE {
                    self.change(control, node, now, 0.0, SLEW_RATE)?;
                }
            }
        }
        Ok(())
    }

    /// Whether the clock is the real one with nothing pending.
    fn is_real(&self) -> bool {
        self.plan == Plan::Run && self.setting == ClockSetting::REAL
    }
}

/// The nodes' clocks and the control that sets them.
struct Clocks {
    /// How clocks are set.
    control: Arc<dyn ClusterControl>,
    /// Each node's clock, once a fault touched it.
    tracks: Mutex<BTreeMap<String, Track>>,
}

impl Clocks {
    /// The tracks, locked.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Track>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Moves the nodes' clocks for clock faults: applies each change, keeps slews and
/// strobes going in a thread of its own (every 5 ms), and brings clocks back to real
/// time without ever stepping one back: a clock behind steps forwards to it, a clock
/// ahead runs at [`SLEW_RATE`] until real time has caught up.
pub struct ClockDriver {
    /// Shared with the thread.
    clocks: Arc<Clocks>,
    /// Set to stop the thread.
    stop: Arc<AtomicBool>,
    /// The thread.
    thread: Option<JoinHandle<()>>,
}

impl ClockDriver {
    /// Starts the driver's thread.
    pub fn start(control: Arc<dyn ClusterControl>) -> ClockDriver {
        let clocks = Arc::new(Clocks {
            control,
            tracks: Mutex::new(BTreeMap::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, flag) = (Arc::clone(&clocks), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("clock-driver".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    for (node, track) in shared.lock().iter_mut() {
                        if let Err(e) = track.tick(&*shared.control, node, now) {
                            track.error.get_or_insert(e);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .expect("spawning the clock driver thread");
        ClockDriver {
            clocks,
            stop,
            thread: Some(thread),
        }
    }

    /// Starts `change` on `node`'s clock; returns the spec written.
    pub fn begin(&self, node: &str, change: NodeClock) -> std::result::Result<String, String> {
        let now = Instant::now();
        let mut tracks = self.clocks.lock();
        let track = tracks.entry(node.to_string()).or_insert(Track {
            setting: ClockSetting::REAL,
            since: now,
            plan: Plan::Run,
            changes: 0,
            error: None,
            settled_s: None,
        });
        track.changes = 0;
        track.error = None;
        track.settled_s = None;
        let control = &*self.clocks.control;
        let ahead_room = (MAX_AHEAD_S - track.at(now).offset_s).max(0.0);
        let (spec, plan) = match change {
            NodeClock::Forward { step_s } => (
                track.change(control, node, now, step_s.min(ahead_room), 1.0),
                Plan::Run,
            ),
            NodeClock::Back { by_s } => {
                // Below the target by the slack the return to real speed adds.
                let to_s = track.at(now).offset_s - by_s - START_SLACK_S * (1.0 - SLEW_RATE);
                let spec = track.change(control, node, now, 0.0, SLEW_RATE);
                (spec, Plan::SlewTo { to_s })
            }
            NodeClock::Skew { rate } => (track.change(control, node, now, 0.0, rate), Plan::Run),
            NodeClock::Strobe { step_s, period_ms } => {
                let spec = track.change(control, node, now, step_s.min(ahead_room), SLEW_RATE);
                let period = Duration::from_millis(period_ms);
                let next = now + period;
                (
                    spec,
                    Plan::Strobe {
                        step_s,
                        period,
                        next,
                    },
                )
            }
        };
        if spec.is_ok() {
            track.plan = plan;
        }
        spec
    }

    /// Brings `nodes`' clocks back to the real one (the driver finishes it: at once
    /// for a clock behind, after a slew for one ahead). Returns, for each node, its
    /// offset and rate then, the specs written during its fault, its first error, and
    /// how long coming back will take.
    pub fn settle(&self, nodes: &[String]) -> BTreeMap<String, serde_json::Value> {
        let now = Instant::now();
        let mut done = BTreeMap::new();
        for node in nodes {
            if let Some(track) = self.clocks.lock().get_mut(node) {
                let current = track.at(now);
                done.insert(
                    node.clone(),
                    serde_json::json!({
                        "offset_s": round_ms(current.offset_s),
                        "rate": current.rate,
                        "changes": track.changes,
                        "error": track.error,
                        "settle_s": round_ms(track.settle_time(now)),
                    }),
                );
                track.plan = Plan::Settle { since: now };
            }
        }
        done
    }

    /// Settles every clock and waits until each is the real one, at most `limit`.
    /// Returns how long each node's last settle took, seconds, and the nodes still
    /// not real (with their offsets) when the limit ran out.
    pub fn settle_all(&self, limit: Duration) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
        let settling: Vec<String> = self
            .clocks
            .lock()
            .iter()
            .filter(|(_, track)| !track.is_real())
            .map(|(node, _)| node.clone())
            .collect();
        self.settle(&settling);
        let deadline = Instant::now() + limit;
        loop {
            let tracks = self.clocks.lock();
            let now = Instant::now();
            let pending: BTreeMap<String, f64> = settling
                .iter()
                .filter(|n| !tracks[*n].is_real())
                .map(|n| (n.clone(), round_ms(tracks[n].at(now).offset_s)))
                .collect();
            if pending.is_empty() || now >= deadline {
                let took = settling
                    .iter()
                    .filter_map(|n| Some((n.clone(), round_ms(tracks[n].settled_s?))))
                    .collect();
                return (took, pending);
            }
            drop(tracks);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The longest a settle can take: a clock at most [`MAX_AHEAD_S`] ahead (plus the
    /// slack of its changes) slewed back at [`SLEW_RATE`].
    pub fn longest_settle() -> Duration {
        Duration::from_secs_f64((MAX_AHEAD_S + 2.0) / (1.0 - SLEW_RATE))
    }
}

impl Drop for ClockDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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
        let (mut forward, mut back) = (0, 0);
        for _ in 0..200 {
            match NodeClock::draw(ClockMode::Jump, false, &mut rng) {
                NodeClock::Forward { step_s } => {
                    assert!((1.0..=MAX_AHEAD_S).contains(&step_s));
                    forward += 1
                }
                NodeClock::Back { by_s } => {
                    assert!((1.0..=MAX_AHEAD_S).contains(&by_s));
                    back += 1
                }
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Skew, true, &mut rng) {
                NodeClock::Skew { rate } => assert!((0.2..=0.6).contains(&rate), "{rate}"),
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Skew, false, &mut rng) {
                NodeClock::Skew { rate } => assert!((1.5..=4.0).contains(&rate), "{rate}"),
                other => panic!("{other:?}"),
            }
            match NodeClock::draw(ClockMode::Strobe, false, &mut rng) {
                NodeClock::Strobe { step_s, period_ms } => {
                    assert!((0.05..=1.0).contains(&step_s));
                    // The period is as long as slewing the step back takes.
                    let back_ms = step_s / (1.0 - SLEW_RATE) * 1000.0;
                    assert!(period_ms as f64 >= back_ms && (period_ms as f64) < back_ms + 1.0);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(forward > 0 && back > 0);
    }

    /// A cluster whose clock settings are recorded with the (real) time they were made.
    struct Recorder(Mutex<Vec<(Instant, ClockSetting)>>);

    impl ClusterControl for Recorder {
        fn nodes(&self) -> Vec<String> {
            vec!["n1".into()]
        }
        fn pid(&self, _: &str) -> Option<i32> {
            None
        }
        fn ip(&self, _: &str) -> Option<std::net::IpAddr> {
            None
        }
        fn host(&self, _: &str) -> Option<crate::host::Host> {
            None
        }
        fn restart(&self, _: &str) -> std::result::Result<(), String> {
            Ok(())
        }
        fn leader(&self) -> Option<String> {
            None
        }
        fn set_crash_point(
            &self,
            _: &str,
            _: crate::schedule::CrashPoint,
            _: Option<Duration>,
        ) -> std::result::Result<(), String> {
            Ok(())
        }
        fn set_clock(&self, _: &str, setting: ClockSetting) -> std::result::Result<String, String> {
            let mut log = self.0.lock().unwrap();
            log.push((Instant::now(), setting));
            Ok(setting.spec(0.0))
        }
    }

    /// Checks that no change can step the clock back: each adds at least
    /// [`START_SLACK_S`] times its change of rate as a forward step, which covers
    /// libfaketime's start error, and the exact `+0 x1` comes only when the clock is
    /// behind by more than that error. Returns the log.
    fn never_back(recorder: &Recorder) -> Vec<(Instant, ClockSetting)> {
        let log = recorder.0.lock().unwrap().clone();
        for pair in log.windows(2) {
            let ((t0, before), (t1, after)) = (pair[0], pair[1]);
            let was = before.after(t1.duration_since(t0).as_secs_f64());
            if after == ClockSetting::REAL {
                let worst = was.offset_s + START_SLACK_S * (1.0 - was.rate).abs();
                assert!(worst <= 1e-3, "stepped back to real time: {was:?}");
            } else {
                let slack = START_SLACK_S * (after.rate - was.rate).abs();
                assert!(
                    // (1 ms: the recorder's clock reading is not the driver's)
                    after.offset_s - was.offset_s >= slack - 1e-3,
                    "stepped back: {was:?} -> {after:?}"
                );
            }
        }
        log
    }

    #[test]
    fn clocks_come_back_to_real_time_without_a_step_back() {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let driver = ClockDriver::start(Arc::clone(&recorder) as Arc<dyn ClusterControl>);
        let node = ["n1".to_string()];
        // Ahead by 0.5 s, then healed: slewed back, then exactly real.
        driver
            .begin("n1", NodeClock::Forward { step_s: 0.5 })
            .unwrap();
        let healed = driver.settle(&node);
        let expect = healed["n1"]["settle_s"].as_f64().unwrap();
        assert!(expect > 0.5 / (1.0 - SLEW_RATE), "{healed:?}");
        let (took, pending) = driver.settle_all(Duration::from_secs(10));
        assert!(pending.is_empty(), "{pending:?}");
        assert!(took["n1"] >= 0.5, "{took:?}");
        let log = never_back(&recorder);
        assert_eq!(log.last().unwrap().1, ClockSetting::REAL);
        assert!(log.iter().any(|(_, s)| s.rate == SLEW_RATE), "{log:?}");
        // Behind (a backward jump slewed), fast, strobed: each healed, never back.
        recorder.0.lock().unwrap().clear();
        driver.begin("n1", NodeClock::Back { by_s: 0.05 }).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        driver.begin("n1", NodeClock::Skew { rate: 3.0 }).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        driver
            .begin(
                "n1",
                NodeClock::Strobe {
                    step_s: 0.05,
                    period_ms: 56,
                },
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let strobed = recorder.0.lock().unwrap().len();
        assert!(strobed >= 5, "the strobe kept stepping: {strobed} changes");
        let (_, pending) = driver.settle_all(Duration::from_secs(10));
        assert!(pending.is_empty(), "{pending:?}");
        let log = never_back(&recorder);
        assert_eq!(log.last().unwrap().1, ClockSetting::REAL);
        // A backward jump: slewed until that far behind, then real speed.
        recorder.0.lock().unwrap().clear();
        driver.begin("n1", NodeClock::Back { by_s: 0.09 }).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        let log = never_back(&recorder);
        let last = log.last().unwrap().1;
        assert_eq!(last.rate, 1.0, "{log:?}");
        assert!((last.offset_s + 0.09).abs() < 0.01, "{last:?}");
        // Behind and at real speed: healed by a step forwards at once.
        let healed = driver.settle(&node);
        assert_eq!(healed["n1"]["settle_s"].as_f64(), Some(0.0), "{healed:?}");
        let (_, pending) = driver.settle_all(Duration::from_secs(1));
        assert!(pending.is_empty());
        assert_eq!(never_back(&recorder).last().unwrap().1, ClockSetting::REAL);
    }

    #[test]
    fn a_fast_clock_stops_gaining_at_the_limit() {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let driver = ClockDriver::start(Arc::clone(&recorder) as Arc<dyn ClusterControl>);
        driver
            .begin(
                "n1",
                NodeClock::Forward {
                    step_s: MAX_AHEAD_S - 0.05,
                },
            )
            .unwrap();
        // Already at the limit: a further forward jump is no step at all.
        driver
            .begin("n1", NodeClock::Forward { step_s: 5.0 })
            .unwrap();
        driver.begin("n1", NodeClock::Skew { rate: 4.0 }).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let log = never_back(&recorder);
        assert_eq!(log.last().unwrap().1.rate, 1.0, "{log:?}");
        assert!(
            log.iter().all(|(_, s)| s.offset_s < MAX_AHEAD_S + 1.0),
            "{log:?}"
        );
        assert!(log[1].1.offset_s < MAX_AHEAD_S + 1e-6, "{log:?}");
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
