//! `faultline bench-check`: measures the checker on generated histories and prints the
//! figures (benchmarks print numbers; they assert nothing):
//!
//! - `parse`: JSONL parsing of a written register history, in lines per second;
//! - `register`: a multi-key register history (default 1M operations over 1,000 keys,
//!   64 processes, 2% info), checked end to end;
//! - `single-key`: one key, 10,000 operations, 16 processes;
//! - `explode`: a history built to explode the search, which must end `unknown`
//!   within its time limit;
//! - `etcd`: single-register histories in the style of Jepsen's etcd test (values 0..4,
//!   five processes, crashed operations left open), valid and invalid, checked with and
//!   without the search's reductions (symmetry between interchangeable operations,
//!   subsumption of crashed ones: `workloads::symmetry`): median times, the speed-up and
//!   both verdicts.
//!
//! With `--files FILE...` it times the check of recorded histories instead
//! (`bench_files`).
//!
//! Peak memory is the process's VmHWM (from /proc/self/status), which only grows: run
//! one benchmark at a time with `--only` to attribute it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use workloads::check::{check_history, CheckOptions, Verdict};
use workloads::history::{read_jsonl, HistoryWriter, OpType};
use workloads::model::ModelKind;
use workloads::synth::{
    etcd_history, explosive_history, register_history, EtcdConfig, SynthConfig,
};

use super::check::Format;

/// Flags of `faultline bench-check`.
#[derive(clap::Args, Debug)]
pub struct BenchCheckArgs {
    /// Operations of the multi-key register history.
    #[arg(long, default_value_t = 1_000_000)]
    pub ops: usize,
    /// Keys of the multi-key register history.
    #[arg(long, default_value_t = 1_000)]
    pub keys: usize,
    /// Processes of the multi-key register history.
    #[arg(long, default_value_t = 64)]
    pub processes: usize,
    /// Operations of the single-key history.
    #[arg(long, default_value_t = 10_000)]
    pub single_key_ops: usize,
    /// Concurrent writers and readers of the explosive history.
    #[arg(long, default_value_t = 40)]
    pub explode_width: usize,
    /// Time limit given to the explosive history.
    #[arg(long, default_value = "2s", value_parser = super::units::parse_duration)]
    pub explode_limit: Duration,
    /// Seed of the generated histories.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only this benchmark: parse, register, single-key, explode or etcd.
    #[arg(long)]
    pub only: Option<String>,
    /// Operations of each etcd-style history.
    #[arg(long, default_value_t = 100)]
    pub etcd_ops: usize,
    /// How many etcd-style histories (each valid and invalid).
    #[arg(long, default_value_t = 5)]
    pub etcd_histories: usize,
    /// Time these history files instead (JSONL, EDN or Jepsen text logs; `*` and `?`
    /// match file names).
    #[arg(long, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Repetitions per file (with --files) or per etcd-style history.
    #[arg(long, default_value_t = 10)]
    pub reps: usize,
    /// With --files: print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// With --files: the model (default: from the operations).
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// With --files: the files' format (default: from the extension, else the content).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// With --files: whether EDN values are [key value] tuples (default: detected).
    #[arg(long)]
    pub independent: Option<bool>,
    /// With --files: time budget of each check; past it the verdict is unknown.
    #[arg(long, default_value = "60s", value_parser = super::units::parse_duration)]
    pub time_limit: Duration,
    /// With --files: memory budget of each check in MiB.
    #[arg(long, default_value_t = 1024)]
    pub memory_limit: usize,
    /// With --files: switch the search's reductions off (symmetry between
    /// interchangeable operations, subsumption of crashed ones), to measure what they buy.
    #[arg(long)]
    pub no_symmetry: bool,
}

/// A memory figure of this process in MiB (`VmHWM`, `VmRSS`), if /proc tells it.
pub fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn peak() -> String {
    status_mib("VmHWM:").map_or_else(|| "n/a".to_string(), |m| format!("{m:.0} MiB"))
}

