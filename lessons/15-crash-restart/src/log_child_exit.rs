//! How the postmaster logs a child that ended, in PostgreSQL's words (`LogChildExit`): the
//! first thing an operator reads after a crash, so the lesson prints it the same way.

use common::Exit;
use nix::sys::signal::Signal;

use crate::Role;

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

#[cfg(test)]
mod tests {
    use super::*;

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
