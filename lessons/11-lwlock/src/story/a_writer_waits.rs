//! Step 3: a writer waits, asleep on its own semaphore, while a new reader walks past it.
//!
//! The parent still holds the lock shared from step 2. A child that asks for it exclusive
//! must queue and sleep; a reader that comes after it gets in at once, because an attempt
//! at shared mode looks at the exclusive bit only, never at the queue. The parent's own
//! release, by hand, is the one that wakes the writer: it prints whom that release woke.

use common::{Result, child, fork_child, parent, section};
use l11_lwlock::{LwLock, Mode, SharedLock, describe};

use super::sleepers::{asleep, semaphores, show};

// ANCHOR: a_writer_waits
pub fn a_writer_waits(lock: &SharedLock<LwLock>) -> Result<()> {
    section("3. A writer waits, asleep on its own semaphore");
    parent!("we still hold it shared; a child asks for it exclusive");
    let writer = fork_child(|| {
        let _held = lock.hold(Mode::Exclusive);
        child!(
            "woken, tried again, and holds it: state {}",
            describe(lock.state())
        );
        0
    })?;
    let asleep = asleep(lock, &writer)?;
    parent!("child pid {} sleeps in {asleep}", writer.pid());
    show(lock);

    let reader = fork_child(|| {
        let _held = lock.hold(Mode::Shared);
        child!(
            "a new reader got in at once, past the sleeping writer: state {}",
            describe(lock.state())
        );
        0
    })?;
    let pid = reader.pid();
    parent!("child pid {pid} {}", reader.wait()?);
    parent!("release(Shared): we are the last holder, and HAS_WAITERS is set: wake the queue");
    let woken = lock.release(Mode::Shared);
    let pid = writer.pid();
    let exit = writer.wait()?;
    parent!(
        "it posted {}; child pid {pid} {exit}",
        semaphores(woken.slots())
    );
    Ok(())
}
// ANCHOR_END: a_writer_waits
