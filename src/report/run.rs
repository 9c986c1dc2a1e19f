//! Loading a run folder (`test.json`, `history.jsonl`, `results.json`, `nodes/`) into
//! the controller's own types ([`TestFile`], [`Results`]), so that the report reads
//! exactly the fields the controller wrote. A missing file is noted on the page (a
//! run that failed early still gets a report); a file that does not fit its type is
//! an error naming the file and the field.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use workloads::history::{read_jsonl_lenient, Op};

use crate::run::config::TestConfig;
use crate::run::results::{Results, TestFile};

pub use crate::run::results::{CheckerReport, CheckerResult, Verdict};

/// The files of one run.
#[derive(Debug)]
pub struct Run {
    /// The run folder.
    pub dir: PathBuf,
    /// `test.json`, if present.
    pub test: Option<TestFile>,
    /// `results.json`, if present.
    pub results: Option<Results>,
    /// `history.jsonl`.
    pub ops: Vec<Op>,
    /// Problems met while loading, shown on the report.
    pub notes: Vec<String>,
}

/// Reads a JSON file into `T` if it exists.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} cannot be read", path.display()))
            .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl Run {
    /// Loads a run folder. A missing file is noted on the report (a run that failed
    /// early still gets one); a truncated last line of the history (a killed writer)
    /// is dropped and noted; any other malformed line or file is an error naming it.
    pub fn load(dir: &Path) -> anyhow::Result<Run> {
        anyhow::ensure!(dir.is_dir(), "{} is not a run folder", dir.display());
        let mut notes = Vec::new();
        let test = read_json::<TestFile>(&dir.join(crate::store::TEST_FILE))?;
        if test.is_none() {
            notes.push("test.json is missing: test parameters are unknown".to_string());
        }
        let results = read_json::<Results>(&dir.join(crate::store::RESULTS_FILE))?;
        if results.is_none() {
            notes.push("results.json is missing: no checker verdict was recorded".to_string());
        }
        let history = dir.join(crate::store::HISTORY_FILE);
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

    /// The resolved test configuration, from `test.json` or else `results.json`.
    pub fn config(&self) -> Option<&TestConfig> {
        self.test
            .as_ref()
            .map(|t| &t.config)
            .or_else(|| self.results.as_ref().map(|r| &r.config))
    }

    /// The test's name (the run folder's parent name if none is recorded).
    pub fn name(&self) -> String {
        self.config()
            .map(|c| c.test_name.clone())
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

    /// The seed, if recorded.
    pub fn seed(&self) -> Option<u64> {
        self.config().map(|c| c.seed)
    }

    /// The store under test with its version (`etcd 3.4.23`), or only its name when
    /// the version was not recorded.
    pub fn store(&self) -> Option<String> {
        let version = [
            self.test.as_ref().map(|t| t.db_version.as_str()),
            self.results.as_ref().map(|r| r.db_version.as_str()),
        ];
        version
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty())
            .map(str::to_string)
            .or_else(|| self.config().map(|c| c.db.clone()))
    }

    /// The per-checker results (none without `results.json`).
    pub fn checkers(&self) -> &[CheckerResult] {
        self.results.as_ref().map_or(&[], |r| &r.checkers)
    }

    /// The overall verdict (unknown without `results.json`).
    pub fn verdict(&self) -> Verdict {
        self.results
            .as_ref()
            .map_or(Verdict::Unknown, |r| r.verdict)
    }

    /// Harness errors recorded by the controller.
    pub fn harness_errors(&self) -> &[String] {
        self.results.as_ref().map_or(&[], |r| &r.harness_errors)
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
