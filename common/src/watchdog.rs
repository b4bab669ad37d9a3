//! One watchdog for checks that must not hang.
//!
//! An exercise check runs the learner's lock or allocator in forked processes, and a wrong
//! answer often does not fail: it waits for ever (a lock never released, a waiter never
//! woken). Each process that runs such code arms an alarm first, with [`arm`]; SIGALRM's
//! default action ends it, and its parent, waiting as always, sees "killed by SIGALRM" and
//! turns it into the check's message. An alarm belongs to one process: a forked child does
//! not inherit it (alarm(2)), so every racing process arms its own.

use nix::sys::signal::Signal;

use crate::{Exit, fork_child};

/// Ends this process with SIGALRM `seconds` from now, unless re-armed or disarmed first.
/// Re-arming is how a long check says "still making progress".
pub fn arm(seconds: u32) {
    nix::unistd::alarm::set(seconds);
}

/// Cancels this process's alarm.
pub fn disarm() {
    nix::unistd::alarm::cancel();
}

/// An alarm in this very process for as long as the guard lives: for a check that waits
/// in the test process itself, where a panic must not leave an alarm to kill a later test.
#[must_use = "the alarm is cancelled as soon as the guard is dropped"]
pub struct Armed(());

impl Armed {
    pub fn for_seconds(seconds: u32) -> Armed {
        arm(seconds);
        Armed(())
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        disarm();
    }
}

/// Whether a process ended because its watchdog fired.
pub fn fired(exit: &Exit) -> bool {
    matches!(exit, Exit::Signal(Signal::SIGALRM))
}

/// How a check run by [`check_in_child`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// `body` returned.
    Passed,
    /// `body` panicked: its message is already printed (the test harness's panic hook).
    Failed,
    /// `body` was still running when the alarm fired: it hangs.
    Hung,
    /// The checking process ended some other way (a signal, an unexpected status).
    Ended(Exit),
}

/// Runs `body` in a forked child whose alarm fires after `patience_seconds`.
pub fn check_in_child(patience_seconds: u32, body: impl FnOnce()) -> Checked {
    let child = fork_child(|| {
        arm(patience_seconds);
        body();
        0
    })
    .expect("fork a checking process");
    match child.wait().expect("wait for the checking process") {
        Exit::Code(0) => Checked::Passed,
        Exit::Code(101) => Checked::Failed,
        exit if fired(&exit) => Checked::Hung,
        exit => Checked::Ended(exit),
    }
}
