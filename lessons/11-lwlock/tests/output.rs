//! Lesson 11's output, as the chapter shows it. (Not run by `cargo exercise`.)
//! Counts, times and ratios that vary are replaced by `[COUNT]`, `[TIME]` and `[RATIO]`;
//! the run itself fails (exit 1) if a count is not exact or a reader met a writer.
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l11-lwlock").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l11-lwlock", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l11-lwlock"),
        &[
            (&["--readers", "0"], 2),
            (&["--readers", "18446744073709551615"], 2),
            (&["--readers", "60", "--writers", "5"], 2),
            (&["--workers", "65"], 2),
            (&["--iterations", "lots"], 2),
            (&["--iterations", "5000000"], 2),
            (&["--fair"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l11-lwlock-errors", stdout));
}
