//! The lost-write checker for set and list-append workloads (Jepsen's `set-full`).
//!
//! For every element added (or appended) whose add was acknowledged (`ok`), or that some
//! read observed, it finds the moment the element was *known* to exist: the add's
//! completion, or the completion of the first read that saw it. Every read invoked after
//! that moment must contain it (reads are compared by history position). Outcomes:
//!
//! - `ok`: every such read contains it;
//! - `lost`: the last such read that misses it comes after the last that contains it (or
//!   none contains it): the element disappeared for good;
//! - `stale`: some read missed it, but a later one saw it again;
//! - `never-read`: no read was invoked after it was known.
//!
//! Also reported: *unexpected* elements (read but never added, or added only by an add
//! that failed) and *duplicated* elements (appearing more than once in one read).
//! `lost`, `stale`, `unexpected` and `duplicated` make the history invalid.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{Input, Operation, Output};
use crate::prepare::Prepared;

/// How an element fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElementOutcome {
    /// Present in every read after it was known.
    Ok,
    /// Missing from the reads at the end.
    Lost,
    /// Missing from some read, present again later.
    Stale,
    /// No read after it was known.
    NeverRead,
}

impl ElementOutcome {
    /// The outcome in words (`ok`, `lost`, `stale`, `never read`).
    pub fn as_str(self) -> &'static str {
        match self {
            ElementOutcome::Ok => "ok",
            ElementOutcome::Lost => "lost",
            ElementOutcome::Stale => "stale",
            ElementOutcome::NeverRead => "never read",
        }
    }
}

/// One element with a notable outcome, and the operations behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementReport {
    /// The key (empty for key-less histories).
    pub key: String,
    /// The element.
    pub element: i64,
    /// Its outcome.
    pub outcome: ElementOutcome,
    /// History index of the add's invocation, if it was added at all.
    pub add_index: Option<u64>,
    /// Whether the add was acknowledged (`ok`) rather than indeterminate.
    pub acknowledged: bool,
    /// History index (completion) of the last read containing it.
    pub last_present_index: Option<u64>,
    /// History index (completion) of the last read missing it after it was known.
    pub last_absent_index: Option<u64>,
}

/// An element that a read returned without a successful or pending add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnexpectedElement {
    /// The key.
    pub key: String,
    /// The element.
    pub element: i64,
    /// History index (completion) of the first read returning it.
    pub read_index: Option<u64>,
    /// History index of a failed add of it, if one exists (a failed add that applied).
    pub failed_add_index: Option<u64>,
}

/// An element repeated within one read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicatedElement {
    /// The key.
    pub key: String,
    /// The element.
    pub element: i64,
    /// How many times it appeared in that read.
    pub count: usize,
    /// History index (completion) of the read.
    pub read_index: Option<u64>,
}

/// The result of the lost-write checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostWrites {
    /// `valid`, `invalid`, or `unknown` when nothing was ever read.
    pub verdict: crate::check::Verdict,
    /// Adds attempted (not failed).
    pub attempted: usize,
    /// Adds acknowledged.
    pub acknowledged: usize,
    /// Elements present in every later read.
    pub ok_count: usize,
    /// Elements lost.
    pub lost_count: usize,
    /// Elements read stale.
    pub stale_count: usize,
    /// Elements never read after they were known.
    pub never_read_count: usize,
    /// Indeterminate adds that some read observed.
    pub recovered_count: usize,
    /// Lost elements (at most [`MAX_LISTED`]).
    pub lost: Vec<ElementReport>,
    /// Stale elements (at most [`MAX_LISTED`]).
    pub stale: Vec<ElementReport>,
    /// Never-read elements (at most [`MAX_LISTED`]).
    pub never_read: Vec<ElementReport>,
    /// Unexpected elements (at most [`MAX_LISTED`]).
    pub unexpected: Vec<UnexpectedElement>,
    /// Duplicated elements (at most [`MAX_LISTED`]).
    pub duplicated: Vec<DuplicatedElement>,
}

/// How many elements of each kind a report lists.
pub const MAX_LISTED: usize = 100;

