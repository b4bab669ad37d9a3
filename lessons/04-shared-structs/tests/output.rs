//! Lesson 04's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l04-shared-structs").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l04-shared-structs", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l04-shared-structs"),
        &[
            (&["--children", "0"], 2),
            (&["--children", "lots"], 2),
            (&["--children", "1000"], 2),
            (&["--threads", "2"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l04-shared-structs-errors", stdout));
}
