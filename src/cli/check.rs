//! `faultline check FILE`: checks a recorded history (JSONL, Jepsen/Knossos EDN, or
//! Jepsen's text log) for linearizability and lost writes, prints the verdict and any
//! counterexample (or the whole report as JSON with `--json`), and exits 0 valid, 1
//! invalid, 2 unknown, 3 on bad input.
//!
//! FILE may be a run directory (its `history.jsonl` is checked), `-` for standard
//! input, or anything that can be read once from start to end: a pipe, a FIFO, a
//! process substitution (`<(...)`). The input is read exactly once; the format comes
//! from `--format`, else the extension (`.edn`, `.jsonl`/`.json`, `.log`), else the
//! first bytes read. A truncated last JSONL line (the recorder was killed mid-write) is
//! dropped with a warning, or is an error with `--strict`.
//!
//! Before any checker runs, the history must be well-formed by the same rules
//! `faultline test` applies to its own recording ([`workloads::wellformed`]); a history
//! that breaks them, that lacks a required field, or that has no operation to check
//! is bad input (exit 3, naming the file, the line and what is wrong), never `valid`.
//!
//! With `--update`, FILE must be a run folder: the new verdicts (e.g. after a longer
//! `--time-limit` for a run that was unknown) are written into its `results.json`,
//! and its `report.html` and `junit.xml` are rebuilt to match.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use workloads::check::{check_history, render_text, CheckOptions};
use workloads::edn::{parse_edn_numbered, ImportOptions};
use workloads::history::{parse_jsonl_numbered, Numbered};
use workloads::jepsen_log::{looks_like_jepsen_log, parse_jepsen_log};
use workloads::model::ModelKind;
use workloads::prepare::PrepareError;
use workloads::wellformed;

use crate::report;

use super::units::{parse_duration, parse_size};

/// History file formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON operation per line (faultline's history.jsonl).
    Jsonl,
    /// Jepsen / Knossos EDN.
    Edn,
    /// Jepsen's text log: `INFO  jepsen.util - PROCESS<tab>:TYPE<tab>:F<tab>VALUE` lines
    /// (as Porcupine's etcd logs); other loggers' lines and the nemesis are skipped.
    JepsenLog,
}

/// Flags of `faultline check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The history file, a run directory holding `history.jsonl`, or `-` for stdin.
    pub file: PathBuf,
    /// Its format (default: from the extension, else from the content).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The model: register, cas-register, kv, set, list, mutex, multi-register, fifo-queue
    /// or unordered-queue (default: from the operations; queues must be named).
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
    /// FILE is a run folder: write the new verdicts into its results.json and rebuild
    /// its report.html and junit.xml.
    #[arg(long)]
    pub update: bool,
}

/// Picks the format from the extension, else from the first non-blank bytes.
fn detect_format(name: &Path, bytes: &[u8]) -> anyhow::Result<Format> {
    match name.extension().and_then(|e| e.to_str()) {
        Some("edn") => return Ok(Format::Edn),
        Some("jsonl") | Some("json") => return Ok(Format::Jsonl),
        Some("log") => return Ok(Format::JepsenLog),
        _ => {}
    }
    if looks_like_jepsen_log(bytes) {
        return Ok(Format::JepsenLog);
    }
    let mut rest = bytes.iter().filter(|b| !b.is_ascii_whitespace());
    Ok(match (rest.next(), rest.next()) {
        (Some(b'{'), Some(b'"' | b'}')) => Format::Jsonl,
        (Some(b'[' | b'(' | b'{' | b';' | b'#'), _) => Format::Edn,
        (None, _) => Format::Jsonl,
        _ => bail!(
            "{}: cannot tell the format (neither JSONL, EDN nor a Jepsen log); use --format",
            name.display()
        ),
    })
}

