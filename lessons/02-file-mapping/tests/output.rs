//! Lesson 02's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

/// Lesson 02's own temporary directory: its name holds its PID, for the next run to find.
const FILTERS: &[snapshots::Filter] = &[(
    r"(/[^/\s]+)*/l02-file-mapping\.\d+\.[A-Za-z0-9]{6,}",
    "[TMPDIR]",
)];

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
    snapshots::assert_output!("l02-file-mapping", stdout, FILTERS);
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l02-file-mapping"),
        &[
            (&["--size", "0"], 2),
            (&["--size", "5"], 2),
            (&["--size", "-1"], 2),
            (&["--size", "2000000000"], 2),
            (&["--dir", "/no/such/directory"], 2),
            (&["--dir", "/dev/null"], 2),
            // Nothing can be made in /proc, whoever you are: one line, no internal name.
            (&["--dir", "/proc"], 1),
        ],
    );
    snapshots::assert_output!("l02-file-mapping-errors", stdout, FILTERS);
}

/// A run killed by SIGKILL leaves its directory; the next run removes it and says so. (A
/// real kill leaves exactly this: `l02-file-mapping.PID.XXXXXX/data` of a dead PID.)
#[test]
fn the_next_run_removes_the_directory_of_a_killed_run() {
    let parent = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap(); // reaped: its PID names no process now
    let left = parent
        .path()
        .join(format!("l02-file-mapping.{dead}.AbC123"));
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("data"), "public").unwrap();
    let output = cargo_bin_cmd!("l02-file-mapping")
        .arg("--dir")
        .arg(parent.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "l02-file-mapping: removed {}, left by a run that was killed",
            left.display()
        )
    );
    assert_eq!(
        std::fs::read_dir(parent.path()).unwrap().count(),
        0,
        "something was left"
    );
}
