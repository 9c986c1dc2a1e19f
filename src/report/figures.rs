//! Figures computed from a history alone: operation counts, latency quantiles,
//! throughput, every fault with its outcome and the time it was in force, and
//! availability inside and outside fault windows.
//!
//! A client operation is an `invoke` followed, on the same process, by one completion
//! (`ok`, `fail` or `info`); an invocation that never completed is *pending* and counts
//! like `info`. Latency is measured from invocation to completion and only completed
//! operations have one.
//!
//! Nemesis operations are paired the same way (invoke, then the next completion of the
//! nemesis process). Each pair is one *fault action*: starting a fault (kill, pause,
//! partition, ...) or healing one (restart, resume, heal, ...). A fault is *in force*
//! from the invocation of its starting action to the completion of the action that
//! heals it, or until the end of the run if nothing healed it. Actions whose outcome is
//! `skipped` changed nothing and open no window. The outcome of an action is its
//! value's `outcome` field (`installed | skipped | indeterminate`) when present, and is
//! otherwise derived from the completion type (`ok` installed, `fail` skipped, `info`
//! indeterminate).

use std::collections::BTreeMap;

use nemesis::Outcome;
use serde::{Deserialize, Serialize};
use workloads::history::{Op, OpType, Process, Value};

/// How a client operation ended (its completion's type, or pending). Faults end in a
/// [`nemesis::Outcome`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpEnd {
    /// It happened.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown: it may have happened.
    Info,
    /// It never completed (treated like `info`).
    Pending,
}

impl OpEnd {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OpEnd::Ok => "ok",
            OpEnd::Fail => "fail",
            OpEnd::Info => "info",
            OpEnd::Pending => "pending",
        }
    }
}

/// One client operation: an invocation and its completion, if any.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Position of the invocation in the op list.
    pub invoke: usize,
    /// Position of the completion in the op list, if it completed.
    pub complete: Option<usize>,
    /// The logical process.
    pub process: u64,
    /// Invocation time, ns since the test started.
    pub start: u64,
    /// Completion time, ns, if it completed.
    pub end: Option<u64>,
    /// How it ended.
    pub outcome: OpEnd,
}

impl Pair {
    /// Latency in nanoseconds, if it completed.
    pub fn latency(&self) -> Option<u64> {
        self.end.map(|e| e.saturating_sub(self.start))
    }
}

/// One nemesis action (an invocation and its completion, or a lone completion).
#[derive(Debug, Clone)]
pub struct Action {
    /// Position of the invocation in the op list, if there was one.
    pub invoke: Option<usize>,
    /// Position of the completion in the op list (the invocation if it never completed).
    pub complete: usize,
    /// Start time, ns.
    pub start: u64,
    /// End time, ns.
    pub end: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// Client operations and nemesis actions of a history, paired.
#[derive(Debug, Clone, Default)]
pub struct Paired {
    /// Client operations, in invocation order.
    pub pairs: Vec<Pair>,
    /// Nemesis actions, in invocation order.
    pub actions: Vec<Action>,
    /// Time of the last operation, ns.
    pub end_time: u64,
    /// Completions with no open invocation on their process (malformed history lines).
    pub orphans: usize,
}

/// Pairs invocations with completions.
pub fn pair(ops: &[Op]) -> Paired {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut nemesis_open: Option<usize> = None;
    let mut out = Paired::default();
    for (i, op) in ops.iter().enumerate() {
        out.end_time = out.end_time.max(op.time);
        match op.process {
            Process::Client(p) => {
                if op.op_type == OpType::Invoke {
                    open.insert(p, out.pairs.len());
                    out.pairs.push(Pair {
                        invoke: i,
                        complete: None,
                        process: p,
                        start: op.time,
                        end: None,
                        outcome: OpEnd::Pending,
                    });
                } else if let Some(at) = open.remove(&p) {
                    let pair = &mut out.pairs[at];
                    pair.complete = Some(i);
                    pair.end = Some(op.time);
                    pair.outcome = match op.op_type {
                        OpType::Ok => OpEnd::Ok,
                        OpType::Fail => OpEnd::Fail,
                        _ => OpEnd::Info,
                    };
                } else {
                    out.orphans += 1;
                }
            }
            Process::Nemesis => {
                if op.op_type == OpType::Invoke {
                    if let Some(prev) = nemesis_open.take() {
                        out.actions.push(lone_action(ops, prev));
                    }
                    nemesis_open = Some(i);
                } else {
                    let invoke = nemesis_open.take();
                    let start = invoke.map_or(op.time, |j| ops[j].time);
                    out.actions.push(Action {
                        invoke,
                        complete: i,
                        start,
                        end: op.time,
                        outcome: action_outcome(op),
                    });
                }
            }
        }
    }
    if let Some(prev) = nemesis_open {
        out.actions.push(lone_action(ops, prev));
    }
    out
}

/// A nemesis invocation that never completed: indeterminate.
fn lone_action(ops: &[Op], i: usize) -> Action {
    Action {
        invoke: Some(i),
        complete: i,
        start: ops[i].time,
        end: ops[i].time,
        outcome: Outcome::Indeterminate,
    }
}

/// The outcome of a nemesis completion (see the module docs).
fn action_outcome(op: &Op) -> Outcome {
    let recorded = match &op.value {
        Value::Json(v) => v.get("outcome").cloned(),
        _ => None,
    };
    recorded
        .and_then(|o| serde_json::from_value(o).ok())
        .unwrap_or(match op.op_type {
            OpType::Ok => Outcome::Installed,
            OpType::Fail => Outcome::Skipped,
            _ => Outcome::Indeterminate,
        })
}

/// Whether a nemesis function starts a fault or heals one, and which family of faults.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    /// Starts a fault of the family.
    Start(String),
    /// Heals faults of the family.
    Heal(String),
    /// Heals every fault in force.
    HealAll,
}

