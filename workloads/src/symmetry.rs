//! Symmetry reduction for the linearizability search: of several interchangeable
//! operations that could all be linearized next, try only one.
//!
//! # The rule
//!
//! Two operations `i` and `j` of one part are *interchangeable* when the model gives them
//! the same effect in every state ([`Model::same_effect`]: by default the same key, input
//! and output, e.g. two `info` writes of 3, or two reads that returned 3). Operation `i`
//! *dominates* `j` when they are interchangeable, `i` was invoked first
//! (`call_i < call_j`) and `i` returned no later than `j` (`ret_i ≤ ret_j`, where an
//! indeterminate operation returns at infinity). At a point of the search, a candidate
//! `j` is skipped when one of its dominators is not yet linearized.
//!
//! # Why it is sound
//!
//! The search walks the candidates of a point (the call entries before the first
//! remaining return entry) in call order. If `i` dominates `j`, is not linearized and `j`
//! is a candidate, then `call_i < call_j` puts `i` before `j` in that walk, so `i` was
//! already tried from this very point, and every continuation after it was explored (or
//! cut by Lowe's cache, which only holds configurations already explored without
//! success). It remains to show that if some linearization of the rest of the history
//! starts with `j`, another starts with `i`:
//!
//! - Take a linearization `j, …, i, …` (with `i` at position `p`). Swap the two:
//!   `i, …, j, …`. Every model state along the way is unchanged, because `i` and `j`
//!   step every state alike. `i` may go first: it is callable here (it was invoked
//!   before `j`, which is). `j` may go at `p`: it is callable anywhere from here, and `p`
//!   came before `ret_i ≤ ret_j`, so `j` still precedes its own return. The real-time
//!   constraints of all other operations are untouched.
//! - If `i` does not occur (it is indeterminate and never took effect), then `ret_i` is
//!   infinite, so `ret_j` is too: `j` is indeterminate, and `i, …` with `j` left out is
//!   a linearization.
//!
//! So skipping `j` loses no linearization, and verdicts are unchanged; the cache stays
//! correct because each configuration it records has still been fully explored up to
//! this equivalence. Checking only some of `j`'s dominators is sound too (it just skips
//! less), which bounds the work per candidate.
//!
//! Dominators that returned before `j` was invoked are left out: when `j` is a
//! candidate, every operation whose return precedes `call_j` has been linearized.
//!
//! # What it buys
//!
//! A history like Jepsen's etcd register test (values 0..4, crashed operations left
//! open) accumulates many indeterminate writes and CASes with the same value. Without
//! the rule the search may linearize any subset of them in any order; with it they are
//! linearized in invocation order, so `k` identical open writes give `k + 1` choices
//! instead of `2^k` subsets.

use std::collections::HashMap;

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
        let mut groups: HashMap<(u32, &crate::model::Input, &crate::model::Output), Vec<usize>> =
            HashMap::new();
        for op in ops {
            groups
                .entry((op.key, &op.input, &op.output))
                .or_default()
                .push(op.id);
        }
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); ops.len()];
        for members in groups.values().filter(|m| m.len() > 1) {
            // Members are in invocation order (ops are): scan earlier members nearest first.
            for (at, &j) in members.iter().enumerate() {
                let oj = &ops[j];
                let list = &mut lists[j];
                for &i in members[..at].iter().rev().take(MAX_SCAN) {
                    let oi = &ops[i];
                    if oi.call < oj.call
                        && oi.ret <= oj.ret
                        && oi.ret > oj.call
                        && model.same_effect(oi, oj)
                    {
                        list.push(i as u32);
                        if list.len() == MAX_DOMINATORS {
                            break;
                        }
                    }
                }
            }
        }
        let mut start = Vec::with_capacity(ops.len() + 1);
        let mut of = Vec::new();
        start.push(0);
        for list in lists {
            of.extend(list);
            assert!(of.len() < u32::MAX as usize, "dominator lists fit in u32");
            start.push(of.len() as u32);
        }
        Dominators { start, of }
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
