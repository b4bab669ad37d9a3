//! How the story shows a sleeping waiter: where it sleeps, which semaphores a release
//! posted, and the queue.
//!
//! A waiter is caught asleep by reading its `/proc/PID/syscall` (lesson 10's
//! `wait_until_blocked`), never by sleeping for a while and hoping: the futex call it sleeps
//! in names the very semaphore, and so the very slot, it waits on.

use std::time::Duration;

use common::{Child, Result, parent};
use l10_sleeping_locks::{futex_op_name, wait_until_blocked};
use l11_lwlock::{LwLock, MAX_PROCS, describe, describe_queue};

/// How long a step waits for a child to fall asleep before it gives up.
const ASLEEP_WITHIN: Duration = Duration::from_secs(5);

// ANCHOR: asleep
/// Where `waiter` sleeps: `futex(&slot 0's semaphore, FUTEX_WAIT_BITSET, 0)`.
pub fn asleep(lock: &LwLock, waiter: &Child) -> Result<String> {
    let blocked = wait_until_blocked(waiter.pid(), &[libc::SYS_futex], ASLEEP_WITHIN)?;
    let [word, op, expected] = blocked.args;
    let slot = (0..MAX_PROCS).find(|&slot| lock.semaphore_address(slot) as u64 == word);
    let on = match slot {
        Some(slot) => format!("&slot {slot}'s semaphore"),
        None => "a word that is no slot's semaphore?!".into(),
    };
    Ok(format!("futex({on}, {}, {expected})", futex_op_name(op)))
}
// ANCHOR_END: asleep

/// `slot 0's semaphore`, `the semaphores of slots 1 and 3`.
pub fn semaphores(slots: &[u32]) -> String {
    let names: Vec<String> = slots.iter().map(u32::to_string).collect();
    match names.as_slice() {
        [] => "no semaphore".into(),
        [one] => format!("slot {one}'s semaphore"),
        [first @ .., last] => format!("the semaphores of slots {} and {last}", first.join(", ")),
    }
}

pub fn show(lock: &LwLock) {
    parent!(
        "state {}; queue: {}",
        describe(lock.state()),
        describe_queue(&lock.waiters())
    );
}
