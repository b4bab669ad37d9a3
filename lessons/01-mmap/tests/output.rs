//! Lesson 01's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l01-mmap").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l01-mmap", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l01-mmap"),
        &[
            (&["--bytes", "0"], 2),
            (&["--bytes", "lots"], 2),
            (&["--bytes", "200000000000000"], 2),
            (&["--pages", "2"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l01-mmap-errors", stdout));
}
