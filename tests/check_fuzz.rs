//! Fuzz-style test of `faultline check`: valid and invalid JSONL and EDN histories are
//! mutated (byte flips, digit changes, edits of one checked field of one line,
//! truncations, splices of lines or bytes of another history, dropped and repeated
//! lines) and every mutant is checked twice, from a file and from a pipe (`check -`).
//! For every mutant:
//!
//! - no panic: the exit code is 0, 1, 2 or 3 and nothing says "panicked";
//! - the same verdict, output and error from the pipe as from the file;
//! - `VALID` only when the history really is valid: the mutant must parse, be
//!   well-formed, and be linearizable by an independent brute-force search written
//!   here (a CAS register per key, Jepsen semantics), so a mutation of a checked field
//!   (a value, a key, a type, a process, an index) can never slip through as valid.
//!
//! One seed drives every mutation; the number of mutants is fixed.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value as Json;
use workloads::edn::{parse_edn, ImportOptions};
use workloads::history::{parse_jsonl, Op, OpType, Process, Value};

/// The seed of every mutation.
const SEED: u64 = 22;
/// Mutants per base history.
const MUTANTS: usize = 100;

const JSONL_VALID: &str = r#"{"index":0,"time":1,"process":1,"type":"invoke","f":"write","key":"a","value":1}
{"index":1,"time":2,"process":1,"type":"ok","f":"write","key":"a","value":1}
{"index":2,"time":3,"process":2,"type":"invoke","f":"read","key":"a","value":null}
{"index":3,"time":4,"process":3,"type":"invoke","f":"cas","key":"a","value":[1,2]}
{"index":4,"time":5,"process":2,"type":"ok","f":"read","key":"a","value":1}
{"index":5,"time":6,"process":"nemesis","type":"info","f":"start-partition","value":{"nodes":["n1"]}}
{"index":6,"time":7,"process":3,"type":"info","f":"cas","key":"a","value":[1,2],"error":"timeout"}
{"index":7,"time":8,"process":4,"type":"invoke","f":"write","key":"b","value":5}
{"index":8,"time":9,"process":4,"type":"fail","f":"write","key":"b","value":5}
{"index":9,"time":10,"process":5,"type":"invoke","f":"read","key":"b","value":null}
{"index":10,"time":11,"process":5,"type":"ok","f":"read","key":"b","value":null}
{"index":11,"time":12,"process":6,"type":"invoke","f":"read","key":"a","value":null}
{"index":12,"time":13,"process":6,"type":"ok","f":"read","key":"a","value":2}
"#;

const JSONL_INVALID: &str = common::STALE_READ_JSONL;

const EDN_VALID: &str = "[{:process 0 :type :invoke :f :write :value 1}
 {:process 0 :type :ok :f :write :value 1}
 {:process 1 :type :invoke :f :cas :value [1 2]}
 {:process :nemesis :type :info :f :kill :value nil}
 {:process 1 :type :ok :f :cas :value [1 2]}
 {:process 2 :type :invoke :f :read :value nil}
 {:process 2 :type :ok :f :read :value 2}]
";

const EDN_INVALID: &str = "{:process 0 :type :invoke :f :write :value [:x 1] :index 0 :time 5}
{:process 0 :type :ok :f :write :value [:x 1] :index 1 :time 6}
{:process 1 :type :invoke :f :write :value [:x 2] :index 2 :time 7}
{:process 1 :type :ok :f :write :value [:x 2] :index 3 :time 8}
{:process 2 :type :invoke :f :read :value [:x nil] :index 4 :time 9}
{:process 2 :type :ok :f :read :value [:x 1] :index 5 :time 10}
";

