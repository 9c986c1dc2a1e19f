//! Knossos' queues: a first-in first-out queue, and an unordered queue (a multiset:
//! a dequeue may return any element), one per key.
//!
//! Histories use `:f :enqueue` with the element as value and `:f :dequeue` with `nil`
//! at invocation and the element taken at `ok`. A dequeue that finds the queue empty
//! completes with `fail` (Jepsen's queue clients) or `ok` with `nil`, which then says
//! the queue was empty. Elements are any scalars ([`crate::values`]). The two models
//! accept the same operations, so which one a history means cannot be guessed: choose
//! with `--model`.
//!
//! An indeterminate dequeue, if it took effect, removed an element nobody saw. In the
//! FIFO queue that is the head. In the unordered queue it may be any element; the model
//! removes one that no `ok` dequeue of the history returns (the smallest), or cannot step
//! when there is none. That choice loses nothing when every element is enqueued at most
//! once per key (as Jepsen's queue workloads do): removing a returned element would make
//! its own dequeue impossible later, and which unreturned element goes changes nothing
//! any later operation can observe, since only their number matters (to an empty dequeue).

use std::collections::{HashSet, VecDeque};

use crate::model::{Input, Model, Operation, Output};
use crate::values::Values;

/// A first-in first-out queue per key.
#[derive(Debug, Clone, Default)]
pub struct FifoQueue;

impl Model for FifoQueue {
    /// Elements from head to tail.
    type State = VecDeque<i64>;

    fn name(&self) -> &'static str {
        "fifo-queue"
    }

    fn init(&self) -> VecDeque<i64> {
        VecDeque::new()
    }

    fn step(&self, state: &VecDeque<i64>, op: &Operation) -> Option<VecDeque<i64>> {
        match (&op.input, &op.output) {
            (Input::Enqueue(e), _) => {
                let mut s = state.clone();
                s.push_back(*e);
                Some(s)
            }
            (Input::Dequeue, Output::Value(Some(e))) => (state.front() == Some(e)).then(|| {
                let mut s = state.clone();
                s.pop_front();
                s
            }),
            (Input::Dequeue, Output::Value(None)) => state.is_empty().then(VecDeque::new),
            (Input::Dequeue, Output::Unknown) => (!state.is_empty()).then(|| {
                let mut s = state.clone();
                s.pop_front();
                s
            }),
            _ => None,
        }
    }

    fn describe_state(&self, state: &VecDeque<i64>, values: &Values) -> String {
        let (a, b) = state.as_slices();
        values.show_list(&[a, b].concat())
    }

    fn why_not(&self, state: &VecDeque<i64>, op: &Operation, values: &Values) -> Option<String> {
        match (&op.input, &op.output, state.front()) {
            (Input::Dequeue, Output::Value(Some(e)), Some(head)) if state.contains(e) => {
                Some(format!("out of order: the head is {}", values.show(*head)))
            }
            (Input::Dequeue, Output::Value(Some(_)), _) => {
                Some("the queue does not hold it".to_string())
            }
            (Input::Dequeue, Output::Value(None), Some(_)) => Some(format!(
                "the queue holds {}",
                self.describe_state(state, values)
            )),
            _ => None,
        }
    }

    fn state_heap_bytes(&self, state: &VecDeque<i64>) -> usize {
        state.capacity() * 8
    }
}

/// A queue per key whose dequeues take any element.
#[derive(Debug, Clone, Default)]
pub struct UnorderedQueue {
    /// `(key, element)` pairs some `ok` dequeue returned.
    claimed: HashSet<(u32, i64)>,
}

impl UnorderedQueue {
    /// The model for a history's operations (it notes which elements `ok` dequeues return).
    pub fn new(ops: &[Operation]) -> UnorderedQueue {
        let claimed = ops
            .iter()
            .filter_map(|o| match (&o.input, &o.output) {
                (Input::Dequeue, Output::Value(Some(e))) => Some((o.key, *e)),
                _ => None,
            })
            .collect();
        UnorderedQueue { claimed }
    }
}