/// Classifies a nemesis function name. The nemesis writes `kill` / `restart`,
/// `pause` / `resume` and `partition` / `heal`; Jepsen's `start-X` / `stop-X` (or
/// `X-start` / `X-stop`) pairs and `heal-all` are understood too, so imported
/// histories shade correctly.
fn role(f: &str) -> Role {
    let f = f.to_ascii_lowercase().replace('_', "-");
    match f.as_str() {
        "heal-all" | "final-heal" | "stop-all" | "recover" | "reset" => return Role::HealAll,
        "restart" | "start" | "restart-node" | "start-node" | "revive" => {
            return Role::Heal("kill".into())
        }
        "resume" | "unpause" | "cont" | "sigcont" | "resume-node" => {
            return Role::Heal("pause".into())
        }
        "heal" | "heal-partition" | "heal-network" => return Role::Heal("partition".into()),
        _ => {}
    }
    for (prefix, heal) in [("stop-", true), ("start-", false)] {
        if let Some(rest) = f.strip_prefix(prefix) {
            return if heal {
                Role::Heal(family(rest))
            } else {
                Role::Start(family(rest))
            };
        }
    }
    for (suffix, heal) in [("-stop", true), ("-start", false)] {
        if let Some(rest) = f.strip_suffix(suffix) {
            return if heal {
                Role::Heal(family(rest))
            } else {
                Role::Start(family(rest))
            };
        }
    }
    Role::Start(family(&f))
}

/// The family of a starting fault name: `kill-node` → `kill`, `pause` → `pause`,
/// `partition-majorities-ring` → `partition`.
fn family(name: &str) -> String {
    for known in ["kill", "pause", "partition"] {
        if name.starts_with(known) {
            return known.to_string();
        }
    }
    name.to_string()
}

/// A fault and the time it was in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// The nemesis function that started it.
    pub f: String,
    /// Its family (`kill`, `pause`, `partition`, ...).
    pub family: String,
    /// What the nemesis said it did (its completion's value).
    pub value: serde_json::Value,
    /// How its starting action ended.
    pub outcome: Outcome,
    /// History index of the starting action's invocation (or completion).
    pub index: u64,
    /// When it started, seconds since the test started.
    pub start_s: f64,
    /// When it was healed, seconds; `null` if it was never healed or was skipped.
    pub end_s: Option<f64>,
    /// The nemesis function that healed it, if any.
    pub healed_by: Option<String>,
}

