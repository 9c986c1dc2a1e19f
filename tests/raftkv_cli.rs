//! End-to-end test of the `cluster` and `kv` commands: start a local cluster with
//! `faultline cluster`, drive it with `faultline kv`, stop it with SIGINT.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
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
