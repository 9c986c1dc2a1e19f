//! Knossos' mutex: a lock per key that `acquire` takes and `release` gives back.
//!
//! Histories use `:f :acquire` and `:f :release` with no value (Jepsen's lock tests):
//!
//! ```text
//! {:type :invoke, :f :acquire, :process 3, :time 371408519, :index 2}
//! {:type :ok, :f :acquire, :process 3, :time 1303460468, :index 27}
//! ```
//!
//! An acquire that finds the lock held completes with `fail` (it did not happen), as
//! does a release of a lock the process does not hold. Unlike Knossos' model, which only
//! knows whether the lock is held, this one remembers *who* holds it, so a release by
//! another process is a violation too; a process that crashed holding the lock (its
//! operation `info`, the process replaced) holds it for the rest of the history.

use crate::model::{Input, Model, Operation};
use crate::values::Values;

/// A lock per key.
#[derive(Debug, Clone, Default)]
pub struct Mutex;

impl Model for Mutex {
    /// The process holding the lock, if any.
    type State = Option<u64>;

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(&self, state: &Option<u64>, op: &Operation) -> Option<Option<u64>> {
        match (&op.input, state) {
            (Input::Acquire, None) => Some(Some(op.process)),
            (Input::Release, Some(holder)) if *holder == op.process => Some(None),
            _ => None,
        }
    }

    fn describe_state(&self, state: &Option<u64>, _values: &Values) -> String {
        state.map_or_else(|| "free".to_string(), |p| format!("held by p{p}"))
    }

    fn why_not(&self, state: &Option<u64>, op: &Operation, _values: &Values) -> Option<String> {
        Some(match (&op.input, state) {
            (Input::Acquire, Some(p)) if *p == op.process => {
                "double acquire: it already holds the lock".to_string()
            }
            (Input::Acquire, Some(p)) => format!("double acquire: the lock is held by p{p}"),
            (Input::Release, None) => "release of a free lock".to_string(),
            (Input::Release, Some(p)) => {
                format!("release by a non-holder: the lock is held by p{p}")
            }
            _ => return None,
        })
    }

    fn same_effect(&self, a: &Operation, b: &Operation) -> bool {
        a.process == b.process
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Output;

    fn op(process: u64, input: Input) -> Operation {
        Operation {
            process,
            ..crate::model::test_op(input, Output::Done)
        }
    }

    #[test]
    fn only_the_holder_releases() {
        let m = Mutex;
        let v = Values::integers();
        let held = m.step(&m.init(), &op(1, Input::Acquire)).unwrap();
        assert_eq!(held, Some(1));
        assert_eq!(m.step(&held, &op(2, Input::Acquire)), None);
        assert_eq!(m.step(&held, &op(2, Input::Release)), None);
        assert_eq!(m.step(&held, &op(1, Input::Release)), Some(None));
        assert_eq!(m.step(&None, &op(1, Input::Release)), None);
        assert_eq!(
            m.why_not(&held, &op(2, Input::Release), &v).unwrap(),
            "release by a non-holder: the lock is held by p1"
        );
        assert!(m
            .why_not(&held, &op(2, Input::Acquire), &v)
            .unwrap()
            .starts_with("double acquire"));
        assert_eq!(m.describe_state(&held, &v), "held by p1");
    }
}
