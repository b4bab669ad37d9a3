//! Lesson 09's output, as the chapter shows it. (Not run by `cargo exercise`.)
//! Every timing and ratio is replaced by `[NS]` and `[RATIO]`: nothing here asserts a time.
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l09-spinlock").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l09-spinlock", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l09-spinlock"),
        &[
            (&["--workers", "0"], 2),
            (&["--workers", "65"], 2),
            (&["--iterations", "0"], 2),
            (&["--iterations", "lots"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l09-spinlock-errors", stdout));
}
