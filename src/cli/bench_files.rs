//! `faultline bench-check --files FILE...`: times the check of recorded histories, for
//! side-by-side comparisons with other checkers.
//!
//! Each file is read and parsed once (not timed); then the check alone
//! ([`workloads::check::check_history`]: pairing, model inference, search) runs `--reps`
//! times, and the file's line gives the verdict and the median, minimum and maximum
//! wall-clock time in microseconds, and the peak memory of the process while checking
//! it. The peak is the kernel's high-water mark of resident memory (`VmHWM`), reset
//! before each file where the kernel allows it (`/proc/self/clear_refs`), so it covers
//! the parsed history plus the check; `--json` prints the same as one JSON document.
//! A file name containing `*` or `?` is a pattern over the files of its directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;
use workloads::check::{check_history, CheckOptions, Verdict};

use super::bench_check::{status_mib, BenchCheckArgs};

/// The figures of one file.
#[derive(Debug, Serialize)]
pub struct FileTiming {
    /// The history file.
    pub file: String,
    /// The model checked against.
    pub model: String,
    /// Client operations in the history.
    pub operations: usize,
    /// The verdict (the same in every repetition, else `mixed`).
    pub verdict: String,
    /// Repetitions timed.
    pub reps: usize,
    /// Median check time, in microseconds.
    pub median_us: u64,
    /// Fastest repetition, in microseconds.
    pub min_us: u64,
    /// Slowest repetition, in microseconds.
    pub max_us: u64,
    /// Peak resident memory while checking this file, in MiB (`null` if unknown).
    pub peak_mib: Option<f64>,
    /// Whether the search's reductions were on (off with `--no-symmetry`).
    pub symmetry: bool,
}

/// Expands `*` and `?` in the file-name part of each path.
fn expand(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.contains(['*', '?']) {
            out.push(f.clone());
            continue;
        }
        let dir = match f.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut matched: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(name, n)))
            .map(|e| e.path())
            .collect();
        if matched.is_empty() {
            bail!("{}: no file matches", f.display());
        }
        matched.sort();
        out.extend(matched);
    }
    Ok(out)
}

/// Whether `text` matches `pattern` (`*` any run, `?` one character).
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Resets the resident-memory high-water mark, if the kernel lets us.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn time_file(
    path: &Path,
    args: &BenchCheckArgs,
    opts: &CheckOptions,
) -> anyhow::Result<FileTiming> {
    let ops = super::check::load(path, args.format, false, args.independent)?
        .history
        .ops;
    let reset = reset_peak();
    let mut times = Vec::with_capacity(args.reps);
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(args.reps);
    let mut model = String::new();
    let mut operations = 0;
    for _ in 0..args.reps.max(1) {
        let started = Instant::now();
        let report = check_history(&ops, opts)
            .with_context(|| format!("{}: cannot check this history", path.display()))?;
        times.push(started.elapsed().as_micros() as u64);
        verdicts.push(report.verdict);
        model = report.model.to_string();
        operations = report.stats.operations;
    }
    times.sort_unstable();
    let verdict = if verdicts.iter().all(|v| *v == verdicts[0]) {
        verdicts[0].as_str().to_string()
    } else {
        "mixed".to_string()
    };
    Ok(FileTiming {
        file: path.display().to_string(),
        model,
        operations,
        verdict,
        reps: times.len(),
        median_us: times[times.len() / 2],
        min_us: times[0],
        max_us: times[times.len() - 1],
        peak_mib: if reset { status_mib("VmHWM:") } else { None },
        symmetry: opts.symmetry,
    })
}

/// Runs `bench-check --files`.
pub fn run(args: &BenchCheckArgs) -> anyhow::Result<u8> {
    let files = expand(&args.files)?;
    let opts = CheckOptions {
        model: args.model,
        time_limit: args.time_limit,
        memory_limit: args.memory_limit.saturating_mul(1 << 20),
        symmetry: !args.no_symmetry,
        ..CheckOptions::default()
    };
    let mut rows = Vec::with_capacity(files.len());
    for f in &files {
        let row = time_file(f, args, &opts)?;
        if !args.json {
            println!(
                "{}: {} ({} model, {} operations), {} reps: median {} µs, min {} µs, max {} µs; peak {}{}",
                row.file,
                row.verdict,
                row.model,
                row.operations,
                row.reps,
                row.median_us,
                row.min_us,
                row.max_us,
                row.peak_mib
                    .map_or_else(|| "n/a".to_string(), |m| format!("{m:.1} MiB")),
                if row.symmetry { "" } else { " (reductions off)" }
            );
        }
        rows.push(row);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "files": rows }))?
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_file_names() {
        assert!(wildcard("*.jsonl", "etcd-001.jsonl"));
        assert!(wildcard("etcd-??1.*", "etcd-001.jsonl"));
        assert!(!wildcard("*.edn", "etcd-001.jsonl"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("a*b", "acb c"));
    }
}
