//! `faultline campaign FILE.toml`: many test runs from one file (see [`spec`] for the
//! format), one after another, each exactly as `faultline test` would run it.
//!
//! How a campaign runs:
//!
//! 1. The file is parsed and expanded (errors name the file and line), and every run's
//!    flags are resolved as `faultline test` resolves them, so a usage error in run 40
//!    is reported before run 1 starts. A db bug switch is passed as `--db-bug NAME`.
//! 2. Each run is a child process, `faultline test --results-dir <results>/<campaign>
//!    --test-name <run id> ...`, in its own process group, with its console output in
//!    `<results>/<campaign>/logs/<run id>.log`. A crashing run cannot take the campaign
//!    down, and the run folder is the one `faultline test` writes
//!    (`<results>/<campaign>/<run id>/<timestamp>/`), so `faultline report` and
//!    `faultline test --replay` work on it as on any other.
//! 3. A progress line per run ([`run_all`]); at the end ([`summary`]) a table (run,
//!    parameters, verdict, ops, duration, report), `junit.xml` (one test case per run; an invalid run is a
//!    failure naming the run, its parameters and the checker's explanation, an unknown
//!    or broken run an error, a run never started skipped), `campaign.json` (the same
//!    as data) and `index.html` (every run folder under the campaign folder, from
//!    earlier invocations too, newest first).
//!
//! Exit code: 1 if any run was invalid; otherwise 3 if any run hit a harness error
//! (its `faultline test` exited 3 or died) or the campaign itself could not run;
//! otherwise 2 if any run was unknown; otherwise 0. `--fail-fast` stops after the
//! first run that is not valid. Ctrl-C (or SIGTERM) is passed to the running test,
//! which heals and tears down as usual; no further run starts. A second signal is
//! passed on too and makes the test exit at once, as it does on its own.

pub mod merge;
pub mod spec;
mod summary;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

use crate::report::junit::first_line;
use crate::report::run::read_json;
use crate::run::results::{CheckerResult, Results, Verdict};
use spec::RunSpec;
use summary::clock;

/// Format reminder shown by `faultline campaign --help`.
const FORMAT_HELP: &str = r#"Campaign file (see campaigns/*.toml):
  name = "smoke"                        # folder under --results-dir (default: file stem)
  [defaults]                            # `faultline test` flags, `_` for `-`:
  time_limit = 20                       #   time_limit, concurrency, rate, nemesis_interval,
  recovery_time = 3                     #   op_timeout_ms, read_consistency, client_routing,
                                        #   keys, ops_per_key, mix, recovery_time, leader_timeout,
                                        #   hosts, inventory (with hosts = "ssh"),
                                        #   node_binary, node_args
  [[matrix]]                            # one or more; each is a cross product
  dbs = ["raftkv", "etcd"]              # default raftkv
  workloads = ["register", "set"]       # default register
  nemeses = ["kill", "kill,partition"]  # default none
  nodes = [3, 5]                        # default 3
  seeds = [1, 2]                        # default 1
  repetitions = 1                       # reruns of the same spec and seed
  db_bugs = ["", "stale-read"]          # "" = the correct db; else --db-bug NAME
  options = { time_limit = 30 }         # overrides [defaults] for this matrix

Exit codes: 0 valid, 1 invalid, 2 unknown, 3 error (as every faultline command with a
verdict). A campaign exits 1 if any run is invalid, else 3 if any run hit a harness error,
else 2 if any run is unknown, else 0. Usage errors (a bad file) exit 3 before anything runs."#;

/// Flags of `faultline campaign`.
#[derive(clap::Args, Debug)]
#[command(after_help = FORMAT_HELP)]
pub struct CampaignArgs {
    /// The campaign file (TOML).
    pub file: PathBuf,
    /// Folder under which the campaign's folder `<name>/` is created.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Stop after the first run that is not valid.
    #[arg(long)]
    pub fail_fast: bool,
    /// Check the file and list the runs with their flags, without running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only shard K of N (1-based): the runs numbered K, K+N, K+2N, ... of the
    /// matrix, so N machines share a campaign; `faultline report --merge` joins the
    /// shards' campaign folders into one summary.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// One share of a campaign's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which share, 1-based.
    pub k: usize,
    /// How many shares.
    pub n: usize,
}

