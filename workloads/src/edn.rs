//! Import of Jepsen / Knossos histories written in EDN.
//!
//! The reader covers the subset of EDN that histories use: maps, vectors, lists, sets
//! (`#{}`), keywords, symbols, integers, floats, strings, characters, `nil`, `true`,
//! `false`, comments (`;`), discards (`#_`) and tagged elements (`#jepsen.history.Op{...}`,
//! whose tag is dropped). Every error names the file, line and column.
//!
//! A history is either one vector or list of operation maps, or a sequence of maps (one
//! per line, as Jepsen's `history.edn`). Each map has `:process`, `:type`, `:f`, `:value`
//! and optionally `:index`, `:time`, `:error`. Independent-key histories (`:value [k v]`
//! on every client operation) are split into `key` and `value`; this is detected when
//! every client operation's value is a two-element vector whose first element is not a
//! collection (so a two-micro-op transaction is not taken for a tuple), and can be
//! forced either way. Integers too large for 64 bits stay exact ([`Edn::BigInt`]).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::history::{HistoryError, Numbered, Op, OpType, Process, Value};

/// A parsed EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An integer too large for 64 bits, as its decimal digits (with a leading `-` if
    /// negative).
    BigInt(String),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A character (`\a`).
    Char(char),
    /// A keyword, without its colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `[...]`.
    Vector(Vec<Edn>),
    /// `(...)`.
    List(Vec<Edn>),
    /// `#{...}`.
    Set(Vec<Edn>),
    /// `{...}`, in source order.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    fn items(&self) -> Option<&[Edn]> {
        match self {
            Edn::Vector(v) | Edn::List(v) | Edn::Set(v) => Some(v),
            _ => None,
        }
    }

    /// The value as JSON (keywords become strings, maps objects with printed keys).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Edn::Nil => J::Null,
            Edn::Bool(b) => J::Bool(*b),
            Edn::Int(i) => J::from(*i),
            Edn::Float(f) => J::from(*f),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => J::String(s.clone()),
            Edn::BigInt(digits) => match digits.parse::<u64>() {
                Ok(u) => J::from(u),
                Err(_) => J::String(digits.clone()),
            },
            Edn::Char(c) => J::String(c.to_string()),
            Edn::Vector(v) | Edn::List(v) | Edn::Set(v) => {
                J::Array(v.iter().map(Edn::to_json).collect())
            }
            Edn::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.key_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The value printed as a key or message: strings and keywords bare, else EDN-ish.
    pub fn key_string(&self) -> String {
        match self {
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) | Edn::BigInt(s) => s.clone(),
            Edn::Int(i) => i.to_string(),
            other => other.to_json().to_string(),
        }
    }
}

impl fmt::Display for Edn {
    /// Prints the value back as EDN (`:keyword`, `"string"`, `[1 2]`, `{:a 1}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items = |f: &mut fmt::Formatter<'_>, open: &str, v: &[Edn], close: &str| {
            f.write_str(open)?;
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{x}")?;
            }
            f.write_str(close)
        };
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::BigInt(digits) => f.write_str(digits),
            Edn::Float(x) => write!(f, "{x}"),
            Edn::Str(s) => write!(f, "{}", serde_json::Value::from(s.as_str())),
            Edn::Char(c) => write!(f, "\\{c}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::Vector(v) => items(f, "[", v, "]"),
            Edn::List(v) => items(f, "(", v, ")"),
            Edn::Set(v) => items(f, "#{", v, "}"),
            Edn::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Where a value starts in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

struct Reader<'a> {
    src: &'a [u8],
    at: usize,
    line: usize,
    col: usize,
    path: &'a Path,
}

const MAX_DEPTH: usize = 256;

