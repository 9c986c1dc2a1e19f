//! `report.html`: one self-contained page (inline CSS, SVG and a small script; no
//! network access) that a user opens after a run. Top to bottom: the verdict banner,
//! the test parameters and the command to rerun it, each checker's verdict, the
//! counterexample (the failing key's operations around the failure, the longest
//! linearizable prefix and the states it reaches, in plain words), lost writes, the
//! timeline, latency and throughput plots with fault intervals shaded, the figures
//! (counts, quantiles, availability, faults), harness errors and the node logs.
//!
//! The counterexample's fields are read by name from the checker's JSON: `key`, the
//! failing operation (`op`/`failing_op` holding an `index`, or `index`), the prefix
//! (`prefix`/`longest_prefix`/`linearizable_prefix`), the states
//! (`states`/`final_states`), and lost writes (`lost`/`lost_writes`). Whatever else a
//! checker records is shown as raw JSON below, so nothing it says is hidden.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::Value as Json;
use workloads::history::Op;

use super::escape::{attr, text};
use super::figures::{ns_to_secs, Figures};
use super::run::{CheckerResult, Run, Verdict};
use super::timeline::Focus;

/// Operations on the failing key shown before the failing operation.
const KEY_OPS_BEFORE: usize = 30;
/// Operations on the failing key shown after it.
const KEY_OPS_AFTER: usize = 10;
/// Most rows of any JSON table.
const MAX_ROWS: usize = 500;

/// The page's stylesheet.
const CSS: &str = include_str!("report.css");
/// The page's script: zoom and hover for the timeline; marks the page ready.
const JS: &str = include_str!("report.js");

/// Everything the page needs.
pub struct Page<'a> {
    /// The run.
    pub run: &'a Run,
    /// Overall verdict.
    pub verdict: Verdict,
    /// Checker results.
    pub checkers: &'a [CheckerResult],
    /// Computed figures.
    pub figures: &'a Figures,
    /// The timeline's HTML.
    pub timeline: String,
    /// The latency plot's SVG.
    pub latency: String,
    /// The throughput plot's SVG.
    pub throughput: String,
}

/// The counterexamples of the first invalid checker that has any: its
/// `counterexamples` list (the checker's shape) or its single `counterexample`.
pub fn counterexamples(checkers: &[CheckerResult]) -> Option<(&CheckerResult, Vec<&Json>)> {
    checkers
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .find_map(|c| {
            let list: Vec<&Json> = match (
                c.detail.get("counterexamples"),
                c.detail.get("counterexample"),
            ) {
                (Some(Json::Array(items)), _) if !items.is_empty() => items.iter().collect(),
                (_, Some(x)) if !x.is_null() => vec![x],
                _ => return None,
            };
            Some((c, list))
        })
}

/// The history index of the failing operation of a counterexample: its completion
/// when it has one, else its invocation.
fn failing_index(cx: &Json) -> Option<u64> {
    let fields = ["complete_index", "index", "invoke_index"];
    for k in ["op", "failing_op", "failed_op", "operation", "failure"] {
        if let Some(op) = cx.get(k) {
            if let Some(i) = fields
                .iter()
                .find_map(|f| op.get(*f).and_then(Json::as_u64))
            {
                return Some(i);
            }
        }
    }
    ["index", "op_index", "failing_index"]
        .iter()
        .find_map(|k| cx.get(*k).and_then(Json::as_u64))
}

/// Every history index inside a JSON value (`index`, `invoke_index`,
/// `complete_index`): the operations a counterexample names.
fn indices(v: &Json, out: &mut BTreeSet<u64>) {
    if out.len() > 10_000 {
        return;
    }
    match v {
        Json::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x.as_u64()) {
                    ("index" | "invoke_index" | "complete_index", Some(i)) => {
                        out.insert(i);
                    }
                    _ => indices(x, out),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|x| indices(x, out)),
        _ => {}
    }
}

/// Position of the op with history index `index`.
fn position(ops: &[Op], index: u64) -> Option<usize> {
    let at = ops.partition_point(|o| o.index < index);
    (at < ops.len() && ops[at].index == index).then_some(at)
}

