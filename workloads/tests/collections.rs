//! The set and list-append models: the linearizability search against a brute-force
//! search over every order (and every subset of indeterminate operations), on
//! thousands of small random histories; and the lost-write checker on the same
//! histories (it never calls invalid what is linearizable).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use workloads::check::{check_history, CheckOptions, Verdict};
use workloads::history::{Op, OpType, Value};
use workloads::model::{List, Model, ModelKind, Operation, Set};
use workloads::prepare::{prepare, PrepareError};

mod common;

fn brute_force<M: Model>(model: &M, ops: &[Operation]) -> bool {
    common::brute_force(ops, model.init(), &|s, op| {
        model.step(s, op).into_iter().collect()
    })
}

/// Random add (or append) / read histories over elements 1..=4, reads returning a
/// random subset in random order, sometimes the true contents.
fn random_history(rng: &mut ChaCha8Rng, f: &str) -> Vec<Op> {
    let n = rng.random_range(1..=7);
    let mut truth: Vec<i64> = Vec::new();
    let mut h = Vec::new();
    let mut pending: Vec<Option<(bool, i64)>> = vec![None; 3];
    let mut procs: Vec<u64> = vec![0, 1, 2];
    let mut next_proc = 3;
    let mut started = 0;
    let mut next_elem = 1;
    while started < n || pending.iter().any(Option::is_some) {
        let slot = rng.random_range(0..3);
        let p = procs[slot];
        match pending[slot].take() {
            None if started < n => {
                started += 1;
                if rng.random_bool(0.5) {
                    common::push(&mut h, p, OpType::Invoke, f, Value::Int(next_elem));
                    pending[slot] = Some((true, next_elem));
                    next_elem += 1;
                } else {
                    common::push(&mut h, p, OpType::Invoke, "read", Value::Null);
                    pending[slot] = Some((false, 0));
                }
            }
            None => {}
            Some((true, e)) => {
                let roll = rng.random_range(0..10);
                if roll < 2 {
                    if rng.random_bool(0.5) {
                        truth.push(e);
                    }
                    common::push(&mut h, p, OpType::Info, f, Value::Int(e));
                    procs[slot] = next_proc;
                    next_proc += 1;
                } else if roll < 3 {
                    common::push(&mut h, p, OpType::Fail, f, Value::Int(e));
                } else {
                    truth.push(e);
                    common::push(&mut h, p, OpType::Ok, f, Value::Int(e));
                }
            }
            Some((false, _)) => {
                let mut read = truth.clone();
                if rng.random_bool(0.4) {
                    read.retain(|_| rng.random_bool(0.7));
                    if rng.random_bool(0.2) {
                        read.push(rng.random_range(1..=4));
                    }
                    if rng.random_bool(0.2) {
                        read.reverse();
                    }
                }
                common::push(&mut h, p, OpType::Ok, "read", Value::Ints(read));
            }
        }
    }
    h
}

fn run<M: Model>(model: &M, kind: ModelKind, f: &str, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let opts = CheckOptions {
        model: Some(kind),
        ..CheckOptions::default()
    };
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..2000 {
        let h = random_history(&mut rng, f);
        let report = match check_history(&h, &opts) {
            // Every operation failed: nothing to check, and no verdict claimed.
            Err(PrepareError::NoOperations(_)) => continue,
            other => other.expect("well-formed history"),
        };
        let lin = report.checkers.linearizable.verdict;
        let prepared = prepare(&h, kind).unwrap();
        let brute = brute_force(model, &prepared.ops);
        assert_eq!(lin == Verdict::Valid, brute, "case {case}: {h:#?}");
        let lost = report.checkers.lost_writes.expect("runs for collections");
        if brute {
            valid += 1;
            assert_ne!(lost.verdict, Verdict::Invalid, "case {case}: {h:#?}");
        } else {
            invalid += 1;
            assert_eq!(report.verdict, Verdict::Invalid);
        }
    }
    assert!(
        valid > 300 && invalid > 300,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn set_model_agrees_with_brute_force() {
    run(&Set, ModelKind::Set, "add", 5);
}

#[test]
fn list_model_agrees_with_brute_force() {
    run(&List, ModelKind::List, "append", 6);
}
