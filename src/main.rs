//! The faultline command line: parses flags into a resolved configuration, runs one
//! subcommand and turns its outcome into an exit code.
//!
//! Exit codes of every command with a verdict (`test`, `check`, `report`, `campaign`,
//! `kv status`; see README.md and [`cli::EXIT_CODES`]): 0 valid, 1 invalid, 2 unknown,
//! 3 error (bad input, usage or a harness failure). Every subcommand lives in its own
//! module under `cli/` and returns the exit code it wants; an error prints its whole
//! chain once and exits 3.

mod cli;
mod client;
mod db;
mod report;
mod run;
mod store;

use std::process::ExitCode;

use clap::Parser;

/// The version `--version` prints: the package version and the git commit it was
/// built from (`unknown` when built outside a checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FAULTLINE_COMMIT"),
    ")"
);

/// faultline: Jepsen-style fault injection and consistency checking.
#[derive(Parser, Debug)]
#[command(
    name = "faultline",
    version = VERSION,
    about,
    propagate_version = true,
    after_help = cli::EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: cli::Command,
}

fn main() -> ExitCode {
    let parsed = match Cli::try_parse() {
        Ok(parsed) => parsed,
        Err(err) => {
            let code = if err.use_stderr() { 3 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match parsed.command.run() {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(3)
        }
    }
}
