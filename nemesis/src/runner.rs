//! The nemesis runner: a thread that walks the [`Schedule`], injects each fault when
//! its time comes, heals it when its duration is over, and, when told to stop (or
//! when its handle is dropped, or if it panics), heals everything still active:
//! partitions removed, paused processes resumed, killed nodes restarted, crash points
//! disarmed and the nodes that crashed at one restarted, clocks set right, and finally a SIGCONT to
//! every node (and, with crash points, one more round of restarts and disarms). While
//! a crash fault lasts, the runner also supervises it: that supervision lives in
//! [`crate::crash`], the fault loop here. Every
//! start and stop is reported to the controller's sink
//! as an invoke [`NemesisOp`] followed by its completion, whose `value` says what was
//! actually done (nodes, pids, signals, rules) and its `outcome`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::{ClockDriver, NodeClock, MAX_AHEAD_S, SLEW_RATE};
use crate::control::{ClusterControl, NemesisOp, OpType, Outcome};
use crate::crash::{CrashArming, CRASH_SUPERVISION};
use crate::disk::{DiskFault, DiskMode, DiskRequest};
use crate::host::Host;
use crate::journal::Journal;
use crate::packet::{self, PacketConfig, PacketFault};
use crate::partition::{self, InstalledRule};
use crate::process::ProcStat;
use crate::schedule::{
    ClockMode, CrashPoint, FaultKind, FaultSpec, NemesisConfig, PlannedFault, Schedule, Target,
};

/// Where the nemesis sends its history operations.
pub type OpSink = Box<dyn FnMut(NemesisOp) + Send>;

/// A fault currently in force, for the controller's progress line.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveFault {
    /// `kill`, `pause` or `partition`.
    pub f: String,
    /// Target or shape, e.g. `minority`, `majorities-ring`.
    pub of: String,
    /// The nodes affected.
    pub nodes: Vec<String>,
    /// For a partition: nodes grouped by what they can see (one group per distinct
    /// view); empty for kills and pauses.
    pub groups: Vec<Vec<String>>,
    /// When it started.
    #[serde(skip)]
    pub since: Instant,
}

impl fmt::Display for ActiveFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.groups.is_empty() {
            return write!(f, "{}({}) {}", self.f, self.of, self.nodes.join(","));
        }
        let groups: Vec<String> = self.groups.iter().map(|g| g.join(",")).collect();
        write!(f, "{}({}) {}", self.f, self.of, groups.join(" | "))
    }
}

/// Starts nemeses.
pub struct Nemesis;

impl Nemesis {
    /// Starts the nemesis thread. It runs `config`'s schedule against `control`,
    /// journals pauses and rules in `journal`, and reports to `sink`, until
    /// [`NemesisHandle::stop`] (or drop of the handle).
    pub fn start(
        config: NemesisConfig,
        control: Arc<dyn ClusterControl>,
        journal: Arc<Journal>,
        sink: OpSink,
    ) -> NemesisHandle {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let active = Arc::new(Mutex::new(Vec::new()));
        let mut runner = Runner {
            control,
            journal,
            sink,
            public: Arc::clone(&active),
            running: Vec::new(),
            enabled: !config.faults.is_empty(),
            crash_points: if config.faults.contains(&FaultKind::Crash) {
                config.crash_points.clone()
            } else {
                Vec::new()
            },
            healed: false,
            packet: config.packet.clone(),
            clocks: None,
        };
        let thread = std::thread::Builder::new()
            .name("nemesis".into())
            .spawn(move || runner.run(Schedule::new(config), &stop_rx))
            .expect("spawning the nemesis thread");
        NemesisHandle {
            stop: Some(stop_tx),
            thread: Some(thread),
            active,
        }
    }
}

/// Handle of a running nemesis. Dropping it stops the nemesis and waits for the heal.
pub struct NemesisHandle {
    /// Closing it tells the thread to stop.
    stop: Option<mpsc::Sender<()>>,
    /// The thread.
    thread: Option<JoinHandle<()>>,
    /// Faults in force.
    active: Arc<Mutex<Vec<ActiveFault>>>,
}

