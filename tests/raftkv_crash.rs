//! End-to-end crash test of raftkv with real processes: three `faultline node`
//! processes on loopback, concurrent writes, SIGKILL of the leader, more writes,
//! a restart of the killed node from its data directory, and then every
//! acknowledged write must be readable (linearizably from the leader, and from
//! the restarted node's own state once it caught up). Appends check that writes
//! retried across the leader change were applied at most once. Snapshots are
//! taken every 40 entries, so recovery and catch-up go through them too.
//! Also the crash points: with `after-vote` an armed voter kills itself when the
//! leader it elected sends its first entry; with `after-append` an armed leader
//! kills itself after storing a client's write and before sending it, so the write
//! exists on that node alone (an armed follower storing entries does not crash).

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::nodes::LocalNodes;

use raftkv::client::{ClientError, KvClient};
use raftkv::proto::kv::kv_client::KvClient as GrpcKvClient;
use raftkv::proto::kv::CrashRequest;

/// Bound of every wait for a condition (a leader, a crash, a catch-up): generous, so
/// that a loaded machine only makes the test slower, never failing.
const PATIENCE: Duration = Duration::from_secs(60);

/// Three nodes; frequent snapshots exercise compaction and, for a restarted node,
/// catching up by InstallSnapshot.
fn three_nodes() -> LocalNodes {
    LocalNodes::start(3, &["--snapshot-every", "40"])
}

/// The runtime the tests' clients run on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A status client for every node, and the index of the first elected leader.
async fn admin_and_leader(nodes: &LocalNodes) -> (KvClient, usize) {
    let admin = KvClient::new(nodes.endpoints.clone(), 0)
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    let first = leader(nodes, &admin, PATIENCE).await;
    (admin, first)
}

