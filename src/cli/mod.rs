//! One module per subcommand. Each defines its flags (`clap::Args`) and a `run`
//! function returning the process exit code.

pub mod cleanup;

/// The subcommands of faultline.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Remove what crashed runs left behind: processes, iptables rules, namespaces, bridges.
    Cleanup(cleanup::CleanupArgs),
}

impl Command {
    /// Runs the subcommand and returns the exit code.
    pub fn run(self) -> anyhow::Result<u8> {
        match self {
            Command::Cleanup(args) => cleanup::run(args),
        }
    }
}
