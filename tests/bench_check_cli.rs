//! End-to-end tests of `faultline bench-check --files`: one row per file with the
//! verdict and timing figures, as text or JSON, patterns expanded, and the same verdicts
//! with the symmetry reduction switched off.

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::str::contains;

fn faultline() -> Command {
    Command::cargo_bin("faultline").expect("the faultline binary is built")
}

fn knossos(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("workloads/tests/data/knossos")
        .join(name)
}

fn rows(extra: &[&str]) -> Vec<serde_json::Value> {
    let out = faultline()
        .args(["bench-check", "--reps", "3", "--json", "--files"])
        .arg(knossos("mutex-*.edn"))
        .arg(knossos("txn-valid.edn"))
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc["files"].as_array().expect("a list of files").clone()
}

#[test]
fn files_are_timed_with_their_verdicts() {
    let rows = rows(&[]);
    let verdicts: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            let file = r["file"].as_str().unwrap();
            let name = file.rsplit('/').next().unwrap();
            (name, r["verdict"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("mutex-double-acquire.edn", "invalid"),
            ("mutex-release-by-non-holder.edn", "invalid"),
            ("mutex-valid.edn", "valid"),
            ("txn-valid.edn", "valid"),
        ]
    );
    for r in &rows {
        assert_eq!(r["reps"], 3);
        let (min, median, max) = (
            r["min_us"].as_u64().unwrap(),
            r["median_us"].as_u64().unwrap(),
            r["max_us"].as_u64().unwrap(),
        );
        assert!(min <= median && median <= max, "{r}");
        assert_eq!(r["symmetry"], true);
    }
    let without = self::rows(&["--no-symmetry"]);
    for (a, b) in rows.iter().zip(&without) {
        assert_eq!(a["verdict"], b["verdict"]);
        assert_eq!(b["symmetry"], false);
    }
}

#[test]
fn jepsen_text_logs_are_timed() {
    let logs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workloads/tests/data/jepsen/*.log");
    let out = faultline()
        .args(["bench-check", "--reps", "2", "--json", "--files"])
        .arg(logs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let verdicts: Vec<(String, String)> = doc["files"]
        .as_array()
        .expect("a list of files")
        .iter()
        .map(|r| {
            let file = r["file"].as_str().unwrap();
            let name = file.rsplit('/').next().unwrap().to_string();
            (name, r["verdict"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("stale-read.log".to_string(), "invalid".to_string()),
            ("valid.log".to_string(), "valid".to_string()),
        ]
    );
}

#[test]
fn text_rows_and_missing_files() {
    faultline()
        .args(["bench-check", "--reps", "1", "--files"])
        .arg(knossos("txn-fractured-read.edn"))
        .assert()
        .code(0)
        .stdout(contains(
            "txn-fractured-read.edn: invalid (multi-register model",
        ))
        .stdout(contains("median"));
    faultline()
        .args(["bench-check", "--files"])
        .arg(knossos("nothing-*.edn"))
        .assert()
        .code(3)
        .stderr(contains("no file matches"));
}