/// Waits until a node reports itself leader; returns its index.
async fn leader(nodes: &LocalNodes, client: &KvClient, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for (i, endpoint) in nodes.endpoints.iter().enumerate() {
            if nodes.children[i].is_none() {
                continue;
            }
            if let Ok(status) = client.status(endpoint).await {
                if status.role == "leader" {
                    return i;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no leader within {timeout:?}\n{}", nodes.logs());
}

/// Waits until each of `which` has applied everything `leader` had
/// committed when asked.
async fn catch_up(nodes: &LocalNodes, admin: &KvClient, leader: usize, which: &[usize]) {
    let target = admin
        .status(&nodes.endpoints[leader])
        .await
        .unwrap()
        .commit_index;
    let deadline = Instant::now() + PATIENCE;
    for &i in which {
        loop {
            let status = admin.status(&nodes.endpoints[i]).await;
            if status.as_ref().is_ok_and(|s| s.applied_index >= target) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "n{} did not catch up with commit index {target}: {status:?}\n{}",
                i + 1,
                nodes.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Issues `per_task` puts and appends from each of `tasks` clients; returns the
/// acknowledged puts and appended tokens, and the tokens whose outcome is unknown.
async fn write_batch(
    endpoints: &[String],
    round: u64,
    tasks: u64,
    per_task: u64,
) -> (BTreeMap<String, String>, Vec<String>, Vec<String>) {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let client = KvClient::new(endpoints.to_vec(), round * 1000 + t + 1)
            .unwrap()
            .with_timeout(Duration::from_secs(3));
        handles.push(tokio::spawn(async move {
            let mut puts = BTreeMap::new();
            let (mut appended, mut unknown) = (Vec::new(), Vec::new());
            for i in 0..per_task {
                let key = format!("k-{round}-{t}-{i}");
                let value = format!("v{i}");
                if client.put(key.as_bytes(), value.as_bytes()).await.is_ok() {
                    puts.insert(key, value);
                }
                let token = format!("[{round}.{t}.{i}]");
                match client.append(b"list", token.as_bytes()).await {
                    Ok(()) => appended.push(token),
                    Err(ClientError::Unknown(_)) => unknown.push(token),
                    Err(ClientError::Rejected(_)) => {}
                }
            }
            (puts, appended, unknown)
        }));
    }
    let mut all = (BTreeMap::new(), Vec::new(), Vec::new());
    for h in handles {
        let (p, a, u) = h.await.unwrap();
        all.0.extend(p);
        all.1.extend(a);
        all.2.extend(u);
    }
    all
}

#[test]
fn acknowledged_writes_survive_killing_the_leader() {
    let mut nodes = three_nodes();
    runtime().block_on(async {
        let (admin, first) = admin_and_leader(&nodes).await;

        let (mut puts, mut appended, mut unknown) = write_batch(&nodes.endpoints, 1, 8, 25).await;
        assert!(
            puts.len() >= 150,
            "most writes succeed on a healthy cluster: {}\n{}",
            puts.len(),
            nodes.logs()
        );

        nodes.kill(first);
        let (p, a, u) = write_batch(&nodes.endpoints, 2, 8, 15).await;
        assert!(
            !p.is_empty(),
            "the surviving majority accepts writes\n{}",
            nodes.logs()
        );
        puts.extend(p);
        appended.extend(a);
        unknown.extend(u);

        nodes.spawn(first);
        let (p, a, u) = write_batch(&nodes.endpoints, 3, 4, 10).await;
        puts.extend(p);
        appended.extend(a);
        unknown.extend(u);

        // Every acknowledged put is readable, linearizably.
        let reader = KvClient::new(nodes.endpoints.clone(), 99).unwrap();
        for (key, value) in &puts {
            let got = reader.get(key.as_bytes(), false).await.unwrap();
            assert_eq!(
                got.as_deref(),
                Some(value.as_bytes()),
                "acknowledged write {key} lost\n{}",
                nodes.logs()
            );
        }
        // Every acknowledged append appears exactly once; unknown ones at most once.
        let list = String::from_utf8(reader.get(b"list", false).await.unwrap().unwrap()).unwrap();
        for token in &appended {
            assert_eq!(
                list.matches(token.as_str()).count(),
                1,
                "append {token} must be applied once: {list}"
            );
        }
        for token in &unknown {
            assert!(
                list.matches(token.as_str()).count() <= 1,
                "append {token} applied twice: {list}"
            );
        }

        // The restarted node recovers everything from its log and catches up.
        let leader_now = leader(&nodes, &admin, PATIENCE).await;
        catch_up(&nodes, &admin, leader_now, &[first]).await;
        let local = KvClient::new(vec![nodes.endpoints[first].clone()], 98).unwrap();
        for (key, value) in puts.iter().take(50) {
            let got = local.get(key.as_bytes(), true).await.unwrap();
            assert_eq!(
                got.as_deref(),
                Some(value.as_bytes()),
                "{key} missing on the restarted node"
            );
        }
    });
    assert!(nodes.data_dir().join("n1").join("wal.log").exists());
}

/// Arms (or disarms) a crash point on one node through the client API; an armed
/// point disarms itself after `expires_in_ms` (0: never).
async fn set_crash_point(
    endpoint: &str,
    point: &str,
    armed: bool,
    expires_in_ms: u64,
) -> Result<(), tonic::Status> {
    let mut grpc = GrpcKvClient::connect(format!("http://{endpoint}"))
        .await
        .expect("connect to the node");
    grpc.crash(CrashRequest {
        point: point.to_string(),
        armed,
        expires_in_ms,
    })
    .await
    .map(|_| ())
}

/// Reaps node `i`, which must have killed itself (SIGKILL) at crash point `point`,
/// saying so in its log.
fn assert_crashed_at(nodes: &mut LocalNodes, i: usize, point: &str) {
    let status = nodes.children[i]
        .take()
        .expect("the node was running")
        .wait()
        .unwrap();
    assert_eq!(status.signal(), Some(9), "killed itself with SIGKILL");
    let log = nodes.log(i);
    assert!(
        log.contains("crash point reached") && log.contains(&format!("point={point}")),
        "{log}"
    );
}

#[test]
fn a_voter_armed_with_after_vote_crashes_before_storing_the_new_leaders_entry() {
    let mut nodes = three_nodes();
    runtime().block_on(async {
        let (admin, old) = admin_and_leader(&nodes).await;
        let bad = set_crash_point(&nodes.endpoints[old], "before-lunch", true, 0)
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
        assert!(bad.message().contains("before-lunch"), "{bad:?}");

        // An arming that expired does nothing: both followers armed for 1 ms, the
        // leader killed, a new leader elected, nobody crashes.
        for i in (0..3).filter(|&i| i != old) {
            set_crash_point(&nodes.endpoints[i], "after-vote", true, 1)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        nodes.kill(old);
        let first = leader(&nodes, &admin, PATIENCE).await;
        // Both followers' after-vote points would fire on the new leader's first
        // entry: once every live node has applied it, nobody may have crashed.
        let live: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        catch_up(&nodes, &admin, first, &live).await;
        for child in nodes.children.iter_mut().flatten() {
            assert!(child.try_wait().unwrap().is_none(), "{}", nodes.logs());
        }
        nodes.spawn(old);
        let deadline = Instant::now() + PATIENCE;
        while admin.status(&nodes.endpoints[old]).await.is_err() {
            assert!(Instant::now() < deadline, "{}", nodes.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let followers: Vec<usize> = (0..3).filter(|&i| i != first).collect();

        // Arming and disarming is idempotent; the leader ends up disarmed.
        set_crash_point(&nodes.endpoints[first], "after-vote", true, 0)
            .await
            .unwrap();
        set_crash_point(&nodes.endpoints[first], "after-vote", false, 0)
            .await
            .unwrap();
        for &i in &followers {
            set_crash_point(&nodes.endpoints[i], "after-vote", true, 0)
                .await
                .unwrap();
        }

        // The next election: one follower campaigns (it votes for itself, which is
        // no granted vote message), the other grants it a real vote and must crash
        // when the new leader's first entry arrives.
        nodes.kill(first);
        let deadline = Instant::now() + PATIENCE;
        let crashed = loop {
            let exited: Vec<usize> = followers
                .iter()
                .copied()
                .filter(|&i| {
                    let child = nodes.children[i].as_mut().expect("follower runs");
                    child.try_wait().unwrap().is_some()
                })
                .collect();
            if let [i] = exited[..] {
                break i;
            }
            assert!(
                exited.is_empty(),
                "only the voter may crash: {exited:?}\n{}",
                nodes.logs()
            );
            assert!(
                Instant::now() < deadline,
                "no voter crashed within {PATIENCE:?}\n{}",
                nodes.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_crashed_at(&mut nodes, crashed, "after-vote");
        let winner = followers.into_iter().find(|&i| i != crashed).unwrap();
        let winner_log = nodes.log(winner);
        assert!(
            winner_log.contains("candidate -> leader"),
            "the other follower won the election\n{winner_log}"
        );

        // Restarted nodes start disarmed: the cluster elects a leader and writes.
        nodes.spawn(crashed);
        nodes.spawn(first);
        let writer = KvClient::new(nodes.endpoints.clone(), 7)
            .unwrap()
            .with_timeout(Duration::from_secs(10));
        writer.put(b"after-crash", b"ok").await.unwrap();
        assert!(nodes.children.iter().all(Option::is_some));
        for child in nodes.children.iter_mut().flatten() {
            assert!(child.try_wait().unwrap().is_none(), "{}", nodes.logs());
        }
    });
}

#[test]
fn a_leader_armed_with_after_append_crashes_with_the_write_on_it_alone() {
    let mut nodes = three_nodes();
    runtime().block_on(async {
        let (admin, old) = admin_and_leader(&nodes).await;
        let writer = KvClient::new(nodes.endpoints.clone(), 7)
            .unwrap()
            .with_timeout(Duration::from_secs(10));
        // Followers armed with after-append store the leader's entries and live.
        let followers: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        for &i in &followers {
            set_crash_point(&nodes.endpoints[i], "after-append", true, 0)
                .await
                .unwrap();
        }
        writer.put(b"k", b"replicated").await.unwrap();
        for &i in &followers {
            set_crash_point(&nodes.endpoints[i], "after-append", false, 0)
                .await
                .unwrap();
        }
        for child in nodes.children.iter_mut().flatten() {
            assert!(child.try_wait().unwrap().is_none(), "{}", nodes.logs());
        }

        // The armed leader stores the next write and dies before sending it.
        set_crash_point(&nodes.endpoints[old], "after-append", true, 0)
            .await
            .unwrap();
        let to_old = KvClient::new(vec![nodes.endpoints[old].clone()], 8)
            .unwrap()
            .with_timeout(Duration::from_secs(2));
        assert!(to_old.put(b"k", b"alone").await.is_err());
        assert_crashed_at(&mut nodes, old, "after-append");

        // The others never saw it: their leader reads the replicated value, and
        // after the crashed node restarts (disarmed) its entry is overwritten.
        leader(&nodes, &admin, PATIENCE).await;
        assert_eq!(
            writer.get(b"k", false).await.unwrap().as_deref(),
            Some(&b"replicated"[..])
        );
        nodes.spawn(old);
        writer.put(b"after-crash", b"ok").await.unwrap();
        let deadline = Instant::now() + PATIENCE;
        let own = KvClient::new(vec![nodes.endpoints[old].clone()], 9)
            .unwrap()
            .with_timeout(Duration::from_millis(500));
        loop {
            let caught_up = own.get(b"after-crash", true).await.ok().flatten().is_some();
            if caught_up {
                break;
            }
            assert!(Instant::now() < deadline, "{}", nodes.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            own.get(b"k", true).await.unwrap().as_deref(),
            Some(&b"replicated"[..]),
            "the restarted node's lone entry was replaced"
        );
    });
}
