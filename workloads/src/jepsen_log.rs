//! Import of histories from Jepsen's text log (`jepsen.log`), where every operation is
//! one line of the `jepsen.util` logger:
//!
//! ```text
//! INFO  jepsen.util - 4    :invoke    :read    nil
//! INFO  jepsen.util - 4    :ok    :read    3
//! INFO  jepsen.util - 2    :info    :cas    :timed-out
//! INFO  jepsen.util - :nemesis    :info    :start    nil
//! ```
//!
//! After `LEVEL  jepsen.util - ` come the process (an integer, or a keyword such as
//! `:nemesis`), the type (`:invoke`, `:ok`, `:fail`, `:info`), the function (`:read`,
//! `:write`, `:cas`, ...) and the value as one EDN form (`nil`, `3`, `[2 4]`), optionally
//! followed by the error; Jepsen separates these fields with tabs (shown as spaces above),
//! some logs pad them with spaces, and both are read. This is the format of
//! the etcd logs in Porcupine's test data.
//!
//! A completion whose value is a keyword (`:timed-out`) does not carry the operation's
//! argument: it takes the value of its process's invocation, and the keyword becomes
//! its error. Nemesis operations are skipped, as are lines of other loggers
//! (`INFO  jepsen.core - ...`). Any other line, or a `jepsen.util` line that is not an
//! operation, is an error naming the file, the line and what is wrong. The log has no
//! clock: each operation's index is its position and its time 0, as for Knossos'
//! histories.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::edn::{edn_value, parse_all, Edn};
use crate::history::{HistoryError, Numbered, Op, OpType, Process, Value};

/// The logger whose lines are operations.
const OP_LOGGER: &str = "jepsen.util";

/// Whether `src` looks like a Jepsen text log: its first non-blank line is a log line
/// (`LEVEL  logger - message`).
pub fn looks_like_jepsen_log(src: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&src[..src.len().min(4096)]);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| log_line(l).is_some())
}

/// Splits `LEVEL  logger - message` into the logger and the message.
fn log_line(line: &str) -> Option<(&str, &str)> {
    let (level, rest) = line.split_once(char::is_whitespace)?;
    if level.is_empty() || !level.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let (logger, message) = rest.trim_start().split_once(" - ")?;
    (!logger.is_empty() && !logger.contains(char::is_whitespace)).then_some((logger, message))
}

/// Reads a Jepsen text log.
pub fn read_jepsen_log(path: impl AsRef<Path>) -> Result<Vec<Op>, HistoryError> {
    let path = path.as_ref();
    let bytes = crate::history::read_file(path)?;
    parse_jepsen_log(&bytes, path).map(|n| n.ops)
}

/// Parses a Jepsen text log (see the module docs), keeping the line of every
/// operation; `path` names the source in errors.
pub fn parse_jepsen_log(src: &[u8], path: &Path) -> Result<Numbered, HistoryError> {
    let err = |line: usize, column: usize, message: String| HistoryError::Parse {
        path: PathBuf::from(path),
        line,
        column,
        message,
    };
    let text = std::str::from_utf8(src).map_err(|e| {
        let line = 1 + src[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        err(line, 1, "not UTF-8 text".to_string())
    })?;
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    // The value of each process's pending invocation, for completions that lack it.
    let mut pending: HashMap<u64, Value> = HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let Some((logger, message)) = log_line(line) else {
            return Err(err(
                line_no,
                1,
                format!("not a Jepsen log line (expected `LEVEL  logger - message`): {line}"),
            ));
        };
        if logger != OP_LOGGER {
            continue;
        }
        let column = line.len() - message.len() + 1;
        let fields = parse_fields(message).map_err(|m| err(line_no, column, m))?;
        let Process::Client(process) = fields.process else {
            continue;
        };
        let value = match (&fields.value, fields.op_type) {
            (Edn::Keyword(_), OpType::Invoke) => {
                return Err(err(
                    line_no,
                    column,
                    format!(
                        "an invocation's value is its argument, not {}",
                        fields.value
                    ),
                ))
            }
            (Edn::Keyword(_), _) => pending.get(&process).cloned().unwrap_or(Value::Null),
            (v, _) => edn_value(v),
        };
        let error = match &fields.value {
            Edn::Keyword(k) => Some(k.clone()),
            _ => fields.error,
        };
        if fields.op_type == OpType::Invoke {
            pending.insert(process, value.clone());
        } else {
            pending.remove(&process);
        }
        ops.push(Op {
            index: ops.len() as u64,
            time: 0,
            process: fields.process,
            op_type: fields.op_type,
            f: fields.f,
            key: None,
            value,
            error,
        });
        lines.push(line_no);
    }
    Ok(Numbered {
        ops,
        lines,
        truncation: None,
    })
}

/// The fields of one operation line.
struct Fields {
    process: Process,
    op_type: OpType,
    f: String,
    value: Edn,
    error: Option<String>,
}

