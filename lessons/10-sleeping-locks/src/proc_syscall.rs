//! Where a process sleeps, as `/proc/PID/syscall` shows it.
//!
//! The lesson proves that a waiter really sleeps in the kernel, and in which call and on
//! which word, by reading this file for its child, instead of sleeping for a while and
//! hoping the child got there. That is what orders each step without a timer.

use std::time::{Duration, Instant};

use common::{Error, Result};
use nix::unistd::Pid;

// ANCHOR: blocked_in
/// A system call a process is blocked in, as `/proc/PID/syscall` shows it: the call's
/// number and its first arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub number: i64,
    pub args: [u64; 3],
}

/// What `pid` is blocked in right now, or `None` if it is running (or not in a call).
/// Reading another process's `/proc/PID/syscall` needs ptrace rights over it: our own
/// children qualify unless `kernel.yama.ptrace_scope` is 2 or 3.
pub fn blocked_in(pid: Pid) -> Result<Option<Blocked>> {
    let path = format!("/proc/{pid}/syscall");
    let line = std::fs::read_to_string(&path).map_err(|err| {
        Error::Failed(format!(
            "{path}: {err}; the lesson watches its own children there, which a strict \
             ptrace policy (kernel.yama.ptrace_scope = 2 or 3) forbids"
        ))
    })?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let hex = |i: usize| u64::from_str_radix(fields.get(i)?.trim_start_matches("0x"), 16).ok();
    Ok(
        match (
            fields.first().and_then(|n| n.parse().ok()),
            hex(1),
            hex(2),
            hex(3),
        ) {
            (Some(number), Some(a), Some(b), Some(c)) if number >= 0 => Some(Blocked {
                number,
                args: [a, b, c],
            }),
            _ => None,
        },
    )
}

/// Waits (up to `limit`) until `pid` is blocked in one of `calls`.
pub fn wait_until_blocked(pid: Pid, calls: &[i64], limit: Duration) -> Result<Blocked> {
    let start = Instant::now();
    loop {
        if let Some(blocked) = blocked_in(pid)?
            && calls.contains(&blocked.number)
        {
            return Ok(blocked);
        }
        if start.elapsed() > limit {
            return Err(Error::Failed(format!(
                "process {pid} did not go to sleep within {limit:?}"
            )));
        }
        std::thread::yield_now();
    }
}
// ANCHOR_END: blocked_in
