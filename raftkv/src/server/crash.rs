//! Crash points: places in the node's event loop where the node kills itself
//! (SIGKILL, as `kill -9` would) once a test armed the point through the `Crash`
//! RPC. A kill from outside lands wherever the process happens to be; a crash
//! point lands inside a window too narrow for that, such as the round trip between
//! granting a vote and storing the new leader's first entry, which is where a node
//! that forgets its vote (the `forget-vote` bug) does harm, or the moment between
//! a leader storing new entries and sending them, which leaves entries on one node
//! alone (the starting state of Figure 8 of the Raft paper, where a leader that
//! commits by counting replicas, the `commit-old-term` bug, does harm). faultline's
//! `crash` fault arms a point on every node; while it lasts, crashed nodes stay
//! down, at most a minority, and when one more crashes the one down longest is
//! restarted and armed again; at `after-vote` it also kills the leader now and then,
//! so that elections happen while the point is armed; at the heal the rest are
//! restarted. An armed point
//! fires at most once per process: a restarted process starts with every point
//! disarmed. An arming may carry an expiry, after which the point
//! disarms itself (the nemesis arms until the fault's planned end, so a node it
//! cannot reach then, being paused, does not crash afterwards).

use std::fmt;
use std::str::FromStr;

/// A place where an armed node crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrashPoint {
    /// After granting a vote (the answer was handed to the peer sender), at the
    /// first later batch of entries or snapshot to store, before storing it: for
    /// a node that voted for the winner, that is the new leader's first entry.
    AfterVote,
    /// On a leader, after storing entries it appended (clients' writes, or its
    /// start-of-term no-op) and before sending them to anyone: the entries exist
    /// on the leader alone, as in the states of Figure 8 of the Raft paper.
    AfterAppend,
}

impl CrashPoint {
    /// Every crash point.
    pub const ALL: [CrashPoint; 2] = [CrashPoint::AfterVote, CrashPoint::AfterAppend];

    /// The point's name in the RPC and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::AfterVote => "after-vote",
            CrashPoint::AfterAppend => "after-append",
        }
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a crash point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown crash point {0:?} (expected one of: {names})", names = CrashPoint::ALL.map(CrashPoint::name).join(", "))]
pub struct UnknownCrashPoint(pub String);

impl FromStr for CrashPoint {
    type Err = UnknownCrashPoint;

    fn from_str(s: &str) -> Result<CrashPoint, UnknownCrashPoint> {
        CrashPoint::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownCrashPoint(s.to_string()))
    }
}

/// Kills this process with SIGKILL after logging which point was reached: no
/// destructor runs, nothing is flushed that was not written already.
pub fn crash(point: CrashPoint) -> ! {
    tracing::warn!(%point, "crash point reached: killing this process (SIGKILL)");
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    unreachable!("SIGKILL cannot be caught")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for point in CrashPoint::ALL {
            assert_eq!(point.name().parse::<CrashPoint>(), Ok(point));
        }
        let err = "before-lunch"
            .parse::<CrashPoint>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("before-lunch") && err.contains("after-vote"),
            "{err}"
        );
    }
}
