//! Helpers shared by the end-to-end tests: a per-test sandbox folder, comparisons of
//! the op streams of two runs (`faultline test`, `faultline campaign`), a known
//! invalid history, a way to feed a history to faultline through a pipe
//! (`faultline check`), running faultline in a sandbox and reading what a run wrote,
//! and local raftkv nodes ([`nodes`]).

// Each test file uses only some of the helpers.
#![allow(dead_code)]

pub mod nodes;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

    /// `faultline ARGS` with stdin closed and this sandbox's own cleanup-journal index
    /// (`FAULTLINE_JOURNAL_INDEX`), so tests running in parallel never see each other.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
        cmd.args(args)
            .env("FAULTLINE_JOURNAL_INDEX", self.dir.path().join("journals"))
            .stdin(Stdio::null());
        cmd
    }

    /// The run folder `results/latest` points at.
    pub fn latest(&self) -> PathBuf {
        let latest = self.results().join("latest");
        std::fs::canonicalize(&latest).unwrap_or_else(|e| panic!("{}: {e}", latest.display()))
    }
}

/// What a finished command printed.
pub struct Finished {
    /// Exit code (-1 when a signal ended it).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` to completion.
pub fn finish(cmd: &mut Command) -> Finished {
    let out = cmd.output().expect("run faultline");
    Finished {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The operations of a run's `history.jsonl`.
pub fn history(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap_or_else(|e| panic!("{}: {e}", run.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// When the final-reads phase of a run began, on its history's clock (nanoseconds
/// since the test started), from its results.json.
pub fn final_reads_start_ns(results: &Value) -> f64 {
    let phase = results["phases"]
        .as_array()
        .expect("results.json has phases")
        .iter()
        .find(|p| p["name"] == "final-reads")
        .expect("a final-reads phase");
    phase["start_s"].as_f64().unwrap() * 1e9
}

/// The JSON file at `path`.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `name` of every entry of a JSON array of objects (results.json's `checkers`
/// or `phases`), in order.
pub fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|entry| entry["name"].as_str().expect("every entry has a name"))
        .collect()
}

/// The entry of results.json's `checkers` named `name`.
pub fn checker<'a>(results: &'a Value, name: &str) -> &'a Value {
    results["checkers"]
        .as_array()
        .unwrap_or_else(|| panic!("no checkers in {results}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} checker in {results}"))
}

/// Pids of the processes a run's cleanup journal recorded.
pub fn journal_pids(run: &Path) -> Vec<i32> {
    let journal = run.join("cleanup-journal.jsonl");
    std::fs::read_to_string(&journal)
        .unwrap_or_else(|e| panic!("{}: {e}", journal.display()))
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "do" && e["action"]["kind"] == "process")
        .filter_map(|e| e["action"]["pid"].as_i64().map(|p| p as i32))
        .collect()
}

/// Client invocations per process: `(f, key, value)` in order, where a compare-and-set's
/// value is only the value it writes. Its expected value is the last value the process saw
/// on that key (workloads::generator), so it depends on responses, not on the seed alone.
/// (How long a slot watches its keys depends on responses too, but no slot watches the
/// first epoch, which these short runs never leave: hundreds of operations per process. A
/// successor's opening read follows an unknown outcome, which these runs' generous
/// timeouts without faults never give: a retirement would change the processes anyway.)
/// The final reads are left out: they are the controller's, a few per key.
pub fn invokes_by_process(run: &Path) -> BTreeMap<u64, Vec<(String, String, String)>> {
    let final_reads = final_reads_start_ns(&read_json(&run.join("results.json")));
    let mut out: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for op in &history(run) {
        if op["type"] == "invoke" && op["time"].as_f64().unwrap() < final_reads {
            if let Some(p) = op["process"].as_u64() {
                let value = if op["f"] == "cas" {
                    op["value"][1].to_string()
                } else {
                    op["value"].to_string()
                };
                out.entry(p)
                    .or_default()
                    .push((op["f"].to_string(), op["key"].to_string(), value));
            }
        }
    }
    out
}

/// Asserts that two runs issued the same invocations per process: the same processes,
/// and each process's common prefix identical (timing decides how many ops each run
/// got through, never which keys, kinds and written values). Each process must have issued at least 20 in both
/// runs: a stream that depended on anything but the seed would differ within its first
/// few keys and values, and 20 is reached even when a saturated machine lets a 3 s run
/// complete only a few dozen operations per process.
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
        assert!(n >= 20, "process {p} issued only {n} ops");
        assert_eq!(ops_a[..n], ops_b[..n], "process {p} diverged");
    }
}

/// A JSONL history with a stale read of key `k7`: after `write 2` completed, a read
/// (invoked at index 5) returns 1. A nemesis line sits in the middle.
pub const STALE_READ_JSONL: &str = r#"{"index":0,"time":1,"process":1,"type":"invoke","f":"write","key":"k7","value":1}
{"index":1,"time":2,"process":1,"type":"ok","f":"write","key":"k7","value":1}
{"index":2,"time":3,"process":2,"type":"invoke","f":"write","key":"k7","value":2}
{"index":3,"time":4,"process":2,"type":"ok","f":"write","key":"k7","value":2}
{"index":4,"time":5,"process":"nemesis","type":"info","f":"start-partition","value":{"nodes":["n1"]}}
{"index":5,"time":6,"process":3,"type":"invoke","f":"read","key":"k7","value":null}
{"index":6,"time":7,"process":3,"type":"ok","f":"read","key":"k7","value":1}
{"index":7,"time":8,"process":3,"type":"invoke","f":"read","key":"k7","value":null}
{"index":8,"time":9,"process":3,"type":"ok","f":"read","key":"k7","value":2}
"#;

/// Runs `faultline ARGS` with `input` written to its stdin through a pipe (from
/// another thread, so a large input cannot deadlock against the output).
pub fn faultline_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start faultline");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // A reader that stops early (bad input) closes the pipe: not an error here.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("faultline finishes");
    writer.join().expect("the writer thread finishes");
    out
}
