//! The checker's entry point: [`check_history`] takes a history and returns a
//! [`CheckReport`] with a verdict (`valid`, `invalid` or `unknown`), the result of each
//! checker and, for an invalid history, readable counterexamples.
//!
//! Checkers:
//!
//! - `linearizable`: the history, split by key (P-compositionality: keys are independent
//!   objects, so the whole is linearizable iff every key is), is searched for a
//!   linearization against the model ([`crate::linear`]). Keys are searched in parallel
//!   on all cores, largest first, under one shared time and memory budget; when the
//!   budget runs out the remaining keys are `unknown`, never silently valid.
//! - `lost-writes` (set and list models): every acknowledged add is classified
//!   ([`crate::lost`]).
//!
//! The overall verdict is `invalid` if any checker found a violation, else `unknown` if
//! any could not decide, else `valid`.
//!
//! A counterexample names the key, the operation that cannot be linearized, a window of
//! the operations around it (everything overlapping it, and the operation that completed
//! last before it began), the longest linearizable prefix of the history (its length, its
//! last operations and the model states it can reach), and a label when the anomaly has a
//! name: a stale read, a lost write, a duplicate, a garbage read (a value never written),
//! or a failed write that was applied.

use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::history::Op;
use crate::linear::{self, Budget, Search, UnknownReason};
use crate::lost::{self, LostWrites};
use crate::model::{self, Input, Model, ModelKind, Operation, Output};
use crate::mutex::Mutex;
use crate::prepare::{self, PrepareError, Prepared};
use crate::queue::{FifoQueue, UnorderedQueue};
use crate::txn::MultiRegister;
use crate::values::Values;

/// Verdict of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No violation; everything decided.
    Valid,
    /// A violation was found.
    Invalid,
    /// Some part could not be decided within the budget (or nothing was read).
    Unknown,
}

impl Verdict {
    /// The exit code `faultline check` uses: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    /// `valid`, `invalid` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }

    /// Reads a lower-case verdict name (`valid`, `invalid`, `unknown`).
    pub fn from_name(name: &str) -> Option<Verdict> {
        match name {
            "valid" => Some(Verdict::Valid),
            "invalid" => Some(Verdict::Invalid),
            "unknown" => Some(Verdict::Unknown),
            _ => None,
        }
    }

    /// The verdict of several checks together: invalid if any is invalid, else unknown
    /// if any is unknown, else valid; unknown when there is nothing to combine.
    pub fn worst_of(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts
            .into_iter()
            .reduce(Verdict::combine)
            .unwrap_or(Verdict::Unknown)
    }

    /// The verdict of two checks together (see [`Verdict::worst_of`]).
    pub fn combine(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            _ => Verdict::Valid,
        }
    }
}

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The model; inferred from the operations when `None`.
    pub model: Option<ModelKind>,
    /// Initial value of registers (`None` = nil).
    pub initial: Option<i64>,
    /// Wall-clock budget of the linearizability search.
    pub time_limit: Duration,
    /// Memory budget of the search caches, in bytes.
    pub memory_limit: usize,
    /// How many counterexamples to explain (the invalid keys are all listed).
    pub max_counterexamples: usize,
    /// Whether the search uses its reductions for interchangeable and indeterminate
    /// operations ([`crate::symmetry`]); off only to measure what they buy.
    pub symmetry: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            model: None,
            initial: None,
            time_limit: Duration::from_secs(60),
            memory_limit: 1 << 30,
            max_counterexamples: 5,
            symmetry: true,
        }
    }
}

/// Counts about the checked history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Client operations (invocations).
    pub operations: usize,
    /// Of those, completed `ok`.
    pub ok: usize,
    /// Of those, completed `fail`.
    pub failed: usize,
    /// Of those, `info` or never completed.
    pub indeterminate: usize,
    /// Indeterminate operations removed before the search because they cannot matter.
    pub pruned: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Whether the history names no key at all (one object, as in Knossos' register
    /// histories); its one key is then the empty string.
    pub keyless: bool,
    /// Wall-clock time of the check, in milliseconds.
    pub elapsed_ms: u64,
}

