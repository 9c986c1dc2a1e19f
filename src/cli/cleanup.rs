//! `faultline cleanup [RUN_DIR]`: removes what a run left on the machine after it
//! died without healing (SIGKILL of the controller, a crash, a lost terminal):
//! processes, paused processes, iptables rules, network namespaces, veths, bridges.
//! It replays the run's cleanup journal (`RUN_DIR/cleanup-journal.jsonl`, see the
//! `nemesis::journal` docs). Without an argument it walks the global journal index
//! (`/run/faultline/journals/` as root) and cleans every run that is no longer alive;
//! runs still in progress hold their journal locked and are left alone.
//!
//! Exit code: 0 when nothing is left, 1 when something could not be removed (the
//! journal keeps it for the next attempt), 3 on a usage error.

use std::path::PathBuf;

use anyhow::Context;
use nemesis::{Cleanup, CleanupReport};

/// Flags of `faultline cleanup`.
#[derive(clap::Args, Debug)]
pub struct CleanupArgs {
    /// A run folder (or its cleanup-journal.jsonl); all known runs when omitted.
    pub run_dir: Option<PathBuf>,
}

/// Runs the cleanup and prints what was removed.
pub fn run(args: CleanupArgs) -> anyhow::Result<u8> {
    let reports =
        match &args.run_dir {
            Some(dir) => vec![Cleanup::from_journal(dir)
                .with_context(|| format!("cleaning up {}", dir.display()))?],
            None => Cleanup::all().with_context(|| {
                format!(
                    "cleaning up the runs listed in {}",
                    nemesis::journal::index_dir().display()
                )
            })?,
        };
    if reports.is_empty() {
        println!(
            "nothing to clean up: no run journals in {}",
            nemesis::journal::index_dir().display()
        );
    }
    let mut failed = false;
    for report in &reports {
        print_report(report);
        failed |= !report.failed.is_empty();
    }
    Ok(if failed { 1 } else { 0 })
}

/// Prints one journal's outcome.
fn print_report(report: &CleanupReport) {
    let journal = report.journal.display();
    if let Some(why) = &report.skipped {
        println!("{journal}: skipped: {why}");
        return;
    }
    if report.removed.is_empty() && report.failed.is_empty() {
        println!("{journal}: nothing left to remove");
    }
    for item in &report.removed {
        println!("{journal}: removed {item}");
    }
    for item in &report.failed {
        println!("{journal}: FAILED to remove {item}");
    }
}
