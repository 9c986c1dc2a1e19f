//! Turns a raw history (invocations and completions, one line each) into paired, typed
//! client operations for the checkers.
//!
//! Jepsen semantics: each invocation is completed by the next completion of the same
//! process. `fail` means the operation did not happen: it is set aside (the checkers
//! still use failed operations to explain anomalies, e.g. a failed CAS that was applied).
//! The exception is a cas that failed with [`CAS_MISMATCH`]: it did not write, but it
//! compared, so it stays a completed operation whose output is [`Output::Mismatch`].
//! `info`, or no completion at all, means it may have happened at any time after the
//! invocation: its completion position becomes infinite ([`u64::MAX`]). An `ok` read's
//! value replaces the invocation's. Nemesis operations are ignored. Event positions in the
//! history order (not wall-clock times) define which operations overlap.
//!
//! Values become model values here ([`crate::values`]): a history meets named values
//! (strings, keywords, big integers) only when it is read a second time, so histories of
//! plain integers pay nothing for them.

use crate::fxhash::FxHashMap;
use crate::history::{Op, OpType, Process, Value, CAS_MISMATCH};
use crate::model::{Input, ModelKind, Operation, Output};
use crate::txn;
use crate::values::{EncodeError, Values};

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
    /// What the operations' values stand for, and how they print.
    pub values: Values,
}

impl Prepared {
    /// How many operations are indeterminate.
    pub fn indeterminate(&self) -> usize {
        self.ops.iter().filter(|o| o.is_indeterminate()).count()
    }
}

/// Guesses the model from the functions used: `add` → set, `append` → list,
/// `acquire`/`release` → mutex, `txn` (or reads and writes whose values are
/// transactions) → multi-register, otherwise a CAS register per key. Queue operations
/// fit two models, so they are an error that asks for `--model`.
pub fn infer_model(ops: &[Op]) -> Result<ModelKind, PrepareError> {
    let mut kind = ModelKind::CasRegister;
    for (pos, op) in ops.iter().enumerate().filter(|(_, o)| !o.is_nemesis()) {
        match op.f.as_str() {
            "add" => return Ok(ModelKind::Set),
            "append" => kind = ModelKind::List,
            "acquire" | "release" => return Ok(ModelKind::Mutex),
            "txn" => return Ok(ModelKind::MultiRegister),
            "read" | "write" if txn::is_txn(&op.value) => return Ok(ModelKind::MultiRegister),
            "enqueue" | "dequeue" => {
                return Err(PrepareError::Op {
                    index: op.index,
                    position: pos + 1,
                    message: "enqueue and dequeue fit both the fifo-queue and the \
                              unordered-queue model: choose one with --model"
                        .to_string(),
                })
            }
            _ => {}
        }
    }
    Ok(kind)
}

/// Why preparing stopped.
enum Stop {
    /// The history cannot be checked.
    Bad(PrepareError),
    /// It has named values: prepare it again with [`Values::named`].
    NeedsNames,
}

/// Pairs and types the operations of `history` for `model`.
pub fn prepare(history: &[Op], model: ModelKind) -> Result<Prepared, PrepareError> {
    let again = match prepare_with(history, model, Values::integers()) {
        Ok(p) => return Ok(p),
        Err(Stop::Bad(e)) => return Err(e),
        Err(Stop::NeedsNames) => prepare_with(history, model, Values::named()),
    };
    again.map_err(|stop| match stop {
        Stop::Bad(e) => e,
        Stop::NeedsNames => unreachable!("named values take every scalar"),
    })
}

