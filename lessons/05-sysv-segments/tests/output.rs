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

/// Ctrl-C while the lesson waits (`--pause`) must not leak its segment: the wait turns the
/// signal into an error, and the segment's guard removes it on the way out.
#[test]
fn ctrl_c_while_paused_leaves_no_segment() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut lesson = Command::new(cargo_bin!("l05-sysv-segments"))
        .arg("--pause")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = lesson.id() as i32;
    let _sweep = Sweep(pid);
    let mut stdout = BufReader::new(lesson.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("[paused]") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the lesson never paused"
        );
    }
    let created = || {
        l05_sysv_segments::proc_sysvipc_shm()
            .unwrap()
            .into_iter()
            .filter(|segment| segment.number("cpid") == Some(i64::from(pid)))
            .count()
    };
    assert_eq!(created(), 1, "while paused, the lesson's segment exists");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let output = lesson.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "stderr: {stderr}");
    assert_eq!(
        created(),
        0,
        "Ctrl-C during the pause leaked the lesson's segment"
    );
}

/// Removes every segment process `0` created, when the test ends, passed or failed: a
/// lesson that a failing test killed must not leave its segment behind.
struct Sweep(i32);

impl Drop for Sweep {
    fn drop(&mut self) {
        for segment in l05_sysv_segments::proc_sysvipc_shm().unwrap_or_default() {
            if segment.number("cpid") == Some(i64::from(self.0))
                && let Some(shmid) = segment.number("shmid")
            {
                let _ = l05_sysv_segments::remove(shmid as i32);
            }
        }
    }
}