/// Fault windows in ns, for shading and availability; never-healed faults end at `end`.
pub fn windows(faults: &[Fault], end: u64) -> Vec<(u64, u64)> {
    let mut w: Vec<(u64, u64)> = faults
        .iter()
        .filter(|f| f.outcome != Outcome::Skipped)
        .map(|f| {
            let s = secs_to_ns(f.start_s);
            let e = f.end_s.map_or(end, secs_to_ns);
            (s, e.max(s))
        })
        .collect();
    w.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(w.len());
    for (s, e) in w {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Seconds (as stored in figures) back to nanoseconds.
fn secs_to_ns(s: f64) -> u64 {
    (s * 1e9).round().max(0.0) as u64
}

/// Nanoseconds to seconds.
pub fn ns_to_secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Every fault the nemesis started, with its outcome and when it was healed.
pub fn faults(ops: &[Op], actions: &[Action]) -> Vec<Fault> {
    let mut out: Vec<Fault> = Vec::new();
    // Indices into `out` of faults in force.
    let mut open: Vec<usize> = Vec::new();
    for a in actions {
        let op = &ops[a.complete];
        let first = &ops[a.invoke.unwrap_or(a.complete)];
        match role(&op.f) {
            Role::Start(family) => {
                let skipped = a.outcome == Outcome::Skipped;
                out.push(Fault {
                    f: op.f.clone(),
                    family,
                    value: op.value.to_json(),
                    outcome: a.outcome,
                    index: first.index,
                    start_s: ns_to_secs(a.start),
                    end_s: skipped.then(|| ns_to_secs(a.end)),
                    healed_by: None,
                });
                if !skipped {
                    open.push(out.len() - 1);
                }
            }
            Role::Heal(family) => {
                open.retain(|&i| {
                    if out[i].family == family {
                        out[i].end_s = Some(ns_to_secs(a.end));
                        out[i].healed_by = Some(op.f.clone());
                        false
                    } else {
                        true
                    }
                });
            }
            Role::HealAll => {
                for i in open.drain(..) {
                    out[i].end_s = Some(ns_to_secs(a.end));
                    out[i].healed_by = Some(op.f.clone());
                }
            }
        }
    }
    out
}

/// Counts of completions by type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Invocations.
    pub invoke: u64,
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions.
    pub fail: u64,
    /// `info` completions.
    pub info: u64,
    /// Invocations that never completed.
    pub pending: u64,
}

impl Counts {
    /// Adds one operation with the given outcome.
    fn add(&mut self, o: OpEnd) {
        self.invoke += 1;
        match o {
            OpEnd::Ok => self.ok += 1,
            OpEnd::Fail => self.fail += 1,
            OpEnd::Info => self.info += 1,
            OpEnd::Pending => self.pending += 1,
        }
    }
}

/// Operation counts overall and per function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpCounts {
    /// All client operations.
    pub total: Counts,
    /// Per function (`read`, `write`, `cas`, ...).
    pub by_f: BTreeMap<String, Counts>,
    /// Nemesis actions.
    pub nemesis: u64,
    /// Completions without a matching invocation (a malformed history).
    pub orphan_completions: u64,
}

/// Latency quantiles of completed operations, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// How many operations they summarise.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// Nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    assert!((0.0..=1.0).contains(&q), "a quantile lies in [0, 1]");
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Quantiles {
    /// Quantiles of latencies in ns (sorted in place).
    fn of(lat: &mut [u64]) -> Quantiles {
        lat.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        Quantiles {
            count: lat.len() as u64,
            p50: ms(quantile(lat, 0.5)),
            p95: ms(quantile(lat, 0.95)),
            p99: ms(quantile(lat, 0.99)),
            max: ms(lat.last().copied().unwrap_or(0)),
        }
    }
}

/// Throughput over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// From the first to the last operation, seconds.
    pub duration_s: f64,
    /// Completed operations per second.
    pub completed_per_s: f64,
    /// `ok` operations per second.
    pub ok_per_s: f64,
}

/// Share of operations that succeeded among those invoked in some period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// Operations invoked in the period.
    pub total: u64,
    /// Of which `ok`.
    pub ok: u64,
    /// `ok / total`, `null` when nothing was invoked.
    pub fraction: Option<f64>,
}

impl Share {
    /// Adds one operation.
    fn add(&mut self, o: OpEnd) {
        self.total += 1;
        if o == OpEnd::Ok {
            self.ok += 1;
        }
    }

    /// Fills in `fraction`.
    fn finish(&mut self) {
        self.fraction = (self.total > 0).then(|| self.ok as f64 / self.total as f64);
    }
}

/// Availability: the share of `ok` operations while faults were in force, outside
/// fault windows, and after the last fault was healed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// Operations invoked while some fault was in force.
    pub during_faults: Share,
    /// Operations invoked while no fault was in force.
    pub outside_faults: Share,
    /// Operations invoked after the last fault window closed (recovery).
    pub after_faults: Share,
}

/// Everything computed from the history alone; stored as `results.json`'s `figures`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Operation counts.
    pub ops: OpCounts,
    /// Latency quantiles of completed operations, ms: `all` and one entry per function.
    pub latency_ms: BTreeMap<String, Quantiles>,
    /// Throughput over the run.
    pub throughput: Throughput,
    /// Every fault, in order, with its outcome.
    pub faults: Vec<Fault>,
    /// Availability in and out of fault windows.
    pub availability: Availability,
}