impl<'a> Reader<'a> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }

    fn err_at(&self, pos: Pos, message: impl Into<String>) -> HistoryError {
        HistoryError::Parse {
            path: self.path.to_path_buf(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col += 1;
        }
        Some(b)
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => {
                    self.bump();
                }
                b';' => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                _ => break,
            }
        }
    }

    /// The next form, or `None` at the end of input.
    fn next_form(&mut self, depth: usize) -> Result<Option<(Pos, Edn)>, HistoryError> {
        self.skip_ws();
        let pos = self.pos();
        let Some(b) = self.peek() else {
            return Ok(None);
        };
        if depth > MAX_DEPTH {
            return Err(self.err_at(pos, "nesting too deep"));
        }
        let value = match b {
            b'[' => {
                self.bump();
                Edn::Vector(self.seq(b']', pos, depth)?)
            }
            b'(' => {
                self.bump();
                Edn::List(self.seq(b')', pos, depth)?)
            }
            b'{' => {
                self.bump();
                self.map(pos, depth)?
            }
            b'#' => {
                self.bump();
                match self.peek() {
                    Some(b'{') => {
                        self.bump();
                        Edn::Set(self.seq(b'}', pos, depth)?)
                    }
                    Some(b'_') => {
                        self.bump();
                        self.required(depth + 1, pos, "a form after #_")?;
                        return self.next_form(depth);
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        self.token();
                        return match self.next_form(depth + 1)? {
                            Some(tagged) => Ok(Some((pos, tagged.1))),
                            None => Err(self.err_at(pos, "a tag without a value")),
                        };
                    }
                    _ => return Err(self.err_at(pos, "unsupported dispatch after '#'")),
                }
            }
            b'"' => self.string(pos)?,
            b'\\' => {
                self.bump();
                let tok = self.token();
                let c = match tok.as_str() {
                    "newline" => '\n',
                    "space" => ' ',
                    "tab" => '\t',
                    "return" => '\r',
                    t if t.chars().count() == 1 => t.chars().next().unwrap_or(' '),
                    "" => match self.bump() {
                        Some(c) => c as char,
                        None => return Err(self.err_at(pos, "a character literal is cut off")),
                    },
                    t => return Err(self.err_at(pos, format!("unknown character \\{t}"))),
                };
                Edn::Char(c)
            }
            b')' | b']' | b'}' => {
                return Err(self.err_at(pos, format!("unexpected '{}'", b as char)))
            }
            b':' => {
                self.bump();
                let tok = self.token();
                if tok.is_empty() {
                    return Err(self.err_at(pos, "an empty keyword"));
                }
                Edn::Keyword(tok)
            }
            _ => {
                let tok = self.token();
                if tok.is_empty() {
                    return Err(self.err_at(pos, format!("unexpected character {:?}", b as char)));
                }
                self.atom(&tok, pos)?
            }
        };
        Ok(Some((pos, value)))
    }

    fn required(&mut self, depth: usize, open: Pos, what: &str) -> Result<Edn, HistoryError> {
        match self.next_form(depth)? {
            Some((_, v)) => Ok(v),
            None => Err(self.err_at(open, format!("input ends before {what}"))),
        }
    }

    fn token(&mut self) -> String {
        let start = self.at;
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || b",()[]{}\";".contains(&b) {
                break;
            }
            self.bump();
        }
        String::from_utf8_lossy(&self.src[start..self.at]).into_owned()
    }

    fn atom(&self, tok: &str, pos: Pos) -> Result<Edn, HistoryError> {
        Ok(match tok {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => {
                let first = tok.as_bytes()[0];
                let numeric = first.is_ascii_digit()
                    || ((first == b'-' || first == b'+')
                        && tok.len() > 1
                        && tok.as_bytes()[1].is_ascii_digit());
                if numeric {
                    let t = tok.trim_end_matches('N');
                    if let Ok(i) = t.parse::<i64>() {
                        Edn::Int(i)
                    } else if let Some(digits) = big_integer(t) {
                        Edn::BigInt(digits)
                    } else if let Ok(f) = tok.trim_end_matches('M').parse::<f64>() {
                        Edn::Float(f)
                    } else {
                        return Err(self.err_at(pos, format!("bad number {tok:?}")));
                    }
                } else {
                    Edn::Symbol(tok.to_string())
                }
            }
        })
    }

    fn string(&mut self, open: Pos) -> Result<Edn, HistoryError> {
        self.bump();
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.bump() else {
                return Err(self.err_at(open, "unterminated string"));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let esc = self.pos();
                    match self.bump() {
                        Some(b'n') => out.push(b'\n'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b'"') => out.push(b'"'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'u') => {
                            let mut code = String::new();
                            for _ in 0..4 {
                                match self.bump() {
                                    Some(h) => code.push(h as char),
                                    None => return Err(self.err_at(esc, "unterminated string")),
                                }
                            }
                            let c = u32::from_str_radix(&code, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err_at(esc, format!("bad escape \\u{code}")))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err_at(esc, "unknown escape in string")),
                    }
                }
                _ => out.push(b),
            }
        }
        Ok(Edn::Str(String::from_utf8_lossy(&out).into_owned()))
    }

    fn seq(&mut self, close: u8, open: Pos, depth: usize) -> Result<Vec<Edn>, HistoryError> {
        let items = self.seq_at(close, open, depth)?;
        Ok(items.into_iter().map(|(_, item)| item).collect())
    }

    /// The items of a collection up to `close`, each with where it starts.
    fn seq_at(
        &mut self,
        close: u8,
        open: Pos,
        depth: usize,
    ) -> Result<Vec<(Pos, Edn)>, HistoryError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    return Err(self.err_at(
                        open,
                        format!("unclosed collection (expected '{}')", close as char),
                    ))
                }
                Some(b) if b == close => {
                    self.bump();
                    return Ok(items);
                }
                _ => {
                    let at = self.pos();
                    items.push((at, self.required(depth + 1, open, "the collection closes")?));
                }
            }
        }
    }

    fn map(&mut self, open: Pos, depth: usize) -> Result<Edn, HistoryError> {
        let mut items = self.seq(b'}', open, depth)?;
        if items.len() % 2 != 0 {
            return Err(self.err_at(open, "a map needs an even number of forms"));
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.drain(..);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(Edn::Map(pairs))
    }
}

