//! The futex system call: the kernel's half of every sleeping lock on Linux.
//!
//! A futex is not a lock. It is a wait queue that the kernel keeps for one aligned 32-bit
//! word: `FUTEX_WAIT` sleeps if the word still holds what the caller expects, `FUTEX_WAKE`
//! wakes sleepers on the word. What the word's values mean is up to user space. nix has no
//! futex wrapper, so the raw call is made here, once, for every lesson that needs it.

use std::sync::atomic::AtomicU32;

// ANCHOR: futex_calls
/// Which wait queue the kernel files a futex waiter under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutexScope {
    /// No flag: the kernel keys the queue by the memory itself (for a shared mapping, the
    /// page of the mapped object and the offset in it), so every process that maps the
    /// word finds the same queue, wherever the word sits in its address space.
    Shared,
    /// `FUTEX_PRIVATE_FLAG`: keyed by this process's address space and the virtual address.
    /// Quicker to look up, and unreachable from any other process.
    Private,
}

fn futex_op(operation: i32, scope: FutexScope) -> i32 {
    match scope {
        FutexScope::Shared => operation,
        FutexScope::Private => operation | libc::FUTEX_PRIVATE_FLAG,
    }
}

/// `futex(word, FUTEX_WAIT, expected)`: sleeps if `word` still holds `expected`, until a
/// `FUTEX_WAKE` on the same futex. The kernel compares and queues atomically, so a wake
/// that comes after the comparison is never missed. Returns at once if the word differs
/// (`EAGAIN`), and may return early (a signal): callers look at the word again, in a loop.
pub fn futex_wait(word: &AtomicU32, expected: u32, scope: FutexScope) {
    // SAFETY: `word` is a live, aligned u32 during the call; FUTEX_WAIT only reads it, and
    // a null timeout means "no time limit".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            futex_op(libc::FUTEX_WAIT, scope),
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

/// `futex(word, FUTEX_WAKE, count)`: wakes up to `count` waiters queued on this futex and
/// returns how many it woke.
pub fn futex_wake(word: &AtomicU32, count: u32, scope: FutexScope) -> u32 {
    let count = count.min(i32::MAX as u32) as i32;
    // SAFETY: FUTEX_WAKE neither reads nor writes the word; it only names the queue.
    let woken = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            futex_op(libc::FUTEX_WAKE, scope),
            count,
        )
    };
    woken.max(0) as u32
}
// ANCHOR_END: futex_calls

/// The name of a futex operation, flag included: `FUTEX_WAIT|FUTEX_PRIVATE_FLAG`. For
/// showing what a process sleeps in (`/proc/PID/syscall` gives the operation as a number).
pub fn futex_op_name(op: u64) -> String {
    let op = op as i32;
    let command = match op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) {
        libc::FUTEX_WAIT => "FUTEX_WAIT",
        libc::FUTEX_WAIT_BITSET => "FUTEX_WAIT_BITSET",
        libc::FUTEX_WAKE => "FUTEX_WAKE",
        _ => "another futex operation",
    };
    match op & libc::FUTEX_PRIVATE_FLAG {
        0 => command.to_string(),
        _ => format!("{command}|FUTEX_PRIVATE_FLAG"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_with_nobody_asleep_wakes_nobody() {
        let word = AtomicU32::new(0);
        assert_eq!(futex_wake(&word, 1, FutexScope::Shared), 0);
        assert_eq!(futex_wake(&word, 1, FutexScope::Private), 0);
    }

    #[test]
    fn a_wait_on_a_changed_word_returns_at_once() {
        let word = AtomicU32::new(1);
        futex_wait(&word, 2, FutexScope::Shared); // EAGAIN: 1 != 2
    }

    #[test]
    fn futex_operations_are_named_with_their_flag() {
        assert_eq!(futex_op_name(0), "FUTEX_WAIT");
        assert_eq!(futex_op_name(128), "FUTEX_WAIT|FUTEX_PRIVATE_FLAG");
        assert_eq!(futex_op_name(9), "FUTEX_WAIT_BITSET");
    }
}
