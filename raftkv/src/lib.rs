//! raftkv: the replicated key-value store bundled with faultline.
//!
//! - [`raft`]: the pure Raft core (no IO, no clock, seeded randomness);
//! - [`storage`]: the write-ahead log and snapshot files;
//! - [`server`]: the tokio/tonic runtime that drives the core and serves clients;
//! - [`client`]: a client library with leader discovery and outcome classification;
//! - [`proto`]: the generated gRPC types of `proto/kv.proto` and `proto/raft.proto`;
//! - [`sim`]: a deterministic simulator that runs the core through long random
//!   fault traces and checks Raft's safety properties after every step;
//! - [`testing`]: a peer that never answers, to test how clients classify timeouts.

pub mod client;
pub mod proto;
pub mod raft;
pub mod server;
pub mod sim;
pub mod storage;
pub mod testing;
