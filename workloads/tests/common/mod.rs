//! Helpers shared by the checker's oracle tests: a history builder, a brute-force
//! search over every order, and a replay into stateright's linearizability tester.

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use workloads::history::{Op, OpType, Process, Value, CAS_MISMATCH};
use workloads::model::Operation;

/// Appends the next operation of client process `p` to `h` (index and time: its
/// position).
pub fn push(h: &mut Vec<Op>, p: u64, t: OpType, f: &str, value: Value) {
    h.push(Op::client(h.len() as u64, p, t, f, value));
}

/// Brute force: every order of every subset of indeterminate operations, stepping a
/// nondeterministic specification (`succ` lists the possible next states).
pub fn brute_force<S: Clone>(
    ops: &[Operation],
    init: S,
    succ: &dyn Fn(&S, &Operation) -> Vec<S>,
) -> bool {
    fn go<S: Clone>(
        ops: &[Operation],
        placed: &mut [bool],
        s: S,
        succ: &dyn Fn(&S, &Operation) -> Vec<S>,
    ) -> bool {
        if ops
            .iter()
            .zip(placed.iter())
            .all(|(o, &p)| p || o.is_indeterminate())
        {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] || (0..ops.len()).any(|j| !placed[j] && j != i && ops[j].ret < ops[i].call)
            {
                continue;
            }
            for next in succ(&s, &ops[i]) {
                placed[i] = true;
                if go(ops, placed, next, succ) {
                    return true;
                }
                placed[i] = false;
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], init, succ)
}

/// Replays a history into stateright's tester, leaving failed operations out, except a
/// cas that failed with [`CAS_MISMATCH`]: it compared, so it returns (`ret_of` sees its
/// `fail` completion).
pub fn stateright<T>(
    h: &[Op],
    spec: T,
    op_of: impl Fn(&Op) -> T::Op,
    ret_of: impl Fn(&Op) -> T::Ret,
) -> bool
where
    T: SequentialSpec + Clone + std::fmt::Debug,
    T::Op: Clone + std::fmt::Debug,
    T::Ret: Clone + std::fmt::Debug + PartialEq,
{
    let mut invoked_at: HashMap<u64, usize> = HashMap::new();
    let mut failed: HashSet<usize> = HashSet::new();
    for (i, op) in h.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        match op.op_type {
            OpType::Invoke => {
                invoked_at.insert(p, i);
            }
            OpType::Fail if op.error.as_deref() != Some(CAS_MISMATCH) => {
                failed.insert(invoked_at[&p]);
            }
            _ => {}
        }
    }
    let mut t = LinearizabilityTester::new(spec);
    let mut live: HashSet<u64> = HashSet::new();
    for (i, op) in h.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        match op.op_type {
            OpType::Invoke if !failed.contains(&i) => {
                t.on_invoke(p, op_of(op)).expect("valid history shape");
                live.insert(p);
            }
            OpType::Ok | OpType::Fail if live.remove(&p) => {
                t.on_return(p, ret_of(op)).expect("valid history shape");
            }
            _ => {}
        }
    }
    t.is_consistent()
}
