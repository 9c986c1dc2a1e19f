//! Knossos' multi-register: registers read and written by transactions, checked as one
//! object (per key, when the history has independent keys).
//!
//! An operation is `:f :txn` whose value lists micro-ops `[f register value]`, `f` being
//! `:read` (or `:r`) and `:write` (or `:w`):
//!
//! ```text
//! {:process 0, :type :invoke, :f :txn, :value [[:read :x nil] [:write :y 3]]}
//! {:process 0, :type :ok,     :f :txn, :value [[:read :x 1] [:write :y 3]]}
//! ```
//!
//! In JSONL the same value is `[["read","x",null],["write","y",3]]`. Register names are
//! any scalars, values any scalars ([`crate::values`]). The `ok` completion repeats the
//! transaction with the values its reads returned; an indeterminate transaction's reads
//! are unknown and constrain nothing, its writes may take effect. Transactions happen
//! atomically in a linearization: each read sees the value the register holds at that
//! point of the transaction (a register never written holds the initial value, nil by
//! default). A read of nil therefore means "never written", not "unknown" as in
//! Knossos' model, matching the registers of [`crate::model`].
//!
//! Jepsen tests that name the function after the transaction's kind (`:f :read` with
//! read micro-ops, `:f :write` with write micro-ops) are read the same way.

use crate::history::Value;
use crate::model::{Input, MicroOp, Model, Operation, Output};
use crate::values::{EncodeError, Values};

/// A read that disagrees with the register: (register, value read, value held).
type Mismatch = (u32, Option<i64>, Option<i64>);

/// Registers read and written by transactions.
#[derive(Debug, Clone, Default)]
pub struct MultiRegister {
    /// The value of every register before any write.
    pub initial: Option<i64>,
    /// How many registers the history names.
    pub registers: usize,
}

impl MultiRegister {
    /// Applies `mops` to `state`; the first read that disagrees stops it.
    fn apply(
        &self,
        state: &[Option<i64>],
        mops: &[MicroOp],
        out: &Output,
    ) -> Result<Vec<Option<i64>>, Mismatch> {
        let reads = match out {
            Output::Reads(r) => Some(r.as_slice()),
            _ => None,
        };
        let mut s = state.to_vec();
        let mut read_no = 0;
        for m in mops {
            match m {
                MicroOp::Read(r) => {
                    let held = s[*r as usize];
                    if let Some(&got) = reads.and_then(|rs| rs.get(read_no)) {
                        if got != held {
                            return Err((*r, got, held));
                        }
                    }
                    read_no += 1;
                }
                MicroOp::Write(r, v) => s[*r as usize] = *v,
            }
        }
        Ok(s)
    }
}

impl Model for MultiRegister {
    /// The value of each register, by number.
    type State = Vec<Option<i64>>;

