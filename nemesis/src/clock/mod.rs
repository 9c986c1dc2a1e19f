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
//!
//! The parts: [`ClockSetting`] is a clock relative to the real one and the libfaketime
//! spec that makes it true (`setting`); [`NodeClock`] is what a fault does to one
//! node's clock, drawn from the run's seed (`change`); the [`ClockDriver`] applies
//! changes and keeps slews, strobes and settles going in a thread (`driver`), over one
//! track per node (`track`); `faketime` finds the library, preloads it into a node
//! and writes and removes its control file; `elf` is [`check_binary`].

mod change;
mod driver;
mod elf;
mod faketime;
mod setting;
mod track;

pub use change::NodeClock;
pub use driver::ClockDriver;
pub use elf::check_binary;
pub use faketime::{find_library, preload, record_shared_memory, set, CONTROL_FILE, LIBRARY};
pub(crate) use faketime::{remove, remove_files, shared_memory_files};
pub use setting::ClockSetting;

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

/// Rounds seconds to whole milliseconds (for readable histories).
fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}
