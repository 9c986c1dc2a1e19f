//! End-to-end tests of `faultline test --hosts ssh`: the nodes run on SSH stand-in
//! hosts made by `scripts/ssh-standins.sh` (a network namespace with its own sshd
//! each), reached only over SSH. They cover setup, kill, pause, partition, final reads
//! and teardown (nothing left on the hosts, logs collected), a controller killed with
//! SIGKILL followed by `faultline cleanup`, a planted bug caught over SSH, a host lost
//! in the middle of a run, and the inventory and preflight errors. They need root,
//! `ip`, `iptables`, `sshd` (openssh-server) and `ssh`: under `CI=true` a missing one
//! fails the test naming it; elsewhere the test is skipped with a printed reason.
//! The stand-ins are machine-wide, so the tests of this file take turns.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use nemesis::Need;
use serde_json::Value;

/// The stand-ins are shared by the whole machine: one test at a time.
static STANDINS: Mutex<()> = Mutex::new(());

/// Whether the tools are here; under CI a missing one fails the test.
fn tools_present() -> bool {
    nemesis::test_can_run(&[
        Need::Root,
        Need::Program("ip"),
        Need::Program("iptables"),
        Need::Program("sshd"),
        Need::Program("ssh"),
    ])
}

/// This test's turn and `n` stand-ins; `None` (skip) when a tool is missing outside CI.
fn standins(n: usize) -> Option<(MutexGuard<'static, ()>, Standins)> {
    if !tools_present() {
        return None;
    }
    let turn = STANDINS.lock().unwrap_or_else(|p| p.into_inner());
    Some((turn, Standins::up(n)))
}

/// N stand-in hosts, removed again when dropped.
struct Standins {
    /// The inventory the script wrote.
    inventory: PathBuf,
    /// The test's scratch folder (results, journal index).
    dir: tempfile::TempDir,
}

impl Standins {
    fn up(n: usize) -> Standins {
        let dir = tempfile::tempdir().unwrap();
        let inventory = dir.path().join("inventory.toml");
        // Left over by an earlier, aborted test run: start from nothing.
        let _ = script(&["down"]);
        let out = script(&["up", &n.to_string(), inventory.to_str().unwrap()]);
        assert!(out.status.success(), "ssh-standins up: {}", text(&out));
        Standins { inventory, dir }
    }

    /// The namespaces of the hosts, in order.
    fn namespaces(&self) -> Vec<String> {
        let inv = std::fs::read_to_string(&self.inventory).unwrap();
        let n = inv.matches("[[host]]").count();
        (1..=n).map(|i| format!("fls-h{i}")).collect()
    }

    /// `faultline ARGS` with the journal index in the scratch folder.
    fn faultline(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("faultline").unwrap();
        cmd.args(args)
            .env("FAULTLINE_JOURNAL_INDEX", self.dir.path().join("journals"))
            .stdin(Stdio::null());
        cmd
    }

    /// Where the runs go.
    fn results(&self) -> PathBuf {
        self.dir.path().join("results")
    }

    /// `faultline test --hosts ssh` on these hosts with `extra` flags.
    fn test_command(&self, extra: &[&str]) -> Command {
        let mut cmd = self.faultline(&["test", "--hosts", "ssh", "--concurrency", "6"]);
        cmd.arg("--inventory")
            .arg(&self.inventory)
            .arg("--results-dir")
            .arg(self.results())
            .args(extra);
        cmd
    }

    /// Runs [`Standins::test_command`]; returns the output and the run folder.
    fn test(&self, extra: &[&str]) -> (Output, PathBuf) {
        let out = self.test_command(extra).output().unwrap();
        (out, latest(&self.results()))
    }

    /// `faultline cleanup RUN`.
    fn cleanup(&self, run: &Path) -> Output {
        self.faultline(&["cleanup", run.to_str().unwrap()])
            .output()
            .unwrap()
    }

    /// Processes in the hosts' namespaces other than their sshd, and iptables rules
    /// in them: what a run must not leave behind.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for ns in self.namespaces() {
            let pids = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .unwrap();
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() != "sshd" {
                    left.push(format!("{ns}: process {pid} ({})", comm.trim()));
                }
            }
            let rules = Command::new("ip")
                .args(["netns", "exec", &ns, "iptables", "-w", "-S"])
                .output()
                .unwrap();
            for rule in String::from_utf8_lossy(&rules.stdout).lines() {
                if !rule.starts_with("-P ") {
                    left.push(format!("{ns}: rule {rule}"));
                }
            }
        }
        left
    }
}

