//! Loading a run folder (`test.json`, `history.jsonl`, `results.json`, `nodes/`) and
//! reading the parts of `results.json` a report shows.
//!
//! `results.json` is read as plain JSON rather than into the controller's structs, so
//! that a report can be rebuilt from folders written by older versions and from
//! partial runs: every field is optional here, and a missing one shows as missing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value as Json;
use workloads::history::{read_jsonl_lenient, Op};

pub use workloads::check::Verdict;

/// Reads a verdict from JSON: `"valid" | "invalid" | "unknown"` (or `ok`, `pass`, `fail`)
/// or a boolean.
pub fn verdict_from_json(v: &Json) -> Option<Verdict> {
    match v {
        Json::Bool(true) => Some(Verdict::Valid),
        Json::Bool(false) => Some(Verdict::Invalid),
        Json::String(s) => match s.to_ascii_lowercase().as_str() {
            "valid" | "ok" | "pass" => Some(Verdict::Valid),
            "invalid" | "fail" => Some(Verdict::Invalid),
            "unknown" => Some(Verdict::Unknown),
            _ => None,
        },
        _ => None,
    }
}

/// The result of one checker, as recorded in `results.json`.
#[derive(Debug, Clone)]
pub struct CheckerResult {
    /// The checker's name (`linearizable`, `lost-writes`, ...).
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its plain-words explanation, if it gave one.
    pub explanation: Option<String>,
    /// Everything it recorded.
    pub detail: Json,
}

/// The files of one run.
#[derive(Debug)]
pub struct Run {
    /// The run folder.
    pub dir: PathBuf,
    /// `test.json` (`null` if absent).
    pub test: Json,
    /// `results.json` (`null` if absent).
    pub results: Json,
    /// `history.jsonl`.
    pub ops: Vec<Op>,
    /// Problems met while loading, shown on the report.
    pub notes: Vec<String>,
}

