//! Replaying and shrinking failing traces.
//!
//! A trace replays exactly: the same setup and steps give the same run. The
//! shrinker keeps a change whenever the shorter trace still breaks the same
//! property: it cuts the trace after the failing step, tries simpler setups
//! (shorter election timeouts, no flow-control limits, no PreVote or
//! CheckQuorum), removes nodes (and every step that names them), removes runs
//! of steps (halving their length down to single steps, from the end
//! backwards, until nothing more can go, then pairs of steps that only go
//! together), and simplifies what is left
//! (deliveries from the head of their queue, crashes in a write that keep
//! nothing). It works within a replay and time budget.

use std::fmt::Write;
use std::time::{Duration, Instant};

use super::action::Action;
use super::checks::{Property, Violation};
use super::generate::Setup;
use super::world::World;
use crate::raft::Config;

/// A setup and its steps: everything a run depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The cluster.
    pub setup: Setup,
    /// The steps, in order.
    pub actions: Vec<Action>,
    /// Whether the faults stop after the steps and the cluster must settle
    /// (the liveness phase, itself deterministic).
    pub settle: bool,
}

/// What replaying a trace gave.
pub(crate) struct Replay {
    /// The first broken property and the index of the step that broke it
    /// (`actions.len()` when it broke while settling).
    pub failure: Option<(Violation, usize)>,
    /// Whether each step before the failure had an effect.
    pub effective: Vec<bool>,
}

impl Trace {
    /// Runs the trace from the start.
    pub(crate) fn replay(&self) -> Replay {
        let mut world = World::new(self.setup.clone());
        let mut effective = Vec::with_capacity(self.actions.len());
        for (k, &a) in self.actions.iter().enumerate() {
            match world.apply(a) {
                Ok(e) => effective.push(e),
                Err(v) => {
                    return Replay {
                        failure: Some((v, k)),
                        effective,
                    }
                }
            }
        }
        let failure = if self.settle {
            world.settle(None).err().map(|v| (v, self.actions.len()))
        } else {
            None
        };
        Replay { failure, effective }
    }

    /// The first violation the trace shows, if any.
    pub fn violation(&self) -> Option<Violation> {
        self.replay().failure.map(|(v, _)| v)
    }

    /// Steps the trace takes; the settling phase counts as one.
    pub fn len(&self) -> usize {
        self.render_steps().0.len()
    }

    /// Whether the trace has no step at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every effective step in words (the settling phase as one step, with
    /// its last steps), and the violation at the end.
    fn render_steps(&self) -> (Vec<String>, Option<Violation>) {
        let mut world = World::new(self.setup.clone());
        let mut lines = Vec::new();
        for &a in &self.actions {
            let described = world.describe(a);
            match world.apply(a) {
                Ok(true) => lines.push(described),
                Ok(false) => {}
                Err(v) => {
                    lines.push(described);
                    return (lines, Some(v));
                }
            }
        }
        let mut violation = None;
        if self.settle {
            let mut settling = Vec::new();
            violation = world.settle(Some(&mut settling)).err();
            let shown = settling.len().min(SETTLE_SHOWN);
            let mut line = format!(
                "the faults stop: heal, resume and restart every node, then rounds of one tick \
                 per node and in-order delivery ({} steps",
                settling.len()
            );
            if shown < settling.len() {
                let _ = write!(line, ", the last {shown} shown");
            }
            line.push_str("):");
            for s in &settling[settling.len() - shown..] {
                let _ = write!(line, "\n          {s}");
            }
            lines.push(line);
        }
        (lines, violation)
    }

    /// A numbered step list, for people.
    pub fn render(&self) -> String {
        let s = &self.setup;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "seed {}: {} nodes, election tick {}, heartbeat tick {}, pre-vote {}, check-quorum {}, \
             {} entries per message, {} messages in flight, bugs: {}",
            s.seed,
            s.nodes,
            s.raft.election_tick,
            s.raft.heartbeat_tick,
            on_off(s.raft.pre_vote),
            on_off(s.raft.check_quorum),
            s.raft.max_entries_per_message,
            s.raft.max_inflight_messages,
            bug_names(s)
        );
        let (lines, violation) = self.render_steps();
        for (k, line) in lines.iter().enumerate() {
            let _ = writeln!(out, "{:>4}. {line}", k + 1);
        }
        match violation {
            Some(v) => {
                let _ = writeln!(out, "=> {v}");
            }
            None => {
                let _ = writeln!(out, "=> no violation");
            }
        }
        out
    }
}

