//! End-to-end tests of `faultline check`: verdicts and exit codes (0 valid, 1 invalid,
//! 2 unknown, 3 bad input), text and JSON output, EDN and Jepsen text log import,
//! truncated histories,
//! input from pipes, FIFOs and stdin, and the histories it must refuse rather than
//! call valid (empty, missing or misspelled fields, malformed recordings).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

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

const STALE: &str = common::STALE_READ_JSONL;

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
        "{\"index\":0,\"time\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,\"time\":0,\"process\":1,\"type\":\"okay\",\"f\":\"read\"}\n",
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
        "{\"index\":0,\"time\":0,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"a\",\"value\":1}\n",
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

fn jepsen_log(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("workloads/tests/data/jepsen")
        .join(name)
}

#[test]
fn jepsen_text_log_is_imported() {
    for (name, code, says) in [
        ("valid.log", 0, "VALID (cas-register model"),
        ("stale-read.log", 1, "p2 read → 4"),
    ] {
        faultline()
            .arg("check")
            .arg(jepsen_log(name))
            .assert()
            .code(code)
            .stdout(contains(says));
    }
    // Detected from the content too.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(jepsen_log("stale-read.log")).unwrap();
    let path = write(dir.path(), "jepsen.txt", &text);
    faultline().arg("check").arg(&path).assert().code(1);
    let bad = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
               INFO  jepsen.util - 0\t:ok\t:write\t1\n\
               INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2\n";
    let stray = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nat clojure.core\n";
    for (name, text, at, what) in [
        ("bad.log", bad, "bad.log:3:", "bad value"),
        ("stray.log", stray, "stray.log:2:", "not a Jepsen log line"),
    ] {
        faultline()
            .arg("check")
            .arg(write(dir.path(), name, text))
            .assert()
            .code(3)
            .stderr(contains(at))
            .stderr(contains(what));
    }
}

/// Runs `faultline ARGS` with `input` on its stdin; returns exit code, stdout, stderr.
fn with_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    let out = common::faultline_with_stdin(args, input.as_bytes());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// Regression: `cat invalid.jsonl | faultline check /dev/stdin` said VALID with 0
// operations (the format sniffer consumed the pipe); `check -` did not exist.
#[test]
fn stdin_and_pipes_read_the_whole_history() {
    for arg in ["-", "/dev/stdin"] {
        let (code, stdout, stderr) = with_stdin(&["check", arg], STALE);
        assert_eq!(code, 1, "check {arg}: {stdout}{stderr}");
        assert!(stdout.contains("INVALID"), "{stdout}");
        assert!(stdout.contains("4 operations"), "{stdout}");
    }
    let edn = "[{:process 0 :type :invoke :f :write :value 1}\n \
               {:process 0 :type :ok :f :write :value 1}\n \
               {:process 1 :type :invoke :f :read :value nil}\n \
               {:process 1 :type :ok :f :read :value 3}]\n";
    let (code, stdout, _) = with_stdin(&["check", "-"], edn);
    assert_eq!(code, 1, "EDN sniffed from stdin: {stdout}");
}

// Regression: `faultline check <(cat h.jsonl)` said VALID with 0 operations.
#[test]
fn process_substitution_reads_the_whole_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.jsonl", STALE);
    let out = StdCommand::new("bash")
        .arg("-c")
        .arg(format!(
            "{} check <(cat {})",
            env!("CARGO_BIN_EXE_faultline"),
            path.display()
        ))
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("INVALID"), "{stdout}");
}

// Regression: a named FIFO hung (it was opened twice: once to sniff the format).
#[test]
fn a_named_fifo_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("history.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start faultline");
    // Opening for writing waits for the reader, as a producer would.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            f.write_all(STALE.as_bytes()).unwrap();
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faultline check hung on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("INVALID"), "{stdout}");
}

// Regression: an empty file was VALID, exit 0.
#[test]
fn nothing_to_check_is_an_error_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    let nemesis_only = "{\"index\":0,\"time\":1,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":null}\n";
    let all_failed = "{\"index\":0,\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"a\",\"value\":1}\n\
                      {\"index\":1,\"time\":2,\"process\":1,\"type\":\"fail\",\"f\":\"write\",\"key\":\"a\",\"value\":1}\n";
    for (name, text) in [
        ("empty.jsonl", ""),
        ("blank.jsonl", "\n\n  \n"),
        ("empty.edn", "[]"),
        ("nemesis.jsonl", nemesis_only),
        ("failed.jsonl", all_failed),
    ] {
        let path = write(dir.path(), name, text);
        faultline()
            .arg("check")
            .arg(&path)
            .assert()
            .code(3)
            .stderr(contains("no operations"))
            .stderr(contains(name));
    }
    let (code, _, stderr) = with_stdin(&["check", "-"], "");
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("<stdin>: no operations"), "{stderr}");
}

