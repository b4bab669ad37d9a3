//! Lesson 10's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

/// A cost as a multiple of the fastest lock's in the same run: `alone 1.0×` becomes
/// `alone [RATIO]`.
const FILTERS: &[snapshots::Filter] = &[(r"\b\d+(\.\d+)?×", "[RATIO]")];

#[test]
fn story() {
    // A TMPDIR of its own: the marks of other runs' semaphore sets are not its to clean up.
    let tmp = tempfile::tempdir().unwrap();
    let output = cargo_bin_cmd!("l10-sleeping-locks")
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
    snapshots::assert_output!("l10-sleeping-locks", stdout, FILTERS);
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l10-sleeping-locks"),
        &[
            (&["--workers", "0"], 2),
            (&["--workers", "65"], 2),
            (&["--iterations", "lots"], 2),
            (&["--iterations", "5000000"], 2),
            (&["--spin"], 2),
        ],
    );
    snapshots::assert_output!("l10-sleeping-locks-errors", stdout, FILTERS);
}