/// A reference to an operation of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRef {
    /// Its logical process.
    pub process: u64,
    /// E.g. `p3 cas 1→2` or `p1 read → 5 (info)`.
    pub description: String,
    /// `index` of the invocation.
    pub invoke_index: u64,
    /// `index` of the completion, if any.
    pub complete_index: Option<u64>,
    /// Whether the outcome is unknown (`info` or never completed).
    pub indeterminate: bool,
}

impl OpRef {
    fn of(op: &Operation, values: &Values) -> OpRef {
        OpRef {
            process: op.process,
            description: op.describe(values),
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
            indeterminate: op.is_indeterminate(),
        }
    }

    fn span(&self) -> String {
        match self.complete_index {
            Some(c) => format!("[{}..{}]", self.invoke_index, c),
            None => format!("[{}..]", self.invoke_index),
        }
    }
}

/// A named kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anomaly {
    /// A read returned a value that had already been overwritten before it began.
    StaleRead,
    /// An acknowledged write was overwritten or dropped without ever being visible.
    LostWrite,
    /// An element appears twice.
    Duplicate,
    /// A read (or CAS) observed a value nobody wrote.
    GarbageRead,
    /// A read observed a value written only by an operation that failed.
    FailedWriteApplied,
}

impl Anomaly {
    /// The label as words.
    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::StaleRead => "stale read",
            Anomaly::LostWrite => "lost write",
            Anomaly::Duplicate => "duplicate",
            Anomaly::GarbageRead => "garbage read",
            Anomaly::FailedWriteApplied => "failed write applied",
        }
    }
}

/// Why one key is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The key.
    pub key: String,
    /// The anomaly's name, when it has one.
    pub anomaly: Option<Anomaly>,
    /// One line saying what went wrong.
    pub summary: String,
    /// The operation that cannot be linearized.
    pub op: OpRef,
    /// It and the operations around it, in invocation order.
    pub window: Vec<OpRef>,
    /// How many operations the longest linearizable prefix linearizes.
    pub prefix_len: usize,
    /// The last operations of that linearization, in linearization order.
    pub prefix_tail: Vec<OpRef>,
    /// Model states the prefix can reach (a sample).
    pub states: Vec<String>,
}

/// The result of the linearizability checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linearizable {
    /// Its verdict.
    pub verdict: Verdict,
    /// Keys searched.
    pub keys_checked: usize,
    /// Keys found linearizable.
    pub keys_valid: usize,
    /// Keys found not linearizable.
    pub invalid_keys: Vec<String>,
    /// Keys left undecided.
    pub unknown_keys: Vec<String>,
    /// Why keys were left undecided.
    pub unknown_reason: Option<UnknownReason>,
    /// Explanations of the first invalid keys.
    pub counterexamples: Vec<Counterexample>,
}

/// The results of every checker that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkers {
    /// Linearizability against the model.
    pub linearizable: Linearizable,
    /// Lost acknowledged writes (set and list models only).
    #[serde(
        rename = "lost-writes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lost_writes: Option<LostWrites>,
}

/// Everything a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The overall verdict.
    pub verdict: Verdict,
    /// The model checked against.
    pub model: ModelKind,
    /// Counts.
    pub stats: Stats,
    /// Per-checker results.
    pub checkers: Checkers,
}

