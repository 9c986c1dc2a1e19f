//! Kill and pause on real processes (no root needed): a paused node makes no
//! progress and resumes after SIGCONT; a killed node is gone and can be restarted.
//! Also the runner end to end on loopback hosts.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, read_counter, start_nemesis, TestCluster};
use nemesis::{process, ClusterControl, FaultKind, HostMode, NemesisConfig, NemesisOp, OpType};
use nix::sys::signal::Signal;

#[test]
fn paused_process_makes_no_progress_until_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 1, HostMode::Loopback);
    let file = cluster.counter_file("n1");
    let pid = cluster.pid("n1").unwrap();
    assert!(eventually(|| read_counter(&file) > 0), "the node runs");

    process::send_signal(pid, Signal::SIGSTOP).unwrap();
    // The shell shows `T`, or `D` when the group stop caught its freshly vforked
    // `sleep` child before exec (the shell then waits for that stopped child).
    assert!(eventually(|| matches!(
        process::proc_stat(pid).unwrap().state,
        'T' | 'D'
    )));
    // Let a write that was in flight settle before taking the reference value.
    std::thread::sleep(Duration::from_millis(100));
    let frozen = read_counter(&file);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        read_counter(&file),
        frozen,
        "a paused process makes no progress"
    );

    process::send_signal(pid, Signal::SIGCONT).unwrap();
    assert!(
        eventually(|| read_counter(&file) > frozen),
        "it resumes after SIGCONT"
    );
    cluster.kill_all();
    assert!(cluster.network.teardown().unwrap().is_clean());
}

#[test]
fn killed_process_is_gone_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 1, HostMode::Loopback);
    let old = cluster.pid("n1").unwrap();
    let start = process::start_time(old).unwrap();
    process::send_signal(old, Signal::SIGKILL).unwrap();
    cluster.restart("n1").unwrap();
    assert!(
        !process::is_same_process(old, start),
        "the killed process is gone"
    );
    let new = cluster.pid("n1").unwrap();
    assert_ne!(new, old);
    let file = cluster.counter_file("n1");
    std::fs::remove_file(&file).ok();
    assert!(
        eventually(|| read_counter(&file) > 0),
        "the restarted node runs"
    );
    cluster.kill_all();
    let report = cluster.network.teardown().unwrap();
    assert!(report.is_clean() && report.removed.is_empty(), "{report:?}");
}

#[test]
fn runner_reports_every_fault_and_heals_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Loopback);
    let config = NemesisConfig::new(
        vec![FaultKind::Kill, FaultKind::Pause],
        Duration::from_millis(100),
        11,
    );
    let (handle, ops) = start_nemesis(&cluster, config);
    let mut saw_active = false;
    let enough = eventually(|| {
        saw_active |= !handle.active().is_empty();
        saw_active && ops.lock().unwrap().len() >= 10
    });
    handle.stop().unwrap();
    let ops = ops.lock().unwrap();
    assert!(saw_active, "faults were in force at some point");
    assert!(enough && ops.len() >= 10, "ops: {ops:#?}");
    // Every invoke is followed by its completion, nothing interleaves (one thread).
    for pair in ops.chunks(2) {
        assert_eq!(pair[0].kind, OpType::Invoke, "{pair:?}");
        assert_ne!(pair[1].kind, OpType::Invoke, "{pair:?}");
        assert_eq!(pair[0].f, pair[1].f);
        assert!(pair[1].value.get("outcome").is_some(), "{pair:?}");
    }
    // Faults of one kind never overlap: its starts and stops alternate.
    for (start_f, stop_f) in [("kill", "restart"), ("pause", "resume")] {
        let seq: Vec<&str> = ops
            .iter()
            .filter(|o| o.kind != OpType::Invoke && o.value["outcome"] != "skipped")
            .map(|o| o.f.as_str())
            .filter(|f| *f == start_f || *f == stop_f)
            .collect();
        for (i, f) in seq.iter().enumerate() {
            let expected = if i % 2 == 0 { start_f } else { stop_f };
            assert_eq!(*f, expected, "{start_f}/{stop_f} sequence {seq:?}");
        }
    }
    let fs: Vec<&str> = ops.iter().map(|o| o.f.as_str()).collect();
    assert!(fs.contains(&"kill") && fs.contains(&"pause"), "{fs:?}");
    let last = ops.last().unwrap();
    assert_eq!(last.f, "heal");
    assert_eq!(last.value["final"], true);
    assert_eq!(last.value["outcome"], "installed");
    // After the heal every node runs, nothing is stopped, every kill was restarted.
    let kills = ops
        .iter()
        .filter(|o| o.f == "kill" && o.kind == OpType::Ok && o.value["outcome"] == "installed")
        .map(|o| o.value["pids"].as_object().unwrap().len())
        .sum::<usize>();
    assert_eq!(
        cluster.restarts.load(std::sync::atomic::Ordering::SeqCst),
        kills
    );
    for node in cluster.nodes() {
        let pid = cluster.pid(&node).unwrap();
        let state = process::proc_stat(pid).unwrap().state;
        assert!(state != 'T' && state != 'Z', "{node} is in state {state}");
    }
    assert!(
        handle_free_journal(&cluster),
        "no pause is left outstanding"
    );
    cluster.kill_all();
    assert!(cluster.network.teardown().unwrap().is_clean());
}

