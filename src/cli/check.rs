//! `faultline check FILE`: checks a recorded history (JSONL, or Jepsen/Knossos EDN) for
//! linearizability and lost writes, prints the verdict and any counterexample (or the
//! whole report as JSON with `--json`), and exits 0 valid, 1 invalid, 2 unknown, 3 on
//! bad input.
//!
//! FILE may also be a run directory, whose `history.jsonl` is checked.
//! The format comes from `--format`, else the extension (`.edn`, `.jsonl`/`.json`),
//! else the first character of the file. A truncated last JSONL line (the recorder was
//! killed mid-write) is dropped with a warning, or is an error with `--strict`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use workloads::check::{check_history, render_text, CheckOptions};
use workloads::edn::{read_edn, ImportOptions};
use workloads::history::{read_jsonl, read_jsonl_lenient, Op};
use workloads::model::ModelKind;

use super::units::{parse_duration, parse_size};

/// History file formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON operation per line (faultline's history.jsonl).
    Jsonl,
    /// Jepsen / Knossos EDN.
    Edn,
}

/// Flags of `faultline check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The history file, or a run directory holding `history.jsonl`.
    pub file: PathBuf,
    /// Its format (default: from the extension, else from the content).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The model: register, cas-register, kv, set or list (default: from the operations).
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// Initial value of the registers (default: nil).
    #[arg(long, allow_hyphen_values = true)]
    pub initial: Option<i64>,
    /// Time budget of the search, e.g. 30s, 500ms, 2m; past it the verdict is unknown.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Memory budget of the search, e.g. 1G, 512M (a plain number is MiB); past it the
    /// verdict is unknown.
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    pub memory_limit: usize,
    /// For EDN: whether values are [key value] tuples (default: detected).
    #[arg(long)]
    pub independent: Option<bool>,
    /// Treat a truncated last JSONL line as an error instead of dropping it.
    #[arg(long)]
    pub strict: bool,
    /// Print the full report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Picks the format from the extension, else from the first non-blank character.
fn detect_format(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("edn") => return Ok(Format::Edn),
        Some("jsonl") | Some("json") => return Ok(Format::Jsonl),
        _ => {}
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rest = bytes.iter().skip_while(|b| b.is_ascii_whitespace());
    Ok(match (rest.next(), rest.next()) {
        (Some(b'{'), Some(b'"')) => Format::Jsonl,
        (Some(b'[' | b'(' | b'{' | b';' | b'#'), _) => Format::Edn,
        (None, _) => Format::Jsonl,
        _ => bail!(
            "{}: cannot tell the format (neither JSONL nor EDN); use --format",
            path.display()
        ),
    })
}

/// Loads a history, warning about a dropped truncated tail.
pub fn load(
    path: &Path,
    format: Option<Format>,
    strict: bool,
    independent: Option<bool>,
) -> anyhow::Result<Vec<Op>> {
    let format = match format {
        Some(f) => f,
        None => detect_format(path)?,
    };
    Ok(match format {
        Format::Edn => read_edn(path, ImportOptions { independent })?,
        Format::Jsonl if strict => read_jsonl(path)?,
        Format::Jsonl => {
            let (ops, truncated) = read_jsonl_lenient(path)?;
            if let Some(t) = truncated {
                eprintln!(
                    "warning: {}:{}: ignored a truncated last line ({} bytes; the recorder was probably killed mid-write)",
                    path.display(),
                    t.line,
                    t.bytes
                );
            }
            ops
        }
    })
}

/// Runs `faultline check`.
pub fn run(mut args: CheckArgs) -> anyhow::Result<u8> {
    if args.file.is_dir() {
        args.file = args.file.join("history.jsonl");
    }
    let ops = load(&args.file, args.format, args.strict, args.independent)?;
    let opts = CheckOptions {
        model: args.model,
        initial: args.initial,
        time_limit: args.time_limit,
        memory_limit: args.memory_limit,
        ..CheckOptions::default()
    };
    let report = check_history(&ops, &opts)
        .with_context(|| format!("{}: cannot check this history", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_text(&report));
    }
    Ok(report.verdict.exit_code())
}
