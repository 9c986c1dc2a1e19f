//! Deterministic simulation of the Raft core: long random traces over the real
//! [`RaftNode`](crate::raft::RaftNode), checked after every step.
//!
//! # Why
//!
//! The stateright model (`tests/raft_model.rs`) proves that nothing goes wrong
//! within a few messages of the start, but breadth-first search cannot reach
//! the bugs that need several elections, each leaving a different uncommitted
//! tail behind. This simulator goes deep instead of wide, the way FoundationDB's
//! simulator and TigerBeetle's VOPR do: one seed picks a cluster and a fault
//! mix, then thousands of random steps; a failing seed replays exactly.
//!
//! # The world
//!
//! `world.rs` holds 3 to 7 real `RaftNode`s, each with a model of its storage
//! (the hard state, the snapshot and the log, written in the order the real
//! write-ahead log writes them) and of its state machine. The network keeps one
//! queue per directed link; a message may be delivered from the head of its
//! queue or from further back (reordering), dropped, duplicated, or left waiting
//! while everything else goes on (delay). Partitions cut the links between two
//! sides, cutting what is in flight too. A crash loses the node's memory; a
//! crash *in a write* also loses the write in progress except a prefix of its
//! records (a torn write), and the node restarts later from what its disk
//! holds. Nodes may be paused (SIGSTOP) and their clocks tick at different
//! rates. Clients propose writes and linearizable reads; nodes snapshot their
//! state machine and compact their logs, so lagging followers need
//! InstallSnapshot. After every input the node's `Ready` is handled as the
//! server does it: persist, then send, then apply.
//!
//! Every step is an [`Action`]; a trace is the seed's [`Setup`] plus its list
//! of actions, and replaying the list reproduces the run exactly.
//!
//! # The checks
//!
//! `checks.rs` keeps ghost state across the whole run and checks, after every
//! step and in time proportional to what the step changed: Election Safety (at
//! most one leader per term), Log Matching (two logs holding an entry of the
//! same index and term hold the same entries up to it: every log position
//! carries a hash of the log up to it), Leader Completeness (a new leader holds
//! every entry any node applied), State Machine Safety (no two nodes apply
//! different entries at one index, so no applied entry is ever lost or
//! replaced) and linearizable reads (a read index is at least the index of every
//! entry applied anywhere when the read arrived). At the end of a trace faults
//! stop: partitions heal, crashed nodes restart, the network delivers in order,
//! and within a bounded number of rounds a leader must be elected and a new
//! proposal applied on every node (liveness).
//!
//! # Generating, shrinking, running
//!
//! `generate.rs` draws each seed's setup and fault mix (swarm testing: each
//! trace switches a random subset of fault kinds on, with random rates) and its
//! actions. `shrink.rs` cuts a failing trace down (fewer nodes, fewer steps,
//! simpler steps) while the same property still fails, and prints it as a
//! numbered step list. `runner.rs` runs seeds on several threads until a seed
//! count or a time budget is used up; the `raftkv-sim` binary
//! (`scripts/simulate.sh`) is its command line.

mod action;
mod checks;
mod generate;
mod runner;
mod shrink;
mod world;

pub use action::Action;
pub use checks::{Property, Violation};
pub use generate::Setup;
pub use runner::{run, run_seed, Budget, Failure, RunReport, SeedReport};
pub use shrink::{shrink, Trace};

#[cfg(test)]
mod tests;