fn prepare_with(history: &[Op], model: ModelKind, values: Values) -> Result<Prepared, Stop> {
    let mut out = Prepared {
        values,
        ..Prepared::default()
    };
    let mut key_ids: FxHashMap<&str, u32> = FxHashMap::default();
    // process -> (position of its pending invocation, its slot)
    let mut pending: FxHashMap<u64, (usize, usize)> = FxHashMap::default();
    let mut slots: Vec<Option<(Operation, bool)>> = Vec::new();
    for (pos, op) in history.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        let err = |e: EncodeError| match e {
            EncodeError::NeedsNames => Stop::NeedsNames,
            EncodeError::Invalid(message) => Stop::Bad(PrepareError::Op {
                index: op.index,
                position: pos + 1,
                message,
            }),
        };
        let msg = |message: String| err(EncodeError::Invalid(message));
        match op.op_type {
            OpType::Invoke => {
                if let Some((prev, _)) = pending.insert(p, (pos, slots.len())) {
                    return Err(msg(format!(
                        "process {p} invokes again while its operation at index {} is still pending",
                        history[prev].index
                    )));
                }
                if model == ModelKind::Kv && op.key.is_none() {
                    return Err(msg(
                        "field key is missing (the kv model needs a key on every operation)"
                            .to_string(),
                    ));
                }
                let key_name = op.key.as_deref().unwrap_or("");
                let next_id = key_ids.len() as u32;
                let key = *key_ids.entry(key_name).or_insert(next_id);
                let input = input_of(op, model, &mut out.values).map_err(err)?;
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
                let Some((inv, slot)) = pending.remove(&p) else {
                    return Err(msg(format!(
                        "process {p} completes an operation it never invoked"
                    )));
                };
                if history[inv].f != op.f {
                    return Err(msg(format!(
                        "completion f {:?} does not match the invocation's {:?} (index {})",
                        op.f, history[inv].f, history[inv].index
                    )));
                }
                if op.key.is_some() && history[inv].key != op.key {
                    return Err(msg(format!(
                        "completion key {} does not match the invocation's {} (index {})",
                        op.key.as_deref().unwrap_or(""),
                        history[inv].key.as_deref().unwrap_or("(none)"),
                        history[inv].index
                    )));
                }
                let (operation, failed) = slots[slot].as_mut().expect("slot filled at invoke");
                operation.complete_index = Some(op.index);
                match op.op_type {
                    OpType::Ok => {
                        operation.ret = pos as u64;
                        operation.output =
                            output_of(op, &operation.input, model, &mut out.values).map_err(err)?;
                    }
                    OpType::Fail
                        if matches!(operation.input, Input::Cas(..))
                            && op.error.as_deref() == Some(CAS_MISMATCH) =>
                    {
                        operation.ret = pos as u64;
                        operation.output = Output::Mismatch;
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
        return Err(Stop::Bad(PrepareError::NoOperations(
            if out.failed.is_empty() {
                "the history has no client operation".to_string()
            } else {
                format!(
                    "all {} client operations failed, so none can be checked",
                    out.failed.len()
                )
            },
        )));
    }
    Ok(out)
}

fn invalid(message: String) -> EncodeError {
    EncodeError::Invalid(message)
}

fn int_arg(op: &Op, what: &str) -> Result<i64, EncodeError> {
    op.value.as_int().ok_or_else(|| {
        invalid(format!(
            "{} expects an integer {what}, got {}",
            op.f,
            op.value.to_json()
        ))
    })
}

/// A scalar argument that must not be nil (a written value, an enqueued element).
fn scalar_arg(op: &Op, values: &mut Values) -> Result<i64, EncodeError> {
    let what = |why: String| invalid(format!("{} expects a value: {why}", op.f));
    match values.encode(&op.value) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(what("got null".to_string())),
        Err(EncodeError::Invalid(why)) => Err(what(why)),
        Err(e) => Err(e),
    }
}

fn input_of(op: &Op, model: ModelKind, values: &mut Values) -> Result<Input, EncodeError> {
    let registers = matches!(
        model,
        ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv
    );
    let queue = matches!(model, ModelKind::FifoQueue | ModelKind::UnorderedQueue);
    let multi = model == ModelKind::MultiRegister;
    Ok(match op.f.as_str() {
        "txn" if multi => Input::Txn(txn::parse(&op.value, values)?.0),
        "read" | "write" if multi && txn::is_txn(&op.value) => {
            Input::Txn(txn::parse(&op.value, values)?.0)
        }
        "read" if !(multi || queue || model == ModelKind::Mutex) => Input::Read,
        "write" if registers => Input::Write(scalar_arg(op, values)?),
        "cas" if registers && model != ModelKind::Register => {
            let pair = match &op.value {
                Value::Ints(v) if v.len() == 2 => Some((values.int(v[0]), values.int(v[1]))),
                Value::Json(serde_json::Value::Array(v)) if v.len() == 2 => {
                    match (values.encode_json(&v[0])?, values.encode_json(&v[1])?) {
                        (Some(a), Some(b)) => Some((a, b)),
                        _ => None,
                    }
                }
                _ => None,
            };
            match pair {
                Some((a, b)) => Input::Cas(a, b),
                None => {
                    return Err(invalid(format!(
                        "cas expects [expected, new], got {}",
                        op.value.to_json()
                    )))
                }
            }
        }
        "add" if model == ModelKind::Set => Input::Add(int_arg(op, "element")?),
        "append" if model == ModelKind::List => Input::Append(int_arg(op, "element")?),
        "acquire" if model == ModelKind::Mutex => Input::Acquire,
        "release" if model == ModelKind::Mutex => Input::Release,
        "enqueue" if queue => Input::Enqueue(scalar_arg(op, values)?),
        "dequeue" if queue => Input::Dequeue,
        other => {
            return Err(invalid(format!(
                "function {other:?} is not part of the {model} model"
            )))
        }
    })
}

fn output_of(
    op: &Op,
    input: &Input,
    model: ModelKind,
    values: &mut Values,
) -> Result<Output, EncodeError> {
    let returns = |what: &str, why: String| invalid(format!("{what} returns {why}"));
    match input {
        Input::Read if matches!(model, ModelKind::Set | ModelKind::List) => match &op.value {
            Value::Null => Ok(Output::Elems(Vec::new())),
            Value::Ints(v) => Ok(Output::Elems(v.clone())),
            other => Err(returns(
                &format!("a {model} read"),
                format!("an array of integers, got {}", other.to_json()),
            )),
        },
        Input::Read | Input::Dequeue => match values.encode(&op.value) {
            Ok(v) => Ok(Output::Value(v)),
            Err(EncodeError::Invalid(why)) => Err(returns(
                &format!("a {} {}", model, op.f),
                format!("a value or null: {why}"),
            )),
            Err(e) => Err(e),
        },
        Input::Txn(mops) => {
            let (done, reads) = txn::parse(&op.value, values)?;
            if done != *mops {
                return Err(invalid(format!(
                    "the completed transaction {} is not the one invoked",
                    op.value.to_json()
                )));
            }
            Ok(Output::Reads(reads))
        }
        _ => Ok(Output::Done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(index: u64, p: u64, t: OpType, f: &str, v: Value) -> Op {
        Op {
            key: Some("k".into()),
            ..Op::client(index, p, t, f, v)
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
    fn a_cas_mismatch_is_a_completed_observation_and_other_failures_are_set_aside() {
        let h = vec![
            line(0, 1, OpType::Invoke, "cas", Value::Ints(vec![1, 2])),
            Op {
                error: Some(CAS_MISMATCH.into()),
                ..line(1, 1, OpType::Fail, "cas", Value::Ints(vec![1, 2]))
            },
            line(2, 2, OpType::Invoke, "cas", Value::Ints(vec![3, 4])),
            Op {
                error: Some("deadline exceeded".into()),
                ..line(3, 2, OpType::Fail, "cas", Value::Ints(vec![3, 4]))
            },
        ];
        let p = prepare(&h, ModelKind::CasRegister).unwrap();
        assert_eq!(p.ops.len(), 1);
        assert_eq!(p.ops[0].input, Input::Cas(1, 2));
        assert_eq!(p.ops[0].output, Output::Mismatch);
        assert_eq!((p.ops[0].call, p.ops[0].ret), (0, 1));
        assert_eq!(p.failed.len(), 1);
        assert_eq!(p.failed[0].input, Input::Cas(3, 4));
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
        assert_eq!(infer_model(&h).unwrap(), ModelKind::Set);
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
