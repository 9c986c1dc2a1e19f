//! `results.json`: everything a run concluded, in a versioned schema that the report
//! renderer and CI read. Field by field:
//!
//! - `schema_version` (1), `test_name`, `run_id`, `seed`, `workload`, `db` (the store)
//!   and `db_version`, `started_at` (RFC 3339), `duration_s`, `config` (the resolved
//!   [`TestConfig`], as in test.json);
//! - `verdict`: `valid | invalid | unknown` over all checkers; never `valid` when the run
//!   was `interrupted` or `harness_errors` is not empty;
//! - `checkers`: one entry per checker: `name` (`history`: the controller's own
//!   well-formedness check of the recording; `linearizable`; `lost-writes` for sets;
//!   `recovery` for runs with faults: whether the cluster answered after the heal),
//!   `verdict`, `report` (that checker's part of the check report: [`CheckerReport`],
//!   typed by `name`, or `{"error"}` when the checker could not run);
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
//! - `files`: the run folder's files (`test`, `history`, `journal`);
//! - `figures`: added by the report: what it computed from the history alone.
//!
//! The controller writes these types and the report reads them back (as does
//! `test.json`'s [`TestFile`]): no reader guesses at a field name, and a file that
//! does not fit is an error naming the field. `docs/results.schema.json` describes the
//! same shape and is checked against real runs' files by `tests/report_schema.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use workloads::check::{CheckReport, Linearizable};
use workloads::lost::LostWrites;

use super::config::TestConfig;
use super::recorder::{Counts, Quantiles, RecorderSummary};
use crate::report::figures::Figures;

pub use workloads::check::Verdict;

/// What `test.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestFile {
    /// Format version of this file.
    pub schema_version: u32,
    /// The faultline version that ran the test.
    pub faultline_version: String,
    /// The git commit faultline was built from (`unknown` outside a checkout).
    #[serde(default)]
    pub faultline_commit: String,
    /// The store under test and its version (`etcd 3.4.23`; empty in files written
    /// before stores were named: the store is then `config.db`).
    #[serde(default)]
    pub db_version: String,
    /// The run id (in namespace and interface names).
    pub run_id: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// The arguments the run was started with.
    pub command_line: Vec<String>,
    /// The resolved configuration.
    pub config: TestConfig,
}

/// The verdict of a run: the worst of its checkers' (unknown when there are none),
/// and never `valid` when the run was `broken` (interrupted, or a harness error).
pub fn overall_verdict(checkers: impl IntoIterator<Item = Verdict>, broken: bool) -> Verdict {
    match Verdict::worst_of(checkers) {
        Verdict::Valid if broken => Verdict::Unknown,
        v => v,
    }
}

/// One checker's result: its verdict and its report in the checker's own type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawCheckerResult", into = "RawCheckerResult")]
pub struct CheckerResult {
    /// Checker name (`history`, `linearizable`, `lost-writes`).
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its report.
    pub report: CheckerReport,
}

/// What one checker reported; which type the `report` of a `results.json` entry has
/// follows from the entry's `name`.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckerReport {
    /// `history`: the controller's check of its own recording.
    History(HistoryReport),
    /// `linearizable`: the workload checker's linearizability report.
    Linearizable(Linearizable),
    /// `lost-writes`: the set checker's report.
    LostWrites(LostWrites),
    /// `recovery`: whether the cluster answered again after the final heal.
    Recovery(super::recovery::RecoveryReport),
    /// The checker could not run (an unreadable or uninterpretable history).
    Failed(CheckerError),
}

/// The report of the `history` checker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryReport {
    /// History lines read.
    pub ops: usize,
    /// The first few recording problems (empty when well-formed).
    pub problems: Vec<String>,
}

/// The report of a checker that could not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckerError {
    /// Why.
    pub error: String,
}

/// A `results.json` checker entry as written: `{name, verdict, report}`.
#[derive(Serialize, Deserialize)]
struct RawCheckerResult {
    /// Checker name.
    name: String,
    /// Its verdict.
    verdict: Verdict,
    /// Its report, typed by `name`.
    report: serde_json::Value,
}

impl TryFrom<RawCheckerResult> for CheckerResult {
    type Error = String;

    fn try_from(raw: RawCheckerResult) -> Result<CheckerResult, String> {
        let failed = serde_json::from_value::<CheckerError>(raw.report.clone());
        let report = match (raw.name.as_str(), failed) {
            (_, Ok(error)) => Ok(CheckerReport::Failed(error)),
            ("history", _) => serde_json::from_value(raw.report).map(CheckerReport::History),
            ("linearizable", _) => {
                serde_json::from_value(raw.report).map(CheckerReport::Linearizable)
            }
            ("lost-writes", _) => serde_json::from_value(raw.report).map(CheckerReport::LostWrites),
            ("recovery", _) => serde_json::from_value(raw.report).map(CheckerReport::Recovery),
            (other, _) => return Err(format!("unknown checker `{other}`")),
        }
        .map_err(|e| format!("the report of checker `{}`: {e}", raw.name))?;
        Ok(CheckerResult {
            name: raw.name,
            verdict: raw.verdict,
            report,
        })
    }
}

impl From<CheckerResult> for RawCheckerResult {
    fn from(c: CheckerResult) -> RawCheckerResult {
        RawCheckerResult {
            report: c.report.to_json(),
            name: c.name,
            verdict: c.verdict,
        }
    }
}

