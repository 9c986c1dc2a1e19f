//! Packet faults on the real kernel: each fault changes what really arrives between
//! two network namespaces (a delay shows in round trips, a loss of 100% drops all, a
//! duplication of 100% doubles datagrams, a reordering makes datagrams overtake, a
//! rate limit slows a transfer), healing leaves no rule, qdisc or delayer behind, and
//! a `faultline test --nemesis packet` run records each fault's parameters and
//! mechanism in its history and leaves nothing behind. They need root, `ip`, `tc` and
//! `iptables`: without them each test says why it is skipped (under `CI=true` it
//! fails instead).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{finish, read_json, Sandbox};
use nemesis::packet::{self, probe, Mechanism, PacketFault, Request};
use nemesis::{ClusterControl, CrashPoint, Host, HostMode, Journal, Need, Network, JOURNAL_FILE};
use nix::sched::CloneFlags;
use serde_json::{json, Value};

/// True when the machine can run these tests (see the module docs).
fn can_run() -> bool {
    nemesis::test_can_run(&[
        Need::Root,
        Need::Program("ip"),
        Need::Program("tc"),
        Need::Program("iptables"),
        Need::Namespaces,
    ])
}

/// Two nodes in namespaces, answering only what packet faults ask of a cluster.
struct Pair {
    /// The namespaces and their bridge.
    network: Network,
    /// The run folder (journal, delayer logs).
    _dir: tempfile::TempDir,
}

impl Pair {
    fn new() -> Arc<Pair> {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(&dir.path().join(JOURNAL_FILE)).unwrap();
        let names = vec!["n1".to_string(), "n2".to_string()];
        let network = Network::create(journal, &names, HostMode::Namespaces).unwrap();
        Arc::new(Pair { network, _dir: dir })
    }

    fn host(&self, node: &str) -> &Host {
        self.network.host(node).unwrap()
    }

    fn ns(&self, node: &str) -> String {
        self.host(node).namespace.clone().unwrap()
    }

    /// Puts `fault` on what n1 sends; panics unless it was installed.
    fn install(&self, fault: PacketFault) -> (packet::Installed, Value) {
        let nodes = ["n1".to_string()];
        let request = Request {
            control: self,
            journal: self.network.journal(),
            nodes: &nodes,
            all_traffic: false,
            delayer: Path::new(env!("CARGO_BIN_EXE_faultline")),
            seed: 19,
        };
        let mut value = json!({});
        let (installed, err) = packet::install(fault, &request, &mut value);
        assert!(err.is_none(), "{fault}: {err:?}\n{value}");
        let mechanism = Mechanism::for_fault(fault, probe::netem_available());
        assert_eq!(value["mechanism"], json!(mechanism), "{value}");
        (installed, value)
    }

    /// Heals, then checks that nothing of the fault is left in n1's namespace.
    fn heal(&self, mut installed: packet::Installed, value: &Value) {
        let errors = packet::heal(&mut installed, self.network.journal());
        assert!(errors.is_empty(), "{errors:?}");
        let ns = self.ns("n1");
        let rules = run_in(
            &ns,
            "iptables",
            &["-w", "-t", "mangle", "-S", "POSTROUTING"],
        );
        assert_eq!(rules.trim(), "-P POSTROUTING ACCEPT", "rules left");
        let qdiscs = run_in(&ns, "tc", &["qdisc", "show", "dev", "eth0"]);
        assert!(
            !qdiscs.contains(packet::QDISC_HANDLE),
            "qdisc left: {qdiscs}"
        );
        if let Some(pid) = value["hosts"]["n1"]["delayer_pid"].as_i64() {
            assert!(!alive(pid as i32), "the delayer {pid} is still running");
        }
        let outstanding = self.network.journal().outstanding().unwrap();
        assert!(
            outstanding.iter().all(|(_, a)| matches!(
                a,
                nemesis::Action::Namespace { .. }
                    | nemesis::Action::Veth { .. }
                    | nemesis::Action::Bridge { .. }
                    | nemesis::Action::Rule {
                        namespace: None,
                        ..
                    }
            )),
            "the journal still lists fault changes: {outstanding:?}"
        );
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let report = self.network.teardown();
        if !std::thread::panicking() {
            let report = report.unwrap();
            assert!(report.is_clean(), "{report:?}");
        }
    }
}

