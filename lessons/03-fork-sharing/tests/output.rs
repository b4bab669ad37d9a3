//! Lesson 03's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l03-fork-sharing").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l03-fork-sharing", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l03-fork-sharing"),
        &[(&["--seed-timing=yes"], 2), (&["--sleep", "5"], 2)],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l03-fork-sharing-errors", stdout));
}
