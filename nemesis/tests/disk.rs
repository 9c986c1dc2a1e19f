//! The disk fault's runner side, against counter processes whose `ClusterControl`
//! answers disk requests like a lazy filesystem would: a power loss kills the target
//! first and asks only killed nodes' disks to drop, and every node is running again
//! after the heal.

mod common;

use std::time::Duration;

use common::{eventually, start_nemesis, TestCluster};
use nemesis::{ClusterControl, DiskRequest, HostMode, NemesisConfig, OpType};

#[test]
fn power_losses_kill_then_drop_and_an_fsync_eio_node_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Loopback);
    let config = NemesisConfig::parse("disk", Duration::from_millis(100), 5).unwrap();
    let (handle, ops) = start_nemesis(&cluster, config);
    let modes_seen = || {
        let ops = ops.lock().unwrap();
        let modes: std::collections::BTreeSet<String> = ops
            .iter()
            .filter(|o| o.f == "disk" && o.kind != OpType::Invoke)
            .filter(|o| o.value["outcome"] == "installed")
            .map(|o| o.value["mode"].as_str().unwrap().to_string())
            .collect();
        modes.len()
    };
    assert!(eventually(|| modes_seen() == 3), "every mode ran");
    handle.stop().unwrap();
    let ops = ops.lock().unwrap();
    for op in ops.iter().filter(|o| o.f == "disk" && o.kind == OpType::Ok) {
        if op.value["outcome"] != "installed" {
            continue;
        }
        let answers = op.value["disk"].as_object().unwrap();
        assert!(!answers.is_empty(), "{op:?}");
        if op.value["mode"] != "fsync-eio" {
            assert_eq!(op.value["signal"], "SIGKILL", "{op:?}");
            for (node, answer) in answers {
                assert_eq!(answer["bytes"], 7, "{op:?}");
                assert!(
                    op.value["pids"].get(node).is_some(),
                    "{node} was killed: {op:?}"
                );
            }
        }
    }
    let calls = cluster.disk_calls.lock().unwrap();
    for (node, request, running) in calls.iter() {
        match request {
            DiskRequest::LoseUnsynced | DiskRequest::Torn(_) => {
                assert!(!running, "{node}'s disk dropped data while it ran")
            }
            DiskRequest::FsyncEio => assert!(running, "{node}: EIO armed on a dead node"),
            DiskRequest::Disarm => {}
        }
    }
    assert!(
        calls.iter().any(|c| c.1 == DiskRequest::Disarm),
        "{calls:?}"
    );
    let stops: Vec<_> = ops
        .iter()
        .filter(|o| o.f == "disk-stop" && o.kind != OpType::Invoke)
        .collect();
    assert!(
        stops.iter().any(
            |o| !o.value["restarted"].as_array().is_none_or(Vec::is_empty)
                && o.value["eio_delivered"].is_object()
        ),
        "an EIO-killed node came back: {stops:?}"
    );
    for node in cluster.nodes() {
        let pid = cluster.pid(&node).unwrap();
        let state = nemesis::process::proc_stat(pid).unwrap().state;
        assert!(state != 'Z', "{node} runs after the heal");
    }
    cluster.kill_all();
    assert!(cluster.network.teardown().unwrap().is_clean());
}
