//! Step 2 of the story: why the lesson's futex calls carry no `FUTEX_PRIVATE_FLAG`.
//!
//! A waiter that sleeps with the flag is filed under its own process's address space, so a
//! wake from another process, with the flag or without, never reaches it. The step shows
//! it with a child that can only be ended by a signal, then the same wait without the flag.

use std::sync::atomic::AtomicU32;

use common::{Error, Result, fork_child, parent, section};
use l08_races::Shared;
use l10_sleeping_locks::{FutexScope, futex_wait, futex_wake, wait_until_blocked};
use nix::sys::signal::{Signal, kill};

use super::watch_a_waiter::{ASLEEP_WITHIN, describe};

// ANCHOR: private
pub fn private_futexes_stay_home() -> Result<()> {
    section("2. Why no FUTEX_PRIVATE_FLAG: a private waiter is filed under its own process");
    let word = Shared::<AtomicU32>::new()?;
    // SAFETY: a zeroed, aligned AtomicU32 in a live mapping, used only atomically.
    let word: &AtomicU32 = unsafe { &*word.as_ptr() };

    let waiter = fork_child(|| {
        futex_wait(word, 0, FutexScope::Private);
        0
    })?;
    let pid = waiter.pid();
    let blocked = wait_until_blocked(pid, &[libc::SYS_futex], ASLEEP_WITHIN)?;
    parent!(
        "child pid {pid} sleeps in {}, the word in our shared mapping",
        describe(&blocked, "word", word as *const _ as usize)
    );
    let private = futex_wake(word, 1, FutexScope::Private);
    let shared = futex_wake(word, 1, FutexScope::Shared);
    parent!("FUTEX_WAKE|FUTEX_PRIVATE_FLAG on the same word, from here: woke {private}");
    parent!("FUTEX_WAKE without the flag: woke {shared}");
    let still = wait_until_blocked(pid, &[libc::SYS_futex], ASLEEP_WITHIN).is_ok();
    parent!(
        "the child {}: nothing another process does can reach its queue",
        if still { "still sleeps" } else { "woke up?!" }
    );
    kill(pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    parent!("child pid {pid} {} (by us)", waiter.wait()?);

    let waiter = fork_child(|| {
        futex_wait(word, 0, FutexScope::Shared);
        0
    })?;
    let pid = waiter.pid();
    let blocked = wait_until_blocked(pid, &[libc::SYS_futex], ASLEEP_WITHIN)?;
    parent!(
        "child pid {pid} sleeps in {}",
        describe(&blocked, "word", word as *const _ as usize)
    );
    let woken = futex_wake(word, 1, FutexScope::Shared);
    parent!(
        "FUTEX_WAKE without the flag: woke {woken}; child pid {pid} {}",
        waiter.wait()?
    );
    Ok(())
}
// ANCHOR_END: private
