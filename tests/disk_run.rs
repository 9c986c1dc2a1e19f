//! The disk fault end to end (root and /dev/fuse): a raftkv run on lazy filesystems
//! records what each power loss dropped and stays valid, `skip-fsync` loses
//! acknowledged writes under it, and no mount outlives a run that ends normally, fails
//! to start, is interrupted (SIGINT) or loses its controller (SIGKILL, then
//! `faultline cleanup`).

mod common;

use common::{finish, read_json, Sandbox};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nemesis::preflight::Need;
use serde_json::Value;

/// Whether this machine can run the disk fault (else the test returns: skipped, or
/// failed under CI).
fn can_run() -> bool {
    nemesis::test_can_run(&[Need::Root, Need::Program("fusermount3")])
}

/// `faultline test` on 3 raftkv nodes with a disk fault every second, plus `extra`.
fn disk_test(sb: &Sandbox, extra: &[&str]) -> Command {
    let results = sb.results();
    let mut args = vec![
        "test",
        "--nodes",
        "3",
        "--concurrency",
        "6",
        "--nemesis-interval",
        "1",
        "--results-dir",
        results.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sb.command(&args)
}

/// Lazy filesystems mounted anywhere under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains("lazyfs"))
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| Path::new(m).starts_with(&dir))
        .collect()
}

/// The nemesis operations of a run's history.
fn nemesis_ops(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|op| op["process"] == "nemesis")
        .collect()
}

/// Starts a 60 s disk run in the background and waits until it has completed a disk
/// fault; returns the controller and the run folder.
fn started_disk_run(sb: &Sandbox) -> (std::process::Child, PathBuf) {
    let child = disk_test(sb, &["--time-limit", "60", "--nemesis", "disk"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, wait_for_a_disk_fault(sb))
}

/// Waits (bounded) until the newest run folder's history holds a completed disk
/// fault, and returns that folder.
fn wait_for_a_disk_fault(sb: &Sandbox) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "no disk fault within 90 s");
        std::thread::sleep(Duration::from_millis(200));
        let Ok(dir) = std::fs::canonicalize(sb.results().join("latest")) else {
            continue;
        };
        let done = std::fs::read_to_string(dir.join("history.jsonl")).is_ok_and(|h| {
            h.lines()
                .any(|l| l.contains("\"f\":\"disk\"") && l.contains("\"outcome\""))
        });
        if done {
            return dir;
        }
    }
}

#[test]
fn a_run_under_power_losses_records_what_was_dropped_and_unmounts() {
    if !can_run() {
        return;
    }
    let sb = Sandbox::new();
    let out = finish(&mut disk_test(
        &sb,
        &[
            "--workload",
            "set",
            "--time-limit",
            "10",
            "--nemesis",
            "disk:lose-unsynced,disk:torn,disk:fsync-eio",
            "--seed",
            "3",
        ],
    ));
    let run = sb.latest();
    assert_eq!(out.code, 0, "the correct raftkv is valid:\n{}", out.stderr);
    let ops = nemesis_ops(&run);
    let done: Vec<&Value> = ops
        .iter()
        .filter(|op| op["f"] == "disk" && op["type"] != "invoke")
        .collect();
    assert!(done.len() >= 3, "disk faults ran: {ops:?}");
    let mut modes = std::collections::BTreeSet::new();
    for op in &done {
        modes.insert(op["value"]["mode"].as_str().unwrap().to_string());
        if op["value"]["outcome"] == "installed" {
            for (node, answer) in op["value"]["disk"].as_object().unwrap() {
                assert!(node.starts_with('n'), "{op}");
                let says_what = answer.get("bytes").is_some() || answer.get("armed").is_some();
                assert!(says_what, "the answer says what was done: {op}");
            }
        }
    }
    assert_eq!(modes.len(), 3, "every mode came: {modes:?}");
    assert!(
        ops.iter().any(|op| op["f"] == "disk-stop"),
        "faults healed: {ops:?}"
    );
    assert!(
        mounts_under(sb.dir.path()).is_empty(),
        "{:?}",
        mounts_under(sb.dir.path())
    );
    for node in ["n1", "n2", "n3"] {
        let node_dir = run.join("nodes").join(node);
        assert!(
            node_dir.join("disk/wal.log").is_file(),
            "durable WAL of {node}"
        );
        assert!(!node_dir.join("disk").join(lazyfs::disk::STORE_DIR).exists());
    }
}

#[test]
fn skip_fsync_loses_acknowledged_writes_when_a_majority_loses_power() {
    if !can_run() {
        return;
    }
    let sb = Sandbox::new();
    let out = finish(&mut disk_test(
        &sb,
        &[
            "--workload",
            "set",
            "--time-limit",
            "15",
            "--nemesis",
            "disk:lose-unsynced,disk:majority,disk:all",
            "--db-bug",
            "skip-fsync",
            "--seed",
            "1",
        ],
    ));
    assert_eq!(
        out.code, 1,
        "skip-fsync must be caught under power losses:\n{}",
        out.stderr
    );
    assert!(mounts_under(sb.dir.path()).is_empty());
}

#[test]
fn a_run_that_cannot_start_leaves_nothing_mounted() {
    if !can_run() {
        return;
    }
    let sb = Sandbox::new();
    let out = finish(&mut disk_test(
        &sb,
        &[
            "--time-limit",
            "5",
            "--nemesis",
            "disk",
            "--db-binary",
            "/bin/false",
        ],
    ));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        mounts_under(sb.dir.path()).is_empty(),
        "{:?}",
        mounts_under(sb.dir.path())
    );
    let run = sb.latest();
    let results = read_json(&run.join("results.json"));
    assert!(!results["harness_errors"].as_array().unwrap().is_empty());
}

#[test]
fn an_interrupted_run_unmounts_and_a_sigkilled_one_is_unmounted_by_cleanup() {
    if !can_run() {
        return;
    }
    // SIGINT: the run heals, tears down and unmounts by itself.
    let sb = Sandbox::new();
    let (mut child, run) = started_disk_run(&sb);
    assert!(
        !mounts_under(&run).is_empty(),
        "the nodes run on lazy filesystems"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "an interrupted run is unknown");
    assert!(
        mounts_under(sb.dir.path()).is_empty(),
        "{:?}",
        mounts_under(sb.dir.path())
    );

    // SIGKILL: mounts, nodes and servers outlive the controller until cleanup.
    let sb = Sandbox::new();
    let (mut child, run) = started_disk_run(&sb);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        mounts_under(&run).len(),
        3,
        "mounts outlive a SIGKILLed controller"
    );
    let out = finish(&mut sb.command(&["cleanup"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("lazy filesystem of n1"),
        "{}",
        out.stdout
    );
    assert!(
        mounts_under(sb.dir.path()).is_empty(),
        "{:?}",
        mounts_under(sb.dir.path())
    );
    let pids = common::journal_pids(&run);
    assert!(pids
        .iter()
        .all(|&p| nemesis::process::proc_stat(p).is_none_or(|s| s.state == 'Z')));
}
