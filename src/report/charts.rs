//! The two plots Jepsen users know, drawn as inline SVG with `plotters`: latency over
//! time (one point per operation, coloured by outcome, marker shape by function, with
//! p50/p95/p99 lines) and throughput over time (completions per second per function
//! and outcome). Both shade the intervals in which a fault was in force.
//!
//! Big runs are downsampled: at most [`MAX_POINTS`] points are drawn. Operations that
//! did not succeed are rarer and more interesting, so they keep up to half the budget;
//! `ok` operations are thinned with a fixed stride, which keeps the picture's density
//! and is deterministic. Quantile lines and rates are computed from every operation.

use std::collections::BTreeMap;

use anyhow::anyhow;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use workloads::history::Op;

use super::figures::{ns_to_secs, quantile, OpEnd, Paired};

/// The most latency points drawn.
pub const MAX_POINTS: usize = 20_000;

/// Number of time buckets for quantile lines and rates.
const BUCKETS: u64 = 150;

/// Plot size in pixels.
const SIZE: (u32, u32) = (1300, 420);

/// Room right of each plot for its legend, px (outside the data, never hiding it).
const LEGEND_WIDTH: u32 = 150;

/// Shading of fault windows.
const FAULT_SHADE: RGBColor = RGBColor(255, 140, 60);

/// Colours of the functions' ok lines in the throughput plot (none red or orange,
/// which mean fail and info).
const F_COLORS: [RGBColor; 6] = [
    RGBColor(40, 110, 220),
    RGBColor(30, 150, 70),
    RGBColor(130, 70, 180),
    RGBColor(0, 150, 160),
    RGBColor(120, 90, 50),
    RGBColor(90, 90, 90),
];

/// The colour of an outcome (ok blue, fail red, info and pending orange).
pub fn outcome_color(o: OpEnd) -> RGBColor {
    match o {
        OpEnd::Ok => RGBColor(66, 133, 244),
        OpEnd::Fail => RGBColor(219, 68, 85),
        OpEnd::Info | OpEnd::Pending => RGBColor(240, 160, 20),
    }
}

/// The legend's chart: a plain area right of the plot, in pixels of its own.
type Legend<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Adds one legend entry: an empty series carrying the label and its mark.
macro_rules! entry {
    ($legend:expr, $label:expr, $mark:expr) => {
        $legend
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(plot_err)?
            .label($label)
            .legend($mark)
    };
}

/// Splits a plot's canvas into the plotting part and the legend on its right.
fn canvas<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
) -> anyhow::Result<(
    DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    Legend<'a, 'b>,
)> {
    root.fill(&WHITE).map_err(plot_err)?;
    let (plot, side) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let legend = ChartBuilder::on(&side)
        .margin(12)
        .build_cartesian_2d(0f64..1.0, 0f64..1.0)
        .map_err(plot_err)?;
    Ok((plot, legend))
}

/// Draws the legend's labels and marks.
fn draw_legend<'a, 'b: 'a>(legend: &mut Legend<'a, 'b>) -> anyhow::Result<()> {
    legend
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE)
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(plot_err)
}

/// Converts a plotters error.
fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("cannot draw a plot: {e}")
}

/// The time range of the plots, seconds.
fn x_range(paired: &Paired) -> f64 {
    ns_to_secs(paired.end_time).max(1e-3)
}

