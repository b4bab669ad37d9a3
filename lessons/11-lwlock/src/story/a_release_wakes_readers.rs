//! Step 4: a writer's release wakes every waiting reader, and no writer.
//!
//! Three sleepers queue behind the parent's exclusive hold: a reader, a writer, a reader.
//! The parent releases by hand, because what the release returns is the point: the slots
//! it woke, both readers, skipping the writer between them. The writer is woken later, by
//! whichever release leaves the lock free once the readers are out.

use common::{Result, fork_child, parent, section};
use l11_lwlock::{LwLock, Mode, SharedLock, describe};

use super::sleepers::{asleep, semaphores, show};

// ANCHOR: a_release_wakes_readers
pub fn a_release_wakes_readers(lock: &SharedLock<LwLock>) -> Result<()> {
    section("4. A writer's release wakes every waiting reader, and no writer");
    lock.acquire(Mode::Exclusive);
    parent!("acquire(Exclusive): state {}", describe(lock.state()));
    let mut waiters = Vec::new();
    for mode in [Mode::Shared, Mode::Exclusive, Mode::Shared] {
        let waiter = fork_child(|| {
            let _held = lock.hold(mode); // the step is about who is woken, not what they do
            0
        })?;
        let asleep = asleep(lock, &waiter)?;
        let wants = match mode {
            Mode::Shared => "shared",
            Mode::Exclusive => "exclusive",
        };
        parent!(
            "child pid {} wants it {wants}: sleeps in {asleep}",
            waiter.pid()
        );
        waiters.push(waiter);
    }
    show(lock);
    let woken = lock.release(Mode::Exclusive);
    parent!(
        "release(Exclusive) posted {}: both readers; the writer stays queued",
        semaphores(woken.slots())
    );
    parent!("once the readers have let go, a release finds the writer at the head and wakes it");
    for waiter in waiters {
        let pid = waiter.pid();
        parent!("child pid {pid} {}", waiter.wait()?);
    }
    show(lock);
    Ok(())
}
// ANCHOR_END: a_release_wakes_readers
