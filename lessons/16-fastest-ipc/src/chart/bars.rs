//! Horizontal bars, for the round trips and the throughput: one group per row, one bar per
//! column, each with a thin whisker from the fastest run to the slowest.

use std::fmt::Write;

use super::scale::Scale;
use super::{COLORS, PLOT_WIDTH, PLOT_X, text};
use crate::figures::Figure;
use crate::table::{Table, number};

/// Horizontal bars, one group per row, one bar per column; returns the y below them.
pub fn bars(out: &mut String, top: f64, table: &Table, title: &str, log: bool) -> f64 {
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
