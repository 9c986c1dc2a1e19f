//! One step of a simulated trace. Nodes are numbered from 0 here and printed
//! from `n1`; messages are named by their link and their place in its queue,
//! so that a step keeps its meaning when the shrinker removes other steps.

use std::fmt;

/// One step of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Advance one node's logical clock by one tick.
    Tick(u8),
    /// Deliver the `nth` message (0: the oldest) waiting on the link `from → to`.
    Deliver {
        /// Sender.
        from: u8,
        /// Receiver.
        to: u8,
        /// Position in the link's queue.
        nth: u8,
    },
    /// Lose the `nth` message waiting on the link `from → to`.
    Drop {
        /// Sender.
        from: u8,
        /// Receiver.
        to: u8,
        /// Position in the link's queue.
        nth: u8,
    },
    /// Copy the `nth` message waiting on the link `from → to` to the end of the queue.
    Duplicate {
        /// Sender.
        from: u8,
        /// Receiver.
        to: u8,
        /// Position in the link's queue.
        nth: u8,
    },
    /// A client proposes a new write to a node.
    Propose(u8),
    /// A client asks a node for a linearizable read.
    Read(u8),
    /// A node snapshots its state machine at its applied index and compacts its log.
    Compact(u8),
    /// A node crashes between two writes: it loses its memory, not its disk.
    Crash(u8),
    /// A node crashes in the middle of its next write: of the records of that
    /// write (snapshot, entries, hard state, in this order) only the first
    /// `keep` reach the disk, and nothing it would have sent after the write
    /// leaves.
    CrashInWrite {
        /// The node.
        node: u8,
        /// Records of the torn write that survive.
        keep: u8,
    },
    /// A crashed node restarts from its disk.
    Restart(u8),
    /// A node stops (SIGSTOP): no ticks, no deliveries to it.
    Pause(u8),
    /// A paused node continues (SIGCONT).
    Resume(u8),
    /// The nodes whose bit is set in the mask lose contact with the others;
    /// messages in flight between the two sides are lost.
    Partition(u8),
    /// Every link works again.
    Heal,
}

impl Action {
    /// Whether the step involves node `n`.
    pub fn involves(&self, n: u8) -> bool {
        match *self {
            Action::Tick(i)
            | Action::Propose(i)
            | Action::Read(i)
            | Action::Compact(i)
            | Action::Crash(i)
            | Action::CrashInWrite { node: i, .. }
            | Action::Restart(i)
            | Action::Pause(i)
            | Action::Resume(i) => i == n,
            Action::Deliver { from, to, .. }
            | Action::Drop { from, to, .. }
            | Action::Duplicate { from, to, .. } => from == n || to == n,
            Action::Partition(_) | Action::Heal => false,
        }
    }

    /// The same step in a cluster without node `n`, whose higher nodes move
    /// down by one; `None` if the step involves `n`.
    pub fn without_node(&self, n: u8) -> Option<Action> {
        if self.involves(n) {
            return None;
        }
        let m = |i: u8| if i > n { i - 1 } else { i };
        Some(match *self {
            Action::Tick(i) => Action::Tick(m(i)),
            Action::Propose(i) => Action::Propose(m(i)),
            Action::Read(i) => Action::Read(m(i)),
            Action::Compact(i) => Action::Compact(m(i)),
            Action::Crash(i) => Action::Crash(m(i)),
            Action::CrashInWrite { node, keep } => Action::CrashInWrite {
                node: m(node),
                keep,
            },
            Action::Restart(i) => Action::Restart(m(i)),
            Action::Pause(i) => Action::Pause(m(i)),
            Action::Resume(i) => Action::Resume(m(i)),
            Action::Deliver { from, to, nth } => Action::Deliver {
                from: m(from),
                to: m(to),
                nth,
            },
            Action::Drop { from, to, nth } => Action::Drop {
                from: m(from),
                to: m(to),
                nth,
            },
            Action::Duplicate { from, to, nth } => Action::Duplicate {
                from: m(from),
                to: m(to),
                nth,
            },
            Action::Partition(mask) => {
                let low = mask & ((1 << n) - 1);
                let high = (mask >> (n + 1)) << n;
                Action::Partition(low | high)
            }
            Action::Heal => Action::Heal,
        })
    }
}

/// `n1` for node 0.
pub(crate) struct NodeName(pub u8);

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0 + 1)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = NodeName;
        let link = |f: &mut fmt::Formatter<'_>, verb: &str, from, to, nth| {
            write!(f, "{verb} {}→{}", n(from), n(to))?;
            if nth > 0 {
                write!(f, " #{} in queue", nth + 1)?;
            }
            Ok(())
        };
        match *self {
            Action::Tick(i) => write!(f, "tick {}", n(i)),
            Action::Deliver { from, to, nth } => link(f, "deliver", from, to, nth),
            Action::Drop { from, to, nth } => link(f, "drop", from, to, nth),
            Action::Duplicate { from, to, nth } => link(f, "duplicate", from, to, nth),
            Action::Propose(i) => write!(f, "client proposes a write to {}", n(i)),
            Action::Read(i) => write!(f, "client reads from {}", n(i)),
            Action::Compact(i) => write!(f, "{} snapshots and compacts its log", n(i)),
            Action::Crash(i) => write!(f, "crash {}", n(i)),
            Action::CrashInWrite { node, keep } => write!(
                f,
                "{} will crash in its next write, {keep} record(s) of it reaching the disk",
                n(node)
            ),
            Action::Restart(i) => write!(f, "restart {}", n(i)),
            Action::Pause(i) => write!(f, "pause {}", n(i)),
            Action::Resume(i) => write!(f, "resume {}", n(i)),
            Action::Partition(mask) => {
                let side: Vec<String> = (0..8)
                    .filter(|b| mask & (1 << b) != 0)
                    .map(|b| n(b).to_string())
                    .collect();
                write!(f, "partition {{{}}} from the rest", side.join(", "))
            }
            Action::Heal => write!(f, "heal the network"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_node_renumbers_the_rest_and_its_partition_bits() {
        assert_eq!(Action::Tick(1).without_node(1), None);
        assert_eq!(Action::Tick(3).without_node(1), Some(Action::Tick(2)));
        let d = Action::Deliver {
            from: 0,
            to: 4,
            nth: 2,
        };
        assert_eq!(
            d.without_node(2),
            Some(Action::Deliver {
                from: 0,
                to: 3,
                nth: 2
            })
        );
        // {n1, n3, n5} without n2 is {n1, n2, n4}.
        assert_eq!(
            Action::Partition(0b10101).without_node(1),
            Some(Action::Partition(0b1011))
        );
        assert_eq!(
            Action::Partition(0b10101).to_string(),
            "partition {n1, n3, n5} from the rest"
        );
    }
}