/// Reads a JSON file if it exists.
fn read_json(path: &Path) -> anyhow::Result<Option<Json>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid JSON", path.display()))
            .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl Run {
    /// Loads a run folder. A missing file is noted on the report (a run that failed
    /// early still gets one); a truncated last line of the history (a killed writer)
    /// is dropped and noted; any other malformed line is an error naming it.
    pub fn load(dir: &Path) -> anyhow::Result<Run> {
        anyhow::ensure!(dir.is_dir(), "{} is not a run folder", dir.display());
        let mut notes = Vec::new();
        let test = read_json(&dir.join("test.json"))?.unwrap_or_else(|| {
            notes.push("test.json is missing: test parameters are unknown".to_string());
            Json::Null
        });
        let results = read_json(&dir.join("results.json"))?.unwrap_or_else(|| {
            notes.push("results.json is missing: no checker verdict was recorded".to_string());
            Json::Null
        });
        let history = dir.join("history.jsonl");
        let (ops, truncation) = if history.exists() {
            read_jsonl_lenient(&history)
                .with_context(|| format!("cannot read the history of {}", dir.display()))?
        } else {
            notes.push("history.jsonl is missing: the run recorded no operation".to_string());
            (Vec::new(), None)
        };
        if let Some(t) = truncation {
            notes.push(format!(
                "history.jsonl line {} was truncated ({} bytes) and ignored",
                t.line, t.bytes
            ));
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            test,
            results,
            ops,
            notes,
        })
    }

    /// A field of `results.json` or of its `config`, falling back to `test.json` and
    /// its `config` (the resolved test configuration).
    pub fn field(&self, name: &str) -> Option<&Json> {
        [&self.results, &self.test]
            .into_iter()
            .flat_map(|doc| [Some(doc), doc.get("config"), doc.get("test")])
            .flatten()
            .find_map(|doc| doc.get(name).filter(|v| !v.is_null()))
    }

    /// The resolved test configuration: `test.json`'s `config` if present, else the
    /// whole of `test.json`.
    pub fn config(&self) -> &Json {
        self.test.get("config").unwrap_or(&self.test)
    }

    /// The test's name (the run folder's parent name if none is recorded).
    pub fn name(&self) -> String {
        self.field("test_name")
            .or_else(|| self.field("name"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .or_else(|| {
                self.dir
                    .canonicalize()
                    .ok()?
                    .parent()?
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "test".to_string())
    }

    /// The store under test and its version (`etcd 3.4.23`), if recorded.
    pub fn store(&self) -> Option<String> {
        self.field("db_version")
            .or_else(|| self.field("db"))
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The seed, as text.
    pub fn seed(&self) -> Option<String> {
        self.field("seed").map(|s| match s {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The per-checker results (see [`checkers_of`]).
    pub fn checkers(&self) -> Vec<CheckerResult> {
        checkers_of(&self.results)
    }

    /// The overall verdict (see [`verdict_of`]).
    pub fn verdict(&self) -> Verdict {
        verdict_of(&self.results)
    }

    /// Harness errors recorded by the controller.
    pub fn harness_errors(&self) -> Vec<String> {
        match self.results.get("harness_errors") {
            Some(Json::Array(items)) => items
                .iter()
                .map(|e| match e {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Node names with a folder under `nodes/`, sorted, with their files (relative
    /// paths from the run folder).
    pub fn node_logs(&self) -> Vec<(String, Vec<String>)> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("nodes")) else {
            return Vec::new();
        };
        let mut nodes: Vec<(String, Vec<String>)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let mut files: Vec<String> = std::fs::read_dir(e.path())
                    .map(|it| {
                        it.filter_map(Result::ok)
                            .filter(|f| f.path().is_file())
                            .map(|f| format!("nodes/{}/{}", name, f.file_name().to_string_lossy()))
                            .collect()
                    })
                    .unwrap_or_default();
                files.sort();
                (name, files)
            })
            .collect();
        nodes.sort();
        nodes
    }
}

/// The per-checker results of a `results.json`: `checkers` (or `check.checkers`), an
/// object keyed by checker name or an array of objects with a `name`.
pub fn checkers_of(results: &Json) -> Vec<CheckerResult> {
    let raw = results
        .get("checkers")
        .or_else(|| results.get("check").and_then(|c| c.get("checkers")));
    let entries: Vec<(String, &Json)> = match raw {
        Some(Json::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let name = v
                    .get("name")
                    .or_else(|| v.get("checker"))
                    .and_then(|n| n.as_str())
                    .map_or_else(|| format!("checker {}", i + 1), str::to_string);
                (name, v)
            })
            .collect(),
        _ => Vec::new(),
    };
    entries
        .into_iter()
        .map(|(name, v)| {
            // The controller wraps the checker's own report: {name, verdict, report}.
            let detail = v.get("report").filter(|r| r.is_object()).unwrap_or(v);
            CheckerResult {
                name,
                verdict: [v, detail]
                    .iter()
                    .find_map(|x| x.get("verdict").or_else(|| x.get("valid")))
                    .and_then(verdict_from_json)
                    .unwrap_or(Verdict::Unknown),
                explanation: [v, detail]
                    .iter()
                    .flat_map(|x| {
                        ["explanation", "message", "summary", "reason", "error"]
                            .iter()
                            .map(move |k| x.get(*k))
                    })
                    .find_map(|e| e.and_then(|e| e.as_str()))
                    .map(str::to_string)
                    .or_else(|| derived_explanation(detail)),
                detail: detail.clone(),
            }
        })
        .collect()
}

/// The overall verdict of a `results.json`: `verdict` (or `check.verdict`); without
/// one, the worst of the checkers' verdicts; without checkers, unknown.
pub fn verdict_of(results: &Json) -> Verdict {
    results
        .get("verdict")
        .or_else(|| results.get("check").and_then(|c| c.get("verdict")))
        .and_then(verdict_from_json)
        .unwrap_or_else(|| Verdict::worst_of(checkers_of(results).iter().map(|c| c.verdict)))
}

/// An explanation built from a checker report's fields when it has none in words: the
/// first counterexample's summary, the lost-write counts, or why it is undecided.
fn derived_explanation(detail: &Json) -> Option<String> {
    if let Some(summary) = detail
        .get("counterexamples")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("summary"))
        .and_then(Json::as_str)
    {
        let key = detail
            .get("counterexamples")
            .and_then(|c| c.get(0))
            .and_then(|c| c.get("key"))
            .and_then(Json::as_str);
        return Some(match key {
            Some(k) => format!("key {k}: {summary}"),
            None => summary.to_string(),
        });
    }
    let count = |k: &str| detail.get(k).and_then(Json::as_u64);
    if let (Some(ack), Some(lost)) = (count("acknowledged"), count("lost_count")) {
        return Some(format!(
            "{lost} of {ack} acknowledged writes lost, {} read stale, {} never read",
            count("stale_count").unwrap_or(0),
            count("never_read_count").unwrap_or(0)
        ));
    }
    if let Some(Json::Array(problems)) = detail.get("problems") {
        return Some(match problems.first() {
            None => format!("{} history lines well-formed", count("ops").unwrap_or(0)),
            Some(p) => format!(
                "{} recording problems, the first: {}",
                problems.len(),
                p.as_str().map_or_else(|| p.to_string(), str::to_string)
            ),
        });
    }
    let Some(reason) = detail.get("unknown_reason").and_then(Json::as_str) else {
        let checked = count("keys_checked")?;
        return Some(format!(
            "{checked} keys checked: {} linearizable",
            count("keys_valid").unwrap_or(0)
        ));
    };
    let keys = detail
        .get("unknown_keys")
        .and_then(Json::as_array)
        .map_or(0, Vec::len);
    Some(format!(
        "undecided ({}): {keys} keys could not be checked",
        reason.replace('-', " ")
    ))
}
