//! Lesson 13's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l13-shmem-index").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l13-shmem-index", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l13-shmem-index"),
        &[
            (&["--size", "1000"], 2),
            (&["--size", "lots"], 2),
            (&["--size", "0"], 2),
            (&["--workers", "1"], 2),
            (&["--workers", "65"], 2),
            (&["--workers", "-1"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l13-shmem-index-errors", stdout));
}