impl Drop for Standins {
    fn drop(&mut self) {
        let out = script(&["down"]);
        if !std::thread::panicking() {
            assert!(out.status.success(), "ssh-standins down: {}", text(&out));
        }
    }
}

/// Runs scripts/ssh-standins.sh.
fn script(args: &[&str]) -> Output {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ssh-standins.sh"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// stdout and stderr of a finished command.
fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The newest run folder under `results`.
fn latest(results: &Path) -> PathBuf {
    std::fs::canonicalize(results.join("latest")).unwrap_or_else(|_| results.join("latest"))
}

/// A JSON file of the run.
fn json(run: &Path, file: &str) -> Value {
    serde_json::from_slice(&std::fs::read(run.join(file)).unwrap()).unwrap()
}

/// The nemesis completions of a run's history.
fn nemesis_ops(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|op| op["process"] == "nemesis" && op["type"] != "invoke")
        .collect()
}

/// Fault kinds whose start was installed.
fn installed(run: &Path) -> Vec<String> {
    let mut kinds: Vec<String> = nemesis_ops(run)
        .iter()
        .filter(|op| op["value"]["outcome"] == "installed")
        .filter_map(|op| op["f"].as_str().map(str::to_string))
        .filter(|f| ["kill", "pause", "partition"].contains(&f.as_str()))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[test]
fn every_fault_kind_over_ssh_is_valid_with_final_reads_logs_and_nothing_left() {
    let Some((_turn, hosts)) = standins(3) else {
        return;
    };
    let (out, run) = hosts.test(&[
        "--workload",
        "set",
        "--nemesis",
        "all",
        "--nemesis-interval",
        "3",
        "--time-limit",
        "30",
        "--seed",
        "16",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results = json(&run, "results.json");
    assert_eq!(results["verdict"], "valid", "{results}");
    assert_eq!(
        installed(&run),
        ["kill", "partition", "pause"],
        "every fault kind installed: {:?}",
        nemesis_ops(&run)
    );
    // The partition's rules were on the hosts themselves.
    let partition = nemesis_ops(&run)
        .into_iter()
        .find(|op| op["f"] == "partition" && op["value"]["outcome"] == "installed")
        .unwrap();
    assert!(
        partition.to_string().contains("host n"),
        "rules on the hosts: {partition}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lost-writes"),
        "final reads checked: {stderr}"
    );
    for node in ["n1", "n2", "n3"] {
        let log = std::fs::read_to_string(run.join("nodes").join(node).join("node.log"))
            .unwrap_or_default();
        assert!(log.contains("serving"), "log of {node} collected: {log:?}");
    }
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
    // Every remote change of the journal was undone.
    let cleanup = hosts.cleanup(&run);
    assert!(
        String::from_utf8_lossy(&cleanup.stdout).contains("nothing left to remove"),
        "{}",
        text(&cleanup)
    );
}

#[test]
fn a_killed_controller_leaves_what_cleanup_removes_from_the_hosts() {
    let Some((_turn, hosts)) = standins(3) else {
        return;
    };
    let results = hosts.results();
    let mut child = hosts
        .test_command(&["--nemesis", "partition,pause", "--nemesis-interval", "2"])
        .args(["--time-limit", "300", "--seed", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until a partition is in force and no fault has healed yet, so
    // rules and processes are on the hosts when the controller dies.
    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        assert!(
            Instant::now() < deadline,
            "no partition installed within 120 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        let run = latest(&results);
        let ops = nemesis_ops(&run);
        if ops
            .iter()
            .any(|op| op["f"] == "partition" && op["value"]["outcome"] == "installed")
        {
            break run;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let left = hosts.leftovers();
    assert!(
        left.iter().any(|l| l.contains("rule")) && left.iter().any(|l| l.contains("process")),
        "the dead run left nodes and rules: {left:?}"
    );
    let out = hosts.cleanup(&run);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("removed daemon n1 on n1"), "{stdout}");
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
    // Idempotent: nothing left the second time.
    let again = hosts.cleanup(&run);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing left to remove"),
        "{}",
        text(&again)
    );
}

#[test]
fn ack_before_commit_is_caught_over_ssh() {
    let Some((_turn, hosts)) = standins(3) else {
        return;
    };
    // A lost write needs a partition that cuts the leader off while it acknowledges
    // adds: a few partitions in 30 s do not always give one, so the next seed is tried.
    let mut missed = Vec::new();
    for seed in ["2000", "2001", "2002"] {
        let (out, run) = hosts.test(&[
            "--db-bug",
            "ack-before-commit",
            "--workload",
            "set",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "30",
            "--seed",
            seed,
        ]);
        assert_eq!(hosts.leftovers(), Vec::<String>::new());
        if out.status.code() == Some(1) {
            assert_eq!(json(&run, "results.json")["verdict"], "invalid");
            return;
        }
        missed.push(format!("seed {seed}: {}", text(&out)));
    }
    panic!("no seed caught ack-before-commit:\n{}", missed.join("\n"));
}

#[test]
fn a_host_lost_mid_run_turns_faults_info_and_the_verdict_unknown() {
    let Some((_turn, hosts)) = standins(3) else {
        return;
    };
    let results = hosts.results();
    let child = hosts
        .test_command(&["--nemesis", "pause", "--nemesis-interval", "2"])
        .args(["--time-limit", "40", "--seed", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the cluster is up, host 3's network goes away for good.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !latest(&results).join("history.jsonl").exists()
        || nemesis_ops(&latest(&results)).is_empty()
    {
        assert!(Instant::now() < deadline, "no fault within 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let down = Command::new("ip")
        .args(["-n", "fls-h3", "link", "set", "eth0", "down"])
        .status()
        .unwrap();
    assert!(down.success());
    let out = child.wait_with_output().unwrap();
    let run = latest(&results);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let results = json(&run, "results.json");
    assert_eq!(results["verdict"], "unknown", "{results}");
    let errors = results["harness_errors"].to_string();
    assert!(
        errors.contains("n3") && errors.contains("unreachable"),
        "{errors}"
    );
    // At the latest the final heal's SIGCONT reaches for the lost host: info.
    let ops = nemesis_ops(&run);
    assert!(
        ops.iter()
            .any(|op| op["type"] == "info" && op.to_string().contains("unreachable")),
        "a fault action on the lost host is info: {ops:?}"
    );
    // Back on the network, the host is cleaned like any other.
    let up = Command::new("ip")
        .args(["-n", "fls-h3", "link", "set", "eth0", "up"])
        .status()
        .unwrap();
    assert!(up.success());
    let cleanup = hosts.cleanup(&run);
    assert_eq!(cleanup.status.code(), Some(0), "{}", text(&cleanup));
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
}

#[test]
fn bad_inventories_and_unusable_hosts_exit_3_before_anything_starts() {
    let Some((_turn, hosts)) = standins(2) else {
        return;
    };
    let good = std::fs::read_to_string(&hosts.inventory).unwrap();
    let write = |name: &str, text: &str| {
        let path = hosts.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let run_with = |inventory: &Path| {
        hosts
            .faultline(&["test", "--hosts", "ssh", "--time-limit", "5"])
            .arg("--inventory")
            .arg(inventory)
            .arg("--results-dir")
            .arg(hosts.results())
            .output()
            .unwrap()
    };
    // Malformed: file, line and column.
    let bad = write(
        "bad.toml",
        &good.replacen("port = 22", "port = \"twenty-two\"", 1),
    );
    let out = run_with(&bad);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = good.lines().position(|l| l == "port = 22").unwrap() + 1;
    assert!(
        stderr.contains(&format!("bad.toml, line {line}, column 8")),
        "{stderr}"
    );
    // An address nobody answers on.
    let unreachable = write(
        "unreachable.toml",
        &format!("{good}\n[[host]]\nname = \"n9\"\naddress = \"10.214.254.9\"\n"),
    );
    let out = run_with(&unreachable);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("n9") && stderr.contains("unreachable"),
        "{stderr}"
    );
    // A key the hosts do not accept.
    let key = hosts.dir.path().join("wrong_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let identity = good.lines().find(|l| l.starts_with("identity = ")).unwrap();
    let wrong = write(
        "wrong-key.toml",
        &good.replace(identity, &format!("identity = {:?}", key.to_str().unwrap())),
    );
    let out = run_with(&wrong);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    // Nothing was started on the good hosts by any of these.
    assert_eq!(hosts.leftovers(), Vec::<String>::new());
}