// Regression: a missing or misspelled key was checked as key "", and missing
// index/time were accepted (every op shown as [0..0]).
#[test]
fn missing_or_misspelled_fields_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let misspelled = STALE.replacen(
        "\"key\":\"k7\",\"value\":null",
        "\"kye\":\"k7\",\"value\":null",
        1,
    );
    let path = write(dir.path(), "kye.jsonl", &misspelled);
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("kye.jsonl:6:"))
        .stderr(contains("unknown field `kye`"));
    let dropped: String = STALE
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 6 {
                l.replace(",\"key\":\"k7\"", "")
            } else {
                l.to_string()
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = write(dir.path(), "nokey.jsonl", &dropped);
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("nokey.jsonl:7: field key is missing"));
    for field in ["index", "time", "process", "type", "f"] {
        let text: String = STALE
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if i == 2 {
                    v.as_object_mut().unwrap().remove(field);
                }
                format!("{v}\n")
            })
            .collect();
        let name = format!("no-{field}.jsonl");
        let path = write(dir.path(), &name, &text);
        faultline()
            .arg("check")
            .arg(&path)
            .assert()
            .code(3)
            .stderr(contains(format!("{name}:3:")))
            .stderr(contains(format!("missing field `{field}`")));
    }
    // A keyless operation under the kv model, which needs keys.
    let keyless =
        "{\"index\":0,\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n";
    let path = write(dir.path(), "kv.jsonl", keyless);
    faultline()
        .args(["check", "--model", "kv"])
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("kv.jsonl:1: field key is missing"));
    // EDN: a missing :process, and :index on some operations only.
    let path = write(
        dir.path(),
        "np.edn",
        "[{:process 0 :type :invoke :f :read :value nil}\n {:type :ok :f :read :value nil}]",
    );
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("np.edn:2:"))
        .stderr(contains("field :process is missing"));
    let path = write(
        dir.path(),
        "ni.edn",
        "{:index 0 :process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value nil}\n",
    );
    faultline()
        .arg("check")
        .arg(&path)
        .assert()
        .code(3)
        .stderr(contains("ni.edn:2:"))
        .stderr(contains("field :index is missing"));
}

// Regression: out-of-order indexes, time going backwards and a process reused after
// its info passed `check` (the well-formedness rules ran only in `test`).
#[test]
fn check_applies_the_well_formedness_rules_of_test() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = STALE.lines().map(str::to_string).collect();
    let edit = |i: usize, from: &str, to: &str| -> String {
        let mut l = lines.clone();
        l[i] = l[i].replacen(from, to, 1);
        l.iter().map(|l| format!("{l}\n")).collect()
    };
    let cases = [
        (
            "order.jsonl",
            edit(3, "\"index\":3", "\"index\":1"),
            4,
            "index 1 does not increase",
        ),
        (
            "time.jsonl",
            edit(3, "\"time\":4", "\"time\":1"),
            4,
            "time 1 goes backwards",
        ),
        (
            "reuse.jsonl",
            edit(6, "\"type\":\"ok\"", "\"type\":\"info\""),
            8,
            "process 3 invokes again after its info at index 6",
        ),
    ];
    for (name, text, line, what) in cases {
        let path = write(dir.path(), name, &text);
        faultline()
            .arg("check")
            .arg(&path)
            .assert()
            .code(3)
            .stderr(contains("not well-formed"))
            .stderr(contains(format!("{name}:{line}: {what}")));
    }
}

// Regression: a single-key EDN history showed its counterexample as key "", and the
// lost-write line printed Rust debug output and counts that did not add up.
#[test]
fn words_not_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let edn = "[{:process 0 :type :invoke :f :write :value 1}\n \
               {:process 0 :type :ok :f :write :value 1}\n \
               {:process 1 :type :invoke :f :read :value nil}\n \
               {:process 1 :type :ok :f :read :value 3}]\n";
    let path = write(dir.path(), "single.edn", edn);
    let out = faultline().arg("check").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("key \"\""), "{stdout}");
    assert!(stdout.contains("operations on no keys"), "{stdout}");
    assert!(
        stdout.contains("shown as [a..b]") && stdout.matches("[a..b]").count() == 1,
        "the notation is explained once: {stdout}"
    );
    // A set history: element 1 acknowledged and lost; element 2 indeterminate but
    // seen by the last read (so it happened; no read came after that one); element 3
    // indeterminate and never seen.
    let set = [
        (0, 1, "invoke", "add", "1"),
        (1, 1, "ok", "add", "1"),
        (2, 2, "invoke", "add", "2"),
        (3, 2, "info", "add", "2"),
        (4, 3, "invoke", "add", "3"),
        (5, 3, "info", "add", "3"),
        (6, 4, "invoke", "read", "null"),
        (7, 4, "ok", "read", "[2]"),
    ];
    let text: String = set
        .iter()
        .map(|(i, p, t, f, v)| {
            format!("{{\"index\":{i},\"time\":{i},\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"key\":\"s\",\"value\":{v}}}\n")
        })
        .collect();
    let path = write(dir.path(), "set.jsonl", &text);
    let out = faultline().arg("check").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for debug in ["Some(", "None", "Lost", "NeverRead"] {
        assert!(
            !stdout.contains(debug),
            "no debug formatting ({debug}): {stdout}"
        );
    }
    assert!(
        stdout.contains(
            "3 adds attempted: 1 acknowledged, 1 indeterminate but read later, 1 indeterminate \
             and never read; of the 2 known to have happened: 0 ok, 1 lost, 0 stale, 1 never read"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\nkey s: lost write: p4 read"), "{stdout}");
    assert!(
        stdout.contains("key s element 1: lost (added at index 0, last read containing it at none, last read missing it at 7)"),
        "{stdout}"
    );
}
