//! Telling a lock that will never be released from one that is merely slow: a deadline.
//!
//! A waiter cannot tell a dead holder from a slow one; only a limit ends that wait. The
//! wait is `poll` on a pidfd, which returns as soon as the child ends or the deadline
//! passes, so the deadline bounds how long we watch and never decides the order of anything.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::{Child, Error, Exit, Result};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

// ANCHOR: deadline
/// How a [`wait_with_deadline`] ended.
#[derive(Debug)]
pub enum Waited {
    /// The child ended within the deadline (and is reaped): how.
    Finished(Exit),
    /// The deadline passed first. The child still runs; dropping it kills and reaps it.
    StillWaiting(Child),
}

/// Waits for `child` to end, for at most `deadline`. The wait is `poll` on a pidfd (Linux
/// 5.3), which becomes readable when the process ends: the call returns as soon as it does,
/// or when the deadline passes, whichever comes first. No sleep decides the order of
/// anything; the deadline only bounds how long we watch.
pub fn wait_with_deadline(child: Child, deadline: Duration) -> Result<Waited> {
    // SAFETY: pidfd_open takes a pid and flags, touches no memory, and returns a new fd
    // (or -1), which we own from here on.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.pid().as_raw(), 0) };
    if raw < 0 {
        return Err(Error::sys("pidfd_open")(Errno::last()));
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let start = Instant::now();
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        // Whole milliseconds, rounded up, so that a wait never ends before the deadline.
        let millis = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX),
        ) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(Error::sys("poll")(errno)),
            Ok(0) if start.elapsed() < deadline => continue,
            Ok(0) => return Ok(Waited::StillWaiting(child)),
            Ok(_) => return Ok(Waited::Finished(child.wait()?)),
        }
    }
}
// ANCHOR_END: deadline
