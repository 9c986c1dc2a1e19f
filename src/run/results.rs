//! `results.json`: everything a run concluded, in a versioned schema that the report
//! renderer and CI read. Field by field:
//!
//! - `schema_version` (1), `test_name`, `run_id`, `seed`, `workload`, `db` (the store)
//!   and `db_version`, `started_at` (RFC 3339), `duration_s`, `config` (the resolved
//!   [`TestConfig`], as in test.json);
//! - `verdict`: `valid | invalid | unknown` over all checkers; never `valid` when the run
//!   was `interrupted` or `harness_errors` is not empty;
//! - `checkers`: one entry per checker: `name` (`history`: the controller's own
//!   well-formedness check of the recording; `linearizable`; `lost-writes` for sets),
//!   `verdict`, `report` (that checker's part of the check report, verbatim);
//! - `check`: the whole `CheckReport` of the workload checker (verdict, model, stats,
//!   checkers), or null when the history was never checked;
//! - `ops`: `total` and `by_f` counts (`invoke`, `ok`, `fail`, `info`) of client ops,
//!   `history_lines` (client and nemesis lines in history.jsonl), `processes` (highest
//!   client process id + 1);
//! - `latency_ms`: per `f`, quantiles of ok completions: `count`, `mean`, `p50`, `p90`,
//!   `p99`, `p999`, `max`;
//! - `throughput`: `mean_ok_per_s` over the main phase and `per_second`, a list of
//!   `[ok, fail, info]` completions in each second since the history's time zero;
//! - `faults`: the nemesis operations, paired start/stop: `f`, `start_s`, `end_s`
//!   (null if never stopped), `value` (what was done) and `outcome`;
//! - `phases`: `name`, `start_s` (seconds since the history's time zero, like
//!   `faults`), `duration_s` of setup, main, heal, recovery, final-reads, teardown, check;
//! - `nodes`: per node, `log` and `data` paths relative to the run folder;
//! - `files`: the run folder's files (`test`, `history`, `journal`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::config::TestConfig;
use super::recorder::{Counts, Quantiles, RecorderSummary};

pub use workloads::check::Verdict;

/// One checker's result.
#[derive(Debug, Serialize)]
pub struct CheckerResult {
    /// Checker name (`linearizable`, `set`, `history`).
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its report, verbatim.
    pub report: serde_json::Value,
    /// One line for the console.
    #[serde(skip)]
    pub summary: String,
}

/// One phase's timing.
#[derive(Debug, Serialize)]
pub struct PhaseTiming {
    /// Phase name.
    pub name: String,
    /// Seconds since the history's time zero (just before setup).
    pub start_s: f64,
    /// How long it took.
    pub duration_s: f64,
}

/// Op statistics.
#[derive(Debug, Default, Serialize)]
pub struct OpStats {
    /// Totals over all functions.
    pub total: Counts,
    /// Per function.
    pub by_f: BTreeMap<String, Counts>,
    /// Lines in history.jsonl.
    pub history_lines: u64,
    /// Logical processes used (highest id + 1).
    pub processes: u64,
}

/// Throughput figures.
#[derive(Debug, Default, Serialize)]
pub struct Throughput {
    /// Mean ok completions per second of the main phase.
    pub mean_ok_per_s: f64,
    /// `[ok, fail, info]` per second.
    pub per_second: Vec<[u64; 3]>,
}

/// A fault, start to stop.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// The start function (`kill`, `pause`, `partition`, `crash`).
    pub f: String,
    /// Seconds since the history's time zero when it started.
    pub start_s: f64,
    /// When it was undone, if it was.
    pub end_s: Option<f64>,
    /// What was done.
    pub value: serde_json::Value,
    /// `installed`, `skipped` or `indeterminate`.
    pub outcome: String,
}

/// Paths of one node's files, relative to the run folder.
#[derive(Debug, Serialize)]
pub struct NodeFiles {
    /// The log.
    pub log: String,
    /// The data directory.
    pub data: String,
}

