//! The reductions of the linearizability search ([`crate::linear::search`]) for
//! histories with many indeterminate operations, such as Jepsen's etcd register test
//! (values 0..4, crashed operations left open): symmetry between interchangeable
//! operations, subsumption between configurations that used different sets of
//! indeterminate operations, and the order candidates are tried in. All three are on
//! together (`CheckOptions::symmetry`; `bench-check --no-symmetry` switches them off to
//! measure what they buy).
//!
//! # The rules
//!
//! A *configuration* of the search is the set `L` of operations linearized so far and
//! the model state `s` they lead to; its *candidates* are the unlinearized operations
//! invoked before the earliest return of an unlinearized completed operation. Write
//! `L = D ∪ I` with `D` completed and `I` indeterminate operations.
//!
//! 1. **Symmetry.** Two operations `i` and `j` of one part are *interchangeable* when the
//!    model gives them the same effect in every state ([`Model::same_effect`]: by
//!    default the same key, input and output, e.g. two `info` writes of 3, or two reads
//!    that returned 3). Operation `i` *dominates* `j` when they are interchangeable, `i`
//!    was invoked first (`call_i < call_j`) and `i` returned no later than `j`
//!    (`ret_i ≤ ret_j`, an indeterminate operation returning at infinity). A candidate
//!    `j` is skipped while one of its dominators is not linearized. So of `k` identical
//!    open writes only the count linearized matters: they go in invocation order.
//! 2. **Subsumption.** Lowe's cache skips a configuration `(D, I, s)` when it holds
//!    `(D, I′, s)` with `I′ ⊆ I` (the plain search needs `I′ = I`): having used fewer
//!    crashed operations to reach the same state, with the same completed operations
//!    done, leaves more choices.
//! 3. **Order.** From each configuration the completed candidates are tried before the
//!    indeterminate ones, so the configurations that use few crashed operations are
//!    explored (and cached) first and subsume the others.
//!
//! # Why the search stays exact
//!
//! A search that answers "linearizable" has built a linearization step by step, so
//! only the other direction needs an argument: if the history is linearizable, the
//! search does not end stuck. A *completion* of a configuration is a sequence of
//! operations that, appended to it, makes a linearization of the whole history (all
//! completed operations linearized, each operation after the ones that returned before
//! it was invoked, every step legal in the model).
//!
//! Suppose the search ends stuck although the start has a completion. Then every
//! configuration it visited (pushed, and cached) was explored to the end. Among the
//! visited configurations that have a completion, take `c` with the shortest one,
//! `σ = x, σ₂, …, σₖ` (`k ≥ 1`, or the search would have stopped at `c` with success).
//! `x` is a candidate of `c` and the model can step it. When `c` was explored:
//!
//! - If `x` was tried, `c·x` has the completion `σ₂, …, σₖ` of length `k − 1`, and it
//!   was either visited (contradicting the choice of `c`) or skipped because the cache
//!   held a configuration `b = (D, I′, s)` covering it, `I′ ⊆ I`. Then `σ₂, …, σₖ` is a
//!   completion of `b` too: `b` has the same state and the same completed operations
//!   still to place, hence the same candidates at every step but for extra
//!   indeterminate ones (which constrain nothing: they have no return), and its
//!   unused indeterminate operations are a superset of `c·x`'s. `b` was visited: a
//!   contradiction again.
//! - If `x` was skipped by rule 1, a dominator `i` of `x` is unlinearized. Take the
//!   earliest-invoked such chain `x ← i ← i′ …` ending in an operation that is not
//!   skipped (invocations decrease along it, so it ends); each is a candidate, since
//!   it was invoked before `x`. One swap per link turns `σ` into a completion of the
//!   same length starting with that operation: in `x, …, i, …` exchange `x` and `i`
//!   (every model state along the way is unchanged, as they step every state alike;
//!   `i` may go first, as it is a candidate; `x` may take `i`'s place, which came
//!   before `ret_i ≤ ret_x`, so `x` still precedes its return; no other operation
//!   moves); if `i` does not occur in `σ`, it is indeterminate (`ret_i` is infinite,
//!   so is `ret_x`, and `x` is too), and `i, σ₂, …, σₖ` is a completion. That
//!   operation was tried, and the first case applies to it.
//!
//! Rule 3 only changes the order in which candidates are tried, which the argument
//! does not use. Checking only some of `j`'s dominators is sound too (it just skips
//! less), which bounds the work per candidate; dominators that returned before `j` was
//! invoked are left out, since whenever `j` is a candidate they are linearized. The
//! counterexample of an invalid history comes from the same search, so it still names
//! an operation that no linearization of the history before it can be extended by.
//!
//! # What they buy
//!
//! Without them the search may linearize any subset of the open operations in any
//! order before each completed one: `k` crashed writes and CASes give up to `2^k`
//! configurations per point, and an invalid history must exhaust them all. With them,
//! `k` identical open writes give `k + 1` choices, and of the subsets of different
//! ones that lead to one state only the minimal ones are explored. On etcd-style
//! histories of 60–100 operations that are invalid this is the difference between
//! seconds and a millisecond (`faultline bench-check --only etcd`).

