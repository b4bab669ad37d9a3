//! Lesson 15's exercise: the postmaster's crash response.
//!
//! Write `is_crash` and `terminate_children`, then run `cargo course check 15` until it is
//! green. `cargo course hint 15` gives hints, one level at a time; src/solution.rs has an
//! answer.

#[allow(unused_imports)] // you will need these
use std::time::{Duration, Instant};

#[allow(unused_imports)]
use common::{Child, Error, Exit, Result, Signals};
#[allow(unused_imports)]
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[allow(unused_imports)]
use crate::Role;

/// Whether a child that ended with `exit` crashed, so that shared memory can no longer be
/// trusted.
///
/// - A backend (`Role::Backend(_)`) may exit with code 0 or 1: both are clean.
/// - Any other process is clean only with exit code 0.
/// - A signal (`Exit::Signal(_)`) is always a crash.
pub fn is_crash(role: Role, exit: Exit) -> bool {
    let _ = (role, exit);
    todo!("write is_crash in src/exercise.rs: which exits are normal for which role?")
}

/// The postmaster's answer to a crash: make every child in `children` go away, and report
/// how each one ended, as `(role, pid, exit)`. `children` must be empty afterwards, and no
/// process of theirs left, not even a zombie.
///
/// - Send SIGQUIT to every child (`kill(child.pid(), Signal::SIGQUIT)`): it asks them to
///   `_exit(2)` at once.
/// - Reap each one as it exits: `child.try_wait()?` is `waitpid(pid, WNOHANG)`; `Some(exit)`
///   means it ended (and is reaped now).
/// - Wait for them at most `grace`. To sleep until a child ends, make a
///   `Signals::block(&[Signal::SIGCHLD])?` *before* sending the signals and call
///   `.wait(Some(deadline))` on it (it returns `None` at the deadline). Or poll: try_wait
///   everyone, sleep 1 ms, again, until the deadline.
/// - Whoever is still there after `grace` gets SIGKILL, and `child.wait()?` reaps it.
/// - Return as soon as all are gone: do not wait out `grace` for nothing.
pub fn terminate_children<R>(
    children: &mut Vec<(R, Child)>,
    grace: Duration,
) -> Result<Vec<(R, Pid, Exit)>> {
    let _ = (children, grace);
    todo!("write terminate_children in src/exercise.rs: SIGQUIT, reap, SIGKILL after the grace")
}
