//! Lesson 15's exercise, solved: the postmaster's crash response.

use std::time::{Duration, Instant};

use common::{Child, Error, Exit, Result, Signals};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Role;

// ANCHOR: is_crash
/// Whether a child that ended with `exit` crashed, so that shared memory can no longer be
/// trusted. A backend may leave with 0 (its client said goodbye) or 1 (a FATAL error, or
/// told to by a fast shutdown): both clean up after themselves. A background process
/// leaves only when told to, with 0. Everything else, a signal above all, is a crash.
pub fn is_crash(role: Role, exit: Exit) -> bool {
    let clean = match role {
        Role::Backend(_) => matches!(exit, Exit::Code(0 | 1)),
        _ => exit == Exit::Code(0),
    };
    !clean
}
// ANCHOR_END: is_crash

// ANCHOR: terminate_children
/// `HandleChildCrash`'s part after the log line: SIGQUIT to every child; reap each as it
/// exits; after `grace`, SIGKILL whoever is still there (PostgreSQL waits 5 s) and reap
/// those too. Returns how each child ended; `children` is empty afterwards.
pub fn terminate_children<R>(
    children: &mut Vec<(R, Child)>,
    grace: Duration,
) -> Result<Vec<(R, Pid, Exit)>> {
    // First block SIGCHLD into a signalfd: an exit from now on wakes the wait below.
    let sigchld = Signals::block(&[Signal::SIGCHLD])?;
    for (_, child) in children.iter() {
        kill(child.pid(), Signal::SIGQUIT).map_err(Error::sys("kill"))?;
    }
    let deadline = Instant::now() + grace;
    let mut ended = Vec::new();
    loop {
        reap_the_exited(children, &mut ended)?;
        if children.is_empty() {
            return Ok(ended); // all gone: no need to wait out the grace period
        }
        if sigchld.wait(Some(deadline))?.is_none() {
            break; // the grace period is over
        }
    }
    // Recalcitrant children: SIGKILL cannot be caught or ignored. `wait` reaps them.
    for (role, child) in children.drain(..) {
        let pid = child.pid();
        kill(pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
        ended.push((role, pid, child.wait()?));
    }
    Ok(ended)
}

/// Moves every child that has ended from `children` to `ended` (`waitpid(pid, WNOHANG)`).
fn reap_the_exited<R>(
    children: &mut Vec<(R, Child)>,
    ended: &mut Vec<(R, Pid, Exit)>,
) -> Result<()> {
    let mut i = 0;
    while i < children.len() {
        match children[i].1.try_wait()? {
            Some(exit) => {
                let (role, child) = children.remove(i);
                ended.push((role, child.pid(), exit));
            }
            None => i += 1,
        }
    }
    Ok(())
}
// ANCHOR_END: terminate_children