/// The latency plot.
pub fn latency_svg(ops: &[Op], paired: &Paired, windows: &[(u64, u64)]) -> anyhow::Result<String> {
    let x_max = x_range(paired);
    let completed: Vec<(usize, f64, f64)> = paired
        .pairs
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.latency()
                .map(|l| (i, ns_to_secs(p.start), (l as f64 / 1e6).max(0.001)))
        })
        .collect();
    let y_max = completed
        .iter()
        .map(|c| c.2)
        .fold(1.0f64, f64::max)
        .mul_add(1.5, 0.0);
    let y_min = completed
        .iter()
        .map(|c| c.2)
        .fold(f64::INFINITY, f64::min)
        .mul_add(0.7, 0.0)
        .clamp(0.001, 1.0);

    // Functions in order of first appearance decide marker shapes.
    let mut fs: Vec<&str> = Vec::new();
    for p in &paired.pairs {
        let f = ops[p.invoke].f.as_str();
        if !fs.contains(&f) {
            fs.push(f);
        }
    }

    // Downsampling: non-ok ops first, then ok ops with a stride.
    let not_ok = completed
        .iter()
        .filter(|c| paired.pairs[c.0].outcome != OpEnd::Ok)
        .count();
    let ok = completed.len() - not_ok;
    let not_ok_stride = not_ok.div_ceil(MAX_POINTS / 2).max(1);
    let ok_budget = MAX_POINTS - not_ok.min(MAX_POINTS / 2);
    let ok_stride = ok.div_ceil(ok_budget.max(1)).max(1);
    let mut series: BTreeMap<(usize, OpEnd), Vec<(f64, f64)>> = BTreeMap::new();
    let (mut seen_ok, mut seen_other) = (0usize, 0usize);
    for &(i, x, y) in &completed {
        let p = &paired.pairs[i];
        let keep = if p.outcome == OpEnd::Ok {
            seen_ok += 1;
            seen_ok % ok_stride == 0
        } else {
            seen_other += 1;
            seen_other % not_ok_stride == 0
        };
        if keep {
            let fi = fs.iter().position(|f| *f == ops[p.invoke].f).unwrap_or(0);
            series.entry((fi, p.outcome)).or_default().push((x, y));
        }
    }

    // Quantile lines over time buckets, from every ok operation.
    let width = paired.end_time / BUCKETS + 1;
    let mut buckets: Vec<Vec<u64>> = vec![Vec::new(); BUCKETS as usize + 1];
    for p in &paired.pairs {
        if p.outcome == OpEnd::Ok {
            if let Some(l) = p.latency() {
                buckets[(p.start / width) as usize].push(l);
            }
        }
    }
    // One line segment per run of consecutive non-empty buckets: a gap (nothing
    // succeeded, e.g. while the cluster had no quorum) stays a gap.
    let mut lines: [Vec<Vec<(f64, f64)>>; 3] = Default::default();
    let mut previous: Option<usize> = None;
    for (b, lat) in buckets.iter_mut().enumerate() {
        if lat.is_empty() {
            continue;
        }
        lat.sort_unstable();
        let x = ns_to_secs(b as u64 * width + width / 2);
        let fresh = previous.is_none_or(|p| p + 1 != b);
        previous = Some(b);
        for (segments, q) in lines.iter_mut().zip([0.5, 0.95, 0.99]) {
            if fresh {
                segments.push(Vec::new());
            }
            if let Some(seg) = segments.last_mut() {
                seg.push((x, (quantile(lat, q) as f64 / 1e6).max(y_min)));
            }
        }
    }

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let (plot, mut legend) = canvas(&root)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("latency (ms)")
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_err)?;
        shade(&mut chart, &mut legend, windows, y_min, y_max)?;
        for ((fi, outcome), pts) in &series {
            let color = outcome_color(*outcome).mix(0.75).filled();
            let label = format!("{} {}", fs[*fi], outcome.as_str());
            match fi % 3 {
                0 => chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, color).into_dyn())),
                1 => chart.draw_series(
                    pts.iter()
                        .map(|&p| TriangleMarker::new(p, 3, color).into_dyn()),
                ),
                _ => chart.draw_series(
                    pts.iter()
                        .map(|&p| Cross::new(p, 3, outcome_color(*outcome)).into_dyn()),
                ),
            }
            .map_err(plot_err)?;
            let shape = fi % 3;
            entry!(legend, label, move |(x, y)| match shape {
                0 => Circle::new((x + 8, y), 3, color).into_dyn(),
                1 => TriangleMarker::new((x + 8, y), 4, color).into_dyn(),
                _ => Cross::new((x + 8, y), 4, color).into_dyn(),
            });
        }
        let line_colors = [
            RGBColor(30, 30, 30),
            RGBColor(120, 60, 160),
            RGBColor(200, 30, 30),
        ];
        for ((segments, name), c) in lines.iter().zip(["p50", "p95", "p99"]).zip(line_colors) {
            for (i, seg) in segments.iter().enumerate() {
                chart
                    .draw_series(LineSeries::new(seg.iter().copied(), c.stroke_width(2)))
                    .map_err(plot_err)?;
                if i == 0 {
                    entry!(legend, name, move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                    });
                }
            }
        }
        draw_legend(&mut legend)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Shades fault windows across the whole y range.
