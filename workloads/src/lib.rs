//! Histories, models, generators and checkers.
//!
//! - [`history`]: the operation record and the JSONL history format.
//! - [`generator`]: seeded, deterministic operation streams of the workloads.
//! - [`edn`]: import of Jepsen/Knossos EDN histories.
//! - [`jepsen_log`]: import of Jepsen's text log (`INFO  jepsen.util - ...` lines).
//! - [`model`]: sequential specifications (registers, key-value map, set, list), and
//!   Knossos' [`mutex`], multi-register transactions ([`txn`]) and [`queue`]s.
//! - [`values`]: model values (integers, or named scalars such as strings) and how they print.
//! - [`prepare`]: pairing invocations with completions into typed operations.
//! - [`linear`]: the linearizability search (Wing & Gong & Lowe), with the
//!   [`symmetry`] reduction.
//! - [`lost`]: the lost-write checker for set and list workloads.
//! - [`wellformed`]: the rules every history must follow before it is checked.
//! - [`fxhash`]: the fast hasher of the checker's internal tables.
//! - [`synth`]: synthetic histories for benchmarks and tests.
//! - [`check`]: the entry point, [`check::check_history`], and its report.

pub mod check;
pub mod edn;
pub mod fxhash;
pub mod generator;
pub mod history;
pub mod jepsen_log;
pub mod linear;
pub mod lost;
pub mod model;
pub mod mutex;
pub mod prepare;
pub mod queue;
pub mod symmetry;
pub mod synth;
pub mod txn;
pub mod values;
pub mod wellformed;