/// Checks a history. Errors only on histories that cannot be interpreted.
pub fn check_history(ops: &[Op], opts: &CheckOptions) -> Result<CheckReport, PrepareError> {
    let started = Instant::now();
    let kind = match opts.model {
        Some(kind) => kind,
        None => prepare::infer_model(ops)?,
    };
    let mut prepared = prepare::prepare(ops, kind)?;
    let initial = opts.initial.map(|v| prepared.values.int(v));
    let budget = Budget::new(started + opts.time_limit, opts.memory_limit);
    let run = Run {
        p: &prepared,
        budget: &budget,
        opts,
        initial,
    };
    let (linearizable, pruned) = match kind {
        ModelKind::Register => run.linear(&model::Register { initial }),
        ModelKind::CasRegister => run.linear(&model::CasRegister { initial }),
        ModelKind::Kv => run.linear(&model::Kv { initial }),
        ModelKind::Set => run.linear(&model::Set),
        ModelKind::List => run.linear(&model::List),
        ModelKind::Mutex => run.linear(&Mutex),
        ModelKind::MultiRegister => run.linear(&MultiRegister {
            initial,
            registers: prepared.values.registers(),
        }),
        ModelKind::FifoQueue => run.linear(&FifoQueue),
        ModelKind::UnorderedQueue => run.linear(&UnorderedQueue::new(&prepared.ops)),
    };
    let lost_writes = matches!(kind, ModelKind::Set | ModelKind::List)
        .then(|| lost::check_lost_writes(&prepared));
    let mut verdict = linearizable.verdict;
    if let Some(l) = &lost_writes {
        verdict = verdict.combine(l.verdict);
    }
    let indeterminate = prepared.indeterminate();
    Ok(CheckReport {
        verdict,
        model: kind,
        stats: Stats {
            operations: prepared.ops.len() + prepared.failed.len(),
            ok: prepared.ops.len() - indeterminate,
            failed: prepared.failed.len(),
            indeterminate,
            pruned,
            keys: prepared.keys.len(),
            keyless: prepared.keys.iter().all(String::is_empty),
            elapsed_ms: started.elapsed().as_millis() as u64,
        },
        checkers: Checkers {
            linearizable,
            lost_writes,
        },
    })
}

/// One check's inputs to the linearizability search.
struct Run<'a> {
    /// The prepared history.
    p: &'a Prepared,
    /// The shared budget.
    budget: &'a Budget,
    /// The options.
    opts: &'a CheckOptions,
    /// The registers' initial model value.
    initial: Option<i64>,
}

impl Run<'_> {
    /// Runs the search on every key in parallel; returns the result and how many
    /// operations pruning removed.
    fn linear<M: Model>(&self, model: &M) -> (Linearizable, usize) {
        let Run {
            p,
            budget,
            opts,
            initial,
        } = *self;
        let mut parts = model.partition(p.ops.clone());
        let before: usize = parts.iter().map(Vec::len).sum();
        parts = parts.into_iter().map(linear::prune).collect();
        let pruned = before - parts.iter().map(Vec::len).sum::<usize>();
        parts.sort_by_key(|part| std::cmp::Reverse(part.len()));
        let search = |part: &[Operation]| linear::search(model, part, budget, opts.symmetry);
        let parts: Vec<&[Operation]> = parts
            .iter()
            .filter(|part| !part.is_empty())
            .map(Vec::as_slice)
            .collect();
        // One part is searched on this thread: handing it to the pool costs more than
        // the search of a short history.
        let found: Vec<_> = if parts.len() > 1 {
            parts.par_iter().map(|part| search(part)).collect()
        } else {
            parts.iter().map(|part| search(part)).collect()
        };
        let results: Vec<_> = parts
            .into_iter()
            .zip(found)
            .map(|(part, result)| (part[0].key, result, part))
            .collect();
        let mut out = Linearizable {
            verdict: Verdict::Valid,
            keys_checked: results.len(),
            keys_valid: 0,
            invalid_keys: Vec::new(),
            unknown_keys: Vec::new(),
            unknown_reason: None,
            counterexamples: Vec::new(),
        };
        let mut results = results;
        results.sort_by_key(|(key, _, _)| *key);
        for (key, result, part) in &results {
            let name = &p.keys[*key as usize];
            match result {
                Search::Linearizable => out.keys_valid += 1,
                Search::Unknown(reason) => {
                    out.unknown_keys.push(name.clone());
                    if out.unknown_reason.is_none() || *reason != UnknownReason::Cancelled {
                        out.unknown_reason = Some(*reason);
                    }
                }
                Search::Illegal(failure) => {
                    out.invalid_keys.push(name.clone());
                    if out.counterexamples.len() < opts.max_counterexamples {
                        let failed: Vec<&Operation> =
                            p.failed.iter().filter(|f| f.key == *key).collect();
                        out.counterexamples.push(explain(
                            model, name, part, &failed, failure, initial, &p.values,
                        ));
                    }
                }
            }
        }
        out.verdict = if !out.invalid_keys.is_empty() {
            Verdict::Invalid
        } else if !out.unknown_keys.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        (out, pruned)
    }
}