fn shade<Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, Y>>,
    legend: &mut Legend<'_, '_>,
    windows: &[(u64, u64)],
    y_min: Y::ValueType,
    y_max: Y::ValueType,
) -> anyhow::Result<()>
where
    Y: Ranged,
    Y::ValueType: Copy + 'static,
{
    let style = FAULT_SHADE.mix(0.18).filled();
    chart
        .draw_series(
            windows.iter().map(|&(s, e)| {
                Rectangle::new([(ns_to_secs(s), y_min), (ns_to_secs(e), y_max)], style)
            }),
        )
        .map_err(plot_err)?;
    if !windows.is_empty() {
        entry!(legend, "fault in force", move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 16, y + 5)], style)
        });
    }
    Ok(())
}

/// The throughput plot: completions per second, per function and outcome.
pub fn throughput_svg(
    ops: &[Op],
    paired: &Paired,
    windows: &[(u64, u64)],
) -> anyhow::Result<String> {
    let x_max = x_range(paired);
    let width = paired.end_time / BUCKETS + 1;
    let width_s = ns_to_secs(width);
    let n = BUCKETS as usize + 1;
    let mut rates: BTreeMap<(&str, OpEnd), Vec<u64>> = BTreeMap::new();
    for p in &paired.pairs {
        let (Some(end), o) = (p.end, p.outcome) else {
            continue;
        };
        let counts = rates
            .entry((ops[p.invoke].f.as_str(), o))
            .or_insert_with(|| vec![0; n]);
        counts[(end / width) as usize] += 1;
    }
    let y_max = rates
        .values()
        .flat_map(|v| v.iter())
        .map(|&c| c as f64 / width_s)
        .fold(1.0f64, f64::max)
        * 1.15;
    let fs: Vec<&str> = {
        let mut fs: Vec<&str> = rates.keys().map(|k| k.0).collect();
        fs.dedup();
        fs
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let (plot, mut legend) = canvas(&root)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("completions per second")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_err)?;
        shade(&mut chart, &mut legend, windows, 0.0, y_max)?;
        for ((f, outcome), counts) in &rates {
            let fi = fs.iter().position(|x| x == f).unwrap_or(0);
            let color: RGBColor = match outcome {
                OpEnd::Ok => F_COLORS[fi % F_COLORS.len()],
                other => outcome_color(*other),
            };
            let pts: Vec<(f64, f64)> = counts
                .iter()
                .enumerate()
                .map(|(b, &c)| (ns_to_secs(b as u64 * width + width / 2), c as f64 / width_s))
                .collect();
            let style = color.stroke_width(2);
            if *outcome == OpEnd::Ok {
                chart.draw_series(LineSeries::new(pts, style))
            } else {
                chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))
            }
            .map_err(plot_err)?;
            let dashed = *outcome != OpEnd::Ok;
            entry!(legend, format!("{f} {}", outcome.as_str()), move |(
                x,
                y,
            )| {
                // Dashed series get a dashed mark: two short strokes.
                let (a, b) = if dashed { (6, 10) } else { (8, 8) };
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (a, 0)], style)
                    + PathElement::new(vec![(b, 0), (16, 0)], style)
            });
        }
        draw_legend(&mut legend)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
