//! Operation histories: the record of every operation a test performed, and the
//! streaming JSONL format they are stored in (`history.jsonl`).
//!
//! One operation per line, with Jepsen's field names:
//!
//! ```text
//! {"index":0,"time":12345,"process":3,"type":"invoke","f":"cas","key":"k7","value":[3,9]}
//! ```
//!
//! `time` is in nanoseconds since the test started; `type` is one of
//! `invoke | ok | fail | info`; nemesis operations use `"process":"nemesis"` and a
//! free-form JSON `value` describing the fault. `key` and `error` are optional.
//!
//! Semantics (Jepsen's): every client operation is an `invoke` followed, on the same
//! process, by one completion. `ok` means it happened, `fail` means it certainly did
//! not, `info` means it may have happened at any time after the invocation (or never);
//! an invocation without completion counts as `info`. For reads the `ok` value is the
//! value read and replaces the invocation's `null`.
//!
//! Value conventions of our workloads: read → `null` at invoke and the value read
//! (int or null) at ok; write → int; cas → `[expected, new]`; add/append → the element;
//! reads of sets and lists → an array of ints.
//!
//! A cas that compared and found another value than it expected completes `fail` with
//! the error [`CAS_MISMATCH`]. It wrote nothing, so it is a `fail`; but it also tells
//! that at some instant between its invocation and that completion the register held
//! another value than `expected`, and the register checkers use that observation (as
//! Porcupine's etcd model does). Any other failed cas only did not happen.
//!
//! The writer writes each line straight into the file's buffer and the caller flushes
//! it regularly, so a killed controller loses at most the unflushed tail, and at worst
//! leaves one truncated last line. The reader reports that case as
//! [`HistoryError::TruncatedTail`], or tolerates it with [`read_jsonl_lenient`], which
//! says what it dropped. Parsing runs in parallel over lines.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The `error` of a cas that compared and found another value than it expected (see the
/// module docs): every client of a store completes such a cas `fail` with it.
pub const CAS_MISMATCH: &str = "cas-mismatch";

/// Errors reading or writing a history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line (or EDN form) is not a valid operation.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The last line is incomplete: the writer was probably killed mid-write.
    #[error(
        "{path}:{line}: the last line is truncated (the writer was probably killed \
         mid-write); it can be ignored with the lenient reader"
    )]
    TruncatedTail {
        /// The file concerned.
        path: PathBuf,
        /// 1-based number of the truncated line.
        line: usize,
    },
}

/// What kind of event an operation line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation was started.
    Invoke,
    /// It completed and certainly happened.
    Ok,
    /// It completed and certainly did not happen.
    Fail,
    /// Its outcome is unknown: it may take effect at any time after invocation, or never.
    Info,
}

impl OpType {
    /// The name used in histories (`invoke`, `ok`, `fail`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }
}