impl NemesisHandle {
    /// The faults currently in force.
    pub fn active(&self) -> Vec<ActiveFault> {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the schedule and waits until every fault is healed. Returns `Err` with
    /// the panic message if the nemesis thread panicked (its heal still ran).
    pub fn stop(mut self) -> Result<(), String> {
        self.finish()
    }

    /// Signals and joins the thread once.
    fn finish(&mut self) -> Result<(), String> {
        self.stop.take();
        match self.thread.take() {
            Some(t) => t.join().map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "nemesis thread panicked".into())
            }),
            None => Ok(()),
        }
    }
}

impl Drop for NemesisHandle {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// A process we stopped.
#[derive(Debug)]
struct PausedProc {
    /// Its node.
    node: String,
    /// Its node's host.
    host: Host,
    /// Its pid.
    pid: i32,
    /// Its start time.
    start_time: u64,
    /// Its journal record.
    journal_id: u64,
}

/// What must be undone to heal a fault.
#[derive(Debug)]
enum Undo {
    /// Restart these nodes.
    Restart(Vec<String>),
    /// SIGCONT these processes.
    Resume(Vec<PausedProc>),
    /// Delete these rules.
    Heal(Vec<InstalledRule>),
    /// Restart the nodes that crashed at this point, disarm it in the others.
    Recover(CrashArming),
    /// Remove what a packet fault added.
    Packet(packet::Installed),
    /// Restart these power-lost nodes (a disk fault).
    PowerOn(Vec<String>),
    /// Disarm the fsync EIO of these nodes, restart those that exited on it.
    Disarm(Vec<String>),
    /// Bring these nodes' clocks back to the real one.
    Clock(Vec<String>),
}

/// A fault in force.
#[derive(Debug)]
struct Running {
    /// When to heal it.
    deadline: Instant,
    /// How to heal it.
    undo: Undo,
    /// Its public description.
    public: ActiveFault,
}

/// The state of the nemesis thread.
struct Runner {
    /// The cluster.
    control: Arc<dyn ClusterControl>,
    /// The cleanup journal.
    journal: Arc<Journal>,
    /// The history sink.
    sink: OpSink,
    /// Published copy of the active faults.
    public: Arc<Mutex<Vec<ActiveFault>>>,
    /// Faults in force.
    running: Vec<Running>,
    /// Whether any fault kind is enabled (otherwise there is nothing to heal).
    enabled: bool,
    /// The crash points this run may arm (empty without the crash fault).
    crash_points: Vec<CrashPoint>,
    /// Whether the final heal has run.
    healed: bool,
    /// Traffic and delayer program of packet faults.
    packet: PacketConfig,
    /// The nodes' clocks, once a clock fault started.
    clocks: Option<ClockDriver>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Also reached when the thread unwinds from a panic.
        if !self.healed {
            self.final_heal();
        }
    }
}

impl Runner {
    /// The main loop.
    fn run(&mut self, schedule: Schedule, stop: &mpsc::Receiver<()>) {
        let start = Instant::now();
        let mut plan = schedule.peekable();
        loop {
            let next_start = plan.peek().map(|p| start + p.at);
            let next_stop = self.running.iter().map(|r| r.deadline).min();
            let next_supervision = self
                .running
                .iter()
                .any(|r| matches!(r.undo, Undo::Recover(_)))
                .then(|| Instant::now() + CRASH_SUPERVISION);
            let wake = [next_start, next_stop, next_supervision]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let wait = wake.saturating_duration_since(Instant::now());
            match stop.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            while let Some(i) = self.running.iter().position(|r| r.deadline <= now) {
                let r = self.running.remove(i);
                self.stop_fault(r);
            }
            self.supervise_crashes(now);
            if plan.peek().is_some_and(|p| start + p.at <= now) {
                let planned = plan.next().expect("peeked");
                self.start_fault(&planned, start);
            }
        }
        self.final_heal();
    }

