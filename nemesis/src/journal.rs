//! The cleanup journal: a JSON-lines file in the run folder that records every change
//! the run makes to the machine *before* it makes it (written and fsynced), and every
//! undo after it is done. If the controller dies (SIGKILL, power cut of the terminal,
//! a panic), [`Cleanup::from_journal`] reads the file and undoes whatever is still
//! outstanding, in a safe order: resume paused processes, kill processes that are
//! still the ones we started (pid *and* start time from `/proc/PID/stat` must match,
//! so a recycled pid is never killed), delete iptables rules and qdiscs, delete veths,
//! namespaces (after killing anything left inside) and finally the bridge. Every undo
//! tolerates "already gone", so cleanup is idempotent and can be run any number of
//! times. An undo counts as done only once it is checked: a SIGKILLed process must be
//! gone or a zombie, a deleted interface, namespace or rule no longer listed, within
//! [`sys::REMOVAL_GRACE`]; otherwise it is reported as failed ("still running after
//! SIGKILL") and stays in the journal for the next attempt.
//!
//! Line format (one JSON object per line):
//! `{"event":"owner","pid":812,"start_time":4711}` — the controller process;
//! `{"event":"do","id":3,"action":{"kind":"namespace","name":"fl-1a2b3c-n1"}}`;
//! `{"event":"undone","id":3}`. A torn last line (no newline) is ignored.
//!
//! Liveness: the controller holds an exclusive flock(2) on the journal while it runs.
//! The kernel drops the lock when the process dies, so a cleanup that cannot take the
//! lock knows the run is still alive and leaves it alone.
//!
//! Global index: every journal is registered as a symlink in [`index_dir`] —
//! `/run/faultline/journals/` when root (tmpfs: it is emptied by a reboot, exactly
//! like the namespaces, rules and processes it points at), otherwise
//! `$XDG_RUNTIME_DIR/faultline/journals/` or `<tmp>/faultline-<uid>/journals/`; the
//! environment variable `FAULTLINE_JOURNAL_INDEX` overrides it. `faultline cleanup`
//! without an argument walks this index; an entry is removed once its journal has
//! nothing left to undo.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::process;
use crate::ssh::{Session, Target};
use crate::sys;

/// File name of the journal inside a run folder.
pub const JOURNAL_FILE: &str = "cleanup-journal.jsonl";

/// One change to the machine that must be undone at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// A Linux bridge in the root namespace.
    Bridge {
        /// Interface name.
        name: String,
    },
    /// A named network namespace (`ip netns add`).
    Namespace {
        /// Namespace name.
        name: String,
    },
    /// The root-namespace end of a veth pair.
    Veth {
        /// Interface name.
        name: String,
    },
    /// A process we started.
    Process {
        /// Its pid (also its process group id).
        pid: i32,
        /// Start time from `/proc/PID/stat`, to recognise pid reuse.
        start_time: u64,
        /// What it is, e.g. the node name.
        label: String,
    },
    /// A process we stopped with SIGSTOP.
    Paused {
        /// Its pid.
        pid: i32,
        /// Start time from `/proc/PID/stat`.
        start_time: u64,
    },
    /// An iptables rule, added with `iptables -w -A <args>` and removed with `-D`.
    Rule {
        /// Namespace the rule lives in; `None` is the root namespace.
        namespace: Option<String>,
        /// The rule after `-A`, e.g. `["INPUT", "-s", "10.213.4.3", "-j", "DROP"]`.
        args: Vec<String>,
    },
    /// A daemon started on a remote host, recorded by its pid file before it starts.
    RemoteProcess {
        /// How the host is reached.
        host: Target,
        /// Its pid file on the host (`PID START_TIME`).
        pid_file: PathBuf,
        /// What it is, e.g. the node name.
        label: String,
    },
    /// A process on a remote host we stopped with SIGSTOP.
    RemotePaused {
        /// How the host is reached.
        host: Target,
        /// Its pid there.
        pid: i32,
        /// Its start time there.
        start_time: u64,
    },
    /// A lazy filesystem mounted over a node's data directory, unmounted by undo.
    /// Recorded before its server process starts, so cleanup (newest first within a
    /// rank) kills the node, then the server, then unmounts.
    Mount {
        /// The mount point.
        path: PathBuf,
        /// Whose data directory it is.
        label: String,
    },
    /// An iptables rule on a remote host (`iptables -w -A <args>`, removed with `-D`).
    RemoteRule {
        /// How the host is reached.
        host: Target,
        /// The rule after `-A`.
        args: Vec<String>,
    },
    /// A root queueing discipline a packet fault added (`tc qdisc add dev DEV root
    /// handle HANDLE ...`), removed with everything under it.
    Qdisc {
        /// The namespace of the interface.
        namespace: String,
        /// The interface.
        dev: String,
        /// Its handle, e.g. `f119:`.
        handle: String,
    },
    /// A node's libfaketime control file (see [`crate::clock`]), removed at the end.
    ClockFile {
        /// Its path on this machine.
        path: PathBuf,
    },
    /// libfaketime's shared memory and semaphore of a node process (`/dev/shm`).
    ClockShm {
        /// The process that created them.
        pid: i32,
    },
}

