//! Sequential specifications the checkers compare histories against.
//!
//! Porcupine-shaped: a model has an initial state ([`Model::init`]), a pure transition
//! ([`Model::step`], `None` when the operation cannot happen in that state), a way to
//! split a history into independent parts ([`Model::partition`], by key: every model
//! here describes one independent object per key, so each key is checked on its own),
//! and descriptions for counterexamples.
//!
//! The registers, key-value map, set and list are here; Knossos' mutex, multi-register
//! transactions and queues have a file each ([`crate::mutex`], [`crate::txn`],
//! [`crate::queue`]).
//!
//! Operations reach the models already typed ([`Input`], [`Output`]): the conversion from
//! history values happens once, in [`crate::prepare`].

use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::hash::Hash;

use crate::values::Values;

/// What an operation asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    /// Read the object.
    Read,
    /// Overwrite a register.
    Write(i64),
    /// Compare-and-set a register: `(expected, new)`.
    Cas(i64, i64),
    /// Add an element to a set.
    Add(i64),
    /// Append an element to a list.
    Append(i64),
    /// Take a lock.
    Acquire,
    /// Give a lock back.
    Release,
    /// Put an element into a queue.
    Enqueue(i64),
    /// Take an element out of a queue.
    Dequeue,
    /// A transaction of reads and writes over several registers, in order.
    Txn(Vec<MicroOp>),
}

/// One step of a multi-register transaction (registers are numbered, see
/// [`crate::values::Values::register`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MicroOp {
    /// Read a register (the value read is in the operation's [`Output::Reads`]).
    Read(u32),
    /// Write a value (or nil) to a register.
    Write(u32, Option<i64>),
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Output {
    /// Indeterminate: it may or may not have happened, result unknown.
    Unknown,
    /// A write, CAS, add, append, acquire, release or enqueue that succeeded.
    Done,
    /// A CAS that compared and found another value than it expected: it wrote nothing
    /// (see [`crate::history::CAS_MISMATCH`]).
    Mismatch,
    /// A register read or a dequeue: the value, or `None` for nil (an empty queue).
    Value(Option<i64>),
    /// A set or list read: the elements in the order returned.
    Elems(Vec<i64>),
    /// A transaction: the values its reads returned, in order.
    Reads(Vec<Option<i64>>),
}

/// One client operation of a history, paired invoke and completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Position in its partition (dense, 0-based).
    pub id: usize,
    /// Key number (see [`crate::prepare::Prepared::keys`]).
    pub key: u32,
    /// Logical process that performed it.
    pub process: u64,
    /// Position of the invocation in the history's event order.
    pub call: u64,
    /// Position of the completion; [`u64::MAX`] when indeterminate (`info` or never completed).
    pub ret: u64,
    /// What was asked.
    pub input: Input,
    /// What came back.
    pub output: Output,
    /// `index` of the invocation in the original history.
    pub invoke_index: u64,
    /// `index` of the completion in the original history, if any.
    pub complete_index: Option<u64>,
}

impl Operation {
    /// Whether its outcome is unknown.
    pub fn is_indeterminate(&self) -> bool {
        self.ret == u64::MAX
    }

    /// A short human description, e.g. `p3 cas 1→2` or `p1 read → 5`.
    pub fn describe(&self, values: &Values) -> String {
        let what = describe_io(&self.input, &self.output, values);
        let suffix = if self.is_indeterminate() {
            " (info)"
        } else {
            ""
        };
        format!("p{} {what}{suffix}", self.process)
    }
}

