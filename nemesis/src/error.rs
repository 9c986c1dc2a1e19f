//! The error type of the nemesis crate: what went wrong while changing the machine
//! (a command that failed, a file that could not be written, a journal line that does
//! not parse, a fault this machine cannot inject).

use std::path::PathBuf;

/// Everything that can go wrong inside the nemesis crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file or program.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external command (`ip`, `iptables`) exited unsuccessfully.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line, for the message.
        command: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// A signal could not be delivered.
    #[error("sending {signal} to pid {pid}: {errno}")]
    Signal {
        /// The signal's name.
        signal: String,
        /// The target pid.
        pid: i32,
        /// The errno returned by kill(2).
        errno: nix::errno::Errno,
    },
    /// A removal was carried out but what it removed is still there after
    /// [`crate::sys::REMOVAL_GRACE`]: a process still running after SIGKILL, an
    /// interface, namespace or rule still present after its deletion.
    #[error("{what} still {state} (checked for {waited:?})")]
    StillPresent {
        /// What was removed, e.g. "process 812".
        what: String,
        /// What it still is, e.g. "running after SIGKILL".
        state: String,
        /// How long it was watched.
        waited: std::time::Duration,
    },
    /// A line of a cleanup journal could not be read.
    #[error("journal {}, line {line}: {message}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A remote host did not answer (ssh could not connect, or a command did not
    /// finish in time).
    #[error("host {host} is unreachable over ssh (or refused the login): {detail}")]
    Unreachable {
        /// The host, as the inventory names it.
        host: String,
        /// What ssh said, or the timeout.
        detail: String,
    },
    /// The request cannot be carried out on this machine or with these arguments.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// Builds an [`Error::Io`] with a context message.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