impl Action {
    /// Undo order: lower first.
    fn undo_rank(&self) -> u8 {
        match self {
            Action::Paused { .. } | Action::RemotePaused { .. } => 0,
            Action::Process { .. } | Action::RemoteProcess { .. } | Action::Mount { .. } => 1,
            Action::Rule { .. }
            | Action::RemoteRule { .. }
            | Action::Qdisc { .. }
            | Action::ClockFile { .. }
            | Action::ClockShm { .. } => 2,
            Action::Veth { .. } => 3,
            Action::Namespace { .. } => 4,
            Action::Bridge { .. } => 5,
        }
    }

    /// Undoes this change and checks that it is undone (a killed process gone or a
    /// zombie, a deleted interface, namespace or rule no longer listed), waiting up to
    /// [`sys::REMOVAL_GRACE`]; [`Error::StillPresent`] when it is not. An already-undone
    /// change is success.
    pub fn undo(&self) -> Result<()> {
        match self {
            Action::Mount { path, .. } => crate::disk::unmount(path),
            Action::ClockFile { path } => crate::clock::remove(path),
            Action::ClockShm { pid } => {
                crate::clock::remove_files(&crate::clock::shared_memory_files(*pid))
            }
            Action::RemoteProcess { host, pid_file, .. } => {
                Session::reconnect(host)?.kill_by_pid_file(pid_file)
            }
            Action::RemotePaused {
                host,
                pid,
                start_time,
            } => {
                let session = Session::reconnect(host)?;
                if !session.is_same_process(*pid, *start_time)? {
                    return Ok(());
                }
                session.signal(*pid, Signal::SIGCONT)?;
                let mut failure = None;
                self.confirm(
                    || match session.stat(*pid) {
                        Ok(s) => s.is_none_or(|s| s.start_time != *start_time || s.state != 'T'),
                        Err(e) => {
                            failure = Some(e);
                            true
                        }
                    },
                    "stopped after SIGCONT",
                )?;
                failure.map_or(Ok(()), Err)
            }
            Action::RemoteRule { host, args } => {
                if Session::reconnect(host)?.remove_rule(args)? {
                    Err(Error::StillPresent {
                        what: self.to_string(),
                        state: "present after `iptables -D`".into(),
                        waited: std::time::Duration::ZERO,
                    })
                } else {
                    Ok(())
                }
            }
            Action::Qdisc {
                namespace,
                dev,
                handle,
            } => {
                let present = || crate::packet::probe::root_qdisc_is(namespace, dev, handle);
                if present() {
                    let del = ["qdisc", "del", "dev", dev, "root", "handle", handle];
                    ignore_missing(sys::run("tc", &del, Some(namespace)))?;
                }
                self.confirm(|| !present(), "present after `tc qdisc del`")
            }
            Action::Bridge { name } | Action::Veth { name } => {
                if sys::link_exists(name) {
                    ignore_missing(sys::run("ip", &["link", "del", name], None))?;
                }
                self.confirm(|| !sys::link_exists(name), "present after `ip link del`")
            }
            Action::Namespace { name } => {
                if !sys::netns_exists(name) {
                    return Ok(());
                }
                // Anything still running inside belongs to this run.
                if let Ok(pids) = sys::run("ip", &["netns", "pids", name], None) {
                    for pid in pids
                        .split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok())
                    {
                        if let Some(start_time) = process::start_time(pid) {
                            process::kill_confirmed(pid, start_time)?;
                        }
                    }
                }
                ignore_missing(sys::run("ip", &["netns", "del", name], None))?;
                self.confirm(|| !sys::netns_exists(name), "present after `ip netns del`")
            }
            Action::Process {
                pid, start_time, ..
            } => {
                if process::is_same_process(*pid, *start_time) {
                    process::kill_confirmed(*pid, *start_time)?;
                }
                Ok(())
            }
            Action::Paused { pid, start_time } => {
                if !process::is_same_process(*pid, *start_time) {
                    return Ok(());
                }
                process::send_signal(*pid, Signal::SIGCONT)?;
                self.confirm(
                    || {
                        process::proc_stat(*pid)
                            .is_none_or(|s| s.start_time != *start_time || s.state != 'T')
                    },
                    "stopped after SIGCONT",
                )
            }
            Action::Rule { namespace, args } => {
                if let Some(ns) = namespace {
                    if !sys::netns_exists(ns) {
                        return Ok(()); // the rule died with its namespace
                    }
                }
                let ns = namespace.as_deref();
                let mut full = vec!["-w", "-D"];
                full.extend(args.iter().map(String::as_str));
                match sys::run("iptables", &full, ns) {
                    Ok(_) => {}
                    Err(e) if is_no_such_rule(&e) => {}
                    Err(e) => return Err(e),
                }
                let mut check_failed = None;
                self.confirm(
                    || match rule_present(ns, args) {
                        Ok(present) => !present,
                        Err(e) => {
                            check_failed = Some(e);
                            true
                        }
                    },
                    "present after `iptables -D`",
                )?;
                check_failed.map_or(Ok(()), Err)
            }
        }
    }

    /// Waits up to [`sys::REMOVAL_GRACE`] for `gone`; otherwise says that this change is
    /// still `state`.
    fn confirm(&self, gone: impl FnMut() -> bool, state: &str) -> Result<()> {
        if sys::poll_until(sys::REMOVAL_GRACE, gone) {
            Ok(())
        } else {
            Err(Error::StillPresent {
                what: self.to_string(),
                state: state.to_string(),
                waited: sys::REMOVAL_GRACE,
            })
        }
    }
}