impl ClusterControl for Pair {
    fn nodes(&self) -> Vec<String> {
        vec!["n1".into(), "n2".into()]
    }
    fn pid(&self, _: &str) -> Option<i32> {
        None
    }
    fn ip(&self, node: &str) -> Option<IpAddr> {
        self.network.host(node).map(|h| h.ip)
    }
    fn host(&self, node: &str) -> Option<Host> {
        self.network.host(node).cloned()
    }
    fn restart(&self, _: &str) -> Result<(), String> {
        Err("no processes here".into())
    }
    fn leader(&self) -> Option<String> {
        None
    }
    fn set_crash_point(&self, _: &str, _: CrashPoint, _: Option<Duration>) -> Result<(), String> {
        Err("no crash points here".into())
    }
}

/// Runs `program args` inside namespace `ns` and returns its output.
fn run_in(ns: &str, program: &str, args: &[&str]) -> String {
    nemesis::sys::run(program, args, Some(ns)).unwrap()
}

/// Whether `pid` runs (and is not a zombie).
fn alive(pid: i32) -> bool {
    nemesis::process::proc_stat(pid).is_some_and(|s| s.state != 'Z')
}

/// Runs `f` on a thread that has joined namespace `ns`; sockets made there stay in it.
fn in_netns<T: Send + 'static>(ns: String, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let handle = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        nix::sched::setns(&handle, CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// An echo server on `ip:port` in `ns`, serving until the process ends.
fn echo_server(ns: String, ip: IpAddr, port: u16) {
    let listener = in_netns(ns, move || TcpListener::bind((ip, port)).unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut reader, &mut conn);
            });
        }
    });
}

/// The shortest of five one-byte round trips from `ns` to `to`.
fn min_round_trip(ns: String, to: SocketAddr) -> Duration {
    in_netns(ns, move || {
        let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(30)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        conn.set_nodelay(true).unwrap();
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            conn.write_all(b"x").unwrap();
            let mut buf = [0u8; 1];
            conn.read_exact(&mut buf).unwrap();
            best = best.min(start.elapsed());
        }
        best
    })
}

/// A UDP receiver on `ip:port` in `ns`.
fn udp_receiver(ns: String, ip: IpAddr, port: u16) -> UdpSocket {
    let socket = in_netns(ns, move || UdpSocket::bind((ip, port)).unwrap());
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    socket
}

/// Sends datagrams numbered `0..count` from `ns` to `to`. A datagram a rule of the
/// sender's own namespace drops fails with EPERM, which is ignored: it is lost.
fn send_numbered(ns: String, to: SocketAddr, count: u32) {
    in_netns(ns, move || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        for i in 0..count {
            let _ = socket.send_to(&i.to_be_bytes(), to);
        }
    });
}

/// The numbers received until nothing has come for a while (at most 30 s in all).
fn receive_numbered(socket: &UdpSocket, quiet: Duration) -> Vec<u32> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Instant::now();
    let mut buf = [0u8; 16];
    while Instant::now() < deadline && last.elapsed() < quiet {
        if let Ok(n) = socket.recv(&mut buf) {
            assert_eq!(n, 4, "a numbered datagram");
            got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            last = Instant::now();
        }
    }
    got
}

#[test]
fn a_delay_shows_in_round_trips_and_healing_removes_it_all() {
    if !can_run() {
        return;
    }
    let pair = Pair::new();
    let to = SocketAddr::new(pair.host("n2").ip, 7501);
    echo_server(pair.ns("n2"), to.ip(), to.port());
    let (installed, value) = pair.install("delay=200ms~0ms".parse().unwrap());
    assert_eq!(value["hosts"]["n1"]["peers"], json!([to.ip()]), "{value}");
    assert!(
        value["summary"].as_str().unwrap().contains("delay=200ms"),
        "{value}"
    );
    let delayed = min_round_trip(pair.ns("n1"), to);
    assert!(
        delayed >= Duration::from_millis(150),
        "a 200 ms delay on n1's packets gave a round trip of {delayed:?}"
    );
    pair.heal(installed, &value);
}

/// Datagrams sent from n1 to n2 under a packet fault on what n1 sends.
struct Datagrams {
    /// The two namespaces.
    pair: Arc<Pair>,
    /// n2's receiver.
    to: SocketAddr,
    /// Its socket.
    socket: UdpSocket,
    /// The fault, still in place.
    installed: packet::Installed,
    /// What installing it recorded.
    value: Value,
    /// The numbers that arrived, in arrival order.
    got: Vec<u32>,
}

