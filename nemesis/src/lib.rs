//! Faults and the hosts they act on.
//!
//! A faultline run places each node on a [`Host`]: its own network namespace on a
//! private bridge when running as root, or a plain process on 127.0.0.1 otherwise
//! ([`host`]), or a remote machine of an inventory reached over SSH ([`ssh`],
//! [`inventory`]). The [`Nemesis`] runs in its own thread and, on a seeded reproducible
//! [`Schedule`], kills (SIGKILL, later restart), pauses (SIGSTOP, later SIGCONT) and
//! partitions nodes (iptables DROP rules inside the namespaces of the nodes it cuts
//! off, never in the root namespace), overlapping faults of different kinds. With the
//! database's cooperation it also arms crash points, places in the database's code
//! where a node kills itself (later disarmed, the crashed nodes restarted), killing
//! the leader now and then meanwhile when only elections reach the point, and it
//! delays, loses, duplicates, reorders or rate-limits what nodes send each other
//! ([`packet`]: netem, or an iptables and NFQUEUE fallback where the kernel has none); it
//! jumps, skews and strobes each node's own clock ([`clock`]: libfaketime preloaded
//! into nodes on this machine; later brought back without stepping back). It
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
//!
//! How a controller uses it:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! # fn demo(control: Arc<dyn nemesis::ClusterControl>) -> Result<(), Box<dyn std::error::Error>> {
//! use nemesis::{FaultKind, HostMode, Journal, Nemesis, NemesisConfig, Network, JOURNAL_FILE};
//!
//! let run_dir = std::path::Path::new("results/demo/1");
//! let config = NemesisConfig::parse("kill,pause:leader,partition", Duration::from_secs(5), 42)?;
//! nemesis::check_capabilities(&config.faults)?; // says what to install when it cannot work
//! let journal = Journal::create(&run_dir.join(JOURNAL_FILE))?;
//! let names = vec!["n1".to_string(), "n2".to_string(), "n3".to_string()];
//! let network = Network::create(Arc::clone(&journal), &names, HostMode::auto())?;
//! let host = network.host("n1").expect("n1 is a node");
//! let mut node = host.spawn(std::process::Command::new("raftkv"), &run_dir.join("n1.log"))?;
//! // ... start the other nodes; `control` answers pid/ip/namespace/restart/leader ...
//! let nemesis = Nemesis::start(config, control, Arc::clone(&journal), Box::new(|op| {
//!     // write {"process":"nemesis","type":op.kind,"f":op.f,"value":op.value,...}
//!     let _ = op;
//! }));
//! // ... run the workload; nemesis.active() feeds the progress line ...
//! nemesis.stop()?; // heals everything
//! node.kill()?;
//! network.teardown()?; // namespaces, bridge, anything left in the journal
//! # Ok(())
//! # }
//! ```
//!
//! Machine requirements: kill and pause need nothing; partitions need root, `ip`
//! (iproute2) and `iptables` (`apt-get install -y iproute2 iptables`); clock faults
//! need libfaketime (`apt-get install -y libfaketime`). The tests that
//! need them print why they are skipped when run without.

pub mod clock;
pub mod control;
mod crash;
pub mod disk;
pub mod error;
pub mod host;
pub mod inventory;
pub mod journal;
pub mod packet;
pub mod partition;
pub mod preflight;
pub mod process;
pub mod runner;
pub mod schedule;
pub mod ssh;
pub mod sys;

pub use control::{ClusterControl, NemesisOp, OpType, Outcome};
pub use disk::{DiskFault, DiskMode, DiskRequest};
pub use error::{Error, Result};
pub use host::{free_loopback_ports, Exit, Host, HostMode, Network, NodeProcess};
pub use inventory::RemoteHost;
pub use journal::{Action, Cleanup, CleanupReport, Journal, JOURNAL_FILE};
pub use packet::{PacketConfig, PacketFault};
pub use preflight::{check_capabilities, check_capabilities_on, test_can_run, Need};
pub use runner::{ActiveFault, Nemesis, NemesisHandle, OpSink};
pub use schedule::{
    ClockMode, CrashPoint, FaultKind, FaultSpec, NemesisConfig, PlannedFault, Schedule, Shape,
    Target,
};