/// The canonical digits of an integer literal that does not fit in 64 bits.
fn big_integer(t: &str) -> Option<String> {
    let (sign, digits) = match t.as_bytes().first()? {
        b'-' => ("-", &t[1..]),
        b'+' => ("", &t[1..]),
        _ => ("", t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    Some(format!("{sign}{digits}"))
}

/// Parses every top-level form of `src`, with where each starts.
pub fn parse_all(src: &[u8], path: &Path) -> Result<Vec<(Pos, Edn)>, HistoryError> {
    let mut r = Reader::new(src, path);
    let mut out = Vec::new();
    while let Some(form) = r.next_form(0)? {
        out.push(form);
    }
    Ok(out)
}

impl<'a> Reader<'a> {
    fn new(src: &'a [u8], path: &'a Path) -> Reader<'a> {
        Reader {
            src,
            at: 0,
            line: 1,
            col: 1,
            path,
        }
    }
}

/// The operation forms of a history, each with where it starts: the items of one
/// top-level vector or list (Knossos), or every top-level form (Jepsen's
/// `history.edn`, one map per line).
fn operation_forms(src: &[u8], path: &Path) -> Result<Vec<(Pos, Edn)>, HistoryError> {
    let mut r = Reader::new(src, path);
    r.skip_ws();
    let close = match r.peek() {
        Some(b'[') => b']',
        Some(b'(') => b')',
        _ => return parse_all(src, path),
    };
    let open = r.pos();
    r.bump();
    let out = r.seq_at(close, open, 0)?;
    if let Some((pos, _)) = r.next_form(0)? {
        return Err(r.err_at(pos, "another form after the history's closing bracket"));
    }
    Ok(out)
}

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Whether values are `[key value]` tuples; detected when `None`.
    pub independent: Option<bool>,
}

/// Reads an EDN history file.
pub fn read_edn(path: impl AsRef<Path>, opts: ImportOptions) -> Result<Vec<Op>, HistoryError> {
    let path = path.as_ref();
    let bytes = crate::history::read_file(path)?;
    parse_edn(&bytes, path, opts)
}

/// Imports an EDN history from bytes; `path` names the source in errors.
pub fn parse_edn(src: &[u8], path: &Path, opts: ImportOptions) -> Result<Vec<Op>, HistoryError> {
    parse_edn_numbered(src, path, opts).map(|n| n.ops)
}

