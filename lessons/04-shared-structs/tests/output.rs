//! Lesson 04's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::cargo_bin_cmd;

#[test]
fn story() {
    let stdout = snapshots::success(&cargo_bin_cmd!("l04-shared-structs").output().unwrap());
    snapshots::settings().bind(|| insta::assert_snapshot!("l04-shared-structs", stdout));
}

#[test]
fn bad_input() {
    let mut stdout = String::new();
    for (args, status) in [
        (&["--children", "0"][..], 2),
        (&["--children", "lots"], 2),
        (&["--children", "1000"], 2),
        (&["--threads", "2"], 2),
    ] {
        let output = cargo_bin_cmd!("l04-shared-structs")
            .args(args)
            .output()
            .unwrap();
        let command = format!("l04-shared-structs {}", args.join(" "));
        stdout += &snapshots::failure(&command, &output, status);
    }
    snapshots::settings().bind(|| insta::assert_snapshot!("l04-shared-structs-errors", stdout));
}
