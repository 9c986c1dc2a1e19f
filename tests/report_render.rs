//! `faultline report` on synthetic run folders: a valid run, an invalid run (a known
//! stale read) and an unknown run; their banners, counterexample, lost writes,
//! junit.xml, the figures added to results.json, the exit code (the run's verdict),
//! re-checking (a run without results.json, `--recompute`, `check --update`), the
//! results index (campaign runs, crashed runs, no symlinks) and its order, and clear
//! errors for folders that are not runs.

mod common;
mod report_common;

use common::names;
use report_common::*;
use serde_json::Value as Json;

/// Renders one run folder, checks that `faultline report` exits with `code` (the
/// run's verdict: 0 valid, 1 invalid, 2 unknown) and returns (report.html, junit.xml).
fn render(dir: &std::path::Path, code: i32) -> (String, String) {
    let out = faultline(&["report", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(code),
        "report: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (read(dir, "report.html"), read(dir, "junit.xml"))
}

#[test]
fn valid_run_shows_valid_banner_and_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg/20261121T100000Z");
    write_run(
        &dir,
        &test_spec("reg", 7),
        Some(&valid_results(7)),
        &valid_history(),
    );
    let (html, junit) = render(&dir, 0);
    assert!(html
        .contains("<header id=\"verdict\" class=\"banner valid\"><div class=\"big\">VALID</div>"));
    assert!(html.contains("seed <b>7</b>"));
    assert!(!html.contains("id=\"counterexample\""));
    assert!(html.contains("id=\"timeline\""));
    assert!(html.contains("href=\"nodes/n1/node.log\""));
    assert!(html.contains(
        "faultline test --test-name reg --db raftkv --workload register --nodes 3 \
         --time-limit 10.0 --concurrency 3 --seed 7 --nemesis kill"
    ));
    for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(external),
            "no network access: found {external}"
        );
    }
    assert!(!junit.contains("<failure"));
    assert!(junit.contains("tests=\"1\" failures=\"0\" errors=\"0\""));
    assert!(junit.contains("name=\"linearizable\""));

    // The figures were added to results.json, computed from the history.
    let results: Json = serde_json::from_str(&read(&dir, "results.json")).unwrap();
    let fig = &results["figures"];
    assert_eq!(fig["ops"]["total"]["invoke"], 5);
    assert_eq!(fig["ops"]["total"]["ok"], 4);
    assert_eq!(fig["ops"]["total"]["info"], 1);
    assert_eq!(fig["ops"]["by_f"]["read"]["ok"], 2);
    assert_eq!(fig["faults"][0]["f"], "kill");
    assert_eq!(fig["faults"][0]["outcome"], "installed");
    assert_eq!(fig["faults"][0]["healed_by"], "restart");
    assert_eq!(fig["availability"]["during_faults"]["total"], 3);
    assert_eq!(fig["availability"]["during_faults"]["ok"], 2);
    assert_eq!(fig["availability"]["after_faults"]["total"], 1);
    assert_eq!(fig["latency_ms"]["write"]["max"], 2.0);
    assert_eq!(
        results["verdict"], "valid",
        "the controller's fields are kept"
    );
}

#[test]
fn invalid_run_shows_counterexample_and_junit_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg/20261121T110000Z");
    // The stale read of k1, checked by the real checker.
    write_run(
        &dir,
        &test_spec("reg", 9),
        Some(&invalid_results(9)),
        &stale_read_history(),
    );
    let (html, junit) = render(&dir, 1);
    assert!(html.contains("class=\"banner invalid\"><div class=\"big\">INVALID</div>"));
    assert!(html.contains("Invalid: linearizable found a violation."));
    assert!(html.contains("<section id=\"counterexample\"><h2>Counterexample (linearizable)</h2>"));
    let cx = &html[html.find("id=\"counterexample\"").unwrap()
        ..html.find("id=\"timeline-section\"").unwrap()];
    // The checker's one-line summary, and the account in plain words.
    assert!(cx.contains("<p class=\"explain\">lost write: p0 read → 1"));
    assert!(cx.contains("p0 read → 1"));
    assert!(cx.contains("The longest linearizable prefix of key k1&#39;s history holds 2 operations; after it the key can be in state 2."));
    // The key's history lines around the failure: only k1 (k2's read is left out),
    // the failing completion (index 7) in red.
    assert!(cx.contains("Operations on key <code>k1</code> around the failure"));
    assert!(!cx.contains("<td>k2</td>"));
    assert!(cx.contains("<tr class=\"fail-row\"><td>7</td>"));
    assert!(cx.contains("The failing operation and the operations concurrent with it"));
    assert!(cx.contains("Longest linearizable prefix"));
    assert!(cx.contains("It holds 2 operations"));
    assert!(cx.contains("p1 write 2"));
    assert!(cx.contains("States the prefix reaches"));
    // The timeline outlines the counterexample's operations.
    assert!(html.contains("class=\"focus\""));
    assert!(junit.contains("tests=\"1\" failures=\"1\""));
    assert!(junit.contains("<failure message=\"key k1: lost write: p0 read → 1"));
}