/// What one `faultline check` said.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Removes the timing (`; 12 ms)`) so two runs of the same check compare equal.
fn without_timing(s: &str) -> String {
    s.lines()
        .map(|l| match (l.rfind("; "), l.ends_with(" ms)")) {
            (Some(at), true) => format!("{})", &l[..at]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const ARGS: [&str; 4] = ["--model", "cas-register", "--time-limit", "20s"];

fn check_file(path: &Path) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .args(ARGS)
        .arg(path)
        .output()
        .expect("run faultline check");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: without_timing(&String::from_utf8_lossy(&out.stdout)),
        // The file's name, as the pipe's would be named.
        stderr: String::from_utf8_lossy(&out.stderr).replace(&*path.to_string_lossy(), "<stdin>"),
    }
}

fn check_pipe(bytes: &[u8]) -> Outcome {
    let args: Vec<&str> = ["check"].into_iter().chain(ARGS).chain(["-"]).collect();
    let out = common::faultline_with_stdin(&args, bytes);
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: without_timing(&String::from_utf8_lossy(&out.stdout)),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Bytes a flip writes: mostly characters that keep the text plausible.
const INTERESTING: &[u8] = b"0123456789{}[]\":,- \nabcdefiknoprstuvwxyz:";

/// One seeded mutation of `base`, possibly splicing in parts of `other`.
fn mutate(rng: &mut ChaCha8Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let lines = |b: &[u8]| -> Vec<Vec<u8>> {
        b.split_inclusive(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    match rng.random_range(0..9) {
        6 | 7 => {
            // One checked field of one JSONL line set to another plausible value; for
            // EDN (not JSON), one digit changed.
            let mut a = lines(base);
            let at = rng.random_range(0..a.len());
            match serde_json::from_slice::<Json>(&a[at]) {
                Ok(Json::Object(mut fields)) => {
                    let (name, value) = match rng.random_range(0..7) {
                        0 => ("value", Json::from(rng.random_range(0..4))),
                        1 => ("value", Json::Null),
                        2 => ("key", Json::from(["a", "b", "k7"][rng.random_range(0..3)])),
                        3 => (
                            "type",
                            Json::from(["invoke", "ok", "fail", "info"][rng.random_range(0..4)]),
                        ),
                        4 => ("process", Json::from(rng.random_range(1..7))),
                        5 => (
                            "f",
                            Json::from(["read", "write", "cas"][rng.random_range(0..3)]),
                        ),
                        _ => ("index", Json::from(rng.random_range(0..14))),
                    };
                    fields.insert(name.to_string(), value);
                    a[at] = format!("{}\n", Json::Object(fields)).into_bytes();
                    a.concat()
                }
                _ => {
                    let mut out = base.to_vec();
                    let digits: Vec<usize> = (0..out.len())
                        .filter(|&i| out[i].is_ascii_digit())
                        .collect();
                    let i = digits[rng.random_range(0..digits.len())];
                    out[i] = b'0' + rng.random_range(0..10u8);
                    out
                }
            }
        }
        0 | 1 => {
            // One to three byte flips.
            let mut out = base.to_vec();
            for _ in 0..rng.random_range(1..=3) {
                let at = rng.random_range(0..out.len());
                out[at] = if rng.random_bool(0.8) {
                    INTERESTING[rng.random_range(0..INTERESTING.len())]
                } else {
                    rng.random()
                };
            }
            out
        }
        2 => base[..rng.random_range(0..base.len())].to_vec(),
        3 => {
            // Lines of the other history replace a run of lines.
            let (mut a, b) = (lines(base), lines(other));
            let at = rng.random_range(0..a.len());
            let len = rng.random_range(0..=(a.len() - at).min(3));
            let from = rng.random_range(0..b.len());
            let take = rng.random_range(1..=(b.len() - from).min(3));
            a.splice(at..at + len, b[from..from + take].iter().cloned());
            a.concat()
        }
        4 => {
            // Bytes of the other history spliced in at any offset.
            let at = rng.random_range(0..base.len());
            let cut = rng.random_range(at..base.len());
            let from = rng.random_range(0..other.len());
            let to = rng.random_range(from..other.len());
            [&base[..at], &other[from..to], &base[cut..]].concat()
        }
        _ => {
            // A line dropped or repeated.
            let mut a = lines(base);
            let at = rng.random_range(0..a.len());
            if rng.random_bool(0.5) {
                a.remove(at);
            } else {
                let line = a[at].clone();
                a.insert(at, line);
            }
            a.concat()
        }
    }
}

/// The operations of a mutant, parsed as JSONL or else as EDN.
fn parse_any(bytes: &[u8]) -> Option<Vec<Op>> {
    let path = Path::new("mutant");
    parse_jsonl(bytes, path, true)
        .map(|(ops, _)| ops)
        .ok()
        .or_else(|| parse_edn(bytes, path, ImportOptions::default()).ok())
}

/// One client operation for the brute-force search.
#[derive(Debug, Clone)]
struct Event {
    /// History positions of the invocation and completion (`u64::MAX`: unknown).
    call: u64,
    ret: u64,
    f: String,
    /// Argument (write, cas) as JSON.
    input: Json,
    /// Result (reads that completed ok) as JSON.
    output: Option<Json>,
}

impl Event {
    fn new(inv: &Op, call: usize, ret: Option<usize>, output: Option<&Value>) -> Event {
        Event {
            call: call as u64,
            ret: ret.map_or(u64::MAX, |r| r as u64),
            f: inv.f.clone(),
            input: inv.value.to_json(),
            output: output.map(Value::to_json),
        }
    }
}

/// Whether `ops` is a well-formed history that a CAS register per key accepts,
/// decided without the checker's code: Jepsen pairing, then a search over every order
/// that respects real time, where an `info` operation may take effect or not.
fn really_valid(ops: &[Op]) -> bool {
    let mut pending: HashMap<u64, (usize, &Op)> = HashMap::new();
    let mut retired: Vec<u64> = Vec::new();
    let mut by_key: HashMap<Option<String>, Vec<Event>> = HashMap::new();
    let keyed = ops.iter().any(|o| !o.is_nemesis() && o.key.is_some());
    let mut last_time = 0;
    for (pos, op) in ops.iter().enumerate() {
        if pos > 0 && op.index <= ops[pos - 1].index {
            return false;
        }
        let Process::Client(p) = op.process else {
            continue;
        };
        if op.time < last_time || keyed != op.key.is_some() {
            return false;
        }
        last_time = op.time;
        match op.op_type {
            OpType::Invoke => {
                if retired.contains(&p) || pending.insert(p, (pos, op)).is_some() {
                    return false;
                }
            }
            t => {
                let Some((call, inv)) = pending.remove(&p) else {
                    return false;
                };
                if inv.f != op.f || inv.key != op.key {
                    return false;
                }
                let event = match t {
                    OpType::Ok => Event::new(inv, call, Some(pos), Some(&op.value)),
                    OpType::Info => {
                        retired.push(p);
                        Event::new(inv, call, None, None)
                    }
                    _ => continue,
                };
                by_key.entry(op.key.clone()).or_default().push(event);
            }
        }
    }
    for (call, inv) in pending.values() {
        let event = Event::new(inv, *call, None, None);
        by_key.entry(inv.key.clone()).or_default().push(event);
    }
    !by_key.is_empty()
        && by_key
            .values()
            .all(|events| events.len() < 32 && search(events, 0, Json::Null, &mut HashSet::new()))
}

/// Depth-first search: `done` is the set of events already placed (or dropped),
/// `state` the register (`null` before any write); `failed` remembers dead ends.
fn search(events: &[Event], done: u32, state: Json, failed: &mut HashSet<(u32, String)>) -> bool {
    if (0..events.len()).all(|i| done & (1 << i) != 0 || events[i].ret == u64::MAX) {
        return true;
    }
    if !failed.insert((done, state.to_string())) {
        return false;
    }
    for (i, e) in events.iter().enumerate() {
        if done & (1 << i) != 0 {
            continue;
        }
        // Everything that completed before `e` was invoked must come first.
        let blocked = events
            .iter()
            .enumerate()
            .any(|(j, o)| done & (1 << j) == 0 && o.ret < e.call);
        if blocked {
            continue;
        }
        let scalar = |v: &Json| !(v.is_null() || v.is_array() || v.is_object());
        let next = match (e.f.as_str(), &e.input, &e.output) {
            ("write", v, _) if scalar(v) => Some(v.clone()),
            ("cas", Json::Array(v), _) if v.len() == 2 && scalar(&v[1]) => {
                (state == v[0]).then(|| v[1].clone())
            }
            ("read", _, None) => Some(state.clone()),
            ("read", _, Some(r)) => (*r == state).then(|| state.clone()),
            _ => return false,
        };
        if let Some(s) = next {
            if search(events, done | (1 << i), s, failed) {
                return true;
            }
        }
    }
    false
}

#[test]
fn mutated_histories_never_panic_agree_and_are_never_wrongly_valid() {
    assert!(really_valid(&parse_any(JSONL_VALID.as_bytes()).unwrap()));
    assert!(!really_valid(&parse_any(JSONL_INVALID.as_bytes()).unwrap()));
    assert!(really_valid(&parse_any(EDN_VALID.as_bytes()).unwrap()));
    assert!(!really_valid(&parse_any(EDN_INVALID.as_bytes()).unwrap()));

    let dir = tempfile::tempdir().unwrap();
    // No extension: the file's format is sniffed from its bytes, as the pipe's is.
    let path = dir.path().join("mutant");
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let bases = [
        (JSONL_VALID, JSONL_INVALID),
        (JSONL_INVALID, JSONL_VALID),
        (EDN_VALID, EDN_INVALID),
        (EDN_INVALID, EDN_VALID),
    ];
    let mut codes = [0usize; 4];
    for (base, other) in bases {
        for n in 0..MUTANTS {
            let mutant = mutate(&mut rng, base.as_bytes(), other.as_bytes());
            std::fs::write(&path, &mutant).unwrap();
            let text = String::from_utf8_lossy(&mutant);
            let file = check_file(&path);
            let pipe = check_pipe(&mutant);
            assert!(
                (0..=3).contains(&file.code) && !file.stderr.contains("panicked"),
                "mutant {n}: {file:?}\n{text}"
            );
            assert_eq!(file, pipe, "mutant {n}: file and pipe disagree\n{text}");
            codes[file.code as usize] += 1;
            if file.code == 0 {
                let ops = parse_any(&mutant);
                assert!(
                    ops.as_deref().is_some_and(really_valid),
                    "mutant {n} was called VALID but is not:\n{text}\n{}",
                    file.stdout
                );
            }
        }
    }
    eprintln!(
        "{} mutants: {} valid, {} invalid, {} unknown, {} refused",
        4 * MUTANTS,
        codes[0],
        codes[1],
        codes[2],
        codes[3]
    );
    // The mutants reach the checker, not only the parser, and both verdicts occur.
    assert!(
        codes[0] + codes[1] >= MUTANTS / 2 && codes[0] >= 10 && codes[1] >= 10,
        "too few mutants were checked: {codes:?}"
    );
}
