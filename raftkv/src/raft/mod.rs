//! The Raft core: a pure, deterministic state machine.
//!
//! The module essay describing elections, replication, reads and snapshots
//! opens [`node`]; [`message`] holds the data exchanged with storage and peers.

mod log;
pub mod message;
pub mod node;
mod progress;

pub use message::{Entry, HardState, Message, MessageBody, NodeId, Snapshot, SnapshotMeta};
pub use node::{
    Bugs, Config, ConfigError, NotLeader, RaftNode, ReadState, Ready, Restored, Role, Status,
};

#[cfg(test)]
mod tests;