#[test]
fn lost_write_run_lists_the_lost_elements() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set/20261121T110000Z");
    let ops = lost_add_history();
    let results = checked_results(&ops, workloads::model::ModelKind::Set, 4);
    write_run(&dir, &test_spec("set", 4), Some(&results), &ops);
    let (html, junit) = render(&dir, 1);
    assert!(html.contains("class=\"banner invalid\""));
    assert!(html.contains("<section id=\"lost\"><h2>Lost writes (lost-writes)</h2>"));
    let lost =
        &html[html.find("id=\"lost\"").unwrap()..html.find("id=\"timeline-section\"").unwrap()];
    assert!(lost.contains("1 of 2 acknowledged writes were lost"));
    assert!(lost.contains("<h3>lost (1)</h3>"));
    assert!(lost.contains("<th>element</th>"));
    let row = lost
        .split("<tr>")
        .find(|r| r.contains("<td>lost</td>"))
        .expect("a row for the lost element");
    assert!(
        row.contains("<td>s1</td>") && row.contains("<td>2</td>"),
        "{row}"
    );
    assert!(junit.contains("<failure message=\"of 2 writes known to have happened, 1 lost, 0 read stale, 0 never read\" type=\"invalid\">"));
}

#[test]
fn unknown_run_says_it_proves_nothing_and_errors_in_junit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg/20261121T120000Z");
    write_run(
        &dir,
        &test_spec("reg", 11),
        Some(&unknown_results(11)),
        &valid_history(),
    );
    let (html, junit) = render(&dir, 2);
    assert!(html.contains("class=\"banner unknown\"><div class=\"big\">UNKNOWN</div>"));
    assert!(html.contains("this run proves nothing"));
    assert!(html.contains("node n3 did not stop within 5 s"));
    assert!(junit.contains(
        "<error message=\"undecided (time limit reached): 1 keys could not be checked\" type=\"unknown\">"
    ));
    assert!(junit.contains("name=\"harness\""));
    assert!(junit.contains("errors=\"2\""));
}

// Regression: without results.json the checkers did not run; the page said UNKNOWN
// and `report` exited 0 even for a history with a stale read.
#[test]
fn run_without_results_json_is_rechecked_from_its_history() {
    let tmp = tempfile::tempdir().unwrap();
    // A consistent history of a run that never finished: unknown, never valid.
    let dir = tmp.path().join("reg/20261121T130000Z");
    write_run(&dir, &test_spec("reg", 1), None, &valid_history());
    let (html, junit) = render(&dir, 2);
    assert!(html.contains("class=\"banner unknown\""));
    assert!(html.contains("results.json is missing"));
    assert!(
        html.contains("the run did not finish"),
        "the reason is shown"
    );
    assert!(
        junit.contains("name=\"linearizable\""),
        "the checkers ran: {junit}"
    );
    assert!(
        !dir.join("results.json").exists(),
        "the folder keeps saying the run did not finish"
    );
    // A stale read in the history of a run that never finished: invalid.
    let dir = tmp.path().join("reg/20261121T131000Z");
    write_run(&dir, &test_spec("reg", 1), None, &stale_read_history());
    let (html, junit) = render(&dir, 1);
    assert!(html.contains("class=\"banner invalid\""));
    assert!(junit.contains("lost write: p0 read → 1"), "{junit}");
}

