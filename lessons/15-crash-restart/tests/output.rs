//! Lesson 15's output, as the chapter shows it. (Not run by `cargo exercise`.)
//!
//! Each run works in a fresh temporary directory (a fresh inode, so a fresh key) and must
//! leave in it only the cluster's files: no lock file, no segment, no process.
#![cfg(not(feature = "exercise"))]

use std::path::Path;

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use l07_postgres_hybrid::LOCK_FILE;

/// Where recovery's redo started and ended and the checkpoint's redo point (LSNs as
/// PostgreSQL prints them, `%X/%X`: `redo starts at 0/1A0`, `redo lsn=0/9D0`), how many
/// records redo applied or skipped (`9 BLK_NEEDS_REDO`, `20 BLK_DONE`), and how many buffers
/// the end-of-recovery checkpoint wrote (`wrote 8 buffers`): all depend on how far the
/// backends got before the crash.
const FILTERS: &[snapshots::Filter] = &[
    (r"(\bat |\blsn=)[0-9A-F]{1,8}/[0-9A-F]{1,8}\b", "${1}[LSN]"),
    (r"\b\d+ (BLK_NEEDS_REDO|BLK_DONE)\b", "[COUNT] $1"),
    (r"\bwrote \d+ buffers\b", "wrote [COUNT] buffers"),
];

fn assert_only_the_files_left(dir: &Path) {
    assert_eq!(
        snapshots::postmaster::file_names(dir),
        ["16384", "acks", "pg_control", "wal"],
        "{} should hold only the cluster's files (no {LOCK_FILE})",
        dir.display()
    );
}

/// Every "shmid N" the story names: each must be gone now.
fn assert_segments_removed(stdout: &str) {
    let shmids: Vec<i32> = stdout
        .split("shmid ")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    assert!(shmids.len() >= 4, "the story names the interlocks' shmids");
    for shmid in shmids {
        assert!(
            l05_sysv_segments::segment_stat(shmid).is_err(),
            "segment shmid {shmid} was left behind"
        );
    }
}

/// No child the story names is left. (The children rename themselves, "backend 2" and so
/// on, so a leftover one is known by its command line, which renaming leaves alone.)
fn assert_no_process_left(stdout: &str) {
    for pid in stdout.split("child pid ").skip(1).filter_map(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse::<i32>()
            .ok()
    }) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            !cmdline.contains("l15-crash-restart"),
            "child pid {pid} is still there: {cmdline}"
        );
    }
}

#[test]
fn story() {
    let tmp = tempfile::tempdir().unwrap();
    let output = cargo_bin_cmd!("l15-crash-restart")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    assert_segments_removed(&stdout);
    assert_no_process_left(&stdout);
    assert_only_the_files_left(&tmp.path().join("l15-crash-restart"));
    snapshots::assert_output!("l15-crash-restart", stdout, FILTERS);
}

#[test]
fn crashes_anywhere_keep_what_was_committed() {
    for (workers, buffers, crash) in [("1", "1", "1:1"), ("8", "4", "8:50"), ("3", "64", "2:7")] {
        let tmp = tempfile::tempdir().unwrap();
        let output = cargo_bin_cmd!("l15-crash-restart")
            .args(["start", tmp.path().to_str().unwrap()])
            .args(["--workers", workers, "--buffers", buffers, "--crash", crash])
            .output()
            .unwrap();
        let stdout = snapshots::success(&output);
        for expected in ["uncommitted: gone", "consistent: all"] {
            assert!(
                stdout.contains(expected),
                "--workers {workers} --buffers {buffers} --crash {crash}: no {expected:?}:\n{stdout}"
            );
        }
        assert_segments_removed(&stdout);
        assert_only_the_files_left(tmp.path());
    }
}

#[test]
fn a_second_start_after_a_clean_one_begins_afresh() {
    let tmp = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = cargo_bin_cmd!("l15-crash-restart")
            .args(["start", tmp.path().to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = snapshots::success(&output);
        assert!(stdout.contains("initdb:"), "{stdout}");
        assert!(stdout.contains("consistent: all"), "{stdout}");
    }
    assert_only_the_files_left(tmp.path());
}

#[test]
fn bad_input() {
    let stdout = snapshots::failures(
        cargo_bin!("l15-crash-restart"),
        &[
            (&["--workers", "0"], 2),
            (&["--workers", "33"], 2),
            (&["--buffers", "257"], 2),
            (&["start", "/nonexistent/l15"], 2),
            (&["start", "Cargo.toml"], 2),
            (&["start", "/tmp", "--crash", "2"], 2),
            (&["start", "/tmp", "--crash", "0:5"], 2),
            (&["start", "/tmp", "--crash", "5:1"], 2),
            (&["start", "/tmp", "--crash", "1:51"], 2),
        ],
    );
    let stdout = stdout
        + &snapshots::postmaster::start_refused_by_a_live_lock_file(
            cargo_bin!("l15-crash-restart"),
            LOCK_FILE,
        )
        + &snapshots::postmaster::start_refused_in_a_postgresql_cluster(cargo_bin!(
            "l15-crash-restart"
        ));
    snapshots::assert_output!("l15-crash-restart-errors", stdout, FILTERS);
}