/// Computes the figures of a paired history.
pub fn compute(ops: &[Op], paired: &Paired) -> Figures {
    let mut counts = OpCounts {
        nemesis: paired.actions.len() as u64,
        orphan_completions: paired.orphans as u64,
        ..OpCounts::default()
    };
    let mut lat: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut all: Vec<u64> = Vec::with_capacity(paired.pairs.len());
    for p in &paired.pairs {
        let f = ops[p.invoke].f.as_str();
        counts.total.add(p.outcome);
        match counts.by_f.get_mut(f) {
            Some(c) => c.add(p.outcome),
            None => {
                let mut c = Counts::default();
                c.add(p.outcome);
                counts.by_f.insert(f.to_string(), c);
            }
        }
        if let Some(l) = p.latency() {
            lat.entry(f).or_default().push(l);
            all.push(l);
        }
    }
    let mut latency_ms: BTreeMap<String, Quantiles> = lat
        .into_iter()
        .map(|(f, mut v)| (f.to_string(), Quantiles::of(&mut v)))
        .collect();
    latency_ms.insert("all".to_string(), Quantiles::of(&mut all));

    let first = ops.iter().map(|o| o.time).min().unwrap_or(0);
    let duration_s = ns_to_secs(paired.end_time.saturating_sub(first));
    let completed = counts.total.ok + counts.total.fail + counts.total.info;
    let per_s = |n: u64| {
        if duration_s > 0.0 {
            n as f64 / duration_s
        } else {
            0.0
        }
    };
    let throughput = Throughput {
        duration_s,
        completed_per_s: per_s(completed),
        ok_per_s: per_s(counts.total.ok),
    };

    let faults = faults(ops, &paired.actions);
    let win = windows(&faults, paired.end_time);
    let last_end = win.last().map(|w| w.1);
    let mut availability = Availability::default();
    for p in &paired.pairs {
        if in_windows(&win, p.start) {
            availability.during_faults.add(p.outcome);
        } else {
            availability.outside_faults.add(p.outcome);
            if last_end.is_some_and(|e| p.start >= e) {
                availability.after_faults.add(p.outcome);
            }
        }
    }
    availability.during_faults.finish();
    availability.outside_faults.finish();
    availability.after_faults.finish();

    Figures {
        ops: counts,
        latency_ms,
        throughput,
        faults,
        availability,
    }
}

/// Whether time `t` lies in one of the sorted, disjoint windows.
pub fn in_windows(win: &[(u64, u64)], t: u64) -> bool {
    let i = win.partition_point(|w| w.0 <= t);
    i > 0 && t <= win[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::history::Value;

    fn op(index: u64, time: u64, process: Process, t: OpType, f: &str, value: Value) -> Op {
        Op {
            index,
            time,
            process,
            op_type: t,
            f: f.to_string(),
            key: None,
            value,
            error: None,
        }
    }

    #[test]
    fn roles_follow_jepsen_names() {
        assert_eq!(role("kill"), Role::Start("kill".into()));
        assert_eq!(role("restart"), Role::Heal("kill".into()));
        assert_eq!(role("start-partition"), Role::Start("partition".into()));
        assert_eq!(role("stop-partition"), Role::Heal("partition".into()));
        assert_eq!(role("pause"), Role::Start("pause".into()));
        assert_eq!(role("resume"), Role::Heal("pause".into()));
        assert_eq!(role("heal"), Role::Heal("partition".into()));
        assert_eq!(role("heal-all"), Role::HealAll);
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn availability_splits_by_fault_window() {
        use OpType::*;
        let c = Process::Client;
        let n = Process::Nemesis;
        let ops = vec![
            op(0, 0, c(0), Invoke, "write", Value::Int(1)),
            op(1, 10, c(0), Ok, "write", Value::Int(1)),
            op(2, 100, n, Invoke, "kill", Value::Null),
            op(3, 110, n, Info, "kill", Value::Null),
            op(4, 200, c(0), Invoke, "write", Value::Int(2)),
            op(5, 300, c(0), Info, "write", Value::Int(2)),
            op(6, 400, n, Invoke, "restart", Value::Null),
            op(7, 410, n, Ok, "restart", Value::Null),
            op(8, 500, c(1), Invoke, "read", Value::Null),
            op(9, 510, c(1), Ok, "read", Value::Int(1)),
            op(10, 520, c(2), Invoke, "read", Value::Null),
        ];
        let paired = pair(&ops);
        let fig = compute(&ops, &paired);
        assert_eq!(fig.ops.total.invoke, 4);
        assert_eq!(fig.ops.total.ok, 2);
        assert_eq!(fig.ops.total.info, 1);
        assert_eq!(fig.ops.total.pending, 1);
        assert_eq!(fig.faults.len(), 1);
        assert_eq!(fig.faults[0].outcome, Outcome::Indeterminate);
        assert_eq!(fig.faults[0].healed_by.as_deref(), Some("restart"));
        assert_eq!(fig.availability.during_faults.total, 1);
        assert_eq!(fig.availability.during_faults.fraction, Some(0.0));
        assert_eq!(fig.availability.outside_faults.total, 3);
        assert_eq!(fig.availability.after_faults.total, 2);
        assert_eq!(fig.availability.after_faults.ok, 1);
        assert_eq!(fig.latency_ms["all"].count, 3);
    }
}
