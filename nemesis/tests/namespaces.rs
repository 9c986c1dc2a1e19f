//! Namespace hosts, partitions and crash cleanup on the real kernel. These need root
//! and iptables; without them each test prints why it is skipped and returns. CI runs
//! them as root.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{can_use_namespaces, eventually, start_nemesis, TestCluster};
use nemesis::journal::index_dir;
use nemesis::{
    partition, process, sys, Action, Cleanup, ClusterControl, FaultKind, HostMode, NemesisConfig,
    Shape,
};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const PORT: u16 = 7400;

/// Runs `f` on a new thread that has joined namespace `ns` (or stays in the root one).
fn in_netns<T: Send + 'static>(ns: Option<String>, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        if let Some(ns) = ns {
            let handle = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(&handle, CloneFlags::CLONE_NEWNET).unwrap();
        }
        f()
    })
    .join()
    .unwrap()
}

/// Starts a TCP echo server on `ip:PORT` inside `ns` that serves forever.
fn listen(ns: Option<String>, ip: IpAddr) {
    let listener = in_netns(ns, move || TcpListener::bind((ip, PORT)).unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut reader, &mut conn);
            });
        }
    });
}

/// Expected-success checks wait this long (generous, for a loaded machine).
const REACHABLE: Duration = Duration::from_secs(30);
/// Expected-failure checks wait this long (a dropped SYN never gets an answer).
const BLOCKED: Duration = Duration::from_millis(300);

/// Whether one byte sent on `conn` comes back within `wait`.
fn echoes(conn: &mut TcpStream, wait: Duration) -> bool {
    conn.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1];
    conn.write_all(b"x").is_ok() && conn.read_exact(&mut buf).is_ok()
}

/// Whether a TCP connection from inside `ns` to `to` succeeds within `wait`.
fn connects_within(ns: Option<String>, to: IpAddr, wait: Duration) -> bool {
    in_netns(ns, move || {
        TcpStream::connect_timeout(&SocketAddr::new(to, PORT), wait).is_ok()
    })
}

/// A connection from inside `ns` to `to` succeeds.
fn connects(ns: Option<String>, to: IpAddr) -> bool {
    connects_within(ns, to, REACHABLE)
}

/// A connection from inside `ns` to `to` gets no answer.
fn blocked(ns: Option<String>, to: IpAddr) -> bool {
    !connects_within(ns, to, BLOCKED)
}

/// The iptables rules (not policies) in a namespace.
fn rules_in(ns: Option<&str>) -> Vec<String> {
    sys::run("iptables", &["-w", "-S"], ns)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("-A"))
        .map(str::to_string)
        .collect()
}

/// Everything of run `id` that `ip` still shows.
fn leftovers(run_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for args in [&["netns", "list"][..], &["-o", "link", "show"][..]] {
        let text = sys::run("ip", args, None).unwrap();
        out.extend(
            text.lines()
                .filter(|l| l.contains(run_id))
                .map(str::to_string),
        );
    }
    out
}

#[test]
fn partition_blocks_exactly_the_cut_links_and_heals() {
    if !can_use_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Namespaces);
    let ns = |n: &str| cluster.host(n).and_then(|h| h.namespace);
    let ip = |n: &str| cluster.ip(n).unwrap();
    let controller = cluster.network.controller_ip();
    for n in ["n1", "n2", "n3"] {
        listen(ns(n), ip(n));
    }
    listen(None, controller);
    let root_rules = rules_in(None);
    assert!(connects(ns("n1"), ip("n2")) && connects(ns("n2"), ip("n3")));
    assert!(connects(None, ip("n2")), "the controller reaches the nodes");
    // A connection established before the partition, from n2 to n1.
    let n1 = ip("n1");
    let mut old_conn = in_netns(ns("n2"), move || {
        TcpStream::connect_timeout(&SocketAddr::new(n1, PORT), REACHABLE).unwrap()
    });
    assert!(echoes(&mut old_conn, REACHABLE));

    // Isolate n1 (the "leader" shape with n1 as leader).
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let grudge =
        partition::grudge(Shape::Leader, &cluster.nodes(), Some("n1".into()), &mut rng).unwrap();
    let journal = cluster.network.journal().clone();
    let (rules, err) = partition::install(&grudge, &*cluster, &journal);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rules.len(),
        8,
        "n1 drops 2 peers both ways, n2 and n3 drop n1"
    );
    assert!(blocked(ns("n1"), ip("n2")), "n1 -> n2 is cut");
    assert!(blocked(ns("n1"), ip("n3")), "n1 -> n3 is cut");
    assert!(blocked(ns("n3"), ip("n1")), "n3 -> n1 is cut");
    assert!(connects(ns("n2"), ip("n3")), "n2 -> n3 still works");
    assert!(
        connects(ns("n1"), controller),
        "the controller stays reachable"
    );
    assert!(connects(None, ip("n1")), "the controller still reaches n1");
    assert!(
        !echoes(&mut old_conn, BLOCKED),
        "existing connections are cut too"
    );
    assert_eq!(rules_in(None), root_rules, "no rule in the root namespace");

    let failed = partition::heal(&rules, &journal);
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        connects(ns("n1"), ip("n2")) && connects(ns("n3"), ip("n1")),
        "healed"
    );
    for n in ["n1", "n2", "n3"] {
        assert!(
            rules_in(ns(n).as_deref()).is_empty(),
            "heal removed every rule"
        );
    }

    cluster.kill_all();
    let run_id = cluster.network.run_id().to_string();
    assert!(cluster.network.teardown().unwrap().is_clean());
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
}

