//! Faults and the hosts they act on.
//!
//! A faultline run places each node on a [`Host`]: its own network namespace on a
//! private bridge when running as root, or a plain process on 127.0.0.1 otherwise
//! ([`host`]). The [`Nemesis`] runs in its own thread and, on a seeded reproducible
//! [`Schedule`], kills (SIGKILL, later restart), pauses (SIGSTOP, later SIGCONT) and
//! partitions nodes (iptables DROP rules inside the namespaces of the nodes it cuts
//! off, never in the root namespace), overlapping faults of different kinds. It
//! reaches the cluster only through the [`ClusterControl`] trait the controller
//! implements, and reports every fault start and stop as a [`NemesisOp`] for the
//! history. When told to stop it always heals: partitions removed, paused nodes
//! resumed, killed nodes restarted.
//!
//! Nothing is left behind: every change to the machine is written to a cleanup
//! [`Journal`] before it is made, and [`Cleanup`] undoes whatever a crashed run left
//! (see [`journal`]). [`check_capabilities`] refuses at start a fault this machine
//! cannot inject, saying what to install.
//!
//! This crate never depends on the server under test nor on the CLI; it is blocking
//! code (threads, no async runtime).

pub mod control;
pub mod error;
pub mod host;
pub mod journal;
pub mod partition;
pub mod preflight;
pub mod process;
pub mod runner;
pub mod schedule;
pub mod sys;

pub use control::{ClusterControl, NemesisOp, OpType, Outcome};
pub use error::{Error, Result};
pub use host::{Host, HostMode, Network, NodeProcess};
pub use journal::{Action, Cleanup, CleanupReport, Journal, JOURNAL_FILE};
pub use preflight::check_capabilities;
pub use runner::{ActiveFault, Nemesis, NemesisHandle, OpSink};
pub use schedule::{FaultKind, FaultSpec, NemesisConfig, PlannedFault, Schedule, Shape, Target};
