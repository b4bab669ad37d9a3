//! Kills each lesson at random moments and checks that nothing is left behind.
//!
//! For every lesson: one normal run (its duration sets the window, and what it leaves in its
//! temporary directory is what every later run may leave), then trials. A trial starts the
//! lesson, waits a random time within that window, and sends it SIGKILL, SIGTERM, or SIGINT
//! or SIGHUP to its whole process group (Ctrl-C, a closed terminal). Then:
//! 1. within [`ORPHAN_LIMIT`] no process of it is alive (a zombie counts as gone), and after
//!    any signal but SIGKILL, nothing of it is left already (for a run of one command);
//! 2. the next normal run exits 0 (what it says about a killed run's leftovers is shown);
//! 3. after that run, no System V object, no /dev/shm file and nothing new in its
//!    temporary directory is left.
//!
//! The trials run in an IPC and mount namespace of their own, with a tmpfs of their own on
//! /dev/shm, so leftovers are counted exactly and nobody else's objects are seen or touched;
//! and as a child subreaper, so that orphans stay ours to see and to reap.
//!
//! With `--at-each write` (any system call's name), the moments are not random but every
//! one: the lesson is run under `strace -e inject=write:signal=KILL:when=N` for N = 1, 2, …
//! until a run gets through, so it is killed once at each of its writes.
//!
//! `cargo build --workspace --bins && target/debug/kill-trials [--trials N] [--seed S]
//! [--at-each SYSCALL] [LESSON...]` (as root, or where unprivileged user namespaces are
//! allowed).

mod cases;
mod leftovers;
mod namespaces;
mod processes;
mod random;
mod run;
mod trials;

use std::path::Path;
use std::time::Duration;

use cases::CASES;
use namespaces::enter_namespaces;
use random::Random;
use trials::{trial_each_call, trial_lesson};

/// How long a killed lesson's processes may take to leave.
const ORPHAN_LIMIT: Duration = Duration::from_secs(3);
/// How long a normal run may take (lesson 16's quick mode takes about a second).
const RUN_LIMIT: Duration = Duration::from_secs(30);

fn main() {
    let mut trials = 8;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64);
    let mut only = Vec::new();
    let mut at_each = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trials" => trials = number(args.next()),
            "--seed" => seed = number(args.next()) as u64,
            "--at-each" => at_each = Some(args.next().unwrap_or_else(|| usage())),
            lesson if !lesson.starts_with('-') => only.push(lesson.to_string()),
            _ => usage(),
        }
    }
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .expect("the directory of this program");
    if let Err(err) = enter_namespaces() {
        eprintln!("kill-trials: {err}");
        std::process::exit(2);
    }
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    println!("kill-trials: seed {seed}, {trials} trials per lesson");
    let mut random = Random(seed.max(1));
    let mut failures = 0;
    for (lesson, commands) in CASES {
        if !only.is_empty() && !only.iter().any(|name| name == lesson) {
            continue;
        }
        let binary = bin_dir.join(lesson);
        if !binary.exists() {
            eprintln!(
                "kill-trials: {} is missing: cargo build --workspace --bins",
                binary.display()
            );
            std::process::exit(2);
        }
        failures += match &at_each {
            None => trial_lesson(&binary, lesson, commands, trials, &mut random),
            Some(call) => trial_each_call(&binary, lesson, commands, call),
        };
    }
    if failures > 0 {
        println!("kill-trials: {failures} failed trials (seed {seed})");
        std::process::exit(1);
    }
    println!("kill-trials: all passed");
}

fn number(value: Option<String>) -> usize {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage())
}

fn usage() -> ! {
    eprintln!("usage: kill-trials [--trials N] [--seed S] [--at-each SYSCALL] [LESSON...]");
    std::process::exit(2);
}
