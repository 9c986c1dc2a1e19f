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
//! 3. A progress line per run, then a summary table (run, parameters, verdict, ops,
//!    duration, report), `junit.xml` (one test case per run; an invalid run is a
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

pub mod spec;

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::{json, Value as Json};

use crate::run::EXIT_HARNESS;
use spec::RunSpec;

/// Format reminder shown by `faultline campaign --help`.
const FORMAT_HELP: &str = r#"Campaign file (see campaigns/*.toml):
  name = "smoke"                        # folder under --results-dir (default: file stem)
  [defaults]                            # `faultline test` flags, `_` for `-`:
  time_limit = 20                       #   time_limit, concurrency, rate, nemesis_interval,
  recovery_time = 3                     #   op_timeout_ms, read_consistency, keys, ops_per_key,
                                        #   mix, recovery_time, leader_timeout, hosts,
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

Exit code: 1 if any run is invalid, else 3 if any run hit a harness error, else 2 if
any run is unknown, else 0. Usage errors (a bad file) exit 3 before anything runs."#;

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
}

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
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

impl Outcome {
    /// Lower-case name.
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Invalid => "invalid",
            Outcome::Unknown => "unknown",
            Outcome::Error => "error",
            Outcome::NotRun => "not run",
        }
    }
}

/// What a run produced.
#[derive(Debug)]
struct RunResult {
    /// The run.
    spec: RunSpec,
    /// How it ended.
    outcome: Outcome,
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
    let campaign = spec::load(&args.file)?;
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
    let mut results = Vec::new();
    let mut stop: Option<&str> = None;
    for spec in &campaign.runs {
        if let Some(why) = stop {
            results.push(RunResult {
                spec: spec.clone(),
                outcome: Outcome::NotRun,
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
        let eta = if spec.number > 1 {
            let per = elapsed / (spec.number as u32 - 1);
            format!(
                ", about {} left",
                clock(per * (total - spec.number + 1) as u32)
            )
        } else {
            String::new()
        };
        eprintln!(
            "[{}/{total}] {} — {} (elapsed {}{eta})",
            spec.number,
            spec.id,
            spec.params(),
            clock(elapsed)
        );
        let result = run_one(&exe, spec, &campaign_dir, &logs)?;
        eprintln!(
            "[{}/{total}] {} — {}, {} ops, {:.1} s{}",
            spec.number,
            spec.id,
            result.outcome.as_str().to_uppercase(),
            result
                .ops
                .map_or_else(|| "?".to_string(), |o| o.to_string()),
            result.duration.as_secs_f64(),
            if result.outcome == Outcome::Valid {
                String::new()
            } else {
                format!(": {}", first_line(&result.explanation))
            }
        );
        if result.outcome == Outcome::Error {
            eprintln!("  log: {}", result.log.display());
            for line in tail(&result.log, 5) {
                eprintln!("  | {line}");
            }
        }
        if SIGNALS.load(Ordering::SeqCst) > 0 {
            stop = Some("the campaign was interrupted");
        } else if args.fail_fast && result.outcome != Outcome::Valid {
            stop = Some("--fail-fast after a run that was not valid");
        }
        results.push(result);
    }
    let wall = started.elapsed();

    let junit = campaign_dir.join("junit.xml");
    std::fs::write(&junit, junit_xml(&campaign.name, &results))
        .with_context(|| format!("writing {}", junit.display()))?;
    let summary = campaign_dir.join("campaign.json");
    let data = campaign_json(&campaign.name, &args.file, &results, wall);
    std::fs::write(&summary, serde_json::to_vec_pretty(&data)?)
        .with_context(|| format!("writing {}", summary.display()))?;
    let index = crate::report::render_index(&campaign_dir)?;

    print!("{}", table(&results));
    let failed: Vec<&RunResult> = results
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Valid | Outcome::NotRun))
        .collect();
    if !failed.is_empty() {
        println!("not valid:");
        for r in failed {
            println!("  {}: {}", r.spec.id, first_line(&r.explanation));
        }
    }
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    println!(
        "campaign {}: {} runs in {}: {} valid, {} invalid, {} unknown, {} error, {} not run",
        campaign.name,
        total,
        clock(wall),
        count(Outcome::Valid),
        count(Outcome::Invalid),
        count(Outcome::Unknown),
        count(Outcome::Error),
        count(Outcome::NotRun)
    );
    println!("index:  {}", index.display());
    println!("junit:  {}", junit.display());
    Ok(if count(Outcome::Invalid) > 0 {
        1
    } else if count(Outcome::Error) > 0 {
        EXIT_HARNESS
    } else if count(Outcome::Unknown) > 0 {
        2
    } else {
        0
    })
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
    let results: Json = run_dir
        .as_ref()
        .and_then(|d| std::fs::read(d.join("results.json")).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Json::Null);
    let code = status.code();
    let outcome = match (code, results["verdict"].as_str()) {
        (Some(0), Some("valid")) => Outcome::Valid,
        (Some(1), Some("invalid")) => Outcome::Invalid,
        (Some(2), Some("unknown")) => Outcome::Unknown,
        _ => Outcome::Error,
    };
    let mut explanation = explain(&results);
    if outcome == Outcome::Error && explanation.is_empty() {
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
        ops: results["ops"]["total"]["invoke"].as_u64(),
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
fn explain(results: &Json) -> String {
    let mut parts: Vec<String> = results["harness_errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(|s| format!("harness: {s}")))
        .collect();
    if results["interrupted"] == true {
        parts.push("the run was interrupted".to_string());
    }
    for c in crate::report::checkers_of(results) {
        if c.verdict == crate::report::Verdict::Valid {
            continue;
        }
        let words = c
            .explanation
            .unwrap_or_else(|| format!("verdict {}", c.verdict.as_str()));
        parts.push(format!("{}: {words}", c.name));
    }
    parts.join("\n")
}

/// The first line of a text.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
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

/// `1h02m03s`, `2m03s` or `3s`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// The summary table.
fn table(results: &[RunResult]) -> String {
    let header = ["#", "run", "params", "verdict", "ops", "duration", "report"];
    let rows: Vec<[String; 7]> = results
        .iter()
        .map(|r| {
            [
                r.spec.number.to_string(),
                r.spec.id.clone(),
                r.spec.params(),
                r.outcome.as_str().to_uppercase(),
                r.ops.map_or_else(|| "-".to_string(), |o| o.to_string()),
                if r.outcome == Outcome::NotRun {
                    "-".to_string()
                } else {
                    format!("{:.1}s", r.duration.as_secs_f64())
                },
                match (&r.report, r.outcome) {
                    (_, Outcome::NotRun) => "-".to_string(),
                    (Some(p), _) => p.display().to_string(),
                    (None, _) => format!("(no report; log {})", r.log.display()),
                },
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// The aggregated `junit.xml`: one test case per run.
fn junit_xml(name: &str, results: &[RunResult]) -> String {
    use crate::report::escape::text as xml;
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    let failures = count(Outcome::Invalid);
    let errors = count(Outcome::Unknown) + count(Outcome::Error);
    let skipped = count(Outcome::NotRun);
    let time: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let suite = xml(&format!("faultline.campaign.{name}"));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline campaign {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        xml(name),
        results.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        results.len()
    );
    for r in results {
        let _ = write!(
            out,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{:.3}\"",
            xml(&r.spec.id),
            r.duration.as_secs_f64()
        );
        let message = format!(
            "run {} ({}) is {}: {}",
            r.spec.id,
            r.spec.params(),
            r.outcome.as_str(),
            first_line(&r.explanation)
        );
        let mut detail = format!(
            "run: {}\nparameters: {}\nverdict: {}\n",
            r.spec.id,
            r.spec.params(),
            r.outcome.as_str()
        );
        if let Some(d) = &r.run_dir {
            let _ = writeln!(detail, "run folder: {}", d.display());
        }
        let _ = writeln!(detail, "log: {}", r.log.display());
        if !r.explanation.is_empty() {
            let _ = writeln!(detail, "{}", r.explanation);
        }
        let element = match r.outcome {
            Outcome::Valid => None,
            Outcome::Invalid => Some(("failure", "invalid")),
            Outcome::Unknown => Some(("error", "unknown")),
            Outcome::Error => Some(("error", "harness")),
            Outcome::NotRun => None,
        };
        match (element, r.outcome) {
            (_, Outcome::NotRun) => {
                let _ = write!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    xml(&r.explanation)
                );
            }
            (Some((tag, kind)), _) => {
                let _ = write!(
                    out,
                    ">\n      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>\n    </testcase>\n",
                    xml(&message),
                    xml(&detail)
                );
            }
            (None, _) => out.push_str("/>\n"),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `campaign.json`: the campaign's outcome as data.
fn campaign_json(name: &str, file: &Path, results: &[RunResult], wall: Duration) -> Json {
    json!({
        "schema_version": 1,
        "campaign": name,
        "file": file.display().to_string(),
        "duration_s": wall.as_secs_f64(),
        "runs": results.iter().map(|r| json!({
            "id": r.spec.id,
            "workload": r.spec.workload.as_str(),
            "nemesis": r.spec.nemesis,
            "nodes": r.spec.nodes,
            "seed": r.spec.seed,
            "repetition": r.spec.repetition,
            "db_bug": r.spec.db_bug,
            "verdict": r.outcome.as_str(),
            "exit_code": r.exit_code,
            "ops": r.ops,
            "duration_s": r.duration.as_secs_f64(),
            "run_dir": r.run_dir.as_ref().map(|d| d.display().to_string()),
            "report": r.report.as_ref().map(|d| d.display().to_string()),
            "log": r.log.display().to_string(),
            "explanation": r.explanation,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: Outcome, explanation: &str) -> RunResult {
        let c = spec::parse("[[matrix]]\nnemeses = [\"kill\"]\n", "t").unwrap();
        RunResult {
            spec: c.runs[0].clone(),
            outcome,
            exit_code: Some(1),
            ops: Some(10),
            duration: Duration::from_millis(1500),
            run_dir: None,
            report: None,
            log: PathBuf::from("logs/x.log"),
            explanation: explanation.to_string(),
        }
    }

    #[test]
    fn junit_names_the_failed_run_and_escapes() {
        let xml = junit_xml(
            "c",
            &[
                result(Outcome::Valid, ""),
                result(Outcome::Invalid, "linearizable: read of k1 saw <3>"),
                result(Outcome::NotRun, "not run: --fail-fast"),
            ],
        );
        assert!(xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(xml.contains(
            "<failure message=\"run r001-register-kill-n3-s1 (register kill n3 seed 1) is invalid: linearizable: read of k1 saw &lt;3&gt;\" type=\"invalid\">"
        ));
        assert!(xml.contains("<skipped message=\"not run: --fail-fast\"/>"));
    }

    #[test]
    fn explanation_prefers_harness_errors_and_checker_words() {
        let r = json!({
            "harness_errors": ["node n1 did not start"],
            "checkers": [
                {"name": "history", "verdict": "valid", "report": {}},
                {"name": "linearizable", "verdict": "invalid", "report": {"explanation": "k3 stale"}},
                {"name": "lost-writes", "verdict": "unknown", "report": {}},
            ]
        });
        assert_eq!(
            explain(&r),
            "harness: node n1 did not start\nlinearizable: k3 stale\nlost-writes: verdict unknown"
        );
    }

    #[test]
    fn clock_and_table() {
        assert_eq!(clock(Duration::from_secs(5)), "5s");
        assert_eq!(clock(Duration::from_secs(125)), "2m05s");
        assert_eq!(clock(Duration::from_secs(3725)), "1h02m05s");
        let t = table(&[result(Outcome::Invalid, "x")]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("#  run"), "{t}");
        assert!(
            lines[1].contains("INVALID") && lines[1].contains("1.5s"),
            "{t}"
        );
    }
}