    /// Sends one op: an invocation when `outcome` is `None`, else a completion.
    fn emit(&mut self, f: &str, value: Value, outcome: Option<Outcome>) {
        (self.sink)(NemesisOp {
            kind: outcome.map_or(OpType::Invoke, Outcome::op_type),
            f: f.to_string(),
            value,
            outcome,
            at: Instant::now(),
        });
    }

    /// Sends a completion with `outcome` merged into `value`.
    fn complete(&mut self, f: &str, mut value: Value, outcome: Outcome) {
        value["outcome"] = json!(outcome);
        self.emit(f, value, Some(outcome));
    }

    /// Republishes the active faults.
    fn publish(&self) {
        let list = self.running.iter().map(|r| r.public.clone()).collect();
        *self.public.lock().unwrap_or_else(|p| p.into_inner()) = list;
    }

    /// The nodes a target hits, or why none.
    fn resolve(&self, target: Target, rng: &mut ChaCha8Rng) -> Result<Vec<String>, String> {
        let mut nodes = self.control.nodes();
        nodes.sort();
        let n = nodes.len();
        let leader = || match self.control.leader() {
            Some(l) if nodes.contains(&l) => Ok(l),
            Some(l) => Err(format!("leader {l} is not a node of this cluster")),
            None => Err("no leader known".to_string()),
        };
        let count = match target {
            Target::Leader => return Ok(vec![leader()?]),
            Target::Follower => {
                let leader = leader()?;
                let followers: Vec<&String> = nodes.iter().filter(|n| **n != leader).collect();
                return match followers.choose(rng) {
                    Some(f) => Ok(vec![(*f).clone()]),
                    None => Err("no node besides the leader".into()),
                };
            }
            Target::One => 1,
            Target::Minority => (n.saturating_sub(1)) / 2,
            Target::Majority => n / 2 + 1,
            Target::All => n,
        };
        if count == 0 || count > n {
            return Err(format!("{target:?} of {n} nodes is no node").to_lowercase());
        }
        let mut chosen: Vec<String> = nodes.choose_multiple(rng, count).cloned().collect();
        chosen.sort();
        Ok(chosen)
    }

