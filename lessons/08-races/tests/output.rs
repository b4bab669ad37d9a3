//! Lesson 08's output, as the chapter shows it. (Not run by `cargo exercise`.)
//!
//! The counts a race leaves (lost updates, torn audits) and its timings differ on every
//! run, so the snapshot shows them redacted; tests/race.rs asserts what they must be.
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l08-races").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l08-races", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l08-races"),
        &[
            (&["--workers", "0"], 2),
            (&["--workers", "64"], 2),
            (&["--iterations", "0"], 2),
            (&["--iterations", "1000000000"], 2),
            (&["--lock", "spin"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l08-races-errors", stdout));
}
