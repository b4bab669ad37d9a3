//! The postmaster's signals. It blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP before it creates
//! anything and reads them one at a time from a signalfd (`common::Signals`), in ordinary
//! code: no signal handler runs in the middle of anything, and a Ctrl-C during start-up
//! waits for the server loop instead of killing a half-made server. Every child undoes this
//! first thing.

use std::ffi::CString;

use common::{Result, Signals};
use nix::sys::signal::Signal;
use nix::unistd::setsid;

use super::server::Role;

// ANCHOR: signals
/// Blocks the postmaster's signals: from now on they wait for the server loop, which
/// reads them with `Signals::wait`. (PostgreSQL 16+ also does its work in `ServerLoop`;
/// its handlers only set flags and its latch.)
pub fn block() -> Result<Signals> {
    Signals::block(&[
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ])
}

/// In a child, first thing: the signal mask it had before the postmaster blocked them, no
/// signalfd (its copy would only report the child's own signals: it has no use for it), a
/// session of its own (Ctrl-C in the terminal goes to the postmaster only, as PostgreSQL's
/// children call `setsid`), and a name for `ps`. (It was forked to notice its parent's
/// death at safe points only: `OnParentDeath::ExitAtSafePoints`.) A backend keeps SIGTERM
/// blocked from the start: it reads it at a safe point (see [`super::backend`]), and one
/// sent before it got there must not kill it.
pub fn child_init(signals: &Signals, role: Role) {
    let keep_blocked: &[Signal] = match role {
        Role::Backend(_) => &[Signal::SIGTERM],
        _ => &[],
    };
    signals.leave_in_child(keep_blocked);
    let _ = setsid();
    let name = CString::new(role.process_name()).expect("no NUL in a name");
    let _ = nix::sys::prctl::set_name(&name);
}
// ANCHOR_END: signals