/// [`parse_edn`], keeping the line where every operation starts.
///
/// `:process`, `:type` and `:f` (except on nemesis operations) are required.
/// `:index` and `:time` are all or nothing: Knossos histories carry neither (the
/// index is then the position, the time 0), Jepsen's carry both on every operation;
/// a history where some operations have one and others do not is an error naming the
/// first that lacks it.
pub fn parse_edn_numbered(
    src: &[u8],
    path: &Path,
    opts: ImportOptions,
) -> Result<Numbered, HistoryError> {
    let maps = operation_forms(src, path)?;
    let err = |pos: Pos, message: String| HistoryError::Parse {
        path: PathBuf::from(path),
        line: pos.line,
        column: pos.column,
        message,
    };
    let mut ops: Vec<(Op, Edn)> = Vec::with_capacity(maps.len());
    // Per operation: whether it had :index and :time.
    let mut had: Vec<[bool; 2]> = Vec::with_capacity(maps.len());
    for (n, (pos, form)) in maps.iter().enumerate() {
        let Edn::Map(fields) = form else {
            return Err(err(*pos, format!("operation {n} is not a map: {form}")));
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(s) if s == name))
                .map(|(_, v)| v)
        };
        let missing = |name: &str| err(*pos, format!("operation {n}: field :{name} is missing"));
        let bad = |name: &str, v: &Edn| err(*pos, format!("operation {n}: bad :{name} {v}"));
        let process = match get("process") {
            Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
            Some(Edn::Keyword(_)) | Some(Edn::Symbol(_)) | Some(Edn::Str(_)) => Process::Nemesis,
            Some(other) => return Err(bad("process", other)),
            None => return Err(missing("process")),
        };
        let op_type = match get("type") {
            Some(Edn::Keyword(t)) => match t.as_str() {
                "invoke" => OpType::Invoke,
                "ok" => OpType::Ok,
                "fail" => OpType::Fail,
                "info" => OpType::Info,
                other => return Err(err(*pos, format!("operation {n}: unknown :type :{other}"))),
            },
            Some(other) => return Err(bad("type", other)),
            None => return Err(missing("type")),
        };
        let f = match get("f") {
            Some(v @ (Edn::Keyword(_) | Edn::Str(_) | Edn::Symbol(_))) => v.key_string(),
            None if process == Process::Nemesis => String::new(),
            Some(other) => return Err(bad("f", other)),
            None => return Err(missing("f")),
        };
        let int = |name: &str| match get(name) {
            Some(Edn::Int(i)) if *i >= 0 => Ok(Some(*i as u64)),
            None | Some(Edn::Nil) => Ok(None),
            Some(other) => Err(bad(name, other)),
        };
        let (index, time) = (int("index")?, int("time")?);
        had.push([index.is_some(), time.is_some()]);
        let raw = get("value").cloned().unwrap_or(Edn::Nil);
        ops.push((
            Op {
                index: index.unwrap_or(n as u64),
                time: time.unwrap_or(0),
                process,
                op_type,
                f,
                key: None,
                value: edn_value(&raw),
                error: get("error").map(Edn::key_string),
            },
            raw,
        ));
    }
    for (field, name) in ["index", "time"].into_iter().enumerate() {
        if let (Some(with), Some(without)) = (
            had.iter().position(|h| h[field]),
            had.iter().position(|h| !h[field]),
        ) {
            return Err(err(
                maps[without].0,
                format!("operation {without}: field :{name} is missing (operation {with} has one)"),
            ));
        }
    }
    let independent = opts.independent.unwrap_or_else(|| {
        let mut clients = ops.iter().filter(|(o, _)| !o.is_nemesis()).peekable();
        clients.peek().is_some()
            && clients.all(
                |(_, raw)| matches!(raw, Edn::Vector(v) if v.len() == 2 && v[0].items().is_none()),
            )
    });
    let ops = ops
        .into_iter()
        .enumerate()
        .map(|(n, (mut op, raw))| {
            if independent && !op.is_nemesis() {
                let Edn::Vector(kv) = &raw else {
                    return Err(err(
                        maps[n].0,
                        format!("operation {n}: :value {raw} is not a [key value] tuple"),
                    ));
                };
                let [k, v] = kv.as_slice() else {
                    return Err(err(
                        maps[n].0,
                        format!("operation {n}: :value {raw} is not a [key value] tuple"),
                    ));
                };
                op.key = Some(k.key_string());
                op.value = edn_value(v);
            }
            Ok(op)
        })
        .collect::<Result<Vec<Op>, HistoryError>>()?;
    Ok(Numbered {
        ops,
        lines: maps.iter().map(|(pos, _)| pos.line).collect(),
        truncation: None,
    })
}

