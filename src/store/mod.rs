//! The run folder: where everything about one test run lands, so it can be re-checked
//! and re-rendered later from the files alone.
//!
//! ```text
//! <results-dir>/<test-name>/<timestamp>/     timestamp: YYYYMMDDTHHMMSS.mmmZ (UTC)
//!   test.json               the resolved configuration, seed, run id, versions
//!   history.jsonl           every operation, streamed and flushed while running
//!   results.json            verdicts, statistics, faults, harness errors
//!   cleanup-journal.jsonl   every change to the machine, for `faultline cleanup`
//!   nodes/<node>/node.log   each node's stdout and stderr
//!   nodes/<node>/data/      each node's data directory
//! <results-dir>/latest      symlink to the newest run folder
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

/// File names inside a run folder.
pub const TEST_FILE: &str = "test.json";
/// The history file.
pub const HISTORY_FILE: &str = "history.jsonl";
/// The results file.
pub const RESULTS_FILE: &str = "results.json";

/// One run's folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Absolute path of the folder.
    path: PathBuf,
}

impl RunDir {
    /// Creates `<results_dir>/<test_name>/<timestamp>/` (adding a suffix if two runs
    /// start within the same millisecond) and points `<results_dir>/latest` at it.
    pub fn create(results_dir: &Path, test_name: &str) -> anyhow::Result<RunDir> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let parent = results_dir.join(test_name);
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating results folder {}", parent.display()))?;
        let mut path = parent.join(&stamp);
        let mut n = 1;
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    path = parent.join(format!("{stamp}-{n}"));
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating run folder {}", path.display()))
                }
            }
        }
        let path =
            std::path::absolute(&path).with_context(|| format!("resolving {}", path.display()))?;
        std::fs::create_dir_all(path.join("nodes"))
            .with_context(|| format!("creating {}", path.join("nodes").display()))?;
        let run = RunDir { path };
        run.link_latest(results_dir)?;
        Ok(run)
    }

    /// Replaces `<results_dir>/latest` with a relative symlink to this run.
    fn link_latest(&self, results_dir: &Path) -> anyhow::Result<()> {
        let latest = results_dir.join("latest");
        let results_abs = std::path::absolute(results_dir)
            .with_context(|| format!("resolving {}", results_dir.display()))?;
        let target = self
            .path
            .strip_prefix(&results_abs)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| self.path.clone());
        // Create under a temporary name and rename over, so `latest` is never missing.
        let tmp = results_dir.join(format!(".latest-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)
            .with_context(|| format!("creating symlink {}", tmp.display()))?;
        std::fs::rename(&tmp, &latest)
            .with_context(|| format!("updating symlink {}", latest.display()))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file inside the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The folder of the nodes' folders (`nodes/nI`: log and data directory).
    pub fn nodes_dir(&self) -> PathBuf {
        self.path.join("nodes")
    }

    /// Writes `value` as pretty JSON to `name`, atomically (temp file + rename).
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> anyhow::Result<()> {
        let path = self.file(name);
        let tmp = self.file(&format!(".{name}.tmp"));
        let mut text = serde_json::to_vec_pretty(value).context("serialising JSON")?;
        text.push(b'\n');
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_distinct_folders_and_latest_link() {
        let dir = tempfile::tempdir().unwrap();
        let a = RunDir::create(dir.path(), "t").unwrap();
        let b = RunDir::create(dir.path(), "t").unwrap();
        assert_ne!(a.path(), b.path());
        assert!(b.path().join("nodes").is_dir());
        let latest = std::fs::canonicalize(dir.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(b.path()).unwrap());
        b.write_json("x.json", &serde_json::json!({"a": 1}))
            .unwrap();
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.file("x.json")).unwrap()).unwrap();
        assert_eq!(back["a"], 1);
    }
}
