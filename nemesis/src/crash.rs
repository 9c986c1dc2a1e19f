//! Crash supervision: the state of a crash fault in force and what the nemesis
//! runner does for it besides its fault loop: arming a crash point in every running
//! node, a supervision round every [`CRASH_SUPERVISION`] (take out the leader, restart
//! the longest-down node when more than a minority is down, arm the restarted ones
//! again), and the heal (restart the nodes that are down, disarm the others).
//!
//! A crash point sits on a path the database takes at a given moment: granting a
//! vote, storing a new leader's first entry, appending as a leader. A quiet cluster
//! with a stable leader never walks the election paths, so for a point on one
//! ([`CrashPoint::needs_elections`]) the fault makes the elections happen: it kills
//! the leader when the fault starts, then each leader that has led for
//! [`LEADER_TERM`], and a leader at once while more than a minority of the nodes is
//! down (a leader that cannot commit anything); the killed leaders join the crashed
//! nodes in the rolling restarts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::control::{ClusterControl, Outcome};
use crate::runner::{is_stopped, kill_running, pid_if_running};
use crate::schedule::CrashPoint;

/// How often a running crash fault looks for nodes to restart or re-arm.
pub(crate) const CRASH_SUPERVISION: Duration = Duration::from_millis(20);

/// How long a node may lead while a crash fault lasts before the fault kills it, so
/// that a fault of a few seconds sees several elections even when no point fires.
pub(crate) const LEADER_TERM: Duration = Duration::from_millis(500);

/// A crash fault in force. While it lasts, nodes that crash stay down, but never
/// more than a minority of the cluster: when one more crashes, the node that has
/// been down longest is restarted and armed again. Leadership then passes back and
/// forth between nodes that each hold entries the others lack, and a voter sees
/// them in turn: the schedule of Figure 8 of the Raft paper, played over and over.
/// The fault also takes leaders out (see [`CrashArming::supervise`]): a voter
/// that crashed inside an election and the leader it elected are then both down,
/// and the nodes restarted in their place elect again in the same term.
#[derive(Debug)]
pub(crate) struct CrashArming {
    /// The point.
    point: CrashPoint,
    /// The nodes armed when the fault started, and those whose arming failed
    /// (they may be armed all the same).
    nodes: Vec<String>,
    /// How many of them may be down at once.
    max_down: usize,
    /// The nodes down now (crashed at the point, or killed as the leader), longest
    /// down first.
    down: Vec<String>,
    /// The nodes of `down` that the fault killed as the leader.
    killed: Vec<String>,
    /// The leader seen last and when it was first seen leading (cleared when the
    /// fault kills it).
    leader: Option<(String, Instant)>,
    /// How often the fault killed each node as the leader.
    leader_kills: BTreeMap<String, u32>,
    /// Nodes restarted during the fault and not armed yet (a fresh process needs a
    /// moment before it answers).
    unarmed: Vec<String>,
    /// How often each node was restarted during the fault.
    restarts: BTreeMap<String, u32>,
}

impl CrashArming {
    /// Arms `point` in every running node until `deadline` (a node that cannot be
    /// disarmed then, because it is paused, disarms itself); fills `value` with what
    /// was done. Returns the fault's state, the nodes armed and the outcome.
    pub(crate) fn arm(
        control: &dyn ClusterControl,
        point: CrashPoint,
        deadline: Instant,
        value: &mut Value,
    ) -> (CrashArming, Vec<String>, Outcome) {
        let armed_for = deadline.saturating_duration_since(Instant::now());
        let mut nodes = control.nodes();
        nodes.sort();
        let cluster_size = nodes.len();
        let mut armed = Vec::new();
        let mut not_running = Vec::new();
        let mut paused = Vec::new();
        let mut errors = BTreeMap::new();
        for node in nodes {
            if pid_if_running(control, &node).is_none() {
                not_running.push(node);
                continue;
            }
            if is_stopped(control, &node) {
                paused.push(node); // it could not answer
                continue;
            }
            match control.set_crash_point(&node, point, Some(armed_for)) {
                Ok(()) => armed.push(node),
                Err(e) => {
                    errors.insert(node, e);
                }
            }
        }
        value["nodes"] = json!(armed);
        if !not_running.is_empty() {
            value["not_running"] = json!(not_running);
        }
        if !paused.is_empty() {
            value["paused"] = json!(paused);
        }
        let outcome = if armed.is_empty() {
            value["reason"] = match errors.values().next() {
                Some(e) => json!(e),
                None => json!("no node was running unpaused"),
            };
            Outcome::Skipped
        } else if !errors.is_empty() {
            value["errors"] = json!(errors);
            Outcome::Indeterminate
        } else {
            Outcome::Installed
        };
        // A node whose arming failed may be armed all the same (the answer was
        // lost, not the request): it is supervised, restarted and disarmed too, so
        // that it does not stay down for the rest of the run if it crashes.
        let mut supervised: Vec<String> = armed.iter().chain(errors.keys()).cloned().collect();
        supervised.sort();
        let arming = CrashArming {
            point,
            nodes: supervised,
            max_down: cluster_size.saturating_sub(1) / 2,
            down: Vec::new(),
            killed: Vec::new(),
            leader: None,
            leader_kills: BTreeMap::new(),
            unarmed: Vec::new(),
            restarts: BTreeMap::new(),
        };
        (arming, armed, outcome)
    }