/// A history value from an EDN value: `nil`, integers and collections of integers as
/// such, anything else as JSON.
pub(crate) fn edn_value(e: &Edn) -> Value {
    match e {
        Edn::Nil => Value::Null,
        Edn::Int(i) => Value::Int(*i),
        other => match other.items() {
            Some(items) if items.iter().all(|i| matches!(i, Edn::Int(_))) => Value::Ints(
                items
                    .iter()
                    .filter_map(|i| match i {
                        Edn::Int(v) => Some(*v),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => Value::from_json(other.to_json()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Op>, HistoryError> {
        parse_edn(s.as_bytes(), Path::new("h.edn"), ImportOptions::default())
    }

    #[test]
    fn reads_a_knossos_vector() {
        let ops = parse(
            "; a comment\n[{:process 0, :type :invoke, :f :write, :value 3 :time 10}\n \
             {:process 0 :type :ok :f :write :value 3 :time 12}\n \
             {:process :nemesis :type :info :f :start :value #{:n1 \"n2\"} :time 13}\n \
             {:process 1 :type :invoke :f :cas :value [3 4] :time 14}\n \
             #jepsen.history.Op{:process 1 :type :fail :f :cas :value [3 4] :error [:timeout \"x\"] :time 15}]",
        )
        .unwrap();
        assert_eq!(ops.len(), 5);
        assert_eq!(ops[1].time, 12);
        assert_eq!(ops[2].process, Process::Nemesis);
        assert_eq!(ops[3].value, Value::Ints(vec![3, 4]));
        assert_eq!(ops[4].op_type, OpType::Fail);
        assert_eq!(ops[4].error.as_deref(), Some(r#"["timeout","x"]"#));
        assert_eq!(ops[3].key, None);
    }

    #[test]
    fn splits_independent_keys() {
        let ops = parse(
            "{:process 0 :type :invoke :f :read :value [:k1 nil] :index 4}\n\
             {:process 0 :type :ok :f :read :value [:k1 7] :index 5}\n\
             {:process 1 :type :invoke :f :cas :value [\"k2\" [1 2]] :index 6}\n",
        )
        .unwrap();
        assert_eq!(ops[0].index, 4);
        assert_eq!(ops[1].index, 5);
        assert_eq!(ops[1].key.as_deref(), Some("k1"));
        assert_eq!(ops[1].value, Value::Int(7));
        assert_eq!(ops[2].value, Value::Ints(vec![1, 2]));
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("[{:process 0 :type :invoke\n  :f :read :value }]").unwrap_err();
        assert!(e.to_string().starts_with("h.edn:1:2:"), "{e}");
        let e = parse("[{:process 0, :type :bogus, :f :read}]").unwrap_err();
        assert!(e.to_string().contains(":bogus"), "{e}");
        let e = parse("[\n  {:process 0 :type :ok :f \"unterminated}]").unwrap_err();
        assert!(e.to_string().starts_with("h.edn:2:"), "{e}");
        let e = parse("}").unwrap_err();
        assert!(e.to_string().starts_with("h.edn:1:1:"), "{e}");
        assert!(parse(&"[".repeat(10_000)).is_err());
    }

    #[test]
    fn fields_are_required_and_errors_print_edn() {
        let e = parse("[{:type :invoke :f :read}]").unwrap_err();
        assert!(e.to_string().contains("field :process is missing"), "{e}");
        let e = parse("[{:process 0 :f :read}]").unwrap_err();
        assert!(e.to_string().contains("field :type is missing"), "{e}");
        let e = parse("[{:process 0 :type :ok}]").unwrap_err();
        assert!(e.to_string().contains("field :f is missing"), "{e}");
        let e = parse("[{:process [1 \"a\"] :type :ok :f :read}]").unwrap_err();
        assert!(e.to_string().ends_with("bad :process [1 \"a\"]"), "{e}");
        let e = parse(
            "[{:process 0 :type :invoke :f :read :time 1}\n {:process 0 :type :ok :f :read}]",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("h.edn:2:2:"), "{e}");
        assert!(
            e.to_string()
                .contains("field :time is missing (operation 0 has one)"),
            "{e}"
        );
        // Each operation of a vector is named by its own line.
        let e =
            parse("[{:process 0 :type :invoke :f :read}\n\n {:process 0 :type :nope :f :read}]")
                .unwrap_err();
        assert!(e.to_string().starts_with("h.edn:3:2:"), "{e}");
        // A forced independent import of a value that is no [key value] pair.
        let e = parse_edn(
            b"[{:process 0 :type :invoke :f :write :value [1]}]",
            Path::new("h.edn"),
            ImportOptions {
                independent: Some(true),
            },
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains(":value [1] is not a [key value] tuple"),
            "{e}"
        );
    }

    #[test]
    fn never_panics_on_garbage() {
        let samples = [
            "#", "\\", ":", "#_", "#{", "{:a}", "\"\\u12", "-", "+x", "#tag",
        ];
        for s in samples {
            assert!(parse(s).is_err(), "{s:?} is rejected");
        }
        let full = "[{:process 0 :type :invoke :f :write :value 1}]";
        for len in 1..full.len() {
            assert!(
                parse(&full[..len]).is_err(),
                "a cut-off history is rejected"
            );
        }
        assert_eq!(parse(full).unwrap().len(), 1);
    }
}
