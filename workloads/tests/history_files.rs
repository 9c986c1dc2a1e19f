//! The history files under `tests/data`: Knossos-format mutex and multi-register
//! histories, a Porcupine-style key-value log with string values, register histories
//! in Jepsen's text log format, and histories in the style of Jepsen's etcd register
//! test (also used by `faultline bench-check --files`).
//! Each has a known verdict, checked with and without the symmetry reduction.
//!
//! The etcd-style files are the output of [`etcd_history`] for fixed seeds; the test
//! regenerates them and compares, or rewrites them when `FAULTLINE_BLESS=1`.

use std::path::{Path, PathBuf};

use workloads::check::{check_history, CheckOptions, CheckReport, Verdict};
use workloads::edn::{read_edn, ImportOptions};
use workloads::history::{read_jsonl, HistoryWriter, Op, OpType};
use workloads::jepsen_log::read_jepsen_log;
use workloads::model::ModelKind;
use workloads::synth::{etcd_history, EtcdConfig};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Checks with and without symmetry; both reports must agree on the verdict.
fn check(ops: &[Op]) -> CheckReport {
    let with = check_history(ops, &CheckOptions::default()).expect("checkable history");
    let without = check_history(
        ops,
        &CheckOptions {
            symmetry: false,
            ..CheckOptions::default()
        },
    )
    .expect("checkable history");
    assert_eq!(with.verdict, without.verdict, "symmetry changes no verdict");
    with
}

fn edn(name: &str) -> CheckReport {
    check(&read_edn(data(name), ImportOptions::default()).expect("readable EDN"))
}

fn summary(r: &CheckReport) -> &str {
    &r.checkers.linearizable.counterexamples[0].summary
}

#[test]
fn knossos_mutex_histories() {
    let r = edn("knossos/mutex-valid.edn");
    assert_eq!((r.model, r.verdict), (ModelKind::Mutex, Verdict::Valid));
    let r = edn("knossos/mutex-double-acquire.edn");
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(
        summary(&r).contains("double acquire: the lock is held by p0"),
        "{}",
        summary(&r)
    );
    let r = edn("knossos/mutex-release-by-non-holder.edn");
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(
        summary(&r).contains("release by a non-holder: the lock is held by p0"),
        "{}",
        summary(&r)
    );
}

#[test]
fn knossos_multi_register_histories() {
    let r = edn("knossos/txn-valid.edn");
    assert_eq!(
        (r.model, r.verdict),
        (ModelKind::MultiRegister, Verdict::Valid)
    );
    let r = edn("knossos/txn-fractured-read.edn");
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(
        summary(&r).contains("txn [read x → 1, read y → nil]"),
        "{}",
        summary(&r)
    );
    assert!(summary(&r).contains("but"), "{}", summary(&r));
}

#[test]
fn string_valued_key_value_log() {
    let r = check(&read_jsonl(data("knossos/kv-strings.jsonl")).expect("readable JSONL"));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.checkers.linearizable.invalid_keys, vec!["x".to_string()]);
    let s = summary(&r);
    assert!(s.contains("p1 read → \"apple\""), "{s}");
    assert!(s.contains("p2 write \"banana\""), "{s}");
}

#[test]
fn jepsen_text_logs() {
    let ops = read_jepsen_log(data("jepsen/valid.log")).expect("readable log");
    let timed_out = ops
        .iter()
        .find(|o| o.op_type == OpType::Info)
        .expect("a timed-out operation");
    assert_eq!(
        (timed_out.f.as_str(), &timed_out.value),
        ("cas", &workloads::history::Value::Ints(vec![1, 3])),
        "an info completion keeps its invocation's argument"
    );
    // The read of 3 is explained only by the timed-out CAS taking effect.
    let r = check(&ops);
    assert_eq!(
        (r.model, r.verdict),
        (ModelKind::CasRegister, Verdict::Valid)
    );
    assert_eq!(r.stats.indeterminate, 1);
    let r = check(&read_jepsen_log(data("jepsen/stale-read.log")).expect("readable log"));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(summary(&r).contains("p2 read → 4"), "{}", summary(&r));
}

/// The etcd-style files: (seed, operations).
const ETCD: [(u64, usize); 9] = [
    (1, 30),
    (2, 40),
    (3, 50),
    (4, 60),
    (5, 60),
    (4, 100),
    (5, 100),
    (6, 100),
    (3, 150),
];

fn etcd_file(seed: u64, ops: usize, invalid: bool) -> PathBuf {
    let kind = if invalid { "invalid" } else { "valid" };
    data(&format!("etcd/etcd-{ops}-{seed}-{kind}.jsonl"))
}

#[test]
fn etcd_style_histories() {
    let bless = std::env::var("FAULTLINE_BLESS").is_ok_and(|v| v == "1");
    for (seed, ops) in ETCD {
        for invalid in [false, true] {
            let h = etcd_history(&EtcdConfig {
                seed,
                ops,
                processes: 5,
                crash_rate: 0.05,
                partitioned: 0.5,
                invalid,
            });
            let path = etcd_file(seed, ops, invalid);
            if bless {
                std::fs::create_dir_all(path.parent().expect("a folder")).unwrap();
                let mut w = HistoryWriter::create(&path).unwrap();
                for op in &h {
                    w.append(op).unwrap();
                }
                w.flush().unwrap();
            }
            let stored = read_jsonl(&path).expect("the file exists (FAULTLINE_BLESS=1 writes it)");
            assert_eq!(stored, h, "{} is the generator's output", path.display());
            let r = check(&stored);
            let expected = if invalid {
                Verdict::Invalid
            } else {
                Verdict::Valid
            };
            assert_eq!(r.verdict, expected, "{}", path.display());
            assert!(r.stats.indeterminate > 0, "crashed operations left open");
        }
    }
}
