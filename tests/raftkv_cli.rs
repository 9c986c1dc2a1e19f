//! End-to-end tests of the `cluster` and `kv` commands: start a local cluster with
//! `faultline cluster`, drive it with `faultline kv`, kill a node and see it
//! restarted, stop it with SIGINT; what a user sees for a taken port, bad endpoints
//! and an endpoint where nothing listens.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the cluster process if the test ends early.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: signalling our own child; SIGINT lets it stop its node processes.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A base port with the next two ports free too.
fn free_base_port() -> u16 {
    for _ in 0..100 {
        let base = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if base < 65000 && (0..3).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no three consecutive free ports");
}

fn kv(endpoints: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["kv", "--endpoints", endpoints])
        .args(args)
        .output()
        .expect("run faultline kv")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn cluster_and_kv_commands() {
    let base = free_base_port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["cluster", "--nodes", "3", "--base-port", &base.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut guard = Guard(child);
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().expect("cluster prints a line").unwrap();
    assert!(first.contains("is up"), "{first}");

    let endpoints = (0..3)
        .map(|i| format!("127.0.0.1:{}", base + i))
        .collect::<Vec<_>>()
        .join(",");
    let e = endpoints.as_str();
    assert_eq!(stdout(&kv(e, &["put", "k", "v1"])), "OK");
    assert_eq!(stdout(&kv(e, &["get", "k"])), "v1");
    assert_eq!(stdout(&kv(e, &["append", "k", "+x"])), "OK");
    let local = stdout(&kv(e, &["get", "k", "--serializable"]));
    assert!(
        local == "v1" || local == "v1+x",
        "a serializable read may be stale, not wrong: {local}"
    );
    let failed = kv(e, &["cas", "k", "new", "--expected", "wrong"]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "a CAS that does not hold exits 1"
    );
    assert_eq!(
        stdout(&kv(e, &["cas", "k", "new", "--expected", "v1+x"])),
        "OK"
    );
    assert_eq!(
        stdout(&kv(e, &["cas", "fresh", "1"])),
        "OK",
        "CAS on an absent key"
    );
    assert_eq!(stdout(&kv(e, &["delete", "k"])), "OK");
    let missing = kv(e, &["get", "k"]);
    assert_eq!(missing.status.code(), Some(1), "an absent key exits 1");
    let status = stdout(&kv(e, &["status"]));
    assert_eq!(status.lines().count(), 3, "{status}");
    assert_eq!(status.matches("role=leader").count(), 1, "{status}");

    // Bad input is a clear error (exit 3), not a panic.
    let bad = kv("", &["get", "k"]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("endpoints"));

    // SIGINT stops the cluster and its nodes.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(guard.0.id() as libc::pid_t, libc::SIGINT) };
    // Generous: the cluster gives its nodes 3 s to stop before SIGKILL; a loaded
    // machine only makes that slower.
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "cluster did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    assert!(
        (0..3).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()),
        "nodes still listening"
    );
}

/// `faultline cluster --nodes N` on `base` in `dir`, stdout and stderr piped.
fn spawn_cluster(nodes: usize, base: u16, dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["cluster", "--nodes", &nodes.to_string()])
        .args(["--base-port", &base.to_string()])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lines of `stream`, read on a thread, so a test can wait for one with a bound.
fn line_channel(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Lines from `rx` up to and including the first one containing `needle` (panics after
/// `within` or when the stream ends first).
fn lines_until(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("no line with {needle:?} ({e:?}); saw {seen:#?}"),
        }
    }
}

