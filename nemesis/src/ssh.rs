//! Remote hosts over SSH: how a command reaches a machine the controller does not
//! run on (a VM, or a stand-in made by `scripts/ssh-standins.sh`).
//!
//! The system OpenSSH client is used, so the user's `~/.ssh/config`, agent and
//! `known_hosts` are honoured. Every command of one host shares one multiplexed
//! connection (`ControlMaster=auto` with a control socket per host under
//! `/tmp/fl-ssh-<uid>/`; `ControlPersist` lets the master outlive a controller that
//! was killed by only a few seconds). `BatchMode=yes` turns any password or host-key
//! prompt into an error, and every command has a timeout of its own: the ssh client is
//! killed when it passes, so an unreachable host never blocks the controller.
//!
//! The remote side is a POSIX shell with coreutils, `/proc`, `setsid` and `kill`; a
//! user other than root runs every command through `sudo -n`. Nodes run as daemons in
//! their own session (`setsid`), with a pid file and their log in the node's folder
//! under the host's `remote_dir`; a process is identified by its pid and the start
//! time read from the host's `/proc/PID/stat`, as on the controller's own machine.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::process::{self, ProcStat};
use crate::sys;

/// How long one ordinary remote command may take, connection included.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// How long an upload of a program may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// How one host is reached: everything `ssh` needs, also written into the cleanup
/// journal so that `faultline cleanup` can reach the host after the controller died.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// The node name this host carries (`n1`).
    pub name: String,
    /// What ssh connects to (a name or an address).
    pub address: String,
    /// The login user; `None`: ssh's default (the configuration, else the current user).
    pub user: Option<String>,
    /// The ssh port.
    pub port: u16,
    /// The private key; `None`: the user's ssh configuration and agent.
    pub identity: Option<PathBuf>,
    /// Whether an unknown or changed host key refuses the connection.
    pub strict_host_key_checking: bool,
    /// A known_hosts file to use instead of the user's.
    pub known_hosts: Option<PathBuf>,
    /// Where binaries, data and logs go on the host.
    pub remote_dir: PathBuf,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.user {
            Some(user) => write!(f, "{} ({user}@{}:{})", self.name, self.address, self.port),
            None => write!(f, "{} ({}:{})", self.name, self.address, self.port),
        }
    }
}

/// A connection to one host: the commands of a run and of its cleanup go through it.
#[derive(Debug)]
pub struct Session {
    /// Where it goes.
    target: Target,
    /// The control socket of the multiplexed connection.
    control_path: PathBuf,
    /// Whether commands go through `sudo -n` (the login user is not root).
    sudo: AtomicBool,
    /// Programs already uploaded in this session: local path → path on the host.
    uploads: Mutex<BTreeMap<PathBuf, PathBuf>>,
}

/// What a successful preflight found on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// Whether commands need `sudo -n`.
    pub sudo: bool,
    /// Free space in `remote_dir` (or its nearest existing parent), in MiB.
    pub free_mib: u64,
}

/// Free space below which a host is refused.
const MIN_FREE_MIB: u64 = 512;

impl Session {
    /// A session to `target`; nothing is connected until the first command.
    pub fn new(target: Target) -> Session {
        let uid = nix::unistd::geteuid();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let key = format!("{:?}@{}:{}", target.user, target.address, target.port);
        for b in key.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let control_path = std::env::temp_dir()
            .join(format!("fl-ssh-{uid}"))
            .join(format!("{h:016x}"));
        Session {
            target,
            control_path,
            sudo: AtomicBool::new(false),
            uploads: Mutex::new(BTreeMap::new()),
        }
    }

    /// The session of this process to `target`: the one a run opened (and checked
    /// with [`Session::preflight`]), or for undoing changes after a run (`faultline
    /// cleanup`) a new one that first finds out whether commands need `sudo -n`; fails
    /// when the host cannot be reached.
    pub fn reconnect(target: &Target) -> Result<Arc<Session>> {
        if let Some(session) = registry().get(target) {
            return Ok(Arc::clone(session));
        }
        let session = Session::new(target.clone());
        let out = session.run(
            "id -u; if sudo -n true 2>/dev/null; then echo sudo; fi",
            COMMAND_TIMEOUT,
        )?;
        let root = out.lines().next().map(str::trim) == Some("0");
        session
            .sudo
            .store(!root && out.contains("sudo"), Ordering::Relaxed);
        let session = Arc::new(session);
        registry().insert(target.clone(), Arc::clone(&session));
        Ok(session)
    }

