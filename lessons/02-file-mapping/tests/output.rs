//! Lesson 02's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    // Cargo's own scratch directory lies beside the build, on a disk, like the default
    // /var/tmp on most systems: step 5's msync then has a disk to write to, everywhere.
    let scratch = env!("CARGO_TARGET_TMPDIR");
    let output = cargo_bin_cmd!("l02-file-mapping")
        .args(["--dir", scratch])
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    snapshots::settings().bind(|| insta::assert_snapshot!("l02-file-mapping", stdout));
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l02-file-mapping"),
        &[
            (&["--size", "0"], 2),
            (&["--size", "5"], 2),
            (&["--size", "2000000000"], 2),
            (&["--dir", "/no/such/directory"], 2),
            (&["--dir", "/dev/null"], 2),
        ],
    );
    snapshots::settings().bind(|| insta::assert_snapshot!("l02-file-mapping-errors", stdout));
}