/// Stops the cluster with SIGINT and returns its exit code.
fn interrupt(guard: &mut Guard) -> Option<i32> {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(guard.0.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "cluster did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_node_is_restarted_and_the_cluster_keeps_serving() {
    let base = free_base_port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_cluster(3, base, dir.path());
    let out = line_channel(child.stdout.take().unwrap());
    let err = line_channel(child.stderr.take().unwrap());
    let mut guard = Guard(child);
    let banner = lines_until(&out, "Ctrl-C stops", Duration::from_secs(30));
    let n1 = format!("n1 at 127.0.0.1:{base} pid ");
    let pid: i32 = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix(n1.as_str()))
        .unwrap_or_else(|| panic!("no pid of n1 in {banner:#?}"))
        .parse()
        .unwrap();
    // SAFETY: the pid of a node the cluster command started (its child, not reaped).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let said = lines_until(&err, "restarted it", Duration::from_secs(10));
    let line = said.last().unwrap();
    assert!(line.starts_with("node n1 exited"), "{line}");
    assert!(
        guard.0.try_wait().unwrap().is_none(),
        "the cluster command keeps running"
    );

    // The restarted node serves again, and so does the cluster.
    let endpoints = (0..3)
        .map(|i| format!("127.0.0.1:{}", base + i))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(stdout(&kv(&endpoints, &["put", "k", "after"])), "OK");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = stdout(&kv(&endpoints, &["status"]));
        if status.lines().count() == 3 && !status.contains("unreachable") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "n1 never answered again: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // n1's own state catches up with the write made while it was down.
    let first = format!("127.0.0.1:{base}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while stdout(&kv(&first, &["get", "k", "--serializable"])) != "after" {
        assert!(Instant::now() < deadline, "n1 never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(interrupt(&mut guard), Some(0));
}

/// A command that failed (exit 3) because a node could not listen on `addr`, saying
/// the cause exactly once.
fn assert_bind_failure(out: &Output, addr: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    let said = stderr
        .to_ascii_lowercase()
        .matches("address already in use")
        .count();
    assert_eq!(said, 1, "{stderr}");
}

#[test]
fn a_node_whose_port_is_taken_says_address_already_in_use_once() {
    let base = free_base_port();
    let _taken = TcpListener::bind(("127.0.0.1", base)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["cluster", "--nodes", "1", "--base-port", &base.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_bind_failure(&out, &format!("127.0.0.1:{base}"));
}

#[test]
fn a_test_whose_node_cannot_bind_says_address_already_in_use_once() {
    // The node binary is a wrapper that starts the real node on a port held here.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("busy-node.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a; do shift; if [ \"$skip\" ]; then skip=; set -- \"$@\" 127.0.0.1:{port}; \
             continue; fi; [ \"$a\" = --listen ] && skip=1; set -- \"$@\" \"$a\"; done\n\
             exec {} \"$@\"\n",
            env!("CARGO_BIN_EXE_faultline")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--nodes",
            "1",
            "--hosts",
            "loopback",
            "--node-binary",
        ])
        .arg(&wrapper)
        .arg("--results-dir")
        .arg(dir.path().join("results"))
        .env("FAULTLINE_JOURNAL_INDEX", dir.path().join("journals"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_bind_failure(&out, &format!("127.0.0.1:{port}"));
    drop(taken);
}

#[test]
fn bad_endpoints_are_usage_errors() {
    for (endpoints, why) in [
        ("localhost", "has no port"),
        ("127.0.0.1:99999", "no valid port"),
        ("127.0.0.1:0", "no valid port"),
        ("bad_host!:7001", "not a host name"),
        ("127.0.0.1:7001,:7002", "not a host name"),
        (",", "no address given"),
    ] {
        let out = kv(endpoints, &["get", "k"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{endpoints}: {stderr}");
        assert!(stderr.contains("--endpoints"), "{endpoints}: {stderr}");
        assert!(stderr.contains(why), "{endpoints}: {stderr}");
        assert!(!stderr.contains("outcome unknown"), "{endpoints}: {stderr}");
    }
}

#[test]
fn a_refused_connection_says_so_and_suggests_faultline_cluster() {
    let port = nemesis::free_loopback_ports(1).expect("a free loopback port")[0];
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = kv(&endpoint, &["--timeout-ms", "1s", "get", "k"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(stderr.contains("`faultline cluster`"), "{stderr}");
    let out = kv(&endpoint, &["--timeout-ms", "1s", "status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout(&out)
            .to_ascii_lowercase()
            .contains("connection refused"),
        "{out:?}"
    );
    assert!(stderr.contains("`faultline cluster`"), "{stderr}");
}
