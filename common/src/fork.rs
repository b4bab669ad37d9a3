//! Running a closure in a forked child, and reporting how the child ended.
//!
//! Three rules make fork safe to use from Rust, and this file is where they are kept:
//! 1. Fork only a single-threaded process. A child gets one thread, a copy of every lock
//!    any other thread held at that instant, and nobody left to release them.
//! 2. Flush stdout and stderr before forking, or whatever sits in a buffer is inherited by
//!    the child and written twice.
//! 3. The child never returns into the parent's code: it runs the closure, flushes what it
//!    printed, and leaves with `_exit`, so none of the parent's destructors (which may remove
//!    the parent's shared memory) run in the child.

use std::fmt;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};

use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::{Error, Result};

/// How a child process ended, as `waitpid` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called `_exit(code)` (or returned `code` from the closure).
    Code(i32),
    /// A signal ended it.
    Signal(Signal),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exited with status {code}"),
            Exit::Signal(sig) => write!(f, "was killed by {}", sig.as_str()),
        }
    }
}

/// A child we forked and have not yet reaped. Dropping it unreaped kills and reaps it, so
/// a lesson that fails halfway leaves no child behind.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the child to end and says how it ended.
    pub fn wait(mut self) -> Result<Exit> {
        let exit = wait_for(self.pid)?;
        self.reaped = true;
        Ok(exit)
    }

    /// `waitpid(pid, WNOHANG)`: how the child ended if it has (reaping it), `None` if it
    /// still runs. Once it has answered `Some`, the child is reaped and must not be waited
    /// for again.
    pub fn try_wait(&mut self) -> Result<Option<Exit>> {
        if self.reaped {
            return Err(Error::Failed(format!(
                "child pid {} was reaped already",
                self.pid
            )));
        }
        let exit =
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)).map_err(Error::sys("waitpid"))? {
                WaitStatus::Exited(_, code) => Exit::Code(code),
                WaitStatus::Signaled(_, sig, _core_dumped) => Exit::Signal(sig),
                _ => return Ok(None), // still running (StillAlive), or only stopped
            };
        self.reaped = true;
        Ok(Some(exit))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = signal::kill(self.pid, Signal::SIGKILL);
            let _ = wait_for(self.pid);
        }
    }
}

fn wait_for(pid: Pid) -> Result<Exit> {
    loop {
        match waitpid(pid, None).map_err(Error::sys("waitpid"))? {
            WaitStatus::Exited(_, code) => return Ok(Exit::Code(code)),
            WaitStatus::Signaled(_, sig, _core_dumped) => return Ok(Exit::Signal(sig)),
            // Stopped or continued: not an ending; keep waiting.
            _ => continue,
        }
    }
}

/// The number of threads in this process, from `/proc/self/task`.
pub fn thread_count() -> Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Forks; the child runs `body` and exits with the status it returns (101 if it panics).
/// The parent gets the [`Child`] back at once; nothing is waited for. If the parent dies
/// first, the child leaves too (see [`parent_death`](crate::parent_death)).
///
/// Refuses (with an error, in the parent) to fork a process that has more than one thread.
pub fn fork_child(body: impl FnOnce() -> i32) -> Result<Child> {
    fork_child_with(OnParentDeath::ExitAtOnce, body)
}

/// What a forked child does when its parent dies (see [`parent_death`](crate::parent_death)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnParentDeath {
    /// Leave at once (unless stopped: then once continued).
    ExitAtOnce,
    /// Only note it, for the child to read at its safe points: a postmaster's children.
    ExitAtSafePoints,
    /// Be sent this signal instead, to act on as it always does: a postmaster forked by a
    /// lesson takes SIGINT, its fast shutdown, and leaves nothing behind.
    Send(Signal),
}

/// [`fork_child`], with the child's answer to its parent's death chosen before it runs a
/// single instruction of its own: a parent that dies a moment after the fork finds it ready.
pub fn fork_child_with(
    on_parent_death: OnParentDeath,
    body: impl FnOnce() -> i32,
) -> Result<Child> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(Error::Failed(format!(
            "refusing to fork: this process has {threads} threads, and a forked child \
             inherits their locks without the threads that would release them"
        )));
    }
    std::io::stdout().flush()?;
    std::io::stderr().flush()?;
    let parent = nix::unistd::getpid();

    // SAFETY: the process is single-threaded (checked just above), so the child's copy of
    // every lock is in a consistent state and it may run ordinary Rust code.
    match unsafe { fork() }.map_err(Error::sys("fork"))? {
        ForkResult::Parent { child } => Ok(Child {
            pid: child,
            reaped: false,
        }),
        ForkResult::Child => {
            match on_parent_death {
                OnParentDeath::ExitAtOnce => crate::parent_death::watch(parent),
                OnParentDeath::ExitAtSafePoints => {
                    crate::parent_death::exit_at_safe_points();
                    crate::parent_death::watch(parent);
                }
                OnParentDeath::Send(signal) => crate::parent_death::send_at_death(parent, signal),
            }
            let status = panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            // SAFETY: `_exit` ends this process at once, without running atexit handlers or
            // the destructors of values the parent owns (its copies live on in the child).
            unsafe { libc::_exit(status) }
        }
    }
}