impl CheckerReport {
    /// The report as `results.json` holds it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CheckerReport::History(r) => serde_json::to_value(r),
            CheckerReport::Linearizable(r) => serde_json::to_value(r),
            CheckerReport::LostWrites(r) => serde_json::to_value(r),
            CheckerReport::Recovery(r) => serde_json::to_value(r),
            CheckerReport::Failed(r) => serde_json::to_value(r),
        }
        .expect("checker reports serialise to JSON")
    }
}

impl CheckerResult {
    /// One line in plain words: the first counterexample, the lost-write counts, the
    /// recording problems, or why the checker is undecided.
    pub fn explanation(&self) -> String {
        match &self.report {
            CheckerReport::Failed(e) => e.error.clone(),
            CheckerReport::Recovery(r) => r.explanation.clone(),
            CheckerReport::History(h) => match h.problems.first() {
                None => format!("{} history lines well-formed", h.ops),
                Some(p) => format!("{} recording problems, the first: {p}", h.problems.len()),
            },
            // Indeterminate adds that a read saw are known to have happened too.
            CheckerReport::LostWrites(l) => format!(
                "of {} writes known to have happened, {} lost, {} read stale, {} never read",
                l.acknowledged + l.recovered_count,
                l.lost_count,
                l.stale_count,
                l.never_read_count
            ),
            CheckerReport::Linearizable(l) => match (l.counterexamples.first(), l.unknown_reason) {
                (Some(c), _) if c.key.is_empty() => c.summary.clone(),
                (Some(c), _) => format!("key {}: {}", c.key, c.summary),
                (None, Some(reason)) => format!(
                    "undecided ({}): {} keys could not be checked",
                    reason.as_str(),
                    l.unknown_keys.len()
                ),
                (None, None) => format!(
                    "{} keys checked: {} linearizable",
                    l.keys_checked, l.keys_valid
                ),
            },
        }
    }
}

/// One phase's timing.
#[derive(Debug, Serialize, Deserialize)]
pub struct PhaseTiming {
    /// Phase name.
    pub name: String,
    /// Seconds since the history's time zero (just before setup).
    pub start_s: f64,
    /// How long it took.
    pub duration_s: f64,
}

/// Op statistics.
#[derive(Debug, Default, Serialize, Deserialize)]
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
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Throughput {
    /// Mean ok completions per second of the main phase.
    pub mean_ok_per_s: f64,
    /// `[ok, fail, info]` per second.
    pub per_second: Vec<[u64; 3]>,
}

/// A fault, start to stop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRecord {
    /// The start function (`kill`, `pause`, `partition`, `crash`).
    pub f: String,
    /// Seconds since the history's time zero when it started.
    pub start_s: f64,
    /// When it was undone, if it was.
    pub end_s: Option<f64>,
    /// What was done.
    pub value: serde_json::Value,
    /// How it ended.
    pub outcome: nemesis::Outcome,
}

/// Mean `ok` completions per second within `[start_s, start_s + duration_s)`, from
/// per-second buckets (a bucket straddling an edge counts in proportion to its overlap),
/// so the recovery phase's operations do not inflate the main phase's figure.
fn ok_per_s_within(per_second: &[[u64; 3]], start_s: f64, duration_s: f64) -> f64 {
    if duration_s <= 0.0 {
        return 0.0;
    }
    let end_s = start_s + duration_s;
    let ok: f64 = per_second
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let overlap = (end_s.min(i as f64 + 1.0) - start_s.max(i as f64)).max(0.0);
            b[0] as f64 * overlap
        })
        .sum();
    ok / duration_s
}

/// Paths of one node's files, relative to the run folder.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeFiles {
    /// The log.
    pub log: String,
    /// The data directory.
    pub data: String,
}

/// The whole of results.json.
#[derive(Debug, Serialize, Deserialize)]
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
    #[serde(default = "super::config::default_db")]
    pub db: String,
    /// Its version (empty when it could not be learnt, or the file predates stores).
    #[serde(default)]
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
    /// The workload checker's whole report (verdict, model, stats, checkers with
    /// counterexamples), as `faultline check` would print it.
    pub check: Option<CheckReport>,
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
    /// What the report computed from the history (added when the report is rendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
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
            figures: None,
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
        let main = phases.iter().find(|p| p.name == "main");
        self.throughput = Throughput {
            mean_ok_per_s: main.map_or(0.0, |m| {
                ok_per_s_within(&summary.per_second, m.start_s, m.duration_s)
            }),
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
        self.verdict = overall_verdict(
            checkers.iter().map(|c| c.verdict),
            self.interrupted || !self.harness_errors.is_empty(),
        );
        self.checkers = checkers;
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
                c.explanation()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_phase_throughput_counts_only_the_main_phase() {
        // 10 ok/s in seconds 0-1 (setup), 100 ok/s in 1-3 (main), 50 ok/s after.
        let buckets = [[10, 0, 0], [100, 1, 0], [100, 0, 2], [50, 0, 0], [50, 0, 0]];
        assert_eq!(ok_per_s_within(&buckets, 1.0, 2.0), 100.0);
        // Half of the first and last buckets: (50 + 100 + 25) / 2.
        assert_eq!(ok_per_s_within(&buckets, 1.5, 2.0), 87.5);
        assert_eq!(ok_per_s_within(&buckets, 1.0, 0.0), 0.0);
    }
}