#[test]
fn runner_partitions_and_heals_everything_at_stop() {
    if !can_use_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 5, HostMode::Namespaces);
    let config = NemesisConfig::new(FaultKind::ALL.to_vec(), Duration::from_millis(150), 5);
    let (handle, ops) = start_nemesis(&cluster, config);
    let mut shown = Vec::new();
    let partition_shown = eventually(|| {
        let active: Vec<String> = handle.active().iter().map(ToString::to_string).collect();
        let found = active
            .iter()
            .any(|s| s.starts_with("partition(") && s.contains(" | "));
        shown.extend(active);
        found
    });
    handle.stop().unwrap();
    assert!(partition_shown, "a partition shows its sides: {shown:?}");
    let ops = ops.lock().unwrap();
    let partitions: Vec<_> = ops
        .iter()
        .filter(|o| o.f == "partition" && o.value["outcome"] == "installed")
        .collect();
    assert!(!partitions.is_empty(), "{ops:#?}");
    assert!(partitions[0].value["rules"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
    assert!(ops
        .iter()
        .all(|o| o.value.get("outcome") != Some(&"indeterminate".into())));
    for n in cluster.nodes() {
        let ns = cluster.host(&n).and_then(|h| h.namespace);
        assert!(rules_in(ns.as_deref()).is_empty(), "{n} still has rules");
        let state = process::proc_stat(cluster.pid(&n).unwrap()).unwrap().state;
        assert!(state != 'T' && state != 'Z', "{n} is in state {state}");
    }
    cluster.kill_all();
    let run_id = cluster.network.run_id().to_string();
    assert!(cluster.network.teardown().unwrap().is_clean());
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
}

#[test]
fn cleanup_from_journal_removes_everything_a_crashed_run_left() {
    if !can_use_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = TestCluster::start(dir.path(), 3, HostMode::Namespaces);
    let run_id = cluster.network.run_id().to_string();
    let journal = cluster.network.journal().clone();
    let journal_path = journal.path().to_path_buf();
    // A partition, and a paused process.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let grudge = partition::grudge(Shape::Halves, &cluster.nodes(), None, &mut rng).unwrap();
    let (rules, err) = partition::install(&grudge, &*cluster, &journal);
    assert!(err.is_none() && !rules.is_empty());
    let pids: Vec<(i32, u64)> = cluster
        .nodes()
        .iter()
        .map(|n| {
            let pid = cluster.pid(n).unwrap();
            (pid, process::start_time(pid).unwrap())
        })
        .collect();
    let (pid, start_time) = pids[0];
    journal.record(Action::Paused { pid, start_time }).unwrap();
    process::send_signal(pid, Signal::SIGSTOP).unwrap();
    assert!(!leftovers(&run_id).is_empty());

    // The controller "dies": handles dropped, nothing healed, the journal lock released.
    drop(journal);
    cluster.simulate_crash();
    drop(cluster);
    let report = Cleanup::from_journal(dir.path()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    // 3 namespaces + 3 veths + bridge + 3 processes + pause + the rules.
    assert_eq!(
        report.removed.len(),
        11 + rules.len(),
        "{:#?}",
        report.removed
    );

    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
    for (pid, start_time) in pids {
        assert!(
            !process::is_same_process(pid, start_time),
            "process {pid} survived"
        );
        // Reap the zombie (the test process is its parent).
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        assert!(process::proc_stat(pid).is_none_or(|s| s.start_time != start_time));
    }
    let index = std::fs::read_dir(index_dir()).unwrap();
    for entry in index.flatten() {
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        assert_ne!(target, journal_path, "the index entry is gone once clean");
    }
    let again = Cleanup::from_journal(&journal_path).unwrap();
    assert!(
        again.is_clean() && again.removed.is_empty(),
        "idempotent: {again:?}"
    );
}
