//! The one exit-code contract (0 valid, 1 invalid, 2 unknown, 3 error), checked by
//! running every command that has a verdict: `check`, `report`, `test`, `campaign` and
//! `kv status`; and the same contract written in every `--help` and in the README.
//!
//! Regression: README said a harness failure exits 2 while `campaign --help` said 3,
//! `check --help` listed only 0–2, `report` exited 0 on an unknown run, and
//! `kv status` exited 0 when no endpoint answered.

mod common;
mod report_common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::nodes::LocalNodes;
use report_common::*;
use workloads::history::HistoryWriter;
use workloads::synth::explosive_history;

/// Runs `faultline ARGS` and returns its exit code, with its output for messages.
fn code(args: &[&str]) -> (i32, String) {
    let out = faultline(args);
    let text = format!(
        "faultline {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn assert_code(args: &[&str], want: i32) {
    let (got, text) = code(args);
    assert_eq!(got, want, "{text}");
}

#[test]
fn check_and_report_exit_with_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = [
        ("valid", Some(valid_results(1)), valid_history(), 0),
        ("invalid", Some(invalid_results(1)), stale_read_history(), 1),
        ("unknown", Some(unknown_results(1)), valid_history(), 2),
    ];
    for (name, results, ops, want) in &runs {
        let dir = tmp.path().join(name).join("20261130T000000Z");
        write_run(&dir, &test_spec(name, 1), results.as_ref(), ops);
        let dir = dir.to_str().unwrap();
        assert_code(&["report", dir], *want);
        // `check` judges the history alone: the unknown run's history is consistent.
        assert_code(&["check", dir], if *name == "invalid" { 1 } else { 0 });
    }
    let explosive = tmp.path().join("explosive.jsonl");
    let mut w = HistoryWriter::create(&explosive).unwrap();
    for op in explosive_history(40) {
        w.append(&op).unwrap();
    }
    w.flush().unwrap();
    assert_code(
        &[
            "check",
            "--time-limit",
            "300ms",
            explosive.to_str().unwrap(),
        ],
        2,
    );
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert_code(&["check", empty.to_str().unwrap()], 3);
    assert_code(&["check", "/nonexistent/history.jsonl"], 3);
    assert_code(&["report", tmp.path().to_str().unwrap()], 3);
    assert_code(&["report", "/nonexistent/run"], 3);
    assert_code(&["report", "--index", tmp.path().to_str().unwrap()], 0);
    assert_code(&["check", "--no-such-flag", "x"], 3);
}

#[test]
fn test_and_campaign_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let results = results.to_str().unwrap();
    let journals = tmp.path().join("journals");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .env("FAULTLINE_JOURNAL_INDEX", &journals)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A short valid run, and a harness failure (the nodes exit at once).
    let (c, err) = run(&[
        "test",
        "--nodes",
        "3",
        "--time-limit",
        "2",
        "--results-dir",
        results,
    ]);
    assert_eq!(c, 0, "{err}");
    let (c, err) = run(&[
        "test",
        "--time-limit",
        "2",
        "--node-binary",
        "/bin/false",
        "--leader-timeout",
        "10",
        "--results-dir",
        results,
    ]);
    assert_eq!(c, 3, "{err}");
    let (c, err) = run(&["test", "--nemesis", "flood"]);
    assert_eq!(c, 3, "a usage error: {err}");
    // A campaign: a dry run of a good file, and a bad file.
    let good = tmp.path().join("good.toml");
    std::fs::write(&good, "name = \"x\"\n[[matrix]]\nseeds = [1]\n").unwrap();
    let (c, err) = run(&["campaign", "--dry-run", good.to_str().unwrap()]);
    assert_eq!(c, 0, "{err}");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[[matrix]]\nnodes = \"three\"\n").unwrap();
    let (c, err) = run(&["campaign", "--dry-run", bad.to_str().unwrap()]);
    assert_eq!(c, 3, "{err}");
}

#[test]
fn kv_status_exits_0_when_all_answer_2_when_some_do_3_when_none_do() {
    let dead = format!(
        "127.0.0.1:{}",
        nemesis::free_loopback_ports(1).expect("a free loopback port")[0]
    );
    let (c, text) = code(&["kv", "--timeout-ms", "1000", "--endpoints", &dead, "status"]);
    assert_eq!(c, 3, "{text}");
    assert!(text.contains("none of the 1 endpoints answered"), "{text}");

    let node = LocalNodes::start(1, &[]);
    let live = node.endpoints[0].clone();
    // Wait (bounded) until the node answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    while code(&["kv", "--endpoints", &live, "status"]).0 != 0 {
        assert!(
            Instant::now() < deadline,
            "the node never answered\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let both = format!("{live},{dead}");
    let (c, text) = code(&["kv", "--timeout-ms", "1000", "--endpoints", &both, "status"]);
    assert_eq!(c, 2, "{text}");
    assert!(text.contains("1 of 2 endpoints answered"), "{text}");
}

#[test]
fn every_help_and_the_readme_state_the_same_contract() {
    let contract = "0 valid, 1 invalid, 2 unknown";
    for cmd in [
        vec!["--help"],
        vec!["test", "--help"],
        vec!["check", "--help"],
        vec!["report", "--help"],
        vec!["campaign", "--help"],
    ] {
        let out = faultline(&cmd);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains(contract) && help.contains("3 error"),
            "faultline {}: {help}",
            cmd.join(" ")
        );
    }
    let kv = faultline(&["kv", "--help"]);
    let help = String::from_utf8_lossy(&kv.stdout);
    assert!(
        help.contains("status: 0 every endpoint answered, 2 only some did, 3 none did"),
        "{help}"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        readme.contains(
            "**0** valid, **1** invalid, **2** unknown (a budget ran out, the run was interrupted, \
             or only some endpoints answered; never a silent pass), **3** error"
        ),
        "README states the contract"
    );
}