/// Describes an input with its output, e.g. `read → 5`, `write 3`, `cas 1→2`,
/// `txn [read x → 1, write y 2]`.
pub fn describe_io(input: &Input, output: &Output, values: &Values) -> String {
    let v = |x: i64| values.show(x);
    match (input, output) {
        (Input::Read, Output::Value(x)) => format!("read → {}", values.show_opt(*x)),
        (Input::Read, Output::Elems(e)) => format!("read → {}", values.show_list(e)),
        (Input::Read, _) => "read → ?".to_string(),
        (Input::Write(x), _) => format!("write {}", v(*x)),
        (Input::Cas(a, b), Output::Mismatch) => {
            format!("cas {}→{} (found another value)", v(*a), v(*b))
        }
        (Input::Cas(a, b), _) => format!("cas {}→{}", v(*a), v(*b)),
        (Input::Add(x), _) => format!("add {}", v(*x)),
        (Input::Append(x), _) => format!("append {}", v(*x)),
        (Input::Acquire, _) => "acquire".to_string(),
        (Input::Release, _) => "release".to_string(),
        (Input::Enqueue(x), _) => format!("enqueue {}", v(*x)),
        (Input::Dequeue, Output::Value(Some(x))) => format!("dequeue → {}", v(*x)),
        (Input::Dequeue, Output::Value(None)) => "dequeue → empty".to_string(),
        (Input::Dequeue, _) => "dequeue → ?".to_string(),
        (Input::Txn(mops), out) => {
            let reads = match out {
                Output::Reads(r) => Some(r.as_slice()),
                _ => None,
            };
            let mut read_no = 0;
            let parts: Vec<String> = mops
                .iter()
                .map(|m| match m {
                    MicroOp::Read(r) => {
                        let got = reads
                            .and_then(|rs| rs.get(read_no))
                            .map_or_else(|| "?".to_string(), |x| values.show_opt(*x));
                        read_no += 1;
                        format!("read {} → {got}", values.register_name(*r))
                    }
                    MicroOp::Write(r, x) => {
                        format!("write {} {}", values.register_name(*r), values.show_opt(*x))
                    }
                })
                .collect();
            format!("txn [{}]", parts.join(", "))
        }
    }
}

/// A sequential specification.
pub trait Model: Send + Sync {
    /// The object's state; compared and hashed by the search's cache.
    type State: Clone + Eq + Hash + Send + Sync + Debug;

    /// The model's name as used on the command line (`cas-register`, ...).
    fn name(&self) -> &'static str;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `op`, or `None` if `op` cannot happen in `state` with its output.
    fn step(&self, state: &Self::State, op: &Operation) -> Option<Self::State>;

    /// Splits a history into independently checkable parts (by key).
    fn partition(&self, ops: Vec<Operation>) -> Vec<Vec<Operation>> {
        let mut by_key: BTreeMap<u32, Vec<Operation>> = BTreeMap::new();
        for op in ops {
            by_key.entry(op.key).or_default().push(op);
        }
        by_key
            .into_values()
            .map(|mut part| {
                for (i, op) in part.iter_mut().enumerate() {
                    op.id = i;
                }
                part
            })
            .collect()
    }

    /// A short description of a state.
    fn describe_state(&self, state: &Self::State, values: &Values) -> String;

    /// Why `op` cannot happen in `state`, in words (`the lock is held by p2`), when the
    /// model can say more than that it cannot.
    fn why_not(&self, _state: &Self::State, _op: &Operation, _values: &Values) -> Option<String> {
        None
    }

    /// Whether `a` and `b` step every state alike, so the search may treat them as
    /// interchangeable ([`crate::symmetry`]). Only called for operations with the same
    /// key, input and output; a model whose `step` reads more of an operation than
    /// that (the process, say) must compare it here.
    fn same_effect(&self, _a: &Operation, _b: &Operation) -> bool {
        true
    }

    /// Approximate heap bytes a state owns (for the memory budget).
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }
}

/// Which model to check a history against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Read/write register per key.
    Register,
    /// Read/write/compare-and-set register per key.
    CasRegister,
    /// A map of CAS registers (checked per key).
    Kv,
    /// A grow-only set per key (add/read).
    Set,
    /// An append-only list per key (append/read).
    List,
    /// A lock per key (acquire/release), held by one process at a time.
    Mutex,
    /// Registers read and written by transactions (Knossos' `:txn` micro-ops).
    MultiRegister,
    /// A first-in first-out queue per key (enqueue/dequeue).
    FifoQueue,
    /// A queue per key whose dequeues may return any element (a multiset).
    UnorderedQueue,
}

impl ModelKind {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Set => "set",
            ModelKind::List => "list",
            ModelKind::Mutex => "mutex",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::FifoQueue => "fifo-queue",
            ModelKind::UnorderedQueue => "unordered-queue",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "register" => ModelKind::Register,
            "cas-register" => ModelKind::CasRegister,
            "kv" => ModelKind::Kv,
            "set" => ModelKind::Set,
            "list" | "list-append" => ModelKind::List,
            "mutex" => ModelKind::Mutex,
            "multi-register" => ModelKind::MultiRegister,
            "fifo-queue" => ModelKind::FifoQueue,
            "unordered-queue" => ModelKind::UnorderedQueue,
            other => {
                return Err(format!(
                    "unknown model {other:?} (expected register, cas-register, kv, set, list, \
                     mutex, multi-register, fifo-queue or unordered-queue)"
                ))
            }
        })
    }
}