    /// Injects one planned fault and records it as running.
    /// The fault ends at its planned time (`start + at + duration`), not its
    /// duration after a late start, so faults of one kind never overlap at run time
    /// either.
    fn start_fault(&mut self, planned: &PlannedFault, start: Instant) {
        let mut rng = ChaCha8Rng::seed_from_u64(planned.pick);
        let kind = planned.spec.kind();
        let f = kind.start_f();
        let (of, mut value) = match planned.spec {
            FaultSpec::Kill(t) | FaultSpec::Pause(t) => {
                let of = serde_json::to_value(t).expect("serializable");
                (
                    of.as_str().unwrap_or_default().to_string(),
                    json!({ "target": of }),
                )
            }
            FaultSpec::Partition(s) => {
                let of = serde_json::to_value(s).expect("serializable");
                (
                    of.as_str().unwrap_or_default().to_string(),
                    json!({ "shape": of }),
                )
            }
            FaultSpec::Crash(point) => (point.name().to_string(), json!({ "point": point })),
            FaultSpec::Packet(fault, target) => {
                let mut value = fault.parameters();
                value["fault"] = json!(fault.name());
                value["target"] = json!(target);
                value["traffic"] = json!(if self.packet.all_traffic {
                    "all"
                } else {
                    "nodes"
                });
                (
                    format!("{fault} {}", value["target"].as_str().unwrap_or_default()),
                    value,
                )
            }
            FaultSpec::Disk(d) => (
                format!(
                    "{}:{}",
                    d.mode,
                    json!(d.target).as_str().unwrap_or_default()
                ),
                json!({ "mode": d.mode, "target": d.target }),
            ),
            FaultSpec::Clock(mode, target) => (
                format!(
                    "{}:{}",
                    mode.name(),
                    json!(target).as_str().unwrap_or_default()
                ),
                json!({ "mode": mode, "target": target }),
            ),
        };
        self.emit(f, value.clone(), None);
        let deadline = start + planned.at + planned.duration;
        let mut groups = Vec::new();
        let (undo, nodes, outcome) = match planned.spec {
            FaultSpec::Kill(target)
            | FaultSpec::Pause(target)
            | FaultSpec::Packet(_, target)
            | FaultSpec::Disk(DiskFault { target, .. })
            | FaultSpec::Clock(_, target) => {
                let nodes = match self.resolve(target, &mut rng) {
                    Ok(n) => n,
                    Err(why) => {
                        value["reason"] = json!(why);
                        return self.complete(f, value, Outcome::Skipped);
                    }
                };
                match planned.spec {
                    FaultSpec::Kill(_) => self.kill(&nodes, &mut value),
                    FaultSpec::Pause(_) => self.pause(&nodes, &mut value),
                    FaultSpec::Packet(fault, _) => {
                        self.packet_fault(fault, &nodes, planned.pick, &mut value)
                    }
                    FaultSpec::Disk(d) => self.disk(d.mode, &nodes, &mut rng, &mut value),
                    FaultSpec::Clock(mode, _) => self.clock(mode, &nodes, &mut rng, &mut value),
                    _ => unreachable!("this arm matched a fault with a target"),
                }
            }
            FaultSpec::Partition(shape) => {
                let mut nodes = self.control.nodes();
                nodes.sort();
                let leader = self.control.leader();
                let grudge = match partition::grudge(shape, &nodes, leader, &mut rng) {
                    Ok(g) => g,
                    Err(why) => {
                        value["reason"] = json!(why);
                        return self.complete(f, value, Outcome::Skipped);
                    }
                };
                value["grudge"] = json!(grudge);
                let (rules, err) = partition::install(&grudge, &*self.control, &self.journal);
                value["rules"] = json!(rules);
                let outcome = install_outcome(&mut value, err, rules.is_empty());
                let cut: Vec<String> = grudge.keys().cloned().collect();
                let mut views: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
                for (node, seen) in partition::visible(&nodes, &grudge) {
                    views
                        .entry(seen.into_iter().collect())
                        .or_default()
                        .push(node);
                }
                groups = views.into_values().collect();
                groups.sort();
                (Undo::Heal(rules), cut, outcome)
            }
            FaultSpec::Crash(point) => self.arm(point, deadline, &mut value),
        };
        self.complete(f, value, outcome);
        if outcome == Outcome::Skipped {
            return; // nothing was done, nothing to heal
        }
        self.running.push(Running {
            deadline,
            undo,
            public: ActiveFault {
                f: f.to_string(),
                of,
                nodes,
                groups,
                since: Instant::now(),
            },
        });
        self.publish();
    }

    /// SIGKILLs the nodes' processes and waits until each is gone; fills `value`.
    fn kill(&mut self, nodes: &[String], value: &mut Value) -> (Undo, Vec<String>, Outcome) {
        let mut pids = BTreeMap::new();
        let mut not_running = Vec::new();
        let mut errors = BTreeMap::new();
        for node in nodes {
            match kill_running(&*self.control, node) {
                Err((pid, e)) => {
                    pids.extend(pid.map(|pid| (node.clone(), pid)));
                    errors.insert(node.clone(), e.to_string());
                }
                Ok(None) => not_running.push(node.clone()),
                Ok(Some(pid)) => {
                    pids.insert(node.clone(), pid);
                }
            }
        }
        let outcome = signal_outcome(value, nodes, "SIGKILL", json!(pids), not_running, errors);
        let killed: Vec<String> = pids.into_keys().collect();
        (Undo::Restart(killed.clone()), killed, outcome)
    }