/// Puts `fault` on n1, sends `count` numbered datagrams to n2 and collects what
/// arrives until nothing has come for `quiet`.
fn datagrams_through(fault: &str, port: u16, count: u32, quiet: Duration) -> Datagrams {
    let pair = Pair::new();
    let to = SocketAddr::new(pair.host("n2").ip, port);
    let socket = udp_receiver(pair.ns("n2"), to.ip(), to.port());
    let (installed, value) = pair.install(fault.parse().unwrap());
    send_numbered(pair.ns("n1"), to, count);
    let got = receive_numbered(&socket, quiet);
    Datagrams {
        pair,
        to,
        socket,
        installed,
        value,
        got,
    }
}

#[test]
fn loss_of_everything_drops_every_datagram_until_healed() {
    if !can_run() {
        return;
    }
    let d = datagrams_through("loss=100%", 7502, 20, Duration::from_millis(500));
    assert!(d.got.is_empty(), "received {:?} through a 100% loss", d.got);
    d.pair.heal(d.installed, &d.value);
    send_numbered(d.pair.ns("n1"), d.to, 20);
    let got = receive_numbered(&d.socket, Duration::from_secs(2));
    assert!(!got.is_empty(), "nothing arrived after healing");
}

#[test]
fn duplicating_everything_delivers_each_datagram_twice() {
    if !can_run() {
        return;
    }
    let d = datagrams_through("duplicate=100%", 7503, 20, Duration::from_secs(1));
    for i in 0..20u32 {
        let copies = d.got.iter().filter(|&&x| x == i).count();
        assert!(
            copies <= 2,
            "datagram {i} arrived {copies} times: {:?}",
            d.got
        );
    }
    assert!(
        d.got.len() > 30,
        "20 datagrams under 100% duplication gave {}: {:?}",
        d.got.len(),
        d.got
    );
    d.pair.heal(d.installed, &d.value);
}

#[test]
fn reordering_makes_later_datagrams_overtake_without_losing_any() {
    if !can_run() {
        return;
    }
    let d = datagrams_through("reorder=50%", 7504, 200, Duration::from_secs(1));
    let mut sorted = d.got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..200).collect::<Vec<u32>>(),
        "every datagram, once"
    );
    assert!(
        d.got.windows(2).any(|w| w[1] < w[0]),
        "no datagram overtook another: {:?}",
        d.got
    );
    d.pair.heal(d.installed, &d.value);
}

#[test]
fn a_rate_limit_slows_a_transfer() {
    if !can_run() {
        return;
    }
    let pair = Pair::new();
    let to = SocketAddr::new(pair.host("n2").ip, 7505);
    echo_server(pair.ns("n2"), to.ip(), to.port());
    let (installed, value) = pair.install("rate=64kbit".parse().unwrap());
    // 24 KiB at 64 kbit/s (8 KB/s) take about three seconds to leave n1.
    let took = in_netns(pair.ns("n1"), move || {
        let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(30)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let data = vec![7u8; 24 * 1024];
        let start = Instant::now();
        let mut reader = conn.try_clone().unwrap();
        let echo = std::thread::spawn(move || {
            let mut back = vec![0u8; 24 * 1024];
            reader.read_exact(&mut back).map(|()| back)
        });
        conn.write_all(&data).unwrap();
        let back = echo.join().unwrap().unwrap();
        assert_eq!(back, data);
        start.elapsed()
    });
    assert!(
        took >= Duration::from_millis(1500),
        "24 KiB through a 64 kbit/s limit took only {took:?}"
    );
    pair.heal(installed, &value);
}

#[test]
fn bad_packet_parameters_are_usage_errors_naming_them() {
    let sb = Sandbox::new();
    for (nemesis, wants) in [
        ("packet:loss=150%", "over 100%"),
        ("packet:delay=-5ms", "negative"),
        ("packet:shuffle", "unknown packet fault `shuffle`"),
        ("packets", "unknown fault `packets`"),
    ] {
        let out = finish(&mut sb.command(&["test", "--nemesis", nemesis, "--time-limit", "1"]));
        assert_eq!(out.code, 3, "{nemesis}: {}", out.stderr);
        assert!(out.stderr.contains(wants), "{nemesis}: {}", out.stderr);
        assert!(out.stderr.contains("--nemesis"), "{}", out.stderr);
    }
}

