//! Turns a raw history (invocations and completions, one line each) into paired, typed
//! client operations for the checkers.
//!
//! Jepsen semantics: each invocation is completed by the next completion of the same
//! process. `fail` means the operation did not happen: it is set aside (the checkers
//! still use failed operations to explain anomalies, e.g. a failed CAS that was applied).
//! `info`, or no completion at all, means it may have happened at any time after the
//! invocation: its completion position becomes infinite ([`u64::MAX`]). An `ok` read's
//! value replaces the invocation's. Nemesis operations are ignored. Event positions in the
//! history order (not wall-clock times) define which operations overlap.

use std::collections::HashMap;

use crate::history::{Op, OpType, Process, Value};
use crate::model::{Input, ModelKind, Operation, Output};

/// A history that cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// An operation cannot be interpreted for the model.
    #[error("operation index {index} (line {position}): {message}")]
    Op {
        /// `index` of the offending operation.
        index: u64,
        /// 1-based position of the operation in the history.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing to check: no client operation that happened or may have happened. A
    /// checker that looked at nothing must not call it valid.
    #[error("no operations: {0}")]
    NoOperations(String),
}

/// A history ready to check.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Key names; [`Operation::key`] indexes this. Operations without a key use `""`.
    pub keys: Vec<String>,
    /// Operations that happened or may have happened, in invocation order.
    pub ops: Vec<Operation>,
    /// Operations that completed with `fail` (output [`Output::Unknown`]).
    pub failed: Vec<Operation>,
}

impl Prepared {
    /// How many operations are indeterminate.
    pub fn indeterminate(&self) -> usize {
        self.ops.iter().filter(|o| o.is_indeterminate()).count()
    }
}

/// Guesses the model from the functions used: `add` → set, `append` → list,
/// otherwise a CAS register per key.
pub fn infer_model(ops: &[Op]) -> ModelKind {
    let mut kind = ModelKind::CasRegister;
    for op in ops.iter().filter(|o| !o.is_nemesis()) {
        match op.f.as_str() {
            "add" => return ModelKind::Set,
            "append" => kind = ModelKind::List,
            _ => {}
        }
    }
    kind
}

/// Pairs and types the operations of `history` for `model`.
pub fn prepare(history: &[Op], model: ModelKind) -> Result<Prepared, PrepareError> {
    let mut out = Prepared::default();
    let mut key_ids: HashMap<&str, u32> = HashMap::new();
    // process -> position of its pending invocation
    let mut pending: HashMap<u64, usize> = HashMap::new();
    let mut slots: Vec<Option<(Operation, bool)>> = Vec::new();
    let mut slot_of: HashMap<usize, usize> = HashMap::new();
    for (pos, op) in history.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        let err = |message: String| PrepareError::Op {
            index: op.index,
            position: pos + 1,
            message,
        };
        match op.op_type {
            OpType::Invoke => {
                if let Some(prev) = pending.insert(p, pos) {
                    return Err(err(format!(
                        "process {p} invokes again while its operation at index {} is still pending",
                        history[prev].index
                    )));
                }
                if model == ModelKind::Kv && op.key.is_none() {
                    return Err(err(
                        "field key is missing (the kv model needs a key on every operation)"
                            .to_string(),
                    ));
                }
                let key_name = op.key.as_deref().unwrap_or("");
                let next_id = key_ids.len() as u32;
                let key = *key_ids.entry(key_name).or_insert(next_id);
                let input = input_of(op, model).map_err(err)?;
                slot_of.insert(pos, slots.len());
                slots.push(Some((
                    Operation {
                        id: 0,
                        key,
                        process: p,
                        call: pos as u64,
                        ret: u64::MAX,
                        input,
                        output: Output::Unknown,
                        invoke_index: op.index,
                        complete_index: None,
                    },
                    false,
                )));
            }
            OpType::Ok | OpType::Fail | OpType::Info => {
                let Some(inv) = pending.remove(&p) else {
                    return Err(err(format!(
                        "process {p} completes an operation it never invoked"
                    )));
                };
                if history[inv].f != op.f {
                    return Err(err(format!(
                        "completion f {:?} does not match the invocation's {:?} (index {})",
                        op.f, history[inv].f, history[inv].index
                    )));
                }
                if op.key.is_some() && history[inv].key != op.key {
                    return Err(err(format!(
                        "completion key {} does not match the invocation's {} (index {})",
                        op.key.as_deref().unwrap_or(""),
                        history[inv].key.as_deref().unwrap_or("(none)"),
                        history[inv].index
                    )));
                }
                let slot = slot_of[&inv];
                let (operation, failed) = slots[slot].as_mut().expect("slot filled at invoke");
                operation.complete_index = Some(op.index);
                match op.op_type {
                    OpType::Ok => {
                        operation.ret = pos as u64;
                        operation.output = output_of(op, &operation.input, model).map_err(err)?;
                    }
                    OpType::Fail => *failed = true,
                    _ => {}
                }
            }
        }
    }
    let mut names: Vec<(&str, u32)> = key_ids.into_iter().collect();
    names.sort_by_key(|&(_, id)| id);
    out.keys = names.into_iter().map(|(n, _)| n.to_string()).collect();
    for (operation, failed) in slots.into_iter().flatten() {
        if failed {
            out.failed.push(operation);
        } else {
            out.ops.push(operation);
        }
    }
    for (i, op) in out.ops.iter_mut().enumerate() {
        op.id = i;
    }
    if out.ops.is_empty() {
        return Err(PrepareError::NoOperations(if out.failed.is_empty() {
            "the history has no client operation".to_string()
        } else {
            format!(
                "all {} client operations failed, so none can be checked",
                out.failed.len()
            )
        }));
    }
    Ok(out)
}