/// Parses `PROCESS TYPE F VALUE [ERROR]`.
fn parse_fields(message: &str) -> Result<Fields, String> {
    let expected = "expected `PROCESS\t:TYPE\t:F\tVALUE`";
    let mut rest = message.trim_start();
    let mut word = || {
        let (w, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        rest = r.trim_start();
        w
    };
    let (process, op_type, f) = (word(), word(), word());
    if f.is_empty() {
        return Err(format!("not an operation ({expected}): {message}"));
    }
    let process = match process.parse::<u64>() {
        Ok(p) => Process::Client(p),
        Err(_) if process.starts_with(':') => Process::Nemesis,
        Err(_) => return Err(format!("bad process {process:?} ({expected})")),
    };
    let op_type = match op_type {
        ":invoke" => OpType::Invoke,
        ":ok" => OpType::Ok,
        ":fail" => OpType::Fail,
        ":info" => OpType::Info,
        other => {
            return Err(format!(
                "unknown type {other:?} (expected :invoke, :ok, :fail or :info)"
            ))
        }
    };
    let Some(f) = f.strip_prefix(':').filter(|f| !f.is_empty()) else {
        return Err(format!(
            "bad function {f:?} (expected a keyword such as :read)"
        ));
    };
    if rest.is_empty() {
        return Err(format!("the value is missing ({expected})"));
    }
    // The value is one EDN form; what follows it, if anything, is the error.
    let forms = parse_all(rest.as_bytes(), Path::new("value"))
        .map_err(|e| format!("bad value {rest:?}: {}", edn_message(&e)))?;
    let mut forms = forms.into_iter().map(|(_, form)| form);
    let value = forms.next().expect("rest is not blank, so it holds a form");
    let others: Vec<String> = forms.map(|f| f.key_string()).collect();
    let error = (!others.is_empty()).then(|| others.join(" "));
    Ok(Fields {
        process,
        op_type,
        f: f.to_string(),
        value,
        error,
    })
}

/// The message of an EDN reader error, without its made-up file name.
fn edn_message(e: &HistoryError) -> String {
    match e {
        HistoryError::Parse { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Numbered, HistoryError> {
        parse_jepsen_log(s.as_bytes(), Path::new("etcd.log"))
    }

    #[test]
    fn reads_operations_and_fills_timed_out_values() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:write\t3\n\
                   INFO  jepsen.core - Worker 1 starting\n\
                   INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]\n\
                   INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
                   INFO  jepsen.util - 0\t:ok\t:write\t3\n\
                   \n\
                   INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n\
                   INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 2\t:fail\t:read\t:timed-out\n\
                   INFO  jepsen.util - 6\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 6\t:ok\t:read\t4\n";
        let n = parse(log).unwrap();
        assert_eq!(n.lines, vec![1, 3, 5, 7, 8, 9, 10, 11]);
        let info = &n.ops[3];
        assert_eq!(
            (info.process, info.op_type, info.f.as_str()),
            (Process::Client(1), OpType::Info, "cas")
        );
        assert_eq!(
            info.value,
            Value::Ints(vec![3, 4]),
            "the invocation's value"
        );
        assert_eq!(info.error.as_deref(), Some("timed-out"));
        assert_eq!(n.ops[5].value, Value::Null);
        assert_eq!(n.ops[5].op_type, OpType::Fail);
        assert_eq!(n.ops[7].value, Value::Int(4));
        assert!(n.ops.iter().enumerate().all(|(i, o)| o.index == i as u64));
        assert!(
            n.ops.iter().all(|o| !o.is_nemesis()),
            "nemesis lines skipped"
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            (
                "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nnot a log line\n",
                2,
                "not a Jepsen log line",
            ),
            (
                "INFO  jepsen.util - 0\t:begin\t:read\tnil\n",
                1,
                "unknown type \":begin\"",
            ),
            (
                "INFO  jepsen.util - x\t:invoke\t:read\tnil\n",
                1,
                "bad process \"x\"",
            ),
            (
                "INFO  jepsen.util - 0\t:invoke\t:read\n",
                1,
                "the value is missing",
            ),
            (
                "INFO  jepsen.util - 0\t:invoke\t:write\t[1 2\n",
                1,
                "bad value",
            ),
            (
                "INFO  jepsen.util - 0\t:invoke\t:write\t:timed-out\n",
                1,
                "an invocation's value",
            ),
            (
                "INFO  jepsen.util - Waiting for the cluster\n",
                1,
                "bad process \"Waiting\"",
            ),
            ("INFO  jepsen.util - Waiting\n", 1, "not an operation"),
            (
                "INFO  jepsen.util - 0\t:invoke\tread\tnil\n",
                1,
                "bad function",
            ),
        ];
        for (log, line, what) in cases {
            let e = parse(log).expect_err(log).to_string();
            assert!(e.starts_with(&format!("etcd.log:{line}:")), "{e}");
            assert!(e.contains(what), "{log:?}: {e}");
        }
    }

    #[test]
    fn an_error_field_after_the_value_is_kept() {
        let n = parse("INFO  jepsen.util - 3\t:invoke\t:read\tnil\nINFO  jepsen.util - 3\t:fail\t:read\tnil\t:not-found\n").unwrap();
        assert_eq!(n.ops[1].error.as_deref(), Some("not-found"));
    }

    #[test]
    fn fields_padded_with_spaces_are_read() {
        let n = parse(
            "INFO  jepsen.util - 14  :invoke :cas    [2 4]\n\
             INFO  jepsen.util - 14  :info   :cas    :timed-out\n",
        )
        .unwrap();
        assert_eq!(n.ops[1].process, Process::Client(14));
        assert_eq!(n.ops[1].value, Value::Ints(vec![2, 4]));
    }

    #[test]
    fn detection() {
        assert!(looks_like_jepsen_log(
            b"\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
        ));
        assert!(looks_like_jepsen_log(
            b"WARN jepsen.core - Process 3 crashed\n"
        ));
        assert!(!looks_like_jepsen_log(b"{\"index\":0}\n"));
        assert!(!looks_like_jepsen_log(b"[{:process 0}]"));
        assert!(!looks_like_jepsen_log(b""));
    }
}
