//! End-to-end tests of the clock fault: a node's clock really is its own (a leader
//! whose monotonic clock nearly stops stalls its timers, stops heartbeating and loses
//! its leadership to a node whose clock runs on; set right, it follows the new
//! leader), a `faultline test --nemesis clock` run installs clock faults, brings every
//! clock back to real time, stays valid (recovery included) and leaves no control file
//! behind, and a store that reads the clock past libc (etcd) is refused before
//! anything starts.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::nodes::LocalNodes;
use common::{finish, history, journal_pids, read_json, Finished, Sandbox};
use nemesis::clock::ClockSetting;
use nemesis::Need;
use serde_json::Value;

/// `(role, term)` node `i` reports, if it answers.
fn status(nodes: &LocalNodes, i: usize) -> Option<(String, u64)> {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "kv",
            "--endpoints",
            &nodes.endpoints[i],
            "--timeout-ms",
            "500",
        ])
        .arg("status")
        .output()
        .expect("run faultline kv status");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_string)
    };
    Some((field("role=")?, field("term=")?.parse().ok()?))
}

/// The only node that calls itself leader, with its term, when exactly one does.
fn single_leader(nodes: &LocalNodes) -> Option<(usize, u64)> {
    let leaders: Vec<(usize, u64)> = (0..nodes.endpoints.len())
        .filter_map(|i| match status(nodes, i)? {
            (role, term) if role == "leader" => Some((i, term)),
            _ => None,
        })
        .collect();
    match leaders[..] {
        [one] => Some(one),
        _ => None,
    }
}

/// Polls `probe` (every 100 ms, for at most 30 s) until it answers.
fn wait_for<T>(what: &str, nodes: &LocalNodes, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(answer) = probe() {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within 30 s; logs:\n{}",
            nodes.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_leader_whose_clock_nearly_stops_stops_leading_until_set_right() {
    if !nemesis::test_can_run(&[Need::Faketime]) {
        return;
    }
    let nodes = LocalNodes::start_with_clocks(3, &[]);
    let (old, term) = wait_for("leader", &nodes, || single_leader(&nodes));
    // A steady leader: the same one a second later, in the same term.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(single_leader(&nodes), Some((old, term)), "{}", nodes.logs());

    // At 1/50 of real speed its 10 ms ticks take half a second, longer than any
    // election timeout: it sends no heartbeat in time and the others, on real time,
    // elect one of their own.
    nodes.set_clock(
        old,
        ClockSetting {
            offset_s: 0.0,
            rate: 0.02,
        },
    );
    let (new, new_term) = wait_for("new leader", &nodes, || {
        single_leader(&nodes).filter(|&(i, t)| i != old && t > term)
    });
    assert_ne!(new, old);

    // Behind real time by now: set right by a step forwards.
    nodes.set_clock(old, ClockSetting::REAL);
    wait_for("old leader following", &nodes, || {
        let (role, t) = status(&nodes, old)?;
        (role == "follower" && t >= new_term).then_some(())
    });
}

/// `faultline test` of 3 nodes on loopback hosts in the sandbox, with `args`.
fn run_test(sb: &Sandbox, args: &[&str]) -> Finished {
    let results = sb.results();
    let mut all = vec![
        "test",
        "--nodes",
        "3",
        "--hosts",
        "loopback",
        "--results-dir",
    ];
    all.push(results.to_str().unwrap());
    all.extend_from_slice(args);
    finish(&mut sb.command(&all))
}

#[test]
fn a_clock_run_is_valid_records_its_faults_and_leaves_nothing_behind() {
    if !nemesis::test_can_run(&[Need::Faketime]) {
        return;
    }
    let sb = Sandbox::new();
    let out = run_test(
        &sb,
        &[
            "--time-limit",
            "8",
            "--nemesis",
            "clock",
            "--nemesis-interval",
            "1",
            "--seed",
            "5",
            "--recovery-time",
            "3",
        ],
    );
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let run = sb.latest();
    let ops = history(&run);
    let nemesis_ops = |f: &str| -> Vec<&Value> {
        ops.iter()
            .filter(|o| o["process"] == "nemesis" && o["f"] == f && o["type"] != "invoke")
            .collect()
    };
    let installed: Vec<&Value> = nemesis_ops("clock")
        .into_iter()
        .filter(|o| o["value"]["outcome"] == "installed")
        .collect();
    assert!(!installed.is_empty(), "no clock fault installed: {ops:#?}");
    for op in &installed {
        let value = &op["value"];
        assert_eq!(value["mechanism"], "libfaketime", "{value}");
        let specs = value["specs"].as_object().expect("specs per node");
        let nodes = value["nodes"].as_array().expect("nodes");
        assert_eq!(specs.len(), nodes.len(), "{value}");
        assert!(specs
            .values()
            .all(|s| s.as_str().is_some_and(|s| s.contains(" x"))));
        assert!(value["clocks"]
            .as_object()
            .is_some_and(|c| c.len() == nodes.len()));
    }
    let healed = nemesis_ops("clock-stop");
    assert_eq!(healed.len(), installed.len(), "every clock fault healed");
    for op in healed {
        // Each node's clock then, and how long coming back to real time takes.
        let clocks = op["value"]["clocks"].as_object().expect("clocks");
        assert!(!clocks.is_empty(), "{op}");
        assert!(
            clocks.values().all(|c| c["settle_s"].as_f64().is_some()),
            "{op}"
        );
    }
    // The final heal waits until every clock is real again, without errors.
    let finals: Vec<&Value> = nemesis_ops("heal")
        .into_iter()
        .filter(|o| o["value"]["final"] == true)
        .collect();
    assert_eq!(finals.len(), 1, "{ops:#?}");
    assert!(
        finals[0]["value"]["clocks_settled_s"].is_object(),
        "{}",
        finals[0]
    );
    assert!(finals[0]["value"]["errors"].is_null(), "{}", finals[0]);
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["verdict"], "valid", "{results:#}");
    for node in ["n1", "n2", "n3"] {
        let file = run
            .join("nodes")
            .join(node)
            .join(nemesis::clock::CONTROL_FILE);
        assert!(!file.exists(), "{} left behind", file.display());
    }
    for pid in journal_pids(&run) {
        let shm = Path::new("/dev/shm").join(format!("faketime_shm_{pid}"));
        assert!(!shm.exists(), "{} left behind", shm.display());
    }
}

#[test]
fn a_store_that_reads_the_clock_past_libc_is_refused() {
    if !nemesis::test_can_run(&[Need::Faketime, Need::Program("etcd")]) {
        return;
    }
    let sb = Sandbox::new();
    let out = run_test(
        &sb,
        &["--db", "etcd", "--time-limit", "5", "--nemesis", "clock"],
    );
    assert_eq!(out.code, 3, "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("clock faults cannot act on") && out.stderr.contains("vDSO"),
        "{}",
        out.stderr
    );
}
