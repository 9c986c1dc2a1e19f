//! Histories, models, generators and checkers.
//!
//! - [`history`]: the operation record and the JSONL history format.
//! - [`generator`]: seeded, deterministic operation streams of the workloads.

pub mod generator;
pub mod history;