/// Whether the iptables rule `args` (as given to `-A`) is in the namespace's table,
/// asked with `iptables -C`.
fn rule_present(namespace: Option<&str>, args: &[String]) -> Result<bool> {
    let mut full = vec!["-w", "-C"];
    full.extend(args.iter().map(String::as_str));
    match sys::run("iptables", &full, namespace) {
        Ok(_) => Ok(true),
        Err(e) if is_no_such_rule(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// True for iptables' answer to a rule (or its chain or target) that does not exist.
fn is_no_such_rule(e: &Error) -> bool {
    matches!(e, Error::Command { stderr, .. }
        if stderr.contains("matching rule") || stderr.contains("No chain/target/match"))
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Bridge { name } => write!(f, "bridge {name}"),
            Action::Namespace { name } => write!(f, "network namespace {name}"),
            Action::Veth { name } => write!(f, "veth {name}"),
            Action::Process {
                pid,
                start_time,
                label,
            } => write!(f, "process {pid} ({label}, start time {start_time})"),
            Action::Paused { pid, .. } => write!(f, "SIGSTOP of process {pid}"),
            Action::Mount { path, label } => {
                write!(f, "lazy filesystem of {label} at {}", path.display())
            }
            Action::RemoteProcess {
                host,
                pid_file,
                label,
            } => write!(
                f,
                "daemon {label} on {host} (pid file {})",
                pid_file.display()
            ),
            Action::RemotePaused { host, pid, .. } => {
                write!(f, "SIGSTOP of process {pid} on {host}")
            }
            Action::RemoteRule { host, args } => {
                write!(f, "iptables rule on {host}: -A {}", args.join(" "))
            }
            Action::Qdisc {
                namespace,
                dev,
                handle,
            } => write!(f, "tc qdisc {handle} on {dev} in {namespace}"),
            Action::ClockFile { path } => write!(f, "clock control file {}", path.display()),
            Action::ClockShm { pid } => {
                write!(f, "libfaketime shared memory of process {pid} in /dev/shm")
            }
            Action::Rule { namespace, args } => write!(
                f,
                "iptables rule in {}: -A {}",
                namespace.as_deref().unwrap_or("the root namespace"),
                args.join(" ")
            ),
        }
    }
}

/// Treats "does not exist" failures of `ip` as success.
fn ignore_missing(res: Result<String>) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(Error::Command { stderr, .. })
            if stderr.contains("Cannot find device")
                || stderr.contains("No such file")
                || stderr.contains("does not exist") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Entry {
    /// The controller process that owns the run.
    Owner { pid: i32, start_time: u64 },
    /// A change about to be made.
    Do { id: u64, action: Action },
    /// A change that has been undone.
    Undone { id: u64 },
}

/// What a cleanup did.
#[derive(Debug, Clone, Default)]
pub struct CleanupReport {
    /// The journal that was processed.
    pub journal: PathBuf,
    /// Changes that were undone and checked gone (or found already gone).
    pub removed: Vec<String>,
    /// Changes whose undo failed, with the error; they stay outstanding.
    pub failed: Vec<String>,
    /// Why the journal was not processed at all (e.g. its run is still alive).
    pub skipped: Option<String>,
}

impl CleanupReport {
    /// True when nothing is left outstanding.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_none()
    }
}

