//! Lines, for the lock costs: one line per lock across the columns (1, 2, 4, 8 processes),
//! on a log scale, since the costs span orders of magnitude.

use std::fmt::Write;

use super::scale::Scale;
use super::{COLORS, PLOT_WIDTH, PLOT_X, text};
use crate::figures::Figure;
use crate::table::{Table, number};

/// Lock costs: x = the columns (1, 2, 4, 8 processes), y = ns per increment on a log scale.
pub fn lines(out: &mut String, top: f64, table: &Table) -> f64 {
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
