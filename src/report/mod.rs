//! Reports of a run, rebuilt from the run folder's files alone: `report.html` (one
//! self-contained page), `junit.xml` (one test case per checker), the `figures`
//! section of `results.json` (counts, latency quantiles, throughput, faults,
//! availability; see `docs/results.schema.json`), and `results/index.html` listing
//! every run.
//!
//! The controller calls [`render_run`] at the end of each test and then
//! [`render_index`] on the results folder; `faultline report` calls the same
//! functions on folders written earlier, so a report can always be regenerated (or
//! recomputed after a checker improved) without rerunning the test. A run without
//! `results.json`, and any run with `--recompute`, is re-checked from its history
//! first ([`recheck`]).
//!
//! The page is built to stay fast for long runs: the history is read once (in
//! parallel), figures are computed in linear time plus sorting latencies, the
//! timeline draws a bounded window of operations, and the latency plot a bounded
//! number of points, so the page size does not grow with the run.

mod charts;
pub mod escape;
pub mod figures;
mod html;
mod index;
pub mod junit;
mod recheck;
pub mod run;
pub mod synth;
mod timeline;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use workloads::check::CheckOptions;

pub use index::{has_runs, is_run_folder, render_index, render_index_of, RUN_FILES};
pub use run::Verdict;

/// How to render a run.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Re-run the checkers (with `check`) and recompute `figures`, and write both into
    /// `results.json` (figures are always added when missing).
    pub recompute: bool,
    /// Budgets and model of a re-check.
    pub check: CheckOptions,
}

/// What [`render_run`] produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The overall verdict shown.
    pub verdict: Verdict,
    /// Path of `report.html`.
    pub report: PathBuf,
    /// Size of `report.html` in bytes.
    pub report_bytes: usize,
    /// Path of `junit.xml`.
    pub junit: PathBuf,
    /// Whether `results.json` was updated (figures, and re-checked verdicts).
    pub figures_written: bool,
    /// Whether the checkers were run again on the history.
    pub rechecked: bool,
    /// Number of history lines read.
    pub ops: usize,
    /// Time spent reading the history.
    pub load_time: Duration,
    /// Total time.
    pub total_time: Duration,
}

/// Re-checks the run in `run_dir` with `check`, writes the new verdicts into its
/// `results.json` and rebuilds its report (`faultline check RUN_DIR --update`).
pub fn recheck_and_render(run_dir: &Path, check: &CheckOptions) -> anyhow::Result<Rendered> {
    render_run(
        run_dir,
        &RenderOptions {
            recompute: true,
            check: check.clone(),
        },
    )
}

/// Writes a file via a temporary file and a rename, so readers never see half of it.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Renders `report.html` and `junit.xml` of the run in `run_dir`, and adds the
/// computed figures to its `results.json` when missing (or when asked to recompute).
pub fn render_run(run_dir: &Path, opts: &RenderOptions) -> anyhow::Result<Rendered> {
    let started = Instant::now();
    let mut run = run::Run::load(run_dir)?;
    let load_time = started.elapsed();
    // A run without results.json is re-checked in memory only, unless asked to
    // recompute: the folder keeps saying that the run did not finish.
    let had_results = run.results.is_some();
    let rechecked = opts.recompute || !had_results;
    let write = had_results || opts.recompute;
    if rechecked {
        recheck::recheck(&mut run, &opts.check);
    }
    let paired = figures::pair(&run.ops);
    let fig = figures::compute(&run.ops, &paired);
    let mut figures_written = false;
    if let Some(results) = run.results.as_mut().filter(|_| write) {
        if opts.recompute || results.figures.is_none() {
            results.figures = Some(fig.clone());
            let mut text =
                serde_json::to_vec_pretty(results).context("cannot serialise results.json")?;
            text.push(b'\n');
            write_atomic(&run_dir.join(crate::store::RESULTS_FILE), &text)?;
            figures_written = true;
        }
    }

    let checkers = run.checkers();
    let verdict = run.verdict();
    let windows = figures::windows(&fig.faults, paired.end_time);
    let focus = html::focus(&run.ops, checkers);
    let (timeline, latency, throughput) = std::thread::scope(|s| {
        let lat = s.spawn(|| charts::latency_svg(&run.ops, &paired, &windows));
        let thr = s.spawn(|| charts::throughput_svg(&run.ops, &paired, &windows));
        let workers = run.config().map(|c| c.concurrency as u64);
        let tl = timeline::render(&run.ops, &paired, &windows, &focus, workers);
        let join = |h: std::thread::ScopedJoinHandle<'_, anyhow::Result<String>>| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a plot thread panicked")))
        };
        (tl, join(lat), join(thr))
    });
    let page = html::render(&html::Page {
        run: &run,
        verdict,
        checkers,
        figures: &fig,
        timeline,
        latency: latency?,
        throughput: throughput?,
    });
    let report = run_dir.join("report.html");
    write_atomic(&report, page.as_bytes())?;
    let junit_path = run_dir.join("junit.xml");
    let xml = junit::render_run(
        &run.name(),
        verdict,
        checkers,
        run.harness_errors(),
        fig.throughput.duration_s,
    );
    write_atomic(&junit_path, xml.as_bytes())?;
    Ok(Rendered {
        verdict,
        report,
        report_bytes: page.len(),
        junit: junit_path,
        figures_written,
        rechecked,
        ops: run.ops.len(),
        load_time,
        total_time: started.elapsed(),
    })
}
