//! End-to-end tests of `faultline test`: real node processes (network namespaces when
//! the tests run as root, loopback ports otherwise), short runs of a 3-node cluster.
//! Each test has its own results folder and its own cleanup-journal index
//! (`FAULTLINE_JOURNAL_INDEX`), so tests running in parallel never see each other.

mod common;

use common::{finish, history, journal_pids, names, read_json, Sandbox};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

impl Sandbox {
    /// `faultline test` with the common short-run flags plus `extra`.
    fn test_cmd(&self, extra: &[&str]) -> Command {
        let results = self.results();
        let mut args = vec![
            "test",
            "--nodes",
            "3",
            "--concurrency",
            "4",
            "--results-dir",
            results.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.command(&args)
    }
}

/// Runs a command to completion; returns exit code and stderr.
fn run(mut cmd: Command) -> (i32, String) {
    let out = finish(&mut cmd);
    (out.code, out.stderr)
}

#[test]
fn three_nodes_without_faults_are_valid_and_the_history_matches_the_summary() {
    let sb = Sandbox::new();
    let (code, stderr) = run(sb.test_cmd(&["--time-limit", "5", "--seed", "11"]));
    assert_eq!(code, 0, "a fault-free run must be valid; stderr:\n{stderr}");
    let run_dir = sb.latest();
    let results = read_json(&run_dir.join("results.json"));
    assert_eq!(results["schema_version"], 1);
    assert_eq!(results["verdict"], "valid");
    assert_eq!(results["seed"], 11);
    let test = read_json(&run_dir.join("test.json"));
    assert_eq!(test["config"]["seed"], 11);

    // Count the history by hand and compare with results.json and the console summary.
    let ops = history(&run_dir);
    let count = |t: &str| {
        ops.iter()
            .filter(|o| o["type"] == t && o["process"].is_u64())
            .count() as u64
    };
    let (invoke, ok, fail, info) = (count("invoke"), count("ok"), count("fail"), count("info"));
    // Throughput is a figure of `faultline bench`, not a claim of this test.
    assert!(ok > 0, "a fault-free run completes operations, got {ok}");
    let total = &results["ops"]["total"];
    assert_eq!(total["invoke"], invoke);
    assert_eq!(total["ok"], ok);
    assert_eq!(total["fail"], fail);
    assert_eq!(total["info"], info);
    assert_eq!(results["ops"]["history_lines"], ops.len() as u64);
    let claim = format!("{invoke} ops ({ok} ok, {fail} fail, {info} info)");
    assert!(
        stderr.contains(&claim),
        "summary should say {claim:?}:\n{stderr}"
    );
    assert!(stderr.contains("verdict: VALID"), "{stderr}");
    assert!(run_dir.join("nodes/n1/node.log").is_file());
    assert!(results["latency_ms"]["read"]["p99"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_same_seed_issues_the_same_op_stream() {
    let sb = Sandbox::new();
    let mut streams = Vec::new();
    for _ in 0..2 {
        // A generous operation timeout: a timed-out operation retires its process,
        // and the two runs must not differ only because the machine was busy.
        let (code, stderr) = run(sb.test_cmd(&[
            "--time-limit",
            "3",
            "--seed",
            "4242",
            "--rate",
            "400",
            "--op-timeout-ms",
            "10000",
        ]));
        assert_eq!(code, 0, "{stderr}");
        streams.push(common::invokes_by_process(&sb.latest()));
    }
    common::assert_same_invokes(&streams[0], &streams[1]);
}

#[test]
fn a_cluster_that_cannot_start_exits_3_with_a_clear_message() {
    let sb = Sandbox::new();
    // A node binary that exits at once.
    let (code, stderr) = run(sb.test_cmd(&[
        "--time-limit",
        "3",
        "--node-binary",
        "/bin/false",
        "--leader-timeout",
        "10",
    ]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("could not start"), "{stderr}");
    assert!(stderr.contains("node n1 exited"), "{stderr}");
    let results = read_json(&sb.latest().join("results.json"));
    assert_eq!(results["verdict"], "unknown");
    assert!(!results["harness_errors"].as_array().unwrap().is_empty());

    // A node binary that does not exist.
    let (code, stderr) = run(sb.test_cmd(&[
        "--time-limit",
        "3",
        "--node-binary",
        "/nonexistent/faultline",
    ]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("/nonexistent/faultline"), "{stderr}");

    // A results folder that cannot be created (its parent is a file).
    let blocker = sb.dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let bad = blocker.join("results");
    let (code, stderr) = run(sb.command(&[
        "test",
        "--nodes",
        "3",
        "--results-dir",
        bad.to_str().unwrap(),
    ]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("creating results folder"), "{stderr}");
}

#[test]
fn a_store_that_cannot_run_exits_3_with_the_cause_and_results_json() {
    let sb = Sandbox::new();
    // An unknown store: the message lists the known ones.
    let (code, stderr) = run(sb.test_cmd(&["--time-limit", "3", "--db", "mongo"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("unknown store") && stderr.contains("etcd"),
        "{stderr}"
    );
    let results = read_json(&sb.latest().join("results.json"));
    assert!(results["harness_errors"][0]
        .as_str()
        .unwrap()
        .contains("mongo"));

    // etcd missing from PATH: says how to install it.
    let empty = sb.dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = sb.test_cmd(&["--time-limit", "3", "--db", "etcd"]);
    cmd.env("PATH", &empty);
    let (code, stderr) = run(cmd);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("etcd-server"), "{stderr}");
    assert!(sb.latest().join("results.json").is_file());

    // Faults and switches etcd does not have are refused before anything starts.
    let fake = fake_etcd(sb.dir.path());
    for (flags, cause) in [
        (["--nemesis", "crash"], "no crash points"),
        (["--db-bug", "stale-read"], "no bug switches"),
    ] {
        let mut args = vec!["--time-limit", "3", "--db", "etcd", "--db-binary"];
        args.push(fake.to_str().unwrap());
        args.extend(flags);
        let (code, stderr) = run(sb.test_cmd(&args));
        assert_eq!(code, 3, "{stderr}");
        assert!(stderr.contains(cause), "{stderr}");
        let results = read_json(&sb.latest().join("results.json"));
        assert_eq!(results["db"], "etcd");
    }

    // An etcd that exits during startup: its log tail is in the message.
    let (code, stderr) = run(sb.test_cmd(&[
        "--time-limit",
        "3",
        "--db",
        "etcd",
        "--db-binary",
        fake.to_str().unwrap(),
    ]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("node n1 exited"), "{stderr}");
    assert!(
        stderr.contains("member refused to start: bad flag"),
        "the log tail: {stderr}"
    );
    let results = read_json(&sb.latest().join("results.json"));
    assert_eq!(results["db_version"], "etcd 9.9.9");
    assert!(results["harness_errors"][0]
        .as_str()
        .unwrap()
        .contains("bad flag"));
}

/// A stand-in for etcd that answers `--version` and exits with an error otherwise.
fn fake_etcd(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("etcd");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'etcd Version: 9.9.9'; exit 0; fi\n\
         echo 'member refused to start: bad flag' >&2\n\
         exit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn usage_errors_exit_3() {
    let sb = Sandbox::new();
    let (code, stderr) = run(sb.test_cmd(&["--nemesis", "flood"]));
    assert_eq!(code, 3);
    assert!(stderr.contains("flood"), "{stderr}");
    let (code, stderr) = run(sb.test_cmd(&["--nemesis", "kill,pause:nobody"]));
    assert_eq!(code, 3);
    assert!(stderr.contains("unknown target `nobody`"), "{stderr}");
    let (code, _) = run(sb.test_cmd(&["--mix", "1:2"]));
    assert_eq!(code, 3);
}

#[test]
fn a_sigkilled_controller_leaves_a_checkable_history_and_cleanup_removes_everything() {
    let sb = Sandbox::new();
    let mut child = sb
        .test_cmd(&["--time-limit", "60", "--seed", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the main phase has written a good part of the history.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_dir = loop {
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(dir) = std::fs::canonicalize(sb.results().join("latest")) {
            let h = dir.join("history.jsonl");
            if std::fs::metadata(&h)
                .map(|m| m.len() > 20_000)
                .unwrap_or(false)
            {
                break dir;
            }
        }
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let test = read_json(&run_dir.join("test.json"));
    let run_id = test["run_id"].as_str().unwrap().to_string();
    let pids = journal_pids(&run_dir);
    assert!(!pids.is_empty(), "the journal lists the node processes");
    assert!(
        pids.iter().any(|&p| alive(p)),
        "nodes outlive the controller"
    );

    // The history on disk is readable and checkable.
    let (code, stderr) =
        run(sb.command(&["check", run_dir.join("history.jsonl").to_str().unwrap()]));
    assert!(
        code == 0 || code == 2,
        "check of a cut history: {code}\n{stderr}"
    );

    // Cleanup removes every process and namespace of the run.
    let (code, stderr) = run(sb.command(&["cleanup"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(pids.iter().all(|&p| !alive(p)), "processes left: {pids:?}");
    let netns = Command::new("ip").args(["netns", "list"]).output();
    if let Ok(out) = netns {
        let list = String::from_utf8_lossy(&out.stdout);
        assert!(!list.contains(&run_id), "namespaces left:\n{list}");
    }
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            state != Some("Z")
        }
        Err(_) => false,
    }
}

#[test]
fn a_set_run_with_kills_and_pauses_records_faults_and_checks_lost_writes() {
    let sb = Sandbox::new();
    let (code, stderr) = run(sb.test_cmd(&[
        "--workload",
        "set",
        "--time-limit",
        "8",
        "--nemesis",
        "kill,pause",
        "--nemesis-interval",
        "2",
        "--recovery-time",
        "2",
        "--seed",
        "8",
    ]));
    assert_eq!(
        code, 0,
        "the correct server is valid under kills and pauses:\n{stderr}"
    );
    let run_dir = sb.latest();
    let results = read_json(&run_dir.join("results.json"));
    let faults = results["faults"].as_array().unwrap();
    assert!(!faults.is_empty(), "the nemesis injected faults");
    assert!(faults.iter().all(|f| f["f"] == "kill" || f["f"] == "pause"));
    let checkers = names(&results["checkers"]);
    assert!(checkers.contains(&"lost-writes"), "{checkers:?}");
    // Fault operations are in the history, and final reads ran on all three nodes.
    let ops = history(&run_dir);
    assert!(ops
        .iter()
        .any(|o| o["process"] == "nemesis" && (o["f"] == "kill" || o["f"] == "pause")));
    // (Clients also read whole sets during the run: only the final-reads phase counts.)
    let final_reads_ns = common::final_reads_start_ns(&results);
    let readers: std::collections::BTreeSet<u64> = ops
        .iter()
        .filter(|o| o["f"] == "read" && o["type"] == "ok")
        .filter(|o| o["time"].as_f64().unwrap() >= final_reads_ns)
        .filter_map(|o| o["process"].as_u64())
        .collect();
    assert_eq!(readers.len(), 3, "one final-read process per node");
    // Teardown removed every node process.
    assert!(journal_pids(&run_dir).iter().all(|&p| !alive(p)));
}