impl Shard {
    /// Whether the run numbered `number` (1-based) belongs to this shard.
    fn takes(self, number: usize) -> bool {
        (number - 1) % self.n == self.k - 1
    }
}

/// Parses `K/N` with 1 <= K <= N.
fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("{text:?}: expected K/N with 1 <= K <= N, e.g. 1/2");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok(Shard { k, n })
}

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunStatus {
    /// Checked and valid.
    Valid,
    /// Checked and invalid.
    Invalid,
    /// Could not be decided (budget, interruption).
    Unknown,
    /// Harness error: `faultline test` exited 3 or died.
    Error,
    /// Never started (fail-fast or interrupted campaign).
    NotRun,
}

impl RunStatus {
    /// Lower-case name.
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Valid => "valid",
            RunStatus::Invalid => "invalid",
            RunStatus::Unknown => "unknown",
            RunStatus::Error => "error",
            RunStatus::NotRun => "not run",
        }
    }
}

/// What a run produced.
#[derive(Debug)]
struct RunResult {
    /// The run.
    spec: RunSpec,
    /// How it ended.
    outcome: RunStatus,
    /// Exit code of `faultline test` (`None`: killed by a signal or never run).
    exit_code: Option<i32>,
    /// Client operations invoked.
    ops: Option<u64>,
    /// Wall time.
    duration: Duration,
    /// The run folder, if one was created.
    run_dir: Option<PathBuf>,
    /// `report.html`, if rendered.
    report: Option<PathBuf>,
    /// The console log of the run.
    log: PathBuf,
    /// Why it is not valid, in words.
    explanation: String,
}

/// Signals received by the campaign (SIGINT, SIGTERM).
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Counts a signal; the main loop passes it on to the running test.
extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Parses `faultline test` flags exactly as the subcommand does.
#[derive(clap::Parser, Debug)]
#[command(name = "faultline test")]
struct TestFlags {
    /// The flags.
    #[command(flatten)]
    test: super::test::TestArgs,
}

/// Checks that every run's flags resolve, before anything runs.
fn preflight(runs: &[RunSpec], campaign_dir: &Path) -> anyhow::Result<()> {
    for run in runs {
        let mut argv = vec!["faultline test".to_string()];
        argv.extend(run.test_args());
        argv.push("--results-dir".to_string());
        argv.push(campaign_dir.display().to_string());
        let where_ = format!(
            "run {} ({}; [[matrix]] at line {})",
            run.id,
            run.params(),
            run.line
        );
        let flags = match TestFlags::try_parse_from(&argv) {
            Ok(f) => f,
            Err(e) => {
                if let (Some(bug), clap::error::ErrorKind::UnknownArgument) =
                    (&run.db_bug, e.kind())
                {
                    if e.to_string().contains("--db-bug") {
                        bail!(
                            "{where_}: db bug switch {bug:?} requested, but this faultline's \
                             `test` command has no --db-bug flag, so bug switches cannot be \
                             run; leave db_bugs out (or list only \"\")"
                        );
                    }
                }
                let msg = e.to_string();
                let first = msg
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                bail!("{where_}: {first}");
            }
        };
        let config = flags
            .test
            .resolve()
            .with_context(|| format!("{where_}: the flags do not resolve"))?;
        crate::run::check_store(&config, crate::db::kind).with_context(|| where_.clone())?;
    }
    Ok(())
}

/// Runs `faultline campaign`.
pub fn run(args: CampaignArgs) -> anyhow::Result<u8> {
    let mut campaign = spec::load(&args.file)?;
    if let Some(shard) = args.shard {
        campaign.runs.retain(|r| shard.takes(r.number));
    }
    let campaign_dir = args.results_dir.join(&campaign.name);
    preflight(&campaign.runs, &campaign_dir).with_context(|| format!("{}", args.file.display()))?;
    let total = campaign.runs.len();
    if args.dry_run {
        println!(
            "campaign {}: {total} runs (results in {})",
            campaign.name,
            campaign_dir.display()
        );
        for r in &campaign.runs {
            println!("{}  faultline test {}", r.id, r.test_args().join(" "));
        }
        return Ok(0);
    }
    let logs = campaign_dir.join("logs");
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("creating the campaign folder {}", logs.display()))?;
    let exe = std::env::current_exe().context("locating the faultline binary")?;
    install_signal_handlers()?;

    eprintln!(
        "campaign {}: {total} runs, results in {}{}",
        campaign.name,
        campaign_dir.display(),
        campaign
            .description
            .as_deref()
            .map(|d| format!("\n  {}", d.trim()))
            .unwrap_or_default()
    );
    let started = Instant::now();
    let results = run_all(&campaign.runs, &exe, &campaign_dir, &logs, args.fail_fast)?;
    let wall = started.elapsed();
    summary::finish(
        &campaign.name,
        &args.file,
        &campaign_dir,
        std::slice::from_ref(&campaign_dir),
        &results,
        wall,
    )
}

