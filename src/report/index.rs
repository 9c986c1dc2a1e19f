//! `results/index.html`: every run under a results folder (`<test>/<timestamp>/`
//! holding a `results.json`), newest first, coloured by verdict, each linking to its
//! report. Runs are ordered by `started_at` from `results.json`, or by the timestamp
//! folder's name (the controller names them so that they sort) when the file cannot be
//! read.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::escape::text;
use super::run::{read_json, Verdict};
use crate::run::results::Results;

/// One row of the index.
#[derive(Debug)]
struct Entry {
    /// Sort key: start time or folder name.
    when: String,
    /// `<test>/<timestamp>` relative to the results folder.
    rel: String,
    /// The test's folder name.
    test: String,
    /// The overall verdict.
    verdict: Verdict,
    /// The seed, if recorded.
    seed: String,
    /// Number of client operations, if recorded.
    ops: String,
    /// Number of faults, if recorded.
    faults: String,
    /// Whether report.html exists.
    has_report: bool,
}

/// Lists the run folders under `results_dir` that hold a `results.json`. One that
/// cannot be read is listed as unknown.
fn entries(results_dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let tests = std::fs::read_dir(results_dir)
        .with_context(|| format!("cannot list {}", results_dir.display()))?;
    for test in tests.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
        let Ok(runs) = std::fs::read_dir(test.path()) else {
            continue;
        };
        for run in runs.filter_map(Result::ok) {
            let dir = run.path();
            let results = match read_json::<Results>(&dir.join(crate::store::RESULTS_FILE)) {
                Ok(None) => continue,
                Ok(Some(r)) => Some(r),
                Err(_) => None,
            };
            let test_name = test.file_name().to_string_lossy().into_owned();
            let stamp = run.file_name().to_string_lossy().into_owned();
            let r = results.as_ref();
            // Figures computed by the report first, the controller's own second.
            let ops = r.map(|r| {
                r.figures
                    .as_ref()
                    .map_or(r.ops.total.invoke, |f| f.ops.total.invoke)
            });
            let faults = r.map(|r| {
                r.figures
                    .as_ref()
                    .map_or(r.faults.len(), |f| f.faults.len())
            });
            out.push(Entry {
                when: r.map_or_else(|| stamp.clone(), |r| r.started_at.clone()),
                rel: format!("{test_name}/{stamp}"),
                test: test_name,
                verdict: r.map_or(Verdict::Unknown, |r| r.verdict),
                seed: r.map(|r| r.seed.to_string()).unwrap_or_default(),
                ops: ops.map(|n| n.to_string()).unwrap_or_default(),
                faults: faults.map(|n| n.to_string()).unwrap_or_default(),
                has_report: dir.join("report.html").is_file(),
            });
        }
    }
    out.sort_by(|a, b| b.when.cmp(&a.when).then_with(|| a.rel.cmp(&b.rel)));
    Ok(out)
}

/// Writes `index.html` into `results_dir` and returns its path.
pub fn render_index(results_dir: &Path) -> anyhow::Result<PathBuf> {
    let runs = entries(results_dir)?;
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline runs</title><style>\
         body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}\
         td,th{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}\
         tr.valid td.v{background:#d8f5dd;color:#125b22}tr.invalid td.v{background:#fbd9dd;color:#8a1020}\
         tr.unknown td.v{background:#fff0c8;color:#7a5400}td.v{font-weight:bold;text-transform:uppercase}\
         </style></head><body><h1>faultline runs</h1>",
    );
    let _ = write!(
        html,
        "<p>{} runs, newest first.</p><table><thead><tr><th>verdict</th><th>test</th><th>run</th><th>seed</th><th>operations</th><th>faults</th></tr></thead><tbody>",
        runs.len()
    );
    for r in &runs {
        let run = r.rel.rsplit('/').next().unwrap_or(&r.rel);
        let link = if r.has_report {
            format!("<a href=\"{}/report.html\">{}</a>", text(&r.rel), text(run))
        } else {
            format!("{} (no report)", text(run))
        };
        let _ = write!(
            html,
            "<tr class=\"{v}\"><td class=\"v\">{v}</td><td>{}</td><td>{link}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&r.test),
            text(&r.seed),
            text(&r.ops),
            text(&r.faults),
            v = r.verdict.as_str(),
        );
    }
    html.push_str("</tbody></table></body></html>\n");
    let path = results_dir.join("index.html");
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