    /// One supervision round: notes the armed nodes that crashed, takes out the
    /// leader (see [`CrashArming::take_out_leader`]), restarts the longest-down nodes
    /// while more than a minority is down, and arms the restarted ones again for the
    /// `remaining` time of the fault. Nodes in `held` (a running kill will restart
    /// them) are left alone. A kill, restart or arming that fails is retried at the
    /// next round.
    pub(crate) fn supervise(
        &mut self,
        control: &dyn ClusterControl,
        held: &[String],
        remaining: Duration,
    ) {
        if remaining.is_zero() {
            return;
        }
        let running_pid = |node: &str| pid_if_running(control, node);
        self.down.retain(|node| running_pid(node).is_none());
        let down = &self.down;
        self.killed.retain(|node| down.contains(node));
        for node in &self.nodes {
            let down = running_pid(node).is_none() && !held.contains(node);
            if down && !self.down.contains(node) {
                self.down.push(node.clone());
            }
        }
        self.take_out_leader(control, held);
        while self.down.len() > self.max_down {
            let node = self.down[0].clone();
            if control.restart(&node).is_err() {
                break; // tried again at the next round
            }
            self.down.remove(0);
            self.killed.retain(|n| *n != node);
            *self.restarts.entry(node.clone()).or_default() += 1;
            self.unarmed.push(node);
        }
        let point = self.point;
        self.unarmed.retain(|node| match running_pid(node) {
            Some(_) if !is_stopped(control, node) => control
                .set_crash_point(node, point, Some(remaining))
                .is_err(),
            _ => true,
        });
    }

    /// For a point on the path of an election ([`CrashPoint::needs_elections`]),
    /// kills the node the cluster names as leader (SIGKILL) when it is the first
    /// leader this fault sees, when it has led for [`LEADER_TERM`], or when more than
    /// a minority of the nodes is down (it can commit nothing then, and killing it
    /// before the others come back keeps it from telling them its term). A leader
    /// that is down, paused or held by a kill fault is left alone.
    fn take_out_leader(&mut self, control: &dyn ClusterControl, held: &[String]) {
        if !self.point.needs_elections() {
            return;
        }
        let Some(leader) = control.leader() else {
            return;
        };
        if !self.nodes.contains(&leader)
            || self.down.contains(&leader)
            || held.contains(&leader)
            || is_stopped(control, &leader)
        {
            return;
        }
        let now = Instant::now();
        let since = match &self.leader {
            Some((name, since)) if *name == leader => *since,
            _ => {
                self.leader = Some((leader.clone(), now));
                now
            }
        };
        let first = self.leader_kills.is_empty();
        let long_enough = now.saturating_duration_since(since) >= LEADER_TERM;
        if !(first || long_enough || self.down.len() > self.max_down) {
            return;
        }
        if let Ok(Some(_)) = kill_running(control, &leader) {
            self.leader = None;
            self.down.push(leader.clone());
            self.killed.push(leader.clone());
            *self.leader_kills.entry(leader).or_default() += 1;
        }
    }

    /// Heals the fault: restarts the armed nodes that are down (crashed, or killed as
    /// the leader) and disarms the others (a node paused now disarms itself when its
    /// arming expires; one in `held` is restarted by its kill). Records what was done
    /// in `value`, failures in `errors`.
    pub(crate) fn recover(
        &self,
        control: &dyn ClusterControl,
        held: &[&String],
        value: &mut Value,
        errors: &mut BTreeMap<String, String>,
    ) {
        let (point, nodes) = (&self.point, &self.nodes);
        let (mut crashed, mut disarmed) = (Vec::new(), Vec::new());
        let (mut killed, mut paused) = (Vec::new(), Vec::new());
        let mut leader_down = Vec::new();
        for node in nodes {
            let result = match pid_if_running(control, node) {
                _ if held.contains(&node) => {
                    killed.push(node.clone()); // that kill's heal restarts it
                    Ok(())
                }
                Some(_) if is_stopped(control, node) => {
                    paused.push(node.clone()); // its arming expires now
                    Ok(())
                }
                Some(_) => {
                    disarmed.push(node.clone());
                    control.set_crash_point(node, *point, None)
                }
                None => {
                    if self.killed.contains(node) {
                        leader_down.push(node.clone());
                    } else {
                        crashed.push(node.clone());
                    }
                    control.restart(node)
                }
            };
            if let Err(e) = result {
                errors.insert(node.clone(), e);
            }
        }
        value["crashed"] = json!(crashed);
        value["disarmed"] = json!(disarmed);
        if !self.restarts.is_empty() {
            value["restarted_during"] = json!(self.restarts);
        }
        if !self.leader_kills.is_empty() {
            value["leader_kills"] = json!(self.leader_kills);
        }
        if !leader_down.is_empty() {
            value["killed_leaders"] = json!(leader_down);
        }
        if !killed.is_empty() {
            value["killed"] = json!(killed);
        }
        if !paused.is_empty() {
            value["paused"] = json!(paused);
        }
    }
}
