//! Lesson 12's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

#[test]
fn story() {
    // A TMPDIR of its own: the marks of other runs' semaphore sets are not its to clean up.
    let tmp = tempfile::tempdir().unwrap();
    let output = cargo_bin_cmd!("l12-dying-holders")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    // Whatever happened, the semaphore set the run printed must be gone (and is removed
    // here if it is not, so that a failing run leaves nothing behind).
    let leftovers = snapshots::sweep_printed_sets(&String::from_utf8_lossy(&output.stdout));
    let stdout = snapshots::success(&output);
    assert!(
        leftovers.is_empty(),
        "the lesson left System V semaphore sets {leftovers:?} (removed now)"
    );
    snapshots::assert_output!("l12-dying-holders", stdout);
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l12-dying-holders"),
        &[
            (&["--deadline-ms", "0"], 2),
            (&["--deadline-ms", "soon"], 2),
            (&["--deadline-ms", "60000"], 2),
            (&["--holders", "3"], 2),
        ],
    );
    snapshots::assert_output!("l12-dying-holders-errors", stdout);
}
