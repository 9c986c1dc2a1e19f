//! Sequential specifications the checkers compare histories against.
//!
//! Porcupine-shaped: a model has an initial state ([`Model::init`]), a pure transition
//! ([`Model::step`], `None` when the operation cannot happen in that state), a way to
//! split a history into independent parts ([`Model::partition`], by key: every model
//! here describes one independent object per key, so each key is checked on its own),
//! and descriptions for counterexamples.
//!
//! Operations reach the models already typed ([`Input`], [`Output`]): the conversion from
//! history values happens once, in [`crate::prepare`].

use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::hash::Hash;

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
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Output {
    /// Indeterminate: it may or may not have happened, result unknown.
    Unknown,
    /// A write, CAS, add or append that succeeded.
    Done,
    /// A register read: the value, or `None` for nil.
    Value(Option<i64>),
    /// A set or list read: the elements in the order returned.
    Elems(Vec<i64>),
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
    pub fn describe(&self) -> String {
        let what = describe_io(&self.input, &self.output);
        let suffix = if self.is_indeterminate() {
            " (info)"
        } else {
            ""
        };
        format!("p{} {what}{suffix}", self.process)
    }
}

/// Describes an input with its output, e.g. `read → 5`, `write 3`, `cas 1→2`.
pub fn describe_io(input: &Input, output: &Output) -> String {
    match (input, output) {
        (Input::Read, Output::Value(v)) => format!("read → {}", opt(*v)),
        (Input::Read, Output::Elems(e)) => format!("read → {}", ints(e)),
        (Input::Read, _) => "read → ?".to_string(),
        (Input::Write(v), _) => format!("write {v}"),
        (Input::Cas(a, b), _) => format!("cas {a}→{b}"),
        (Input::Add(v), _) => format!("add {v}"),
        (Input::Append(v), _) => format!("append {v}"),
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "nil".to_string(), |v| v.to_string())
}

fn ints(v: &[i64]) -> String {
    const SHOWN: usize = 24;
    let mut s = String::from("[");
    for (i, x) in v.iter().take(SHOWN).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&x.to_string());
    }
    if v.len() > SHOWN {
        s.push_str(&format!(" … ({} total)", v.len()));
    }
    s.push(']');
    s
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
    fn describe_state(&self, state: &Self::State) -> String;

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
            other => {
                return Err(format!(
                    "unknown model {other:?} (expected register, cas-register, kv, set or list)"
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
    fn describe_state(&self, state: &Option<i64>) -> String {
        opt(*state)
    }
}

/// A compare-and-set register.
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
            (Input::Cas(a, b), _) => (*state == Some(*a)).then_some(Some(*b)),
            _ => Register {
                initial: self.initial,
            }
            .step(state, op),
        }
    }
    fn describe_state(&self, state: &Option<i64>) -> String {
        opt(*state)
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
    fn describe_state(&self, state: &Self::State) -> String {
        if state.len() == 1 {
            return state.values().map(|v| opt(*v)).collect();
        }
        let parts: Vec<String> = state
            .iter()
            .map(|(k, v)| format!("#{k}: {}", opt(*v)))
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
    fn describe_state(&self, state: &Vec<i64>) -> String {
        format!("#{{{}}}", &ints(state)[1..].trim_end_matches(']'))
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
    fn describe_state(&self, state: &Vec<i64>) -> String {
        ints(state)
    }
    fn state_heap_bytes(&self, state: &Vec<i64>) -> usize {
        state.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(input: Input, output: Output) -> Operation {
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