/// True when the journal lists nothing but the node processes.
fn handle_free_journal(cluster: &TestCluster) -> bool {
    cluster
        .network
        .journal()
        .outstanding()
        .unwrap()
        .iter()
        .all(|(_, a)| matches!(a, nemesis::Action::Process { .. }))
}

/// Runs a nemesis of `config` on `cluster` until it reported an op that `wanted`
/// accepts, then stops it (healing everything). Returns that op and all ops.
fn run_until(
    cluster: &Arc<TestCluster>,
    config: NemesisConfig,
    wanted: impl Fn(&NemesisOp) -> bool,
) -> (NemesisOp, Vec<NemesisOp>) {
    let (handle, ops) = start_nemesis(cluster, config);
    let found = || ops.lock().unwrap().iter().find(|o| wanted(o)).cloned();
    assert!(
        eventually(|| found().is_some()),
        "the awaited op never came: {:#?}",
        ops.lock().unwrap()
    );
    handle.stop().unwrap();
    let op = found().unwrap();
    let all = ops.lock().unwrap().clone();
    (op, all)
}

/// Whether `op` completes the heal of a crash fault.
fn is_crash_heal(op: &NemesisOp) -> bool {
    op.f == "crash-stop" && op.kind != OpType::Invoke
}

/// Whether `op` completes the start of a crash fault.
fn is_crash_start(op: &NemesisOp) -> bool {
    op.f == "crash" && op.kind != OpType::Invoke
}

/// Runs short `after-vote` crash faults until one heals; returns its start and its
/// heal.
fn short_after_vote_fault(cluster: &Arc<TestCluster>) -> (NemesisOp, NemesisOp) {
    let config = NemesisConfig::parse("crash:after-vote", Duration::from_millis(100), 5).unwrap();
    let (healed, ops) = run_until(cluster, config, is_crash_heal);
    let armed = ops
        .into_iter()
        .find(is_crash_start)
        .expect("a crash fault completed");
    (armed, healed)
}

/// Asserts that every node runs, then kills them and removes the network.
fn all_run_then_tear_down(cluster: &TestCluster) {
    for node in cluster.nodes() {
        assert!(
            process::is_running(cluster.pid(&node).unwrap()),
            "{node} runs"
        );
    }
    cluster.kill_all();
    assert!(cluster.network.teardown().unwrap().is_clean());
}

