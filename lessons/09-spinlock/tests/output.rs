//! Lesson 09's output, as the chapter shows it. (Not run by `cargo exercise`.)
//! Every timing and ratio is replaced by `[NS]` and `[RATIO]`: nothing here asserts a time.
#![cfg(not(feature = "exercise"))]

/// The table's cells: a time per operation (`{:>7.1} ns`: `   56.3 ns`) and a ratio
/// (`{:>7.1}×`: `   12.2×`), each replaced at the cell's own width so the table stays aligned.
///
/// And where a stuck spinlock was asked for (`#[track_caller]`, as PostgreSQL passes
/// `__FILE__` and `__LINE__`): the file stays, its line number (which any edit above it
/// moves) becomes `[LINE]`.
const FILTERS: &[snapshots::Filter] = &[
    (r"\b(lessons/[\w./-]+\.rs):\d+\b", "$1:[LINE]"),
    (r"[ \d]{4}\d\.\d ns\b", "   [NS] ns"),
    (r"[ \d]{4}\d\.\d×", " [RATIO]"),
];

snapshots::output_tests!(
    "l09-spinlock",
    [
        (&["--workers", "0"], 2),
        (&["--workers", "65"], 2),
        (&["--iterations", "0"], 2),
        (&["--iterations", "lots"], 2),
    ],
    FILTERS
);
