//! The node runtime around the pure Raft core.
//!
//! - [`state_machine`]: the replicated key-value map with client de-duplication.

pub mod state_machine;
