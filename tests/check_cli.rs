//! End-to-end tests of `faultline check`: verdicts and exit codes (0 valid, 1 invalid,
//! 2 unknown, 3 bad input), text and JSON output, EDN import, truncated histories.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;
use workloads::history::HistoryWriter;
use workloads::synth::explosive_history;

fn faultline() -> Command {
    Command::cargo_bin("faultline").expect("the faultline binary is built")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the history");
    path
}

const STALE: &str = r#"{"index":0,"time":1,"process":1,"type":"invoke","f":"write","key":"k7","value":1}
{"index":1,"time":2,"process":1,"type":"ok","f":"write","key":"k7","value":1}
{"index":2,"time":3,"process":2,"type":"invoke","f":"write","key":"k7","value":2}
{"index":3,"time":4,"process":2,"type":"ok","f":"write","key":"k7","value":2}
{"index":4,"time":5,"process":"nemesis","type":"info","f":"start-partition","value":{"nodes":["n1"]}}
{"index":5,"time":6,"process":3,"type":"invoke","f":"read","key":"k7","value":null}
{"index":6,"time":7,"process":3,"type":"ok","f":"read","key":"k7","value":1}
{"index":7,"time":8,"process":3,"type":"invoke","f":"read","key":"k7","value":null}
{"index":8,"time":9,"process":3,"type":"ok","f":"read","key":"k7","value":2}
"#;

#[test]
fn valid_history_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = STALE.lines().take(4).map(|l| format!("{l}\n")).collect();
    let path = write(dir.path(), "h.jsonl", &text);
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(contains("VALID"));
    // A run directory stands for its history.jsonl.
    write(dir.path(), "history.jsonl", &text);
    faultline()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(contains("VALID"));
}

#[test]
fn stale_read_exits_1_with_counterexample() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.jsonl", STALE);
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(contains("INVALID"))
        .stdout(contains("stale read"))
        .stdout(contains("k7"));
    let out = faultline()
        .args(["check", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["verdict"], "invalid");
    let c = &report["checkers"]["linearizable"]["counterexamples"][0];
    assert_eq!(c["anomaly"], "stale-read");
    assert_eq!(c["op"]["invoke_index"], 5);
}

#[test]
fn explosive_history_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl");
    let mut w = HistoryWriter::create(&path).unwrap();
    for op in explosive_history(40) {
        w.append(&op).unwrap();
    }
    w.flush().unwrap();
    faultline()
        .args(["check", "--time-limit", "300ms"])
        .arg(&path)
        .assert()
        .code(2)
        .stdout(contains("UNKNOWN"))
        .stdout(contains("time limit"));
}

#[test]
fn bad_input_exits_3_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "h.jsonl",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"okay\",\"f\":\"read\"}\n",
    );
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("h.jsonl:2:"));
    faultline()
        .args(["check", "/nonexistent/h.jsonl"])
        .assert()
        .code(3);
    let path = write(
        dir.path(),
        "p.jsonl",
        "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"a\",\"value\":1}\n",
    );
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("never invoked"));
}

#[test]
fn truncated_tail_is_a_warning_or_with_strict_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = STALE.lines().take(4).map(|l| format!("{l}\n")).collect();
    let path = write(dir.path(), "h.jsonl", &format!("{text}{{\"index\":4,\"ti"));
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(0)
        .stderr(contains("truncated"));
    faultline()
        .args(["check", "--strict"])
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("truncated"));
}

#[test]
fn edn_history_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let edn = "[{:process 0 :type :invoke :f :write :value [:x 1]}\n \
               {:process 0 :type :ok :f :write :value [:x 1]}\n \
               {:process :nemesis :type :info :f :kill :value nil}\n \
               {:process 1 :type :invoke :f :read :value [:x nil]}\n \
               {:process 1 :type :ok :f :read :value [:x 3]}]\n";
    let path = write(dir.path(), "history.edn", edn);
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(contains("garbage read"));
    // Detected from the content too.
    let path = write(dir.path(), "history.txt", edn);
    faultline().arg("check").arg(&path).assert().code(1);
    let path = write(
        dir.path(),
        "bad.edn",
        "[{:process 0 :type :invoke\n :f :read :value [:x nil]",
    );
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("bad.edn:1:"));
}
