//! The figures as one SVG chart: round trips and throughput as bars, lock costs as lines
//! against the number of processes. Plain SVG written by hand: a few rectangles, lines and
//! labels need no library. Every bar and point carries a thin min–max whisker.

use std::fmt::Write;

use crate::figures::{Figure, Table, number};
use crate::machine::Machine;

const WIDTH: f64 = 960.0;
/// Left edge of the plotting area (row names go to its left) and its width.
const PLOT_X: f64 = 230.0;
const PLOT_WIDTH: f64 = 680.0;
const COLORS: [&str; 7] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f",
];

/// The chart of three of the lesson's tables: round trips, throughput, lock costs.
pub fn svg(machine: &Machine, trips: &Table, moved: &Table, costs: &Table) -> String {
    let mut body = String::new();
    let mut y = 20.0;
    text(
        &mut body,
        20.0,
        y + 10.0,
        18,
        "start",
        "What talking through shared memory costs, and through the kernel",
    );
    text(
        &mut body,
        20.0,
        y + 32.0,
        12,
        "start",
        &format!("measured on {}", machine.summary()),
    );
    text(
        &mut body,
        20.0,
        y + 48.0,
        12,
        "start",
        &format!(
            "on {}; medians, with thin lines from the fastest to the slowest run",
            machine.placement()
        ),
    );
    y += 80.0;
    y = bars(
        &mut body,
        y,
        trips,
        "round trip, µs (log scale: each line 10×; shorter is faster)",
        true,
    );
    y = bars(
        &mut body,
        y + 20.0,
        moved,
        "throughput, GiB/s (longer is faster)",
        false,
    );
    y = lines(&mut body, y + 20.0, costs);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{h}\" \
         viewBox=\"0 0 {WIDTH} {h}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n",
        h = y + 20.0
    )
}

/// Horizontal bars, one group per row, one bar per column; returns the y below them.
fn bars(out: &mut String, top: f64, table: &Table, title: &str, log: bool) -> f64 {
    text(out, 20.0, top + 14.0, 14, "start", title);
    let figures: Vec<Figure> = table
        .rows
        .iter()
        .flat_map(|r| r.cells.iter().flatten().copied())
        .collect();
    let scale = Scale::new(&figures, log, PLOT_WIDTH);
    let plot_top = top + 30.0;
    let bar = 14.0;
    let group = bar * table.columns.len() as f64 + 10.0;
    let bottom = plot_top + group * table.rows.len() as f64;
    scale.grid(out, plot_top, bottom);
    for (r, row) in table.rows.iter().enumerate() {
        let y0 = plot_top + group * r as f64;
        text(
            out,
            PLOT_X - 8.0,
            y0 + bar * table.columns.len() as f64 / 2.0 + 4.0,
            12,
            "end",
            &row.name,
        );
        for (c, cell) in row.cells.iter().enumerate() {
            let Some(figure) = cell else { continue };
            let y = y0 + bar * c as f64;
            let x = PLOT_X + scale.at(figure.median);
            let _ = writeln!(
                out,
                "<rect x=\"{PLOT_X}\" y=\"{y}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                x - PLOT_X,
                bar - 2.0,
                COLORS[c % COLORS.len()]
            );
            whisker_h(
                out,
                PLOT_X + scale.at(figure.min),
                PLOT_X + scale.at(figure.max),
                y + bar / 2.0 - 1.0,
            );
            text(
                out,
                x + 4.0,
                y + bar - 4.0,
                10,
                "start",
                &number(figure.median),
            );
        }
    }
    legend(out, bottom + 16.0, &table.columns);
    bottom + 30.0
}

