//! How the story catches a waiter asleep: a child asks for a lock the parent holds, and the
//! parent reads /proc/PID/syscall until the child sleeps in the kernel, then unlocks.
//!
//! Steps 1, 3, 4 and 5 each run this against their own lock, so that every lock's waiter
//! is seen in the call it really sleeps in, without sleeping for a time to let it get there.

use std::time::Duration;

use common::{Result, fork_child, parent};
use l08_races::{Guard, ProcessLock};
use l10_sleeping_locks::{Blocked, futex_op_name, wait_until_blocked};

/// How long a step waits for a child to fall asleep before it gives up.
pub const ASLEEP_WITHIN: Duration = Duration::from_secs(5);

// ANCHOR: watch
/// The caller holds `lock`, as `held`. A child calls `lock()` and goes to sleep; we find
/// out where from /proc/PID/syscall, run `while_asleep`, then unlock and see the child get
/// the lock and finish.
pub fn watch_a_waiter<L: ProcessLock>(
    lock: &L,
    held: Guard<'_, L>,
    lock_address: usize,
    while_asleep: impl Fn(),
) -> Result<()> {
    let waiter = fork_child(|| match lock.lock() {
        Ok(_held) => 0, // taken, and released as `_held` goes
        Err(_) => 1,
    })?;
    let pid = waiter.pid();
    let blocked = wait_until_blocked(pid, &SLEEPING_CALLS, ASLEEP_WITHIN)?;
    parent!(
        "child pid {pid} called lock() and sleeps in {}",
        describe(&blocked, "lock", lock_address)
    );
    while_asleep();
    drop(held); // unlock()
    parent!(
        "unlock(); child pid {pid} got the lock, unlocked it, and {}",
        waiter.wait()?
    );
    Ok(())
}
// ANCHOR_END: watch

/// The system calls a lock's waiter sleeps in.
const SLEEPING_CALLS: [i64; 3] = [libc::SYS_futex, libc::SYS_semop, libc::SYS_semtimedop];

/// A blocked call in words: `futex(&lock, FUTEX_WAIT, 2)`, `semtimedop(semid 3, ...)`,
/// naming the futex word by its place in the object called `name` at `address`.
pub fn describe(blocked: &Blocked, name: &str, address: usize) -> String {
    let [first, second, third] = blocked.args;
    match blocked.number {
        libc::SYS_futex => {
            let word = match (first as usize).wrapping_sub(address) {
                0 => format!("&{name}"),
                offset if offset < 64 => format!("&{name} + {offset}"),
                _ => format!("{first:#x}"),
            };
            format!("futex({word}, {}, {third})", futex_op_name(second))
        }
        libc::SYS_semop => format!("semop(semid {first}, ...)"),
        libc::SYS_semtimedop => format!("semtimedop(semid {first}, ...)"),
        number => format!("system call {number}"),
    }
}
