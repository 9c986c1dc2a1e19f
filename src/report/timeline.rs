//! The timeline: one lane per process, one bar per operation from invocation to
//! completion, coloured by outcome (ok / fail / info; a bar that never completed runs
//! to the edge), a nemesis lane on top, fault windows shaded. Hovering a bar shows the
//! operation; the wheel zooms the time axis around the pointer, dragging pans, and a
//! double click resets (the page's inline script does this).
//!
//! A long run has far more operations than a page can show, so the timeline shows a
//! bounded window of at most [`MAX_OPS`] operations: centred on the counterexample when
//! there is one, otherwise starting just before the first fault (or at the start). The
//! operations before and after the window are summarised in words; the latency and
//! throughput plots cover the whole run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use workloads::history::Op;

use super::charts::outcome_color;
use super::escape::attr;
use super::figures::{ns_to_secs, OpEnd, Pair, Paired};

/// The most operations the timeline draws.
pub const MAX_OPS: usize = 4_000;

/// Width of the lane labels, px.
const LEFT: f64 = 90.0;
/// Width of the plotting area, px.
const WIDTH: f64 = 1200.0;
/// Height of a lane, px.
const LANE: f64 = 16.0;
/// Height of the axis band at the top, px.
const TOP: f64 = 22.0;

/// Where the timeline should look.
#[derive(Debug, Clone, Default)]
pub struct Focus {
    /// History indices to outline (the counterexample's operations).
    pub indices: BTreeSet<u64>,
    /// Time to centre the window on, ns.
    pub time: Option<u64>,
}

/// The timeline's HTML: a summary sentence and the SVG.
///
/// With `workers` (the test's concurrency), process `p` is drawn in lane
/// `p mod workers`: a retired process's successor continues in its lane, as in
/// Jepsen, so the lanes stay few however many operations ended `info`.
pub fn render(
    ops: &[Op],
    paired: &Paired,
    windows: &[(u64, u64)],
    focus: &Focus,
    workers: Option<u64>,
) -> String {
    let pairs = &paired.pairs;
    let mut out = String::new();
    if pairs.is_empty() && paired.actions.is_empty() {
        out.push_str("<p>The history has no operations.</p>");
        return out;
    }
    let (lo, hi, why) = choose(pairs, windows, focus);
    let shown = &pairs[lo..hi];
    let t0 = if lo == 0 { 0 } else { shown[0].start };
    let t1 = if hi == pairs.len() {
        paired.end_time
    } else {
        shown.iter().filter_map(|p| p.end).max().unwrap_or(t0)
    }
    .max(t0 + 1);

    summary(&mut out, pairs, lo, hi, t0, t1, why);

    // Lanes: processes in the window, sorted; the nemesis first.
    let lane_of = |p: u64| workers.filter(|w| *w > 0).map_or(p, |w| p % w);
    let lane_name = if workers.is_some() {
        "worker"
    } else {
        "process"
    };
    let lanes: BTreeMap<u64, usize> = shown
        .iter()
        .map(|p| lane_of(p.process))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, i + 1))
        .collect();
    let height = TOP + LANE * (lanes.len() + 1) as f64 + 4.0;
    let scale = WIDTH / (t1 - t0) as f64;
    let x = |t: u64| (t.clamp(t0, t1) - t0) as f64 * scale;

    let _ = write!(
        out,
        r#"<div class="tl-wrap"><svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" data-left="{LEFT}" data-width="{WIDTH}" data-top="{TOP}" data-t0="{t0}" data-t1="{t1}" font-family="sans-serif" font-size="11">"#,
        w = LEFT + WIDTH + 10.0,
    );
    let _ = write!(
        out,
        r#"<defs><clipPath id="tl-clip"><rect x="{LEFT}" y="0" width="{WIDTH}" height="{height}"/></clipPath></defs>"#
    );
    // Lane labels and guides.
    let _ = write!(
        out,
        r##"<text x="4" y="{}" fill="#444">nemesis</text>"##,
        TOP + LANE * 0.75
    );
    for (p, lane) in &lanes {
        let y = TOP + LANE * *lane as f64;
        let _ = write!(
            out,
            r##"<text x="4" y="{}" fill="#444">{lane_name} {p}</text><line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#eee"/>"##,
            y + LANE * 0.75,
            LEFT + WIDTH
        );
    }
    out.push_str(r#"<g id="tl-ticks"></g>"#);
    let _ = write!(
        out,
        r#"<g clip-path="url(#tl-clip)"><g id="tl-zoom" transform="translate({LEFT} 0)">"#
    );
    for a in &paired.actions {
        if a.end < t0 || a.start > t1 {
            continue;
        }
        let op = &ops[a.complete];
        let detail = format!(
            "nemesis {} → {}: {} (#{}, {:.3} s)",
            op.f,
            a.outcome.as_str(),
            op.value,
            op.index,
            ns_to_secs(a.start)
        );
        let color = match a.outcome {
            nemesis::Outcome::Installed => "#8e44ad",
            nemesis::Outcome::Skipped => "#aaaaaa",
            nemesis::Outcome::Indeterminate => "#f0a014",
        };
        let _ = write!(
            out,
            r#"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{color}" data-h="{}"/>"#,
            x(a.start),
            TOP + 2.0,
            (x(a.end) - x(a.start)).max(2.0),
            LANE - 4.0,
            attr(&detail)
        );
    }
    for p in shown {
        let lane = lanes[&lane_of(p.process)];
        let inv = &ops[p.invoke];
        let done = p.complete.map(|c| &ops[c]);
        let end = p.end.unwrap_or(t1);
        let mut detail = format!(
            "process {} {} {} {}",
            p.process,
            inv.f,
            inv.key.as_deref().unwrap_or(""),
            inv.value
        );
        match done {
            Some(d) => {
                let _ = write!(
                    detail,
                    " → {} {}{} ({:.3} ms; #{}–#{}, {:.6} s)",
                    p.outcome.as_str(),
                    d.value,
                    d.error
                        .as_deref()
                        .map(|e| format!(" [{e}]"))
                        .unwrap_or_default(),
                    (end - p.start) as f64 / 1e6,
                    inv.index,
                    d.index,
                    ns_to_secs(p.start)
                );
            }
            None => {
                let _ = write!(detail, " → never completed (#{})", inv.index);
            }
        }
        let focused = focus.indices.contains(&inv.index)
            || done.is_some_and(|d| focus.indices.contains(&d.index));
        let c = outcome_color(p.outcome);
        let _ = write!(
            out,
            r##"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="#{:02x}{:02x}{:02x}"{} data-h="{}"/>"##,
            x(p.start),
            TOP + LANE * lane as f64 + 2.0,
            (x(end) - x(p.start)).max(1.0),
            LANE - 4.0,
            c.0,
            c.1,
            c.2,
            if focused {
                r##" class="focus" stroke="#000" stroke-width="2" vector-effect="non-scaling-stroke""##
            } else if p.outcome == OpEnd::Pending {
                r#" fill-opacity="0.5""#
            } else {
                ""
            },
            attr(&detail)
        );
    }
    // Fault windows: a solid strip above the lanes and a tint over them, on top of
    // the bars so that dense lanes do not hide them.
    for &(s, e) in windows {
        if e < t0 || s > t1 {
            continue;
        }
        let _ = write!(
            out,
            r##"<rect x="{x0:.2}" y="{:.1}" width="{w:.2}" height="4" fill="#ff8c3c"/><rect x="{x0:.2}" y="{TOP}" width="{w:.2}" height="{:.1}" fill="#ff8c3c" fill-opacity="0.18" pointer-events="none"/>"##,
            TOP - 5.0,
            height - TOP,
            x0 = x(s),
            w = (x(e) - x(s)).max(0.5),
        );
    }
    out.push_str("</g></g></svg></div>");
    out.push_str(
        r#"<p class="hint">Wheel to zoom the time axis, drag to pan, double-click to reset; hover a bar for the operation. Blue ok, red fail, orange info, faded never completed; outlined bars belong to the counterexample; shaded bands are faults in force; the top lane is the nemesis (purple installed, grey skipped, orange indeterminate).</p>"#,
    );
    out
}

