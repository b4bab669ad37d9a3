//! The two kinds of trial of one lesson: killed at random moments, or at each of its calls
//! to one system call. Each tells what failed, and cleans up after it.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::wait::WaitStatus;

use crate::cases::{STOPS, Stop};
use crate::leftovers::{clean_up, nothing_left};
use crate::processes::{orphans_gone, spawn, wait_for};
use crate::random::Random;
use crate::run::Run;
use crate::{ORPHAN_LIMIT, RUN_LIMIT};

/// Runs the trials of one lesson; returns how many failed.
pub(crate) fn trial_lesson(
    binary: &Path,
    lesson: &str,
    commands: &[&[&str]],
    trials: usize,
    random: &mut Random,
) -> usize {
    let run = Run::new(binary, lesson, commands);
    let (label, dir) = (&run.label, &run.dir);
    let (window, left_by_a_normal_run) = match run.first() {
        Ok(first) => first,
        Err(err) => {
            println!("FAIL {label}: {err}");
            return trials;
        }
    };

    let (mut failed, mut slowest) = (0, Duration::ZERO);
    for trial in 0..trials {
        let how = STOPS[trial % STOPS.len()];
        let after = window.mul_f64(random.fraction());
        let outcome = run
            .killed(how, after)
            .and_then(|took| {
                slowest = slowest.max(took);
                // A signal that can be caught must clean up at once, before any next run.
                // (Not between commands: lesson 06's `create` leaves its segment for the
                // next command on purpose, and a Ctrl-C of `attach` must not remove it.)
                if !matches!(how, Stop::Kill9) && run.commands.len() == 1 {
                    nothing_left(dir, &left_by_a_normal_run).map_err(|err| {
                        format!(
                            "right after the signal: {err}; it had printed:{}",
                            run.tail()
                        )
                    })?;
                }
                run.normal()
            })
            .and_then(|said| {
                nothing_left(dir, &left_by_a_normal_run)?;
                Ok(said)
            });
        match outcome {
            Ok(said) if said.is_empty() => {}
            Ok(said) => {
                println!("  {label}: after {how:?} at {after:?}, the next run said: {said}")
            }
            Err(err) => {
                failed += 1;
                println!("FAIL {label}: {how:?} after {after:?}: {err}");
                clean_up(dir, &left_by_a_normal_run);
            }
        }
    }
    println!(
        "{} {label}: {trials} trials in a {window:.0?} window; orphans gone within {slowest:.0?}",
        if failed == 0 { "ok  " } else { "FAIL" }
    );
    failed
}

/// Kills the first command of a lesson's run at its N-th `call`, for every N; returns how
/// many of those trials failed.
pub(crate) fn trial_each_call(
    binary: &Path,
    lesson: &str,
    commands: &[&[&str]],
    call: &str,
) -> usize {
    let run = Run::new(binary, lesson, commands);
    let (label, dir) = (&run.label, &run.dir);
    let left_by_a_normal_run = match run.first() {
        Ok((_, left)) => left,
        Err(err) => {
            println!("FAIL {label}: {err}");
            return 1;
        }
    };
    let mut failed = 0;
    for n in 1.. {
        let mut traced = Command::new("strace");
        let inject = format!("inject={call}:signal=KILL:when={n}");
        traced.args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            &format!("trace={call}"),
            "-e",
            &inject,
        ]);
        let command = run.command(commands[0]);
        traced.arg(command.get_program()).args(command.get_args());
        traced.envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
        traced
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let outcome = spawn(traced).and_then(|pid| wait_for(pid, RUN_LIMIT));
        let killed = match outcome {
            Ok(WaitStatus::Exited(_, 0)) => false,
            Ok(_) => true, // strace reports the kill as its own status
            Err(err) => {
                println!("FAIL {label}: strace: {err} (is strace installed?)");
                return failed + 1;
            }
        };
        let checked = orphans_gone(ORPHAN_LIMIT)
            .and_then(|()| run.normal())
            .and_then(|_| nothing_left(dir, &left_by_a_normal_run));
        if let Err(err) = checked {
            failed += 1;
            println!("FAIL {label}: killed at {call} number {n}: {err}");
            clean_up(dir, &left_by_a_normal_run);
        }
        if !killed {
            println!(
                "{} {label}: killed at each of its {} {call} calls",
                if failed == 0 { "ok  " } else { "FAIL" },
                n - 1
            );
            return failed;
        }
    }
    unreachable!()
}
