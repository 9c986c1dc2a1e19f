//! `faultline report RUN_DIR` rebuilds a run's report.html and junit.xml (and the
//! figures in results.json) from the run folder's files alone, and exits with the
//! run's verdict (0 valid, 1 invalid, 2 unknown; 3 when RUN_DIR is not a run folder or
//! cannot be read). A run that never wrote results.json is re-checked from its
//! history; `--recompute` re-runs the checkers of any run and writes their verdicts
//! into results.json. `faultline report --index RESULTS_DIR` rebuilds the list of all
//! runs. `faultline bench-report` measures how long rendering takes for a large
//! synthetic run and how big the page gets, and prints the figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};

use crate::report::{self, synth, RenderOptions, RUN_FILES};

/// Flags of `faultline report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The run folder (results/<test>/<timestamp>); with --index, the results folder.
    #[arg(required_unless_present = "merge")]
    pub dir: Option<PathBuf>,
    /// Merge the campaign folders of a sharded campaign (`faultline campaign
    /// --shard K/N`) into one summary, campaign.json and junit.xml; exits with the
    /// campaign's code.
    #[arg(long, num_args = 1.., value_name = "CAMPAIGN_DIR", conflicts_with_all = ["dir", "index", "recompute"])]
    pub merge: Vec<PathBuf>,
    /// With --merge: the folder of the merged campaign (default
    /// `results/<campaign>-merged`).
    #[arg(long, requires = "merge", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rebuild DIR/index.html, the list of every run under the results folder DIR.
    #[arg(long)]
    pub index: bool,
    /// Re-run the checkers on the history and recompute the figures, and write both
    /// into results.json.
    #[arg(long, conflicts_with = "index")]
    pub recompute: bool,
}

/// Refuses a folder that holds none of a run's files, saying what is missing (and
/// pointing at `--index` when runs lie below it).
fn ensure_run_folder(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!(
            "{} is not a run folder: there is no such folder",
            dir.display()
        );
    }
    if report::is_run_folder(dir) {
        return Ok(());
    }
    let hint = if report::has_runs(dir) {
        "; it holds run folders: list them with `faultline report --index`"
    } else {
        ""
    };
    bail!(
        "{} is not a run folder: it has no {} (a run folder is <results>/<test>/<timestamp>){hint}",
        dir.display(),
        RUN_FILES.join(", no ")
    )
}

/// Runs `faultline report`; exits with the verdict shown (0 valid, 1 invalid,
/// 2 unknown), or 0 for `--index`.
pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    let Some(dir) = args.dir else {
        return super::campaign::merge::merge(&args.merge, args.out.as_deref());
    };
    if args.index {
        if !dir.is_dir() {
            bail!("{} is not a folder", dir.display());
        }
        let path = report::render_index(&dir)?;
        println!("index: {}", path.display());
        return Ok(0);
    }
    ensure_run_folder(&dir)?;
    let opts = RenderOptions {
        recompute: args.recompute,
        ..RenderOptions::default()
    };
    let r = report::render_run(&dir, &opts)
        .with_context(|| format!("cannot render the report of {}", dir.display()))?;
    let rechecked = match (r.rechecked, r.figures_written) {
        (false, _) => "",
        (true, true) => " (re-checked from the history; written into results.json)",
        (true, false) => " (re-checked from the history: the run wrote no results.json)",
    };
    println!(
        "verdict: {}{rechecked}\nreport: {} ({:.1} KiB)\njunit: {}{}",
        r.verdict.as_str(),
        r.report.display(),
        r.report_bytes as f64 / 1024.0,
        r.junit.display(),
        if r.figures_written {
            "\nresults.json: updated"
        } else {
            ""
        }
    );
    Ok(r.verdict.exit_code())
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