    /// Where this session goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The ssh command line up to (and including) the destination.
    fn ssh(&self) -> Command {
        let t = &self.target;
        let mut cmd = Command::new("ssh");
        cmd.args(["-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
            .args(["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"])
            .args(["-o", "ControlMaster=auto", "-o", "ControlPersist=10"])
            .arg("-o")
            .arg(format!("ControlPath={}", self.control_path.display()))
            .arg("-p")
            .arg(t.port.to_string());
        let strict = if t.strict_host_key_checking {
            "yes"
        } else {
            "no"
        };
        cmd.arg("-o").arg(format!("StrictHostKeyChecking={strict}"));
        if let Some(known) = &t.known_hosts {
            cmd.arg("-o")
                .arg(format!("UserKnownHostsFile={}", known.display()));
        }
        if let Some(identity) = &t.identity {
            cmd.arg("-i")
                .arg(identity)
                .args(["-o", "IdentitiesOnly=yes"]);
        }
        if let Some(user) = &t.user {
            cmd.arg("-l").arg(user);
        }
        cmd.arg(&t.address);
        cmd
    }

    /// Runs `script` with the remote shell (as root: through `sudo -n` when needed)
    /// and returns its stdout. Exit status 255 (ssh's own failure) is
    /// [`Error::Unreachable`]; another non-zero status is [`Error::Command`].
    pub fn run(&self, script: &str, timeout: Duration) -> Result<String> {
        self.run_with(script, Stdio::null(), timeout)
    }

    /// Like [`Session::run`], with `stdin` fed to the remote command.
    fn run_with(&self, script: &str, stdin: Stdio, timeout: Duration) -> Result<String> {
        std::fs::create_dir_all(
            self.control_path
                .parent()
                .expect("control path has a folder"),
        )
        .map_err(|e| Error::io("creating the ssh control folder", e))?;
        let remote = if self.sudo.load(Ordering::Relaxed) {
            format!("sudo -n sh -c {}", quote(script))
        } else {
            script.to_string()
        };
        let mut cmd = self.ssh();
        cmd.arg(remote)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("[ssh {}] {}", self.target, first_line(script));
        let mut child = cmd.spawn().map_err(|e| {
            Error::io(
                format!("running ssh (is openssh-client installed?) for {what}"),
                e,
            )
        })?;
        let mut out = child.stdout.take().expect("stdout is piped");
        let mut err = child.stderr.take().expect("stderr is piped");
        let reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(Error::io(format!("waiting for {what}"), e)),
            }
        };
        let stdout = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default())
            .trim()
            .to_string();
        match status {
            None => Err(Error::Unreachable {
                host: self.target.to_string(),
                detail: format!("`{}` did not finish within {timeout:?}", first_line(script)),
            }),
            Some(s) if s.success() => Ok(stdout),
            Some(s) if s.code() == Some(255) => Err(Error::Unreachable {
                host: self.target.to_string(),
                detail: stderr,
            }),
            Some(_) => Err(Error::Command {
                command: what,
                stderr,
            }),
        }
    }

    /// Checks the host can carry a node: reachable, root or passwordless sudo,
    /// `iptables` present and runnable (when `iptables` is asked: `iptables -V` runs,
    /// which a file that is found but cannot be executed fails), enough free disk in
    /// `remote_dir`.
    /// Afterwards commands use sudo when the user is not root.
    pub fn preflight(&self, iptables: bool) -> Result<Preflight> {
        let dir = quote(&self.target.remote_dir.to_string_lossy());
        let script = format!(
            "echo uid=$(id -u); if sudo -n true 2>/dev/null; then echo sudo=yes; fi; \
             if PATH=$PATH:/usr/sbin:/sbin iptables -V >/dev/null 2>&1; then echo iptables=yes; fi; \
             d={dir}; while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done; \
             echo free=$(df -Pk \"$d\" | awk 'NR==2 {{print $4}}')"
        );
        let out = self.run(&script, COMMAND_TIMEOUT)?;
        let found = judge(&self.target, &out, iptables)?;
        self.sudo.store(found.sudo, Ordering::Relaxed);
        Ok(found)
    }

    /// Makes this (preflighted) session the one [`Session::reconnect`] hands out for
    /// its target in this process, so undoing a change during the run reuses it.
    pub fn register(self: &Arc<Session>) {
        registry().insert(self.target.clone(), Arc::clone(self));
    }

    /// Copies the local program to `remote_dir/bin/<name>` unless a file with the same
    /// SHA-256 is there already; returns the remote path and whether it was copied.
    pub fn upload(&self, local: &Path) -> Result<(PathBuf, bool)> {
        let name = local
            .file_name()
            .ok_or_else(|| Error::Unsupported(format!("{} has no file name", local.display())))?;
        let remote = self.target.remote_dir.join("bin").join(name);
        let sum = sys::run("sha256sum", &[&local.to_string_lossy()], None)?;
        let sum = sum
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let r = quote(&remote.to_string_lossy());
        let there = self.run(
            &format!("sha256sum {r} 2>/dev/null | cut -d' ' -f1 || true"),
            COMMAND_TIMEOUT,
        )?;
        if there.trim() == sum {
            return Ok((remote, false));
        }
        let file = std::fs::File::open(local)
            .map_err(|e| Error::io(format!("opening {}", local.display()), e))?;
        self.run_with(
            &format!(
                "mkdir -p $(dirname {r}) && cat > {r}.part && chmod 755 {r}.part && mv {r}.part {r}"
            ),
            Stdio::from(file),
            UPLOAD_TIMEOUT,
        )?;
        Ok((remote, true))
    }

    /// The program's path on the host, uploaded by [`Session::upload`] the first time
    /// this session is asked for it.
    pub fn uploaded(&self, local: &Path) -> Result<PathBuf> {
        let mut uploads = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(remote) = uploads.get(local) {
            return Ok(remote.clone());
        }
        let (remote, _) = self.upload(local)?;
        uploads.insert(local.to_path_buf(), remote.clone());
        Ok(remote)
    }

    /// Creates a folder on the host.
    pub fn make_dir(&self, dir: &Path) -> Result<()> {
        self.run(
            &format!("mkdir -p {}", quote(&dir.to_string_lossy())),
            COMMAND_TIMEOUT,
        )
        .map(drop)
    }

    /// Starts `program args...` as a daemon in its own session, stdin from /dev/null,
    /// stdout and stderr appended to `log`, its pid and start time written to
    /// [`pid_file`]`(log)`; returns its pid and start time.
    pub fn spawn(&self, program: &Path, args: &[String], log: &Path) -> Result<(i32, u64)> {
        let mut line = quote(&program.to_string_lossy());
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        let log = quote(&log.to_string_lossy());
        let script = format!(
            "mkdir -p $(dirname {log}) && cd / || exit 1
             setsid {line} < /dev/null >> {log} 2>&1 &
             pid=$!; stat=$(cat /proc/$pid/stat)
             echo \"$pid $(echo \"$stat\" | sed 's/.*) //' | cut -d' ' -f20)\" > {log}.pid
             echo \"$stat\""
        );
        let out = self.run(&script, COMMAND_TIMEOUT)?;
        let pid = out
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .ok_or_else(|| Error::Command {
                command: format!("[ssh {}] starting {line}", self.target),
                stderr: format!("no pid in {out:?}"),
            })?;
        let start = process::parse_stat(&out).map_or(0, |s| s.start_time);
        Ok((pid, start))
    }

    /// Kills the daemon whose pid file is `pid_file`, if it is still the process the
    /// file names (pid and start time); a missing file means it never started.
    pub fn kill_by_pid_file(&self, pid_file: &Path) -> Result<()> {
        let out = self.run(
            &format!(
                "cat {} 2>/dev/null || true",
                quote(&pid_file.to_string_lossy())
            ),
            COMMAND_TIMEOUT,
        )?;
        let mut words = out.split_whitespace().map(str::parse::<u64>);
        match (words.next(), words.next()) {
            (Some(Ok(pid)), Some(Ok(start))) if pid > 0 && pid <= i32::MAX as u64 => {
                self.kill_confirmed(pid as i32, start)
            }
            _ => Ok(()),
        }
    }

    /// The `/proc/PID/stat` fields of a process on the host; `None` when it is gone.
    pub fn stat(&self, pid: i32) -> Result<Option<ProcStat>> {
        let out = self.run(
            &format!("cat /proc/{pid}/stat 2>/dev/null || true"),
            COMMAND_TIMEOUT,
        )?;
        Ok(process::parse_stat(&out))
    }

    /// True when the process that started at `start_time` still runs (not a zombie).
    pub fn is_same_process(&self, pid: i32, start_time: u64) -> Result<bool> {
        Ok(self
            .stat(pid)?
            .is_some_and(|s| s.start_time == start_time && s.state != 'Z'))
    }

    /// Sends `sig` to the process group `pid` leads (or to `pid` alone); a process
    /// that is gone is not an error.
    pub fn signal(&self, pid: i32, sig: Signal) -> Result<()> {
        assert!(
            pid > 0,
            "signal target must be a single positive pid, got {pid}"
        );
        let name = sig.as_str().trim_start_matches("SIG");
        self.run(
            &format!(
                "kill -{name} -- -{pid} 2>/dev/null || kill -{name} {pid} 2>/dev/null || true"
            ),
            COMMAND_TIMEOUT,
        )
        .map(drop)
    }

    /// SIGKILLs the process (if it is still the one that started at `start_time`) and
    /// waits up to [`sys::REMOVAL_GRACE`] until it is gone or a zombie.
    pub fn kill_confirmed(&self, pid: i32, start_time: u64) -> Result<()> {
        if !self.is_same_process(pid, start_time)? {
            return Ok(());
        }
        self.signal(pid, Signal::SIGKILL)?;
        self.confirm_gone(pid, start_time, "running after SIGKILL")
    }

    /// Waits up to [`sys::REMOVAL_GRACE`] until the process that started at
    /// `start_time` is gone or a zombie; otherwise says it is still `state`.
    pub fn confirm_gone(&self, pid: i32, start_time: u64, state: &str) -> Result<()> {
        let mut failure = None;
        let gone = sys::poll_until(sys::REMOVAL_GRACE, || {
            match self.is_same_process(pid, start_time) {
                Ok(alive) => !alive,
                Err(e) => {
                    failure = Some(e);
                    true
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if gone {
            Ok(())
        } else {
            Err(Error::StillPresent {
                what: format!("process {pid} on {}", self.target),
                state: state.into(),
                waited: sys::REMOVAL_GRACE,
            })
        }
    }

    /// Runs `iptables -w <args>` on the host and returns its stdout.
    pub fn iptables(&self, args: &[&str]) -> Result<String> {
        let line: Vec<String> = args.iter().map(|a| quote(a)).collect();
        self.run(
            &format!("PATH=$PATH:/usr/sbin:/sbin iptables -w {}", line.join(" ")),
            COMMAND_TIMEOUT,
        )
    }

    /// Deletes the iptables rule `-A <args>` (a missing rule is fine) and says
    /// whether it is still there afterwards.
    pub fn remove_rule(&self, args: &[String]) -> Result<bool> {
        let spec: Vec<String> = args.iter().map(|a| quote(a)).collect();
        let spec = spec.join(" ");
        let out = self.run(
            &format!(
                "PATH=$PATH:/usr/sbin:/sbin; command -v iptables >/dev/null || exit 127
                 iptables -w -D {spec} 2>/dev/null
                 if iptables -w -C {spec} 2>/dev/null; then echo present; fi"
            ),
            COMMAND_TIMEOUT,
        )?;
        Ok(out.contains("present"))
    }

    /// The last `lines` lines of a file on the host.
    pub fn tail(&self, path: &Path, lines: usize) -> Result<String> {
        self.run(
            &format!(
                "tail -n {lines} {} 2>&1 || true",
                quote(&path.to_string_lossy())
            ),
            COMMAND_TIMEOUT,
        )
    }

    /// Copies a file from the host to `local` (created with its folders).
    pub fn fetch(&self, remote: &Path, local: &Path) -> Result<()> {
        if let Some(dir) = local.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let text = self.run(
            &format!("cat {}", quote(&remote.to_string_lossy())),
            UPLOAD_TIMEOUT,
        )?;
        std::fs::write(local, text)
            .map_err(|e| Error::io(format!("writing {}", local.display()), e))
    }

    /// Ends the multiplexed connection (if one runs).
    pub fn close(&self) {
        if self.control_path.exists() {
            let _ = self
                .ssh()
                .args(["-O", "exit"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The sessions of this process, by target.
fn registry() -> std::sync::MutexGuard<'static, BTreeMap<Target, Arc<Session>>> {
    static SESSIONS: Mutex<BTreeMap<Target, Arc<Session>>> = Mutex::new(BTreeMap::new());
    SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the preflight script printed (`uid=`, `sudo=yes`, `iptables=yes`, `free=` KiB)
/// judged: the host's [`Preflight`], or everything it lacks, named.
fn judge(target: &Target, out: &str, iptables: bool) -> Result<Preflight> {
    let field = |k: &str| {
        out.lines().find_map(|l| {
            l.strip_prefix(&format!("{k}="))
                .map(str::trim)
                .map(str::to_string)
        })
    };
    let mut missing = Vec::new();
    let root = field("uid").as_deref() == Some("0");
    let sudo = !root && field("sudo").is_some();
    if !root && !sudo {
        missing.push("root or passwordless sudo for the login user".to_string());
    }
    if iptables && field("iptables").is_none() {
        missing.push("iptables (partitions need it: apt-get install -y iptables)".to_string());
    }
    let free_mib = field("free")
        .and_then(|f| f.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024);
    if free_mib < MIN_FREE_MIB {
        missing.push(format!(
            "{MIN_FREE_MIB} MiB free in {} (has {free_mib} MiB)",
            target.remote_dir.display()
        ));
    }
    if !missing.is_empty() {
        return Err(Error::Unsupported(format!(
            "host {} lacks {}",
            target,
            missing.join("; and ")
        )));
    }
    Ok(Preflight { sudo, free_mib })
}

/// The pid file of a daemon whose log is `log`: `<log>.pid`, holding `PID START_TIME`.
pub fn pid_file(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_os_string();
    name.push(".pid");
    PathBuf::from(name)
}

/// `s` as one word for a POSIX shell.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The first line of a script, for messages.
fn first_line(script: &str) -> &str {
    script.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_names_everything_a_host_lacks() {
        let target = Target {
            name: "n2".into(),
            address: "10.0.0.2".into(),
            user: Some("alice".into()),
            port: 22,
            identity: None,
            strict_host_key_checking: true,
            known_hosts: None,
            remote_dir: "/var/lib/faultline".into(),
        };
        let ok = judge(&target, "uid=0\niptables=yes\nfree=2097152\n", true).unwrap();
        assert_eq!(
            ok,
            Preflight {
                sudo: false,
                free_mib: 2048
            }
        );
        let sudo = judge(&target, "uid=1000\nsudo=yes\nfree=2097152\n", false).unwrap();
        assert!(sudo.sudo);
        let err = judge(&target, "uid=1000\nfree=100\n", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("host n2 (alice@10.0.0.2:22) lacks"), "{err}");
        assert!(err.contains("root or passwordless sudo"), "{err}");
        assert!(err.contains("iptables (partitions need it"), "{err}");
        assert!(
            err.contains("512 MiB free in /var/lib/faultline (has 0 MiB)"),
            "{err}"
        );
    }

    #[test]
    fn quoting_keeps_words_whole() {
        assert_eq!(quote("n1=10.0.0.1:7000"), "n1=10.0.0.1:7000");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn an_unreachable_host_is_named_and_does_not_block() {
        // Port 1 on loopback refuses at once; ssh exits 255.
        let session = Session::new(Target {
            name: "n9".into(),
            address: "127.0.0.1".into(),
            user: Some("nobody".into()),
            port: 1,
            identity: None,
            strict_host_key_checking: true,
            known_hosts: None,
            remote_dir: "/tmp/x".into(),
        });
        if !crate::preflight::test_can_run(&[crate::preflight::Need::Program("ssh")]) {
            return;
        }
        let err = session.run("true", Duration::from_secs(30)).unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("n9"), "{err}");
    }
}