fn int_arg(op: &Op, what: &str) -> Result<i64, String> {
    op.value.as_int().ok_or_else(|| {
        format!(
            "{} expects an integer {what}, got {}",
            op.f,
            op.value.to_json()
        )
    })
}

fn input_of(op: &Op, model: ModelKind) -> Result<Input, String> {
    let registers = matches!(
        model,
        ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv
    );
    Ok(match op.f.as_str() {
        "read" => Input::Read,
        "write" if registers => Input::Write(int_arg(op, "value")?),
        "cas" if registers && model != ModelKind::Register => match op.value.as_ints() {
            Some(&[a, b]) => Input::Cas(a, b),
            _ => {
                return Err(format!(
                    "cas expects [expected, new], got {}",
                    op.value.to_json()
                ))
            }
        },
        "add" if model == ModelKind::Set => Input::Add(int_arg(op, "element")?),
        "append" if model == ModelKind::List => Input::Append(int_arg(op, "element")?),
        other => {
            return Err(format!(
                "function {other:?} is not part of the {model} model"
            ))
        }
    })
}

fn output_of(op: &Op, input: &Input, model: ModelKind) -> Result<Output, String> {
    if *input != Input::Read {
        return Ok(Output::Done);
    }
    match model {
        ModelKind::Set | ModelKind::List => match &op.value {
            Value::Null => Ok(Output::Elems(Vec::new())),
            Value::Ints(v) => Ok(Output::Elems(v.clone())),
            other => Err(format!(
                "a {model} read returns an array of integers, got {}",
                other.to_json()
            )),
        },
        _ => match &op.value {
            Value::Null => Ok(Output::Value(None)),
            Value::Int(v) => Ok(Output::Value(Some(*v))),
            other => Err(format!(
                "a register read returns an integer or null, got {}",
                other.to_json()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(index: u64, p: u64, t: OpType, f: &str, v: Value) -> Op {
        Op {
            index,
            time: index,
            process: Process::Client(p),
            op_type: t,
            f: f.into(),
            key: Some("k".into()),
            value: v,
            error: None,
        }
    }

    #[test]
    fn pairs_and_classifies() {
        let h = vec![
            line(0, 1, OpType::Invoke, "write", Value::Int(1)),
            line(1, 2, OpType::Invoke, "read", Value::Null),
            line(2, 1, OpType::Ok, "write", Value::Int(1)),
            line(3, 2, OpType::Ok, "read", Value::Int(1)),
            line(4, 3, OpType::Invoke, "cas", Value::Ints(vec![1, 2])),
            line(5, 3, OpType::Fail, "cas", Value::Ints(vec![1, 2])),
            line(6, 4, OpType::Invoke, "write", Value::Int(7)),
        ];
        let p = prepare(&h, ModelKind::CasRegister).unwrap();
        assert_eq!(p.ops.len(), 3);
        assert_eq!(p.failed.len(), 1);
        assert_eq!(p.ops[1].output, Output::Value(Some(1)));
        assert_eq!((p.ops[1].call, p.ops[1].ret), (1, 3));
        assert!(p.ops[2].is_indeterminate());
        assert_eq!(p.indeterminate(), 1);
    }

    #[test]
    fn rejects_malformed_histories() {
        let h = vec![line(0, 1, OpType::Ok, "read", Value::Null)];
        assert!(prepare(&h, ModelKind::CasRegister)
            .unwrap_err()
            .to_string()
            .contains("never invoked"));
        let h = vec![line(0, 1, OpType::Invoke, "cas", Value::Int(3))];
        assert!(prepare(&h, ModelKind::CasRegister)
            .unwrap_err()
            .to_string()
            .contains("[expected, new]"));
        let h = vec![line(0, 1, OpType::Invoke, "add", Value::Int(3))];
        assert!(prepare(&h, ModelKind::CasRegister).is_err());
        assert_eq!(infer_model(&h), ModelKind::Set);
        let mut keyless = line(0, 1, OpType::Invoke, "read", Value::Null);
        keyless.key = None;
        assert!(prepare(&[keyless], ModelKind::Kv)
            .unwrap_err()
            .to_string()
            .contains("field key is missing"));
    }

    #[test]
    fn nothing_to_check_is_an_error() {
        let empty = prepare(&[], ModelKind::CasRegister).unwrap_err();
        assert!(matches!(empty, PrepareError::NoOperations(_)), "{empty}");
        let all_failed = [
            line(0, 1, OpType::Invoke, "write", Value::Int(1)),
            line(1, 1, OpType::Fail, "write", Value::Int(1)),
        ];
        let e = prepare(&all_failed, ModelKind::CasRegister).unwrap_err();
        assert!(
            e.to_string().contains("all 1 client operations failed"),
            "{e}"
        );
    }
}
