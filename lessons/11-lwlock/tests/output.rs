//! Lesson 11's output, as the chapter shows it. (Not run by `cargo exercise`.)
//! Counts, times and ratios that vary are replaced by `[COUNT]`, `[TIME]` and `[RATIO]`;
//! the run itself fails (exit 1) if a count is not exact or a reader met a writer.
#![cfg(not(feature = "exercise"))]

/// What the readers and writers did, which differs from run to run: how many shared reads
/// they made while the writers worked (`12182 shared reads`), the most readers inside at once
/// (`up to 3 readers`), how often the writers slept for the lock (`slept 62 times`), and each
/// cost as a multiple of another in the same run (`1.6×`).
const FILTERS: &[snapshots::Filter] = &[
    (r"\b\d+ shared reads?\b", "[COUNT] shared reads"),
    (r"\bup to \d+ readers?\b", "up to [COUNT] readers"),
    (r"\bslept \d+ times?\b", "slept [COUNT] times"),
    (r"\b\d+(\.\d+)?×", "[RATIO]"),
];

snapshots::output_tests!(
    "l11-lwlock",
    [
        (&["--readers", "0"], 2),
        (&["--readers", "18446744073709551615"], 2),
        (&["--readers", "60", "--writers", "5"], 2),
        (&["--workers", "65"], 2),
        (&["--iterations", "lots"], 2),
        (&["--iterations", "5000000"], 2),
        (&["--fair"], 2),
    ],
    FILTERS
);