    /// SIGSTOPs the nodes' processes (journaled first); fills `value`.
    fn pause(&mut self, nodes: &[String], value: &mut Value) -> (Undo, Vec<String>, Outcome) {
        let mut paused = Vec::new();
        let mut not_running = Vec::new();
        let mut errors = BTreeMap::new();
        for node in nodes {
            let (host, pid, start_time) = match running(&*self.control, node) {
                Err(e) => {
                    errors.insert(node.clone(), e.to_string());
                    continue;
                }
                Ok(None) => {
                    not_running.push(node.clone());
                    continue;
                }
                Ok(Some((host, pid, stat))) => (host, pid, stat.start_time),
            };
            let journal_id = match self.journal.record(host.paused_action(pid, start_time)) {
                Ok(id) => id,
                Err(e) => {
                    errors.insert(node.clone(), e.to_string());
                    continue;
                }
            };
            if let Err(e) = host.signal(pid, Signal::SIGSTOP) {
                errors.insert(node.clone(), e.to_string());
            }
            paused.push(PausedProc {
                node: node.clone(),
                host,
                pid,
                start_time,
                journal_id,
            });
        }
        let pids: BTreeMap<&str, i32> = paused.iter().map(|p| (p.node.as_str(), p.pid)).collect();
        let outcome = signal_outcome(value, nodes, "SIGSTOP", json!(pids), not_running, errors);
        let affected = paused.iter().map(|p| p.node.clone()).collect();
        (Undo::Resume(paused), affected, outcome)
    }

    /// Puts a packet fault on the nodes' links (see [`packet::install`]); fills `value`.
    fn packet_fault(
        &mut self,
        fault: PacketFault,
        nodes: &[String],
        seed: u64,
        value: &mut Value,
    ) -> (Undo, Vec<String>, Outcome) {
        value["nodes"] = json!(nodes);
        let request = packet::Request {
            control: &*self.control,
            journal: &self.journal,
            nodes,
            all_traffic: self.packet.all_traffic,
            delayer: &self.packet.delayer,
            seed,
        };
        let (installed, err) = packet::install(fault, &request, value);
        let outcome = install_outcome(value, err, installed.is_empty());
        (Undo::Packet(installed), nodes.to_vec(), outcome)
    }

    /// Arms `point` for a new crash fault (see [`CrashArming::arm`]).
    fn arm(
        &mut self,
        point: CrashPoint,
        deadline: Instant,
        value: &mut Value,
    ) -> (Undo, Vec<String>, Outcome) {
        let (arming, armed, outcome) = CrashArming::arm(&*self.control, point, deadline, value);
        (Undo::Recover(arming), armed, outcome)
    }

    /// Makes the nodes' disks lie (see [`crate::disk`]): a power loss kills them
    /// first (as [`Runner::kill`]) and asks each killed node's filesystem to drop or
    /// tear; `fsync-eio` arms the next fsync. Fills `value.disk` with the answers.
    fn disk(
        &mut self,
        mode: DiskMode,
        nodes: &[String],
        rng: &mut ChaCha8Rng,
        value: &mut Value,
    ) -> (Undo, Vec<String>, Outcome) {
        let (affected, mut outcome, undo) = if mode.is_power_loss() {
            let (_, killed, outcome) = self.kill(nodes, value);
            (killed.clone(), outcome, Undo::PowerOn(killed))
        } else {
            value["nodes"] = json!(nodes);
            (
                nodes.to_vec(),
                Outcome::Installed,
                Undo::Disarm(nodes.to_vec()),
            )
        };
        let mut answers = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for node in &affected {
            let request = match mode {
                DiskMode::LoseUnsynced => DiskRequest::LoseUnsynced,
                DiskMode::Torn => DiskRequest::Torn(rng.random()),
                DiskMode::FsyncEio => DiskRequest::FsyncEio,
            };
            match self.control.disk(node, request) {
                Ok(answer) => {
                    answers.insert(node.clone(), answer);
                }
                Err(e) => {
                    errors.insert(node.clone(), e);
                }
            }
        }
        value["disk"] = json!(answers);
        if !errors.is_empty() {
            value["disk_errors"] = json!(errors);
            outcome = if answers.is_empty() && !mode.is_power_loss() {
                value["reason"] = json!("no node's filesystem took the request");
                Outcome::Skipped
            } else {
                Outcome::Indeterminate
            };
        }
        (undo, affected, outcome)
    }

