//! `--hold`: the server waits after start-up until told to stop, so that other commands (a
//! second start, `kill -9`, `ipcs -m`) can be tried on it.
//!
//! Being told must never mean dying before the clean-up: SIGTERM and SIGINT are blocked, and
//! wait in a signalfd that is watched together with standard input; either one ends the wait,
//! and the stop then runs in full.

use std::path::Path;

use common::{Error, Result, Wake, parent};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};

// ANCHOR: hold
/// SIGTERM and SIGINT, blocked so that they wait in a signalfd for [`hold_until_told`]
/// instead of killing us before we clean up; the children inherit the mask, so Ctrl-C in
/// the terminal does not kill them either: they leave when we close their pipe.
fn stop_signals() -> SigSet {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
}

pub fn block_stop_signals() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals()), None)
        .map_err(Error::sys("sigprocmask"))
}

pub fn hold_until_told(dir: &Path) -> Result<()> {
    println!(
        "ready: parent pid {} holds {}; close standard input (Ctrl-D) or send SIGTERM to stop",
        std::process::id(),
        dir.display()
    );
    loop {
        match common::wait_for_input(&stop_signals())? {
            Wake::Line => continue, // typed lines are ignored
            Wake::EndOfInput => parent!("standard input closed: stopping"),
            Wake::Signal(name) => parent!("{name}: stopping"),
        }
        return Ok(());
    }
}
// ANCHOR_END: hold
