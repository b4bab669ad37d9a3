//! Waiting for the reader to press Enter, without leaking on Ctrl-C.
//!
//! A lesson that pauses so the reader can look at it from another terminal (`ipcs -m`,
//! `/proc/PID/maps`) holds things the kernel keeps after the process dies: System V
//! segments above all. If Ctrl-C killed it there, no destructor would run. So while it
//! waits, SIGINT and SIGTERM are blocked and read from a signalfd instead: the wait ends
//! with an error, the error returns through `main`, and every guard on the way cleans up.

use std::io::Read;
use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::SignalFd;

use crate::{Error, Result};

/// Prints `prompt` and waits for a line on stdin (or its end). A SIGINT or SIGTERM during
/// the wait is an error ("interrupted by SIGINT") instead of a sudden death.
pub fn pause(prompt: &str) -> Result<()> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    let mut previous = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), Some(&mut previous))
        .map_err(Error::sys("sigprocmask"))?;
    // Only now the prompt: whoever reacts to it (a reader, or a test) finds us ready.
    println!("{prompt}");
    let woken = wait_for_input(&signals);
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None)
        .map_err(Error::sys("sigprocmask"))?;
    match woken? {
        Wake::Line | Wake::EndOfInput => Ok(()),
        Wake::Signal(name) => Err(Error::Failed(format!(
            "interrupted by {name} while paused; cleaned up"
        ))),
    }
}

/// What ended a [`wait_for_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A line was read from stdin (and consumed).
    Line,
    /// Stdin was closed (Ctrl-D in a terminal).
    EndOfInput,
    /// One of the awaited signals arrived (and was consumed): its name.
    Signal(&'static str),
}

/// Waits until stdin has a line or ends, or one of `signals` arrives. The caller must have
/// blocked `signals` (sigprocmask), so that they wait in a signalfd instead of acting.
pub fn wait_for_input(signals: &SigSet) -> Result<Wake> {
    let signal_fd = SignalFd::new(signals).map_err(Error::sys("signalfd"))?;
    let stdin = std::io::stdin();
    loop {
        let mut fds = [
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
            PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(Error::sys("poll")(errno)),
            Ok(_) => {}
        }
        if fds[1].any().unwrap_or(false) {
            let name = match signal_fd.read_signal() {
                Ok(Some(info)) => {
                    Signal::try_from(info.ssi_signo as i32).map_or("a signal", |s| s.as_str())
                }
                _ => "a signal",
            };
            return Ok(Wake::Signal(name));
        }
        if fds[0].any().unwrap_or(false) {
            let mut byte = [0u8; 1];
            loop {
                match stdin.lock().read(&mut byte) {
                    Ok(0) => return Ok(Wake::EndOfInput),
                    Ok(_) if byte[0] == b'\n' => return Ok(Wake::Line),
                    Ok(_) => continue,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }
}
