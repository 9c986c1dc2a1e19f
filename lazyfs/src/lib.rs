//! lazyfs: a FUSE filesystem whose disk lies the way real disks do after a power loss.
//!
//! The kernel keeps written data in its page cache until it is synced, so killing a
//! process never loses a write the process made: only a machine's crash or power loss
//! does, and that is where storage engines break. lazyfs keeps every write that has
//! not been fsynced in its own memory, visible to the reader at once, and lets a
//! controller drop it on demand (Jepsen's lazyfs does the same in C++). It is mounted
//! over a node's data directory and backed by a real directory, which holds exactly
//! what would survive a power loss.
//!
//! - [`disk`]: the durability model in plain Rust, unit-tested without FUSE: what is
//!   visible, what is durable, and the faults (lose everything unsynced, tear the
//!   last unsynced write, fail the next fsync with EIO);
//! - [`fuse`]: the FUSE adapter (the `fuser` crate, no libfuse needed);
//! - [`control`]: the control socket a controller sends faults through;
//! - [`mount`]: `faultline lazyfs`, mounting and serving until told to stop.

pub mod control;
pub mod disk;
pub mod fuse;
pub mod mount;

pub use control::{request, Command};
pub use disk::{Disk, Report, Torn};
