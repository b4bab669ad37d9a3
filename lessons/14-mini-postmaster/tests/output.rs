//! Lesson 14's output, as the chapter shows it. (Not run by `cargo exercise`.)
//!
//! Each run works in a fresh temporary directory (a fresh inode, so a fresh key) and must
//! leave in it only the table's file, the WAL's and the control file: no lock file, no
//! segment, no process.
#![cfg(not(feature = "exercise"))]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use l07_postgres_hybrid::LOCK_FILE;

mod held;
use held::Held;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// What the background writer and the WAL writer did in their timed rounds (`wrote 75
/// pages in 5 rounds`, `5 flushes in 6 rounds`), how many pages the checkpointer wrote (the
/// background writer may have written them first: `48 pages written in all`), and a
/// segment's owner as `ipcs -m` shows it (the user running the tests: `owner uid 1000`).
const FILTERS: &[snapshots::Filter] = &[
    (
        r"\bwrote \d+ pages? in \d+ rounds?\b",
        "wrote [PAGES] pages in [ROUNDS] rounds",
    ),
    (
        r"\b\d+ flush(es)? in \d+ rounds?\b",
        "[FLUSHES] flushes in [ROUNDS] rounds",
    ),
    (
        r"\b\d+ pages? written in all\b",
        "[PAGES] pages written in all",
    ),
    (r"\bowner uid \d+\b", "owner uid [UID]"),
];

fn assert_only_the_files_left(dir: &Path) {
    assert_eq!(
        snapshots::postmaster::file_names(dir),
        ["16384", "pg_control", "wal"],
        "{} should hold only the table, the WAL and the control file (no {LOCK_FILE})",
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
        l05_sysv_segments::segment_stat(shmid).is_err(),
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
    snapshots::assert_output!("l14-mini-postmaster", stdout, FILTERS);
}

#[test]
fn more_workers_and_buffers_stay_consistent() {
    for (workers, buffers) in [("8", "4"), ("64", "1"), ("1", "1024")] {
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
            (&["--workers", "65"], 2),
            (&["--workers", "many"], 2),
            (&["--buffers", "0"], 2),
            (&["--buffers", "1025"], 2),
            (&["start", "/nonexistent/l14"], 2),
            (&["status", "/nonexistent/l14"], 2),
            (&["status", "Cargo.toml"], 2),
            (&["status", "/nonexistent/l14", "--workers", "8"], 2),
        ],
    );
    let stdout = stdout
        + &snapshots::postmaster::start_refused_by_a_live_lock_file(
            cargo_bin!("l14-mini-postmaster"),
            LOCK_FILE,
        )
        + &snapshots::postmaster::start_refused_in_a_postgresql_cluster(cargo_bin!(
            "l14-mini-postmaster"
        ))
        + &status_without_a_server();
    snapshots::assert_output!("l14-mini-postmaster-errors", stdout, FILTERS);
}

/// `status` on a directory where no server runs: one line, exit status 3 (as `pg_ctl
/// status`), whether there is no lock file or one left by a dead postmaster.
fn status_without_a_server() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let status = |label: &str| {
        let output = Command::new(cargo_bin!("l14-mini-postmaster"))
            .arg("status")
            .arg(tmp.path())
            .output()
            .unwrap();
        snapshots::failure(label, &output, 3)
    };
    let line = format!("l14-mini-postmaster status {}", tmp.path().display());
    let mut transcript = status(&line);
    // A lock file naming a process that has ended (a `true` we ran and reaped).
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(tmp.path().join(LOCK_FILE), format!("{pid}\n")).unwrap();
    transcript += &status(&format!("{line}    # postmaster.pid of a dead process"));
    transcript
}

/// The PIDs a story names ("parent pid N", "child pid N").
fn pids_in(stdout: &str) -> Vec<Pid> {
    let mut pids: Vec<Pid> = ["parent pid ", "child pid "]
        .iter()
        .flat_map(|tag| stdout.split(tag).skip(1))
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok().map(Pid::from_raw)
        })
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

