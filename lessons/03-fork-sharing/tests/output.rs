//! Lesson 03's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::cargo_bin_cmd;

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l03-fork-sharing").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l03-fork-sharing", stdout));
}

#[test]
fn bad_input() {
    let mut stdout = String::new();
    for (args, status) in [(&["--seed-timing=yes"][..], 2), (&["--sleep", "5"], 2)] {
        let output = cargo_bin_cmd!("l03-fork-sharing")
            .args(args)
            .output()
            .unwrap();
        let command = format!("l03-fork-sharing {}", args.join(" "));
        stdout += &snapshots::failure(&command, &output, status);
    }
    snapshots::settings().bind(|| insta::assert_snapshot!("l03-fork-sharing-errors", stdout));
}
