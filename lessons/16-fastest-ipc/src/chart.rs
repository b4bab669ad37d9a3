//! The figures as one SVG chart: round trips and throughput as bars, lock costs as lines
//! against the number of processes. Plain SVG written by hand: a few rectangles, lines and
//! labels need no library. Every bar and point carries a thin min–max whisker.

mod bars;
mod lines;
mod scale;

use std::fmt::Write;

use crate::machine::Machine;
use crate::table::Table;
use bars::bars;
use lines::lines;

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
