//! Lesson 14's output, as the chapter shows it. (Not run by `cargo exercise`.)
//!
//! Each run works in a fresh temporary directory (a fresh inode, so a fresh key) and must
//! leave in it only the table's file and the WAL's: no lock file, no segment, no process.
#![cfg(not(feature = "exercise"))]

use std::path::Path;
use std::process::{Command, Stdio};

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use l07_postgres_hybrid::LOCK_FILE;

fn assert_only_the_files_left(dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["16384", "wal"],
        "{} should hold only the table and the WAL (no {LOCK_FILE})",
        dir.display()
    );
}

/// The interlock's shmid, from the story's "shmid N" in step 3; it must be gone now.
fn assert_segment_removed(stdout: &str) {
    let shmid: i32 = stdout
        .split("= shmid ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.parse().ok())
        .expect("the story names the interlock's shmid");
    assert!(
        l05_sysv_segments::stat(shmid).is_err(),
        "segment shmid {shmid} was left behind"
    );
}

#[test]
fn story() {
    let tmp = tempfile::tempdir().unwrap();
    let output = cargo_bin_cmd!("l14-mini-postmaster")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    assert_segment_removed(&stdout);
    assert_only_the_files_left(&tmp.path().join("l14-mini-postmaster"));
    snapshots::settings().bind(|| insta::assert_snapshot!("l14-mini-postmaster", stdout));
}

#[test]
fn more_workers_and_buffers_stay_consistent() {
    for (workers, buffers) in [("8", "4"), ("32", "1"), ("1", "256")] {
        let tmp = tempfile::tempdir().unwrap();
        let output = cargo_bin_cmd!("l14-mini-postmaster")
            .args(["start", tmp.path().to_str().unwrap()])
            .args(["--workers", workers, "--buffers", buffers])
            .output()
            .unwrap();
        let stdout = snapshots::success(&output);
        assert!(
            stdout.contains("consistent: every committed update is on disk"),
            "--workers {workers} --buffers {buffers}:\n{stdout}"
        );
        assert_segment_removed(&stdout);
        assert_only_the_files_left(tmp.path());
    }
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l14-mini-postmaster"),
        &[
            (&["--workers", "0"], 2),
            (&["--workers", "33"], 2),
            (&["--workers", "many"], 2),
            (&["--buffers", "0"], 2),
            (&["--buffers", "257"], 2),
            (&["start", "/nonexistent/l14"], 2),
        ],
    );
    let stdout = stdout + &another_postmaster_runs();
    snapshots::settings().bind(|| insta::assert_snapshot!("l14-mini-postmaster-errors", stdout));
}

/// A lock file naming a live process (a `cat` waiting on its input): the start is refused,
/// and the lock file and the directory are left as they were.
fn another_postmaster_runs() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let mut cat = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
    let lock = tmp.path().join(LOCK_FILE);
    std::fs::write(&lock, format!("{}\n{}\n", cat.id(), tmp.path().display())).unwrap();
    let output = Command::new(cargo_bin!("l14-mini-postmaster"))
        .arg("start")
        .arg(tmp.path())
        .output()
        .unwrap();
    drop(cat.stdin.take());
    cat.wait().unwrap();
    let line = format!("l14-mini-postmaster start {}", tmp.path().display());
    let transcript = snapshots::failure(&line, &output, 1);
    assert!(
        lock.exists(),
        "the other postmaster's lock file was removed"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "files were created"
    );
    transcript
}