/// A read/write register. A CAS is not part of it and never steps.
#[derive(Debug, Clone, Default)]
pub struct Register {
    /// The value before any write (`None` = nil).
    pub initial: Option<i64>,
}

impl Model for Register {
    type State = Option<i64>;
    fn name(&self) -> &'static str {
        "register"
    }
    fn init(&self) -> Option<i64> {
        self.initial
    }
    fn step(&self, state: &Option<i64>, op: &Operation) -> Option<Option<i64>> {
        match (&op.input, &op.output) {
            (Input::Read, Output::Value(v)) => (v == state).then_some(*state),
            (Input::Read, Output::Unknown) => Some(*state),
            (Input::Write(v), _) => Some(Some(*v)),
            _ => None,
        }
    }
    fn describe_state(&self, state: &Option<i64>, values: &Values) -> String {
        values.show_opt(*state)
    }
}

/// A compare-and-set register. A CAS that found another value ([`Output::Mismatch`])
/// leaves it as it is, and can only have happened while it held another value.
#[derive(Debug, Clone, Default)]
pub struct CasRegister {
    /// The value before any write (`None` = nil).
    pub initial: Option<i64>,
}

impl Model for CasRegister {
    type State = Option<i64>;
    fn name(&self) -> &'static str {
        "cas-register"
    }
    fn init(&self) -> Option<i64> {
        self.initial
    }
    fn step(&self, state: &Option<i64>, op: &Operation) -> Option<Option<i64>> {
        match (&op.input, &op.output) {
            (Input::Cas(a, _), Output::Mismatch) => (*state != Some(*a)).then_some(*state),
            (Input::Cas(a, b), _) => (*state == Some(*a)).then_some(Some(*b)),
            _ => Register {
                initial: self.initial,
            }
            .step(state, op),
        }
    }
    fn describe_state(&self, state: &Option<i64>, values: &Values) -> String {
        values.show_opt(*state)
    }
}

/// A map from keys to CAS registers. Keys are independent, so it partitions into one
/// map per key; its states name keys by number.
#[derive(Debug, Clone, Default)]
pub struct Kv {
    /// The value of every key before any write.
    pub initial: Option<i64>,
}

impl Model for Kv {
    type State = BTreeMap<u32, Option<i64>>;
    fn name(&self) -> &'static str {
        "kv"
    }
    fn init(&self) -> Self::State {
        BTreeMap::new()
    }
    fn step(&self, state: &Self::State, op: &Operation) -> Option<Self::State> {
        let reg = CasRegister {
            initial: self.initial,
        };
        let cur = state.get(&op.key).copied().unwrap_or(self.initial);
        let next = reg.step(&cur, op)?;
        if next == cur {
            return Some(state.clone());
        }
        let mut s = state.clone();
        s.insert(op.key, next);
        Some(s)
    }
    fn describe_state(&self, state: &Self::State, values: &Values) -> String {
        if state.len() == 1 {
            return state.values().map(|v| values.show_opt(*v)).collect();
        }
        let parts: Vec<String> = state
            .iter()
            .map(|(k, v)| format!("#{k}: {}", values.show_opt(*v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        state.len() * 32
    }
}

/// A grow-only set: adds, and reads returning all elements (in any order).
#[derive(Debug, Clone, Default)]
pub struct Set;

impl Model for Set {
    /// Sorted, de-duplicated elements.
    type State = Vec<i64>;
    fn name(&self) -> &'static str {
        "set"
    }
    fn init(&self) -> Vec<i64> {
        Vec::new()
    }
    fn step(&self, state: &Vec<i64>, op: &Operation) -> Option<Vec<i64>> {
        match (&op.input, &op.output) {
            (Input::Add(e), _) => match state.binary_search(e) {
                Ok(_) => Some(state.clone()),
                Err(at) => {
                    let mut s = state.clone();
                    s.insert(at, *e);
                    Some(s)
                }
            },
            (Input::Read, Output::Elems(read)) => {
                if read.len() < state.len() {
                    return None;
                }
                let mut sorted = read.clone();
                sorted.sort_unstable();
                sorted.dedup();
                (sorted.len() == read.len() && sorted == *state).then(|| state.clone())
            }
            (Input::Read, Output::Unknown) => Some(state.clone()),
            _ => None,
        }
    }
    fn describe_state(&self, state: &Vec<i64>, values: &Values) -> String {
        format!(
            "#{{{}}}",
            &values.show_list(state)[1..].trim_end_matches(']')
        )
    }
    fn state_heap_bytes(&self, state: &Vec<i64>) -> usize {
        state.len() * 8
    }
}

/// An append-only list: appends, and reads returning the whole list in order.
#[derive(Debug, Clone, Default)]
pub struct List;

impl Model for List {
    type State = Vec<i64>;
    fn name(&self) -> &'static str {
        "list"
    }
    fn init(&self) -> Vec<i64> {
        Vec::new()
    }
    fn step(&self, state: &Vec<i64>, op: &Operation) -> Option<Vec<i64>> {
        match (&op.input, &op.output) {
            (Input::Append(e), _) => {
                let mut s = state.clone();
                s.push(*e);
                Some(s)
            }
            (Input::Read, Output::Elems(read)) => (read == state).then(|| state.clone()),
            (Input::Read, Output::Unknown) => Some(state.clone()),
            _ => None,
        }
    }
    fn describe_state(&self, state: &Vec<i64>, values: &Values) -> String {
        values.show_list(state)
    }
    fn state_heap_bytes(&self, state: &Vec<i64>) -> usize {
        state.len() * 8
    }
}