/// Classifies every added element of a prepared set or list history.
pub fn check_lost_writes(p: &Prepared) -> LostWrites {
    let mut out = LostWrites {
        verdict: crate::check::Verdict::Valid,
        attempted: 0,
        acknowledged: 0,
        ok_count: 0,
        lost_count: 0,
        stale_count: 0,
        never_read_count: 0,
        recovered_count: 0,
        lost: Vec::new(),
        stale: Vec::new(),
        never_read: Vec::new(),
        unexpected: Vec::new(),
        duplicated: Vec::new(),
    };
    let mut by_key: HashMap<u32, (Vec<&Operation>, Vec<&Operation>)> = HashMap::new();
    for op in &p.ops {
        let entry = by_key.entry(op.key).or_default();
        match (&op.input, &op.output) {
            (Input::Add(_) | Input::Append(_), _) => entry.0.push(op),
            (Input::Read, Output::Elems(_)) => entry.1.push(op),
            _ => {}
        }
    }
    let mut failed: HashMap<(u32, i64), u64> = HashMap::new();
    for op in &p.failed {
        if let Input::Add(e) | Input::Append(e) = op.input {
            failed.insert((op.key, e), op.invoke_index);
        }
    }
    let mut any_read = false;
    let mut keys: Vec<_> = by_key.into_iter().collect();
    keys.sort_by_key(|(k, _)| *k);
    for (key, (adds, reads)) in keys {
        let name = &p.keys[key as usize];
        any_read |= !reads.is_empty();
        // element -> (add op, observed-by read positions)
        let mut added: HashMap<i64, &Operation> = HashMap::new();
        for a in &adds {
            if let Input::Add(e) | Input::Append(e) = a.input {
                added.insert(e, a);
            }
        }
        let mut first_seen: HashMap<i64, &Operation> = HashMap::new();
        for r in &reads {
            let Output::Elems(elems) = &r.output else {
                continue;
            };
            let mut counts: HashMap<i64, usize> = HashMap::new();
            for e in elems {
                *counts.entry(*e).or_default() += 1;
            }
            for (&e, &c) in &counts {
                if c > 1 && out.duplicated.len() < MAX_LISTED {
                    out.duplicated.push(DuplicatedElement {
                        key: name.clone(),
                        element: e,
                        count: c,
                        read_index: r.complete_index,
                    });
                }
                let first = first_seen.entry(e).or_insert(r);
                if r.ret < first.ret {
                    *first = r;
                }
            }
        }
        let mut unexpected: Vec<_> = first_seen
            .iter()
            .filter(|(e, _)| !added.contains_key(e))
            .map(|(&e, r)| UnexpectedElement {
                key: name.clone(),
                element: e,
                read_index: r.complete_index,
                failed_add_index: failed.get(&(key, e)).copied(),
            })
            .collect();
        unexpected.sort_by_key(|u| (u.read_index, u.element));
        out.unexpected.extend(unexpected);
        let mut elems: Vec<(&i64, &&Operation)> = added.iter().collect();
        elems.sort_by_key(|(e, a)| (a.call, **e));
        for (&e, add) in elems {
            out.attempted += 1;
            let acknowledged = !add.is_indeterminate();
            out.acknowledged += usize::from(acknowledged);
            let seen = first_seen.get(&e);
            let known = match (acknowledged, seen) {
                (true, Some(r)) => add.ret.min(r.ret),
                (true, None) => add.ret,
                (false, Some(r)) => {
                    out.recovered_count += 1;
                    r.ret
                }
                (false, None) => continue,
            };
            let mut last_present: Option<&Operation> = None;
            let mut last_absent: Option<&Operation> = None;
            for r in reads.iter().filter(|r| r.call > known) {
                let Output::Elems(v) = &r.output else {
                    continue;
                };
                let slot = if v.contains(&e) {
                    &mut last_present
                } else {
                    &mut last_absent
                };
                if slot.is_none_or(|s| s.call < r.call) {
                    *slot = Some(r);
                }
            }
            let outcome = match (last_present, last_absent) {
                (None, None) => ElementOutcome::NeverRead,
                (_, None) => ElementOutcome::Ok,
                (Some(p), Some(a)) if p.call > a.call => ElementOutcome::Stale,
                _ => ElementOutcome::Lost,
            };
            let report = ElementReport {
                key: name.clone(),
                element: e,
                outcome,
                add_index: Some(add.invoke_index),
                acknowledged,
                last_present_index: last_present.and_then(|r| r.complete_index),
                last_absent_index: last_absent.and_then(|r| r.complete_index),
            };
            let (count, list) = match outcome {
                ElementOutcome::Ok => (&mut out.ok_count, None),
                ElementOutcome::Lost => (&mut out.lost_count, Some(&mut out.lost)),
                ElementOutcome::Stale => (&mut out.stale_count, Some(&mut out.stale)),
                ElementOutcome::NeverRead => (&mut out.never_read_count, Some(&mut out.never_read)),
            };
            *count += 1;
            if let Some(list) = list {
                if list.len() < MAX_LISTED {
                    list.push(report);
                }
            }
        }
    }
    out.unexpected.truncate(MAX_LISTED);
    out.verdict = if out.lost_count > 0
        || out.stale_count > 0
        || !out.unexpected.is_empty()
        || !out.duplicated.is_empty()
    {
        crate::check::Verdict::Invalid
    } else if !any_read && out.attempted > 0 {
        crate::check::Verdict::Unknown
    } else {
        crate::check::Verdict::Valid
    };
    out
}
