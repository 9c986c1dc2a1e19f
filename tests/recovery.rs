//! End-to-end tests of the recovery phase and the `recovery` checker: after the final
//! heal the clients run again, and a cluster that never answers again fails the run.
//! Short 3-node runs on loopback ports (no root needed), each in its own temporary
//! folder with its own cleanup-journal index.

mod common;

use std::path::{Path, PathBuf};

use common::{checker, finish, names, read_json, Sandbox};
use serde_json::Value;

/// Runs `faultline test` in `sb` with a short pause nemesis plus `extra`; returns the
/// exit code, stderr and the run folder.
fn run_with_pauses(sb: &Sandbox, extra: &[&str]) -> (i32, String, PathBuf) {
    let results = sb.results();
    let out = finish(
        sb.command(&[
            "test",
            "--nodes",
            "3",
            "--concurrency",
            "4",
            "--hosts",
            "loopback",
            "--time-limit",
            "3",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "1",
            "--recovery-time",
            "3",
            "--seed",
            "5",
            "--results-dir",
            results.to_str().unwrap(),
        ])
        .args(extra),
    );
    (out.code, out.stderr, sb.latest())
}

/// The `recovery` entry of results.json's checkers.
fn recovery_checker(run: &Path) -> Value {
    checker(&read_json(&run.join("results.json")), "recovery").clone()
}

/// The report's "ok after the last fault" cell, e.g. `100.0% (41 of 41)`.
fn ok_after_last_fault(run: &Path) -> String {
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    let label = "<th>ok after the last fault</th><td>";
    let start = html.find(label).expect("the availability row") + label.len();
    let len = html[start..].find("</td>").unwrap();
    html[start..start + len].to_string()
}

#[test]
fn a_healed_cluster_answers_again_and_the_recovery_checker_says_when() {
    let sb = Sandbox::new();
    let (code, stderr, run) = run_with_pauses(&sb, &[]);
    assert_eq!(code, 0, "a correct cluster recovers; stderr:\n{stderr}");
    let checker = recovery_checker(&run);
    assert_eq!(checker["verdict"], "valid", "{checker}");
    let after = checker["report"]["recovered_after_s"].as_f64().unwrap();
    assert!((0.0..=3.0).contains(&after), "{checker}");
    assert!(checker["report"]["ok"].as_u64().unwrap() > 0, "{checker}");
    assert!(stderr.contains("checker recovery"), "{stderr}");
    // The clients really ran after the heal: the availability figure is not empty.
    let cell = ok_after_last_fault(&run);
    assert!(
        !cell.contains("(0 of 0)"),
        "ok after the last fault: {cell}"
    );
    let results = read_json(&run.join("results.json"));
    let phases = names(&results["phases"]);
    assert!(phases.contains(&"recovery"), "{phases:?}");
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"recovery\""), "{junit}");
}

#[test]
fn a_cluster_kept_without_a_majority_after_the_heal_fails_the_recovery_checker() {
    let sb = Sandbox::new();
    let (code, stderr, run) = run_with_pauses(&sb, &["--test-keep-majority-paused"]);
    assert_eq!(
        code, 1,
        "a cluster that never answers again must fail the run; stderr:\n{stderr}"
    );
    assert!(stderr.contains("did not recover within 3 s"), "{stderr}");
    assert!(stderr.contains("verdict: INVALID"), "{stderr}");
    let checker = recovery_checker(&run);
    assert_eq!(checker["verdict"], "invalid", "{checker}");
    assert_eq!(checker["report"]["anomaly"], "did not recover within 3 s");
    assert_eq!(checker["report"]["ok"], 0);
    assert!(checker["report"]["ops"].as_u64().unwrap() > 0, "{checker}");
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["verdict"], "invalid");
    // The hook resumes the majority when the window ends, so the final reads that
    // follow are answered; they are the only operations after the last fault that are.
    let final_reads = common::final_reads_start_ns(&results);
    let ok_final_reads = common::history(&run)
        .iter()
        .filter(|o| o["type"] == "ok" && o["process"].is_u64())
        .filter(|o| o["time"].as_f64().unwrap() >= final_reads)
        .count();
    assert!(ok_final_reads > 0, "the registers are read at the end");
    let cell = ok_after_last_fault(&run);
    assert!(
        cell.contains(&format!("({ok_final_reads} of ")),
        "ok after the last fault: {cell}, final reads: {ok_final_reads}"
    );
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    let case = junit
        .split("<testcase")
        .find(|c| c.contains("name=\"recovery\""))
        .expect("a recovery test case");
    assert!(case.contains("<failure"), "{case}");
    assert!(case.contains("did not recover within 3 s"), "{case}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("did not recover within 3 s"));
    assert!(html.contains("Invalid: recovery found a violation."));
}

#[test]
fn the_test_flag_is_refused_without_faults() {
    let sb = Sandbox::new();
    let out = finish(
        sb.command(&["test", "--test-keep-majority-paused", "--results-dir"])
            .arg(sb.results()),
    );
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("needs a --nemesis"), "{}", out.stderr);
}