/// Runs every run of the campaign in turn, printing a line before and after each;
/// after an interruption (or, with `fail_fast`, a run that is not valid) the rest are
/// recorded as not run.
fn run_all(
    runs: &[RunSpec],
    exe: &Path,
    campaign_dir: &Path,
    logs: &Path,
    fail_fast: bool,
) -> anyhow::Result<Vec<RunResult>> {
    let total = runs.len();
    let started = Instant::now();
    let mut results = Vec::new();
    let mut stop: Option<&str> = None;
    // (`done` counts this invocation's runs: a shard's run numbers skip the others'.)
    for (done, spec) in runs.iter().enumerate() {
        if let Some(why) = stop {
            results.push(RunResult {
                spec: spec.clone(),
                outcome: RunStatus::NotRun,
                exit_code: None,
                ops: None,
                duration: Duration::ZERO,
                run_dir: None,
                report: None,
                log: logs.join(format!("{}.log", spec.id)),
                explanation: format!("not run: {why}"),
            });
            continue;
        }
        let elapsed = started.elapsed();
        let eta = if done > 0 {
            let per = elapsed / done as u32;
            format!(", about {} left", clock(per * (total - done) as u32))
        } else {
            String::new()
        };
        eprintln!(
            "[{}/{total}] {} — {} (elapsed {}{eta})",
            done + 1,
            spec.id,
            spec.params(),
            clock(elapsed)
        );
        let result = run_one(exe, spec, campaign_dir, logs)?;
        eprintln!(
            "[{}/{total}] {} — {}, {} ops, {:.1} s{}",
            done + 1,
            spec.id,
            result.outcome.as_str().to_uppercase(),
            result
                .ops
                .map_or_else(|| "?".to_string(), |o| o.to_string()),
            result.duration.as_secs_f64(),
            if result.outcome == RunStatus::Valid {
                String::new()
            } else {
                format!(": {}", first_line(&result.explanation))
            }
        );
        if result.outcome == RunStatus::Error {
            eprintln!("  log: {}", result.log.display());
            for line in tail(&result.log, 5) {
                eprintln!("  | {line}");
            }
        }
        if SIGNALS.load(Ordering::SeqCst) > 0 {
            stop = Some("the campaign was interrupted");
        } else if fail_fast && result.outcome != RunStatus::Valid {
            stop = Some("--fail-fast after a run that was not valid");
        }
        results.push(result);
    }
    Ok(results)
}

/// SIGINT and SIGTERM are counted, not fatal: the running test gets them instead.
fn install_signal_handlers() -> anyhow::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only increments an atomic counter (async-signal-safe).
        unsafe { sigaction(sig, &action) }
            .with_context(|| format!("installing the {sig} handler"))?;
    }
    Ok(())
}

