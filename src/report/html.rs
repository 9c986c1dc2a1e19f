//! `report.html`: one self-contained page (inline CSS, SVG and a small script; no
//! network access) that a user opens after a run. Top to bottom: the verdict banner,
//! the test parameters and the command to rerun it, each checker's verdict, the
//! counterexample (the failing key's operations around the failure, the longest
//! linearizable prefix and the states it reaches, in plain words), lost writes, the
//! timeline, latency and throughput plots with fault intervals shaded, the figures
//! (counts, quantiles, availability, faults), harness errors and the node logs.
//!
//! Everything shown comes from the checkers' own types ([`Counterexample`],
//! [`LostWrites`]) as `results.json` holds them; each checker's whole report is also
//! shown as JSON, so nothing it says is hidden.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::Value as Json;
use workloads::check::{Anomaly, Counterexample, OpRef};
use workloads::history::Op;
use workloads::lost::LostWrites;

use super::escape::{attr, text};
use super::figures::{ns_to_secs, Fault, Figures};
use super::run::{CheckerReport, CheckerResult, Run, Verdict};
use super::timeline::Focus;
use crate::client::ReadConsistency;
use crate::run::config::TestConfig;

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

/// The counterexamples of the first invalid checker that has any.
pub fn counterexamples(checkers: &[CheckerResult]) -> Option<(&CheckerResult, &[Counterexample])> {
    checkers
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .find_map(|c| match &c.report {
            CheckerReport::Linearizable(l) if !l.counterexamples.is_empty() => {
                Some((c, l.counterexamples.as_slice()))
            }
            _ => None,
        })
}

/// The history index of the failing operation of a counterexample: its completion
/// when it has one, else its invocation.
fn failing_index(cx: &Counterexample) -> u64 {
    cx.op.complete_index.unwrap_or(cx.op.invoke_index)
}

