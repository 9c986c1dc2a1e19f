//! The Raft core: a pure, deterministic state machine.
//!
//! (The module essay describing elections, replication, reads and snapshots is
//! written alongside the implementation in `node.rs`.)

pub mod message;

pub use message::{Entry, HardState, Message, MessageBody, NodeId, Snapshot, SnapshotMeta};
