//! Lesson 05's output, as the chapter shows it. (Not run by `cargo exercise`.)
#![cfg(not(feature = "exercise"))]

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};

/// The kernel's System V limits (/proc/sys/kernel/shm*), which differ from machine to
/// machine: `shmmax 18446744073692774399` becomes `shmmax [LIMIT]`.
const FILTERS: &[snapshots::Filter] = &[(r"\b(shmmax|shmall|shmmni) \d+", "$1 [LIMIT]")];

#[test]
fn story() {
    let tmp = tempfile::tempdir().unwrap(); // its own: marks of other runs are not ours
    let output = cargo_bin_cmd!("l05-sysv-segments")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    snapshots::assert_output!("l05-sysv-segments", stdout, FILTERS);
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
    snapshots::assert_output!("l05-sysv-segments-errors", stdout, FILTERS);
}

/// Ctrl-C while the lesson waits (`--pause`) must not leak its segment: the wait turns the
/// signal into an error, and the segment's guard removes it on the way out.
#[test]
fn ctrl_c_while_paused_leaves_no_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let (lesson, _sweep, _stdout) = paused(tmp.path());
    let pid = lesson.id() as i32;
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

/// `kill -9` runs no handler and no destructor: the segment stays. The next run finds the
/// killed run's mark, removes the segment that run created, and says so.
#[test]
fn the_next_run_removes_what_a_killed_run_left() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut lesson, _sweep, _stdout) = paused(tmp.path());
    let pid = lesson.id() as i32;
    lesson.kill().unwrap(); // SIGKILL
    lesson.wait().unwrap();
    let left: Vec<i64> = l05_sysv_segments::proc_sysvipc_shm()
        .unwrap()
        .into_iter()
        .filter(|segment| segment.number("cpid") == Some(i64::from(pid)))
        .filter_map(|segment| segment.number("shmid"))
        .collect();
    assert_eq!(
        left.len(),
        1,
        "kill -9 leaves the segment (nothing can run)"
    );

    let next = std::process::Command::new(cargo_bin!("l05-sysv-segments"))
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&next.stderr);
    assert!(next.status.success(), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "l05-sysv-segments: removed segment shmid {}, left by a run (pid {pid}) that was \
             killed before it could remove it",
            left[0]
        )
    );
    assert!(
        l05_sysv_segments::segment_stat(left[0] as i32).is_err(),
        "the killed run's segment is still there"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "a creator mark is left in TMPDIR"
    );
}

/// The lesson with `--pause` and `tmp` as its TMPDIR, once it has paused after step 2 (its
/// segment exists), and a guard that removes its segments when the test ends.
/// Its stdout, read up to there, comes back too: closing it would be a reader that left.
fn paused(
    tmp: &std::path::Path,
) -> (
    std::process::Child,
    Sweep,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut lesson = Command::new(cargo_bin!("l05-sysv-segments"))
        .arg("--pause")
        .env("TMPDIR", tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sweep = Sweep(lesson.id() as i32);
    let mut stdout = BufReader::new(lesson.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("[paused]") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the lesson never paused"
        );
    }
    (lesson, sweep, stdout)
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

/// `l05-sysv-segments | head -1`: once the reader has gone, the lesson stops quietly (no
/// "failed printing to stdout" on stderr), as Unix tools do, and dies of SIGPIPE only after
/// its guards have removed the segment.
#[test]
fn a_reader_that_leaves_stops_the_lesson_quietly_and_cleanly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let tmp = tempfile::tempdir().unwrap();
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    drop(read_end); // the reader is gone before the first line
    let lesson = Command::new(cargo_bin!("l05-sysv-segments"))
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _sweep = Sweep(lesson.id() as i32);
    let pid = i64::from(lesson.id());
    let output = lesson.wait_with_output().unwrap();
    let left = l05_sysv_segments::proc_sysvipc_shm()
        .unwrap()
        .into_iter()
        .filter(|segment| segment.number("cpid") == Some(pid))
        .count();
    assert_eq!(left, 0, "the lesson left its segment behind");
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}",
        output.status
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "it should stop quietly"
    );
}