/// Where the timeline should look: the counterexample's operations and failure time.
pub fn focus(ops: &[Op], checkers: &[CheckerResult]) -> Focus {
    let mut f = Focus::default();
    if let Some((_, list)) = counterexamples(checkers) {
        let cx = list[0];
        indices(cx, &mut f.indices);
        let fail = failing_index(cx).or_else(|| f.indices.last().copied());
        f.time = fail.and_then(|i| position(ops, i)).map(|p| ops[p].time);
    }
    f
}

/// A JSON value as short text: strings unquoted, the rest compact JSON.
fn short(v: &Json) -> String {
    let s = match v {
        Json::String(s) => s.clone(),
        Json::Null => "—".to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > 300 {
        let cut: String = s.chars().take(300).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Columns that come first in JSON tables, when present.
const COLUMN_ORDER: [&str; 8] = [
    "key",
    "element",
    "outcome",
    "process",
    "description",
    "invoke_index",
    "complete_index",
    "index",
];

/// A table of JSON items: objects become rows with the union of their keys as columns.
fn json_table(items: &[Json]) -> String {
    let mut out = String::new();
    // Identifying columns first, in a fixed order; the rest as they come.
    let mut cols: Vec<&str> = Vec::new();
    for preferred in COLUMN_ORDER {
        if items
            .iter()
            .take(MAX_ROWS)
            .any(|i| i.get(preferred).is_some())
        {
            cols.push(preferred);
        }
    }
    for item in items.iter().take(MAX_ROWS) {
        if let Json::Object(map) = item {
            for k in map.keys() {
                if !cols.contains(&k.as_str()) {
                    cols.push(k);
                }
            }
        }
    }
    out.push_str("<table class=\"data\"><thead><tr>");
    if cols.is_empty() {
        out.push_str("<th>value</th>");
    }
    for c in &cols {
        let _ = write!(out, "<th>{}</th>", text(c));
    }
    out.push_str("</tr></thead><tbody>");
    for item in items.iter().take(MAX_ROWS) {
        out.push_str("<tr>");
        if cols.is_empty() {
            let _ = write!(out, "<td>{}</td>", text(&short(item)));
        } else {
            for c in &cols {
                let cell = item.get(*c).map(short).unwrap_or_default();
                let _ = write!(out, "<td>{}</td>", text(&cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if items.len() > MAX_ROWS {
        let _ = write!(
            out,
            "<p class=\"hint\">{} more rows in results.json.</p>",
            items.len() - MAX_ROWS
        );
    }
    out
}

/// A table of history operations; rows whose index is in `mark` are highlighted and
/// the row with index `fail` is the failure.
fn ops_table(ops: &[&Op], mark: &BTreeSet<u64>, fail: Option<u64>) -> String {
    let mut out = String::from(
        "<table class=\"data ops\"><thead><tr><th>index</th><th>time (s)</th><th>process</th><th>type</th><th>f</th><th>key</th><th>value</th><th>error</th></tr></thead><tbody>",
    );
    for op in ops {
        let class = if Some(op.index) == fail {
            " class=\"fail-row\""
        } else if mark.contains(&op.index) {
            " class=\"mark-row\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr{class}><td>{}</td><td>{:.6}</td><td>{}</td><td class=\"t-{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            op.index,
            ns_to_secs(op.time),
            op.process,
            op.op_type.as_str(),
            op.op_type.as_str(),
            text(&op.f),
            text(op.key.as_deref().unwrap_or("")),
            text(&op.value.to_string()),
            text(op.error.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The first of several fields that is present and not null.
fn first<'a>(v: &'a Json, keys: &[&str]) -> Option<&'a Json> {
    keys.iter().find_map(|k| v.get(*k).filter(|x| !x.is_null()))
}

/// The plain-words account of a counterexample, built from its fields.
fn plain_words(cx: &Json) -> Option<String> {
    let key = cx.get("key").map(short)?;
    let op = ["op", "failing_op", "operation"]
        .iter()
        .find_map(|k| cx.get(*k))
        .and_then(|o| o.get("description").and_then(Json::as_str));
    let mut words = String::new();
    if let Some(n) = cx.get("prefix_len").and_then(Json::as_u64) {
        let _ = write!(
            words,
            "The longest linearizable prefix of key {key}'s history holds {n} operations"
        );
        match cx.get("states").and_then(Json::as_array) {
            Some(states) if !states.is_empty() => {
                let states: Vec<String> = states.iter().take(8).map(short).collect();
                let _ = write!(
                    words,
                    "; after it the key can be in state {}",
                    states.join(" or ")
                );
            }
            _ => {}
        }
        words.push_str(". ");
    }
    if let Some(op) = op {
        let _ = write!(
            words,
            "The operation {op} cannot take effect in any of those states, and no other order of the concurrent operations lets it: no single copy of the data could have produced these results."
        );
    }
    (!words.is_empty()).then_some(words)
}

/// The counterexample section.
fn counterexample_section(out: &mut String, run: &Run, checkers: &[CheckerResult]) {
    let Some((checker, list)) = counterexamples(checkers) else {
        return;
    };
    let cx = list[0];
    let _ = write!(
        out,
        "<section id=\"counterexample\"><h2>Counterexample ({})</h2>",
        text(&checker.name)
    );
    if list.len() > 1 {
        let _ = write!(
            out,
            "<p>{} counterexamples; the first is shown in full. The others:</p><ul>",
            list.len()
        );
        for other in &list[1..] {
            let _ = write!(
                out,
                "<li>key <code>{}</code>: {}</li>",
                text(&other.get("key").map(short).unwrap_or_default()),
                text(
                    &first(other, &["summary", "explanation"])
                        .map(short)
                        .unwrap_or_default()
                )
            );
        }
        out.push_str("</ul>");
    }
    let words = first(cx, &["explanation", "summary", "message", "description"])
        .and_then(Json::as_str)
        .map(str::to_string)
        .or_else(|| checker.explanation.clone());
    if let Some(words) = words {
        // The anomaly's name in bold, unless the words already start with it.
        let anomaly = cx
            .get("anomaly")
            .and_then(Json::as_str)
            .map(|a| a.replace('-', " "))
            .filter(|a| !words.starts_with(a.as_str()))
            .map(|a| format!("<b>{}</b>: ", text(&a)))
            .unwrap_or_default();
        let _ = write!(out, "<p class=\"explain\">{anomaly}{}</p>", text(&words));
    }
    if let Some(plain) = plain_words(cx) {
        let _ = write!(out, "<p>{}</p>", text(&plain));
    }
    let key = first(cx, &["key"]).map(short);
    let fail = failing_index(cx);
    let mut mark = BTreeSet::new();
    indices(cx, &mut mark);
    if let Some(key) = &key {
        let on_key: Vec<&Op> = run
            .ops
            .iter()
            .filter(|o| o.key.as_deref() == Some(key.as_str()))
            .collect();
        let at = fail
            .and_then(|i| on_key.iter().position(|o| o.index >= i))
            .unwrap_or(on_key.len());
        let lo = at.saturating_sub(KEY_OPS_BEFORE);
        let hi = (at + KEY_OPS_AFTER + 1).min(on_key.len());
        let _ = write!(
            out,
            "<h3>Operations on key <code>{}</code> around the failure</h3><p class=\"hint\">{} of the key's {} history lines; the failing operation is red, the others the checker names are yellow.</p>",
            text(key),
            hi - lo,
            on_key.len()
        );
        out.push_str(&ops_table(&on_key[lo..hi], &mark, fail));
    }
    if let Some(Json::Array(window)) = cx
        .get("window")
        .filter(|w| w.as_array().is_some_and(|a| !a.is_empty()))
    {
        out.push_str("<h3>The failing operation and the operations concurrent with it</h3>");
        out.push_str(&json_table(window));
    }
    if let Some(prefix) = first(
        cx,
        &[
            "prefix_tail",
            "prefix",
            "longest_prefix",
            "linearizable_prefix",
        ],
    ) {
        out.push_str("<h3>Longest linearizable prefix</h3>");
        out.push_str(
            "<p class=\"hint\">The longest sequence of operations that a single copy of the data could have performed in this order; the next operation cannot follow it from any reachable state.",
        );
        if let Some(n) = cx.get("prefix_len").and_then(Json::as_u64) {
            let _ = write!(out, " It holds {n} operations; its last ones, in order:");
        }
        out.push_str("</p>");
        match prefix {
            Json::Array(items) if items.is_empty() => {
                out.push_str("<p>The prefix is empty: the history goes wrong from its first operation on this key.</p>");
            }
            Json::Array(items) if items.iter().all(Json::is_u64) => {
                let rows: Vec<&Op> = items
                    .iter()
                    .filter_map(|i| i.as_u64().and_then(|i| position(&run.ops, i)))
                    .take(MAX_ROWS)
                    .map(|p| &run.ops[p])
                    .collect();
                out.push_str(&ops_table(&rows, &BTreeSet::new(), fail));
            }
            Json::Array(items) => out.push_str(&json_table(items)),
            other => {
                let _ = write!(out, "<pre>{}</pre>", text(&pretty(other)));
            }
        }
    }
    if let Some(states) = first(cx, &["states", "final_states", "reachable_states"]) {
        out.push_str("<h3>States the prefix reaches</h3>");
        match states {
            Json::Array(items) => out.push_str(&json_table(items)),
            other => {
                let _ = write!(out, "<pre>{}</pre>", text(&pretty(other)));
            }
        }
    }
    let _ = write!(
        out,
        "<details><summary>Everything the checker recorded</summary><pre>{}</pre></details></section>",
        text(&pretty(&checker.detail))
    );
}

/// Pretty JSON, bounded in length.
fn pretty(v: &Json) -> String {
    let s = serde_json::to_string_pretty(v).unwrap_or_default();
    if s.len() > 200_000 {
        let cut: String = s.chars().take(200_000).collect();
        format!("{cut}\n… (truncated; see results.json)")
    } else {
        s
    }
}

/// The element lists a lost-write checker reports, with what each means.
const ELEMENT_LISTS: [(&str, &str); 5] = [
    (
        "lost",
        "Lost: acknowledged, then missing from the final reads.",
    ),
    (
        "stale",
        "Stale: missing from some read after it was known, present again later.",
    ),
    (
        "unexpected",
        "Unexpected: read although no add of it succeeded or was pending.",
    ),
    (
        "duplicated",
        "Duplicated: appears more than once in one read.",
    ),
    (
        "never_read",
        "Never read: no read happened after it was known.",
    ),
];

/// The lost-write tables of the checkers that report lost writes.
fn lost_section(out: &mut String, checkers: &[CheckerResult]) {
    for c in checkers {
        let Some(Json::Array(lost)) = first(&c.detail, &["lost", "lost_writes", "lost_elements"])
        else {
            continue;
        };
        let _ = write!(
            out,
            "<section id=\"lost\"><h2>Lost writes ({})</h2>",
            text(&c.name)
        );
        let count = |k: &str| c.detail.get(k).and_then(Json::as_u64);
        match (count("acknowledged"), count("lost_count")) {
            (Some(ack), Some(0)) => {
                let _ = write!(
                    out,
                    "<p>None of the {ack} acknowledged writes was lost.</p>"
                );
            }
            (Some(ack), Some(n)) => {
                let _ = write!(
                    out,
                    "<p class=\"explain\">{n} of {ack} acknowledged writes were lost: the database confirmed them, then they were missing from the final reads.</p>"
                );
            }
            _ if lost.is_empty() => out.push_str("<p>No acknowledged write was lost.</p>"),
            _ => {
                let _ = write!(
                    out,
                    "<p class=\"explain\">{} acknowledged writes are missing from the final reads: the database confirmed them, then lost them.</p>",
                    lost.len()
                );
            }
        }
        for (field, meaning) in ELEMENT_LISTS {
            let Some(Json::Array(items)) = c.detail.get(field) else {
                continue;
            };
            if items.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "<h3>{} ({})</h3><p class=\"hint\">{meaning}</p>",
                text(field),
                items.len()
            );
            out.push_str(&json_table(items));
        }
        out.push_str("</section>");
    }
}

/// How `faultline test` flags follow from the resolved configuration in test.json:
/// (config field, flag). The machine-specific fields (`node_binary`, `results_dir`)
/// are left out so the command runs anywhere; `mix` and `node_args` are special.
const CONFIG_FLAGS: [(&str, &str); 16] = [
    ("test_name", "--test-name"),
    ("db", "--db"),
    ("workload", "--workload"),
    ("nodes", "--nodes"),
    ("time_limit_s", "--time-limit"),
    ("concurrency", "--concurrency"),
    ("rate", "--rate"),
    ("seed", "--seed"),
    ("nemesis", "--nemesis"),
    ("nemesis_interval_s", "--nemesis-interval"),
    ("op_timeout_ms", "--op-timeout-ms"),
    ("read_consistency", "--read-consistency"),
    ("keys_per_epoch", "--keys"),
    ("ops_per_key", "--ops-per-key"),
    ("recovery_s", "--recovery-time"),
    ("leader_timeout_s", "--leader-timeout"),
];

/// The `faultline test` command that reruns a test with its recorded configuration
/// and seed, if test.json holds a configuration.
fn rerun_command(config: &Json) -> Option<String> {
    config.get("seed")?;
    let mut words = vec!["faultline".to_string(), "test".to_string()];
    for (field, flag) in CONFIG_FLAGS {
        let value = match config.get(field) {
            None | Some(Json::Null) => continue,
            Some(Json::Array(items)) if items.is_empty() => "none".to_string(),
            Some(Json::Array(items)) => items.iter().map(short).collect::<Vec<_>>().join(","),
            Some(v) => short(v),
        };
        words.push(flag.to_string());
        words.push(shell_quote(&value));
    }
    if let Some(mix) = config.get("mix") {
        let w = |k: &str| mix.get(k).map(short).unwrap_or_else(|| "0".to_string());
        words.push("--mix".to_string());
        words.push(format!("{}:{}:{}", w("read"), w("write"), w("cas")));
    }
    if let Some(hosts) = config.get("hosts").and_then(Json::as_str) {
        words.push("--hosts".to_string());
        words.push(shell_quote(hosts));
    }
    if let Some(Json::Array(args)) = config.get("node_args") {
        for a in args {
            words.push(shell_quote(&format!("--node-arg={}", short(a))));
        }
    }
    Some(words.join(" "))
}

/// The command lines that rerun the test with the same seed: the flags rebuilt from
/// the recorded configuration, and the command line the run was started with.
fn rerun(run: &Run) -> Vec<(&'static str, String)> {
    let mut cmds = Vec::new();
    if let Some(cmd) = rerun_command(run.config()) {
        cmds.push(("Same configuration and seed:", cmd));
    }
    match first(&run.test, &["command_line", "argv", "command"]) {
        Some(Json::Array(words)) => cmds.push((
            "As originally started (the seed may have been chosen then):",
            words
                .iter()
                .map(|w| shell_quote(&short(w)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        Some(Json::String(s)) => cmds.push(("As originally started:", s.clone())),
        _ => {}
    }
    cmds
}

/// Quotes a word for a POSIX shell when needed.
fn shell_quote(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// A key/value table of the top level of a JSON object.
fn params_table(v: &Json) -> String {
    let Json::Object(map) = v else {
        return "<p>No test parameters recorded.</p>".to_string();
    };
    let mut out = String::from("<table class=\"kv\">");
    for (k, x) in map {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            text(k),
            text(&short(x))
        );
    }
    out.push_str("</table>");
    out
}

/// Formats an optional fraction as a percentage.
fn pct(f: Option<f64>) -> String {
    f.map_or_else(|| "—".to_string(), |f| format!("{:.1}%", f * 100.0))
}

/// The figures section.
fn figures_section(out: &mut String, fig: &Figures) {
    out.push_str("<section id=\"figures\"><h2>Figures</h2><div class=\"cols\"><div><h3>Operations</h3><table class=\"data\"><thead><tr><th>f</th><th>invoked</th><th>ok</th><th>fail</th><th>info</th><th>pending</th></tr></thead><tbody>");
    let rows = fig
        .ops
        .by_f
        .iter()
        .map(|(f, c)| (f.as_str(), c))
        .chain(std::iter::once(("all", &fig.ops.total)));
    for (f, c) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(f),
            c.invoke,
            c.ok,
            c.fail,
            c.info,
            c.pending
        );
    }
    out.push_str("</tbody></table></div><div><h3>Latency (ms, completed operations)</h3><table class=\"data\"><thead><tr><th>f</th><th>count</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr></thead><tbody>");
    for (f, q) in &fig.latency_ms {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            text(f),
            q.count,
            q.p50,
            q.p95,
            q.p99,
            q.max
        );
    }
    let a = &fig.availability;
    let t = &fig.throughput;
    let _ = write!(
        out,
        "</tbody></table></div><div><h3>Throughput and availability</h3><table class=\"kv\">\
         <tr><th>duration</th><td>{:.2} s</td></tr><tr><th>completed / s</th><td>{:.1}</td></tr><tr><th>ok / s</th><td>{:.1}</td></tr>\
         <tr><th>ok during faults</th><td>{} ({} of {})</td></tr><tr><th>ok outside faults</th><td>{} ({} of {})</td></tr>\
         <tr><th>ok after the last fault</th><td>{} ({} of {})</td></tr></table></div></div>",
        t.duration_s,
        t.completed_per_s,
        t.ok_per_s,
        pct(a.during_faults.fraction),
        a.during_faults.ok,
        a.during_faults.total,
        pct(a.outside_faults.fraction),
        a.outside_faults.ok,
        a.outside_faults.total,
        pct(a.after_faults.fraction),
        a.after_faults.ok,
        a.after_faults.total,
    );
    let _ = write!(out, "<h3>Faults ({})</h3>", fig.faults.len());
    if fig.faults.is_empty() {
        out.push_str("<p>The nemesis injected no fault.</p>");
    } else {
        out.push_str("<table class=\"data\"><thead><tr><th>index</th><th>fault</th><th>outcome</th><th>from (s)</th><th>to (s)</th><th>healed by</th><th>what was done</th></tr></thead><tbody>");
        for f in fig.faults.iter().take(MAX_ROWS) {
            let _ = write!(
                out,
                "<tr class=\"o-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                attr(&f.outcome),
                f.index,
                text(&f.f),
                text(&f.outcome),
                f.start_s,
                f.end_s.map_or_else(|| "never healed".to_string(), |e| format!("{e:.3}")),
                text(f.healed_by.as_deref().unwrap_or("")),
                text(&short(&f.value)),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

/// Renders the whole page.
pub fn render(p: &Page<'_>) -> String {
    let run = p.run;
    let name = run.name();
    let verdict = p.verdict.as_str();
    let mut out =
        String::with_capacity(p.timeline.len() + p.latency.len() + p.throughput.len() + 64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} — {}</title><style>{CSS}</style></head><body>",
        text(&name),
        verdict
    );
    let headline = match p.verdict {
        Verdict::Valid => "Valid: every checker accepted the history.".to_string(),
        Verdict::Invalid => {
            let bad: Vec<&str> = p
                .checkers
                .iter()
                .filter(|c| c.verdict == Verdict::Invalid)
                .map(|c| c.name.as_str())
                .collect();
            if bad.is_empty() {
                "Invalid: the history violates the checked properties.".to_string()
            } else {
                format!("Invalid: {} found a violation.", bad.join(", "))
            }
        }
        Verdict::Unknown => {
            "Unknown: the checkers could not decide; this run proves nothing.".to_string()
        }
    };
    let _ = write!(
        out,
        "<header id=\"verdict\" class=\"banner {verdict}\"><div class=\"big\">{}</div><div>{}</div><div class=\"sub\">{}test <b>{}</b> · seed <b>{}</b> · {} operations · {} faults · {:.1} s</div></header>",
        verdict.to_uppercase(),
        text(&headline),
        run.store()
            .map(|s| format!("store <b>{}</b> · ", text(&s)))
            .unwrap_or_default(),
        text(&name),
        text(&run.seed().unwrap_or_else(|| "unknown".to_string())),
        p.figures.ops.total.invoke,
        p.figures.faults.len(),
        p.figures.throughput.duration_s,
    );
    out.push_str("<nav><a href=\"#checkers\">checkers</a> ");
    if counterexamples(p.checkers).is_some() {
        out.push_str("<a href=\"#counterexample\">counterexample</a> ");
    }
    out.push_str("<a href=\"#timeline-section\">timeline</a> <a href=\"#latency\">latency</a> <a href=\"#throughput\">throughput</a> <a href=\"#figures\">figures</a> <a href=\"#logs\">logs</a> <a href=\"history.jsonl\">history.jsonl</a> <a href=\"results.json\">results.json</a> <a href=\"junit.xml\">junit.xml</a></nav>");
    if !run.notes.is_empty() {
        out.push_str("<section class=\"notes\"><h2>Notes</h2><ul>");
        for n in &run.notes {
            let _ = write!(out, "<li>{}</li>", text(n));
        }
        out.push_str("</ul></section>");
    }
    let errors = run.harness_errors();
    if !errors.is_empty() {
        out.push_str("<section class=\"notes\" id=\"harness\"><h2>Harness errors</h2><ul>");
        for e in &errors {
            let _ = write!(out, "<li>{}</li>", text(e));
        }
        out.push_str("</ul></section>");
    }

    out.push_str("<section id=\"checkers\"><h2>Checkers</h2>");
    if p.checkers.is_empty() {
        out.push_str("<p>No checker result was recorded.</p>");
    } else {
        out.push_str("<table class=\"data\"><thead><tr><th>checker</th><th>verdict</th><th>explanation</th></tr></thead><tbody>");
        for c in p.checkers {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"v {v}\">{v}</td><td>{}</td></tr>",
                text(&c.name),
                text(c.explanation.as_deref().unwrap_or("")),
                v = c.verdict.as_str()
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
    counterexample_section(&mut out, run, p.checkers);
    lost_section(&mut out, p.checkers);

    let _ = write!(
        out,
        "<section id=\"timeline-section\"><h2>Timeline</h2>{}</section>",
        p.timeline
    );
    let _ = write!(
        out,
        "<section id=\"latency\"><h2>Latency over time</h2><p class=\"hint\">One point per completed operation at its invocation time (downsampled to at most {} points); lines are p50/p95/p99 of ok operations per time bucket; shaded bands are faults in force.</p><div class=\"plot\">{}</div></section>",
        super::charts::MAX_POINTS,
        p.latency
    );
    let _ = write!(
        out,
        "<section id=\"throughput\"><h2>Throughput over time</h2><p class=\"hint\">Completions per second by function and outcome (dashed: fail and info); shaded bands are faults in force.</p><div class=\"plot\">{}</div></section>",
        p.throughput
    );
    figures_section(&mut out, p.figures);

    out.push_str("<section id=\"params\"><h2>Test parameters</h2>");
    out.push_str(&params_table(run.config()));
    out.push_str("<h3>Rerun with the same seed</h3>");
    let cmds = rerun(run);
    if cmds.is_empty() {
        out.push_str("<p>test.json records no configuration to rerun.</p>");
    }
    for (label, cmd) in cmds {
        let _ = write!(
            out,
            "<p class=\"hint\">{label}</p><pre class=\"cmd\">{}</pre>",
            text(&cmd)
        );
    }
    out.push_str("</section>");

    out.push_str("<section id=\"logs\"><h2>Node logs</h2>");
    let nodes = run.node_logs();
    if nodes.is_empty() {
        out.push_str("<p>No node folder under nodes/.</p>");
    } else {
        out.push_str("<ul>");
        for (node, files) in &nodes {
            let _ = write!(out, "<li><b>{}</b>: ", text(node));
            for f in files {
                let label = f.rsplit('/').next().unwrap_or(f);
                let _ = write!(out, "<a href=\"{}\">{}</a> ", attr(f), text(label));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    out.push_str("</section><div id=\"tip\"></div>");
    let _ = writeln!(out, "<script>{JS}</script></body></html>");
    out
}