/// The bugs and planted mistakes a setup runs with, by name.
fn bug_names(s: &Setup) -> String {
    let b = &s.raft.bugs;
    let mut names: Vec<String> = [
        (b.vote_without_log_check, "vote-without-log-check"),
        (b.commit_old_term, "commit-old-term"),
        (b.leader_local_read, "leader-local-read"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name.to_string())
    .collect();
    names.extend(planted_names(s));
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The planted mistakes of unit-test builds that a setup runs with.
fn planted_names(s: &Setup) -> Vec<String> {
    #[cfg(test)]
    {
        let mut names = Vec::new();
        if s.raft.bugs.planted != crate::raft::node::Planted::default() {
            names.push(format!("{:?}", s.raft.bugs.planted));
        }
        if s.send_before_persist {
            names.push("send-before-persist".to_string());
        }
        names
    }
    #[cfg(not(test))]
    {
        let _ = s;
        Vec::new()
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// Steps of the settling phase a rendered trace shows.
const SETTLE_SHOWN: usize = 24;

/// Limits of one shrink.
const MAX_REPLAYS: usize = 50_000;
const MAX_TIME: Duration = Duration::from_secs(120);

/// Shrinks `trace`, which breaks `property`, to a shorter trace that breaks it too.
pub fn shrink(trace: &Trace, property: Property) -> Trace {
    let started = Instant::now();
    let mut replays = 0;
    // The trace cut after its failing step, or `None` if it does not fail
    // `property` (or the budget is spent).
    let mut attempt = |t: Trace| -> Option<Trace> {
        if replays >= MAX_REPLAYS || started.elapsed() > MAX_TIME {
            return None;
        }
        replays += 1;
        let r = t.replay();
        let (v, k) = r.failure?;
        if v.property != property {
            return None;
        }
        Some(cut(t, k, &r.effective))
    };
    let Some(mut best) = attempt(trace.clone()) else {
        return trace.clone();
    };
    loop {
        let before = weight(&best);
        for simpler in simpler_setups(&best.setup) {
            let mut t = best.clone();
            t.setup = simpler;
            if let Some(t) = attempt(t) {
                best = t;
            }
        }
        for node in (0..best.setup.nodes).rev() {
            if best.setup.nodes <= 2 {
                break;
            }
            let mut t = best.clone();
            t.setup.nodes -= 1;
            t.actions = best
                .actions
                .iter()
                .filter_map(|a| a.without_node(node))
                .collect();
            if let Some(t) = attempt(t) {
                best = t;
            }
        }
        let mut chunk = (best.actions.len() / 2).max(1);
        loop {
            let mut progress = false;
            let mut end = best.actions.len();
            while end > 0 {
                let start = end.saturating_sub(chunk);
                let mut t = best.clone();
                t.actions.drain(start..end);
                match attempt(t) {
                    Some(t) => {
                        end = start.min(t.actions.len());
                        best = t;
                        progress = true;
                    }
                    None => end = start,
                }
            }
            if chunk == 1 && !progress {
                break;
            }
            if !progress {
                chunk /= 2;
            }
        }
        // Steps that only go together (a partition and its heal, a crash and
        // its restart): remove two at a time, once one at a time is stuck.
        'pairs: for j in (1..best.actions.len()).rev() {
            for i in (0..j).rev() {
                if j >= best.actions.len() {
                    break 'pairs;
                }
                let mut t = best.clone();
                t.actions.remove(j);
                t.actions.remove(i);
                if let Some(t) = attempt(t) {
                    best = t;
                    continue 'pairs;
                }
            }
        }
        for k in 0..best.actions.len() {
            let simpler = match best.actions[k] {
                Action::Deliver { from, to, nth } if nth > 0 => {
                    Action::Deliver { from, to, nth: 0 }
                }
                Action::Drop { from, to, nth } if nth > 0 => Action::Drop { from, to, nth: 0 },
                Action::Duplicate { from, to, nth } if nth > 0 => {
                    Action::Duplicate { from, to, nth: 0 }
                }
                Action::CrashInWrite { node, keep } if keep > 0 => {
                    Action::CrashInWrite { node, keep: 0 }
                }
                _ => continue,
            };
            if k >= best.actions.len() {
                break;
            }
            let mut t = best.clone();
            t.actions[k] = simpler;
            if let Some(t) = attempt(t) {
                best = t;
            }
        }
        if weight(&best) >= before {
            return best;
        }
    }
}

/// How big a trace is: steps, nodes and timeouts.
fn weight(t: &Trace) -> usize {
    t.actions.len() + usize::from(t.setup.nodes) + t.setup.raft.election_tick as usize
}

/// Setups that take fewer steps to show the same thing: shorter timeouts,
/// no flow-control limits, no PreVote or CheckQuorum.
fn simpler_setups(s: &Setup) -> Vec<Setup> {
    let r = &s.raft;
    let mut changes: Vec<fn(&mut Config)> = Vec::new();
    if r.election_tick > 2 {
        changes.push(|c| (c.election_tick, c.heartbeat_tick) = (2, 1));
        changes.push(|c| {
            c.election_tick -= 1;
            c.heartbeat_tick = c.heartbeat_tick.min(c.election_tick - 1).max(1);
        });
    }
    if r.max_entries_per_message < 256 {
        changes.push(|c| c.max_entries_per_message = 256);
    }
    if r.max_inflight_messages < 64 {
        changes.push(|c| c.max_inflight_messages = 64);
    }
    if r.pre_vote {
        changes.push(|c| c.pre_vote = false);
    }
    if r.check_quorum {
        changes.push(|c| c.check_quorum = false);
    }
    changes
        .into_iter()
        .map(|change| {
            let mut simpler = s.clone();
            change(&mut simpler.raft);
            simpler
        })
        .collect()
}

/// `t` without the steps after `failed` and without the steps that had no
/// effect (removing them changes nothing); the settling phase is kept only if
/// the failure happened there.
fn cut(mut t: Trace, failed: usize, effective: &[bool]) -> Trace {
    let in_settle = failed >= t.actions.len();
    t.actions.truncate(failed + 1);
    let mut k = 0;
    t.actions.retain(|_| {
        let keep = effective.get(k).copied().unwrap_or(true);
        k += 1;
        keep
    });
    t.settle = in_settle;
    t
}