/// How many operations of the prefix a counterexample shows.
const PREFIX_TAIL: usize = 10;
/// How many operations a window shows at most.
const WINDOW: usize = 24;

fn explain<M: Model>(
    model: &M,
    key: &str,
    ops: &[Operation],
    failed: &[&Operation],
    failure: &linear::Failure<M::State>,
    initial: Option<i64>,
    values: &Values,
) -> Counterexample {
    let x = &ops[failure.op];
    let mut window: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.id == x.id || (o.call < x.ret && o.ret > x.call))
        .collect();
    if let Some(before) = ops.iter().filter(|o| o.ret < x.call).max_by_key(|o| o.ret) {
        window.push(before);
    }
    window.sort_by_key(|o| o.call);
    if window.len() > WINDOW {
        let at = window.iter().position(|o| o.id == x.id).unwrap_or(0);
        let start = at.saturating_sub(WINDOW / 2).min(window.len() - WINDOW);
        window = window[start..start + WINDOW].to_vec();
    }
    let (anomaly, detail) = label(ops, failed, x, initial, values);
    let why = failure
        .states
        .first()
        .and_then(|s| model.why_not(s, x, values));
    let summary = match (&anomaly, detail, why) {
        (Some(a), Some(d), _) => format!("{}: {} {d}", a.as_str(), x.describe(values)),
        (_, _, Some(why)) => format!("{} cannot be linearized: {why}", x.describe(values)),
        _ => format!("{} cannot be linearized", x.describe(values)),
    };
    let tail_start = failure.prefix.len().saturating_sub(PREFIX_TAIL);
    Counterexample {
        key: key.to_string(),
        anomaly,
        summary,
        op: OpRef::of(x, values),
        window: window.into_iter().map(|o| OpRef::of(o, values)).collect(),
        prefix_len: failure.prefix.len(),
        prefix_tail: failure.prefix[tail_start..]
            .iter()
            .map(|&i| OpRef::of(&ops[i], values))
            .collect(),
        states: failure
            .states
            .iter()
            .map(|s| model.describe_state(s, values))
            .collect(),
    }
}

