//! The simulator's command line (`raftkv-sim`, run by `scripts/simulate.sh`):
//! exit codes, figures, and a replayed seed printing the same shrunk trace.

use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raftkv-sim"))
        .args(args)
        .output()
        .expect("raftkv-sim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The output without the lines that carry timings.
fn without_timings(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with("seeds run:") && !l.starts_with("shrunk in"))
        .collect()
}

#[test]
fn the_correct_core_passes_and_prints_its_figures() {
    let o = sim(&["--seeds", "20", "--start", "0"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("seeds run: 20,") && out.contains("violations: 0"),
        "{out}"
    );
    assert!(out.contains("steps/s:"), "{out}");
}

#[test]
fn a_bug_exits_1_with_its_seed_and_a_trace_that_replays_the_same() {
    let args = ["--seed", "0", "--bug", "vote-without-log-check"];
    let first = sim(&args);
    let out = stdout(&first);
    assert_eq!(first.status.code(), Some(1), "{out}");
    assert!(out.contains("violation in seed 0"), "{out}");
    assert!(out.contains("Leader Completeness violated"), "{out}");
    assert!(out.contains("   1. "), "a numbered step list: {out}");
    assert!(
        out.contains("replay: scripts/simulate.sh --seed 0 --bug vote-without-log-check"),
        "{out}"
    );
    let again = sim(&args);
    assert_eq!(
        without_timings(&out),
        without_timings(&stdout(&again)),
        "a replay prints the same violation and trace"
    );
}

#[test]
fn runtime_bugs_and_bad_budgets_are_refused() {
    let o = sim(&["--bug", "stale-read", "--seeds", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a bug of the Raft core"), "{err}");
    let o = sim(&["--minutes", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = sim(&["--bug", "nope"]);
    assert_eq!(o.status.code(), Some(2), "clap rejects an unknown name");
}
