//! Command line of the deterministic Raft simulator (`raftkv::sim`), which
//! `scripts/simulate.sh` runs: many seeds in parallel within a budget, figures
//! at the end, and on the first violation the seed and its shrunk trace.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use raftkv::raft::Bugs;
use raftkv::server::bugs::Bug;
use raftkv::sim::{run, shrink, Budget, Setup};

/// Simulates the Raft core over faulty networks, disks and clocks, checking
/// Election Safety, Log Matching, Leader Completeness, State Machine Safety,
/// linearizable reads and liveness. Exits 1 on the first violation, printing
/// its seed and a shrunk step list; 0 otherwise.
#[derive(Parser, Debug)]
#[command(name = "raftkv-sim")]
struct Args {
    /// Run this many seeds (with --minutes: whichever ends first).
    #[arg(long)]
    seeds: Option<u64>,
    /// Run seeds for this many minutes (default 1 when neither --seeds nor --seed is given).
    #[arg(long)]
    minutes: Option<f64>,
    /// Run (replay) exactly this seed.
    #[arg(long, conflicts_with_all = ["seeds", "minutes", "start"])]
    seed: Option<u64>,
    /// The first seed of the run (default: drawn from the clock, and printed).
    #[arg(long)]
    start: Option<u64>,
    /// Threads running seeds.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Switch on a bug of the Raft core: vote-without-log-check,
    /// commit-old-term or leader-local-read (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
}

fn core_bugs(bugs: &[Bug]) -> Result<Bugs, String> {
    let mut core = Bugs::default();
    for bug in bugs {
        match bug {
            Bug::VoteWithoutLogCheck => core.vote_without_log_check = true,
            Bug::CommitOldTerm => core.commit_old_term = true,
            Bug::LeaderLocalRead => core.leader_local_read = true,
            other => {
                return Err(format!(
                    "--bug {other}: not a bug of the Raft core (the simulator runs the core only); \
                     use vote-without-log-check, commit-old-term or leader-local-read"
                ))
            }
        }
    }
    Ok(core)
}

/// CPU time this process used so far, in seconds (the machine may be shared:
/// steps per CPU-second is the simulator's own speed).
fn cpu_time() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bugs = match core_bugs(&args.bugs) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("raftkv-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let budget = match args.seed {
        Some(seed) => Budget {
            first_seed: seed,
            seeds: Some(1),
            time: None,
            threads: 1,
        },
        None => {
            let minutes = match (args.seeds, args.minutes) {
                (None, None) => Some(1.0),
                (_, m) => m,
            };
            if let Some(m) = minutes.filter(|m| !(m.is_finite() && *m > 0.0)) {
                eprintln!("raftkv-sim: --minutes {m}: expected a positive number");
                return ExitCode::from(2);
            }
            Budget {
                first_seed: args.start.unwrap_or_else(|| {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() << 20)
                }),
                seeds: args.seeds,
                time: minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
                threads: args.threads.max(1),
            }
        }
    };
    let bug_flags: String = args.bugs.iter().map(|b| format!(" --bug {b}")).collect();
    println!(
        "simulating seeds from {} on {} thread(s){}",
        budget.first_seed,
        budget.threads,
        if bug_flags.is_empty() {
            String::new()
        } else {
            format!(", with{bug_flags}")
        }
    );
    let cpu_before = cpu_time();
    let report = run(&budget, &|seed| Setup::from_seed(seed, bugs));
    let cpu = (cpu_time() - cpu_before).max(1e-9);
    println!(
        "seeds run: {}, steps: {}, time: {:.1}s, steps/s: {:.0} ({:.0} per CPU-second, {:.1} CPU-seconds used), violations: {}",
        report.seeds,
        report.steps,
        report.elapsed.as_secs_f64(),
        report.steps_per_second(),
        report.steps as f64 / cpu,
        cpu,
        usize::from(report.failure.is_some())
    );
    let Some(failure) = report.failure else {
        return ExitCode::SUCCESS;
    };
    println!(
        "violation in seed {} at step {}: {}",
        failure.seed,
        failure.trace.actions.len(),
        failure.violation
    );
    let started = Instant::now();
    let shrunk = shrink(&failure.trace, failure.violation.property);
    println!(
        "shrunk in {:.1}s from {} to {} steps:",
        started.elapsed().as_secs_f64(),
        failure.trace.actions.len(),
        shrunk.len()
    );
    print!("{}", shrunk.render());
    println!(
        "replay: scripts/simulate.sh --seed {}{bug_flags}",
        failure.seed
    );
    ExitCode::FAILURE
}