/// The history indices of the operations a counterexample names (the failing one,
/// the concurrent window and the prefix's tail).
fn indices(cx: &Counterexample) -> BTreeSet<u64> {
    std::iter::once(&cx.op)
        .chain(&cx.window)
        .chain(&cx.prefix_tail)
        .flat_map(|o: &OpRef| std::iter::once(o.invoke_index).chain(o.complete_index))
        .collect()
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
        let cx = &list[0];
        f.indices = indices(cx);
        f.time = position(ops, failing_index(cx)).map(|p| ops[p].time);
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

/// The plain-words account of a counterexample.
fn plain_words(cx: &Counterexample) -> String {
    let mut words = format!(
        "The longest linearizable prefix of key {}'s history holds {} operations",
        cx.key, cx.prefix_len
    );
    if !cx.states.is_empty() {
        let states: Vec<&str> = cx.states.iter().take(8).map(String::as_str).collect();
        let _ = write!(
            words,
            "; after it the key can be in state {}",
            states.join(" or ")
        );
    }
    let _ = write!(
        words,
        ". The operation {} cannot take effect in any of those states, and no other order of the concurrent operations lets it: no single copy of the data could have produced these results.",
        cx.op.description
    );
    words
}

/// A list of typed rows as a table (see [`json_table`]).
fn table_of<T: serde::Serialize>(rows: &[T]) -> String {
    match serde_json::to_value(rows) {
        Ok(Json::Array(items)) => json_table(&items),
        _ => String::new(),
    }
}

/// The counterexample section.
fn counterexample_section(out: &mut String, run: &Run, checkers: &[CheckerResult]) {
    let Some((checker, list)) = counterexamples(checkers) else {
        return;
    };
    let cx = &list[0];
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
                text(&other.key),
                text(&other.summary)
            );
        }
        out.push_str("</ul>");
    }
    // The anomaly's name in bold, unless the words already start with it.
    let anomaly = cx
        .anomaly
        .map(Anomaly::as_str)
        .filter(|a| !cx.summary.starts_with(a))
        .map(|a| format!("<b>{}</b>: ", text(a)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<p class=\"explain\">{anomaly}{}</p><p>{}</p>",
        text(&cx.summary),
        text(&plain_words(cx))
    );
    let fail = failing_index(cx);
    let mark = indices(cx);
    let on_key: Vec<&Op> = run
        .ops
        .iter()
        .filter(|o| o.key.as_deref() == Some(cx.key.as_str()))
        .collect();
    let at = on_key
        .iter()
        .position(|o| o.index >= fail)
        .unwrap_or(on_key.len());
    let lo = at.saturating_sub(KEY_OPS_BEFORE);
    let hi = (at + KEY_OPS_AFTER + 1).min(on_key.len());
    let _ = write!(
        out,
        "<h3>Operations on key <code>{}</code> around the failure</h3><p class=\"hint\">{} of the key's {} history lines; the failing operation is red, the others the checker names are yellow.</p>",
        text(&cx.key),
        hi - lo,
        on_key.len()
    );
    out.push_str(&ops_table(&on_key[lo..hi], &mark, Some(fail)));
    if !cx.window.is_empty() {
        out.push_str("<h3>The failing operation and the operations concurrent with it</h3>");
        out.push_str(&table_of(&cx.window));
    }
    out.push_str("<h3>Longest linearizable prefix</h3>");
    let _ = write!(
        out,
        "<p class=\"hint\">The longest sequence of operations that a single copy of the data could have performed in this order; the next operation cannot follow it from any reachable state. It holds {} operations; its last ones, in order:</p>",
        cx.prefix_len
    );
    if cx.prefix_tail.is_empty() {
        out.push_str("<p>The prefix is empty: the history goes wrong from its first operation on this key.</p>");
    } else {
        out.push_str(&table_of(&cx.prefix_tail));
    }
    if !cx.states.is_empty() {
        out.push_str("<h3>States the prefix reaches</h3>");
        out.push_str(&table_of(&cx.states));
    }
    let _ = write!(
        out,
        "<details><summary>Everything the checker recorded</summary><pre>{}</pre></details></section>",
        text(&pretty(&checker.report.to_json()))
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

/// The element lists a lost-write report holds, with what each means.
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

/// The rows of one of a lost-write report's [`ELEMENT_LISTS`].
fn element_rows(l: &LostWrites, list: &str) -> Vec<Json> {
    let rows = match list {
        "lost" => serde_json::to_value(&l.lost),
        "stale" => serde_json::to_value(&l.stale),
        "unexpected" => serde_json::to_value(&l.unexpected),
        "duplicated" => serde_json::to_value(&l.duplicated),
        _ => serde_json::to_value(&l.never_read),
    };
    match rows {
        Ok(Json::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// The lost-write tables of the checkers that report lost writes.
fn lost_section(out: &mut String, checkers: &[CheckerResult]) {
    for c in checkers {
        let CheckerReport::LostWrites(l) = &c.report else {
            continue;
        };
        let _ = write!(
            out,
            "<section id=\"lost\"><h2>Lost writes ({})</h2>",
            text(&c.name)
        );
        if l.lost_count == 0 {
            let _ = write!(
                out,
                "<p>None of the {} acknowledged writes was lost.</p>",
                l.acknowledged
            );
        } else {
            let _ = write!(
                out,
                "<p class=\"explain\">{} of {} acknowledged writes were lost: the database confirmed them, then they were missing from the final reads.</p>",
                l.lost_count, l.acknowledged
            );
        }
        for (name, meaning) in ELEMENT_LISTS {
            let rows = element_rows(l, name);
            if !rows.is_empty() {
                let _ = write!(
                    out,
                    "<h3>{name} ({})</h3><p class=\"hint\">{meaning}</p>{}",
                    rows.len(),
                    json_table(&rows)
                );
            }
        }
        out.push_str("</section>");
    }
}

/// A number as `faultline test` accepts it and JSON writes it (`8.0`, `0.5`).
fn number(v: f64) -> String {
    serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string())
}

/// The `faultline test` command that reruns a test with its recorded configuration
/// and seed. The machine-specific fields (`node_binary`, `results_dir`) are left out
/// so the command runs anywhere.
fn rerun_command(c: &TestConfig) -> String {
    let mut flags: Vec<(&str, String)> = vec![
        ("--test-name", c.test_name.clone()),
        ("--db", c.db.clone()),
        ("--workload", c.workload.as_str().to_string()),
        ("--nodes", c.nodes.to_string()),
        ("--time-limit", number(c.time_limit_s)),
        ("--concurrency", c.concurrency.to_string()),
    ];
    if let Some(rate) = c.rate {
        flags.push(("--rate", number(rate)));
    }
    let nemesis = if c.nemesis.is_empty() {
        "none".to_string()
    } else {
        c.nemesis.join(",")
    };
    let reads = match c.read_consistency {
        ReadConsistency::Linearizable => "linearizable",
        ReadConsistency::Serializable => "serializable",
    };
    flags.extend([
        ("--seed", c.seed.to_string()),
        ("--nemesis", nemesis),
        ("--nemesis-interval", number(c.nemesis_interval_s)),
        ("--op-timeout-ms", c.op_timeout_ms.to_string()),
        ("--read-consistency", reads.to_string()),
        ("--client-routing", c.client_routing.as_str().to_string()),
        ("--keys", c.keys_per_epoch.to_string()),
        ("--ops-per-key", c.ops_per_key.to_string()),
        ("--recovery-time", number(c.recovery_s)),
        ("--leader-timeout", number(c.leader_timeout_s)),
        (
            "--mix",
            format!("{}:{}:{}", c.mix.read, c.mix.write, c.mix.cas),
        ),
        ("--hosts", c.hosts.clone()),
    ]);
    flags.extend(c.db_bugs.iter().map(|b| ("--db-bug", b.clone())));
    let mut words = vec!["faultline".to_string(), "test".to_string()];
    for (flag, value) in flags {
        words.push(flag.to_string());
        words.push(shell_quote(&value));
    }
    for a in &c.node_args {
        words.push(shell_quote(&format!("--node-arg={a}")));
    }
    words.join(" ")
}

/// The command lines that rerun the test with the same seed: the flags rebuilt from
/// the recorded configuration, and the command line the run was started with.
fn rerun(run: &Run) -> Vec<(&'static str, String)> {
    let mut cmds = Vec::new();
    if let Some(config) = run.config() {
        cmds.push(("Same configuration and seed:", rerun_command(config)));
    }
    if let Some(test) = &run.test {
        cmds.push((
            "As originally started (the seed may have been chosen then):",
            test.command_line
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" "),
        ));
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

/// A key/value table of the test configuration's fields.
fn params_table(config: Option<&TestConfig>) -> String {
    let Some(Ok(Json::Object(map))) = config.map(serde_json::to_value) else {
        return "<p>No test parameters recorded.</p>".to_string();
    };
    let mut out = String::from("<table class=\"kv\">");
    for (k, x) in &map {
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
                f.outcome.as_str(),
                f.index,
                fault_cell(f),
                f.outcome.as_str(),
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

/// The fault column of the fault table: its function, and the one-line summary a
/// fault's value may carry (a packet fault's parameters, nodes and mechanism).
fn fault_cell(f: &Fault) -> String {
    match f.value.get("summary").and_then(Json::as_str) {
        Some(summary) => format!("{}<br><small>{}</small>", text(&f.f), text(summary)),
        None => text(&f.f),
    }
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
        "<header id=\"verdict\" class=\"banner {verdict}\"><div class=\"big\">{}</div><div>{}</div><div class=\"sub\">test <b>{}</b> · store <b>{}</b> · seed <b>{}</b> · {} operations · {} faults · {:.1} s</div></header>",
        verdict.to_uppercase(),
        text(&headline),
        text(&name),
        text(&run.store().unwrap_or_else(|| "unknown".to_string())),
        run.seed()
            .map_or_else(|| "unknown".to_string(), |s| s.to_string()),
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
        for e in errors {
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
                text(&c.explanation()),
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
