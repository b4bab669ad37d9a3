//! Noticing that the parent died, the way PostgreSQL's children notice the postmaster's.
//!
//! A child that waits for its parent (at a start line, on a futex, in a server loop) waits
//! for ever once the parent is killed: nobody will ever wake it, and it keeps holding what
//! it attached. So every child [`fork_child`](crate::fork_child) makes asks the kernel for a
//! signal when its parent dies: `prctl(PR_SET_PDEATHSIG, SIGPWR)`, the signal PostgreSQL
//! uses on Linux since version 12 (`PostmasterDeathSignalInit` in `pmsignal.c`). Then it
//! compares `getppid()` with the parent it was forked by, for a parent that died before
//! the request was made (the signal would never come).
//!
//! The signal is caught, never SIGKILL: a child stopped with SIGSTOP does not run its
//! handler until it is continued, so it goes on holding the segment, as lesson 07 shows
//! (a frozen PostgreSQL backend does the same). By default the handler leaves at once with
//! `_exit`: these children own nothing that outlives them. A child with work that must not
//! be cut in half (a postmaster's child) is forked with
//! `fork_child_with(OnParentDeath::ExitAtSafePoints, ..)`; then the signal only sets a flag,
//! and the child reads [`parent_gone`] where it may stop, as PostgreSQL's children read
//! `PostmasterIsAlive()` in their wait loops. A wait for a lock gives up
//! [`LOCK_WAIT_GRACE`] after the parent's death, for the holder may be dead too. And a child
//! that is itself a postmaster is sent SIGINT, its fast shutdown (`OnParentDeath::Send`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{Pid, getppid};

/// The signal a child gets when its parent dies (PostgreSQL's `POSTMASTER_DEATH_SIGNAL`).
pub const PARENT_DEATH_SIGNAL: Signal = Signal::SIGPWR;

/// The status a child leaves with when its parent died: 128 + SIGPWR, as if killed by it.
pub const ORPHAN_EXIT_STATUS: i32 = 128 + PARENT_DEATH_SIGNAL as i32;

/// Set by the handler: the parent has died (PostgreSQL's `postmaster_possibly_dead`).
static PARENT_GONE: AtomicBool = AtomicBool::new(false);
/// Cleared by [`exit_at_safe_points`]: the handler leaves at once while this is set.
static EXIT_AT_ONCE: AtomicBool = AtomicBool::new(true);

extern "C" fn parent_died(_signal: libc::c_int) {
    PARENT_GONE.store(true, Ordering::SeqCst);
    if EXIT_AT_ONCE.load(Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe and runs no destructor of the parent's values.
        unsafe { libc::_exit(ORPHAN_EXIT_STATUS) }
    }
}

/// In a child just forked by `parent`: be told when the parent dies. Called by `fork_child`.
pub(crate) fn watch(parent: Pid) {
    // No SA_RESTART: a child asleep in poll, semop or futex wakes with EINTR and can look.
    let action = SigAction::new(
        SigHandler::Handler(parent_died),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to atomics and calls _exit, both async-signal-safe.
    let _ = unsafe { sigaction(PARENT_DEATH_SIGNAL, &action) };
    let _ = nix::sys::prctl::set_pdeathsig(PARENT_DEATH_SIGNAL);
    // The parent may have died before the request above: then no signal will come.
    if getppid() != parent {
        parent_died(0);
    }
}

/// In a child just forked by `parent`: be sent `signal` when the parent dies (and now, if
/// it has died already), to act on as the child acts on it anyway.
pub(crate) fn send_at_death(parent: Pid, signal: Signal) {
    let _ = nix::sys::prctl::set_pdeathsig(signal);
    if getppid() != parent {
        let _ = nix::sys::signal::raise(signal);
    }
}

/// From now on the parent's death only sets a flag, which this child reads with
/// [`parent_gone`] at the points where it may stop (in each wait). Set before the child
/// runs anything of its own, by `fork_child_with(OnParentDeath::ExitAtSafePoints, ..)`.
pub(crate) fn exit_at_safe_points() {
    EXIT_AT_ONCE.store(false, Ordering::SeqCst);
}

/// Has the parent died? True from the moment its death signal arrived.
pub fn parent_gone() -> bool {
    PARENT_GONE.load(Ordering::SeqCst)
}

/// How long a child that exits at safe points goes on waiting for a lock after its parent
/// died. A living holder lets go within it (it finishes its step, then leaves at its own
/// next safe point); a holder that was killed holding the lock never will.
pub const LOCK_WAIT_GRACE: Duration = Duration::from_secs(1);

/// How long such a child sleeps in a lock wait before it looks at [`parent_gone`] again: the
/// death signal interrupts a sleep, but it may also come just before one.
const LOOK_AGAIN: Duration = Duration::from_millis(50);

/// For a wait for a lock: how long to sleep at most before calling
/// [`leave_if_orphaned_too_long`]; `None` to sleep until woken (a child that leaves at once
/// when its parent dies, or a process that is nobody's forked child).
pub fn lock_wait_nap() -> Option<Duration> {
    match EXIT_AT_ONCE.load(Ordering::SeqCst) {
        true => None,
        false => Some(LOOK_AGAIN),
    }
}

/// After a lock wait woke without the lock (its nap ended, or a signal came): leaves the
/// process if its parent died [`LOCK_WAIT_GRACE`] or more ago. A process waiting for a lock
/// has not begun the step it waits to take: a safe point.
pub fn leave_if_orphaned_too_long() {
    static NOTICED: OnceLock<Instant> = OnceLock::new();
    if parent_gone() && NOTICED.get_or_init(Instant::now).elapsed() >= LOCK_WAIT_GRACE {
        // SAFETY: _exit ends the process at once, running no destructor of the parent's.
        unsafe { libc::_exit(ORPHAN_EXIT_STATUS) }
    }
}
