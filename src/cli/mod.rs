//! One module per subcommand. Each defines its flags (`clap::Args`) and a `run`
//! function returning the process exit code.

/// The subcommands of faultline.
#[derive(clap::Subcommand, Debug)]
pub enum Command {}

impl Command {
    /// Runs the subcommand and returns the exit code.
    pub fn run(self) -> anyhow::Result<u8> {
        match self {}
    }
}