/// Names the anomaly behind the operation `x` that could not be linearized.
fn label(
    ops: &[Operation],
    failed: &[&Operation],
    x: &Operation,
    initial: Option<i64>,
    values: &Values,
) -> (Option<Anomaly>, Option<String>) {
    let would_write = |o: &Operation, v: i64| matches!(o.input, Input::Write(w) | Input::Cas(_, w) | Input::Add(w) | Input::Append(w) | Input::Enqueue(w) if w == v);
    // A register write that completed: a CAS that found another value
    // ([`Output::Mismatch`]) said it wrote nothing.
    let completed_register_write = |o: &Operation| {
        matches!(o.input, Input::Write(_) | Input::Cas(..))
            && o.output != Output::Mismatch
            && !o.is_indeterminate()
    };
    let writes = |v: i64| -> Vec<&Operation> {
        ops.iter()
            .filter(|o| would_write(o, v) && o.output != Output::Mismatch)
            .collect()
    };
    let failed_write = |v: i64| {
        failed
            .iter()
            .copied()
            .find(|o| would_write(o, v))
            .or_else(|| {
                ops.iter()
                    .find(|o| would_write(o, v) && o.output == Output::Mismatch)
            })
    };
    let never_written = |v: i64| -> Option<(Anomaly, String)> {
        if !writes(v).is_empty() || initial == Some(v) {
            return None;
        }
        Some(match failed_write(v) {
            Some(f) => (
                Anomaly::FailedWriteApplied,
                format!(
                    "observed {}, written only by {} [{}] which failed",
                    values.show(v),
                    f.describe(values),
                    f.invoke_index
                ),
            ),
            None => (
                Anomaly::GarbageRead,
                format!("observed {}, which was never written", values.show(v)),
            ),
        })
    };
    // The value `v` (None = initial) was overwritten before `x` began?
    let overwritten = |v: Option<i64>| -> Option<&Operation> {
        let written_at = match v {
            None => 0,
            Some(v) => writes(v)
                .iter()
                .filter(|w| !w.is_indeterminate())
                .map(|w| w.ret)
                .min()?,
        };
        ops.iter()
            .filter(|w| {
                completed_register_write(w)
                    && (v.is_none() || w.call > written_at)
                    && w.ret < x.call
                    && !matches!(w.input, Input::Write(n) | Input::Cas(_, n) if Some(n) == v)
            })
            .max_by_key(|w| w.ret)
    };
    let seen_later = |v: i64| {
        ops.iter().any(|o| {
            o.call > x.call
                && match &o.output {
                    Output::Value(Some(r)) => *r == v,
                    Output::Elems(e) => e.contains(&v),
                    _ => false,
                }
        })
    };
    match (&x.input, &x.output) {
        (Input::Read, Output::Value(v)) => {
            if let Some((a, d)) = v.and_then(never_written) {
                return (Some(a), Some(d));
            }
            if let Some(w) = overwritten(*v) {
                let newer = match w.input {
                    Input::Write(n) | Input::Cas(_, n) => n,
                    _ => 0,
                };
                let overwritten_later = ops
                    .iter()
                    .any(|o| completed_register_write(o) && o.call > w.ret);
                let (a, what) = if seen_later(newer) || overwritten_later {
                    (
                        Anomaly::StaleRead,
                        "returned a value already overwritten by",
                    )
                } else {
                    (
                        Anomaly::LostWrite,
                        "after this write completed, never seen again:",
                    )
                };
                return (
                    Some(a),
                    Some(format!(
                        "{what} {} [{}]",
                        w.describe(values),
                        w.invoke_index
                    )),
                );
            }
            (None, None)
        }
        (Input::Dequeue, Output::Value(Some(v))) => match never_written(*v) {
            Some((an, d)) => (Some(an), Some(d)),
            None => (None, None),
        },
        (Input::Cas(a, _), Output::Mismatch) => {
            let latest = writes(*a)
                .into_iter()
                .filter(|w| w.ret < x.call)
                .max_by_key(|w| w.ret);
            match (overwritten(Some(*a)), latest) {
                (None, Some(w)) => (
                    Some(Anomaly::LostWrite),
                    Some(format!(
                        "found another value than {}, which {} [{}] wrote before it began \
                         and no completed write replaced",
                        values.show(*a),
                        w.describe(values),
                        w.invoke_index
                    )),
                ),
                _ => (None, None),
            }
        }
        (Input::Cas(a, _), _) => match never_written(*a) {
            Some((an, d)) => (Some(an), Some(d)),
            None => (None, None),
        },
        (Input::Read, Output::Elems(elems)) => {
            let mut sorted = elems.clone();
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return (
                    Some(Anomaly::Duplicate),
                    Some(format!("returned {} more than once", w[0])),
                );
            }
            for &e in elems {
                if let Some((a, d)) = never_written(e) {
                    return (Some(a), Some(d));
                }
            }
            let missing = ops.iter().find(|o| {
                !o.is_indeterminate()
                    && o.ret < x.call
                    && matches!(o.input, Input::Add(e) | Input::Append(e) if !elems.contains(&e))
            });
            if let Some(m) = missing {
                let e = match m.input {
                    Input::Add(e) | Input::Append(e) => e,
                    _ => 0,
                };
                let (a, what) = if seen_later(e) {
                    (Anomaly::StaleRead, "misses (stale)")
                } else {
                    (Anomaly::LostWrite, "misses, and no later read has,")
                };
                return (
                    Some(a),
                    Some(format!(
                        "{what} {e}, acknowledged by {} [{}]",
                        m.describe(values),
                        m.invoke_index
                    )),
                );
            }
            (None, None)
        }
        _ => (None, None),
    }
}

/// How the terminal report names a key: `key k7` followed by `sep`, or nothing for a
/// key-less history.
fn key_label(key: &str, sep: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("key {key}{sep}")
    }
}

/// A history index that may be absent, in words.
fn index_or(i: Option<u64>, none: &str) -> String {
    i.map_or_else(|| none.to_string(), |i| i.to_string())
}

