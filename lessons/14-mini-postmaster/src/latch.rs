//! How the background processes wait: the checkpointer, the background writer and the WAL
//! writer (lesson 15's postmaster forks the same ones).
//!
//! Each waits on the read end of a pipe of its own, its "latch". A byte is a request:
//! [`SHUTDOWN`] from the postmaster, [`CHECKPOINT`] from a backend whose WAL record crossed
//! the checkpoint distance. End-of-file means every writer is gone: the postmaster died.
//! (In PostgreSQL a backend asks for a checkpoint through shared memory, the postmaster
//! signals its children, and they watch a pipe for its death.)

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use common::parent_death::parent_gone;
use common::{Error, Result};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::read;

/// The postmaster's request to stop (the checkpointer: after the shutdown checkpoint).
pub const SHUTDOWN: u8 = b'S';
/// A backend's request to the checkpointer for a checkpoint.
pub const CHECKPOINT: u8 = b'C';

/// What woke a background process.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// A byte: a request ([`CHECKPOINT`]) or the shutdown request ([`SHUTDOWN`]).
    Byte(u8),
    /// Its nap ended.
    Timeout,
    /// End-of-file: the postmaster died (PostgreSQL's children watch a pipe the same way).
    PostmasterGone,
}

/// Waits for the next byte on `pipe`, at most `nap` (forever if `None`). The postmaster's
/// death ends the wait too: the pipe's end-of-file, or sooner its death signal (which
/// interrupts `poll`; see `common::parent_death`), as PostgreSQL's `WaitLatch` returns on
/// `WL_POSTMASTER_DEATH`.
pub fn wait_on(pipe: &OwnedFd, nap: Option<Duration>) -> Result<Wake> {
    let timeout = match nap {
        Some(nap) => PollTimeout::try_from(nap).expect("a short nap"),
        None => PollTimeout::NONE,
    };
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    loop {
        if parent_gone() {
            return Ok(Wake::PostmasterGone);
        }
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(Wake::Timeout),
            Ok(_) => break,
            Err(Errno::EINTR) => continue, // a signal: look again (a nap starts over)
            Err(errno) => return Err(Error::sys("poll")(errno)),
        }
    }
    let mut byte = [0u8; 1];
    match read(pipe.as_fd(), &mut byte).map_err(Error::sys("read"))? {
        0 => Ok(Wake::PostmasterGone),
        _ => Ok(Wake::Byte(byte[0])),
    }
}

pub fn postmaster_gone() -> Error {
    Error::Failed("the postmaster is gone: exiting".into())
}
