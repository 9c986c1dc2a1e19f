//! The values models compare, and how they print.
//!
//! Models work on `i64` values, compared in one machine instruction. A history whose
//! register (or queue) values are all integers that fit in 64 bits uses them as they are.
//! Any other scalar — a string (Porcupine-style key-value logs), an EDN keyword, an
//! integer of any size, a boolean, a float — switches the whole history to *named*
//! values: every distinct scalar gets a dense id, equal scalars get equal ids, and
//! counterexamples print the scalar itself. Scalars are equal when they print alike:
//! an EDN keyword equals the string of its name, `1N` equals `1`, and an integer equals
//! itself however large. (JSON integers beyond 64 bits reach the reader as floats and
//! lose precision: write them as strings there; EDN keeps them exact.)
//!
//! Multi-register transactions also name their registers; those names are numbered
//! here too.

use std::collections::HashMap;

use crate::history::Value;

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A non-integer scalar met while values are integers: encode the history again
    /// with [`Values::named`].
    NeedsNames,
    /// Not an acceptable value; says why.
    Invalid(String),
}

/// The value table of one history.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// Printed form of each value id; `None` while values are integers standing for
    /// themselves.
    names: Option<Vec<String>>,
    /// Id of each printed form (named values only).
    ids: HashMap<String, i64>,
    /// Register names of multi-register transactions, by number.
    registers: Vec<String>,
    /// Number of each register name.
    register_ids: HashMap<String, u32>,
}

impl Values {
    /// A table for histories whose values are all 64-bit integers.
    pub fn integers() -> Values {
        Values::default()
    }

    /// A table giving every scalar a dense id.
    pub fn named() -> Values {
        Values {
            names: Some(Vec::new()),
            ..Values::default()
        }
    }

    /// Whether values are named (not plain integers).
    pub fn is_named(&self) -> bool {
        self.names.is_some()
    }

    fn intern(&mut self, printed: String) -> i64 {
        let names = self.names.as_mut().expect("interning needs named values");
        if let Some(&id) = self.ids.get(&printed) {
            return id;
        }
        let id = names.len() as i64;
        names.push(printed.clone());
        self.ids.insert(printed, id);
        id
    }

    /// The model value of the integer `v`.
    pub fn int(&mut self, v: i64) -> i64 {
        if self.is_named() {
            self.intern(v.to_string())
        } else {
            v
        }
    }

    /// The model value of a scalar history value; `None` for nil.
    pub fn encode(&mut self, v: &Value) -> Result<Option<i64>, EncodeError> {
        match v {
            Value::Null => Ok(None),
            Value::Int(i) => Ok(Some(self.int(*i))),
            Value::Ints(_) => Err(EncodeError::Invalid(format!(
                "expected a scalar, got {}",
                v.to_json()
            ))),
            Value::Json(j) => self.encode_json(j),
        }
    }

    /// The model value of a scalar JSON value; `None` for null.
    pub fn encode_json(&mut self, j: &serde_json::Value) -> Result<Option<i64>, EncodeError> {
        use serde_json::Value as J;
        let printed = match j {
            J::Null => return Ok(None),
            J::Number(n) => match n.as_i64() {
                Some(i) => return Ok(Some(self.int(i))),
                None => n.to_string(),
            },
            J::String(s) => J::String(s.clone()).to_string(),
            J::Bool(b) => b.to_string(),
            J::Array(_) | J::Object(_) => {
                return Err(EncodeError::Invalid(format!("expected a scalar, got {j}")))
            }
        };
        if !self.is_named() {
            return Err(EncodeError::NeedsNames);
        }
        Ok(Some(self.intern(printed)))
    }

    /// The number of a register name.
    pub fn register(&mut self, name: String) -> u32 {
        if let Some(&r) = self.register_ids.get(&name) {
            return r;
        }
        let r = self.registers.len() as u32;
        self.registers.push(name.clone());
        self.register_ids.insert(name, r);
        r
    }

    /// How many registers were named.
    pub fn registers(&self) -> usize {
        self.registers.len()
    }

    /// The name of register `r`.
    pub fn register_name(&self, r: u32) -> &str {
        self.registers.get(r as usize).map_or("?", String::as_str)
    }

    /// A value as the history wrote it.
    pub fn show(&self, v: i64) -> String {
        match &self.names {
            Some(names) => names
                .get(v as usize)
                .cloned()
                .unwrap_or_else(|| format!("#{v}")),
            None => v.to_string(),
        }
    }

    /// A value or nil.
    pub fn show_opt(&self, v: Option<i64>) -> String {
        v.map_or_else(|| "nil".to_string(), |v| self.show(v))
    }

    /// A list of values, e.g. `[1 2 3]`, shortened past a couple dozen.
    pub fn show_list(&self, v: &[i64]) -> String {
        const SHOWN: usize = 24;
        let mut s = String::from("[");
        for (i, x) in v.iter().take(SHOWN).enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&self.show(*x));
        }
        if v.len() > SHOWN {
            s.push_str(&format!(" … ({} total)", v.len()));
        }
        s.push(']');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stand_for_themselves_until_names_are_needed() {
        let mut v = Values::integers();
        assert_eq!(v.encode(&Value::Int(-7)), Ok(Some(-7)));
        assert_eq!(v.encode(&Value::Null), Ok(None));
        assert_eq!(
            v.encode(&Value::Json("x".into())),
            Err(EncodeError::NeedsNames)
        );
        assert!(matches!(
            v.encode(&Value::Ints(vec![1])),
            Err(EncodeError::Invalid(_))
        ));
        assert_eq!(v.show(-7), "-7");
    }

    #[test]
    fn named_values_are_dense_and_print_as_written() {
        let mut v = Values::named();
        let a = v.encode(&Value::Json("a".into())).unwrap().unwrap();
        let big: serde_json::Value = serde_json::from_str("18446744073709551615").unwrap();
        let b = v.encode(&Value::Json(big.clone())).unwrap().unwrap();
        let one = v.encode(&Value::Int(1)).unwrap().unwrap();
        assert_eq!((a, b, one), (0, 1, 2));
        assert_eq!(v.encode(&Value::Json(big)).unwrap(), Some(1));
        assert_eq!(v.int(1), 2);
        assert_eq!(v.show(a), "\"a\"");
        assert_eq!(v.show(b), "18446744073709551615");
        assert_eq!(v.show_list(&[one, a]), "[1 \"a\"]");
        assert_eq!(v.register("x".into()), 0);
        assert_eq!(v.register("y".into()), 1);
        assert_eq!(v.register("x".into()), 0);
        assert_eq!(v.register_name(1), "y");
    }
}
