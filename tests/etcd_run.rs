//! End-to-end tests of `faultline test --db etcd`: real etcd members (Debian's
//! etcd-server) in network namespaces, with kills, pauses and partitions. They need
//! root and `etcd` on PATH (`scripts/setup.sh` installs it): under `CI=true` a missing
//! one fails the test naming it; elsewhere the test is skipped with a printed reason.

mod common;

use std::path::Path;
use std::process::Command;

use common::{checker, finish, journal_pids, read_json, Sandbox};
use serde_json::Value;

/// Whether the tools these tests need are here; under CI a missing one is a failure.
fn tools_present(test: &str) -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (network namespaces and iptables)");
    }
    if Command::new("etcd").arg("--version").output().is_err() {
        missing.push("etcd (apt-get install -y etcd-server, or scripts/setup.sh)");
    }
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} needs {what}");
    }
    eprintln!("skipping {test}: needs {what}");
    false
}

/// `faultline test --db etcd` with short-run flags plus `extra`; returns the exit code,
/// stderr and the results.json of the run.
fn etcd_test(sb: &Sandbox, extra: &[&str]) -> (i32, String, Value) {
    let out = finish(
        sb.command(&[
            "test",
            "--db",
            "etcd",
            "--concurrency",
            "6",
            "--results-dir",
        ])
        .arg(sb.results())
        .args(extra),
    );
    let run = sb.latest();
    let json = read_json(&run.join("results.json"));
    assert_nothing_left(&run);
    (out.code, out.stderr, json)
}

/// No member process of the run is alive, and no namespace of the run exists.
fn assert_nothing_left(run: &Path) {
    let test = read_json(&run.join("test.json"));
    let run_id = test["run_id"].as_str().unwrap();
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let netns = String::from_utf8_lossy(&netns.stdout);
    assert!(!netns.contains(run_id), "namespaces left: {netns}");
    for pid in journal_pids(run) {
        // A live process of this run has the run folder in its command line.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            !cmdline.contains(run.to_str().unwrap()),
            "member process {pid} still runs: {cmdline}"
        );
    }
}

/// Names of the fault kinds that were installed.
fn installed(results: &Value) -> Vec<String> {
    let mut kinds: Vec<String> = results["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["outcome"] == "installed")
        .map(|f| f["f"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[test]
fn etcd_under_kills_pauses_and_partitions_is_valid() {
    if !tools_present("etcd_under_kills_pauses_and_partitions_is_valid") {
        return;
    }
    let sb = Sandbox::new();
    let (code, stderr, results) = etcd_test(
        &sb,
        &[
            "--nodes",
            "3",
            "--time-limit",
            "15",
            "--nemesis",
            "all",
            "--nemesis-interval",
            "2",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(results["db"], "etcd");
    assert!(results["db_version"]
        .as_str()
        .unwrap()
        .starts_with("etcd 3."));
    let kinds = installed(&results);
    assert!(
        kinds.len() >= 2,
        "several fault kinds were installed: {kinds:?}"
    );
    assert!(results["ops"]["total"]["ok"].as_u64().unwrap() > 100);
}

#[test]
fn etcd_sets_under_faults_lose_nothing() {
    if !tools_present("etcd_sets_under_faults_lose_nothing") {
        return;
    }
    let sb = Sandbox::new();
    let (code, stderr, results) = etcd_test(
        &sb,
        &[
            "--workload",
            "set",
            "--nodes",
            "3",
            "--time-limit",
            "10",
            "--nemesis",
            "kill,partition",
            "--nemesis-interval",
            "2",
            // Generous: on a saturated machine restarted members take seconds to elect
            // a leader after the heal, and the recovery checker must not fail the run
            // for the machine's load.
            "--recovery-time",
            "10",
            "--seed",
            "4",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let lost = checker(&results, "lost-writes");
    assert_eq!(lost["verdict"], "valid", "{lost}");
    assert!(
        lost["report"]["acknowledged"].as_u64().unwrap() > 50,
        "{lost}"
    );
}