    /// Changes the clocks of `nodes`, each its own way (drawn for `mode`, the leader's
    /// apart, see [`NodeClock::draw`]); the [`ClockDriver`] keeps slews and strobes
    /// going. Fills `value` with each node's change and the libfaketime spec written.
    fn clock(
        &mut self,
        mode: ClockMode,
        nodes: &[String],
        rng: &mut ChaCha8Rng,
        value: &mut Value,
    ) -> (Undo, Vec<String>, Outcome) {
        let leader = self.control.leader();
        let control = Arc::clone(&self.control);
        let driver = self
            .clocks
            .get_or_insert_with(|| ClockDriver::start(control));
        let mut clocks = BTreeMap::new();
        let mut specs = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for node in nodes {
            let change = NodeClock::draw(mode, leader.as_ref() == Some(node), rng);
            clocks.insert(node.clone(), change);
            match driver.begin(node, change) {
                Ok(spec) => {
                    specs.insert(node.clone(), spec);
                }
                Err(e) => {
                    errors.insert(node.clone(), e);
                }
            }
        }
        value["nodes"] = json!(nodes);
        value["mechanism"] = json!("libfaketime");
        value["slew_rate"] = json!(SLEW_RATE);
        value["max_ahead_s"] = json!(MAX_AHEAD_S);
        value["clocks"] = json!(clocks);
        value["specs"] = json!(specs);
        let changed: Vec<String> = specs.into_keys().collect();
        let outcome = if errors.is_empty() {
            Outcome::Installed
        } else if changed.is_empty() {
            value["reason"] = json!(errors);
            Outcome::Skipped
        } else {
            value["errors"] = json!(errors);
            Outcome::Indeterminate
        };
        (Undo::Clock(changed.clone()), changed, outcome)
    }

    /// One supervision round of every crash fault in force (see
    /// [`CrashArming::supervise`]). Nodes a running kill holds are left to that kill.
    fn supervise_crashes(&mut self, now: Instant) {
        let held: Vec<String> = self.held_by_kills().into_iter().cloned().collect();
        let control = Arc::clone(&self.control);
        for r in &mut self.running {
            if let Undo::Recover(arming) = &mut r.undo {
                arming.supervise(&*control, &held, r.deadline.saturating_duration_since(now));
            }
        }
    }