/// Lock costs: x = the columns (1, 2, 4, 8 processes), y = ns per increment on a log scale.
fn lines(out: &mut String, top: f64, table: &Table) -> f64 {
    text(
        out,
        20.0,
        top + 14.0,
        14,
        "start",
        "lock cost, ns per increment (log scale) as processes share the two CPUs",
    );
    let figures: Vec<Figure> = table
        .rows
        .iter()
        .flat_map(|r| r.cells.iter().flatten().copied())
        .collect();
    let height = 320.0;
    let scale = Scale::new(&figures, true, height);
    let plot_top = top + 30.0;
    let bottom = plot_top + height;
    let step = PLOT_WIDTH / table.columns.len() as f64;
    let x_of = |c: usize| PLOT_X + step * (c as f64 + 0.5);
    let y_of = |value: f64| bottom - scale.at(value);
    for tick in scale.ticks() {
        let y = y_of(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{PLOT_X}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>",
            PLOT_X + PLOT_WIDTH
        );
        text(out, PLOT_X - 8.0, y + 4.0, 10, "end", &number(tick));
    }
    for (c, column) in table.columns.iter().enumerate() {
        text(out, x_of(c), bottom + 16.0, 12, "middle", column);
    }
    let mut labels: Vec<(f64, f64, &str)> = Vec::new();
    for (r, row) in table.rows.iter().enumerate() {
        let color = COLORS[r % COLORS.len()];
        let points: Vec<(f64, Figure)> = row
            .cells
            .iter()
            .enumerate()
            .filter_map(|(c, cell)| Some((x_of(c), (*cell)?)))
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|(x, f)| format!("{x:.1},{:.1}", y_of(f.median)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        for (x, figure) in &points {
            let _ = writeln!(
                out,
                "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                y_of(figure.median)
            );
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{color}\"/>",
                y_of(figure.min),
                y_of(figure.max)
            );
        }
        if let Some((x, last)) = points.last() {
            labels.push((y_of(last.median) + 4.0, x + 8.0, &row.name));
        }
    }
    // Each line's name at its right end, moved down where lines end close together.
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut previous = f64::MIN;
    for (y, x, name) in labels {
        let y = y.max(previous + 13.0);
        text(out, x, y, 11, "start", name);
        previous = y;
    }
    bottom + 30.0
}

/// Where a value goes along an axis `length` long: linear from 0, or logarithmic between
/// the powers of ten around the values.
struct Scale {
    log: bool,
    low: f64,
    high: f64,
    length: f64,
    /// Between grid lines on a linear scale.
    step: f64,
}

impl Scale {
    fn new(figures: &[Figure], log: bool, length: f64) -> Scale {
        let max = figures
            .iter()
            .map(|f| f.max)
            .fold(f64::MIN_POSITIVE, f64::max);
        if log {
            let min = figures
                .iter()
                .map(|f| f.min)
                .fold(f64::MAX, f64::min)
                .max(1e-6);
            let low = 10f64.powf(min.log10().floor());
            let high = 10f64.powf(max.log10().ceil()).max(low * 10.0);
            let step = 0.0;
            Scale {
                log,
                low,
                high,
                length,
                step,
            }
        } else {
            // A round step (1, 2 or 5 times a power of ten) giving about five grid lines.
            let rough = max / 5.0;
            let power = 10f64.powf(rough.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .into_iter()
                .map(|m| m * power)
                .find(|&s| s >= rough);
            let step = step.unwrap_or(power * 10.0);
            let high = (max / step).ceil() * step;
            Scale {
                log,
                low: 0.0,
                high,
                length,
                step,
            }
        }
    }

    fn at(&self, value: f64) -> f64 {
        let share = if self.log {
            (value.max(self.low).log10() - self.low.log10())
                / (self.high.log10() - self.low.log10())
        } else {
            value / self.high
        };
        share.clamp(0.0, 1.0) * self.length
    }

    /// Powers of ten on a log scale; five steps on a linear one.
    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut ticks = vec![self.low];
            while *ticks.last().unwrap() < self.high * 0.99 {
                ticks.push(ticks.last().unwrap() * 10.0);
            }
            ticks
        } else {
            let steps = (self.high / self.step).round() as usize;
            (0..=steps).map(|i| self.step * i as f64).collect()
        }
    }

    /// Vertical grid lines with their values, for horizontal bars.
    fn grid(&self, out: &mut String, top: f64, bottom: f64) {
        for tick in self.ticks() {
            let x = PLOT_X + self.at(tick);
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/>"
            );
            text(out, x, top - 4.0, 10, "middle", &number(tick));
        }
    }
}

fn whisker_h(out: &mut String, from: f64, to: f64, y: f64) {
    let _ = writeln!(
        out,
        "<line x1=\"{from:.1}\" y1=\"{y:.1}\" x2=\"{to:.1}\" y2=\"{y:.1}\" stroke=\"black\"/>"
    );
}

fn legend(out: &mut String, y: f64, columns: &[String]) {
    if columns.len() < 2 {
        return;
    }
    for (c, column) in columns.iter().enumerate() {
        let x = PLOT_X + 140.0 * c as f64;
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>",
            y - 10.0,
            COLORS[c % COLORS.len()]
        );
        text(out, x + 16.0, y, 12, "start", column);
    }
}

fn text(out: &mut String, x: f64, y: f64, size: u32, anchor: &str, content: &str) {
    let escaped = content
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let _ = writeln!(
        out,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{anchor}\">{escaped}</text>"
    );
}