fn assert_nothing_left(dir: &Path, stdout: &str) {
    assert_segment_removed(stdout);
    assert_only_the_files_left(dir);
    for pid in pids_in(stdout) {
        assert_eq!(
            kill(pid, None),
            Err(Errno::ESRCH),
            "process {pid} of the held server is still there"
        );
    }
}

#[test]
fn held_server_shows_in_status_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let mut held = Held::start(Command::new(cargo_bin!("l14-mini-postmaster")), tmp.path());
    let story = held.until_holding();
    let output = cargo_bin_cmd!("l14-mini-postmaster")
        .arg("status")
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    snapshots::assert_output!("l14-mini-postmaster-status", stdout, FILTERS);
    let rest = held.stop(Signal::SIGTERM);
    let story = story + &rest;
    assert!(rest.contains("received smart shutdown request"), "{rest}");
    assert_nothing_left(tmp.path(), &story);
    let hold = &story[story.find("== 7. Hold").expect("a hold step")..];
    let stdout =
        format!("$ l14-mini-postmaster start [TMPDIR] --hold    # then kill -TERM\n{hold}");
    snapshots::assert_output!("l14-mini-postmaster-hold", stdout, FILTERS);
}

#[test]
fn held_server_stops_cleanly_on_sigint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut held = Held::start(Command::new(cargo_bin!("l14-mini-postmaster")), tmp.path());
    let story = held.until_holding();
    let rest = held.stop(Signal::SIGINT);
    assert!(rest.contains("received fast shutdown request"), "{rest}");
    assert!(
        rest.contains("consistent: every committed update"),
        "{rest}"
    );
    assert_nothing_left(tmp.path(), &(story + &rest));
}

/// Every process whose parent is `parent` (field 4 of /proc/PID/stat).
fn children_of(parent: Pid) -> Vec<Pid> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            ppid == Some(&parent.as_raw().to_string())
        })
        .map(Pid::from_raw)
        .collect()
}

/// Whether `pid` has exited: no such process, or a zombie nobody has reaped yet (an
/// orphan's new parent may be slow to reap; a zombie has detached its memory already).
fn exited(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// A segment that a killed server left: removed if the test fails before a start does it.
struct Leftover(i32);

impl Drop for Leftover {
    fn drop(&mut self) {
        if l05_sysv_segments::segment_stat(self.0).is_ok() {
            let _ = l05_sysv_segments::remove(self.0);
        }
    }
}

#[test]
fn a_start_after_kill_9_says_what_it_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut held = Held::start(Command::new(cargo_bin!("l14-mini-postmaster")), tmp.path());
    let story = held.until_holding();
    let shmid: i32 = story
        .split("= shmid ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.parse().ok())
        .expect("the story names the interlock's shmid");
    let _leftover = Leftover(shmid);
    let postmaster = Pid::from_raw(held.process.id() as i32);
    let children = children_of(postmaster);
    assert_eq!(
        children.len(),
        3,
        "the held server has its three background processes"
    );
    kill(postmaster, Signal::SIGKILL).unwrap();
    held.process.wait().unwrap();
    // The children see end-of-file on their pipes and exit; wait for that, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !children.iter().all(|&pid| exited(pid)) {
        assert!(
            Instant::now() < deadline,
            "the background processes outlived their postmaster by 10 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        tmp.path().join(LOCK_FILE).exists() && l05_sysv_segments::segment_stat(shmid).is_ok(),
        "kill -9 leaves the lock file and the interlock behind"
    );
    let output = cargo_bin_cmd!("l14-mini-postmaster")
        .arg("start")
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = snapshots::success(&output);
    assert_nothing_left(tmp.path(), &stdout);
    assert!(
        l05_sysv_segments::segment_stat(shmid).is_err(),
        "the killed server's segment shmid {shmid} was left behind"
    );
    let first = &stdout[..stdout.find("\n\n").expect("a blank line after step 1")];
    let stdout = format!(
        "$ l14-mini-postmaster start [TMPDIR]    # after kill -9 of a held postmaster\n{first}\n"
    );
    snapshots::assert_output!("l14-mini-postmaster-restart", stdout, FILTERS);
}