impl Model for UnorderedQueue {
    /// The elements, sorted (a multiset).
    type State = Vec<i64>;

    fn name(&self) -> &'static str {
        "unordered-queue"
    }

    fn init(&self) -> Vec<i64> {
        Vec::new()
    }

    fn step(&self, state: &Vec<i64>, op: &Operation) -> Option<Vec<i64>> {
        let remove = |at: usize| {
            let mut s = state.clone();
            s.remove(at);
            s
        };
        match (&op.input, &op.output) {
            (Input::Enqueue(e), _) => {
                let mut s = state.clone();
                let at = s.partition_point(|x| x <= e);
                s.insert(at, *e);
                Some(s)
            }
            (Input::Dequeue, Output::Value(Some(e))) => state.binary_search(e).ok().map(remove),
            (Input::Dequeue, Output::Value(None)) => state.is_empty().then(Vec::new),
            (Input::Dequeue, Output::Unknown) => state
                .iter()
                .position(|e| !self.claimed.contains(&(op.key, *e)))
                .map(remove),
            _ => None,
        }
    }

    fn describe_state(&self, state: &Vec<i64>, values: &Values) -> String {
        format!(
            "#{{{}}}",
            &values.show_list(state)[1..].trim_end_matches(']')
        )
    }

    fn why_not(&self, state: &Vec<i64>, op: &Operation, values: &Values) -> Option<String> {
        match (&op.input, &op.output) {
            (Input::Dequeue, Output::Value(Some(_))) => {
                Some("the queue does not hold it".to_string())
            }
            (Input::Dequeue, Output::Value(None)) => Some(format!(
                "the queue holds {}",
                self.describe_state(state, values)
            )),
            _ => None,
        }
    }

    fn state_heap_bytes(&self, state: &Vec<i64>) -> usize {
        state.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::test_op as op;

    #[test]
    fn fifo_takes_the_head() {
        let q = FifoQueue;
        let s = q
            .step(&q.init(), &op(Input::Enqueue(1), Output::Done))
            .unwrap();
        let s = q.step(&s, &op(Input::Enqueue(2), Output::Done)).unwrap();
        let deq = |v| op(Input::Dequeue, Output::Value(v));
        assert_eq!(q.step(&s, &deq(Some(2))), None);
        assert!(q
            .why_not(&s, &deq(Some(2)), &Values::integers())
            .unwrap()
            .contains("head is 1"));
        let s1 = q.step(&s, &deq(Some(1))).unwrap();
        assert_eq!(s1, VecDeque::from([2]));
        assert_eq!(q.step(&s1, &deq(None)), None);
        assert_eq!(
            q.step(&s, &op(Input::Dequeue, Output::Unknown)),
            Some(s1.clone())
        );
        assert_eq!(
            q.step(&q.init(), &op(Input::Dequeue, Output::Unknown)),
            None
        );
    }

    #[test]
    fn unordered_takes_any_and_info_takes_an_unclaimed_one() {
        let mut claimed = op(Input::Dequeue, Output::Value(Some(2)));
        claimed.key = 0;
        let q = UnorderedQueue::new(&[claimed.clone()]);
        let mut s = q.init();
        for e in [3, 2, 1] {
            s = q.step(&s, &op(Input::Enqueue(e), Output::Done)).unwrap();
        }
        assert_eq!(s, vec![1, 2, 3]);
        assert_eq!(q.step(&s, &claimed), Some(vec![1, 3]));
        assert_eq!(
            q.step(&s, &op(Input::Dequeue, Output::Unknown)),
            Some(vec![2, 3])
        );
        assert_eq!(
            q.step(&vec![2], &op(Input::Dequeue, Output::Unknown)),
            None,
            "only a claimed element is left"
        );
        assert_eq!(
            q.step(&s, &op(Input::Dequeue, Output::Value(Some(9)))),
            None
        );
    }
}
