//! Lesson 01's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::cargo_bin;

snapshots::output_tests!(
    "l01-mmap",
    [
        (&["--bytes", "0"], 2),
        (&["--bytes", "lots"], 2),
        // A negative number is a value to judge, not an unknown option.
        (&["--bytes", "-1"], 2),
        (&["--bytes", "200000000000000"], 2),
        (&["--pages", "2"], 2),
    ]
);

/// An argument that is not UTF-8 text: one line, naming the option it was given to (clap
/// alone says only that "one or more arguments" were not UTF-8).
#[test]
fn a_value_that_is_not_utf8_is_named() {
    use std::os::unix::ffi::OsStrExt;
    let output = std::process::Command::new(cargo_bin!("l01-mmap"))
        .arg("--bytes")
        .arg(std::ffi::OsStr::from_bytes(b"5\xff"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: the value given to --bytes is not UTF-8 text (see --help)\n"
    );
}
