//! `faultline report RUN_DIR` rebuilds a run's report.html and junit.xml (and the
//! figures in results.json) from the run folder's files alone; `faultline report
//! --index RESULTS_DIR` rebuilds the list of all runs. `faultline bench-report`
//! measures how long rendering takes for a large synthetic run and how big the page
//! gets, and prints the figures.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::report::{self, synth, RenderOptions};

/// Flags of `faultline report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The run folder (results/<test>/<timestamp>); with --index, the results folder.
    pub dir: PathBuf,
    /// Rebuild DIR/index.html, the list of every run under the results folder DIR.
    #[arg(long)]
    pub index: bool,
    /// Recompute the figures in results.json from the history even if present.
    #[arg(long, conflicts_with = "index")]
    pub recompute: bool,
}

/// Runs `faultline report`; exits 0 when the files were written.
pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    if args.index {
        let path = report::render_index(&args.dir)?;
        println!("index: {}", path.display());
        return Ok(0);
    }
    let opts = RenderOptions {
        recompute: args.recompute,
    };
    let r = report::render_run(&args.dir, &opts)
        .with_context(|| format!("cannot render the report of {}", args.dir.display()))?;
    println!(
        "verdict: {}\nreport: {} ({:.1} KiB)\njunit: {}{}",
        r.verdict.as_str(),
        r.report.display(),
        r.report_bytes as f64 / 1024.0,
        r.junit.display(),
        if r.figures_written {
            "\nresults.json: figures written"
        } else {
            ""
        }
    );
    Ok(0)
}

/// Flags of `faultline bench-report`.
#[derive(clap::Args, Debug)]
pub struct BenchReportArgs {
    /// History lines of the synthetic run.
    #[arg(long, default_value_t = 1_000_000)]
    pub ops: usize,
    /// Seed of the synthetic run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concurrent client processes of the synthetic run.
    #[arg(long, default_value_t = 10)]
    pub concurrency: u64,
    /// Plant a stale read, so the report has a counterexample.
    #[arg(long)]
    pub invalid: bool,
    /// Write the run folder here and keep it (default: a temporary folder, removed).
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// Runs `faultline bench-report` and prints its figures.
pub fn bench(args: BenchReportArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let (dir, remove) = match &args.keep {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("faultline-bench-report-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let spec = synth::Spec {
        ops: args.ops,
        seed: args.seed,
        concurrency: args.concurrency,
        invalid: args.invalid,
    };
    let t = Instant::now();
    synth::write_run(&dir, &spec)?;
    let generate = t.elapsed();
    let history_bytes = std::fs::metadata(dir.join("history.jsonl"))
        .map(|m| m.len())
        .unwrap_or(0);
    let result = report::render_run(&dir, &RenderOptions::default());
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let r = result?;
    println!("history lines:      {}", r.ops);
    println!("history size:       {:.1} MB", history_bytes as f64 / 1e6);
    println!("generate (synth):   {:.2} s", generate.as_secs_f64());
    println!("read history:       {:.2} s", r.load_time.as_secs_f64());
    println!("render (total):     {:.2} s", r.total_time.as_secs_f64());
    println!("report.html size:   {:.2} MB", r.report_bytes as f64 / 1e6);
    println!("verdict shown:      {}", r.verdict.as_str());
    if !remove {
        println!("run folder:         {}", dir.display());
    }
    Ok(0)
}