/// Where the history comes from: the name used in messages, and the path to read
/// (`None` for stdin).
fn source(file: &Path) -> (PathBuf, Option<PathBuf>) {
    if file == Path::new("-") {
        (PathBuf::from("<stdin>"), None)
    } else if file.is_dir() {
        let history = file.join(crate::store::HISTORY_FILE);
        (history.clone(), Some(history))
    } else {
        (file.to_path_buf(), Some(file.to_path_buf()))
    }
}

/// Reads the whole input once: works for files, pipes, FIFOs and stdin alike.
fn read_all(name: &Path, path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match path {
        None => std::io::stdin().lock().read_to_end(&mut bytes),
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut bytes)),
    }
    .with_context(|| format!("cannot read {}", name.display()))?;
    Ok(bytes)
}

/// A loaded history, with the line of each operation for messages.
pub(super) struct Loaded {
    /// The name used in messages (the path, or `<stdin>`).
    name: PathBuf,
    /// The operations and their lines.
    pub(super) history: Numbered,
}

/// Reads and parses a history (see the module docs), warning about a dropped
/// truncated tail.
pub(super) fn load(
    file: &Path,
    format: Option<Format>,
    strict: bool,
    independent: Option<bool>,
) -> anyhow::Result<Loaded> {
    let (name, path) = source(file);
    let bytes = read_all(&name, path.as_deref())?;
    let format = match format {
        Some(f) => f,
        None => detect_format(&name, &bytes)?,
    };
    let history = match format {
        Format::Edn => parse_edn_numbered(&bytes, &name, ImportOptions { independent })?,
        Format::Jsonl => parse_jsonl_numbered(&bytes, &name, !strict)?,
        Format::JepsenLog => parse_jepsen_log(&bytes, &name)?,
    };
    if let Some(t) = &history.truncation {
        eprintln!(
            "warning: {}:{}: ignored a truncated last line ({} bytes; the recorder was probably killed mid-write)",
            name.display(),
            t.line,
            t.bytes
        );
    }
    Ok(Loaded { name, history })
}

/// Refuses a history that breaks the well-formedness rules, naming every problem
/// (up to ten) by file and line.
fn ensure_well_formed(loaded: &Loaded) -> anyhow::Result<()> {
    let problems = wellformed::problems(&loaded.history.ops, 10);
    if problems.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "{}: the history is not well-formed, so no checker can trust it:",
        loaded.name.display()
    );
    for p in &problems {
        msg.push_str(&format!(
            "\n  {}:{}: {}",
            loaded.name.display(),
            loaded.history.lines[p.position - 1],
            p.message
        ));
    }
    bail!(msg)
}

/// The check's error as a message naming the file and line.
fn describe(loaded: &Loaded, e: &PrepareError) -> String {
    match e {
        PrepareError::Op {
            position, message, ..
        } => format!(
            "{}:{}: {message}",
            loaded.name.display(),
            loaded.history.lines[position - 1]
        ),
        PrepareError::NoOperations(why) => {
            format!("{}: no operations: {why}", loaded.name.display())
        }
    }
}

/// Runs `faultline check`.
pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    if args.update && !args.file.is_dir() {
        bail!(
            "--update needs a run folder (results/<test>/<timestamp>), not {}",
            args.file.display()
        );
    }
    let loaded = load(&args.file, args.format, args.strict, args.independent)?;
    ensure_well_formed(&loaded)?;
    let opts = CheckOptions {
        model: args.model,
        initial: args.initial,
        time_limit: args.time_limit,
        memory_limit: args.memory_limit,
        ..CheckOptions::default()
    };
    let report = check_history(&loaded.history.ops, &opts)
        .map_err(|e| anyhow::anyhow!(describe(&loaded, &e)))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_text(&report));
    }
    if args.update {
        let r = report::recheck_and_render(&args.file, &opts)
            .with_context(|| format!("cannot update {}", args.file.display()))?;
        eprintln!(
            "updated {}: verdict {}; report: {}",
            args.file.join(crate::store::RESULTS_FILE).display(),
            r.verdict.as_str(),
            r.report.display()
        );
        return Ok(r.verdict.exit_code());
    }
    Ok(report.verdict.exit_code())
}
