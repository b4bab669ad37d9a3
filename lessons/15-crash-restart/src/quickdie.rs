//! What every child does on SIGQUIT, the postmaster's "stop now": leave at once, touching
//! nothing. After a crash, shared memory may be half written and its locks held by the
//! dead: a child that tidied up on its way out would read or write it. PostgreSQL's
//! `quickdie` does the same.

use common::{Error, Result};
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction, sigprocmask,
};

// ANCHOR: quickdie
/// SIGQUIT's handler in every child: leave at once with exit code 2, touching nothing.
/// The process may have been stopped halfway through a change in shared memory; any
/// cleanup would read or write it. `_exit` is async-signal-safe, and 2 tells the postmaster
/// "not a clean exit" (PostgreSQL's `quickdie` in src/backend/tcop/postgres.c does the same).
extern "C" fn quickdie(_signal: libc::c_int) {
    // SAFETY: _exit is async-signal-safe; it runs no destructor and no atexit handler.
    unsafe { libc::_exit(2) }
}

/// Installs [`quickdie`] for SIGQUIT, then lets SIGQUIT in. A child calls it first thing:
/// the postmaster forks with SIGQUIT blocked, so a SIGQUIT sent before this point waits,
/// and is handled here, never by the default action (a core dump).
pub fn install_quickdie() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(quickdie),
        SaFlags::empty(),
        SigSet::all(), // nothing else interrupts the handler
    );
    // SAFETY: the handler only calls _exit, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGQUIT, &action) }.map_err(Error::sys("sigaction"))?;
    let mut quit = SigSet::empty();
    quit.add(Signal::SIGQUIT);
    sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&quit), None).map_err(Error::sys("sigprocmask"))
}
// ANCHOR_END: quickdie
