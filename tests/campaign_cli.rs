//! End-to-end tests of `faultline campaign` and `faultline test --replay`: real node
//! processes (network namespaces when root, loopback ports otherwise), 3-node clusters,
//! runs of a few seconds. Each test has its own results folder and cleanup-journal
//! index (`FAULTLINE_JOURNAL_INDEX`), so tests running in parallel never meet.

mod common;

use common::{finish, read_json, Finished, Sandbox};

use std::path::{Path, PathBuf};
use std::process::Stdio;

impl Sandbox {
    /// Writes a campaign file and returns its path.
    fn campaign_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `faultline <args>` to completion.
    fn faultline(&self, args: &[&str]) -> Finished {
        finish(&mut self.command(args))
    }

    /// Runs `faultline campaign FILE --results-dir <sandbox> <extra>`.
    fn campaign(&self, file: &Path, extra: &[&str]) -> Finished {
        let results = self.results();
        let mut args = vec![
            "campaign",
            file.to_str().unwrap(),
            "--results-dir",
            results.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.faultline(&args)
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_two_run_campaign_exits_0_with_summary_index_and_junit() {
    let sb = Sandbox::new();
    let file = sb.campaign_file(
        "two.toml",
        r#"
name = "two"
[defaults]
time_limit = 4
concurrency = 4
recovery_time = 1

[[matrix]]
workloads = ["register", "set"]
seeds = [7]
"#,
    );
    let out = sb.campaign(&file, &[]);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.code, 0,
        "both runs of a fault-free campaign are valid:\n{all}"
    );
    let ids = ["r001-register-none-n3-s7", "r002-set-none-n3-s7"];
    // Progress lines, then the summary table with one row per run.
    assert!(out.stderr.contains(&format!("[1/2] {}", ids[0])), "{all}");
    assert!(out.stderr.contains(&format!("[2/2] {}", ids[1])), "{all}");
    let header = out.stdout.lines().next().unwrap();
    for col in ["run", "params", "verdict", "ops", "duration", "report"] {
        assert!(header.contains(col), "summary header lacks {col}: {header}");
    }
    for (id, params) in ids
        .iter()
        .zip(["register none n3 seed 7", "set none n3 seed 7"])
    {
        let row = out
            .stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("no summary row for {id}:\n{all}"));
        assert!(row.contains(params) && row.contains("VALID"), "{row}");
        assert!(row.contains("report.html"), "{row}");
    }
    assert!(out.stdout.contains("2 valid, 0 invalid"), "{all}");

    let dir = sb.results().join("two");
    let data = read_json(&dir.join("campaign.json"));
    let runs = data["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, id) in runs.iter().zip(ids) {
        assert_eq!(run["id"], id);
        assert_eq!(run["verdict"], "valid");
        assert!(run["ops"].as_u64().unwrap() > 50, "{run}");
        // The run folder is an ordinary `faultline test` folder.
        let run_dir = PathBuf::from(run["run_dir"].as_str().unwrap());
        assert!(run_dir.starts_with(dir.join(id)), "{}", run_dir.display());
        let test = read_json(&run_dir.join("test.json"));
        assert_eq!(test["config"]["seed"], 7);
        assert_eq!(test["config"]["nodes"], 3);
        assert_eq!(test["config"]["test_name"], id);
        assert!(run_dir.join("report.html").is_file());
    }

    let index = read(&dir.join("index.html"));
    for id in ids {
        assert!(
            index.contains(&format!("<td>{id}</td>")),
            "index lacks {id}"
        );
    }
    assert_eq!(index.matches("report.html\"").count(), 2, "{index}");

    let junit = read(&dir.join("junit.xml"));
    assert!(
        junit.contains("tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\""),
        "{junit}"
    );
    for id in ids {
        assert!(junit.contains(&format!("name=\"{id}\"")), "{junit}");
    }
    assert_eq!(junit.matches("<testcase ").count(), 2);
}

#[test]
fn a_bad_campaign_file_is_refused_with_its_file_and_line() {
    let sb = Sandbox::new();
    let file = sb.campaign_file(
        "typo.toml",
        "name = \"typo\"\n[defaults]\ntime_limit = 5\n[[matrix]]\nworkloads = [\"register\"]\nnemesis = [\"kill\"]\n",
    );
    let out = sb.campaign(&file, &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("typo.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("line 6"), "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown field `nemesis`"),
        "{}",
        out.stderr
    );
    assert!(!sb.results().join("typo").exists(), "nothing ran");

    // A value `faultline test` refuses is found before any run starts.
    let file = sb.campaign_file(
        "mix.toml",
        "[[matrix]]\nseeds = [1, 2]\n[[matrix]]\noptions = { mix = \"1:2\" }\n",
    );
    let out = sb.campaign(&file, &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("mix.toml"), "{}", out.stderr);
    assert!(
        out.stderr.contains("r003-register-none-n3-s1"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);
    assert!(out.stderr.contains("--mix"), "{}", out.stderr);
    assert!(!sb.results().join("mix").exists(), "nothing ran");

    let missing = sb.dir.path().join("missing.toml");
    let out = sb.campaign(&missing, &[]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("missing.toml"), "{}", out.stderr);
}

#[test]
fn fail_fast_stops_after_a_broken_run_and_junit_names_it() {
    let sb = Sandbox::new();
    // Nodes that exit at once: the cluster cannot start, a harness error (exit 3).
    let file = sb.campaign_file(
        "broken.toml",
        r#"
[defaults]
time_limit = 3
leader_timeout = 5
node_binary = "/bin/false"

[[matrix]]
seeds = [1, 2]
"#,
    );
    let out = sb.campaign(&file, &["--fail-fast"]);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, 3, "a harness error is exit 3:\n{all}");
    assert!(out.stdout.contains("1 error, 1 not run"), "{all}");
    assert!(
        !out.stderr.contains("[2/2]"),
        "the second run must not start:\n{all}"
    );
    let dir = sb.results().join("broken");
    let junit = read(&dir.join("junit.xml"));
    assert!(
        junit.contains("tests=\"2\" failures=\"0\" errors=\"1\" skipped=\"1\""),
        "{junit}"
    );
    assert!(
        junit
            .contains("message=\"run r001-register-none-n3-s1 (register none n3 seed 1) is error:"),
        "{junit}"
    );
    assert!(junit.contains("could not start"), "{junit}");
    assert!(
        junit.contains("<skipped message=\"not run: --fail-fast"),
        "{junit}"
    );
    let data = read_json(&dir.join("campaign.json"));
    assert_eq!(data["runs"][0]["exit_code"], 3);
    assert_eq!(data["runs"][1]["verdict"], "not run");
}

#[test]
fn replay_reruns_the_same_config_and_op_stream() {
    let sb = Sandbox::new();
    let results = sb.results();
    let out = sb.faultline(&[
        "test",
        "--nodes",
        "3",
        "--concurrency",
        "4",
        "--time-limit",
        "3",
        "--rate",
        "400",
        // Generous: a timed-out operation retires its process, and the replay must
        // not differ from the original only because the machine was busy.
        "--op-timeout-ms",
        "10000",
        "--seed",
        "9090",
        "--results-dir",
        results.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let original = std::fs::canonicalize(results.join("latest")).unwrap();

    // Other flags are refused next to --replay: a replay changes nothing.
    let out = sb.faultline(&[
        "test",
        "--replay",
        original.to_str().unwrap(),
        "--seed",
        "1",
    ]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--replay"), "{}", out.stderr);
    let out = sb.faultline(&["test", "--replay", sb.dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("test.json"), "{}", out.stderr);

    let out = sb.faultline(&["test", "--replay", original.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("seed 9090"), "{}", out.stderr);
    let replayed = std::fs::canonicalize(results.join("latest")).unwrap();
    assert_ne!(replayed, original, "a replay is a new run folder");
    assert_eq!(
        replayed.parent(),
        original.parent(),
        "under the same test name"
    );
    let config = |run: &Path| read_json(&run.join("test.json"))["config"].clone();
    assert_eq!(config(&replayed), config(&original));

    common::assert_same_invokes(
        &common::invokes_by_process(&original),
        &common::invokes_by_process(&replayed),
    );
}

#[test]
fn a_campaign_with_a_db_bug_exits_1_and_junit_names_the_invalid_run() {
    if !needs_partitions() {
        return;
    }
    let sb = Sandbox::new();
    // Writes acknowledged before a quorum has them are lost when partitions cut the
    // leader off: found in every seed tried, within seconds.
    let file = sb.campaign_file(
        "bug.toml",
        r#"
name = "bug"
[defaults]
time_limit = 5
concurrency = 4
recovery_time = 1
nemesis_interval = 1

[[matrix]]
db_bugs = ["ack-before-commit"]
workloads = ["set"]
nemeses = ["partition"]

[[matrix]]
workloads = ["register"]
"#,
    );
    let out = sb.campaign(&file, &[]);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.code, 1,
        "an invalid run makes the campaign exit 1:\n{all}"
    );
    let bad = "r001-set-partition-n3-s1-bug-ack-before-commit";
    let row = out.stdout.lines().find(|l| l.contains(bad)).unwrap();
    assert!(row.contains("INVALID"), "{row}");
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("r002-register-none-n3-s1"))
        .unwrap();
    assert!(row.contains("VALID") && !row.contains("INVALID"), "{row}");
    // Below the table, each run that is not valid with its explanation.
    let why = out
        .stdout
        .lines()
        .skip_while(|l| *l != "not valid:")
        .nth(1)
        .unwrap_or_else(|| panic!("no explanation list:\n{all}"));
    assert!(why.starts_with(&format!("  {bad}: ")), "{why}");

    let junit = read(&sb.results().join("bug/junit.xml"));
    assert!(
        junit.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
        "{junit}"
    );
    let failure = junit
        .lines()
        .find(|l| l.contains("<failure "))
        .unwrap_or_else(|| panic!("no failure element:\n{junit}"));
    assert!(
        failure.contains(&format!(
            "message=\"run {bad} (set partition n3 seed 1 bug ack-before-commit) is invalid: "
        )),
        "{failure}"
    );
    assert!(
        failure.contains("lost"),
        "the checker's explanation: {failure}"
    );
    assert!(junit.contains("name=\"r002-register-none-n3-s1\" time="));
}

#[test]
fn the_shipped_campaigns_are_valid_files() {
    // The shipped campaigns use the partition fault.
    if !needs_partitions() {
        return;
    }
    let sb = Sandbox::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("campaigns");
    for (file, runs) in [("smoke.toml", 6), ("nightly.toml", 32), ("bugs.toml", 27)] {
        let out = sb.campaign(&root.join(file), &["--dry-run"]);
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        let name = file.trim_end_matches(".toml");
        assert!(
            out.stdout
                .starts_with(&format!("campaign {name}: {runs} runs")),
            "{file}: {}",
            out.stdout
        );
        assert_eq!(out.stdout.matches("faultline test ").count(), runs);
        assert!(!sb.results().join(name).exists(), "a dry run runs nothing");
    }
}

#[test]
fn ctrl_c_stops_the_running_test_cleanly_and_starts_no_other() {
    let sb = Sandbox::new();
    let file = sb.campaign_file(
        "int.toml",
        "name = \"int\"\n[defaults]\ntime_limit = 60\nconcurrency = 2\n[[matrix]]\nseeds = [1, 2]\n",
    );
    let results = sb.results();
    let child = sb
        .command(&["campaign", file.to_str().unwrap(), "--results-dir"])
        .arg(&results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run is issuing operations.
    let test_dir = results.join("int/r001-register-none-n3-s1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let run_dir = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        let started = std::fs::read_dir(&test_dir).ok().and_then(|mut rd| {
            let dir = rd.next()?.ok()?.path();
            let len = std::fs::metadata(dir.join("history.jsonl")).ok()?.len();
            (len > 5_000).then_some(dir)
        });
        if let Some(dir) = started {
            break dir;
        }
    };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 unknown, 0 error, 1 not run"), "{stdout}");
    // The test itself got the signal: it healed, tore down and recorded it.
    let results_json = read_json(&run_dir.join("results.json"));
    assert_eq!(results_json["interrupted"], true);
    assert_eq!(results_json["verdict"], "unknown");
    assert!(!results.join("int/r002-register-none-n3-s2").exists());
    let junit = read(&results.join("int/junit.xml"));
    assert!(junit.contains("the campaign was interrupted"), "{junit}");
}

/// True when the partition fault can run here (root, `ip`, `iptables`); otherwise the
/// test fails under `CI=true` and is skipped, saying why, elsewhere.
fn needs_partitions() -> bool {
    use nemesis::Need;
    nemesis::test_can_run(&[Need::Root, Need::Program("ip"), Need::Program("iptables")])
}

#[test]
fn two_shards_merged_give_the_summary_of_one_unsharded_run() {
    let sb = Sandbox::new();
    let file = sb.campaign_file(
        "three.toml",
        r#"
name = "three"
[defaults]
time_limit = 3
concurrency = 4
recovery_time = 1

[[matrix]]
workloads = ["register", "set"]
seeds = [5, 6]
"#,
    );
    let whole = sb.campaign(&file, &[]);
    assert_eq!(whole.code, 0, "{}\n{}", whole.stdout, whole.stderr);
    let mut shard_dirs = Vec::new();
    for k in ["1/2", "2/2"] {
        let results = sb.dir.path().join(format!("shard{}", &k[..1]));
        let out = sb.faultline(&[
            "campaign",
            file.to_str().unwrap(),
            "--shard",
            k,
            "--results-dir",
            results.to_str().unwrap(),
        ]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        // Each shard ran half the matrix.
        assert!(out.stdout.contains("2 runs in"), "{}", out.stdout);
        shard_dirs.push(results.join("three"));
    }
    let merged_dir = sb.dir.path().join("merged");
    let merged = sb.faultline(&[
        "report",
        "--merge",
        shard_dirs[0].to_str().unwrap(),
        shard_dirs[1].to_str().unwrap(),
        "--out",
        merged_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        merged.code, whole.code,
        "{}\n{}",
        merged.stdout, merged.stderr
    );
    // The totals line says the same but for the wall time.
    let totals = |out: &str| {
        let line = out
            .lines()
            .find(|l| l.starts_with("campaign three:"))
            .unwrap()
            .to_string();
        line[line.rfind(": ").unwrap()..].to_string()
    };
    assert_eq!(totals(&merged.stdout), totals(&whole.stdout));
    // Same runs in the same order, with the same verdicts, in campaign.json and junit.
    let runs = |dir: &Path| -> Vec<(String, String)> {
        read_json(&dir.join("campaign.json"))["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].to_string(), r["verdict"].to_string()))
            .collect()
    };
    let whole_dir = sb.results().join("three");
    assert_eq!(runs(&merged_dir), runs(&whole_dir));
    assert_eq!(runs(&merged_dir).len(), 4);
    let cases = |dir: &Path| -> Vec<String> {
        read(&dir.join("junit.xml"))
            .lines()
            .filter(|l| l.contains("<testcase"))
            .map(|l| l.split("time=").next().unwrap().to_string())
            .collect()
    };
    assert_eq!(cases(&merged_dir), cases(&whole_dir));
    // The merged index lists every run, each linked into its shard's folder.
    let index = read(&merged_dir.join("index.html"));
    let links: Vec<&str> = index
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(links.len(), 4, "{index}");
    for link in links {
        assert!(
            merged_dir.join(link).is_file(),
            "{link} leads nowhere from the merged index"
        );
    }
    // A shard merged twice is refused.
    let twice = sb.faultline(&[
        "report",
        "--merge",
        shard_dirs[0].to_str().unwrap(),
        shard_dirs[0].to_str().unwrap(),
    ]);
    assert_eq!(twice.code, 3, "{}", twice.stderr);
    assert!(twice.stderr.contains("in two shards"), "{}", twice.stderr);
}
