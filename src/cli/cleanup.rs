//! `faultline cleanup [RUN_DIR]`: removes what a run left on the machine after it
//! died without healing (SIGKILL of the controller, a crash, a lost terminal):
//! processes (packet delayers too), paused processes, the disk fault's lazy filesystem
//! mounts (unmounted after the nodes on them and their servers are killed), iptables
//! rules, the qdiscs of packet faults, network namespaces, veths, bridges,
//! and on SSH hosts the daemons, SIGSTOPs and iptables rules of the run (each host is
//! reached again over SSH with the connection details the journal recorded; a host
//! that cannot be reached is named as FAILED and the others are still cleaned).
//! It replays the run's cleanup journal (`RUN_DIR/cleanup-journal.jsonl`, see the
//! `nemesis::journal` docs). Without an argument it walks the global journal index
//! (`/run/faultline/journals/` as root) and cleans every run that is no longer alive;
//! runs still in progress hold their journal locked and are left alone. It also lists
//! namespaces and interfaces named like faultline's that no journal mentions (their
//! run folder was deleted first); `--orphans` removes those too.
//!
//! "removed" is printed only for what was checked gone afterwards: a SIGKILLed process
//! must have exited (or be a zombie) within a few seconds, a namespace, interface or
//! rule must no longer be listed. Anything else is printed as FAILED, e.g. "still
//! running after SIGKILL".
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
    /// Also remove namespaces and interfaces named like faultline's that no journal
    /// mentions (their run folder was deleted); without it they are only listed.
    #[arg(long)]
    pub orphans: bool,
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
    if args.run_dir.is_none() {
        failed |= !orphans(args.orphans)?;
    }
    Ok(if failed { 1 } else { 0 })
}

/// Lists (or, with `remove`, removes) leftovers no journal knows; false if a removal failed.
fn orphans(remove: bool) -> anyhow::Result<bool> {
    let found = nemesis::journal::orphans().context("looking for unjournaled leftovers")?;
    let mut ok = true;
    for action in &found {
        if !remove {
            println!("orphan (no journal): {action}; `faultline cleanup --orphans` removes it");
            continue;
        }
        match action.undo() {
            Ok(()) => println!("orphan: removed {action}"),
            Err(e) => {
                ok = false;
                println!("orphan: FAILED to remove {action}: {e}");
            }
        }
    }
    Ok(ok)
}

/// Prints one journal's outcome: a header line, then one indented line per item.
fn print_report(report: &CleanupReport) {
    println!("{}:", report.journal.display());
    if let Some(why) = &report.skipped {
        println!("  skipped: {why}");
        return;
    }
    if report.removed.is_empty() && report.failed.is_empty() {
        println!("  nothing left to remove");
    }
    for item in &report.removed {
        println!("  removed {item}");
    }
    for item in &report.failed {
        println!("  FAILED to remove {item}");
    }
}
