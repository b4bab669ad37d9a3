//! Lesson 15: a crash and a restart, the way PostgreSQL's postmaster survives them.
//!
//! Lesson 12 ended with a rule: when a process dies while it holds a lock, neither the lock
//! nor the data it guarded can be trusted, so throw both away. This lesson is that rule at
//! work in lesson 14's mini postmaster. When a child ends in a way nobody planned (a
//! signal, an exit code it never uses), the postmaster stops every other child, removes
//! shared memory, makes it anew, and has a *startup process* rebuild the pages from what is
//! on disk: the table's file and the WAL. Nothing committed is lost, because a commit
//! returns only once its WAL record is on disk. Nothing uncommitted survives: a change is
//! made and logged under the page's exclusive lock, a page is written only under its lock
//! (shared), so a page never reaches the table's file with a change whose record is not in
//! the WAL; the dead process's half-made change dies with the lock it held.
//!
//! The pieces: [`Role`] names a child as the postmaster's log does; [`is_crash`] and
//! [`terminate_children`] are the postmaster's crash response (the exercise);
//! `common::Signals` is how it sleeps until a child ends; [`install_quickdie`] is what every
//! child does on SIGQUIT; [`recovery`] is the startup process; [`notebook`] is the clients'
//! record of what they were told; [`check`] compares the files with it.

use common::{Error, Exit, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use exercise::{is_crash, terminate_children};

pub mod check;
pub mod notebook;
pub mod recovery;

// ANCHOR: role
/// Who a child of the postmaster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads pg_control, loads the pages, replays the WAL, then exits 0.
    Startup,
    Checkpointer,
    BgWriter,
    WalWriter,
    /// A backend, by number from 1.
    Backend(usize),
}

impl Role {
    /// The name the child gives itself (`prctl(PR_SET_NAME)`, at most 15 bytes): what
    /// `ps -o comm` and /proc/PID/comm show, as in lesson 14.
    pub fn process_name(self) -> String {
        match self {
            Role::Startup => "startup".into(),
            Role::Checkpointer => "checkpointer".into(),
            Role::BgWriter => "bgwriter".into(),
            Role::WalWriter => "walwriter".into(),
            Role::Backend(n) => format!("backend {n}"),
        }
    }

    /// The name PostgreSQL 15's postmaster gives such a child in its log (`LogChildExit`'s
    /// `procname`): "server process" for a backend, "checkpointer process" and so on.
    pub fn procname(self) -> &'static str {
        match self {
            Role::Startup => "startup process",
            Role::Checkpointer => "checkpointer process",
            Role::BgWriter => "background writer process",
            Role::WalWriter => "WAL writer process",
            Role::Backend(_) => "server process",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Startup => write!(f, "startup process"),
            Role::Checkpointer => write!(f, "checkpointer"),
            Role::BgWriter => write!(f, "background writer"),
            Role::WalWriter => write!(f, "walwriter"),
            Role::Backend(n) => write!(f, "backend {n}"),
        }
    }
}
// ANCHOR_END: role

// ANCHOR: log_child_exit
/// The line `LogChildExit` writes for a child that ended: "server process (PID 4242) was
/// terminated by signal 9: Killed", or "... exited with exit code 2".
pub fn log_child_exit(role: Role, pid: i32, exit: Exit) -> String {
    let name = role.procname();
    match exit {
        Exit::Code(code) => format!("{name} (PID {pid}) exited with exit code {code}"),
        Exit::Signal(signal) => format!(
            "{name} (PID {pid}) was terminated by signal {}: {}",
            signal as i32,
            describe_signal(signal)
        ),
    }
}

/// The C library's words for a signal (`strsignal`, which PostgreSQL's `pg_strsignal`
/// calls): "Killed" for SIGKILL, "Quit" for SIGQUIT.
pub fn describe_signal(signal: Signal) -> String {
    // SAFETY: strsignal returns a pointer to a NUL-terminated string that stays valid until
    // the next call; we copy it at once, and this process has one thread.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(signal as i32)) };
    text.to_string_lossy().into_owned()
}
// ANCHOR_END: log_child_exit

/// An LSN as PostgreSQL prints one (`%X/%X` of `LSN_FORMAT_ARGS`): the high 32 bits, a
/// slash, the low 32 bits, in upper-case hex without padding. Byte 416 is `0/1A0`.
pub fn lsn(position: u64) -> String {
    format!("{:X}/{:X}", position >> 32, position as u32)
}

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
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, sigaction};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_print_as_postgresql_prints_them() {
        assert_eq!(lsn(0), "0/0");
        assert_eq!(lsn(416), "0/1A0");
        assert_eq!(lsn(0x0000_0001_203C_0048), "1/203C0048");
    }

    #[test]
    fn a_killed_backend_is_logged_in_postgresqls_words() {
        assert_eq!(
            log_child_exit(Role::Backend(2), 4242, Exit::Signal(Signal::SIGKILL)),
            "server process (PID 4242) was terminated by signal 9: Killed"
        );
        assert_eq!(
            log_child_exit(Role::Checkpointer, 4243, Exit::Code(2)),
            "checkpointer process (PID 4243) exited with exit code 2"
        );
    }
}
