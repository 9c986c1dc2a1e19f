//! End-to-end tests of what every command shares: durations with units (`30s`,
//! `500ms`, `2m`; plain numbers keep the flag's unit), sizes (`--memory-limit 1G`),
//! and `--version` naming the git commit the binary was built from.

use std::path::Path;
use std::process::{Command, Output};

use workloads::history::HistoryWriter;
use workloads::synth::explosive_history;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("run faultline")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const VALID: &str = r#"{"index":0,"time":1,"process":1,"type":"invoke","f":"write","key":"k7","value":1}
{"index":1,"time":2,"process":1,"type":"ok","f":"write","key":"k7","value":1}
{"index":2,"time":3,"process":2,"type":"invoke","f":"read","key":"k7","value":null}
{"index":3,"time":4,"process":2,"type":"ok","f":"read","key":"k7","value":1}
"#;

/// `git ARGS` in this source tree, if git is there and the tree is its checkout.
fn git(args: &[&str]) -> Option<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(manifest)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = run(&["rev-parse", "--show-toplevel"])?;
    let same = std::fs::canonicalize(top).ok()? == std::fs::canonicalize(manifest).ok()?;
    same.then(|| run(args)).flatten()
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = faultline(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    assert_eq!(
        text.trim(),
        format!("faultline {} (commit {commit})", env!("CARGO_PKG_VERSION"))
    );
    // Subcommands print the same.
    let sub = faultline(&["check", "--version"]);
    assert!(String::from_utf8_lossy(&sub.stdout).contains(&format!("(commit {commit})")));
}

#[test]
fn check_takes_a_time_limit_with_units_and_a_memory_limit_in_gigabytes() {
    let dir = tempfile::tempdir().unwrap();
    let valid = dir.path().join("h.jsonl");
    std::fs::write(&valid, VALID).unwrap();
    let valid = valid.to_str().unwrap();
    for (time, memory) in [
        ("2m", "1G"),
        ("30s", "512M"),
        ("90", "1024"),
        ("500ms", "1GiB"),
    ] {
        let out = faultline(&[
            "check",
            "--time-limit",
            time,
            "--memory-limit",
            memory,
            valid,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{time} {memory}: {}",
            stderr(&out)
        );
    }
    // The size is really the budget: a tiny one makes an explosive search unknown.
    let explosive = dir.path().join("x.jsonl");
    let mut w = HistoryWriter::create(&explosive).unwrap();
    for op in explosive_history(40) {
        w.append(&op).unwrap();
    }
    w.flush().unwrap();
    let out = faultline(&[
        "check",
        "--time-limit",
        "1m",
        "--memory-limit",
        "64K",
        explosive.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("memory limit"));
    // Bad units are usage errors that say what is accepted.
    let out = faultline(&["check", "--memory-limit", "1X", valid]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("use K, M, G or T"),
        "{}",
        stderr(&out)
    );
    let out = faultline(&["check", "--time-limit", "5 minutes", valid]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("use ms, s, m or h"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_duration_flag_takes_units() {
    // Each flag with a unit is accepted by its parser: the commands then fail later
    // for an unrelated, deliberate reason (no such endpoint or node binary), never on
    // the duration.
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let results = results.to_str().unwrap();
    let out = faultline(&[
        "test",
        "--time-limit",
        "2m",
        "--nemesis-interval",
        "500ms",
        "--op-timeout-ms",
        "1s",
        "--recovery-time",
        "5s",
        "--leader-timeout",
        "1s",
        "--nodes",
        "1",
        "--hosts",
        "loopback",
        "--node-binary",
        "/bin/false",
        "--results-dir",
        results,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("node n1 exited"), "{}", stderr(&out));
    let test_json = std::fs::read_dir(Path::new(results).join("raftkv-register"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("test.json"))
        .find(|p| p.exists())
        .expect("a run folder with test.json");
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(test_json).unwrap()).unwrap();
    let config = &test["config"];
    assert_eq!(config["time_limit_s"], 120.0);
    assert_eq!(config["nemesis_interval_s"], 0.5);
    assert_eq!(config["op_timeout_ms"], 1000);
    assert_eq!(config["recovery_s"], 5.0);
    assert_eq!(config["leader_timeout_s"], 1.0);
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    assert_eq!(test["faultline_commit"], commit.as_str());

    // Plain numbers keep their unit; a bad unit is a usage error naming the flag.
    let out = faultline(&["test", "--time-limit", "5x", "--results-dir", results]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--time-limit"), "{}", stderr(&out));
    let out = faultline(&["kv", "--timeout-ms", "soon", "status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("bad duration"), "{}", stderr(&out));
    let out = faultline(&["bench", "--duration=-1s"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("bad duration"), "{}", stderr(&out));
}