/// Why the window was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Every operation fits.
    All,
    /// Centred on the counterexample.
    Counterexample,
    /// Starting just before the first fault.
    FirstFault,
    /// The start of the run.
    Start,
}

/// Chooses the window `[lo, hi)` of pairs to draw.
fn choose(pairs: &[Pair], windows: &[(u64, u64)], focus: &Focus) -> (usize, usize, Why) {
    if pairs.len() <= MAX_OPS {
        return (0, pairs.len(), Why::All);
    }
    let (centre, why) = if let Some(t) = focus.time {
        (pairs.partition_point(|p| p.start < t), Why::Counterexample)
    } else if let Some(&(s, _)) = windows.first() {
        let i = pairs.partition_point(|p| p.start < s);
        (i.saturating_sub(MAX_OPS / 8) + MAX_OPS / 2, Why::FirstFault)
    } else {
        (0, Why::Start)
    };
    let lo = centre
        .saturating_sub(MAX_OPS / 2)
        .min(pairs.len() - MAX_OPS);
    (lo, lo + MAX_OPS, why)
}

/// Writes the sentence saying what the window shows and what it leaves out.
fn summary(out: &mut String, pairs: &[Pair], lo: usize, hi: usize, t0: u64, t1: u64, why: Why) {
    if why == Why::All {
        let _ = write!(
            out,
            "<p>All {} operations, {:.3}–{:.3} s.</p>",
            pairs.len(),
            ns_to_secs(t0),
            ns_to_secs(t1)
        );
        return;
    }
    let reason = match why {
        Why::Counterexample => "around the counterexample",
        Why::FirstFault => "from just before the first fault",
        _ => "from the start of the run",
    };
    let _ = write!(
        out,
        "<p>Showing operations {}–{} of {} ({:.3}–{:.3} s), {reason}. ",
        lo + 1,
        hi,
        pairs.len(),
        ns_to_secs(t0),
        ns_to_secs(t1)
    );
    for (label, part) in [("Before", &pairs[..lo]), ("After", &pairs[hi..])] {
        if part.is_empty() {
            continue;
        }
        let mut c = [0usize; 3];
        for p in part {
            c[match p.outcome {
                OpEnd::Ok => 0,
                OpEnd::Fail => 1,
                _ => 2,
            }] += 1;
        }
        let _ = write!(
            out,
            "{label} the window: {} operations ({} ok, {} fail, {} info or pending). ",
            part.len(),
            c[0],
            c[1],
            c[2]
        );
    }
    out.push_str("The plots below cover the whole run.</p>");
}