// Regression: `--recompute` recomputed the figures but not the verdicts.
#[test]
fn recompute_runs_the_checkers_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg/20261121T132000Z");
    // results.json claims valid, but the history holds a stale read.
    write_run(
        &dir,
        &test_spec("reg", 1),
        Some(&valid_results(1)),
        &stale_read_history(),
    );
    render(&dir, 0);
    let out = faultline(&["report", "--recompute", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let results: Json = serde_json::from_str(&read(&dir, "results.json")).unwrap();
    assert_eq!(results["verdict"], "invalid");
    assert_eq!(results["seed"], 1, "the other fields are kept");
    assert_eq!(names(&results["checkers"]), ["history", "linearizable"]);
    assert!(read(&dir, "report.html").contains("class=\"banner invalid\""));
}

// Regression: `check RUN_DIR --time-limit 5m` (the README's advice for unknown) did
// not update the run's results.
#[test]
fn check_update_writes_the_new_verdict_into_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg/20261121T133000Z");
    // Unknown for want of time; the history itself is consistent. No harness error.
    let mut unknown = unknown_results(5);
    unknown["harness_errors"] = serde_json::json!([]);
    write_run(&dir, &test_spec("reg", 5), Some(&unknown), &valid_history());
    render(&dir, 2);
    let out = faultline(&[
        "check",
        dir.to_str().unwrap(),
        "--time-limit",
        "5m",
        "--update",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Json = serde_json::from_str(&read(&dir, "results.json")).unwrap();
    assert_eq!(results["verdict"], "valid");
    assert_eq!(results["check"]["verdict"], "valid");
    assert!(read(&dir, "report.html").contains("class=\"banner valid\""));
    assert!(!read(&dir, "junit.xml").contains("<error"));
    // --update needs a run folder.
    let out = faultline(&[
        "check",
        dir.join("history.jsonl").to_str().unwrap(),
        "--update",
    ]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn index_lists_runs_newest_first_coloured_by_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path();
    let runs = [
        ("reg", "20261121T100000Z", valid_results(1)),
        ("set", "20261121T120000Z", unknown_results(2)),
        ("reg", "20261121T110000Z", invalid_results(3)),
    ];
    for (test, stamp, r) in &runs {
        let dir = results.join(test).join(stamp);
        let mut r = r.clone();
        r["started_at"] = Json::from(*stamp);
        write_run(&dir, &test_spec(test, 1), Some(&r), &valid_history());
        let code = match r["verdict"].as_str() {
            Some("valid") => 0,
            Some("invalid") => 1,
            _ => 2,
        };
        render(&dir, code);
    }
    let out = faultline(&["report", "--index", results.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = read(results, "index.html");
    let pos = |s: &str| {
        index
            .find(s)
            .unwrap_or_else(|| panic!("{s} missing from the index"))
    };
    let unknown = pos("<tr class=\"unknown\">");
    let invalid = pos("<tr class=\"invalid\">");
    let valid = pos("<tr class=\"valid\">");
    assert!(unknown < invalid && invalid < valid, "newest first");
    assert!(index.contains("href=\"set/20261121T120000Z/report.html\""));
    assert!(index.contains("3 runs, newest first."));
}

// Regression: the index listed `smoke/latest` (a symlink) as a run, left out campaign
// runs (one level deeper) and dropped runs without results.json (crashed ones).
#[test]
fn index_lists_campaign_and_crashed_runs_but_no_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path();
    let plain = results.join("reg/20261121T100000Z");
    write_run(
        &plain,
        &test_spec("reg", 1),
        Some(&valid_results(1)),
        &valid_history(),
    );
    let campaign = results.join("smoke/r001-register-kill-n3-s1/20261121T110000Z");
    write_run(
        &campaign,
        &test_spec("r001", 2),
        Some(&invalid_results(2)),
        &stale_read_history(),
    );
    let crashed = results.join("reg/20261121T120000Z");
    write_run(&crashed, &test_spec("reg", 3), None, &valid_history());
    std::os::unix::fs::symlink(
        "r001-register-kill-n3-s1/20261121T110000Z",
        results.join("smoke/latest"),
    )
    .unwrap();
    std::os::unix::fs::symlink("reg/20261121T100000Z", results.join("latest")).unwrap();
    // Campaign files next to the runs are not runs.
    std::fs::create_dir_all(results.join("smoke/logs")).unwrap();
    std::fs::write(results.join("smoke/campaign.json"), "{}").unwrap();
    let out = faultline(&["report", "--index", results.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let index = read(results, "index.html");
    assert!(index.contains("3 runs, newest first."), "{index}");
    assert!(!index.contains("latest"), "symlinks are not runs: {index}");
    assert!(
        index.contains("<td>smoke/r001-register-kill-n3-s1</td>"),
        "{index}"
    );
    assert!(
        index.contains("<tr class=\"crashed\"><td class=\"v\">crashed</td><td>reg</td>"),
        "{index}"
    );
    assert!(index.contains("the run crashed or is still running"));
}

// Regression: `report` on a folder that is not a run (or on the results root) wrote
// report.html and junit.xml into it and exited 0.
#[test]
fn report_refuses_a_folder_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let run = results.join("reg/20261121T100000Z");
    write_run(
        &run,
        &test_spec("reg", 1),
        Some(&valid_results(1)),
        &valid_history(),
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for (dir, runs_below) in [
        (&results, true),
        (&results.join("reg"), true),
        (&empty, false),
    ] {
        let out = faultline(&["report", dir.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(
            err.contains(
                "is not a run folder: it has no test.json, no history.jsonl, no results.json"
            ),
            "{err}"
        );
        assert_eq!(
            err.contains("faultline report --index"),
            runs_below,
            "{err}"
        );
        assert!(!dir.join("report.html").exists() && !dir.join("junit.xml").exists());
    }
}

#[test]
fn bad_folders_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = faultline(&["report", tmp.path().join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a run folder"));

    let dir = tmp.path().join("bad");
    write_run(
        &dir,
        &test_spec("bad", 1),
        Some(&valid_results(1)),
        &valid_history(),
    );
    let mut history = read(&dir, "history.jsonl");
    history.push_str("{\"index\":14,\"time\":1,\"process\":0,\"type\":\"bogus\",\"f\":\"read\"}\n");
    std::fs::write(dir.join("history.jsonl"), history).unwrap();
    let out = faultline(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("history.jsonl:15"),
        "names file and line: {err}"
    );
}

#[test]
fn truncated_last_line_is_dropped_and_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cut");
    write_run(
        &dir,
        &test_spec("cut", 1),
        Some(&valid_results(1)),
        &valid_history(),
    );
    let mut history = read(&dir, "history.jsonl");
    history.push_str("{\"index\":14,\"time\":17000000,\"proc");
    std::fs::write(dir.join("history.jsonl"), history).unwrap();
    let (html, _) = render(&dir, 0);
    assert!(html.contains("was truncated"));
}

#[test]
fn rerun_command_uses_flags_that_faultline_test_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg/20261121T140000Z");
    // test.json as the controller writes it: the resolved configuration under `config`
    // (without `client_routing`, as files written before it was recorded: follow-leader).
    let mut test = test_spec("reg", 42);
    test["command_line"] = serde_json::json!(["faultline", "test", "--time-limit", "8"]);
    let config = &mut test["config"];
    for (field, value) in [
        ("nodes", serde_json::json!(5)),
        ("time_limit_s", serde_json::json!(8.0)),
        ("concurrency", serde_json::json!(10)),
        ("nemesis", serde_json::json!(["kill", "pause"])),
        ("nemesis_interval_s", serde_json::json!(2.0)),
        ("keys_per_epoch", serde_json::json!(8)),
        ("ops_per_key", serde_json::json!(300)),
        ("node_args", serde_json::json!(["--bug-x"])),
        ("db_bugs", serde_json::json!(["no-dedup"])),
    ] {
        config[field] = value;
    }
    write_run(&dir, &test, Some(&valid_results(42)), &valid_history());
    let (html, _) = render(&dir, 0);
    let expected = "faultline test --test-name reg --db raftkv --workload register --nodes 5 \
                    --time-limit 8.0 --concurrency 10 --seed 42 --nemesis kill,pause --nemesis-interval 2.0 \
                    --op-timeout-ms 1000 --read-consistency linearizable \
                    --client-routing follow-leader --keys 8 --ops-per-key 300 \
                    --recovery-time 2.0 --leader-timeout 30.0 --mix 1:1:1 --hosts loopback \
                    --db-bug no-dedup --node-arg=--bug-x";
    assert!(html.contains(expected), "rerun command missing");
    assert!(
        html.contains("faultline test --time-limit 8</pre>"),
        "original command line"
    );
    let help = faultline(&["test", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in expected.split_whitespace().filter(|w| w.starts_with("--")) {
        let name = flag.split('=').next().unwrap();
        assert!(help.contains(name), "faultline test has no flag {name}");
    }
}

#[test]
fn run_that_recorded_nothing_still_gets_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("early");
    write_run(&dir, &test_spec("early", 1), Some(&unknown_results(1)), &[]);
    std::fs::remove_file(dir.join("history.jsonl")).unwrap();
    let (html, junit) = render(&dir, 2);
    assert!(html.contains("history.jsonl is missing"));
    assert!(html.contains("The history has no operations."));
    assert!(junit.contains("type=\"unknown\""));
}
