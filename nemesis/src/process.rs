//! Processes and signals: reading a process's identity from `/proc` (pid plus start
//! time, so a recycled pid is never mistaken for ours) and delivering SIGKILL, SIGSTOP
//! and SIGCONT. A node runs in its own process group, so signals go to the whole group
//! when the pid leads one, which also reaches helpers the node may have started.
//! A kill is reported done only once `/proc` shows the process gone or a zombie
//! ([`kill_confirmed`]).

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::sys;

/// The fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process state letter: `R`, `S`, `D`, `T` (stopped), `t`, `Z` (zombie), ...
    pub state: char,
    /// Start time in clock ticks after boot; with the pid it identifies one process.
    pub start_time: u64,
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses the text of a `/proc/PID/stat` file (read here or on a remote host).
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is fields[0], field 22 (starttime) is fields[19].
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// The start time of `pid`, or `None` when it does not exist.
pub fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|s| s.start_time)
}

/// True when `pid` exists, is not a zombie, and started at `start_time`.
pub fn is_same_process(pid: i32, start_time: u64) -> bool {
    matches!(proc_stat(pid), Some(s) if s.start_time == start_time && s.state != 'Z')
}

/// True when `pid` exists and is not a zombie (a killed node not yet reaped is not
/// running).
pub fn is_running(pid: i32) -> bool {
    matches!(proc_stat(pid), Some(s) if s.state != 'Z')
}

/// Sends `sig` to `pid`, or to its whole process group when `pid` leads one.
/// A process that is already gone (ESRCH) is not an error.
pub fn send_signal(pid: i32, sig: Signal) -> Result<()> {
    assert!(
        pid > 0,
        "signal target must be a single positive pid, got {pid}"
    );
    let target = Pid::from_raw(pid);
    let leads_group = nix::unistd::getpgid(Some(target)).is_ok_and(|g| g == target);
    let res = if leads_group {
        signal::killpg(target, sig)
    } else {
        signal::kill(target, sig)
    };
    match res {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(errno) => Err(Error::Signal {
            signal: sig.as_str().to_string(),
            pid,
            errno,
        }),
    }
}

/// SIGKILLs `pid` (its group when it leads one) and waits, up to
/// [`sys::REMOVAL_GRACE`], until the process that started at `start_time` is gone or a
/// zombie. [`Error::StillPresent`] ("still running after SIGKILL") when it is not.
pub fn kill_confirmed(pid: i32, start_time: u64) -> Result<()> {
    send_signal(pid, Signal::SIGKILL)?;
    confirm_gone(pid, start_time, sys::REMOVAL_GRACE)
}

/// Waits up to `bound` until the process `pid` that started at `start_time` is gone or
/// a zombie; [`Error::StillPresent`] when it is still running.
pub fn confirm_gone(pid: i32, start_time: u64, bound: std::time::Duration) -> Result<()> {
    if sys::poll_until(bound, || !is_same_process(pid, start_time)) {
        Ok(())
    } else {
        Err(Error::StillPresent {
            what: format!("process {pid}"),
            state: "running after SIGKILL".into(),
            waited: bound,
        })
    }
}

/// True when this process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat() {
        let me = std::process::id() as i32;
        let stat = proc_stat(me).expect("own /proc entry");
        assert!(stat.start_time > 0);
        assert!(is_same_process(me, stat.start_time));
        assert!(!is_same_process(me, stat.start_time + 1));
    }

    /// A `sleep 600` child, its pid and start time.
    fn sleeper() -> (std::process::Child, i32, u64) {
        let child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        (child, pid, start)
    }

    /// A child that ignores nothing but is stopped (SIGSTOP) and so cannot run its own
    /// exit until SIGKILL wakes it: the kill is confirmed only once it is a zombie.
    #[test]
    fn kill_of_a_stopped_process_is_confirmed_once_it_is_gone() {
        let (mut child, pid, start) = sleeper();
        send_signal(pid, Signal::SIGSTOP).unwrap();
        assert!(sys::poll_until(std::time::Duration::from_secs(60), || {
            proc_stat(pid).is_some_and(|s| s.state == 'T')
        }));
        kill_confirmed(pid, start).unwrap();
        assert!(
            !is_same_process(pid, start),
            "confirmed kill left it running"
        );
        assert!(!child.wait().unwrap().success());
    }

    /// A process nobody kills is reported still running once the bound has passed.
    #[test]
    fn a_process_that_does_not_die_is_reported_still_running() {
        let (mut child, pid, start) = sleeper();
        let err = confirm_gone(pid, start, std::time::Duration::from_millis(50))
            .unwrap_err()
            .to_string();
        assert!(err.contains("still running after SIGKILL"), "{err}");
        child.kill().unwrap();
        child.wait().unwrap();
        confirm_gone(pid, start, std::time::Duration::from_secs(60)).unwrap();
    }

    #[test]
    fn missing_process_has_no_stat() {
        // pid_max is at most 2^22, so this pid cannot exist.
        assert_eq!(proc_stat(i32::MAX), None);
    }
}