/// Runs `faultline bench-check`.
pub fn run(args: BenchCheckArgs) -> anyhow::Result<u8> {
    if !args.files.is_empty() {
        return super::bench_files::run(&args);
    }
    let want = |name: &str| args.only.as_deref().is_none_or(|o| o == name);
    println!(
        "bench-check on {} threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let big = SynthConfig {
        seed: args.seed,
        ops: args.ops,
        keys: args.keys,
        processes: args.processes,
        info_rate: 0.02,
    };
    if want("parse") {
        let ops = register_history(&big);
        let path = std::env::temp_dir().join(format!(
            "faultline-bench-check-{}.jsonl",
            std::process::id()
        ));
        let mut w = HistoryWriter::create(&path)?;
        let started = Instant::now();
        for op in &ops {
            w.append(op)?;
        }
        w.flush()?;
        let write = started.elapsed();
        drop(ops);
        let size = std::fs::metadata(&path)?.len();
        let started = Instant::now();
        let read = read_jsonl(&path);
        let parse = started.elapsed();
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        let read = read?;
        println!(
            "parse: {} lines ({:.0} MiB): write {:.2} s ({:.2} M lines/s), parse {:.2} s ({:.2} M lines/s); peak {}",
            read.len(),
            size as f64 / (1 << 20) as f64,
            write.as_secs_f64(),
            read.len() as f64 / write.as_secs_f64() / 1e6,
            parse.as_secs_f64(),
            read.len() as f64 / parse.as_secs_f64() / 1e6,
            peak()
        );
    }
    if want("register") {
        let ops = register_history(&big);
        let before = status_mib("VmRSS:").unwrap_or(0.0);
        let started = Instant::now();
        let report = check_history(&ops, &CheckOptions::default())?;
        let took = started.elapsed();
        println!(
            "register: {} operations, {} keys, {} processes, {} indeterminate ({} pruned): {} in {:.2} s ({:.0} ops/s); resident before the check {before:.0} MiB (the history), peak {}",
            report.stats.operations,
            report.stats.keys,
            args.processes,
            report.stats.indeterminate,
            report.stats.pruned,
            report.verdict.as_str(),
            took.as_secs_f64(),
            report.stats.operations as f64 / took.as_secs_f64(),
            peak()
        );
    }
    if want("single-key") {
        let ops = register_history(&SynthConfig {
            seed: args.seed,
            ops: args.single_key_ops,
            keys: 1,
            processes: 16,
            info_rate: 0.02,
        });
        let started = Instant::now();
        let report = check_history(&ops, &CheckOptions::default())?;
        let took = started.elapsed();
        println!(
            "single-key: {} operations, 16 processes, {} indeterminate: {} in {:.3} s; peak {}",
            report.stats.operations,
            report.stats.indeterminate,
            report.verdict.as_str(),
            took.as_secs_f64(),
            peak()
        );
        // The same history with one read in the middle returning an overwritten value.
        let mut stale = ops.clone();
        let reads: Vec<usize> = (0..stale.len())
            .filter(|&i| stale[i].f == "read" && stale[i].op_type == OpType::Ok)
            .filter(|&i| stale[i].value.as_int().is_some())
            .collect();
        if reads.len() >= 2 {
            let (early, late) = (reads[reads.len() / 4], reads[reads.len() / 2]);
            stale[late].value = stale[early].value.clone();
            let started = Instant::now();
            let report = check_history(&stale, &CheckOptions::default())?;
            let took = started.elapsed();
            let label = report
                .checkers
                .linearizable
                .counterexamples
                .first()
                .map_or_else(String::new, |c| c.summary.clone());
            println!(
                "single-key with a stale read: {} in {:.3} s ({label}); peak {}",
                report.verdict.as_str(),
                took.as_secs_f64(),
                peak()
            );
        }
    }
    if want("explode") {
        let ops = explosive_history(args.explode_width);
        let started = Instant::now();
        let report = check_history(
            &ops,
            &CheckOptions {
                time_limit: args.explode_limit,
                ..CheckOptions::default()
            },
        )?;
        let took = started.elapsed();
        let overrun = took.saturating_sub(args.explode_limit);
        println!(
            "explode: {} concurrent writes and reads: {} ({}) after {:.3} s with a {:.3} s limit (overrun {} ms); peak {}",
            args.explode_width,
            report.verdict.as_str(),
            report
                .checkers
                .linearizable
                .unknown_reason
                .map_or("decided", |r| r.as_str()),
            took.as_secs_f64(),
            args.explode_limit.as_secs_f64(),
            overrun.as_millis(),
            peak()
        );
        if report.verdict != Verdict::Unknown {
            println!("explode: expected unknown");
        }
    }
    if want("etcd") {
        etcd(&args)?;
    }
    Ok(0)
}

/// Median wall-clock time of `reps` checks of `ops`, in microseconds, and the verdict.
fn median_check(
    ops: &[workloads::history::Op],
    opts: &CheckOptions,
    reps: usize,
) -> anyhow::Result<(u64, Verdict)> {
    let mut times = Vec::with_capacity(reps);
    let mut verdict = Verdict::Unknown;
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        verdict = check_history(ops, opts)?.verdict;
        times.push(started.elapsed().as_micros() as u64);
    }
    times.sort_unstable();
    Ok((times[times.len() / 2], verdict))
}

/// The etcd-style benchmark: each history with and without the search's reductions.
fn etcd(args: &BenchCheckArgs) -> anyhow::Result<()> {
    let limit = Duration::from_secs(60);
    let mut ratios = Vec::new();
    for n in 0..args.etcd_histories as u64 {
        for invalid in [false, true] {
            let ops = etcd_history(&EtcdConfig {
                seed: args.seed + n,
                ops: args.etcd_ops,
                processes: 5,
                crash_rate: 0.05,
                partitioned: 0.5,
                invalid,
            });
            let opts = |symmetry| CheckOptions {
                time_limit: limit,
                symmetry,
                ..CheckOptions::default()
            };
            let (before, v0) = median_check(&ops, &opts(false), args.reps)?;
            let (after, v1) = median_check(&ops, &opts(true), args.reps)?;
            let ratio = before as f64 / after.max(1) as f64;
            ratios.push(ratio);
            println!(
                "etcd: seed {} {} ops {}: without reductions {} µs ({}), with {} µs ({}): {ratio:.1}x{}",
                args.seed + n,
                args.etcd_ops,
                if invalid { "invalid" } else { "valid" },
                before,
                v0.as_str(),
                after,
                v1.as_str(),
                if v0 == v1 { "" } else { " VERDICTS DIFFER" }
            );
        }
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(m) = ratios.get(ratios.len() / 2) {
        println!(
            "etcd: median speed-up {m:.1}x over {} histories; peak {}",
            ratios.len(),
            peak()
        );
    }
    Ok(())
}
