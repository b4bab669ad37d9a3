//! Figures in rows and columns, with one unit for all of them: what the lesson prints as
//! text, writes as JSON for tools (`--json`), and draws (chart.rs). A cell nobody could
//! measure (the two-CPU figures on a one-CPU machine) stays empty and prints as "—".

use crate::figures::Figure;

/// Figures in rows and columns, with one unit for all of them.
#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub unit: &'static str,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    /// One per column; `None` where nothing was measured.
    pub cells: Vec<Option<Figure>>,
}

impl Table {
    pub fn new(title: &str, unit: &'static str, columns: Vec<String>) -> Table {
        Table {
            title: title.into(),
            unit,
            columns,
            rows: Vec::new(),
        }
    }

    /// A table of `rows` with nothing measured yet.
    pub fn with_rows(mut self, rows: &[&str]) -> Table {
        let empty = vec![None; self.columns.len()];
        for name in rows {
            self.rows.push(Row {
                name: name.to_string(),
                cells: empty.clone(),
            });
        }
        self
    }

    /// The figure in row `name`, column `column`, if it was measured.
    pub fn get(&self, name: &str, column: usize) -> Option<Figure> {
        let row = self.rows.iter().find(|row| row.name == name)?;
        row.cells.get(column).copied().flatten()
    }

    /// The table as the lesson prints it: a header naming the unit, then one line per row,
    /// each cell `median (min–max)`.
    pub fn text(&self) -> String {
        let mut text = format!("{:<NAME$}│", self.unit);
        for column in &self.columns {
            text += &format!("{column:>CELL$}");
        }
        text += "\n";
        for row in &self.rows {
            text += &format!("{:<NAME$}│", row.name);
            for cell in &row.cells {
                let cell = cell.map_or("—".into(), |figure| {
                    format!(
                        "{} ({}–{})",
                        number(figure.median),
                        number(figure.min),
                        number(figure.max)
                    )
                });
                text += &format!("{cell:>CELL$}");
            }
            text += "\n";
        }
        text
    }

    /// The table as a JSON object.
    pub fn json(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .cells
                    .iter()
                    .map(|cell| match cell {
                        Some(f) => format!(
                            r#"{{"median": {}, "min": {}, "max": {}}}"#,
                            f.median, f.min, f.max
                        ),
                        None => "null".into(),
                    })
                    .collect();
                format!(
                    r#"{{"name": {}, "cells": [{}]}}"#,
                    quote(&row.name),
                    cells.join(", ")
                )
            })
            .collect();
        format!(
            "{{\"title\": {}, \"unit\": {}, \"columns\": [{}], \"rows\": [\n      {}\n    ]}}",
            quote(&self.title),
            quote(self.unit),
            columns.join(", "),
            rows.join(",\n      ")
        )
    }
}

/// Width of the row names, and of each cell.
const NAME: usize = 24;
const CELL: usize = 24;

/// Three significant digits, without exponent: `0.412`, `41.2`, `412`, `41200`; 0 as `0`.
pub fn number(value: f64) -> String {
    match value.abs() {
        0.0 => "0".into(),
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.3}"),
    }
}

/// A JSON string. The lesson's own names only hold printable characters, but escape anyway.
pub fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted += "\\\"",
            '\\' => quoted += "\\\\",
            c if (c as u32) < 0x20 => quoted += &format!("\\u{:04x}", c as u32),
            c => quoted.push(c),
        }
    }
    quoted + "\""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(number(0.41234), "0.412");
        assert_eq!(number(4.1234), "4.12");
        assert_eq!(number(41.234), "41.2");
        assert_eq!(number(41234.4), "41234");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(2.0), "2.00");
    }

    #[test]
    fn quotes_are_escaped() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }
}