use crate::fxhash::hash_of;
use crate::model::{Model, Operation};

/// At most this many dominators are kept per operation (the nearest by invocation).
const MAX_DOMINATORS: usize = 8;
/// At most this many earlier interchangeable operations are looked at per operation,
/// so that a part with a huge class (say 100,000 reads of one value) costs linear time.
const MAX_SCAN: usize = 64;

/// For every operation of a part, the operations that dominate it.
pub struct Dominators {
    /// `start[id]..start[id + 1]` indexes `of` for operation `id`.
    start: Vec<u32>,
    /// Dominator ids, grouped per operation.
    of: Vec<u32>,
}

impl Dominators {
    /// Computes the dominators of `ops` (one part, ids `0..ops.len()`).
    pub fn new<M: Model>(model: &M, ops: &[Operation]) -> Dominators {
        // Interchangeable candidates have equal (key, input, output), hence equal hashes:
        // sorting by hash, then id, lays each class out in invocation order (ids are).
        let mut order: Vec<(u64, u32)> = ops
            .iter()
            .map(|o| (hash_of(&(o.key, &o.input, &o.output)), o.id as u32))
            .collect();
        order.sort_unstable();
        // (dominated, dominator) pairs.
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for run in order.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
            for (at, &(_, j)) in run.iter().enumerate() {
                let oj = &ops[j as usize];
                let mut found = 0;
                // Earlier members, nearest first.
                for &(_, i) in run[..at].iter().rev().take(MAX_SCAN) {
                    let oi = &ops[i as usize];
                    if oi.call < oj.call
                        && oi.ret <= oj.ret
                        && oi.ret > oj.call
                        && (oi.key, &oi.input, &oi.output) == (oj.key, &oj.input, &oj.output)
                        && model.same_effect(oi, oj)
                    {
                        pairs.push((j, i));
                        found += 1;
                        if found == MAX_DOMINATORS {
                            break;
                        }
                    }
                }
            }
        }
        pairs.sort_unstable();
        assert!(
            pairs.len() < u32::MAX as usize,
            "dominator lists fit in u32"
        );
        let mut start = vec![0u32; ops.len() + 1];
        for &(j, _) in &pairs {
            start[j as usize + 1] += 1;
        }
        for id in 0..ops.len() {
            start[id + 1] += start[id];
        }
        Dominators {
            start,
            of: pairs.into_iter().map(|(_, i)| i).collect(),
        }
    }

    /// No dominators at all (the reduction switched off).
    pub fn none(n: usize) -> Dominators {
        Dominators {
            start: vec![0; n + 1],
            of: Vec::new(),
        }
    }

    /// Whether operation `id` must be skipped: a dominator of it is not linearized in
    /// `bits` (one bit per operation id).
    pub fn skip(&self, id: usize, bits: &[u64]) -> bool {
        let (a, b) = (self.start[id] as usize, self.start[id + 1] as usize);
        self.of[a..b]
            .iter()
            .any(|&i| bits[i as usize / 64] & (1 << (i % 64)) == 0)
    }

    /// How many operations have at least one dominator.
    pub fn dominated(&self) -> usize {
        self.start.windows(2).filter(|w| w[1] > w[0]).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CasRegister, Input, Output};

    fn op(id: usize, call: u64, ret: u64, input: Input, output: Output) -> Operation {
        Operation {
            id,
            key: 0,
            process: id as u64,
            call,
            ret,
            input,
            output,
            invoke_index: call,
            complete_index: (ret != u64::MAX).then_some(ret),
        }
    }

    #[test]
    fn identical_open_writes_are_chained_in_call_order() {
        let ops = vec![
            op(0, 0, u64::MAX, Input::Write(3), Output::Unknown),
            op(1, 1, u64::MAX, Input::Write(3), Output::Unknown),
            op(2, 2, u64::MAX, Input::Write(4), Output::Unknown),
            op(3, 3, 9, Input::Write(3), Output::Done),
            op(4, 4, 5, Input::Read, Output::Value(Some(3))),
            op(5, 6, 8, Input::Read, Output::Value(Some(3))),
        ];
        let d = Dominators::new(&CasRegister::default(), &ops);
        let all = vec![0u64];
        assert!(!d.skip(0, &all));
        assert!(d.skip(1, &all), "the earlier open write 3 goes first");
        assert!(!d.skip(1, &[0b1]));
        assert!(!d.skip(2, &all), "a different value is not interchangeable");
        assert!(
            !d.skip(3, &all),
            "a completed write is not dominated by open ones (they return later)"
        );
        assert!(
            !d.skip(5, &all),
            "read 4 returned before read 5 was invoked: not a dominator"
        );
        assert_eq!(d.dominated(), 1);
        assert!(!Dominators::none(ops.len()).skip(1, &all));
    }
}