/// Who performed an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A logical client process (serialised as a number).
    Client(u64),
    /// The nemesis (serialised as `"nemesis"`).
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative process number or \"nemesis\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("negative process number {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Process, E> {
                if v == "nemesis" {
                    Ok(Process::Nemesis)
                } else {
                    Err(E::custom(format!(
                        "unknown process {v:?}: expected a number or \"nemesis\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The value of an operation, compact for the shapes our workloads use and
/// free-form JSON otherwise. Serialises to plain JSON (`null`, `5`, `[3,9]`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// `null`: no value (a read's invocation, or a read of an absent key).
    #[default]
    Null,
    /// One integer.
    Int(i64),
    /// An array of integers: a CAS's `[expected, new]`, or a set/list read.
    Ints(Vec<i64>),
    /// Anything else (e.g. a nemesis description).
    Json(serde_json::Value),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The integers, if this is an array of integers.
    pub fn as_ints(&self) -> Option<&[i64]> {
        match self {
            Value::Ints(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as generic JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Int(v) => serde_json::Value::from(*v),
            Value::Ints(v) => serde_json::Value::from(v.clone()),
            Value::Json(v) => v.clone(),
        }
    }

    /// Builds the compact form of a generic JSON value.
    pub fn from_json(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Number(ref n) if n.is_i64() => Value::Int(n.as_i64().unwrap_or(0)),
            serde_json::Value::Array(ref items) if items.iter().all(|i| i.is_i64()) => {
                Value::Ints(items.iter().filter_map(|i| i.as_i64()).collect())
            }
            other => Value::Json(other),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("nil"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Ints(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Value::Json(v) => write!(f, "{v}"),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int)
    }
}

impl From<Vec<i64>> for Value {
    fn from(v: Vec<i64>) -> Self {
        Value::Ints(v)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::from_json(v)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Int(v) => s.serialize_i64(*v),
            Value::Ints(v) => v.serialize(s),
            Value::Json(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Value, D2::Error> {
                Value::deserialize(d)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or_else(|_| Value::Json(v.into()), Value::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Json(v.into()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Json(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Json(v.into()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Json(v.into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut ints = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(64));
                // Fast path: integers only; fall back to generic JSON on the first other item.
                loop {
                    let item: Option<serde_json::Value> = seq.next_element()?;
                    match item {
                        None => return Ok(Value::Ints(ints)),
                        Some(serde_json::Value::Number(n)) if n.is_i64() => {
                            ints.push(n.as_i64().unwrap_or(0));
                        }
                        Some(other) => {
                            let mut all: Vec<serde_json::Value> =
                                ints.into_iter().map(serde_json::Value::from).collect();
                            all.push(other);
                            while let Some(x) = seq.next_element::<serde_json::Value>()? {
                                all.push(x);
                            }
                            return Ok(Value::Json(serde_json::Value::Array(all)));
                        }
                    }
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Value::Json(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// One event of a history: an invocation or a completion. `index`, `time`, `process`,
/// `type` and `f` are required; a field the format does not know (a misspelled `kye`)
/// is an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// Position in the history, 0-based and increasing.
    pub index: u64,
    /// Nanoseconds since the test started.
    pub time: u64,
    /// The process that performed it.
    pub process: Process,
    /// Invocation or kind of completion.
    #[serde(rename = "type")]
    pub op_type: OpType,
    /// The function: `read`, `write`, `cas`, `add`, `append`, or a nemesis action.
    pub f: String,
    /// The key it addresses, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its argument or result (see the module docs for the conventions).
    #[serde(default)]
    pub value: Value,
    /// Why it failed or is indeterminate, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    /// An operation of client process `process` at position `index`, with no key and
    /// no error; its time is `index` nanoseconds. Set a key, another clock or an error
    /// with struct update syntax: `Op { key: Some(k), ..Op::client(...) }`.
    pub fn client(index: u64, process: u64, op_type: OpType, f: &str, value: Value) -> Op {
        Op {
            index,
            time: index,
            process: Process::Client(process),
            op_type,
            f: f.to_string(),
            key: None,
            value,
            error: None,
        }
    }

    /// A nemesis operation at `time` (ns); `index` 0 until a writer numbers it.
    pub fn nemesis(time: u64, op_type: OpType, f: &str, value: serde_json::Value) -> Op {
        Op {
            index: 0,
            time,
            process: Process::Nemesis,
            op_type,
            f: f.to_string(),
            key: None,
            value: Value::Json(value),
            error: None,
        }
    }

    /// Whether the nemesis performed it.
    pub fn is_nemesis(&self) -> bool {
        self.process == Process::Nemesis
    }
}

/// Streams operations into a JSONL history file, one line per `append`.
pub struct HistoryWriter {
    /// Where it writes (for error messages).
    path: PathBuf,
    /// The buffered file.
    out: BufWriter<File>,
    /// Reused line buffer.
    line: Vec<u8>,
}

impl HistoryWriter {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<HistoryWriter, HistoryError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|source| HistoryError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(HistoryWriter {
            path,
            out: BufWriter::with_capacity(64 * 1024, file),
            line: Vec::with_capacity(256),
        })
    }

    /// Appends one operation as one line. It reaches the file at the latest on `flush`.
    pub fn append(&mut self, op: &Op) -> Result<(), HistoryError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, op).map_err(|e| HistoryError::Io {
            path: self.path.clone(),
            source: e.into(),
        })?;
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(|source| HistoryError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes everything appended so far into the file (not an fsync).
    pub fn flush(&mut self) -> Result<(), HistoryError> {
        self.out.flush().map_err(|source| HistoryError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes and fsyncs the file.
    pub fn sync(&mut self) -> Result<(), HistoryError> {
        self.flush()?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(|source| HistoryError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// A truncated last line that the lenient reader dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Truncation {
    /// 1-based line number of the dropped line.
    pub line: usize,
    /// How many bytes it had.
    pub bytes: usize,
}

/// A parsed history with the line each operation came from.
#[derive(Debug, Clone, Default)]
pub struct Numbered {
    /// The operations, in file order.
    pub ops: Vec<Op>,
    /// 1-based line of each operation (`lines[i]` is where `ops[i]` starts).
    pub lines: Vec<usize>,
    /// The truncated last line that was dropped, if any.
    pub truncation: Option<Truncation>,
}

/// Reads a JSONL history; a truncated last line is an error.
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<Op>, HistoryError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    parse_jsonl(&bytes, path, false).map(|(ops, _)| ops)
}

/// Reads a JSONL history, dropping a truncated last line (and saying so in the
/// second result). Any other malformed line is still an error.
pub fn read_jsonl_lenient(
    path: impl AsRef<Path>,
) -> Result<(Vec<Op>, Option<Truncation>), HistoryError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    parse_jsonl(&bytes, path, true)
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, HistoryError> {
    std::fs::read(path).map_err(|source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses JSONL bytes; `path` only names the source in errors. Blank lines are
/// skipped. A last line without its newline that does not parse is a truncated tail:
/// dropped and reported if `lenient`, an error otherwise.
pub fn parse_jsonl(
    bytes: &[u8],
    path: &Path,
    lenient: bool,
) -> Result<(Vec<Op>, Option<Truncation>), HistoryError> {
    parse_jsonl_numbered(bytes, path, lenient).map(|n| (n.ops, n.truncation))
}

/// [`parse_jsonl`], keeping the line of every operation.
pub fn parse_jsonl_numbered(
    bytes: &[u8],
    path: &Path,
    lenient: bool,
) -> Result<Numbered, HistoryError> {
    let mut lines: Vec<(usize, &[u8])> = Vec::with_capacity(bytes.len() / 80 + 1);
    let mut start = 0;
    for (n, end) in memchr::memchr_iter(b'\n', bytes).enumerate() {
        lines.push((n + 1, &bytes[start..end]));
        start = end + 1;
    }
    let tail = if start < bytes.len() {
        Some((lines.len() + 1, &bytes[start..]))
    } else {
        None
    };
    let parse = |&(line, text): &(usize, &[u8])| -> Result<Option<Op>, HistoryError> {
        if text.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        if let Some(op) = parse_canonical(text) {
            return Ok(Some(op));
        }
        serde_json::from_slice::<Op>(text)
            .map(Some)
            .map_err(|e| HistoryError::Parse {
                path: path.to_path_buf(),
                line,
                column: e.column().max(1),
                message: e
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or("")
                    .to_string(),
            })
    };
    const CHUNK: usize = 4096;
    let parsed: Result<Vec<Vec<(usize, Op)>>, HistoryError> = lines
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut out = Vec::with_capacity(chunk.len());
            for l in chunk {
                if let Some(op) = parse(l)? {
                    out.push((l.0, op));
                }
            }
            Ok(out)
        })
        .collect();
    let mut out = Numbered {
        ops: Vec::with_capacity(lines.len() + 1),
        lines: Vec::with_capacity(lines.len() + 1),
        truncation: None,
    };
    for (line, op) in parsed?.into_iter().flatten() {
        out.ops.push(op);
        out.lines.push(line);
    }
    if let Some(t) = tail {
        match parse(&t) {
            Ok(Some(op)) => {
                out.ops.push(op);
                out.lines.push(t.0);
            }
            Ok(None) => {}
            Err(HistoryError::Parse { .. }) if lenient => {
                out.truncation = Some(Truncation {
                    line: t.0,
                    bytes: t.1.len(),
                });
            }
            Err(HistoryError::Parse { .. }) => {
                return Err(HistoryError::TruncatedTail {
                    path: path.to_path_buf(),
                    line: t.0,
                })
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A byte cursor for [`parse_canonical`].
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(s) {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn uint(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        (self.i > start).then_some(v)
    }

    fn int(&mut self) -> Option<i64> {
        if self.peek() == Some(b'-') {
            self.i += 1;
            let v = self.uint()?;
            0i64.checked_sub_unsigned(v)
        } else {
            i64::try_from(self.uint()?).ok()
        }
    }

    /// A string without escapes.
    fn str(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let start = self.i;
        let len = memchr::memchr(b'"', &self.b[start..])?;
        let raw = &self.b[start..start + len];
        if raw.iter().any(|&c| c == b'\\' || c < 0x20) {
            return None;
        }
        self.i = start + len + 1;
        std::str::from_utf8(raw).ok()
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'n' => self.lit(b"null").map(|_| Value::Null),
            b'[' => {
                self.i += 1;
                let mut v = Vec::new();
                if self.lit(b"]").is_some() {
                    return Some(Value::Ints(v));
                }
                loop {
                    v.push(self.int()?);
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Value::Ints(v));
                        }
                        _ => return None,
                    }
                }
            }
            _ => self.int().map(Value::Int),
        }
    }
}

/// Parses a line exactly as [`HistoryWriter`] writes it (fields in order, no spaces,
/// no escapes, integer values), which is most lines by far. Anything else returns
/// `None` and goes through the general JSON parser.
fn parse_canonical(line: &[u8]) -> Option<Op> {
    let mut c = Cursor { b: line, i: 0 };
    c.lit(b"{\"index\":")?;
    let index = c.uint()?;
    c.lit(b",\"time\":")?;
    let time = c.uint()?;
    c.lit(b",\"process\":")?;
    let process = if c.peek()? == b'"' {
        (c.str()? == "nemesis").then_some(Process::Nemesis)?
    } else {
        Process::Client(c.uint()?)
    };
    c.lit(b",\"type\":")?;
    let op_type = match c.str()? {
        "invoke" => OpType::Invoke,
        "ok" => OpType::Ok,
        "fail" => OpType::Fail,
        "info" => OpType::Info,
        _ => return None,
    };
    c.lit(b",\"f\":")?;
    let f = c.str()?.to_string();
    let key = match c.lit(b",\"key\":") {
        Some(()) => Some(c.str()?.to_string()),
        None => None,
    };
    c.lit(b",\"value\":")?;
    let value = c.value()?;
    let error = match c.lit(b",\"error\":") {
        Some(()) => Some(c.str()?.to_string()),
        None => None,
    };
    c.lit(b"}")?;
    if !line[c.i..].iter().all(|b| b.is_ascii_whitespace()) {
        return None;
    }
    Some(Op {
        index,
        time,
        process,
        op_type,
        f,
        key,
        value,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(index: u64, process: Process, t: OpType, f: &str, value: Value) -> Op {
        Op {
            time: index * 10,
            process,
            key: Some("k7".into()),
            ..Op::client(index, 0, t, f, value)
        }
    }

    #[test]
    fn line_format_matches_design() {
        let o = op(
            0,
            Process::Client(3),
            OpType::Invoke,
            "cas",
            Value::Ints(vec![3, 9]),
        );
        let s = serde_json::to_string(&Op { time: 12345, ..o }).unwrap();
        assert_eq!(
            s,
            r#"{"index":0,"time":12345,"process":3,"type":"invoke","f":"cas","key":"k7","value":[3,9]}"#
        );
    }

    #[test]
    fn writer_and_reader_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let ops = vec![
            op(0, Process::Client(1), OpType::Invoke, "read", Value::Null),
            op(1, Process::Client(1), OpType::Ok, "read", Value::Int(4)),
            Op {
                error: Some("timeout".into()),
                ..op(2, Process::Client(2), OpType::Info, "write", Value::Int(-5))
            },
            op(
                3,
                Process::Nemesis,
                OpType::Info,
                "start-partition",
                Value::Json(serde_json::json!({"nodes": ["n1"], "outcome": "installed"})),
            ),
            op(
                4,
                Process::Client(3),
                OpType::Ok,
                "read",
                Value::Ints(vec![]),
            ),
        ];
        let mut w = HistoryWriter::create(&path).unwrap();
        for o in &ops {
            w.append(o).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(read_jsonl(&path).unwrap(), ops);
    }

    #[test]
    fn truncated_tail_is_reported_or_dropped() {
        let text =
            b"{\"index\":0,\"time\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,\"proc";
        let p = Path::new("h.jsonl");
        match parse_jsonl(text, p, false) {
            Err(HistoryError::TruncatedTail { line: 2, .. }) => {}
            other => panic!("expected a truncated tail error, got {other:?}"),
        }
        let (ops, t) = parse_jsonl(text, p, true).unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(t, Some(Truncation { line: 2, bytes: 16 }));
    }

    #[test]
    fn malformed_line_names_line_and_column() {
        let text = b"{\"index\":0,\"time\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,\"time\":0,\"process\":1,\"type\":\"bogus\",\"f\":\"read\"}\n";
        let err = parse_jsonl(text, Path::new("h.jsonl"), true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("h.jsonl:2:"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn required_and_unknown_fields_are_errors() {
        let full =
            r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"read","key":"a","value":null}"#;
        let mut v: serde_json::Value = serde_json::from_str(full).unwrap();
        for field in ["index", "time", "process", "type", "f"] {
            let mut w = v.clone();
            w.as_object_mut().unwrap().remove(field);
            let text = format!("{full}\n{w}\n");
            let e = parse_jsonl(text.as_bytes(), Path::new("h.jsonl"), false).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("h.jsonl:2:"), "{msg}");
            assert!(msg.contains(&format!("missing field `{field}`")), "{msg}");
        }
        v.as_object_mut().unwrap().insert("kye".into(), "a".into());
        let e = parse_jsonl(format!("{v}\n").as_bytes(), Path::new("h.jsonl"), false).unwrap_err();
        assert!(e.to_string().contains("unknown field `kye`"), "{e}");
    }

    #[test]
    fn lines_are_kept_for_messages() {
        let text = format!(
            "\n{}\n\n{}\n",
            r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"read","value":null}"#,
            r#"{"index":1,"time":2,"process":3,"type":"ok","f":"read","value":null}"#
        );
        let n = parse_jsonl_numbered(text.as_bytes(), Path::new("h"), false).unwrap();
        assert_eq!(n.lines, vec![2, 4]);
        assert_eq!(n.ops.len(), 2);
    }

    #[test]
    fn fast_path_agrees_with_the_json_parser() {
        let lines = [
            r#"{"index":0,"time":12345,"process":3,"type":"invoke","f":"cas","key":"k7","value":[3,9]}"#,
            r#"{"index":1,"time":1,"process":"nemesis","type":"info","f":"kill","value":null}"#,
            r#"{"index":2,"time":1,"process":4,"type":"info","f":"write","value":-7,"error":"timeout"}"#,
            r#"{"index":3,"time":1,"process":4,"type":"ok","f":"read","key":"a","value":[]}"#,
        ];
        for l in lines {
            let fast = parse_canonical(l.as_bytes()).expect("canonical line");
            assert_eq!(fast, serde_json::from_str::<Op>(l).unwrap(), "{l}");
        }
        let others = [
            r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"w\"x","value":1}"#,
            r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"w","value":1.5}"#,
            r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"w","value":{"a":1}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"w","value":99999999999999999999}"#,
            r#"{ "index":0,"time":1,"process":3,"type":"invoke","f":"w","value":1}"#,
        ];
        for l in others {
            assert_eq!(parse_canonical(l.as_bytes()), None, "{l}");
            let op: Op = serde_json::from_str(l).unwrap();
            assert_eq!(
                parse_jsonl(l.as_bytes(), Path::new("h"), false).unwrap().0,
                vec![op]
            );
        }
    }

    #[test]
    fn mixed_arrays_and_big_numbers_stay_json() {
        let v: Value = serde_json::from_str(r#"[1,"a"]"#).unwrap();
        assert_eq!(v, Value::Json(serde_json::json!([1, "a"])));
        let v: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert!(matches!(v, Value::Json(_)));
    }
}
