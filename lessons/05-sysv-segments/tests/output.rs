//! Lesson 05's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l05-sysv-segments").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l05-sysv-segments", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l05-sysv-segments"),
        &[
            (&["--size", "0"], 2),
            (&["--size", "lots"], 2),
            // u64::MAX: more than any kernel's shmmax, so shmget says EINVAL everywhere.
            (&["--size", "18446744073709551615"], 2),
            (&["--key", "42"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l05-sysv-segments-errors", stdout));
}