#[test]
fn crash_fault_arms_every_node_then_restarts_the_crashed_and_disarms_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Loopback);
    // No leader to take out: the crashes alone.
    *cluster.leader.lock().unwrap() = None;
    cluster.crash_at_once.lock().unwrap().push("n2".into());
    let old_n2 = cluster.pid("n2").unwrap();
    let (armed, healed) = short_after_vote_fault(&cluster);
    assert_eq!(armed.value["outcome"], "installed", "{armed:?}");
    assert_eq!(armed.value["point"], "after-vote");
    assert_eq!(armed.value["nodes"], serde_json::json!(["n1", "n2", "n3"]));
    assert_eq!(
        healed.value["crashed"],
        serde_json::json!(["n2"]),
        "{healed:?}"
    );
    assert_eq!(healed.value["disarmed"], serde_json::json!(["n1", "n3"]));
    let calls = cluster.crash_calls.lock().unwrap();
    for node in ["n1", "n3"] {
        for armed in [true, false] {
            assert!(
                calls.contains(&(node.to_string(), "after-vote".to_string(), armed)),
                "{node} armed={armed}: {calls:?}"
            );
        }
    }
    assert!(
        cluster.restarts.load(Ordering::SeqCst) >= 1,
        "the crashed node was restarted"
    );
    let new_n2 = cluster.pid("n2").unwrap();
    assert_ne!(new_n2, old_n2);
    assert!(process::is_running(new_n2), "n2 runs again");
    all_run_then_tear_down(&cluster);
}

#[test]
fn crash_fault_keeps_a_minority_down_restarting_the_longest_down_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Loopback);
    // No leader to take out: the crashes alone. n1 and n2 crash whenever they are
    // armed; n3 never does.
    *cluster.leader.lock().unwrap() = None;
    cluster
        .crash_at_once
        .lock()
        .unwrap()
        .extend(["n1".to_string(), "n2".to_string()]);
    let config = NemesisConfig::parse("crash:after-append", Duration::from_secs(1), 7).unwrap();
    let (healed, _) = run_until(&cluster, config, is_crash_heal);
    // With one node of three allowed down, each crash of one restarts the other,
    // which is armed again and crashes again: both came back during the fault.
    let restarts = &healed.value["restarted_during"];
    for node in ["n1", "n2"] {
        assert!(
            restarts[node].as_u64().unwrap_or(0) >= 1,
            "{node} restarted during the fault: {healed:?}"
        );
    }
    assert!(restarts.get("n3").is_none(), "{healed:?}");
    // n1 or n2 may also be disarmed: one restarted just before the heal, whose
    // SIGKILL at arming had not landed yet.
    let disarmed = healed.value["disarmed"].as_array().unwrap();
    assert!(disarmed.iter().any(|n| n == "n3"), "{healed:?}");
    let crashed = healed.value["crashed"].as_array().unwrap();
    assert!(
        !crashed.is_empty() && crashed.iter().all(|n| n != "n3"),
        "the heal restarts what was down: {healed:?}"
    );
    let calls = cluster.crash_calls.lock().unwrap();
    for node in ["n1", "n2"] {
        let armings = calls
            .iter()
            .filter(|(n, p, armed)| n == node && p == "after-append" && *armed)
            .count();
        assert!(armings >= 2, "{node} armed again after restarts: {calls:?}");
    }
    drop(calls);
    all_run_then_tear_down(&cluster);
}

#[test]
fn crash_fault_restarts_a_node_whose_arming_answer_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Loopback);
    // No leader to take out: the crashes alone. n3 is armed and crashes at once,
    // but its answer never arrives.
    *cluster.leader.lock().unwrap() = None;
    cluster.crash_at_once.lock().unwrap().push("n3".into());
    cluster.crash_answer_lost.lock().unwrap().push("n3".into());
    let (armed, healed) = short_after_vote_fault(&cluster);
    assert_eq!(armed.value["outcome"], "indeterminate", "{armed:?}");
    assert_eq!(armed.value["nodes"], serde_json::json!(["n1", "n2"]));
    assert_eq!(
        healed.value["crashed"],
        serde_json::json!(["n3"]),
        "the fault's own heal restarts it: {healed:?}"
    );
    all_run_then_tear_down(&cluster);
}

/// A three-node cluster in which whoever runs first in name order leads.
fn cluster_led_by_lowest_running(dir: &std::path::Path) -> Arc<TestCluster> {
    let cluster = TestCluster::start(dir, 3, HostMode::Loopback);
    cluster.lowest_running_leads.store(true, Ordering::SeqCst);
    cluster
}