/// Runs one test as a child process and reads what it wrote.
fn run_one(
    exe: &Path,
    spec: &RunSpec,
    campaign_dir: &Path,
    logs: &Path,
) -> anyhow::Result<RunResult> {
    let test_dir = campaign_dir.join(&spec.id);
    let before = folders(&test_dir);
    let log = logs.join(format!("{}.log", spec.id));
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .arg("test")
        .arg("--results-dir")
        .arg(campaign_dir)
        .args(spec.test_args())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {} test", exe.display()))?;
    let mut forwarded = 0;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the test")? {
            break status;
        }
        let signals = SIGNALS.load(Ordering::SeqCst);
        if signals > forwarded {
            forwarded = signals;
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let duration = started.elapsed();
    let run_dir = folders(&test_dir)
        .into_iter()
        .filter(|d| !before.contains(d))
        .max();
    let results = match &run_dir {
        Some(d) => read_json::<Results>(&d.join(crate::store::RESULTS_FILE)),
        None => Ok(None),
    };
    let (results, mut explanation) = match results {
        Ok(r) => {
            let words = r.as_ref().map(explain).unwrap_or_default();
            (r, words)
        }
        Err(e) => (None, format!("{e:#}")),
    };
    let code = status.code();
    let outcome = match (code, results.as_ref().map(|r| r.verdict)) {
        (Some(0), Some(Verdict::Valid)) => RunStatus::Valid,
        (Some(1), Some(Verdict::Invalid)) => RunStatus::Invalid,
        (Some(2), Some(Verdict::Unknown)) => RunStatus::Unknown,
        _ => RunStatus::Error,
    };
    if outcome == RunStatus::Error && explanation.is_empty() {
        explanation = match code {
            Some(c) => format!("faultline test exited {c}"),
            None => format!("faultline test was killed ({status})"),
        };
        if let Some(last) = tail(&log, 1).pop() {
            explanation.push_str(&format!(": {last}"));
        }
    }
    let report = run_dir
        .as_ref()
        .map(|d| d.join("report.html"))
        .filter(|p| p.is_file());
    Ok(RunResult {
        spec: spec.clone(),
        outcome,
        exit_code: code,
        ops: results.as_ref().map(|r| r.ops.total.invoke),
        duration,
        run_dir,
        report,
        log,
        explanation,
    })
}

/// The sub-folders of `dir` (none if it does not exist).
fn folders(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Why a run is not valid, from its `results.json`: harness errors, then each
/// non-valid checker's explanation as the report shows it.
fn explain(results: &Results) -> String {
    explain_parts(
        &results.harness_errors,
        results.interrupted,
        &results.checkers,
    )
}

/// [`explain`] from the parts of `results.json` it reads.
fn explain_parts(
    harness_errors: &[String],
    interrupted: bool,
    checkers: &[CheckerResult],
) -> String {
    let mut parts: Vec<String> = harness_errors
        .iter()
        .map(|e| format!("harness: {e}"))
        .collect();
    if interrupted {
        parts.push("the run was interrupted".to_string());
    }
    for c in checkers.iter().filter(|c| c.verdict != Verdict::Valid) {
        parts.push(format!("{}: {}", c.name, c.explanation()));
    }
    parts.join("\n")
}

/// The last `n` non-empty lines of a file.
fn tail(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanation_prefers_harness_errors_and_checker_words() {
        use crate::run::results::{CheckerError, CheckerReport, HistoryReport};
        let checker = |name: &str, verdict, report| CheckerResult {
            name: name.into(),
            verdict,
            report,
        };
        let checkers = [
            checker(
                "history",
                Verdict::Valid,
                CheckerReport::History(HistoryReport {
                    ops: 2,
                    problems: vec![],
                }),
            ),
            checker(
                "linearizable",
                Verdict::Unknown,
                CheckerReport::Failed(CheckerError {
                    error: "cannot interpret the history".into(),
                }),
            ),
            checker(
                "history",
                Verdict::Unknown,
                CheckerReport::History(HistoryReport {
                    ops: 2,
                    problems: vec!["index 1: process 0 invokes twice".into()],
                }),
            ),
        ];
        assert_eq!(
            explain_parts(&["node n1 did not start".into()], true, &checkers),
            "harness: node n1 did not start\nthe run was interrupted\n\
             linearizable: cannot interpret the history\n\
             history: 1 recording problems, the first: index 1: process 0 invokes twice"
        );
    }

    #[test]
    fn shards_split_the_runs_without_overlap_and_bad_ones_are_refused() {
        let shards: Vec<Shard> = ["1/3", "2/3", "3/3"]
            .iter()
            .map(|t| parse_shard(t).unwrap())
            .collect();
        for number in 1..=10 {
            let takers = shards.iter().filter(|s| s.takes(number)).count();
            assert_eq!(takers, 1, "run {number} is in exactly one shard");
        }
        assert!(shards[0].takes(1) && shards[0].takes(4) && shards[2].takes(3));
        for bad in ["0/2", "3/2", "1", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad} accepted");
        }
    }
}