/// The whole of results.json.
#[derive(Debug, Serialize)]
pub struct Results {
    /// Schema version of this file.
    pub schema_version: u32,
    /// Test name.
    pub test_name: String,
    /// Run id.
    pub run_id: String,
    /// Seed.
    pub seed: u64,
    /// Workload name.
    pub workload: String,
    /// The store under test.
    pub db: String,
    /// Its version (empty when it could not be learnt).
    pub db_version: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// Wall time of the whole run in seconds.
    pub duration_s: f64,
    /// Overall verdict.
    pub verdict: Verdict,
    /// Whether SIGINT/SIGTERM stopped the run early.
    pub interrupted: bool,
    /// What went wrong in the harness (not in the system under test).
    pub harness_errors: Vec<String>,
    /// Per-checker results.
    pub checkers: Vec<CheckerResult>,
    /// The workload checker's whole report (`CheckReport`: verdict, model, stats,
    /// checkers with counterexamples), as `faultline check` would print it.
    pub check: Option<serde_json::Value>,
    /// Op counts.
    pub ops: OpStats,
    /// Latency quantiles per function (ms).
    pub latency_ms: BTreeMap<String, Quantiles>,
    /// Throughput.
    pub throughput: Throughput,
    /// Faults.
    pub faults: Vec<FaultRecord>,
    /// Phase timings.
    pub phases: Vec<PhaseTiming>,
    /// Node files.
    pub nodes: BTreeMap<String, NodeFiles>,
    /// Run folder files.
    pub files: BTreeMap<String, String>,
    /// The resolved configuration.
    pub config: TestConfig,
}

impl Results {
    /// An empty result for a run that is starting.
    pub fn new(config: &TestConfig, run_id: &str, started_at: &str) -> Results {
        let files = [
            ("test", crate::store::TEST_FILE),
            ("history", crate::store::HISTORY_FILE),
            ("journal", nemesis::JOURNAL_FILE),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Results {
            schema_version: 1,
            test_name: config.test_name.clone(),
            run_id: run_id.to_string(),
            seed: config.seed,
            workload: config.workload.as_str().to_string(),
            db: config.db.clone(),
            db_version: String::new(),
            started_at: started_at.to_string(),
            duration_s: 0.0,
            verdict: Verdict::Unknown,
            interrupted: false,
            harness_errors: Vec::new(),
            checkers: Vec::new(),
            check: None,
            ops: OpStats::default(),
            latency_ms: BTreeMap::new(),
            throughput: Throughput::default(),
            faults: Vec::new(),
            phases: Vec::new(),
            nodes: BTreeMap::new(),
            files,
            config: config.clone(),
        }
    }

    /// Fills in everything known at the end and computes the overall verdict.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        checkers: Vec<CheckerResult>,
        summary: RecorderSummary,
        phases: Vec<PhaseTiming>,
        duration_s: f64,
        last_process: u64,
        logs: Vec<std::path::PathBuf>,
        run: &Path,
    ) {
        let main_s = phases
            .iter()
            .find(|p| p.name == "main")
            .map(|p| p.duration_s)
            .unwrap_or(0.0);
        self.throughput = Throughput {
            mean_ok_per_s: if main_s > 0.0 {
                summary.total.ok as f64 / main_s
            } else {
                0.0
            },
            per_second: summary.per_second,
        };
        self.ops = OpStats {
            total: summary.total,
            by_f: summary.by_f,
            history_lines: summary.history_lines,
            processes: if summary.total.invoke > 0 {
                last_process + 1
            } else {
                0
            },
        };
        self.latency_ms = summary.latency_ms;
        self.phases = phases;
        self.duration_s = duration_s;
        let relative = |p: &Path| {
            p.strip_prefix(run)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        self.nodes = logs
            .iter()
            .filter_map(|log| {
                let dir = log.parent()?;
                let name = dir.file_name()?.to_string_lossy().into_owned();
                let files = NodeFiles {
                    log: relative(log),
                    data: relative(&dir.join("data")),
                };
                Some((name, files))
            })
            .collect();
        let mut verdict = Verdict::worst_of(checkers.iter().map(|c| c.verdict));
        if verdict == Verdict::Valid && (self.interrupted || !self.harness_errors.is_empty()) {
            verdict = Verdict::Unknown;
        }
        self.checkers = checkers;
        self.verdict = verdict;
    }

    /// Prints the end-of-run summary on stderr.
    pub fn print_summary(&self, run: &Path) {
        let t = &self.ops.total;
        eprintln!();
        eprintln!(
            "faultline: {} ops ({} ok, {} fail, {} info) in {:.1} s; {:.0} ok/s in the main phase",
            t.invoke, t.ok, t.fail, t.info, self.duration_s, self.throughput.mean_ok_per_s
        );
        for (f, q) in &self.latency_ms {
            eprintln!(
                "  latency {f:<6} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                q.p50, q.p99, q.max
            );
        }
        if !self.faults.is_empty() {
            eprintln!("  faults: {}", self.faults.len());
        }
        for c in &self.checkers {
            eprintln!(
                "  checker {:<14} {:<8} {}",
                c.name,
                c.verdict.as_str(),
                c.summary
            );
        }
        for e in &self.harness_errors {
            eprintln!("  harness error: {e}");
        }
        if self.interrupted {
            eprintln!("  the run was interrupted");
        }
        eprintln!("verdict: {}", self.verdict.as_str().to_uppercase());
        eprintln!("results: {}", run.display());
    }
}
