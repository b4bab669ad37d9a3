//! Step 4: a holder that never lets go, and a waiter with a short limit that reports a
//! stuck spinlock, where PostgreSQL would PANIC.

use std::sync::atomic::{AtomicU32, Ordering};

use common::{Error, Exit, Result, child, fork_child, parent, section};
use l09_spinlock::{Backoff, Shared, SpinLock, lock_word, new_lock_word, tas};
use nix::sys::signal::{Signal, kill};

// ANCHOR: stuck
pub fn stuck_spinlock() -> Result<()> {
    section("4. A holder that never lets go: \"stuck spinlock\"");
    let short = Backoff {
        max_delays: 5,
        ..Backoff::POSTGRES
    };
    parent!("PostgreSQL's backoff (sleep 1 ms, then 1-2 times longer each time), but give up");
    parent!(
        "after {} sleeps instead of {}, so that this takes milliseconds, not minutes",
        short.max_delays,
        Backoff::POSTGRES.max_delays
    );
    let shared = new_lock_word()?;
    let word = lock_word(&shared);
    let holding = Shared::<AtomicU32>::new()?;
    // SAFETY: a zeroed AtomicU32 in a live mapping, used only through atomic operations.
    let holding: &AtomicU32 = unsafe { &*holding.as_ptr() };

    let holder = fork_child(|| {
        if tas(word) != 0 {
            return 1;
        }
        child!(
            "holder, child pid {}: took the lock, and now waits forever",
            std::process::id()
        );
        holding.store(1, Ordering::Release); // "I hold it": only now may the waiter start
        loop {
            nix::unistd::pause(); // until a signal ends us
        }
    })?;
    while holding.load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
    }
    parent!("the holder says it holds the lock; fork a waiter");
    let waiter = fork_child(|| {
        child!("waiter, child pid {}: acquire()", std::process::id());
        let lock = SpinLock {
            word,
            backoff: short,
        };
        match lock.acquire() {
            Ok(()) => {
                child!("got the lock?! It was held");
                0
            }
            Err(stuck) => {
                child!("PANIC: {stuck}");
                1
            }
        }
    })?;
    let (waiter_pid, holder_pid) = (waiter.pid(), holder.pid());
    let exit = waiter.wait()?;
    parent!("waitpid: child pid {waiter_pid} {exit}: PostgreSQL would now restart everything");
    parent!(
        "the word still reads {}: no process can ever take this lock",
        word.state.load(Ordering::Relaxed)
    );
    kill(holder_pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    let holder_exit = holder.wait()?;
    parent!("kill the holder; waitpid: child pid {holder_pid} {holder_exit}");
    match (exit, holder_exit) {
        (Exit::Code(1), Exit::Signal(Signal::SIGKILL)) => Ok(()),
        _ => Err(Error::Failed("the stuck spinlock was not detected".into())),
    }
}
// ANCHOR_END: stuck
