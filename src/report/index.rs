//! `results/index.html`: every run under a results folder, newest first, coloured by
//! verdict, each linking to its report.
//!
//! A run folder is any folder holding `test.json`, `history.jsonl` or `results.json`,
//! found at any depth up to [`MAX_DEPTH`]: `<test>/<timestamp>/` for `faultline test`,
//! `<campaign>/<run>/<timestamp>/` for campaign runs. Symbolic links (`latest`) are
//! not followed, so no run is listed twice; run folders are not searched further. A
//! run without `results.json` crashed (or is still running) and is listed as
//! `crashed`, since those are the runs a user comes looking for. Runs are ordered by
//! `started_at` (from `results.json`, else `test.json`) when recorded, else by the
//! timestamp folder's name (the controller names them so that they sort).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::escape::text;
use super::run::read_json;
use crate::run::results::{Results, TestFile, Verdict};
use crate::store::{HISTORY_FILE, RESULTS_FILE, TEST_FILE};

/// How deep below the results folder run folders are searched for.
const MAX_DEPTH: usize = 4;

/// The files whose presence makes a folder a run folder.
pub const RUN_FILES: [&str; 3] = [TEST_FILE, HISTORY_FILE, RESULTS_FILE];

/// One row of the index.
#[derive(Debug)]
struct Entry {
    /// Sort key: start time or folder name.
    when: String,
    /// The run folder relative to the folder it was found under, `/`-separated.
    rel: String,
    /// The path from the index's folder to that folder (empty when it is the same),
    /// ending in `/`.
    base: String,
    /// The verdict, or `crashed` when the run wrote no results.json.
    status: &'static str,
    /// The seed, if recorded.
    seed: String,
    /// Number of client operations, if recorded.
    ops: String,
    /// Number of faults, if recorded.
    faults: String,
    /// Whether report.html exists.
    has_report: bool,
}

/// Whether `dir` holds one of a run's files.
pub fn is_run_folder(dir: &Path) -> bool {
    RUN_FILES.iter().any(|f| dir.join(f).is_file())
}

/// Whether any run folder lies below `dir`.
pub fn has_runs(dir: &Path) -> bool {
    let mut found = Vec::new();
    run_folders(dir, String::new(), 0, &mut found);
    !found.is_empty()
}

/// Collects the run folders below `dir` (named `rel` relative to the results folder),
/// without following symbolic links.
fn run_folders(dir: &Path, rel: String, depth: usize, out: &mut Vec<(PathBuf, String)>) {
    let Ok(items) = std::fs::read_dir(dir) else {
        return;
    };
    for item in items.filter_map(Result::ok) {
        let name = item.file_name().to_string_lossy().into_owned();
        let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || name.starts_with('.') {
            continue;
        }
        let path = item.path();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if is_run_folder(&path) {
            out.push((path, rel));
        } else if depth + 1 < MAX_DEPTH {
            run_folders(&path, rel, depth + 1, out);
        }
    }
}

/// Lists every run folder under `root`, linked from an index in `index_dir`. A
/// `results.json` that cannot be read lists its run as unknown.
fn entries(index_dir: &Path, root: &Path) -> anyhow::Result<Vec<Entry>> {
    std::fs::read_dir(root).with_context(|| format!("cannot list {}", root.display()))?;
    let base = relative_link(index_dir, root)?;
    let mut found = Vec::new();
    run_folders(root, String::new(), 0, &mut found);
    let out: Vec<Entry> = found
        .into_iter()
        .map(|(dir, rel)| {
            let has_results = dir.join(RESULTS_FILE).is_file();
            let results = read_json::<Results>(&dir.join(RESULTS_FILE)).ok().flatten();
            let test = read_json::<TestFile>(&dir.join(TEST_FILE)).ok().flatten();
            let stamp = rel.rsplit('/').next().unwrap_or(&rel).to_string();
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
            let status = match r {
                Some(r) => r.verdict.as_str(),
                None if has_results => Verdict::Unknown.as_str(),
                None => "crashed",
            };
            Entry {
                when: r
                    .map(|r| r.started_at.clone())
                    .or_else(|| test.as_ref().map(|t| t.started_at.clone()))
                    .unwrap_or(stamp),
                status,
                seed: r
                    .map(|r| r.seed)
                    .or_else(|| test.as_ref().map(|t| t.config.seed))
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                ops: ops.map(|n| n.to_string()).unwrap_or_default(),
                faults: faults.map(|n| n.to_string()).unwrap_or_default(),
                has_report: dir.join("report.html").is_file(),
                rel,
                base: base.clone(),
            }
        })
        .collect();
    Ok(out)
}

/// The link from a page in `from` to the folder `to`: `../`s up to their common
/// ancestor, then down; empty for the same folder, else ending in `/`.
fn relative_link(from: &Path, to: &Path) -> anyhow::Result<String> {
    let absolute = |p: &Path| {
        std::fs::canonicalize(p).with_context(|| format!("cannot resolve {}", p.display()))
    };
    let (from, to) = (absolute(from)?, absolute(to)?);
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut link = "../".repeat(ups);
    for part in to.components().skip(common) {
        link.push_str(&part.as_os_str().to_string_lossy());
        link.push('/');
    }
    Ok(link)
}

/// Writes `index.html` into `results_dir`, listing the runs below it, and returns its
/// path.
pub fn render_index(results_dir: &Path) -> anyhow::Result<PathBuf> {
    render_index_of(results_dir, &[results_dir.to_path_buf()])
}

/// Writes `index.html` into `index_dir`, listing the runs below each of `roots` (the
/// shards' folders of a merged campaign, say) with links relative to `index_dir`, and
/// returns its path.
pub fn render_index_of(index_dir: &Path, roots: &[PathBuf]) -> anyhow::Result<PathBuf> {
    let mut runs = Vec::new();
    for root in roots {
        runs.extend(entries(index_dir, root)?);
    }
    runs.sort_by(|a, b| b.when.cmp(&a.when).then_with(|| a.rel.cmp(&b.rel)));
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline runs</title><style>\
         body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}\
         td,th{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}\
         tr.valid td.v{background:#d8f5dd;color:#125b22}tr.invalid td.v{background:#fbd9dd;color:#8a1020}\
         tr.unknown td.v{background:#fff0c8;color:#7a5400}tr.crashed td.v{background:#e4e4e4;color:#444}\
         td.v{font-weight:bold;text-transform:uppercase}\
         </style></head><body><h1>faultline runs</h1>",
    );
    let _ = write!(
        html,
        "<p>{} runs, newest first.</p><table><thead><tr><th>verdict</th><th>test</th><th>run</th><th>seed</th><th>operations</th><th>faults</th></tr></thead><tbody>",
        runs.len()
    );
    for r in &runs {
        let (test, run) = r.rel.rsplit_once('/').unwrap_or(("", &r.rel));
        let mut link = if r.has_report {
            format!(
                "<a href=\"{}{}/report.html\">{}</a>",
                text(&r.base),
                text(&r.rel),
                text(run)
            )
        } else {
            format!("{} (no report)", text(run))
        };
        if r.status == "crashed" {
            link.push_str(" — no results.json: the run crashed or is still running");
        }
        let _ = write!(
            html,
            "<tr class=\"{v}\"><td class=\"v\">{v}</td><td>{}</td><td>{link}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(test),
            text(&r.seed),
            text(&r.ops),
            text(&r.faults),
            v = r.status,
        );
    }
    html.push_str("</tbody></table></body></html>\n");
    let path = index_dir.join("index.html");
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