    fn name(&self) -> &'static str {
        "multi-register"
    }

    fn init(&self) -> Vec<Option<i64>> {
        vec![self.initial; self.registers]
    }

    fn step(&self, state: &Vec<Option<i64>>, op: &Operation) -> Option<Vec<Option<i64>>> {
        match &op.input {
            Input::Txn(mops) => self.apply(state, mops, &op.output).ok(),
            _ => None,
        }
    }

    fn describe_state(&self, state: &Vec<Option<i64>>, values: &Values) -> String {
        let parts: Vec<String> = state
            .iter()
            .enumerate()
            .map(|(r, v)| format!("{} {}", values.register_name(r as u32), values.show_opt(*v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn why_not(&self, state: &Vec<Option<i64>>, op: &Operation, values: &Values) -> Option<String> {
        let Input::Txn(mops) = &op.input else {
            return None;
        };
        let (r, got, held) = self.apply(state, mops, &op.output).err()?;
        Some(format!(
            "it read {} {} but {} held {}",
            values.register_name(r),
            values.show_opt(got),
            values.register_name(r),
            values.show_opt(held)
        ))
    }

    fn state_heap_bytes(&self, state: &Vec<Option<i64>>) -> usize {
        state.capacity() * std::mem::size_of::<Option<i64>>()
    }
}

/// Whether a value looks like a transaction: a list of `[f register value]` lists.
pub fn is_txn(value: &Value) -> bool {
    match value {
        Value::Json(serde_json::Value::Array(items)) => {
            !items.is_empty()
                && items
                    .iter()
                    .all(|m| matches!(m, serde_json::Value::Array(t) if t.len() == 3))
        }
        _ => false,
    }
}

/// Reads a transaction value into micro-ops and the values its reads carry (nil at an
/// invocation).
pub fn parse(
    value: &Value,
    values: &mut Values,
) -> Result<(Vec<MicroOp>, Vec<Option<i64>>), EncodeError> {
    let bad = |why: String| EncodeError::Invalid(why);
    let items = match value {
        Value::Json(serde_json::Value::Array(items)) => items.as_slice(),
        Value::Ints(v) if v.is_empty() => &[],
        other => {
            return Err(bad(format!(
                "a transaction is a list of [f register value] micro-ops, got {}",
                other.to_json()
            )))
        }
    };
    let mut mops = Vec::with_capacity(items.len());
    let mut reads = Vec::new();
    for m in items {
        let serde_json::Value::Array(t) = m else {
            return Err(bad(format!(
                "micro-op {m} is not a [f register value] list"
            )));
        };
        let [f, reg, v] = t.as_slice() else {
            return Err(bad(format!(
                "micro-op {m} is not a [f register value] list"
            )));
        };
        let reg = match reg {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(bad(format!("micro-op {m}: bad register name {other}"))),
        };
        let reg = values.register(reg);
        let v = values.encode_json(v)?;
        match f.as_str() {
            Some("read" | "r") => {
                mops.push(MicroOp::Read(reg));
                reads.push(v);
            }
            Some("write" | "w") => mops.push(MicroOp::Write(reg, v)),
            _ => {
                return Err(bad(format!(
                    "micro-op {m}: the function is read (r) or write (w)"
                )))
            }
        }
    }
    Ok((mops, reads))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(json: &str, values: &mut Values) -> (Vec<MicroOp>, Vec<Option<i64>>) {
        let v: Value = serde_json::from_str(json).unwrap();
        assert!(is_txn(&v));
        parse(&v, values).unwrap()
    }

    use crate::model::test_op as op;

    #[test]
    fn reads_see_earlier_writes_of_the_same_transaction() {
        let mut values = Values::integers();
        let (w, _) = txn(r#"[["w","x",1],["write","y",2]]"#, &mut values);
        let (r, got) = txn(r#"[["r","x",1],["w","x",5],["read","x",5]]"#, &mut values);
        assert_eq!(got, vec![Some(1), Some(5)]);
        let m = MultiRegister {
            initial: None,
            registers: values.registers(),
        };
        let s = m.step(&m.init(), &op(Input::Txn(w), Output::Done)).unwrap();
        assert_eq!(s, vec![Some(1), Some(2)]);
        let read = op(Input::Txn(r.clone()), Output::Reads(got));
        assert_eq!(m.step(&s, &read), Some(vec![Some(5), Some(2)]));
        assert_eq!(m.step(&m.init(), &read), None);
        assert_eq!(
            m.why_not(&m.init(), &read, &values).unwrap(),
            "it read x 1 but x held nil"
        );
        assert!(m
            .step(&m.init(), &op(Input::Txn(r), Output::Unknown))
            .is_some());
    }

    #[test]
    fn rejects_what_is_not_a_transaction() {
        let mut values = Values::integers();
        for bad in [
            r#"[["x",1]]"#,
            r#"[["inc","x",1]]"#,
            r#"5"#,
            r#"[["r",[1],1]]"#,
        ] {
            let v: Value = serde_json::from_str(bad).unwrap();
            assert!(
                matches!(parse(&v, &mut values), Err(EncodeError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