    /// Nodes a running kill fault will restart when it heals.
    fn held_by_kills(&self) -> Vec<&String> {
        self.running
            .iter()
            .filter_map(|r| match &r.undo {
                Undo::Restart(nodes) | Undo::PowerOn(nodes) => Some(nodes),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Heals one fault and reports it.
    fn stop_fault(&mut self, mut running: Running) {
        let f = match running.undo {
            Undo::Restart(_) => FaultKind::Kill.stop_f(),
            Undo::Resume(_) => FaultKind::Pause.stop_f(),
            Undo::Heal(_) => FaultKind::Partition.stop_f(),
            Undo::Recover(..) => FaultKind::Crash.stop_f(),
            Undo::Packet(..) => FaultKind::Packet.stop_f(),
            Undo::PowerOn(_) | Undo::Disarm(_) => FaultKind::Disk.stop_f(),
            Undo::Clock(_) => FaultKind::Clock.stop_f(),
        };
        let mut value = json!({ "nodes": running.public.nodes, "of": running.public.of });
        self.emit(f, value.clone(), None);
        let mut errors = BTreeMap::new();
        if let Undo::Packet(installed) = &mut running.undo {
            errors.extend(packet::heal(installed, &self.journal));
        }
        match &running.undo {
            Undo::Restart(nodes) | Undo::PowerOn(nodes) => {
                for node in nodes {
                    if let Err(e) = self.control.restart(node) {
                        errors.insert(node.clone(), e);
                    }
                }
            }
            Undo::Resume(procs) => {
                value["signal"] = json!("SIGCONT");
                for p in procs {
                    let res = match p.host.is_same_process(p.pid, p.start_time) {
                        Ok(true) => p.host.signal(p.pid, Signal::SIGCONT),
                        Ok(false) => Ok(()), // gone (killed meanwhile): nothing to resume
                        Err(e) => Err(e),
                    };
                    match res.and_then(|()| self.journal.undone(p.journal_id)) {
                        Ok(()) => {}
                        Err(e) => {
                            errors.insert(p.node.clone(), e.to_string());
                        }
                    }
                }
            }
            Undo::Heal(rules) => {
                value["rules"] = json!(rules.len());
                for (rule, e) in partition::heal(rules, &self.journal) {
                    errors.insert(
                        format!("{} {}", rule.node, rule.args.join(" ")),
                        e.to_string(),
                    );
                }
            }
            Undo::Recover(arming) => {
                let held = self.held_by_kills();
                arming.recover(&*self.control, &held, &mut value, &mut errors);
            }
            Undo::Packet(_) => {} // healed above, where it may be changed
            Undo::Disarm(nodes) => {
                let mut delivered = BTreeMap::new();
                let mut restarted = Vec::new();
                for node in nodes {
                    match self.control.disk(node, DiskRequest::Disarm) {
                        Ok(answer) => {
                            let armed = answer["was_armed"].as_bool().unwrap_or(false);
                            delivered.insert(node.clone(), !armed);
                        }
                        Err(e) => {
                            errors.insert(node.clone(), e);
                        }
                    }
                    let held = self.held_by_kills().contains(&node);
                    if !held && pid_if_running(&*self.control, node).is_none() {
                        restarted.push(node.clone());
                        if let Err(e) = self.control.restart(node) {
                            errors.insert(node.clone(), e);
                        }
                    }
                }
                value["eio_delivered"] = json!(delivered);
                value["restarted"] = json!(restarted);
            }
            Undo::Clock(nodes) => {
                // Back to real time without a step back: the driver finishes the
                // slews; `settle_s` says how long each takes.
                if let Some(driver) = &self.clocks {
                    value["clocks"] = json!(driver.settle(nodes));
                }
            }
        }
        let outcome = if errors.is_empty() {
            Outcome::Installed
        } else {
            value["errors"] = json!(errors);
            Outcome::Indeterminate
        };
        self.complete(f, value, outcome);
        self.publish();
    }

    /// Heals every running fault, then SIGCONTs every node; with crash points, then
    /// restarts any node that is not running and disarms the others.
    fn final_heal(&mut self) {
        self.healed = true;
        if !self.enabled {
            return;
        }
        while let Some(r) = self.running.pop() {
            self.stop_fault(r);
        }
        let mut nodes = self.control.nodes();
        nodes.sort();
        self.emit("heal", json!({ "final": true }), None);
        let mut resumed = Vec::new();
        let mut errors = BTreeMap::new();
        for node in &nodes {
            if let (Some(pid), Some(host)) = (self.control.pid(node), self.control.host(node)) {
                match host.signal(pid, Signal::SIGCONT) {
                    Ok(()) => resumed.push(node.clone()),
                    Err(e) => {
                        errors.insert(node.clone(), e.to_string());
                    }
                }
            }
        }
        let mut value = json!({ "final": true, "signal": "SIGCONT", "nodes": resumed });
        if !self.crash_points.is_empty() {
            // A node paused while its crash fault healed could not be disarmed then;
            // now that every node runs again, make sure none stays armed or dead.
            let mut restarted = Vec::new();
            for node in &nodes {
                if pid_if_running(&*self.control, node).is_none() {
                    restarted.push(node.clone());
                    if let Err(e) = self.control.restart(node) {
                        errors.insert(node.clone(), e);
                    }
                    continue;
                }
                for point in self.crash_points.clone() {
                    if let Err(e) = self.control.set_crash_point(node, point, None) {
                        errors.insert(node.clone(), e);
                    }
                }
            }
            value["restarted"] = json!(restarted);
        }
        if let Some(driver) = &self.clocks {
            // Like a cluster after an NTP fix: every clock real again before the
            // test goes on, those ahead slewed back (see `crate::clock`).
            let waited = Instant::now();
            let (took, pending) = driver.settle_all(ClockDriver::longest_settle());
            value["clocks_settled_s"] = json!(took);
            value["clocks_waited_s"] =
                json!((waited.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
            for (node, offset) in pending {
                errors.insert(
                    node,
                    format!("clock still {offset} s off when the wait ended"),
                );
            }
        }
        let outcome = if errors.is_empty() {
            Outcome::Installed
        } else {
            value["errors"] = json!(errors);
            Outcome::Indeterminate
        };
        self.complete("heal", value, outcome);
        self.publish();
    }
}

/// The node's host, pid and `/proc` fields if its process is running (not a zombie);
/// `Err` when its host cannot be asked.
fn running(
    control: &dyn ClusterControl,
    node: &str,
) -> crate::Result<Option<(Host, i32, ProcStat)>> {
    let (Some(host), Some(pid)) = (control.host(node), control.pid(node)) else {
        return Ok(None);
    };
    Ok(host
        .stat(pid)?
        .filter(|s| s.state != 'Z')
        .map(|s| (host, pid, s)))
}

/// SIGKILLs the node's process if it is running and waits until it is gone (or a
/// zombie). `Ok(Some(pid))` once it is gone, `Ok(None)` when it was not running;
/// `Err` with the pid signalled, if any, when the host could not be asked or the
/// process did not go.
pub(crate) fn kill_running(
    control: &dyn ClusterControl,
    node: &str,
) -> std::result::Result<Option<i32>, (Option<i32>, crate::Error)> {
    match running(control, node) {
        Err(e) => Err((None, e)),
        Ok(None) => Ok(None),
        Ok(Some((host, pid, stat))) => match host.kill_confirmed(pid, stat.start_time) {
            Ok(()) => Ok(Some(pid)),
            Err(e) => Err((Some(pid), e)),
        },
    }
}

/// The pid of the node's process, if it is running (not a zombie; a host that
/// cannot be asked counts as not running).
pub(crate) fn pid_if_running(control: &dyn ClusterControl, node: &str) -> Option<i32> {
    running(control, node).ok().flatten().map(|(_, pid, _)| pid)
}

/// Whether the node's process is stopped (SIGSTOP): it cannot answer a request.
pub(crate) fn is_stopped(control: &dyn ClusterControl, node: &str) -> bool {
    running(control, node)
        .ok()
        .flatten()
        .is_some_and(|(_, _, s)| s.state == 'T')
}

/// The outcome of a fault made of several changes, the error (if one failed) recorded
/// in `value`: skipped when it failed before any change (`reason`), indeterminate when
/// it failed after some (`error`), else installed.
fn install_outcome(value: &mut Value, err: Option<crate::Error>, nothing_done: bool) -> Outcome {
    match err {
        None => Outcome::Installed,
        Some(e) if nothing_done => {
            value["reason"] = json!(e.to_string());
            Outcome::Skipped
        }
        Some(e) => {
            value["error"] = json!(e.to_string());
            Outcome::Indeterminate
        }
    }
}

/// Records in `value` what a signal fault did (the target nodes, the signal, the pids
/// signalled, the nodes that were not running and any errors) and returns its outcome:
/// indeterminate after an error, skipped when no process was signalled, else installed.
fn signal_outcome(
    value: &mut Value,
    nodes: &[String],
    signal: &str,
    pids: Value,
    not_running: Vec<String>,
    errors: BTreeMap<String, String>,
) -> Outcome {
    let signalled = pids.as_object().is_some_and(|p| !p.is_empty());
    value["nodes"] = json!(nodes);
    value["signal"] = json!(signal);
    value["pids"] = pids;
    if !not_running.is_empty() {
        value["not_running"] = json!(not_running);
    }
    if !errors.is_empty() {
        value["errors"] = json!(errors);
        Outcome::Indeterminate
    } else if !signalled {
        value["reason"] = json!("none of the target nodes was running");
        Outcome::Skipped
    } else {
        Outcome::Installed
    }
}