#[test]
fn crash_fault_takes_leaders_out_and_brings_them_back() {
    let dir = tempfile::tempdir().unwrap();
    // Killing n1 makes n2 the leader, and n1 leads again once it is back. No node
    // crashes at the point.
    let cluster = cluster_led_by_lowest_running(dir.path());
    let config = NemesisConfig::parse("crash:after-vote", Duration::from_secs(2), 11).unwrap();
    // A fault lasts 1 to 4 s here: long enough for a second leader to have led for
    // the half second after which it is taken out, so wait for a heal that shows it.
    let (healed, _) = run_until(&cluster, config, |o| {
        is_crash_heal(o)
            && o.value["leader_kills"]
                .as_object()
                .is_some_and(|kills| kills.len() >= 2)
    });
    let kills = healed.value["leader_kills"].as_object().unwrap();
    assert!(
        kills.contains_key("n1") && kills.contains_key("n2"),
        "the first leader, then its successor: {healed:?}"
    );
    assert!(
        healed.value["restarted_during"]["n1"].as_u64().unwrap_or(0) >= 1,
        "n1 came back when n2 was killed (at most one node of three down): {healed:?}"
    );
    assert_eq!(healed.value["crashed"], serde_json::json!([]), "{healed:?}");
    all_run_then_tear_down(&cluster);
}

#[test]
fn crash_fault_leaves_leaders_alone_at_a_point_off_the_election_path() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster_led_by_lowest_running(dir.path());
    let config = NemesisConfig::parse("crash:after-append", Duration::from_secs(2), 11).unwrap();
    let (healed, _) = run_until(&cluster, config, is_crash_heal);
    assert!(healed.value.get("leader_kills").is_none(), "{healed:?}");
    assert_eq!(healed.value["crashed"], serde_json::json!([]), "{healed:?}");
    assert_eq!(
        cluster.restarts.load(Ordering::SeqCst),
        0,
        "nobody was killed"
    );
    all_run_then_tear_down(&cluster);
}

#[test]
fn partition_on_loopback_hosts_is_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Loopback);
    let config = NemesisConfig::new(vec![FaultKind::Partition], Duration::from_millis(50), 3);
    let (handle, ops) = start_nemesis(&cluster, config);
    eventually(|| {
        ops.lock()
            .unwrap()
            .iter()
            .any(|o| o.f == "partition" && o.kind == OpType::Ok)
    });
    handle.stop().unwrap();
    let ops = ops.lock().unwrap();
    let done: Vec<_> = ops
        .iter()
        .filter(|o| o.f == "partition" && o.kind == OpType::Ok)
        .collect();
    assert!(!done.is_empty(), "{ops:#?}");
    for op in done {
        assert_eq!(op.value["outcome"], "skipped", "{op:?}");
        let reason = op.value["reason"].as_str().unwrap();
        assert!(
            reason.contains("namespace") || reason.contains("nodes"),
            "{reason}"
        );
    }
    assert!(
        ops.iter()
            .all(|o| o.f != "heal" || o.value["final"] == true),
        "nothing to heal"
    );
    cluster.kill_all();
    assert!(cluster.network.teardown().unwrap().is_clean());
}

#[test]
fn pausing_a_killed_but_unreaped_node_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 1, HostMode::Loopback);
    let pid = cluster.pid("n1").unwrap();
    process::send_signal(pid, Signal::SIGKILL).unwrap();
    assert!(eventually(|| !process::is_running(pid)));
    assert_eq!(
        process::proc_stat(pid).unwrap().state,
        'Z',
        "a zombie until reaped"
    );
    let mut config = NemesisConfig::new(vec![FaultKind::Pause], Duration::from_millis(50), 8);
    config.pause_targets = vec![nemesis::Target::One];
    let (handle, ops) = start_nemesis(&cluster, config);
    eventually(|| {
        ops.lock()
            .unwrap()
            .iter()
            .any(|o| o.f == "pause" && o.kind == OpType::Ok)
    });
    handle.stop().unwrap();
    let ops = ops.lock().unwrap();
    let pauses: Vec<_> = ops
        .iter()
        .filter(|o| o.f == "pause" && o.kind == OpType::Ok)
        .collect();
    assert!(!pauses.is_empty(), "{ops:#?}");
    for op in pauses {
        assert_eq!(op.value["outcome"], "skipped", "{op:?}");
        assert_eq!(op.value["not_running"][0], "n1", "{op:?}");
    }
    cluster.kill_all();
    assert!(cluster.network.teardown().unwrap().is_clean());
}