/// Mutable state of an open journal.
struct Inner {
    /// The journal file, opened for append and flocked for the life of the run.
    file: Flock<File>,
    /// Id of the next `do` record.
    next_id: u64,
}

/// An open, locked cleanup journal. Cheap to share as `Arc<Journal>`.
pub struct Journal {
    /// Absolute path of the file.
    path: PathBuf,
    /// The file and the id counter.
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`, takes its lock, records this
    /// process as owner and registers the journal in the global index. Fails when
    /// another live process holds the journal.
    pub fn create(path: &Path) -> Result<Arc<Journal>> {
        let journal = Journal::open_locked(path)?;
        let me = std::process::id() as i32;
        journal.append(&Entry::Owner {
            pid: me,
            start_time: process::start_time(me).unwrap_or(0),
        })?;
        register(&journal.path)?;
        Ok(Arc::new(journal))
    }

    /// Opens and locks an existing or new journal without writing to it.
    fn open_locked(path: &Path) -> Result<Journal> {
        let path = std::path::absolute(path)
            .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening journal {}", path.display()), e))?;
        let file = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
            Error::Unsupported(format!(
                "journal {} is locked ({errno}): its run is still in progress",
                path.display()
            ))
        })?;
        let next_id = read_entries(&path)?
            .iter()
            .filter_map(|e| match e {
                Entry::Do { id, .. } => Some(id + 1),
                _ => None,
            })
            .max()
            .unwrap_or(1);
        Ok(Journal {
            path,
            inner: Mutex::new(Inner { file, next_id }),
        })
    }

    /// The journal's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records (and fsyncs) a change about to be made; returns its id for [`Journal::undone`].
    pub fn record(&self, action: Action) -> Result<u64> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let id = inner.next_id;
        inner.next_id += 1;
        write_entry(&self.path, &mut inner.file, &Entry::Do { id, action })?;
        Ok(id)
    }

    /// Records that change `id` has been undone.
    pub fn undone(&self, id: u64) -> Result<()> {
        self.append(&Entry::Undone { id })
    }

    /// Appends one entry and fsyncs.
    fn append(&self, entry: &Entry) -> Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        write_entry(&self.path, &mut inner.file, entry)
    }

    /// Changes recorded and not yet undone, in the order they were made.
    pub fn outstanding(&self) -> Result<Vec<(u64, Action)>> {
        outstanding(&read_entries(&self.path)?)
    }

    /// Undoes everything outstanding (see the module docs for the order) and, when
    /// nothing is left, removes the journal from the global index.
    pub fn cleanup(&self) -> Result<CleanupReport> {
        let mut todo = self.outstanding()?;
        // Stable sort: by kind, and within a kind newest first.
        todo.reverse();
        todo.sort_by_key(|(_, a)| a.undo_rank());
        let mut report = CleanupReport {
            journal: self.path.clone(),
            ..CleanupReport::default()
        };
        for (id, action) in todo {
            match action.undo() {
                Ok(()) => {
                    self.undone(id)?;
                    report.removed.push(action.to_string());
                }
                Err(e) => report.failed.push(format!("{action}: {e}")),
            }
        }
        if report.failed.is_empty() {
            unregister(&self.path);
        }
        Ok(report)
    }
}

/// Writes one JSON line and fsyncs it.
fn write_entry(path: &Path, file: &mut File, entry: &Entry) -> Result<()> {
    let mut line = serde_json::to_string(entry).expect("journal entries always serialize");
    line.push('\n');
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io(format!("writing journal {}", path.display()), e))
}

/// Parses a journal file; a missing file is an empty journal.
fn read_entries(path: &Path) -> Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading journal {}", path.display()), e)),
    };
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => entries.push(e),
            // A line cut short by a crash mid-write: the change it announced was not made.
            Err(_) if i + 1 == lines.len() && !complete => {}
            Err(e) => {
                return Err(Error::Journal {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(entries)
}

/// The `do` entries without a matching `undone`, in journal order.
fn outstanding(entries: &[Entry]) -> Result<Vec<(u64, Action)>> {
    let mut open = BTreeMap::new();
    for e in entries {
        match e {
            Entry::Do { id, action } => {
                open.insert(*id, action.clone());
            }
            Entry::Undone { id } => {
                open.remove(id);
            }
            Entry::Owner { .. } => {}
        }
    }
    Ok(open.into_iter().collect())
}

/// Cleanup of a journal left behind by a run that is no longer alive.
pub struct Cleanup;

impl Cleanup {
    /// Undoes everything outstanding in the journal at `path` (a journal file or a run
    /// folder containing [`JOURNAL_FILE`]). A journal still locked by a live run is
    /// reported as skipped and left alone.
    pub fn from_journal(path: &Path) -> Result<CleanupReport> {
        let file = if path.is_dir() {
            path.join(JOURNAL_FILE)
        } else {
            path.to_path_buf()
        };
        if !file.is_file() {
            return Err(Error::Unsupported(format!(
                "no cleanup journal at {}",
                file.display()
            )));
        }
        match Journal::open_locked(&file) {
            Ok(journal) => journal.cleanup(),
            Err(Error::Unsupported(why)) => Ok(CleanupReport {
                journal: file,
                skipped: Some(why),
                ..CleanupReport::default()
            }),
            Err(e) => Err(e),
        }
    }

    /// Cleans every journal registered in the global index; entries whose journal
    /// file has disappeared are dropped from the index.
    pub fn all() -> Result<Vec<CleanupReport>> {
        let dir = index_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
        };
        let mut reports = Vec::new();
        let mut links: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        links.sort();
        for link in links {
            let Ok(target) = std::fs::read_link(&link) else {
                continue;
            };
            if !target.is_file() {
                let _ = std::fs::remove_file(&link);
                continue;
            }
            // One unreadable journal must not stop the others from being cleaned.
            let report = Cleanup::from_journal(&target).unwrap_or_else(|e| CleanupReport {
                journal: target.clone(),
                failed: vec![e.to_string()],
                ..CleanupReport::default()
            });
            if report.is_clean() {
                let _ = std::fs::remove_file(&link);
            }
            reports.push(report);
        }
        Ok(reports)
    }
}

/// Network namespaces and interfaces named like faultline's (`fl-XXXXXX-nN`,
/// `flb-XXXXXX`, `flv-XXXXXX-N`) that no journal in the index mentions: left by a run
/// whose folder (and journal) was deleted before it was cleaned up. Returned in undo
/// order; [`Action::undo`] removes one (a namespace after killing what runs in it).
pub fn orphans() -> Result<Vec<Action>> {
    let mut known = std::collections::BTreeSet::new();
    if let Ok(links) = std::fs::read_dir(index_dir()) {
        for link in links.flatten() {
            let Ok(target) = std::fs::read_link(link.path()) else {
                continue;
            };
            for entry in read_entries(&target).unwrap_or_default() {
                if let Entry::Do {
                    action:
                        Action::Bridge { name } | Action::Namespace { name } | Action::Veth { name },
                    ..
                } = entry
                {
                    known.insert(name);
                }
            }
        }
    }
    let names = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut found = Vec::new();
    for name in names(sys::NETNS_DIR) {
        if is_faultline_name(&name, "fl-", "-n") && !known.contains(&name) {
            found.push(Action::Namespace { name });
        }
    }
    for name in names("/sys/class/net") {
        if known.contains(&name) {
            continue;
        }
        if is_faultline_name(&name, "flv-", "-") {
            found.push(Action::Veth { name });
        } else if is_faultline_name(&name, "flb-", "") {
            found.push(Action::Bridge { name });
        }
    }
    found.sort_by_key(Action::undo_rank);
    Ok(found)
}

/// True for `<prefix><6 hex><sep><digits>` (or `<prefix><6 hex>` when `sep` is empty).
fn is_faultline_name(name: &str, prefix: &str, sep: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() < 6 || !rest.is_char_boundary(6) {
        return false;
    }
    let (id, tail) = rest.split_at(6);
    let hex = id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    if sep.is_empty() {
        return hex && tail.is_empty();
    }
    hex && tail
        .strip_prefix(sep)
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The folder of the global journal index (see the module docs).
pub fn index_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FAULTLINE_JOURNAL_INDEX") {
        return PathBuf::from(dir);
    }
    if process::is_root() {
        return PathBuf::from("/run/faultline/journals");
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("faultline/journals");
    }
    let uid = nix::unistd::geteuid();
    std::env::temp_dir().join(format!("faultline-{uid}/journals"))
}

/// The index entry name for a journal path: FNV-1a of the path, in hex.
fn index_name(journal: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in journal.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}.jsonl")
}

/// Adds the journal to the global index.
fn register(journal: &Path) -> Result<()> {
    let dir = index_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let link = dir.join(index_name(journal));
    match std::os::unix::fs::symlink(journal, &link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(format!("creating {}", link.display()), e)),
    }
}

/// Removes the journal from the global index (if it is there).
fn unregister(journal: &Path) {
    let _ = std::fs::remove_file(index_dir().join(index_name(journal)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_faultline_names_only() {
        assert!(is_faultline_name("fl-1a2b3c-n12", "fl-", "-n"));
        assert!(is_faultline_name("flv-1a2b3c-3", "flv-", "-"));
        assert!(is_faultline_name("flb-1a2b3c", "flb-", ""));
        assert!(!is_faultline_name("flb-1a2b3c-x", "flb-", ""));
        assert!(!is_faultline_name("fl-1A2B3C-n1", "fl-", "-n"));
        assert!(!is_faultline_name("fl-other-n1", "fl-", "-n"));
        assert!(!is_faultline_name("fl-1a2b3c-n", "fl-", "-n"));
        assert!(!is_faultline_name("eth0", "flv-", "-"));
    }

    #[test]
    fn outstanding_skips_undone_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(
            &path,
            concat!(
                "{\"event\":\"do\",\"id\":1,\"action\":{\"kind\":\"bridge\",\"name\":\"flb-x\"}}\n",
                "{\"event\":\"do\",\"id\":2,\"action\":{\"kind\":\"veth\",\"name\":\"flv-x-1\"}}\n",
                "{\"event\":\"undone\",\"id\":2}\n",
                "{\"event\":\"do\",\"id\":3,\"act"
            ),
        )
        .unwrap();
        let entries = read_entries(&path).unwrap();
        let open = outstanding(&entries).unwrap();
        assert_eq!(
            open,
            vec![(
                1,
                Action::Bridge {
                    name: "flb-x".into()
                }
            )]
        );
    }

    #[test]
    fn bad_line_in_the_middle_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(
            &path,
            "{\"event\":\"undone\",\"id\":2}\nnot json\n{\"event\":\"undone\",\"id\":3}\n",
        )
        .unwrap();
        let err = read_entries(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn live_journal_is_locked_and_dead_one_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let journal = Journal::create(&path).unwrap();
        let entry = index_dir().join(index_name(journal.path()));
        // A process record for a process that cannot exist: undo finds it gone.
        let id = journal
            .record(Action::Process {
                pid: i32::MAX,
                start_time: 1,
                label: "ghost".into(),
            })
            .unwrap();
        assert_eq!(id, 1);
        let report = Cleanup::from_journal(dir.path()).unwrap();
        assert!(
            report.skipped.is_some(),
            "a live journal must be left alone"
        );
        assert!(entry.is_symlink(), "journal registered in the index");
        drop(journal);
        let report = Cleanup::from_journal(dir.path()).unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.removed.len(), 1);
        assert!(!entry.is_symlink(), "index entry removed once clean");
        // Idempotent: a second run has nothing to do.
        let again = Cleanup::from_journal(&path).unwrap();
        assert!(again.removed.is_empty() && again.is_clean());
    }
}