/// Renders a report for the terminal.
pub fn render_text(report: &CheckReport) -> String {
    let mut s = String::new();
    let st = &report.stats;
    let keys = if st.keyless {
        "no keys".to_string()
    } else {
        format!("{} key(s)", st.keys)
    };
    s.push_str(&format!(
        "{} ({} model; {} operations on {keys}: {} ok, {} failed, {} indeterminate; {} ms)\n",
        report.verdict.as_str().to_uppercase(),
        report.model,
        st.operations,
        st.ok,
        st.failed,
        st.indeterminate,
        st.elapsed_ms
    ));
    let l = &report.checkers.linearizable;
    s.push_str(&format!(
        "linearizable: {} ({} of {} keys valid",
        l.verdict.as_str(),
        l.keys_valid,
        l.keys_checked
    ));
    if !l.invalid_keys.is_empty() {
        s.push_str(&format!(", {} invalid", l.invalid_keys.len()));
    }
    if !l.unknown_keys.is_empty() {
        s.push_str(&format!(
            ", {} unknown: {}",
            l.unknown_keys.len(),
            l.unknown_reason.map_or("", |r| r.as_str())
        ));
    }
    s.push_str(")\n");
    if !l.counterexamples.is_empty() {
        s.push_str(
            "(an operation is shown as [a..b]: the history indexes of its invocation and \
             completion; [a..] never completed, or ended info)\n",
        );
    }
    for c in &l.counterexamples {
        s.push_str(&format!("\n{}{}\n", key_label(&c.key, ": "), c.summary));
        s.push_str(&format!(
            "  longest linearizable prefix: {} operations, reaching state(s): {}\n",
            c.prefix_len,
            c.states.join(", ")
        ));
        if !c.prefix_tail.is_empty() {
            s.push_str("  ... ending with:\n");
            for o in &c.prefix_tail {
                s.push_str(&format!("      {:<14} {}\n", o.span(), o.description));
            }
        }
        s.push_str("  operations around it:\n");
        for o in &c.window {
            let mark = if *o == c.op { "→" } else { " " };
            s.push_str(&format!("    {mark} {:<14} {}\n", o.span(), o.description));
        }
    }
    if let Some(lw) = &report.checkers.lost_writes {
        let unseen = lw.attempted - lw.acknowledged - lw.recovered_count;
        s.push_str(&format!(
            "\nlost-writes: {} ({} adds attempted: {} acknowledged, {} indeterminate but read \
             later, {} indeterminate and never read; of the {} known to have happened: {} ok, \
             {} lost, {} stale, {} never read; {} unexpected, {} duplicated)\n",
            lw.verdict.as_str(),
            lw.attempted,
            lw.acknowledged,
            lw.recovered_count,
            unseen,
            lw.acknowledged + lw.recovered_count,
            lw.ok_count,
            lw.lost_count,
            lw.stale_count,
            lw.never_read_count,
            lw.unexpected.len(),
            lw.duplicated.len()
        ));
        for e in lw.lost.iter().chain(&lw.stale).take(10) {
            s.push_str(&format!(
                "  {}element {}: {} (added at index {}, last read containing it at {}, last read missing it at {})\n",
                key_label(&e.key, " "),
                e.element,
                e.outcome.as_str(),
                index_or(e.add_index, "none"),
                index_or(e.last_present_index, "none"),
                index_or(e.last_absent_index, "none")
            ));
        }
        for u in lw.unexpected.iter().take(10) {
            s.push_str(&format!(
                "  {}element {}: unexpected (read at index {}{})\n",
                key_label(&u.key, " "),
                u.element,
                index_or(u.read_index, "unknown"),
                u.failed_add_index
                    .map_or(String::new(), |i| format!(", its add at index {i} failed"))
            ));
        }
        for d in lw.duplicated.iter().take(10) {
            s.push_str(&format!(
                "  {}element {}: {} times in the read at index {}\n",
                key_label(&d.key, " "),
                d.element,
                d.count,
                index_or(d.read_index, "unknown")
            ));
        }
    }
    s
}
