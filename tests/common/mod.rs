//! Helpers shared by the end-to-end tests of `faultline test` and `faultline campaign`:
//! a per-test sandbox folder, and comparisons of the op streams of two runs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// A temporary folder for one test: results, campaign files, the journal index.
pub struct Sandbox {
    /// Holds everything.
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A fresh, empty sandbox.
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The results folder inside it.
    pub fn results(&self) -> PathBuf {
        self.dir.path().join("results")
    }
}

/// Client invocations per process: `(f, key, value)` in order.
pub fn invokes_by_process(ops: &[Value]) -> BTreeMap<u64, Vec<(String, String, String)>> {
    let mut out: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for op in ops {
        if op["type"] == "invoke" {
            if let Some(p) = op["process"].as_u64() {
                out.entry(p).or_default().push((
                    op["f"].to_string(),
                    op["key"].to_string(),
                    op["value"].to_string(),
                ));
            }
        }
    }
    out
}

/// Asserts that two runs issued the same invocations per process: the same processes,
/// and each process's common prefix identical (timing decides how many ops each run
/// got through, never which ones); each process must have issued more than 50.
pub fn assert_same_invokes(
    a: &BTreeMap<u64, Vec<(String, String, String)>>,
    b: &BTreeMap<u64, Vec<(String, String, String)>>,
) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same processes"
    );
    for (p, ops_a) in a {
        let ops_b = &b[p];
        let n = ops_a.len().min(ops_b.len());
        assert!(n > 50, "process {p} issued only {n} ops");
        assert_eq!(ops_a[..n], ops_b[..n], "process {p} diverged");
    }
}
