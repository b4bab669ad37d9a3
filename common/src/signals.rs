//! Signals read from a signalfd instead of acting on the process.
//!
//! A postmaster must sleep until a child ends (SIGCHLD) or somebody asks it to stop
//! (SIGTERM, SIGINT), and must not be killed halfway through creating or removing what the
//! kernel keeps after it (segments, lock files). So it blocks those signals and reads them,
//! one at a time and in ordinary code, from a signalfd: no handler ever runs in the middle
//! of anything. Block before the event you wait for (before forking, before sending
//! SIGQUIT): a signal that comes earlier then waits in the signalfd instead of being lost.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::{Error, Result};

/// Some signals, blocked and waiting in a signalfd. Dropping it sets the signal mask back
/// to what it was.
pub struct Signals {
    fd: SignalFd,
    previous: SigSet,
}

impl Signals {
    /// Blocks `signals` and opens a signalfd for them.
    pub fn block(signals: &[Signal]) -> Result<Signals> {
        let set: SigSet = signals.iter().copied().collect();
        let mut previous = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut previous))
            .map_err(Error::sys("sigprocmask"))?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(Error::sys("signalfd"))?;
        Ok(Signals { fd, previous })
    }

    /// Sleeps until one of the signals comes, or until `deadline` (never, if `None`).
    /// Returns the signal, or `None` at the deadline. Several SIGCHLDs may arrive as one:
    /// after a SIGCHLD, reap every child that has ended, not just one.
    pub fn wait(&self, deadline: Option<Instant>) -> Result<Option<Signal>> {
        loop {
            if let Some(signal) = self.take()? {
                return Ok(Some(signal));
            }
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    // Rounded up to the next millisecond, so we never wake just before it.
                    let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                    PollTimeout::try_from(ms).expect("at most i32::MAX")
                }
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::sys("poll")(errno)),
            }
        }
    }

    /// A signal that is already there, without waiting.
    pub fn take(&self) -> Result<Option<Signal>> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Ok(Signal::try_from(info.ssi_signo as i32).ok()),
            Ok(None) => Ok(None),
            Err(errno) => Err(Error::sys("read(signalfd)")(errno)),
        }
    }

    /// For a `poll` over this and other descriptors.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// In a forked child, first thing: the signal mask from before [`Signals::block`] (plus
    /// `keep_blocked`, in the same call, so that none of those slips in meanwhile), and no
    /// copy of the parent's signalfd (after `fork` a signalfd reports the signals of the
    /// process that reads it, so the copy would only report the child's own: it has no use).
    pub fn leave_in_child(&self, keep_blocked: &[Signal]) {
        let mut mask = self.previous;
        for &signal in keep_blocked {
            mask.add(signal);
        }
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
        // SAFETY: in the child, this descriptor is our copy of the parent's signalfd, owned
        // by a `SignalFd` whose destructor never runs here (children leave with _exit):
        // it is closed once, here.
        drop(unsafe { OwnedFd::from_raw_fd(self.fd.as_raw_fd()) });
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.previous), None);
    }
}