#[test]
fn a_run_with_packet_faults_records_them_and_leaves_nothing_behind() {
    if !can_run() {
        return;
    }
    let sb = Sandbox::new();
    let results = sb.results();
    let out = finish(&mut sb.command(&[
        "test",
        "--nodes",
        "3",
        "--concurrency",
        "4",
        "--time-limit",
        "20",
        "--nemesis",
        "packet",
        "--nemesis-interval",
        "1.5",
        // Generous, so that a saturated machine's slow recovery does not fail the run.
        "--recovery-time",
        "10",
        "--seed",
        "19",
        "--results-dir",
        results.to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "valid under packet faults:\n{}", out.stderr);
    let run_dir = sb.latest();
    let ops: Vec<Value> = std::fs::read_to_string(run_dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let starts: Vec<&Value> = ops
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "packet" && o["type"] != "invoke")
        .map(|o| &o["value"])
        .collect();
    assert!(starts.len() >= 3, "{starts:#?}");
    let first_round: std::collections::BTreeSet<&str> = starts
        .iter()
        .take(PacketFault::DEFAULTS.len())
        .filter_map(|v| v["fault"].as_str())
        .collect();
    assert_eq!(
        first_round.len(),
        starts.len().min(PacketFault::DEFAULTS.len()),
        "the first round draws each packet fault once: {first_round:?}"
    );
    let installed: Vec<&&Value> = starts
        .iter()
        .filter(|v| v["outcome"] == "installed")
        .collect();
    assert!(installed.len() >= 2, "{starts:#?}");
    for v in &installed {
        let mechanism = v["mechanism"].as_str().unwrap();
        assert!(
            [
                "netem",
                "htb",
                "iptables-statistic",
                "iptables-tee",
                "nfqueue-delayer"
            ]
            .contains(&mechanism),
            "{v}"
        );
        assert!(v["nodes"].as_array().is_some_and(|n| !n.is_empty()), "{v}");
        assert!(v["hosts"].as_object().is_some_and(|h| !h.is_empty()), "{v}");
        let parameters = match v["fault"].as_str().unwrap() {
            "delay" => &["delay_ms", "jitter_ms"][..],
            "loss" | "duplicate" => &["percent"][..],
            "reorder" => &["percent", "hold_ms"][..],
            "rate" => &["rate_kbit"][..],
            other => panic!("unknown packet fault {other}"),
        };
        for p in parameters {
            assert!(v[p].is_number(), "{p} missing in {v}");
        }
    }
    let stops = ops
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "packet-stop" && o["type"] == "ok")
        .count();
    assert_eq!(
        stops,
        installed.len(),
        "every installed packet fault healed"
    );
    // The report lists them with their parameters.
    let results_json = read_json(&run_dir.join("results.json"));
    let faults = results_json["faults"].as_array().unwrap();
    assert!(faults
        .iter()
        .any(|f| f["f"] == "packet" && f["end_s"].is_number()));
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    for v in &installed {
        let summary = v["summary"].as_str().unwrap();
        assert!(html.contains(summary), "the fault table shows {summary}");
    }
    // Nothing left: every journaled change undone, no delayer, no namespace.
    let journal = std::fs::read_to_string(run_dir.join(JOURNAL_FILE)).unwrap();
    let entries: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let undone: std::collections::BTreeSet<u64> = entries
        .iter()
        .filter(|e| e["event"] == "undone")
        .filter_map(|e| e["id"].as_u64())
        .collect();
    let open: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "do" && !undone.contains(&e["id"].as_u64().unwrap()))
        .collect();
    assert!(open.is_empty(), "left in the journal: {open:#?}");
    for e in &entries {
        if e["event"] == "do" && e["action"]["kind"] == "process" {
            let pid = e["action"]["pid"].as_i64().unwrap() as i32;
            assert!(!alive(pid), "process {pid} still runs: {e}");
        }
    }
    let test = read_json(&run_dir.join("test.json"));
    let run_id = test["run_id"].as_str().unwrap();
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&netns.stdout);
    assert!(!list.contains(run_id), "namespaces left:\n{list}");
}

#[test]
fn the_journal_removes_the_rules_qdisc_and_delayer_of_a_fault_never_healed() {
    if !can_run() {
        return;
    }
    let pair = Pair::new();
    // As if the controller died: the faults stay in place, only the journal knows them.
    let (delay, value) = pair.install("delay=20ms~5ms".parse().unwrap());
    let (rate, _) = pair.install("rate=1mbit".parse().unwrap());
    drop((delay, rate));
    let delayer = value["hosts"]["n1"]["delayer_pid"].as_i64();
    let report = pair.network.journal().cleanup().unwrap();
    assert!(report.is_clean(), "{report:?}");
    let removed = report.removed.join("\n");
    assert!(removed.contains("tc qdisc f119: on eth0"), "{removed}");
    assert!(removed.contains("NFQUEUE"), "{removed}");
    if let Some(pid) = delayer {
        assert!(!alive(pid as i32), "the delayer {pid} survived the cleanup");
        assert!(removed.contains(&format!("process {pid} ")), "{removed}");
    }
    assert!(pair.network.journal().outstanding().unwrap().is_empty());
}
