//! The end of a campaign: its `junit.xml` (one test case per run), `campaign.json`,
//! the results index, the summary table and totals on stdout, and the exit code.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value as Json};

use super::{RunResult, RunStatus};
use crate::report::junit::{self, first_line};
use crate::run::EXIT_HARNESS;

/// Writes the campaign's files, prints its summary and returns its exit code: 1 if
/// any run is invalid, else 3 if any hit a harness error, else 2 if any is unknown,
/// else 0. The index lists the runs below each of `run_roots` (the campaign's own
/// folder, or the shards' folders of a merged campaign).
pub(super) fn finish(
    name: &str,
    file: &Path,
    campaign_dir: &Path,
    run_roots: &[PathBuf],
    results: &[RunResult],
    wall: Duration,
) -> anyhow::Result<u8> {
    let total = results.len();
    let junit = campaign_dir.join("junit.xml");
    std::fs::write(&junit, junit_xml(name, results))
        .with_context(|| format!("writing {}", junit.display()))?;
    let summary = campaign_dir.join("campaign.json");
    let data = campaign_json(name, file, results, wall);
    std::fs::write(&summary, serde_json::to_vec_pretty(&data)?)
        .with_context(|| format!("writing {}", summary.display()))?;
    let index = crate::report::render_index_of(campaign_dir, run_roots)?;

    print!("{}", table(results));
    let failed: Vec<&RunResult> = results
        .iter()
        .filter(|r| !matches!(r.outcome, RunStatus::Valid | RunStatus::NotRun))
        .collect();
    if !failed.is_empty() {
        println!("not valid:");
        for r in failed {
            println!("  {}: {}", r.spec.id, first_line(&r.explanation));
        }
    }
    let count = |o: RunStatus| results.iter().filter(|r| r.outcome == o).count();
    println!(
        "campaign {}: {} runs in {}: {} valid, {} invalid, {} unknown, {} error, {} not run",
        name,
        total,
        clock(wall),
        count(RunStatus::Valid),
        count(RunStatus::Invalid),
        count(RunStatus::Unknown),
        count(RunStatus::Error),
        count(RunStatus::NotRun)
    );
    println!("index:  {}", index.display());
    println!("junit:  {}", junit.display());
    Ok(if count(RunStatus::Invalid) > 0 {
        1
    } else if count(RunStatus::Error) > 0 {
        EXIT_HARNESS
    } else if count(RunStatus::Unknown) > 0 {
        2
    } else {
        0
    })
}

/// `1h02m03s`, `2m03s` or `3s`.
pub(super) fn clock(d: Duration) -> String {
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
                if r.outcome == RunStatus::NotRun {
                    "-".to_string()
                } else {
                    format!("{:.1}s", r.duration.as_secs_f64())
                },
                match (&r.report, r.outcome) {
                    (_, RunStatus::NotRun) => "-".to_string(),
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
    let cases: Vec<junit::Case> = results
        .iter()
        .map(|r| {
            let problem = |kind| junit::Problem {
                kind,
                message: format!(
                    "run {} ({}) is {}: {}",
                    r.spec.id,
                    r.spec.params(),
                    r.outcome.as_str(),
                    first_line(&r.explanation)
                ),
                detail: run_detail(r),
            };
            junit::Case {
                name: r.spec.id.clone(),
                time_s: r.duration.as_secs_f64(),
                status: match r.outcome {
                    RunStatus::Valid => junit::Status::Passed,
                    RunStatus::Invalid => junit::Status::Failure(problem("invalid")),
                    RunStatus::Unknown => junit::Status::Error(problem("unknown")),
                    RunStatus::Error => junit::Status::Error(problem("harness")),
                    RunStatus::NotRun => junit::Status::Skipped(r.explanation.clone()),
                },
            }
        })
        .collect();
    let time: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    junit::render(
        &format!("faultline campaign {name}"),
        &format!("faultline.campaign.{name}"),
        time,
        &cases,
    )
}

/// The text of a run's JUnit failure or error: what ran, where its files are, and why.
fn run_detail(r: &RunResult) -> String {
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
    detail
}

/// `campaign.json`: the campaign's outcome as data.
fn campaign_json(name: &str, file: &Path, results: &[RunResult], wall: Duration) -> Json {
    json!({
        "schema_version": 1,
        "campaign": name,
        "file": file.display().to_string(),
        "duration_s": wall.as_secs_f64(),
        "runs": results.iter().map(|r| json!({
            "number": r.spec.number,
            "db": r.spec.db,
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
    use std::path::PathBuf;

    use super::super::spec;
    use super::*;

    fn result(outcome: RunStatus, explanation: &str) -> RunResult {
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
                result(RunStatus::Valid, ""),
                result(RunStatus::Invalid, "linearizable: read of k1 saw <3>"),
                result(RunStatus::NotRun, "not run: --fail-fast"),
            ],
        );
        assert!(xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(xml.contains(
            "<failure message=\"run r001-register-kill-n3-s1 (register kill n3 seed 1) is invalid: linearizable: read of k1 saw &lt;3&gt;\" type=\"invalid\">"
        ));
        assert!(xml.contains("<skipped message=\"not run: --fail-fast\"/>"));
    }

    #[test]
    fn clock_and_table() {
        assert_eq!(clock(Duration::from_secs(5)), "5s");
        assert_eq!(clock(Duration::from_secs(125)), "2m05s");
        assert_eq!(clock(Duration::from_secs(3725)), "1h02m05s");
        let t = table(&[result(RunStatus::Invalid, "x")]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("#  run"), "{t}");
        assert!(
            lines[1].contains("INVALID") && lines[1].contains("1.5s"),
            "{t}"
        );
    }
}
