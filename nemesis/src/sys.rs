//! Running the system tools the nemesis relies on (`ip`, `iptables`), either in the
//! controller's own network namespace or inside a node's namespace. Entering a
//! namespace is done with setns(2) in the child between fork and exec, so the program
//! started is the direct child and its pid is the one we record. Also the bounded
//! wait ([`poll_until`]) with which every removal checks that what it removed is gone.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;

use crate::error::{Error, Result};

/// Directory where `ip netns` keeps its named namespace handles.
pub const NETNS_DIR: &str = "/run/netns";

/// Makes `cmd` enter the named network namespace before it execs.
pub fn enter_netns(cmd: &mut Command, namespace: &str) -> Result<()> {
    let path = format!("{NETNS_DIR}/{namespace}");
    let handle = File::open(&path).map_err(|e| Error::io(format!("opening {path}"), e))?;
    // SAFETY: the closure runs between fork and exec and only calls setns(2), which is
    // async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(&handle, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    Ok(())
}

/// Runs `program args...` (inside `namespace` when given) and returns its stdout.
/// A non-zero exit becomes [`Error::Command`] carrying stderr.
pub fn run(program: &str, args: &[&str], namespace: Option<&str>) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(ns) = namespace {
        enter_netns(&mut cmd, ns)?;
    }
    let line = describe(program, args, namespace);
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("running `{line}`"), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command: line,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// A printable command line, prefixed with the namespace it runs in.
pub fn describe(program: &str, args: &[&str], namespace: Option<&str>) -> String {
    let mut line = String::new();
    if let Some(ns) = namespace {
        line.push_str(&format!("[netns {ns}] "));
    }
    line.push_str(program);
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    line
}

/// True when `program` is found in `PATH` (or is an existing path): exactly where
/// [`run`] looks for it, so a program hidden from `PATH` counts as missing.
pub fn has_program(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// The last `lines` lines of `text`, each prefixed with `  | ` (log tails in
/// messages).
pub fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// True when a network namespace with this name exists.
pub fn netns_exists(namespace: &str) -> bool {
    std::path::Path::new(NETNS_DIR).join(namespace).exists()
}

/// True when a network interface with this name exists in the root namespace.
pub fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// How long a removal (SIGKILL, `ip link del`, `iptables -D`, ...) is given to take
/// effect before it is reported as failed. Generous: on a busy machine a killed process
/// may wait a while to be scheduled and exit.
pub const REMOVAL_GRACE: Duration = Duration::from_secs(5);

/// Checks `done` every few milliseconds until it is true or `bound` has passed; true
/// when it became true. `done` is always checked at least once, and once more at the
/// bound.
pub fn poll_until(bound: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10).min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_until_sees_a_condition_that_becomes_true() {
        let mut calls = 0;
        assert!(poll_until(Duration::from_secs(60), || {
            calls += 1;
            calls == 3
        }));
        assert_eq!(calls, 3);
    }

    #[test]
    fn last_lines_keeps_the_end_marked() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "  | b\n  | c");
        assert_eq!(last_lines("a", 5), "  | a");
        assert_eq!(last_lines("", 5), "");
    }

    #[test]
    fn poll_until_gives_up_at_the_bound() {
        let mut calls = 0;
        assert!(!poll_until(Duration::from_millis(30), || {
            calls += 1;
            false
        }));
        assert!(calls >= 2, "checked at the start and at the bound: {calls}");
    }
}
