//! Histories, models, generators and checkers.
//!
//! - [`history`]: the operation record and the JSONL history format.
//! - [`generator`]: seeded, deterministic operation streams of the workloads.
//! - [`edn`]: import of Jepsen/Knossos EDN histories.
//! - [`model`]: sequential specifications (registers, key-value map, set, list).
//! - [`prepare`]: pairing invocations with completions into typed operations.
//! - [`linear`]: the linearizability search (Wing & Gong & Lowe).
//! - [`lost`]: the lost-write checker for set and list workloads.
//! - [`wellformed`]: the rules every history must follow before it is checked.
//! - [`synth`]: synthetic histories for benchmarks and tests.
//! - [`check`]: the entry point, [`check::check_history`], and its report.

pub mod check;
pub mod edn;
pub mod generator;
pub mod history;
pub mod linear;
pub mod lost;
pub mod model;
pub mod prepare;
pub mod synth;
pub mod wellformed;
