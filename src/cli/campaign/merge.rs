//! `faultline report --merge DIR...`: joins the campaign folders of the shards of one
//! campaign (`faultline campaign FILE --shard K/N` on N machines) into one: the runs of
//! every shard's `campaign.json`, in campaign order, give one `campaign.json`, one
//! `junit.xml`, the summary table and totals, and the campaign's exit code, exactly
//! as one unsharded run of the campaign would (the run folders stay where the shards
//! wrote them; `campaign.json` points at them). Shards of different campaigns, a run
//! that appears twice, or a `campaign.json` without run numbers are refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use super::spec::RunSpec;
use super::{summary, RunResult, RunStatus};

/// The parts of a shard's `campaign.json` the merge reads.
#[derive(Debug, Deserialize)]
struct ShardFile {
    campaign: String,
    file: String,
    duration_s: f64,
    runs: Vec<ShardRun>,
}

/// One run of a shard's `campaign.json`.
#[derive(Debug, Deserialize)]
struct ShardRun {
    number: usize,
    #[serde(default = "raftkv")]
    db: String,
    id: String,
    workload: crate::run::config::WorkloadName,
    nemesis: String,
    nodes: usize,
    seed: u64,
    repetition: usize,
    db_bug: Option<String>,
    verdict: String,
    exit_code: Option<i32>,
    ops: Option<u64>,
    duration_s: f64,
    run_dir: Option<PathBuf>,
    report: Option<PathBuf>,
    log: PathBuf,
    explanation: String,
}

/// The store of a run recorded before runs named theirs.
fn raftkv() -> String {
    "raftkv".to_string()
}

/// Merges the shards' campaign folders `dirs` into `out` (default
/// `results/<campaign>-merged`) and returns the campaign's exit code.
pub fn merge(dirs: &[PathBuf], out: Option<&Path>) -> anyhow::Result<u8> {
    let mut name: Option<String> = None;
    let mut file = PathBuf::new();
    let mut wall = Duration::ZERO;
    let mut results: Vec<RunResult> = Vec::new();
    for dir in dirs {
        let path = dir.join("campaign.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (a campaign folder?)", path.display()))?;
        let shard: ShardFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a campaign.json this faultline can merge (it needs run numbers)",
                path.display()
            )
        })?;
        match &name {
            Some(n) if *n != shard.campaign => bail!(
                "{} is campaign {:?}, the others are {n:?}: only shards of one campaign merge",
                path.display(),
                shard.campaign
            ),
            Some(_) => {}
            None => name = Some(shard.campaign.clone()),
        }
        file = PathBuf::from(&shard.file);
        // The shards ran side by side: the campaign took as long as the slowest.
        wall = wall.max(Duration::from_secs_f64(shard.duration_s.max(0.0)));
        for run in shard.runs {
            if let Some(twice) = results.iter().find(|r| r.spec.number == run.number) {
                bail!(
                    "run {} is in two shards (again in {}): merge each shard once",
                    twice.spec.id,
                    path.display()
                );
            }
            results.push(result(run)?);
        }
    }
    let Some(name) = name else {
        bail!("--merge needs at least one campaign folder");
    };
    results.sort_by_key(|r| r.spec.number);
    let out = out.map_or_else(
        || PathBuf::from("results").join(format!("{name}-merged")),
        Path::to_path_buf,
    );
    let out = out.as_path();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    summary::finish(&name, &file, out, dirs, &results, wall)
}

/// A run of a shard as the summary knows it.
fn result(run: ShardRun) -> anyhow::Result<RunResult> {
    let outcome = match run.verdict.as_str() {
        "valid" => RunStatus::Valid,
        "invalid" => RunStatus::Invalid,
        "unknown" => RunStatus::Unknown,
        "error" => RunStatus::Error,
        "not run" => RunStatus::NotRun,
        other => bail!("run {}: unknown verdict {other:?}", run.id),
    };
    Ok(RunResult {
        spec: RunSpec {
            number: run.number,
            db: run.db,
            id: run.id,
            workload: run.workload,
            nemesis: run.nemesis,
            nodes: run.nodes,
            seed: run.seed,
            repetition: run.repetition,
            db_bug: run.db_bug,
            line: 0,
            extra_args: Vec::new(),
        },
        outcome,
        exit_code: run.exit_code,
        ops: run.ops,
        duration: Duration::from_secs_f64(run.duration_s.max(0.0)),
        run_dir: run.run_dir,
        report: run.report,
        log: run.log,
        explanation: run.explanation,
    })
}