/// A completed operation of process 0 on key 0, for the models' unit tests.
#[cfg(test)]
pub(crate) fn test_op(input: Input, output: Output) -> Operation {
    Operation {
        id: 0,
        key: 0,
        process: 0,
        call: 0,
        ret: 1,
        input,
        output,
        invoke_index: 0,
        complete_index: Some(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_op as op;

    #[test]
    fn cas_register_steps() {
        let m = CasRegister { initial: Some(1) };
        let s = m.init();
        assert_eq!(
            m.step(&s, &op(Input::Cas(1, 2), Output::Done)),
            Some(Some(2))
        );
        assert_eq!(m.step(&s, &op(Input::Cas(3, 2), Output::Done)), None);
        assert_eq!(
            m.step(&s, &op(Input::Read, Output::Value(Some(1)))),
            Some(Some(1))
        );
        assert_eq!(m.step(&s, &op(Input::Read, Output::Value(None))), None);
        assert_eq!(
            Register::default().step(&s, &op(Input::Cas(1, 2), Output::Done)),
            None
        );
    }

    #[test]
    fn a_cas_mismatch_needs_another_value_and_changes_nothing() {
        let m = CasRegister { initial: Some(1) };
        let mismatch = |a| op(Input::Cas(a, 2), Output::Mismatch);
        assert_eq!(
            m.step(&Some(1), &mismatch(1)),
            None,
            "the register holds the expected value, so the CAS would have written"
        );
        assert_eq!(m.step(&Some(1), &mismatch(3)), Some(Some(1)));
        assert_eq!(m.step(&None, &mismatch(1)), Some(None));
    }

    #[test]
    fn set_and_list_steps() {
        let s = Set
            .step(&vec![1, 3], &op(Input::Add(2), Output::Done))
            .unwrap();
        assert_eq!(s, vec![1, 2, 3]);
        assert!(Set
            .step(&s, &op(Input::Read, Output::Elems(vec![3, 1, 2])))
            .is_some());
        assert!(Set
            .step(&s, &op(Input::Read, Output::Elems(vec![3, 1, 2, 2])))
            .is_none());
        let l = List
            .step(&vec![1], &op(Input::Append(5), Output::Done))
            .unwrap();
        assert!(List
            .step(&l, &op(Input::Read, Output::Elems(vec![1, 5])))
            .is_some());
        assert!(List
            .step(&l, &op(Input::Read, Output::Elems(vec![5, 1])))
            .is_none());
    }

    #[test]
    fn kv_keeps_keys_apart() {
        let m = Kv::default();
        let mut w = op(Input::Write(4), Output::Done);
        w.key = 2;
        let s = m.step(&m.init(), &w).unwrap();
        let mut r = op(Input::Read, Output::Value(None));
        r.key = 1;
        assert!(m.step(&s, &r).is_some());
        r.key = 2;
        assert!(m.step(&s, &r).is_none());
    }
}
